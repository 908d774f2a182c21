package runner

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/hookrunner/hookrunner/chart"
)

// The orchestration of install, tested as Helm tests its actions: Helm's
// memory driver for release records and its printing kube client for the
// cluster. Decisions and results only; cluster behaviour is tested
// against the real API server in test/e2e.

// fixture is an action configuration storing records as newHelmConfig
// does (the release store, here on a fake clientset's Secrets) and a fake
// cluster.
func fixture(t *testing.T) *action.Configuration {
	t.Helper()
	cfg := action.NewConfiguration()
	cfg.Releases = storage.Init(newReleaseStore(fake.NewClientset().CoreV1().Secrets("ns"), nil))
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard, LogOutput: io.Discard}
	cfg.Capabilities = common.DefaultCapabilities
	return cfg
}

// testChart is a chart with one ConfigMap.
func testChart(version string) *chartv2.Chart {
	return &chartv2.Chart{
		Metadata: &chartv2.Metadata{APIVersion: "v2", Name: "app", Version: version},
		Templates: []*common.File{{Name: "templates/cm.yaml", Data: []byte(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  v: {{ .Values.v | quote }}\n")}},
		Values: map[string]any{"v": "1"},
	}
}

func testRun(t *testing.T) *run {
	t.Helper()
	r := newRun(context.Background(), "install", Common{Release: "app", Namespace: "ns", Timeout: time.Minute}, IO{Stdout: io.Discard, Stderr: io.Discard})
	t.Cleanup(r.cancel)
	return r
}

// state is what validate and resolve-chart hand on, for chart ch with vals.
func state(t *testing.T, cfg *action.Configuration, ch *chartv2.Chart, vals map[string]any) *installState {
	t.Helper()
	digest := chart.Digest(ch)
	hash, err := chart.ConfigHash(digest, vals)
	if err != nil {
		t.Fatal(err)
	}
	return &installState{cfg: cfg, loaded: &chart.Loaded{Chart: ch, Digest: digest}, vals: vals, hash: hash, identity: digest}
}

func spec() InstallSpec {
	return InstallSpec{Common: Common{Release: "app", Namespace: "ns", Timeout: time.Minute, Wait: "none"}, ServerSide: "auto", OnFailed: "auto", HistoryMax: 10}
}

// inspect then act: an install, then nothing to do, then an upgrade when
// the values change; each result says what happened to which revision.
func TestInspectAndAct(t *testing.T) {
	cfg := fixture(t)
	steps := []struct {
		vals     map[string]any
		plan     planKind
		action   string
		revision int
	}{
		{map[string]any{"v": "1"}, planInstall, ActionInstall, 1},
		{map[string]any{"v": "1"}, planNone, ActionNone, 1},
		{map[string]any{"v": "2"}, planUpgrade, ActionUpgrade, 2},
	}
	for i, s := range steps {
		r, st := testRun(t), state(t, cfg, testChart("1.0.0"), s.vals)
		if err := r.inspect(spec(), st); err != nil {
			t.Fatalf("step %d: inspect: %v", i, err)
		}
		if st.plan.kind != s.plan {
			t.Fatalf("step %d: plan %s, want %s (%s)", i, st.plan.kind, s.plan, st.plan.why)
		}
		if err := r.act(spec(), st); err != nil {
			t.Fatalf("step %d: act: %v", i, err)
		}
		if r.result.Action != s.action || r.result.Release.Revision != s.revision || r.result.Release.Status != "deployed" {
			t.Errorf("step %d: action %s, release %+v", i, r.result.Action, r.result.Release)
		}
	}
	last, err := cfg.Releases.Last("app")
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := asRelease(last)
	if rel.Labels[ConfigHashLabel] == "" || rel.Info.Description != "Upgrade complete (hookrunner)" {
		t.Errorf("last revision labels %v, description %q", rel.Labels, rel.Info.Description)
	}
}

// A revision left pending by a killed runner is marked failed before the
// decision, and the decision starts from there.
func TestInspectRecoversPendingRevision(t *testing.T) {
	cfg := fixture(t)
	pending := &release.Release{Name: "app", Namespace: "ns", Version: 1, Chart: testChart("1.0.0"),
		Info: &release.Info{Status: rcommon.StatusPendingInstall}}
	if err := cfg.Releases.Create(pending); err != nil {
		t.Fatal(err)
	}
	r, st := testRun(t), state(t, cfg, testChart("1.0.0"), map[string]any{"v": "1"})
	if err := r.inspect(spec(), st); err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Releases.Get("app", 1)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := asRelease(got)
	if rel.Info.Status != rcommon.StatusFailed || !strings.Contains(rel.Info.Description, "interrupted") {
		t.Errorf("pending revision is now %s (%q)", rel.Info.Status, rel.Info.Description)
	}
	if st.plan.kind != planReinstall {
		t.Errorf("plan %s after a failed first revision, want reinstall", st.plan.kind)
	}
}

// An action cut short leaves its revision failed, never pending.
func TestSettleInterrupted(t *testing.T) {
	cfg := fixture(t)
	for status, want := range map[rcommon.Status]rcommon.Status{
		rcommon.StatusPendingUpgrade: rcommon.StatusFailed,
		rcommon.StatusDeployed:       rcommon.StatusDeployed,
	} {
		cfg.Releases = storage.Init(driver.NewMemory())
		rel := &release.Release{Name: "app", Namespace: "ns", Version: 1, Chart: testChart("1.0.0"), Info: &release.Info{Status: status}}
		if err := cfg.Releases.Create(rel); err != nil {
			t.Fatal(err)
		}
		testRun(t).settleInterrupted("app", cfg)
		got, _ := cfg.Releases.Get("app", 1)
		if r, _ := asRelease(got); r.Info.Status != want {
			t.Errorf("%s: now %s, want %s", status, r.Info.Status, want)
		}
	}
}

// The release store refuses a record the API server would refuse, with
// its size, before anything is stored.
func TestReleaseTooLarge(t *testing.T) {
	cfg := fixture(t)
	ch := testChart("1.0.0")
	// Random-looking data defeats gzip, as a large chart's files would.
	big := make([]byte, 0, 2<<20)
	x := uint32(1)
	for len(big) < cap(big) {
		x = x*1664525 + 1013904223
		big = append(big, "abcdefghijklmnopqrstuvwxyz0123456789"[x>>27%36])
	}
	ch.Files = []*common.File{{Name: "files/blob.txt", Data: big}}
	r, st := testRun(t), state(t, cfg, ch, map[string]any{"v": "1"})
	if err := r.inspect(spec(), st); err != nil {
		t.Fatal(err)
	}
	err := r.act(spec(), st)
	if !errors.Is(err, errReleaseTooLarge) {
		t.Fatalf("act: %v, want errReleaseTooLarge", err)
	}
	if classify(context.Background(), ExitAction, err) != ExitBadInput {
		t.Error("a release too large is not bad input")
	}
	if _, err := cfg.Releases.Last("app"); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Errorf("a record was stored: %v", err)
	}
}

// The mappers set every Helm option hookrunner relies on.
func TestMappers(t *testing.T) {
	cfg := fixture(t)
	s := spec()
	s.Wait, s.WaitForJobs, s.RollbackOnFailure, s.ForceConflicts, s.TakeOwnership, s.HistoryMax = "watcher", true, true, true, true, 3
	in := newInstall(context.Background(), cfg, s, "HASH", time.Minute, true)
	if in.ReleaseName != "app" || in.Namespace != "ns" || in.CreateNamespace || !in.SkipCRDs || !in.Replace || in.Labels[ConfigHashLabel] != "HASH" ||
		!in.WaitForJobs || !in.RollbackOnFailure || !in.ForceConflicts || !in.TakeOwnership || !in.ServerSideApply || !in.DisableOpenAPIValidation || in.Timeout != time.Minute {
		t.Errorf("install: %+v", in)
	}
	up := newUpgrade(context.Background(), cfg, s, "HASH", time.Minute, false)
	if up.Namespace != "ns" || !up.ResetValues || up.MaxHistory != 3 || !up.SkipCRDs || up.Labels[ConfigHashLabel] != "HASH" || up.DisableOpenAPIValidation || up.ServerSideApply != "auto" {
		t.Errorf("upgrade: %+v", up)
	}
	// --force-conflicts only where the apply is server-side: Helm refuses
	// it on a client-side one (an upgrade of a release helm 3 applied).
	if up.ForceConflicts {
		t.Error("upgrade applied client-side forces conflicts")
	}
	if up := newUpgrade(context.Background(), cfg, s, "HASH", time.Minute, true); !up.ForceConflicts {
		t.Error("upgrade applied server-side does not force conflicts")
	}
	s.ServerSide = "false"
	if in := newInstall(context.Background(), cfg, s, "HASH", time.Minute, false); in.ForceConflicts || in.ServerSideApply {
		t.Errorf("install with --server-side false: %+v", in)
	}
	un := newUninstall(context.Background(), cfg, "none", time.Minute, true)
	if !un.KeepHistory || un.IgnoreNotFound || un.DeletionPropagation != "background" || un.Timeout != time.Minute {
		t.Errorf("uninstall: %+v", un)
	}
}
