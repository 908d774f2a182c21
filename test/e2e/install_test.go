package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/chartsrv"
	"github.com/hookrunner/hookrunner/test/cluster"
)

// What hookrunner installs is a real Helm release: both CLIs list it and
// show exactly the values given.
func TestInstallIsAHelmRelease(t *testing.T) {
	t.Parallel()
	ns := namespaceFor(t)
	r := hookrunner(t, nil, "install", "web", webapp, "-n", ns, "--create-namespace",
		"--set", "message=hi", "--set-string", "image.tag=2.0").must(t)
	want := runner.ReleaseInfo{Name: "web", Namespace: ns, Revision: 1, Status: "deployed", Chart: "webapp", Version: "1.2.3", AppVersion: "9.9.9"}
	if diff := cmp.Diff(want, r.result.Release); diff != "" || r.result.Action != runner.ActionInstall || r.result.Status != runner.StatusSuccess {
		t.Errorf("result %s/%s, release (-want +got):\n%s", r.result.Status, r.result.Action, diff)
	}
	wantValues := map[string]any{"message": "hi", "image": map[string]any{"tag": "2.0"}}
	for _, cli := range []string{"helm4", "helm3"} {
		list := helmList(t, cli, ns)
		if len(list) != 1 || list[0].Name != "web" || list[0].Status != "deployed" || list[0].Revision != "1" || list[0].Chart != "webapp-1.2.3" {
			t.Errorf("%s list: %+v", cli, list)
		}
		if diff := cmp.Diff(wantValues, helmValues(t, cli, ns, "web")); diff != "" {
			t.Errorf("%s get values (-want +got):\n%s", cli, diff)
		}
	}
	d, err := client(t).AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.ReadyReplicas != 2 {
		t.Errorf("install returned before the Deployment was ready: %d ready", d.Status.ReadyReplicas)
	}
	owners := map[string]bool{}
	for _, f := range d.ManagedFields {
		owners[f.Manager] = true
	}
	if !owners[kube.FieldManager] {
		t.Errorf("field managers %v lack %q", owners, kube.FieldManager)
	}
}

// Re-running the same Job changes nothing; a changed value upgrades; a
// `helm upgrade` by hand in between is noticed and undone.
func TestRerunIsNoOpAndChangeUpgrades(t *testing.T) {
	t.Parallel()
	ns := namespaceFor(t)
	args := []string{"install", "web", webapp, "-n", ns, "--create-namespace", "--set", "message=hi"}
	hookrunner(t, nil, args...).must(t)
	again := hookrunner(t, nil, args...).must(t)
	if again.result.Action != runner.ActionNone || again.result.Release.Revision != 1 {
		t.Errorf("re-run: action %s, revision %d; want none at revision 1", again.result.Action, again.result.Release.Revision)
	}
	changed := hookrunner(t, nil, "install", "web", webapp, "-n", ns, "--set", "message=bye").must(t)
	if changed.result.Action != runner.ActionUpgrade || changed.result.Release.Revision != 2 || changed.result.Release.Status != "deployed" {
		t.Errorf("changed value: %+v", changed.result)
	}
	// Someone upgrades by hand with helm 3; the next run restores the asked values.
	helmCLI(t, "helm3", "upgrade", "web", webapp, "-n", ns, "--set", "message=manual")
	restored := hookrunner(t, nil, "install", "web", webapp, "-n", ns, "--set", "message=bye").must(t)
	if restored.result.Action != runner.ActionUpgrade || restored.result.Release.Revision != 4 {
		t.Errorf("after a manual upgrade: action %s revision %d, want upgrade to 4", restored.result.Action, restored.result.Release.Revision)
	}
	if got := helmValues(t, "helm4", ns, "web")["message"]; got != "bye" {
		t.Errorf("values after restore: message=%v", got)
	}
	// And helm 4 can upgrade what hookrunner installed.
	helmCLI(t, "helm4", "upgrade", "web", webapp, "-n", ns, "--reuse-values", "--set", "replicaCount=1")
	if status, rev := helmStatus(t, ns, "web"); status != "deployed" || rev != "5" {
		t.Errorf("helm4 upgrade: %s at %s", status, rev)
	}
}

