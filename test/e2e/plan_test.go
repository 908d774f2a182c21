package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/chartsrv"
	"github.com/hookrunner/hookrunner/test/cluster"
)

// widgetCRD is the CRD of group the operator chart ships in its templates,
// as cert-manager does with crds.enabled: uninstalling the chart deletes
// it, and with it every Widget, which is why the app goes first.
func widgetCRD(group string) string {
	return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.` + group + `
spec:
  group: ` + group + `
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties: {size: {type: integer}}
`
}

const planGroup = "plan.hookrunner.dev"

var (
	widgets = schema.GroupVersionResource{Group: planGroup, Version: "v1", Resource: "widgets"}
	crdsGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// planCharts writes the operator chart (the Widget CRD of group) and the
// app chart (a Widget and a ConfigMap with its host) into dir.
func planCharts(t *testing.T, dir, group string) {
	t.Helper()
	writeChart(t, filepath.Join(dir, "operator"), map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: operator\nversion: 1.0.0\n",
		"values.yaml":         "crds:\n  enabled: false\n",
		"templates/crd.yaml":  "{{- if .Values.crds.enabled }}\n" + widgetCRD(group) + "{{- end }}\n",
		"templates/note.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: operator-note\ndata:\n  ok: \"yes\"\n",
	})
	writeChart(t, filepath.Join(dir, "app"), map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: app\nversion: 1.0.0\n",
		"values.yaml":           "host: app.example\nsize: 1\n",
		"templates/widget.yaml": "apiVersion: " + group + "/v1\nkind: Widget\nmetadata:\n  name: main\nspec:\n  size: {{ .Values.size }}\n",
		"templates/host.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-host\ndata:\n  host: {{ .Values.host | quote }}\n",
	})
}

// threePlan is a plan of three releases: app needs operator (for its CRD)
// and web (a webapp), each in its own namespace.
func threePlan(ns, appValues, webWait string) string {
	webapp, _ := filepath.Abs(webapp)
	return fmt.Sprintf(`releases:
  - name: app
    namespace: %[1]s-app
    createNamespace: true
    chart: ./app
    values: %[2]s
    needs: [operator, web]
  - name: operator
    namespace: %[1]s-op
    createNamespace: true
    chart: ./operator
    values: {crds: {enabled: true}}
  - name: web
    namespace: %[1]s-web
    createNamespace: true
    chart: %[3]s
    set: ["replicaCount=1"]
    waitFor: %[4]s
outputs:
  url: 'https://{{ (index .Releases "app").Values.host }}'
  web: '{{ (index .Releases "web").Release.Namespace }}/{{ (index .Releases "web").Release.Name }}'
`, ns, appValues, webapp, webWait)
}

// msRounding allows for the result's times being rounded to milliseconds
// each: a start can read up to 2 ms before the end it follows.
const msRounding = 0.002

func writePlan(t *testing.T, dir, plan string) string {
	t.Helper()
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(plan), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// planCleanup removes the plan's namespaces and the CRD when the test ends.
func planCleanup(t *testing.T, ns string, dyn dynamic.Interface, group string) {
	t.Cleanup(func() {
		ctx := context.Background()
		for _, n := range []string{ns + "-app", ns + "-op", ns + "-web"} {
			_ = client(t).CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{})
		}
		_ = dyn.Resource(crdsGVR).Delete(ctx, "widgets."+group, metav1.DeleteOptions{})
	})
}

func releaseByName(t *testing.T, r run, name string) runner.PlanRelease {
	t.Helper()
	for _, rel := range r.result.Releases {
		if rel.Name == name {
			return rel
		}
	}
	t.Fatalf("no release %s in the result: %+v", name, r.result.Releases)
	return runner.PlanRelease{}
}

// A plan of three releases: installed in the order of needs with one
// callback for all; a re-run changes nothing; changing one release's
// values upgrades only it; uninstall --plan removes the app (and its
// Widget) before the operator (and its CRD).
func TestPlan(t *testing.T) {
	ns := namespaceFor(t)
	dyn, err := dynamic.NewForConfig(cluster.Get(t).RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	planCleanup(t, ns, dyn, planGroup)
	dir := t.TempDir()
	planCharts(t, dir, planGroup)
	plan := writePlan(t, dir, threePlan(ns, "{host: shop.example}", "[]"))
	recv := newReceiver(t)
	install := func() run {
		t.Helper()
		return hookrunner(t, []string{"HOOKRUNNER_CALLBACK_URL=" + recv.url()}, "install", "--plan", plan, "--timeout", "3m").must(t)
	}

	// 1. One run installs all three, app last, and reports once.
	r := install()
	app, op, web := releaseByName(t, r, "app"), releaseByName(t, r, "operator"), releaseByName(t, r, "web")
	for _, rel := range []runner.PlanRelease{app, op, web} {
		if rel.Action != runner.ActionInstall || rel.Revision != 1 || rel.Status != "deployed" || rel.Result != runner.StatusSuccess {
			t.Errorf("%s: %+v, want installed revision 1", rel.Name, rel)
		}
	}
	for _, dep := range []runner.PlanRelease{op, web} {
		if app.StartSeconds+msRounding < dep.StartSeconds+dep.DurationSeconds {
			t.Errorf("app started at %.3fs, before %s finished (%.3fs + %.3fs)", app.StartSeconds, dep.Name, dep.StartSeconds, dep.DurationSeconds)
		}
	}
	if r.result.Action != runner.ActionInstall || r.result.ReasonCode != runner.ReasonInstallSucceeded {
		t.Errorf("plan action %s, reason code %s", r.result.Action, r.result.ReasonCode)
	}
	sigs := recv.signals()
	if len(sigs) != 1 {
		t.Fatalf("%d callbacks, want one for the plan", len(sigs))
	}
	outputs := rosData(t, sigs[0])
	if outputs["url"] != "https://shop.example" || outputs["web"] != ns+"-web/web" {
		t.Errorf("callback outputs %v", outputs)
	}
	if _, err := dyn.Resource(widgets).Namespace(ns+"-app").Get(context.Background(), "main", metav1.GetOptions{}); err != nil {
		t.Errorf("the app's Widget: %v", err)
	}
	// helm reads every release.
	for _, rel := range []runner.PlanRelease{app, op, web} {
		if out := helmCLI(t, "helm4", "status", rel.Name, "-n", rel.Namespace); !strings.Contains(out, "STATUS: deployed") {
			t.Errorf("helm4 status %s:\n%s", rel.Name, out)
		}
	}

	// 2. The same plan again: nothing anywhere.
	r = install()
	for _, rel := range r.result.Releases {
		if rel.Action != runner.ActionNone || rel.Revision != 1 {
			t.Errorf("re-run: %s %s revision %d, want none at 1", rel.Name, rel.Action, rel.Revision)
		}
	}
	if r.result.Action != runner.ActionNone {
		t.Errorf("re-run plan action %s", r.result.Action)
	}
	// One release's values change: only it upgrades.
	writePlan(t, dir, threePlan(ns, "{host: shop2.example}", "[]"))
	r = install()
	for _, rel := range r.result.Releases {
		want, rev := runner.ActionNone, 1
		if rel.Name == "app" {
			want, rev = runner.ActionUpgrade, 2
		}
		if rel.Action != want || rel.Revision != rev {
			t.Errorf("after changing app's values: %s %s revision %d, want %s %d", rel.Name, rel.Action, rel.Revision, want, rev)
		}
	}
	if got := rosData(t, recv.next(t, time.Minute))["url"]; got != "https://shop2.example" {
		t.Errorf("url after the change: %q", got)
	}

	// 5. uninstall --plan: the app (and its Widget) before the operator
	// (and the CRD its templates hold).
	u := hookrunner(t, nil, "uninstall", "--plan", plan, "--timeout", "3m").must(t)
	app, op = releaseByName(t, u, "app"), releaseByName(t, u, "operator")
	if op.StartSeconds+msRounding < app.StartSeconds+app.DurationSeconds {
		t.Errorf("operator uninstall started at %.3fs, before app's finished (%.3fs + %.3fs)", op.StartSeconds, app.StartSeconds, app.DurationSeconds)
	}
	if u.result.Releases[len(u.result.Releases)-1].Name != "operator" {
		t.Errorf("uninstall order %+v, want operator last", u.result.Releases)
	}
	for _, rel := range u.result.Releases {
		if rel.Action != runner.ActionUninstall || rel.Result != runner.StatusSuccess {
			t.Errorf("uninstall: %s %s %s", rel.Name, rel.Action, rel.Result)
		}
	}
	eventually(t, time.Minute, "the Widget CRD deleted", func() bool {
		_, err := dyn.Resource(crdsGVR).Get(context.Background(), "widgets."+planGroup, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	for _, rel := range []string{"app", "operator", "web"} {
		if list := helmList(t, "helm4", map[string]string{"app": ns + "-app", "operator": ns + "-op", "web": ns + "-web"}[rel]); len(list) != 0 {
			t.Errorf("after uninstall --plan, %s still lists %+v", rel, list)
		}
	}
}

// 3. A run killed mid-plan (web waiting on a condition, app not started)
// is finished by the next run: every release deployed, one revision each.
func TestPlanKilledMidway(t *testing.T) {
	ns := namespaceFor(t)
	dyn, err := dynamic.NewForConfig(cluster.Get(t).RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	planCleanup(t, ns, dyn, "killed."+planGroup)
	dir := t.TempDir()
	planCharts(t, dir, "killed."+planGroup)
	wait := fmt.Sprintf(`[{kind: ConfigMap, name: go, namespace: %s-web, jsonPath: '{.data.go}', operator: Equals, value: "yes"}]`, ns)
	plan := writePlan(t, dir, threePlan(ns, "{host: shop.example}", wait))

	s := start(t, nil, "install", "--plan", plan, "--timeout", "3m")
	eventually(t, 2*time.Minute, "web deployed and waiting", func() bool {
		status, _ := helmStatus(t, ns+"-web", "web")
		return status == "deployed" && strings.Contains(s.stderr.String(), "waiting")
	})
	s.signal(t, syscall.SIGKILL, 10*time.Second)
	if list := helmList(t, "helm4", ns+"-app"); len(list) != 0 {
		t.Fatalf("app was installed before web's wait held: %+v", list)
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "go"}, Data: map[string]string{"go": "yes"}}
	if _, err := client(t).CoreV1().ConfigMaps(ns+"-web").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := hookrunner(t, nil, "install", "--plan", plan, "--timeout", "3m").must(t)
	want := map[string]string{"operator": runner.ActionNone, "web": runner.ActionNone, "app": runner.ActionInstall}
	for _, rel := range r.result.Releases {
		if rel.Action != want[rel.Name] || rel.Revision != 1 || rel.Status != "deployed" {
			t.Errorf("re-run: %s %s revision %d %s, want %s at revision 1", rel.Name, rel.Action, rel.Revision, rel.Status, want[rel.Name])
		}
	}
	for name, namespace := range map[string]string{"app": ns + "-app", "operator": ns + "-op", "web": ns + "-web"} {
		if n := releaseSecrets(t, namespace); n != 1 {
			t.Errorf("%s has %d release records, want 1", name, n)
		}
	}
}

// 4. A failing release: what needs it is not installed, an independent
// release is, and the run fails with the failed release's cause and code.
func TestPlanFailure(t *testing.T) {
	ns := namespaceFor(t)
	failingChart, _ := filepath.Abs(failing)
	webappChart, _ := filepath.Abs(webapp)
	dir := t.TempDir()
	plan := writePlan(t, dir, fmt.Sprintf(`releases:
  - name: broken
    namespace: %[1]s
    createNamespace: true
    chart: %[2]s
    values: {fail: true, auth: {password: canary-plan-password-4}}
  - name: after
    namespace: %[1]s
    chart: %[3]s
    needs: [broken]
  - name: later
    namespace: %[1]s
    chart: %[3]s
    needs: [after]
  - name: alone
    namespace: %[1]s
    createNamespace: true
    chart: %[3]s
`, ns, failingChart, webappChart))
	t.Cleanup(func() { _ = client(t).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	r := hookrunner(t, nil, "install", "--plan", plan, "--timeout", "2m")
	if r.code != runner.ExitAction || r.result.Status != runner.StatusFailure {
		t.Fatalf("exit %d, status %s, want %d FAILURE\n%s", r.code, r.result.Status, runner.ExitAction, r.stderr)
	}
	if !strings.Contains(r.result.Reason, "release "+ns+"/broken") || !strings.Contains(r.result.Reason, "refusing to render") {
		t.Errorf("reason %q does not name the failed release and its cause", r.result.Reason)
	}
	if strings.Contains(r.stdout+r.stderr, "canary-plan-password-4") {
		t.Error("a secret value reached the output")
	}
	if got := releaseByName(t, r, "broken"); got.Result != runner.StatusFailure || got.ReasonCode != runner.ReasonInstallFailed {
		t.Errorf("broken: %+v", got)
	}
	for _, name := range []string{"after", "later"} {
		if got := releaseByName(t, r, name); got.Result != runner.StatusSkipped || !strings.Contains(got.Reason, "not installed: it needs") {
			t.Errorf("%s: %+v, want skipped", name, got)
		}
	}
	if got := releaseByName(t, r, "alone"); got.Result != runner.StatusSuccess || got.Action != runner.ActionInstall {
		t.Errorf("alone: %+v, want installed", got)
	}
	names := map[string]bool{}
	for _, rel := range helmList(t, "helm4", ns) {
		names[rel.Name] = true
	}
	if names["after"] || names["later"] || !names["alone"] {
		t.Errorf("releases in the namespace: %v", names)
	}
}

// 7. Bad plans: one line naming the entry, exit 2, nothing in the cluster.
func TestBadPlans(t *testing.T) {
	ns := namespaceFor(t)
	webappChart, _ := filepath.Abs(webapp)
	entry := func(name, extra string) string {
		return fmt.Sprintf("  - name: %s\n    namespace: %s\n    createNamespace: true\n    chart: %s\n%s", name, ns, webappChart, extra)
	}
	cases := map[string]struct {
		plan, want string
	}{
		"cycle":        {"releases:\n" + entry("a", "    needs: [b]\n") + entry("b", "    needs: [a]\n"), "releases[0] (a): needs form a cycle: a → b → a"},
		"unknown-need": {"releases:\n" + entry("a", "    needs: [nope]\n"), `releases[0] (a): needs "nope": no release of this plan has that name`},
		"duplicate":    {"releases:\n" + entry("a", "") + entry("a", ""), "releases[1] (a): release " + ns + "/a is also releases[0] (a)"},
		"unknown-key":  {"releases:\n" + entry("a", "    valueFiles: [x.yaml]\n"), `releases[0]: unknown field "valueFiles"`},
		"no-chart":     {fmt.Sprintf("releases:\n  - name: a\n    namespace: %s\n", ns), "releases[0] (a): no chart"},
		"bad-values":   {"releases:\n" + entry("a", "    valuesFiles: [missing.yaml]\n"), "releases[0] (a): invalid values: --values"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			plan := writePlan(t, t.TempDir(), tc.plan)
			r := hookrunner(t, nil, "install", "--plan", plan)
			if r.code != runner.ExitBadInput || r.result.ReasonCode != runner.ReasonBadInput {
				t.Errorf("exit %d (%s), want %d", r.code, r.result.ReasonCode, runner.ExitBadInput)
			}
			if !strings.Contains(r.result.Reason, tc.want) || strings.Contains(r.result.Reason, "\n") {
				t.Errorf("reason %q, want one line containing %q", r.result.Reason, tc.want)
			}
			if !namespaceAbsent(t, ns) {
				t.Errorf("namespace %s exists after a bad plan", ns)
			}
		})
	}
}

// 6. The wrapper chart with releases: helm install (v4 and v3) runs the
// plan in the hook Job on the real node and waits for all of it; one
// callback carries the plan's outputs; helm uninstall removes all three,
// the app before the operator.
func TestWrapperPlan(t *testing.T) {
	t.Parallel()
	for _, cli := range []string{"helm4", "helm3"} {
		t.Run(cli, func(t *testing.T) {
			t.Parallel()
			ns := "wrap-plan-" + cli
			group := cli + "." + planGroup
			dyn, err := dynamic.NewForConfig(cluster.Get(t).RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			planCleanup(t, ns, dyn, group)
			// The hook pod fetches the charts from this machine over HTTP.
			src, served := t.TempDir(), t.TempDir()
			planCharts(t, src, group)
			for _, dir := range []string{filepath.Join(src, "operator"), filepath.Join(src, "app"), webapp} {
				tgz := chartsrv.Package(t, dir)
				data, err := os.ReadFile(tgz)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(served, filepath.Base(tgz)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			srv := &httptest.Server{Listener: listen(t), Config: &http.Server{Handler: http.FileServer(http.Dir(served))}}
			srv.Start()
			t.Cleanup(srv.Close)
			rcv := newReceiver(t)
			k := followHookPods(t, ns)
			values := wrapperValues(t, ns, map[string]any{
				"target":   map[string]any{"chartContent": "", "releaseName": "", "namespace": "", "values": map[string]any{}},
				"install":  map[string]any{"timeout": "3m"},
				"callback": map[string]any{"url": rcv.url(), "format": "ros"},
				"releases": []any{
					map[string]any{"name": "app", "namespace": ns + "-app", "chart": srv.URL + "/app-1.0.0.tgz",
						"values": map[string]any{"host": "wrapped.example"}, "needs": []any{"operator", "web"}},
					map[string]any{"name": "operator", "namespace": ns + "-op", "chart": srv.URL + "/operator-1.0.0.tgz",
						"values": map[string]any{"crds": map[string]any{"enabled": true}}},
					map[string]any{"name": "web", "namespace": ns + "-web", "chart": srv.URL + "/webapp-1.2.3.tgz", "set": []any{"replicaCount=1"}},
				},
				"outputs": map[string]any{"url": `https://{{ (index .Releases "app").Values.host }}`},
			})
			if out, err := helmRun(t, cli, "install", "wrap", wrapperChart, "-n", ns, "--create-namespace", "-f", values, "--timeout", "4m"); err != nil {
				t.Fatalf("helm install: %v\n%s\nhook pods:\n%s", err, out, k.log())
			}
			k.ranOnRealNode(t)
			for name, namespace := range map[string]string{"app": ns + "-app", "operator": ns + "-op", "web": ns + "-web"} {
				if status, rev := helmStatus(t, namespace, name); status != "deployed" || rev != "1" {
					t.Errorf("%s after helm install: %q revision %q\n%s", name, status, rev, k.log())
				}
			}
			sig := rcv.next(t, 5*time.Second)
			if sig.body["status"] != "SUCCESS" || rosData(t, sig)["url"] != "https://wrapped.example" {
				t.Errorf("callback %+v", sig.body)
			}
			if n := len(rcv.signals()); n != 1 {
				t.Errorf("%d callbacks, want one for the plan", n)
			}

			if out, err := helmRun(t, cli, "uninstall", "wrap", "-n", ns, "--timeout", "4m"); err != nil {
				t.Fatalf("helm uninstall: %v\n%s\n%s", err, out, k.log())
			}
			for name, namespace := range map[string]string{"app": ns + "-app", "operator": ns + "-op", "web": ns + "-web"} {
				if status, _ := helmStatus(t, namespace, name); status != "" {
					t.Errorf("%s still %q after the wrapper's uninstall", name, status)
				}
			}
			eventually(t, time.Minute, "the Widget CRD deleted", func() bool {
				_, err := dyn.Resource(crdsGVR).Get(context.Background(), "widgets."+group, metav1.GetOptions{})
				return apierrors.IsNotFound(err)
			})
		})
	}
}
