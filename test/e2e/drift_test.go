package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/cluster"
)

// A re-run of a release at its config finds what was changed by hand:
// detect reports a deleted ConfigMap and an edited pod template field and
// changes nothing; correct restores both with no new revision; a field an
// ignore rule covers (replicas, as an autoscaler would change it) is
// neither reported nor reset.
func TestDrift(t *testing.T) {
	t.Parallel()
	ns := createNamespace(t)
	ctx := context.Background()
	cs := client(t)
	install := func(flags ...string) run {
		t.Helper()
		return hookrunner(t, nil, append([]string{"install", "app", webapp, "-n", ns, "--timeout", "60s"}, flags...)...).must(t)
	}
	install()
	if r := install(); r.result.Action != runner.ActionNone || len(r.result.Drift) != 0 {
		t.Fatalf("re-run right after install: action %s, drift %+v", r.result.Action, r.result.Drift)
	}

	// By hand: delete the ConfigMap, change the image, scale to 5.
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "registry.example.com/webapp:hotfix"
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, "app", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 5},
	}, metav1.UpdateOptions{FieldManager: "autoscaler"}); err != nil {
		t.Fatal(err)
	}

	want := []kube.Drift{
		{Kind: "ConfigMap", Namespace: ns, Name: "app-config", Missing: true},
		{Kind: "Deployment", Namespace: ns, Name: "app", Fields: []string{"/spec/replicas", "/spec/template/spec/containers/0/image"}},
	}
	r := install()
	if diff := cmp.Diff(want, r.result.Drift, cmp.Comparer(func(a, b kube.Drift) bool {
		return a.Kind == b.Kind && a.Namespace == b.Namespace && a.Name == b.Name && a.Missing == b.Missing && cmp.Equal(a.Fields, b.Fields)
	})); diff != "" || r.result.Action != runner.ActionNone || r.result.ReasonCode != runner.ReasonDriftDetected {
		t.Errorf("detect: action %s (%s), drift (-want +got):\n%s", r.result.Action, r.result.ReasonCode, diff)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "app-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("detect recreated the ConfigMap: %v", err)
	}
	events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasEvent(events.Items, corev1.EventTypeWarning, "drift detected (not corrected): ConfigMap "+ns+"/app-config (missing); Deployment "+ns+"/app") {
		t.Errorf("no Warning Event about the drift among %d events", len(events.Items))
	}

	// With the autoscaler's field ignored, only the rest is drift.
	ignore := []string{"--drift-ignore", "Deployment/*:/spec/replicas"}
	r = install(append([]string{"--drift", "correct"}, ignore...)...)
	want[1].Fields = []string{"/spec/template/spec/containers/0/image"}
	if diff := cmp.Diff(want, r.result.Drift, cmp.Comparer(func(a, b kube.Drift) bool {
		return a.Kind == b.Kind && a.Name == b.Name && a.Missing == b.Missing && cmp.Equal(a.Fields, b.Fields)
	})); diff != "" || r.result.Action != runner.ActionRepair || r.result.ReasonCode != runner.ReasonRepaired {
		t.Errorf("correct: action %s (%s), drift (-want +got):\n%s", r.result.Action, r.result.ReasonCode, diff)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Errorf("correct did not recreate the ConfigMap: %v", err)
	}
	d, err = cs.AppsV1().Deployments(ns).Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/webapp:1.0" {
		t.Errorf("correct left the image at %s", img)
	}
	if *d.Spec.Replicas != 5 {
		t.Errorf("correct reset the ignored replicas to %d", *d.Spec.Replicas)
	}
	if status, rev := helmStatus(t, ns, "app"); status != "deployed" || rev != "1" {
		t.Errorf("after correct: %s revision %s, want deployed 1 (no new revision)", status, rev)
	}
	if r := install(ignore...); r.result.Action != runner.ActionNone || len(r.result.Drift) != 0 {
		t.Errorf("re-run after correct: action %s, drift %+v", r.result.Action, r.result.Drift)
	}
	if r := install("--drift", "off"); r.result.Drift != nil || !strings.Contains(strings.Join(stepNames(r), ","), "act") || strings.Contains(strings.Join(stepNames(r), ","), "drift") {
		t.Errorf("--drift off ran the drift step: %v", stepNames(r))
	}
}

func hasEvent(events []corev1.Event, eventType, contains string) bool {
	for _, e := range events {
		if e.Type == eventType && strings.Contains(e.Message, contains) {
			return true
		}
	}
	return false
}

func stepNames(r run) []string {
	var names []string
	for _, s := range r.result.Steps {
		names = append(names, s.Name)
	}
	return names
}

// Drift detection is a courtesy of a run with nothing to do. Objects as
// the release left them need only reads; a difference is confirmed by a
// dry-run patch, which credentials that may not patch cannot make: they
// get a warning, not a failed run.
func TestDriftWithoutPatchPermission(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := createNamespace(t)
	kc, err := cluster.Get(t).ServiceAccountKubeconfig(ctx, ns, "no-patch")
	if err != nil {
		t.Fatal(err)
	}
	cs := client(t)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "no-patch"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}}}}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "no-patch"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "no-patch"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "no-patch"}}}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"install", "app", webapp, "-n", ns, "--server-side", "false", "--timeout", "60s", "--wait", "none"}
	hookrunner(t, []string{"KUBECONFIG=" + kc}, args...).must(t)
	r := hookrunner(t, []string{"KUBECONFIG=" + kc}, args...).must(t)
	if r.result.Action != runner.ActionNone || len(r.result.Drift) != 0 || strings.Contains(r.stderr, "drift not checked") {
		t.Errorf("re-run without drift, without patch permission: action %s, drift %v\n%s", r.result.Action, r.result.Drift, r.stderr)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "registry.example.com/webapp:hotfix"
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = hookrunner(t, []string{"KUBECONFIG=" + kc}, args...).must(t)
	if r.result.Action != runner.ActionNone || !strings.Contains(r.stderr, "drift not checked") {
		t.Errorf("re-run with drift, without patch permission: action %s\n%s", r.result.Action, r.stderr)
	}
}
