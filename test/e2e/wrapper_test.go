package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/chartsrv"
	"github.com/hookrunner/hookrunner/test/cluster"
)

const wrapperChart = "../../charts/hookrunner"

// helmRun runs a helm CLI and returns its output and error.
func helmRun(t *testing.T, which string, args ...string) (string, error) {
	t.Helper()
	bin, err := cluster.ToolsBin()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, which), args...)
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "KUBECONFIG=" + cluster.Get(t).Kubeconfig,
		"HELM_CACHE_HOME=" + home + "/cache", "HELM_CONFIG_HOME=" + home + "/config", "HELM_DATA_HOME=" + home + "/data"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// chartContent returns base64 of the packaged chart in dir, as
// target.chartContent takes it: the hook pod cannot see this machine's files.
func chartContent(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(chartsrv.Package(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(data)
}

// wrapperValues writes a values file for the wrapper chart: the target
// fixture chart carried in the release (target.chartContent), the admin
// kubeconfig (whose server the real node's pods reach), and extra. The
// hook pods run the default image on the real node, steered there by the
// test cluster, with no image or scheduling values.
func wrapperValues(t *testing.T, targetNS string, extra map[string]any) string {
	t.Helper()
	kc, err := os.ReadFile(cluster.Get(t).Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{
		"target": map[string]any{
			"chartContent": chartContent(t, webapp), "releaseName": "app", "namespace": targetNS,
			"values": map[string]any{"message": "from-wrapper"},
		},
		"kubeconfig": map[string]any{"value": string(kc)},
		"install":    map[string]any{"timeout": "90s"},
		"uninstall":  map[string]any{"timeout": "30s"},
		"job":        map[string]any{"backoffLimit": 0},
	}
	for k, v := range extra {
		if m, ok := v.(map[string]any); ok {
			if base, ok := vals[k].(map[string]any); ok {
				for kk, vv := range m {
					base[kk] = vv
				}
				continue
			}
		}
		vals[k] = v
	}
	data, err := yaml.Marshal(vals)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "wrapper-values.yaml", string(data))
}

func TestWrapperChartLintsAndRenders(t *testing.T) {
	t.Parallel()
	for _, cli := range []string{"helm4", "helm3", "helm30"} {
		t.Run(cli, func(t *testing.T) {
			if out, err := helmRun(t, cli, "lint", wrapperChart); err != nil || !strings.Contains(out, "0 chart(s) failed") || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Errorf("lint: %v\n%s", err, out)
			}
			defaults, err := helmRun(t, cli, "template", "w", wrapperChart, "--set", "target.chart=oci://registry.example.com/charts/app")
			if err != nil || !strings.Contains(defaults, "kind: Job") {
				t.Errorf("template with defaults: %v\n%s", err, defaults)
			}
			nest, err := helmRun(t, cli, "template", "w", wrapperChart,
				"--set", "Kubeconfig="+base64.StdEncoding.EncodeToString([]byte("apiVersion: v1\nkind: Config\n")),
				"--set", "ChartUrl=https://charts.example.com/app-1.0.0.tgz", "--set", "ReleaseName=app", "--set", "ChartNamespace=apps",
				"--set-string", "ChartValues=replicaCount: 3",
				"--set", "CurlCli=curl -X POST -H 'x-acs-region-id: cn-hangzhou' https://ros.example.com/signal")
			if err != nil || !strings.Contains(nest, `value: "https://charts.example.com/app-1.0.0.tgz"`) || !strings.Contains(nest, "automountServiceAccountToken: false") {
				t.Errorf("template with Compute Nest keys: %v\n%s", err, nest)
			}
			if out, err := helmRun(t, cli, "template", "w", wrapperChart, "--set", "job.backoffLimit=two"); err == nil || !strings.Contains(out, "backoffLimit") {
				t.Errorf("schema accepted a string backoffLimit: %v\n%s", err, out)
			}
			trust, err := helmRun(t, cli, "template", "w", wrapperChart, "-f", "testdata/wrapper-trust.yaml")
			for _, want := range []string{
				`- "--image-pull-secret=mirror-creds"`, "- --image-pull-secret-service-accounts",
				`- "--add-label=shop.example.com/product=suite"`, `- "--add-annotation=owner=team"`,
				"{name: HOOKRUNNER_POST_RENDER_PATCH, value: /etc/hookrunner/config/post-render-patches.yaml}",
				`{name: HOOKRUNNER_VERIFY, value: "true"}`, "{name: HOOKRUNNER_KEYRING, value: /etc/hookrunner/keyring/keyring.gpg}",
				"{name: HOOKRUNNER_COSIGN_KEY, value: /etc/hookrunner/config/cosign.pub}",
				`items: [{key: "pubring.gpg", path: keyring.gpg}]`, "  cosign.pub: ", "  post-render-patches.yaml: ",
				`{name: HOOKRUNNER_CRDS, value: "create-replace"}`, `{name: HOOKRUNNER_DRIFT, value: "correct"}`, `- "--drift-ignore=Deployment/*:/spec/replicas"`,
			} {
				if err != nil || !strings.Contains(trust, want) {
					t.Errorf("template with trust and mirror values: %v: no %q\n%s", err, want, trust)
					break
				}
			}
			for _, bad := range []struct{ set, says string }{
				{"target.verify=true", "target.verify needs a public keyring"},
				{"target.imagePullSecrets[0]=Bad_Name", "imagePullSecrets"},
				{"postRenderPatches[0].target.kind=Service", "patch"},
				{"install.crds=replace", "crds"},
			} {
				if out, err := helmRun(t, cli, "template", "w", wrapperChart, "--set", "target.chart=oci://registry.example.com/charts/app", "--set", bad.set); err == nil || !strings.Contains(out, bad.says) {
					t.Errorf("--set %s: %v\n%s", bad.set, err, out)
				}
			}
			// releases: a plan in the Secret, both Jobs run it.
			plan := []string{"--set", "releases[0].name=op", "--set", "releases[0].chart=oci://registry.example.com/charts/op",
				"--set", "releases[1].name=app", "--set", "releases[1].chart=oci://registry.example.com/charts/app", "--set", "releases[1].needs[0]=op"}
			out, err := helmRun(t, cli, append([]string{"template", "w", wrapperChart}, plan...)...)
			if err != nil || strings.Count(out, "{name: HOOKRUNNER_PLAN, value: /etc/hookrunner/config/plan.yaml}") != 2 || strings.Contains(out, "HOOKRUNNER_CHART,") || !strings.Contains(out, "  plan.yaml: ") {
				t.Errorf("template with releases: %v\n%s", err, out)
			}
			for _, bad := range []struct{ set, says string }{
				{"target.chart=oci://registry.example.com/charts/x", "releases is a plan of several charts"},
				{"releases[0].bogus=1", "bogus"},
				{"releases[1].crds=replace", "crds"},
			} {
				if out, err := helmRun(t, cli, append([]string{"template", "w", wrapperChart, "--set", bad.set}, plan...)...); err == nil || !strings.Contains(out, bad.says) {
					t.Errorf("releases with --set %s: %v\n%s", bad.set, err, out)
				}
			}
			for key, hint := range map[string]string{"OutputCmd": "Go templates in `outputs`", "InstallSeconds": "`waitFor` conditions"} {
				if out, err := helmRun(t, cli, "template", "w", wrapperChart, "--set", key+"=x"); err == nil || !strings.Contains(out, hint) {
					t.Errorf("%s: %v\n%s", key, err, out)
				}
			}
		})
	}
}

// Every template function the wrapper chart uses exists in Helm 3.0.
func TestWrapperChartUsesOnlyHelm30Functions(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/helm30-functions.txt")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			allowed[line] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(wrapperChart, "templates", "*"))
	used := map[string]bool{}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Parse without checking functions, then collect every identifier
		// the templates call.
		tree := parse.New(f)
		tree.Mode = parse.SkipFuncCheck
		trees := map[string]*parse.Tree{}
		if _, err := tree.Parse(string(text), "{{", "}}", trees); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, tree := range trees {
			collectFuncs(tree.Root, used)
		}
	}
	var missing []string
	for name := range used {
		if !allowed[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("functions Helm 3.0 does not have: %v", missing)
	}
	if len(used) < 20 {
		t.Errorf("found only %d functions: the walk is broken", len(used))
	}
}

func collectFuncs(node parse.Node, used map[string]bool) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			collectFuncs(c, used)
		}
	case *parse.ActionNode:
		collectFuncs(n.Pipe, used)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			collectFuncs(c, used)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			collectFuncs(a, used)
		}
	case *parse.IdentifierNode:
		used[n.Ident] = true
	case *parse.IfNode:
		collectFuncs(n.Pipe, used)
		collectFuncs(n.List, used)
		collectFuncs(n.ElseList, used)
	case *parse.RangeNode:
		collectFuncs(n.Pipe, used)
		collectFuncs(n.List, used)
		collectFuncs(n.ElseList, used)
	case *parse.WithNode:
		collectFuncs(n.Pipe, used)
		collectFuncs(n.List, used)
		collectFuncs(n.ElseList, used)
	case *parse.TemplateNode:
		collectFuncs(n.Pipe, used)
	}
}