// Every chart source installs, and a wrong pinned digest creates nothing.
func TestEveryChartSourceInstalls(t *testing.T) {
	t.Parallel()
	tgz := chartsrv.Package(t, webapp)
	b64 := filepath.Join(t.TempDir(), "chart.tgz.b64")
	data, _ := os.ReadFile(tgz)
	if err := os.WriteFile(b64, []byte(base64.StdEncoding.EncodeToString(data)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	https := chartsrv.NewHTTPS(t, "chartuser", "chart-pass-e2e", map[string]string{"webapp-1.2.3.tgz": tgz}, true)
	oci := chartsrv.NewOCI(t, "ociuser", "oci-pass-e2e")
	ociRef := oci.Push(t, tgz)
	auth := []string{"--username", https.Username, "--ca-file", https.CAFile}
	passEnv := []string{"HOOKRUNNER_PASSWORD=" + https.Password}
	ns := createNamespace(t)
	cases := map[string]struct {
		env  []string
		args []string
	}{
		"dir":   {args: []string{webapp}},
		"tgz":   {args: []string{tgz}},
		"b64":   {args: []string{b64}},
		"https": {env: passEnv, args: append([]string{https.URL + "/webapp-1.2.3.tgz"}, auth...)},
		"repo":  {env: passEnv, args: append([]string{"webapp", "--repo", https.URL, "--version", "^1.2"}, auth...)},
		"oci":   {args: []string{ociRef, "--version", "1.2.3", "--registry-config", oci.RegistryConfig, "--plain-http"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"install", "src-" + name, "-n", ns, "--set", "replicaCount=1"}, tc.args...)
			r := hookrunner(t, tc.env, args...).must(t)
			if r.result.Release.Status != "deployed" || r.result.Release.Chart != "webapp" {
				t.Errorf("%+v", r.result.Release)
			}
		})
	}
	t.Run("wrong-digest", func(t *testing.T) {
		fresh := "digest-refused"
		r := hookrunner(t, nil, "install", "pinned", tgz, "-n", fresh, "--create-namespace",
			"--chart-digest", "sha256:"+strings.Repeat("0", 64))
		if r.code != runner.ExitChart || !strings.Contains(r.result.Reason, "--chart-digest wants sha256:000") {
			t.Errorf("exit %d, reason %q", r.code, r.result.Reason)
		}
		if !namespaceAbsent(t, fresh) {
			t.Error("a refused chart created its namespace")
		}
	})
	// --verify with no .prov beside the chart: a chart error, before the
	// cluster is touched (chart/verify_test.go covers every signature case).
	t.Run("unverified", func(t *testing.T) {
		fresh := "verify-refused"
		keyring := writeFile(t, "pubring.gpg", "")
		r := hookrunner(t, nil, "install", "signed", tgz, "-n", fresh, "--create-namespace", "--verify", "--keyring", keyring)
		if r.code != runner.ExitChart || r.result.ReasonCode != runner.ReasonChartUnavailable || !strings.Contains(r.result.Reason, "chart signature not verified") {
			t.Errorf("exit %d, %s, reason %q", r.code, r.result.ReasonCode, r.result.Reason)
		}
		if !namespaceAbsent(t, fresh) {
			t.Error("an unverified chart created its namespace")
		}
	})
}

