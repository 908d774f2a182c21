package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/cluster"
)

const broken = "../testdata/charts/broken"

// When a target is not ready, the reason says why, first: the scheduler's
// message, the image that cannot be pulled, the crash-looping container's
// exit code and last log line, the missing Secret, the unbound claim, the
// failed hook's output; reasonCode says which kind of failure it was. The
// modes that need a real kubelet run on the real node.
func TestDiagnosisExplainsFailures(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		timeout  string
		code     int
		reason   string
		contains []string
	}{
		"unschedulable": {timeout: "20s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"Deployment", "/web not ready", "Unschedulable", "didn't match Pod's node affinity/selector"}},
		"pvc": {timeout: "20s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"PersistentVolumeClaim", "/data not ready", "StorageClass"}},
		"neverPull": {timeout: "30s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"ErrImageNeverPull", "localhost/not-present:1.0"}},
		"crash": {timeout: "45s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"container web exited with code 2", "must be one of", "last log lines"}},
		"missingSecret": {timeout: "30s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"CreateContainerConfigError", "no-such-secret"}},
		"crNotReady": {timeout: "20s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"Database", "/orders not ready", "InProgress", "waiting for a volume in zone cn-hangzhou-k"}},
		"hookFails": {timeout: "60s", code: runner.ExitAction, reason: runner.ReasonHookFailed,
			contains: []string{"Job", "/migrate not ready", "exited with code 2", "migration-failed"}},
	}
	for mode, tc := range cases {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ns := namespaceFor(t)
			rcv := newReceiver(t)
			// A secret value the crashing container prints: it must never
			// reach the reason, the result or the callback.
			secrets := writeFile(t, "secret.yaml", "secret: canary-diag-7f3\n")
			r := hookrunner(t, nil, "install", "web", broken, "-n", ns, "--create-namespace", "--set", "mode="+mode,
				"--secret-values", secrets, "--timeout", tc.timeout, "--callback-format", "webhook", "--callback-url", rcv.url())
			if r.code != tc.code || r.result.ReasonCode != tc.reason {
				t.Errorf("exit %d reasonCode %q, want %d %q; reason: %s", r.code, r.result.ReasonCode, tc.code, tc.reason, r.result.Reason)
			}
			for _, want := range tc.contains {
				if !strings.Contains(r.result.Reason, want) {
					t.Errorf("reason lacks %q: %s", want, r.result.Reason)
				}
			}
			if len(r.result.Diagnosis) == 0 || len(r.result.Reason) > 1024 || strings.Contains(r.result.Reason, "\n") {
				t.Errorf("diagnosis %+v; reason of %d bytes: %s", r.result.Diagnosis, len(r.result.Reason), r.result.Reason)
			}
			sig := rcv.next(t, 10*time.Second)
			if sig.body["reason"] != r.result.Reason || sig.body["reasonCode"] != tc.reason {
				t.Errorf("callback reason %q code %v, result %q", sig.body["reason"], sig.body["reasonCode"], r.result.Reason)
			}
			whole, _ := json.Marshal(sig.body)
			for _, where := range []string{r.stdout, r.stderr, string(whole)} {
				if strings.Contains(where, "canary-diag-7f3") {
					t.Errorf("the secret value leaked: %s", where)
				}
			}
			// The outcome is an Event about the release, with the same reason.
			ev := findEvent(hookrunnerEvents(t, ns), "Secret", "sh.helm.release.v1.web.v1", tc.reason)
			if ev == nil || ev.Type != corev1.EventTypeWarning || ev.Message != r.result.Reason {
				t.Errorf("no Warning Event %s about the release with the reason: %+v", tc.reason, ev)
			}
			t.Logf("reason: %s", r.result.Reason)
		})
	}
}

// While Helm waits in act, a progress line every --progress-interval says
// how many of the release's resources are ready and names those that are
// not: here a Deployment whose pods become ready only after 10 s.
func TestProgressWhileActing(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ns := createNamespace(t)
	s := start(t, nil, "install", "web", webapp, "-n", ns, "--set", "notReady=true", "--timeout", "2m", "--progress-interval", "1s")
	time.Sleep(10 * time.Second) // the Deployment is not ready meanwhile: nothing readies its pods
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.ReadyExecPods(ctx, ns); err != nil {
		t.Fatal(err)
	}
	r := s.wait(t, 2*time.Minute).must(t)
	var waiting, naming int
	for _, line := range strings.Split(r.stderr, "\n") {
		var entry struct {
			Msg      string `json:"msg"`
			Step     string `json:"step"`
			Ready    int    `json:"ready"`
			Total    int    `json:"total"`
			NotReady string `json:"notReady"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "waiting" || entry.Step != "act" {
			continue
		}
		waiting++
		if entry.Total >= 3 && entry.Ready < entry.Total && strings.HasPrefix(entry.NotReady, "Deployment "+ns+"/web: ") {
			naming++
		}
	}
	// About ten lines in ten seconds; at least a few, whatever the load.
	if waiting < 3 || naming < 3 {
		t.Errorf("%d progress lines during act, %d naming the Deployment:\n%s", waiting, naming, r.stderr)
	}
}

// hookrunnerEvents returns the Events hookrunner recorded in a namespace.
func hookrunnerEvents(t *testing.T, ns string) []corev1.Event {
	t.Helper()
	list, err := client(t).CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.ReportingController == "hookrunner" {
			out = append(out, e)
		}
	}
	return out
}

// findEvent returns the first of events about kind/name (name "" matches
// any) with reason, or nil.
func findEvent(events []corev1.Event, kind, name, reason string) *corev1.Event {
	for i, e := range events {
		if e.InvolvedObject.Kind == kind && (name == "" || e.InvolvedObject.Name == name) && e.Reason == reason {
			return &events[i]
		}
	}
	return nil
}

// A ServiceAccount that may do everything the chart needs but record
// Events still installs, with one warning and no more tries.
func TestEventsWithoutPermissionWarnOnce(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ctx := context.Background()
	ns := createNamespace(t)
	kc, err := c.ServiceAccountKubeconfig(ctx, ns, "no-events")
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "no-events"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "services", "configmaps", "secrets", "serviceaccounts", "persistentvolumeclaims"}, Verbs: []string{"*"}},
		{APIGroups: []string{"apps"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"*"}},
	}}
	if _, err := client(t).RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "no-events"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "no-events"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "no-events", Namespace: ns}}}
	if _, err := client(t).RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := hookrunner(t, []string{"KUBECONFIG=" + kc}, "install", "web", webapp, "-n", ns).must(t)
	if n := strings.Count(r.stderr, "cannot record Events"); n != 1 {
		t.Errorf("%d warnings about Events, want 1:\n%s", n, r.stderr)
	}
	if ev := hookrunnerEvents(t, ns); len(ev) != 0 {
		t.Errorf("events recorded without permission: %+v", ev)
	}
}

// A failed uninstall explains itself too: a pre-delete hook that fails is
// named with its output.
func TestDiagnosisOfFailedUninstall(t *testing.T) {
	t.Parallel()
	ns := namespaceFor(t)
	hookrunner(t, nil, "install", "web", broken, "-n", ns, "--create-namespace", "--set", "mode=preDeleteFails").must(t)
	r := hookrunner(t, nil, "uninstall", "web", "-n", ns, "--timeout", "60s")
	if r.code != runner.ExitAction || r.result.ReasonCode != runner.ReasonHookFailed {
		t.Errorf("exit %d reasonCode %q; reason: %s", r.code, r.result.ReasonCode, r.result.Reason)
	}
	for _, want := range []string{"Job " + ns + "/migrate not ready", "exited with code 2", "migration-failed"} {
		if !strings.Contains(r.result.Reason, want) {
			t.Errorf("reason lacks %q: %s", want, r.result.Reason)
		}
	}
	t.Logf("reason: %s", r.result.Reason)
}