// helm install of the wrapper returns only after the target is deployed and
// the callback got SUCCESS with the outputs; helm upgrade of the wrapper
// upgrades the target; helm uninstall of the wrapper removes it. With the
// helm 4 and helm 3 CLIs, and in each way hookrunner reaches the cluster: a
// mounted kubeconfig, and its own ServiceAccount (through the kubernetes
// Service that kube-proxy maps on the real node) with a namespaced Role or
// bound to cluster-admin.
func TestWrapperLifecycle(t *testing.T) {
	t.Parallel()
	modes := map[string]struct {
		values func(ns string) map[string]any
		target func(ns string) string // the target namespace
	}{
		"kubeconfig": {
			values: func(string) map[string]any { return nil },
			target: func(ns string) string { return "target-" + ns },
		},
		// The Role covers the wrapper's own namespace, so the target goes there.
		"incluster-role": {
			values: func(ns string) map[string]any {
				return map[string]any{"kubeconfig": map[string]any{"value": ""}, "target": map[string]any{"createNamespace": false}}
			},
			target: func(ns string) string { return ns },
		},
		"incluster-admin": {
			values: func(string) map[string]any {
				return map[string]any{"kubeconfig": map[string]any{"value": ""}, "rbac": map[string]any{"clusterAdmin": true}}
			},
			target: func(ns string) string { return "target-" + ns },
		},
	}
	for mode, m := range modes {
		for _, cli := range []string{"helm4", "helm3"} {
			t.Run(mode+"/"+cli, func(t *testing.T) {
				t.Parallel()
				ns := "wrap-" + mode + "-" + cli
				target := m.target(ns)
				rcv := newReceiver(t)
				k := followHookPods(t, ns)
				extra := map[string]any{
					"callback": map[string]any{"url": rcv.url(), "format": "ros"},
					"waitFor":  []any{map[string]any{"kind": "Deployment", "name": "app", "jsonPath": "{.status.readyReplicas}", "operator": "Equals", "value": "2"}},
					"outputs":  map[string]any{"ready": "{{ (index .Conditions 0).Value }}", "message": "{{ .Values.message }}"},
				}
				for key, v := range m.values(ns) {
					extra[key] = v
				}
				values := wrapperValues(t, target, extra)
				if out, err := helmRun(t, cli, "install", "wrap", wrapperChart, "-n", ns, "--create-namespace", "-f", values, "--timeout", "3m"); err != nil {
					t.Fatalf("helm install: %v\n%s\nhook pods:\n%s", err, out, k.log())
				}
				k.ranOnRealNode(t)
				for name, p := range k.pods() {
					inCluster := p.spec.ServiceAccountName != "" && (p.spec.AutomountServiceAccountToken == nil || *p.spec.AutomountServiceAccountToken)
					if inCluster != (mode != "kubeconfig") {
						t.Errorf("pod %s: service account %q, automount %v, in mode %s", name, p.spec.ServiceAccountName, p.spec.AutomountServiceAccountToken, mode)
					}
				}
				// The target is deployed by the time helm returns.
				if status, rev := helmStatus(t, target, "app"); status != "deployed" || rev != "1" {
					t.Fatalf("target after helm install: %q revision %q\n%s", status, rev, k.log())
				}
				// Events with the outcome: about the release, and in-cluster
				// about the hook pod too (kubectl describe pod shows it).
				if ev := findEvent(hookrunnerEvents(t, target), "Secret", "sh.helm.release.v1.app.v1", runner.ReasonInstallSucceeded); ev == nil || ev.Type != corev1.EventTypeNormal {
					t.Errorf("no InstallSucceeded Event about the release in %s: %+v", target, hookrunnerEvents(t, target))
				}
				podEvent := findEvent(hookrunnerEvents(t, ns), "Pod", "", runner.ReasonInstallSucceeded)
				if (podEvent != nil) != (mode != "kubeconfig") {
					t.Errorf("Event about the hook pod: %+v, in mode %s", podEvent, mode)
				}
				sig := rcv.next(t, 5*time.Second)
				data := rosData(t, sig)
				if sig.body["status"] != "SUCCESS" || data["ready"] != "2" || data["message"] != "from-wrapper" {
					t.Errorf("callback %+v data %v", sig.body, data)
				}

				if out, err := helmRun(t, cli, "upgrade", "wrap", wrapperChart, "-n", ns, "-f", values, "--set", "target.values.message=upgraded", "--timeout", "3m"); err != nil {
					t.Fatalf("helm upgrade: %v\n%s\n%s", err, out, k.log())
				}
				if status, rev := helmStatus(t, target, "app"); status != "deployed" || rev != "2" {
					t.Errorf("target after wrapper upgrade: %q revision %q", status, rev)
				}
				if got := helmValues(t, "helm4", target, "app")["message"]; got != "upgraded" {
					t.Errorf("target values after upgrade: message=%v", got)
				}

				if out, err := helmRun(t, cli, "uninstall", "wrap", "-n", ns, "--timeout", "3m"); err != nil {
					t.Fatalf("helm uninstall: %v\n%s\n%s", err, out, k.log())
				}
				if status, _ := helmStatus(t, target, "app"); status != "" {
					t.Errorf("target release still %q after the wrapper's uninstall", status)
				}
				if _, err := client(t).AppsV1().Deployments(target).Get(context.Background(), "app", metav1.GetOptions{}); err == nil {
					t.Error("target deployment left behind")
				}
			})
		}
	}
}