// A runner killed while waiting leaves pending-install (Helm's record of an
// action in flight); the same command again ends deployed. Likewise for
// pending-upgrade.
func TestKilledRunnerIsRecovered(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ns := createNamespace(t)
	notReady := []string{"install", "web", webapp, "-n", ns, "--set", "notReady=true", "--timeout", "2m"}

	s := start(t, nil, notReady...)
	eventually(t, 30*time.Second, "release pending-install", func() bool {
		status, _ := helmStatus(t, ns, "web")
		return status == "pending-install"
	})
	s.signal(t, syscall.SIGKILL, 5*time.Second)
	if status, _ := helmStatus(t, ns, "web"); status != "pending-install" {
		t.Fatalf("after SIGKILL the release is %q, want pending-install", status)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.ReadyExecPods(ctx, ns); err != nil {
		t.Fatal(err)
	}
	r := hookrunner(t, nil, notReady...).must(t)
	if r.result.Release.Status != "deployed" || r.result.Action != runner.ActionInstall {
		t.Errorf("recovery run: %s %+v", r.result.Action, r.result.Release)
	}
	if !strings.Contains(r.stderr, "marked an interrupted revision failed") {
		t.Errorf("recovery run did not say it marked the pending revision failed:\n%s", r.stderr)
	}
	cancel()

	// pending-upgrade: an upgrade whose new pods never become ready.
	upgrade := []string{"install", "web", webapp, "-n", ns, "--set", "notReady=true", "--set", "message=v2", "--timeout", "2m"}
	s = start(t, nil, upgrade...)
	eventually(t, 30*time.Second, "release pending-upgrade", func() bool {
		status, _ := helmStatus(t, ns, "web")
		return status == "pending-upgrade"
	})
	s.signal(t, syscall.SIGKILL, 5*time.Second)
	if status, _ := helmStatus(t, ns, "web"); status != "pending-upgrade" {
		t.Fatalf("after SIGKILL the release is %q, want pending-upgrade", status)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	if err := c.ReadyExecPods(ctx, ns); err != nil {
		t.Fatal(err)
	}
	r = hookrunner(t, nil, upgrade...).must(t)
	if r.result.Release.Status != "deployed" || r.result.Action != runner.ActionUpgrade {
		t.Errorf("recovery run: %s %+v", r.result.Action, r.result.Release)
	}
	deployed := 0
	for _, rel := range helmHistory(t, ns, "web") {
		if rel == "deployed" {
			deployed++
		}
	}
	if deployed != 1 {
		t.Errorf("%d deployed revisions, want exactly 1", deployed)
	}
	if _, err := client(t).CoordinationV1().Leases(ns).Get(context.Background(), kube.LockName("web"), metav1.GetOptions{}); err == nil {
		t.Error("the lease was left behind")
	}
}

// helmHistory returns the status of each revision, oldest first.
func helmHistory(t *testing.T, namespace, name string) []string {
	t.Helper()
	out := helmCLI(t, "helm4", "history", name, "-n", namespace, "-o", "yaml")
	var statuses []string
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "status: "); ok {
			statuses = append(statuses, s)
		}
	}
	return statuses
}

// SIGTERM (a Job's deadline, an eviction) ends the run within 10 s with the
// documented code, and the release failed, never pending.
func TestSIGTERMLeavesReleaseFailed(t *testing.T) {
	t.Parallel()
	ns := createNamespace(t)
	s := start(t, nil, "install", "web", webapp, "-n", ns, "--set", "notReady=true", "--timeout", "2m")
	eventually(t, 30*time.Second, "release pending-install", func() bool {
		status, _ := helmStatus(t, ns, "web")
		return status == "pending-install"
	})
	r, took := s.signal(t, syscall.SIGTERM, 10*time.Second)
	if r.code != runner.ExitInterrupted || r.result.Status != runner.StatusFailure {
		t.Errorf("exit %d status %s, want %d FAILURE", r.code, r.result.Status, runner.ExitInterrupted)
	}
	if !strings.Contains(r.result.Reason, "interrupted by signal") {
		t.Errorf("reason %q", r.result.Reason)
	}
	if status, _ := helmStatus(t, ns, "web"); status != "failed" {
		t.Errorf("release %q after SIGTERM, want failed", status)
	}
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
}

// Two runners on one release: one acts, the other waits on the Lease and
// then finds nothing to do.
func TestConcurrentRunnersTakeTurns(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ns := createNamespace(t)
	args := []string{"install", "web", webapp, "-n", ns, "--set", "notReady=true", "--timeout", "2m"}
	a := start(t, nil, args...)
	b := start(t, nil, args...)
	// Hold the first install in its wait long enough for the second to queue.
	waiting := func() bool {
		return strings.Contains(a.stderr.String(), "waiting for another runner") || strings.Contains(b.stderr.String(), "waiting for another runner")
	}
	eventually(t, 30*time.Second, "one runner waits on the lease", waiting)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.ReadyExecPods(ctx, ns); err != nil {
		t.Fatal(err)
	}
	ra, rb := a.wait(t, time.Minute).must(t), b.wait(t, time.Minute).must(t)
	actions := []string{ra.result.Action, rb.result.Action}
	if !(actions[0] == "install" && actions[1] == "none" || actions[0] == "none" && actions[1] == "install") {
		t.Errorf("actions %v, want one install and one none", actions)
	}
	if h := helmHistory(t, ns, "web"); len(h) != 1 || h[0] != "deployed" {
		t.Errorf("history %v, want one deployed revision", h)
	}
}

