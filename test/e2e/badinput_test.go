package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrunner/hookrunner/runner"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const execKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: eks-admin, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token]}}}]
contexts: [{name: c, context: {cluster: c, user: eks-admin}}]
current-context: c
`

const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: canary-unreachable-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`

// Every bad input gets one line naming the input and the problem, the
// documented exit code, a FAILURE result document, no panic, and leaves
// nothing in the cluster: no release record, and no namespace even though
// each case asks hookrunner to create one.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	brokenValues := writeFile(t, "broken.yaml", "a: [1, 2\n")
	garbageKubeconfig := writeFile(t, "garbage.kubeconfig", "this is: not\n  - a kubeconfig [\n")
	execConfig := writeFile(t, "exec.kubeconfig", execKubeconfig)
	unreachable := writeFile(t, "unreachable.kubeconfig", unreachableKubeconfig)
	cases := map[string]struct {
		args []string // after "install RELEASE"
		env  []string
		code int
		msg  string
		// keepNS leaves out the -n bad-<case> --create-namespace every
		// other case gets.
		keepNS bool
	}{
		"missing-chart":        {args: nil, code: runner.ExitBadInput, msg: "no chart given"},
		"unknown-chart-path":   {args: []string{"./no/such/chart"}, code: runner.ExitChart, msg: "chart ./no/such/chart: no such file or directory"},
		"unreachable-repo":     {args: []string{"webapp", "--repo", "https://127.0.0.1:1/charts"}, code: runner.ExitChart, msg: "webapp from https://127.0.0.1:1/charts"},
		"malformed-values":     {args: []string{webapp, "-f", brokenValues}, code: runner.ExitBadInput, msg: "--values " + brokenValues + ": not a YAML map"},
		"missing-values-file":  {args: []string{webapp, "-f", "/no/values.yaml"}, code: runner.ExitBadInput, msg: "--values /no/values.yaml"},
		"bad-set":              {args: []string{webapp, "--set", "a[x]=1"}, code: runner.ExitBadInput, msg: `--set "a[x]": error parsing index`},
		"bad-set-json":         {args: []string{webapp, "--set-json", `cfg={"a":`}, code: runner.ExitBadInput, msg: `--set-json "cfg"`},
		"bad-set-file":         {args: []string{webapp, "--set-file", "motd=/no/motd.txt"}, code: runner.ExitBadInput, msg: "--set-file motd"},
		"invalid-release-name": {args: []string{webapp}, code: runner.ExitBadInput, msg: `release name "Bad_Name"`},
		"invalid-namespace":    {args: []string{webapp, "-n", "Bad_NS"}, code: runner.ExitBadInput, msg: `--namespace "Bad_NS"`, keepNS: true},
		"garbage-kubeconfig":   {args: []string{webapp}, env: []string{"KUBECONFIG=" + garbageKubeconfig}, code: runner.ExitBadInput, msg: "is neither kubeconfig YAML nor base64 of it"},
		"missing-kubeconfig":   {args: []string{webapp, "--kubeconfig", "/no/kubeconfig"}, code: runner.ExitBadInput, msg: "read kubeconfig /no/kubeconfig"},
		"exec-kubeconfig":      {args: []string{webapp}, env: []string{"KUBECONFIG=" + execConfig}, code: runner.ExitBadInput, msg: `user "eks-admin" gets credentials from exec plugin "aws"`},
		"unknown-context":      {args: []string{webapp, "--kube-context", "prod"}, code: runner.ExitBadInput, msg: `has no context "prod"`},
		"kube-version":         {args: []string{oldkube}, code: runner.ExitBadInput, msg: "chart oldkube requires kubeVersion <1.20.0, the cluster runs v1.36.3"},
		"schema":               {args: []string{webapp, "--set", "replicaCount=many"}, code: runner.ExitBadInput, msg: "values for chart webapp"},
		"unknown-flag":         {args: []string{webapp, "--no-such-flag"}, code: runner.ExitBadInput, msg: "unknown flag --no-such-flag"},
		"bad-wait":             {args: []string{webapp, "--wait", "forever"}, code: runner.ExitBadInput, msg: `--wait "forever": want one of`},
		"bad-timeout":          {args: []string{webapp, "--timeout", "soon"}, code: runner.ExitBadInput, msg: "--timeout"},
		"zero-timeout":         {args: []string{webapp, "--timeout", "0s"}, code: runner.ExitBadInput, msg: "--timeout 0s: must be positive"},
		"bad-server-side":      {args: []string{webapp, "--server-side", "maybe"}, code: runner.ExitBadInput, msg: `--server-side "maybe"`},
		"bad-on-failed":        {args: []string{webapp, "--on-failed", "retry"}, code: runner.ExitBadInput, msg: `--on-failed "retry"`},
		"malformed-digest":     {args: []string{webapp, "--chart-digest", "abc"}, code: runner.ExitBadInput, msg: "--chart-digest must be sha256"},
		"result-file-dir":      {args: []string{webapp, "--result-file", "/no/dir/result.json"}, code: runner.ExitBadInput, msg: "--result-file /no/dir/result.json"},
		"template-fails":       {args: []string{failing, "--set", "fail=true"}, code: runner.ExitAction, msg: "refusing to render"},
		"unreachable-cluster":  {args: []string{webapp, "--timeout", "3s"}, env: []string{"KUBECONFIG=" + unreachable}, code: runner.ExitCluster, msg: "cluster unreachable for"},
		"missing-namespace":    {args: []string{webapp, "-n", "never-created"}, code: runner.ExitBadInput, msg: `namespace "never-created" does not exist (pass --create-namespace)`, keepNS: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := "bad-" + name
			release := "web"
			if name == "invalid-release-name" {
				release = "Bad_Name"
			}
			args := append([]string{"install", release}, tc.args...)
			if tc.keepNS {
				ns = "never-created"
			} else {
				args = append(args, "-n", ns, "--create-namespace")
			}
			r := hookrunner(t, tc.env, args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d", r.code, tc.code)
			}
			if r.result.Status != runner.StatusFailure {
				t.Errorf("status %q", r.result.Status)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "hookrunner: error: ") || !strings.Contains(last, tc.msg) {
				t.Errorf("last stderr line %q, want one line saying %q", last, tc.msg)
			}
			if !strings.Contains(r.result.Reason, tc.msg) {
				t.Errorf("reason %q lacks %q", r.result.Reason, tc.msg)
			}
			if strings.Contains(r.stdout+r.stderr, "canary") {
				t.Errorf("a credential reached the output:\n%s\n%s", r.stdout, r.stderr)
			}
			if !namespaceAbsent(t, ns) {
				t.Errorf("namespace %s was left behind", ns)
			}
		})
	}
}