// A target that fails to install fails helm install of the wrapper, and the
// callback got FAILURE with a readable reason.
func TestWrapperReportsTargetFailure(t *testing.T) {
	t.Parallel()
	ns, target := "wrapper-fails", "target-fails"
	rcv := newReceiver(t)
	k := followHookPods(t, ns)
	values := wrapperValues(t, target, map[string]any{
		"target":   map[string]any{"chartContent": chartContent(t, failing), "values": map[string]any{"fail": true, "auth": map[string]any{"password": "canary-pw-wrapper"}}},
		"callback": map[string]any{"url": rcv.url(), "format": "cfn"},
	})
	out, err := helmRun(t, "helm4", "install", "wrap", wrapperChart, "-n", ns, "--create-namespace", "-f", values, "--timeout", "3m")
	if err == nil {
		t.Fatalf("helm install of the wrapper succeeded although the target failed:\n%s", out)
	}
	sig := rcv.next(t, 5*time.Second)
	reason, _ := sig.body["Reason"].(string)
	if sig.body["Status"] != "FAILURE" || !strings.Contains(reason, "refusing to render: password [REDACTED] is weak") {
		t.Errorf("callback %+v", sig.body)
	}
	if strings.Contains(k.log(), "canary-pw-wrapper") {
		t.Error("the secret value reached the hook pod's log")
	}
	// The failed Job stays for debugging, with the result as its pod's
	// termination message.
	pods, err := client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=install"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("no install pod left: %v", err)
	}
	term := pods.Items[0].Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.ExitCode != 5 || !strings.Contains(term.Message, `"status":"FAILURE"`) {
		t.Errorf("pod termination: %+v", term)
	}
}