func TestUninstall(t *testing.T) {
	t.Parallel()
	ns := namespaceFor(t)
	hookrunner(t, nil, "install", "web", webapp, "-n", ns, "--create-namespace").must(t)
	r := hookrunner(t, nil, "uninstall", "web", "-n", ns).must(t)
	if r.result.Action != runner.ActionUninstall || r.result.Release.Status != "uninstalled" || r.result.Release.Chart != "webapp" {
		t.Errorf("%+v", r.result)
	}
	if n := releaseSecrets(t, ns); n != 0 {
		t.Errorf("%d release records left", n)
	}
	eventually(t, 30*time.Second, "deployment and configmap deleted", func() bool {
		_, errD := client(t).AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		_, errC := client(t).CoreV1().ConfigMaps(ns).Get(context.Background(), "web-config", metav1.GetOptions{})
		return errD != nil && errC != nil
	})
	again := hookrunner(t, nil, "uninstall", "web", "-n", ns).must(t)
	if !strings.Contains(again.result.Reason, "not found") {
		t.Errorf("second uninstall: reason %q, want it to say not found", again.result.Reason)
	}
	gone := hookrunner(t, nil, "uninstall", "web", "-n", "no-such-namespace").must(t)
	if !strings.Contains(gone.result.Reason, "not found") {
		t.Errorf("uninstall in a missing namespace: reason %q", gone.result.Reason)
	}
}

// Uninstall answers Helm's one-by-one ownership checks from a LIST of the
// collection: with more objects than it takes to list (8), an object taken
// over by another release must still be left alone, and the rest deleted.
func TestUninstallKeepsWhatTheReleaseDoesNotOwn(t *testing.T) {
	t.Parallel()
	ns := namespaceFor(t)
	hookrunner(t, nil, "install", "b", bulk, "-n", ns, "--create-namespace", "--set", "count=20", "--set", "deployment=false").must(t)
	cms := client(t).CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(context.Background(), "b-7", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Annotations["meta.helm.sh/release-name"] = "other"
	if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	hookrunner(t, nil, "uninstall", "b", "-n", ns).must(t)
	list, err := cms.List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=b"})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, c := range list.Items {
		if c.DeletionTimestamp == nil {
			left = append(left, c.Name)
		}
	}
	if strings.Join(left, ",") != "b-7" {
		t.Errorf("left after uninstall: %v, want only b-7 (owned by another release)", left)
	}
}

// A Job template often leaves variables empty: an empty variable means
// "not set", never an empty file name or the working directory.
func TestEmptyEnvironmentVariablesMeanUnset(t *testing.T) {
	t.Parallel()
	ns := namespaceFor(t)
	var env []string
	for _, name := range []string{"VALUES", "SECRET_VALUES", "SET", "SET_STRING", "SET_FILE", "SET_JSON", "RESULT_FILE",
		"WAIT_FOR", "WAIT_FOR_FILE", "OUTPUT", "OUTPUTS_FILE", "CALLBACK_URL", "CALLBACK_CURL", "CALLBACK_HEADER",
		"IMAGE_REGISTRY_REWRITE", "CA_FILE", "REGISTRY_CONFIG", "CHART_DIGEST", "KUBE_CONTEXT", "REPO", "CHART_VERSION"} {
		env = append(env, "HOOKRUNNER_"+name+"=")
	}
	env = append(env, "HOOKRUNNER_RELEASE=web", "HOOKRUNNER_CHART="+webapp, "HOOKRUNNER_NAMESPACE="+ns, "HOOKRUNNER_CREATE_NAMESPACE=true")
	r := hookrunner(t, env, "install").must(t)
	if r.result.Release.Status != "deployed" {
		t.Errorf("%+v", r.result)
	}
}

