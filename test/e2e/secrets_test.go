package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
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

// The secret canary sweep: a kubeconfig token, a chart repository password,
// a registry password, secret values, the callback URL's query, a callback
// header and the HMAC key never reach stdout, stderr, the result file, the
// termination log or the callback reason, on any command, success or
// failure, with debug logging on.
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
	callbackQuery := canary("callback-query")
	callbackHeader := canary("callback-header")
	hmacKey := canary("hmac-key")
	registryPassword := canary("registry-password")
	secretValues := writeFile(t, "secret.yaml", "auth:\n  password: "+secretValue+"\n")
	tgz := chartsrv.Package(t, failing)
	repo := chartsrv.NewHTTPS(t, "chartuser", password, map[string]string{"failing-0.1.0.tgz": tgz}, true)
	oci := chartsrv.NewOCI(t, "ociuser", registryPassword)
	ociRef := oci.Push(t, tgz)
	rcv := newReceiver(t)

	base := []string{"install", "app", "failing", "--repo", repo.URL, "--username", "chartuser", "--ca-file", repo.CAFile,
		"-n", ns, "--secret-values", secretValues, "--debug"}
	env := []string{"KUBECONFIG=" + b64Kubeconfig, "HOOKRUNNER_PASSWORD=" + password,
		"HOOKRUNNER_CALLBACK_FORMAT=webhook", "HOOKRUNNER_CALLBACK_URL=" + rcv.URL + "/hook?sig=" + callbackQuery,
		"HOOKRUNNER_CALLBACK_HEADER=x-token: " + callbackHeader, "HOOKRUNNER_CALLBACK_SECRET=" + hmacKey}
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
			strings.ReplaceAll(string(data), c.Host, "https://127.0.0.1:1")), "HOOKRUNNER_TIMEOUT=3s"}, code: runner.ExitCluster},
		"oci-registry": {args: []string{"install", "oci-app", ociRef, "--version", "0.1.0", "--plain-http", "--username", "ociuser", "-n", ns, "--debug"},
			env: []string{"HOOKRUNNER_PASSWORD=" + registryPassword}, code: runner.ExitOK},
		"oci-wrong-registry-password": {args: []string{"install", "oci-app", ociRef, "--version", "0.1.0", "--plain-http", "--username", "ociuser", "-n", ns},
			env: []string{"HOOKRUNNER_PASSWORD=" + registryPassword + "x"}, code: runner.ExitChart},
		"bad-input":    {args: append(base, "--set", "a[x]="+setValue), code: runner.ExitBadInput},
		"parse-error":  {args: append(base, "--no-such-flag"), code: runner.ExitBadInput},
		"uninstall":    {args: []string{"uninstall", "app", "-n", ns, "--debug"}, code: runner.ExitOK},
		"render-debug": {args: []string{"render", "app", "failing", "-n", ns, "--repo", repo.URL, "--username", "chartuser", "--ca-file", repo.CAFile, "--set", "fail=true", "--secret-values", secretValues, "--debug"}, code: runner.ExitAction},
	}
	secrets := []string{token, password, secretValue, setValue, callbackQuery, callbackHeader, hmacKey, registryPassword}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resultFile := filepath.Join(t.TempDir(), "result.json")
			termLog := writeFile(t, "termination-log", "")
			args := append([]string{}, tc.args...)
			if args[0] != "render" {
				args = append(args, "--result-file", resultFile)
			}
			before := len(rcv.signals())
			cmd := command(t, append(append(append([]string{}, env...), "HOOKRUNNER_TERMINATION_LOG="+termLog), tc.env...), args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, stderr.String())
			}
			written, _ := os.ReadFile(resultFile)
			terminated, _ := os.ReadFile(termLog)
			var reasons strings.Builder
			for _, sig := range rcv.signals()[before:] {
				fmt.Fprintf(&reasons, "%v\n", sig.body["reason"])
			}
			// A command line that did not parse has no --result-file.
			if args[0] != "render" && (len(written) == 0 && name != "parse-error" || len(terminated) == 0 || reasons.Len() == 0) {
				t.Errorf("missing output: result file %d bytes, termination log %d bytes, %d callbacks", len(written), len(terminated), len(rcv.signals())-before)
			}
			for _, secret := range secrets {
				forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))}
				for _, form := range forms {
					for where, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(),
						"result file": string(written), "termination log": string(terminated), "callback reason": reasons.String()} {
						if strings.Contains(text, form) {
							t.Errorf("%s shows a secret (%s…)", where, secret[:min(len(secret), 20)])
						}
					}
				}
			}
			reason := stderr.String() // render has no result document: its error line
			if args[0] != "render" {
				reason = finished(t, cmd, nil, stdout.String(), stderr.String()).result.Reason
			}
			if tc.code == runner.ExitAction && !strings.Contains(reason, "password [REDACTED] is weak") {
				t.Errorf("reason %q: the secret should be there, scrubbed", reason)
			}
		})
	}
}
