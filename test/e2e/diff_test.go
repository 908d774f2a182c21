package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hookrunner/hookrunner/test/cluster"
)

// diff runs `hookrunner diff` and returns its exit code, stdout and stderr.
func diff(t *testing.T, kubeconfig string, args ...string) (int, string, string) {
	t.Helper()
	cmd := command(t, []string{"KUBECONFIG=" + kubeconfig}, append([]string{"diff"}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// resourceVersions lists every Secret and ConfigMap of namespace with its
// resourceVersion: what a write would change.
func resourceVersions(t *testing.T, namespace string) map[string]string {
	t.Helper()
	out := map[string]string{}
	secrets, err := client(t).CoreV1().Secrets(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		out["Secret/"+s.Name] = s.ResourceVersion
	}
	cms, err := client(t).CoreV1().ConfigMaps(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cms.Items {
		out["ConfigMap/"+c.Name] = c.ResourceVersion
	}
	return out
}

// diff says what install with the same arguments would do: for a new
// release, an unchanged one (exit 0), a values change (exit 2, only the
// changed lines), a Secret change (values masked); with credentials that
// can only read, it works and writes nothing.
func TestDiff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := cluster.Get(t)
	ns := createNamespace(t)
	dir := filepath.Join(t.TempDir(), "vault")
	writeChart(t, dir, map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: vault\nversion: 1.0.0\n",
		"values.yaml":           "replicas: 1\npassword: canary-old-pass\n",
		"templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: vault-auth\nstringData:\n  user: admin\n  password: {{ .Values.password | quote }}\n",
		"templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vault-config\ndata:\n  replicas: {{ .Values.replicas | quote }}\n  mode: standard\n  region: east\n",
	})
	admin := c.Kubeconfig
	args := []string{"vault", dir, "-n", ns}

	code, out, stderr := diff(t, admin, args...)
	if code != 2 || !strings.Contains(out, "release "+ns+"/vault: install (no release yet)") || !strings.Contains(out, "+++ ConfigMap "+ns+"/vault-config (new)") {
		t.Errorf("new release: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out+stderr, "canary-old-pass") {
		t.Error("diff printed a Secret value")
	}

	hookrunner(t, nil, "install", "vault", dir, "-n", ns, "--timeout", "60s").must(t)
	if code, out, stderr := diff(t, admin, args...); code != 0 || !strings.Contains(out, "release "+ns+"/vault: none") || !strings.Contains(out, "no changes") {
		t.Errorf("unchanged: exit %d\n%s\n%s", code, out, stderr)
	}

	code, out, stderr = diff(t, admin, append(args, "--set", "replicas=3")...)
	var changed []string
	for _, l := range strings.Split(out, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			changed = append(changed, l)
		}
	}
	if code != 2 || !strings.Contains(out, ": upgrade (") || strings.Join(changed, "\n") != "-  replicas: \"1\"\n+  replicas: \"3\"" || strings.Contains(out, "vault-auth") {
		t.Errorf("values change: exit %d, changed lines %q\n%s\n%s", code, changed, out, stderr)
	}

	// Credentials that may only read: the diff works and writes nothing.
	kc, err := c.ServiceAccountKubeconfig(ctx, ns, "reader")
	if err != nil {
		t.Fatal(err)
	}
	cs := client(t)
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-read"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-read"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: ns + "-read"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "reader"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), ns+"-read", metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(context.Background(), ns+"-read", metav1.DeleteOptions{})
	})
	before := resourceVersions(t, ns)
	code, out, stderr = diff(t, kc, append(args, "--set", "password=canary-new-pass")...)
	if code != 2 || !strings.Contains(out, "-  password: (masked)") || !strings.Contains(out, "+  password: (masked) (changed)") || strings.Contains(out, "user: (masked) (changed)") {
		t.Errorf("Secret change, read-only: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out+stderr, "canary-new-pass") || strings.Contains(out+stderr, "canary-old-pass") {
		t.Error("diff printed a Secret value")
	}
	if code, out, stderr := diff(t, kc, args...); code != 0 || !strings.Contains(out, "note: drift not checked") {
		t.Errorf("unchanged, read-only: exit %d\n%s\n%s", code, out, stderr)
	}
	if after := resourceVersions(t, ns); !mapsEqual(before, after) {
		t.Errorf("a read-only diff wrote:\nbefore %v\nafter  %v", before, after)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