// With the target cluster unreachable, helm uninstall of the wrapper still
// completes within the configured bound.
func TestWrapperUninstallWithDeadTarget(t *testing.T) {
	t.Parallel()
	ln := silentListener(t)
	ns := "wrapper-dead-target"
	k := followHookPods(t, ns)
	dead := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://" + ln.Addr().String() + "\", insecure-skip-tls-verify: true}}]\n" +
		"users: [{name: u, user: {token: canary-dead}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
	values := wrapperValues(t, "target-dead", map[string]any{
		"kubeconfig": map[string]any{"value": dead},
		"uninstall":  map[string]any{"timeout": "20s", "onError": "ignore"},
	})
	// Installed without hooks: the target never existed; now it is unreachable.
	if out, err := helmRun(t, "helm4", "install", "wrap", wrapperChart, "-n", ns, "--create-namespace", "-f", values, "--no-hooks"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	start := time.Now()
	out, err := helmRun(t, "helm4", "uninstall", "wrap", "-n", ns, "--timeout", "3m")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("helm uninstall blocked by a dead target: %v\n%s\n%s", err, out, k.log())
	}
	if took > 60*time.Second {
		t.Errorf("helm uninstall took %s with a 20 s uninstall timeout", took)
	}
	if !strings.Contains(k.log(), "exiting 0 because of --on-error=ignore") {
		t.Errorf("the uninstall Job did not say it ignored the failure:\n%s", k.log())
	}
	t.Logf("helm uninstall with a dead target took %s", took.Round(time.Millisecond))
}