// Release records hookrunner writes (its own encoding, several writes per
// revision because of a hook) are read and extended by both helm CLIs:
// get all, history, upgrade, rollback; and hookrunner reads theirs.
func TestRecordsReadAndWrittenByHelm(t *testing.T) {
	t.Parallel()
	chart := filepath.Join(t.TempDir(), "hooked")
	writeChart(t, chart, map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: hooked\nversion: 1.0.0\n",
		"values.yaml":         "message: one\n",
		"templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: main}\ndata: {message: {{ .Values.message | quote }}}\n",
		"templates/hook.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hook\n  annotations: {helm.sh/hook: post-install,post-upgrade, helm.sh/hook-delete-policy: before-hook-creation}\ndata: {message: {{ .Values.message | quote }}}\n",
	})
	for _, cli := range []string{"helm4", "helm3"} {
		t.Run(cli, func(t *testing.T) {
			t.Parallel()
			ns := namespaceFor(t)
			hookrunner(t, nil, "install", "rec", chart, "-n", ns, "--create-namespace").must(t)
			hookrunner(t, nil, "install", "rec", chart, "-n", ns, "--set", "message=two").must(t)
			if all := helmCLI(t, cli, "get", "all", "rec", "-n", ns); !strings.Contains(all, "REVISION: 2") || !strings.Contains(all, "message: two") || !strings.Contains(all, "name: hook") {
				t.Errorf("%s get all:\n%s", cli, all)
			}
			if h := helmHistory(t, ns, "rec"); len(h) != 2 || h[0] != "superseded" || h[1] != "deployed" {
				t.Errorf("history %v, want superseded, deployed", h)
			}
			if out := helmCLI(t, cli, "history", "rec", "-n", ns); !strings.Contains(out, "superseded") || !strings.Contains(out, "Upgrade complete") {
				t.Errorf("%s history:\n%s", cli, out)
			}
			upgrade := []string{"upgrade", "rec", chart, "-n", ns, "--reuse-values", "--set", "message=three", "--wait"}
			if cli == "helm4" {
				// Server-side apply as manager helm, over fields manager
				// hookrunner set: a conflict between managers, as the README says.
				upgrade = append(upgrade, "--force-conflicts")
			}
			helmCLI(t, cli, upgrade...)
			helmCLI(t, cli, "rollback", "rec", "1", "-n", ns, "--wait")
			if status, rev := helmStatus(t, ns, "rec"); status != "deployed" || rev != "4" {
				t.Errorf("after %s upgrade and rollback: %s revision %s, want deployed 4", cli, status, rev)
			}
			cm, err := client(t).CoreV1().ConfigMaps(ns).Get(context.Background(), "main", metav1.GetOptions{})
			if err != nil || cm.Data["message"] != "one" {
				t.Errorf("after the rollback to 1: %v %v", cm.Data, err)
			}
			// hookrunner reads what helm wrote and brings it back to its config.
			r := hookrunner(t, nil, "install", "rec", chart, "-n", ns, "--set", "message=two", "--force-conflicts").must(t)
			if r.result.Action != runner.ActionUpgrade || r.result.Release.Revision != 5 {
				t.Errorf("hookrunner after %s: %s to revision %d, want upgrade to 5", cli, r.result.Action, r.result.Release.Revision)
			}
		})
	}
}

// A field the API server does not know fails the install at once, in a hook
// as in the release's objects, with an error naming the field. The API
// server answers it with HTTP 500, which must not be retried as an outage.
// While it applies server-side, hookrunner leaves this check to the API
// server (no client-side OpenAPI validation of hooks either).
func TestUnknownFieldIsRefused(t *testing.T) {
	t.Parallel()
	const typo = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n%sdatta:\n  a: b\n"
	const hook = "  annotations: {helm.sh/hook: pre-install}\n"
	for name, files := range map[string]map[string]string{
		"object": {"templates/cm.yaml": fmt.Sprintf(typo, "typo", "")},
		"hook": {
			"templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n",
			"templates/hook.yaml": fmt.Sprintf(typo, "typo-hook", hook),
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := createNamespace(t)
			dir := filepath.Join(t.TempDir(), "typo")
			files["Chart.yaml"] = "apiVersion: v2\nname: typo\nversion: 1.0.0\n"
			writeChart(t, dir, files)
			r := hookrunner(t, nil, "install", "typo", dir, "-n", ns, "--timeout", "60s")
			if r.code != runner.ExitAction || r.result.Status != runner.StatusFailure {
				t.Fatalf("exit %d, status %s, want %d FAILURE\n%s", r.code, r.result.Status, runner.ExitAction, r.stderr)
			}
			if !strings.Contains(r.result.Reason, `.datta: field not declared in schema`) {
				t.Errorf("reason %q does not name the unknown field", r.result.Reason)
			}
			if strings.Contains(r.stderr, "transient cluster error") {
				t.Errorf("the schema error was retried as a transient one:\n%s", r.stderr)
			}
			cms, err := client(t).CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, cm := range cms.Items {
				if strings.HasPrefix(cm.Name, "typo") {
					t.Errorf("ConfigMap %s was created despite the unknown field", cm.Name)
				}
			}
		})
	}
}

