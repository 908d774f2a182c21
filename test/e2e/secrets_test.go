package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/chartsrv"
	"github.com/hookrunner/hookrunner/test/cluster"
)

func canary(kind string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "canary-" + kind + "-" + hex.EncodeToString(b)
}

// A kubeconfig token, a chart repository password and secret values never
// reach stdout, stderr or the result file, on success or failure, with
// debug logging on.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ctx := context.Background()
	ns := createNamespace(t)

	// A ServiceAccount token (unique by construction) with cluster-admin.
	kubeconfig, err := c.ServiceAccountKubeconfig(ctx, ns, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: ns}},
	}
	if _, err := client(t).RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, u := range raw.AuthInfos {
		token = u.Token
	}
	// The same kubeconfig as base64, as a Secret would carry it.
	data, _ := os.ReadFile(kubeconfig)
	b64Kubeconfig := writeFile(t, "kubeconfig.b64", base64.StdEncoding.EncodeToString(data))

	password := canary("repo-password")
	secretValue := canary("secret-value")
	setValue := canary("set-password")
	secretValues := writeFile(t, "secret.yaml", "auth:\n  password: "+secretValue+"\n")
	repo := chartsrv.NewHTTPS(t, "chartuser", password, map[string]string{"failing-0.1.0.tgz": chartsrv.Package(t, failing)}, true)

	base := []string{"install", "app", "failing", "--repo", repo.URL, "--username", "chartuser", "--ca-file", repo.CAFile,
		"-n", ns, "--secret-values", secretValues, "--debug"}
	env := []string{"KUBECONFIG=" + b64Kubeconfig, "HOOKRUNNER_PASSWORD=" + password}
	cases := map[string]struct {
		args []string
		env  []string
		code int
	}{
		"success":               {args: base, code: runner.ExitOK},
		"render-quotes-secret":  {args: append(base, "--set", "fail=true"), code: runner.ExitAction},
		"set-secret-in-message": {args: append(base, "--set", "fail=true", "--set", "auth.password="+setValue), code: runner.ExitAction},
		"wrong-password":        {args: base, env: []string{"HOOKRUNNER_PASSWORD=" + canary("wrong")}, code: runner.ExitChart},
		"unreachable-cluster": {args: base, env: []string{"KUBECONFIG=" + writeFile(t, "down.kubeconfig",
			strings.ReplaceAll(string(data), c.Host, "https://127.0.0.1:1"))}, code: runner.ExitCluster},
	}
	secrets := []string{token, password, secretValue, setValue}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resultFile := filepath.Join(t.TempDir(), "result.json")
			args := append(append([]string{}, tc.args...), "--result-file", resultFile)
			r := hookrunner(t, append(append([]string{}, env...), tc.env...), args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d: %s\n%s", r.code, tc.code, r.result.Reason, r.stderr)
			}
			written, err := os.ReadFile(resultFile)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range secrets {
				forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))}
				for _, form := range forms {
					for where, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "result file": string(written)} {
						if strings.Contains(text, form) {
							t.Errorf("%s shows a secret (%s…)", where, secret[:min(len(secret), 14)])
						}
					}
				}
			}
			if tc.code == runner.ExitAction && !strings.Contains(r.result.Reason, "password [REDACTED] is weak") {
				t.Errorf("reason %q: the secret should be there, scrubbed", r.result.Reason)
			}
		})
	}
}