// A namespace enforcing Pod Security "restricted" admits the hook pods.
func TestWrapperRestrictedNamespace(t *testing.T) {
	t.Parallel()
	ns, target := "wrapper-restricted", "target-restricted"
	_, err := client(t).CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := followHookPods(t, ns)
	values := wrapperValues(t, target, map[string]any{
		"imageRegistryRewrite": []any{"registry.example.com=mirror.example.com/app"},
		"target": map[string]any{
			"imagePullSecrets": []any{"mirror-creds"},
			"labels":           map[string]any{"shop.example.com/product": "suite"},
		},
		"postRenderPatches": []any{map[string]any{"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec: {template: {spec: {tolerations: [{key: dedicated, operator: Exists}]}}}\n"}},
	})
	if out, err := helmRun(t, "helm4", "install", "wrap", wrapperChart, "-n", ns, "-f", values, "--timeout", "3m"); err != nil {
		t.Fatalf("helm install into a restricted namespace: %v\n%s\n%s", err, out, k.log())
	}
	if status, _ := helmStatus(t, target, "app"); status != "deployed" {
		t.Errorf("target %q", status)
	}
	// The chart's imageRegistryRewrite, pull secrets, labels and patches
	// reached the target's workloads.
	d, err := client(t).AppsV1().Deployments(target).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Spec.Containers[0].Image != "mirror.example.com/app/webapp:1.0" {
		t.Errorf("target image: %v", d.Spec.Template.Spec.Containers)
	}
	pod := d.Spec.Template.Spec
	if len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "mirror-creds" {
		t.Errorf("target pull secrets: %v", pod.ImagePullSecrets)
	}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "dedicated" {
		t.Errorf("target tolerations (postRenderPatches): %v", pod.Tolerations)
	}
	if d.Labels["shop.example.com/product"] != "suite" {
		t.Errorf("target labels: %v", d.Labels)
	}
	// The hook pods ran on the real node, restricted, with a read-only root
	// filesystem.
	k.ranOnRealNode(t)
	for _, p := range k.pods() {
		spec := p.spec
		sc := spec.Containers[0].SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			spec.SecurityContext == nil || spec.SecurityContext.RunAsUser == nil || *spec.SecurityContext.RunAsUser != 65532 {
			t.Errorf("hook pod security: %+v / %+v", spec.SecurityContext, sc)
		}
	}
	// Prove the namespace does enforce: a privileged pod is refused.
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Image: "x", SecurityContext: &corev1.SecurityContext{Privileged: new(true)}}}}}
	if _, err := client(t).CoreV1().Pods(ns).Create(context.Background(), bad, metav1.CreateOptions{}); err == nil {
		t.Error("the namespace admitted a privileged pod: it does not enforce restricted")
	}
}

// The same flow driven only by Compute Nest-style values: Kubeconfig
// (base64), ChartUrl, ChartValues, ReleaseName, ChartNamespace, CurlCli.
func TestWrapperComputeNestValues(t *testing.T) {
	t.Parallel()
	ns, target := "wrapper-nest", "target-nest"
	k := followHookPods(t, ns)
	rcv := newReceiver(t)
	tgz := chartsrv.Package(t, webapp)
	files := http.FileServer(http.Dir(filepath.Dir(tgz)))
	srv := &httptest.Server{Listener: listen(t), Config: &http.Server{Handler: files}}
	srv.Start()
	defer srv.Close()
	kc, err := os.ReadFile(cluster.Get(t).Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"Kubeconfig":     base64.StdEncoding.EncodeToString(kc),
		"ChartUrl":       srv.URL + "/" + filepath.Base(tgz),
		"ChartValues":    `{"message": "from-compute-nest", "replicaCount": 1}`,
		"ReleaseName":    "nest-app",
		"ChartNamespace": target,
		"CurlCli":        "curl -i -X POST -H 'Content-Type: application/json' -H 'x-acs-ros-stack-id: 5f1c' '" + rcv.url() + "'",
		"job":            map[string]any{"backoffLimit": 0},
		"install":        map[string]any{"timeout": "90s"},
	}
	data, _ := yaml.Marshal(values)
	file := writeFile(t, "nest.yaml", string(data))
	if out, err := helmRun(t, "helm4", "install", "wrap", wrapperChart, "-n", ns, "--create-namespace", "-f", file, "--timeout", "3m"); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, k.log())
	}
	if got := helmValues(t, "helm4", target, "nest-app"); got["message"] != "from-compute-nest" {
		t.Errorf("target values %v", got)
	}
	sig := rcv.next(t, 5*time.Second)
	if sig.body["status"] != "SUCCESS" || sig.header.Get("X-Acs-Ros-Stack-Id") != "5f1c" {
		t.Errorf("callback %+v headers %v", sig.body, sig.header)
	}
	if _, err := client(t).CoordinationV1().Leases(target).Get(context.Background(), kube.LockName("nest-app"), metav1.GetOptions{}); err == nil {
		t.Error("lease left behind")
	}
}