// An upgrade the API server refuses part of, with --rollback-on-failure,
// in both apply modes: hookrunner's update writes a kind's objects
// concurrently, and still stops at the refused create, reports it, and
// Helm's rollback leaves exactly the first revision's objects, as they
// were, at a new deployed revision.
func TestRefusedUpgradeRollsBack(t *testing.T) {
	t.Parallel()
	chart := configMapsChart(t)
	for _, mode := range []string{"true", "false"} {
		t.Run("server-side-"+mode, func(t *testing.T) {
			t.Parallel()
			ns := namespaceFor(t)
			hookrunner(t, nil, "install", "many", chart, "-n", ns, "--create-namespace", "--server-side="+mode).must(t)
			r := hookrunner(t, nil, "install", "many", chart, "-n", ns, "--server-side="+mode, "--rollback-on-failure", "--timeout", "2m",
				"--set", "count=200,rev=2,bad=true")
			if r.code != runner.ExitAction || r.result.Status != runner.StatusFailure || !strings.Contains(r.result.Reason, "Not_A_Name") {
				t.Fatalf("exit %d, status %s, reason %q; want %d FAILURE naming Not_A_Name\n%s", r.code, r.result.Status, r.result.Reason, runner.ExitAction, r.stderr)
			}
			if status, rev := helmStatus(t, ns, "many"); status != "deployed" || rev != "3" {
				t.Errorf("after the rollback: %s revision %s, want deployed 3", status, rev)
			}
			// The rollback deletes what the refused revision created in the
			// background: wait for it.
			want := map[string]map[string]string{}
			for i := range 5 {
				want[fmt.Sprintf("cm-%d", i)] = map[string]string{"rev": "1"}
			}
			var diff string
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if diff = cmp.Diff(want, configMaps(t, ns)); diff == "" {
					break
				}
			}
			if diff != "" {
				t.Errorf("ConfigMaps after the rollback (-want +got):\n%s", diff)
			}
		})
	}
}

// A release helm 3 installed is upgraded client-side, as helm 3 would:
// each object patched by a three-way merge against its live state, so a
// key someone else added to a ConfigMap stays while the chart's keys
// change. With more objects than it takes to snapshot a collection, the
// existence checks come from one LIST and the merge reads stay live.
func TestClientSideUpgradeMergesWithLive(t *testing.T) {
	t.Parallel()
	chart := configMapsChart(t)
	ns := namespaceFor(t)
	helmCLI(t, "helm3", "install", "merged", chart, "-n", ns, "--create-namespace", "--set", "count=20")
	ctx := context.Background()
	cm, err := client(t).CoreV1().ConfigMaps(ns).Get(ctx, "cm-3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["extra"] = "kept"
	if _, err := client(t).CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	r := hookrunner(t, nil, "install", "merged", chart, "-n", ns, "--set", "count=20,rev=2").must(t)
	if r.result.Action != runner.ActionUpgrade || r.result.Release.Revision != 2 {
		t.Errorf("action %s to revision %d, want upgrade to 2", r.result.Action, r.result.Release.Revision)
	}
	want := map[string]map[string]string{}
	for i := range 20 {
		want[fmt.Sprintf("cm-%d", i)] = map[string]string{"rev": "2"}
	}
	want["cm-3"]["extra"] = "kept"
	if diff := cmp.Diff(want, configMaps(t, ns)); diff != "" {
		t.Errorf("ConfigMaps after the upgrade (-want +got):\n%s", diff)
	}
}

// configMapsChart writes a chart of count ConfigMaps cm-0… whose data is
// {rev: rev}, plus, with bad set, one whose name the API server refuses.
func configMapsChart(t *testing.T) string {
	t.Helper()
	chart := filepath.Join(t.TempDir(), "configmaps")
	writeChart(t, chart, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: configmaps\nversion: 1.0.0\n",
		"values.yaml": "count: 5\nrev: \"1\"\nbad: false\n",
		"templates/cms.yaml": `{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-{{ $i }}}
data: {rev: {{ $.Values.rev | quote }}}
{{- end }}
{{- if .Values.bad }}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: Not_A_Name}
{{- end }}
`,
	})
	return chart
}

// configMaps is the data of each ConfigMap of ns not being deleted, but
// the one every namespace has.
func configMaps(t *testing.T, ns string) map[string]map[string]string {
	t.Helper()
	cms, err := client(t).CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, cm := range cms.Items {
		if cm.Name != "kube-root-ca.crt" && cm.DeletionTimestamp == nil {
			out[cm.Name] = cm.Data
		}
	}
	return out
}
