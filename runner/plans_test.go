package runner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrunner/hookrunner/chart"
	releaseplan "github.com/hookrunner/hookrunner/runner/plan"
)

// planMembers parses a plan and builds its members, with no cluster.
func planMembers(t *testing.T, r *run, text string) ([]*member, []int, [][]int) {
	t.Helper()
	p, err := releaseplan.Parse([]byte(text), "test", "ns")
	if err != nil {
		t.Fatal(err)
	}
	order, _ := p.Order()
	needs, _ := p.Needs()
	var members []*member
	for i, rel := range p.Releases {
		c := releaseCommon(Common{Timeout: time.Minute}, rel)
		members = append(members, &member{index: i, rel: rel, run: r.child(c), done: make(chan struct{})})
	}
	return members, order, needs
}

const diamond = `releases:
- {name: app, chart: x, needs: [db, cache]}
- {name: db, chart: x, needs: [base]}
- {name: cache, chart: x, needs: [base]}
- {name: base, chart: x}
- {name: alone, chart: x}
`

// Every release starts only after all it needs finished; results come in
// plan order with their start times.
func TestRunPlanOrder(t *testing.T) {
	r := testRun(t)
	members, order, needs := planMembers(t, r, diamond)
	var (
		mu       sync.Mutex
		finished = map[string]bool{}
	)
	err := r.runPlan(members, order, needs, 0, false, func(m *member) error {
		mu.Lock()
		for _, n := range m.rel.Needs {
			if !finished[n] {
				t.Errorf("%s started before %s finished", m.rel.Name, n)
			}
		}
		mu.Unlock()
		m.run.result.Action = ActionInstall
		mu.Lock()
		finished[m.rel.Name] = true
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rel := range r.result.Releases {
		got = append(got, rel.Name)
		if rel.Result != StatusSuccess || rel.Action != ActionInstall {
			t.Errorf("%s: %+v", rel.Name, rel)
		}
	}
	if strings.Join(got, " ") != "base db cache app alone" {
		t.Errorf("result order %v", got)
	}
	if a := planAction(members); a != ActionInstall {
		t.Errorf("plan action %s", a)
	}
}

// A failure skips what needs it, transitively; independent releases run;
// the run's error is the failure's, naming the release.
func TestRunPlanFailure(t *testing.T) {
	r := testRun(t)
	members, order, needs := planMembers(t, r, diamond)
	var ran sync.Map
	err := r.runPlan(members, order, needs, 1, false, func(m *member) error {
		ran.Store(m.rel.Name, true)
		if m.rel.Name == "db" {
			m.run.result.Action = ActionInstall
			return &Error{Step: "act", Code: ExitAction, Err: errors.New("install: boom"), msg: "install: boom"}
		}
		return nil
	})
	var e *Error
	if !errors.As(err, &e) || e.Code != ExitAction || !strings.Contains(e.Error(), "release ns/db: act: install: boom") {
		t.Fatalf("error %v, want the db failure with its code", err)
	}
	for _, name := range []string{"base", "cache", "alone"} {
		if _, ok := ran.Load(name); !ok {
			t.Errorf("%s did not run", name)
		}
	}
	if _, ok := ran.Load("app"); ok {
		t.Error("app ran although db failed")
	}
	for _, rel := range r.result.Releases {
		switch rel.Name {
		case "db":
			if rel.Result != StatusFailure || rel.ReasonCode != ReasonInstallFailed || rel.ExitCode != ExitAction {
				t.Errorf("db: %+v", rel)
			}
		case "app":
			if rel.Result != StatusSkipped || rel.Reason != "not installed: it needs ns/db, which failed" {
				t.Errorf("app: %+v", rel)
			}
		default:
			if rel.Result != StatusSuccess {
				t.Errorf("%s: %+v", rel.Name, rel)
			}
		}
	}
}

// At most parallel releases run at once.
func TestRunPlanParallelBound(t *testing.T) {
	r := testRun(t)
	text := "releases:\n"
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		text += "- {name: " + n + ", chart: x}\n"
	}
	members, order, needs := planMembers(t, r, text)
	var now, peak atomic.Int32
	gate := make(chan struct{})
	go func() {
		// Let the first runners pile up before any finishes.
		for now.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		close(gate)
	}()
	err := r.runPlan(members, order, needs, 2, false, func(*member) error {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-gate
		now.Add(-1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 2 {
		t.Errorf("peak %d releases at once, want 2", peak.Load())
	}
}

// Uninstall runs the needs backwards: a release goes after everything
// that needs it, and stays when one of those failed.
func TestRunPlanUninstallReverse(t *testing.T) {
	r := testRun(t)
	members, order, needs := planMembers(t, r, diamond)
	reverse, neededBy := reversed(order, needs)
	var mu sync.Mutex
	var gone []string
	err := r.runPlan(members, reverse, neededBy, 1, true, func(m *member) error {
		if m.rel.Name == "cache" {
			return &Error{Step: "act", Code: ExitAction, Err: errors.New("uninstall: stuck"), msg: "uninstall: stuck"}
		}
		mu.Lock()
		gone = append(gone, m.rel.Name)
		mu.Unlock()
		return nil
	})
	if err == nil {
		t.Fatal("no error")
	}
	pos := map[string]int{}
	for i, n := range gone {
		pos[n] = i + 1
	}
	if len(gone) != 3 || pos["alone"] == 0 || pos["app"] == 0 || pos["db"] < pos["app"] {
		t.Errorf("uninstalled %v, want alone, and app before db (base kept: cache needs it)", gone)
	}
	for _, rel := range r.result.Releases {
		if rel.Name == "base" && (rel.Result != StatusSkipped || rel.Reason != "not uninstalled: ns/cache needs it and failed") {
			t.Errorf("base: %+v", rel)
		}
	}
}

// A release's own keys win over the command line's; lists replace.
func TestReleaseSpec(t *testing.T) {
	p, err := releaseplan.Parse([]byte(`releases:
- name: app
  namespace: apps
  chart: oci://r.example/app
  version: 1.2.x
  createNamespace: true
  wait: legacy
  crds: create-replace
  set: ["a=1"]
  values: {host: h}
  waitFor: [{kind: Deployment, name: app, jsonPath: '{.status.readyReplicas}', operator: Equals, value: "1"}]
`), "test", "default")
	if err != nil {
		t.Fatal(err)
	}
	base := InstallSpec{Common: Common{Release: "plan", Namespace: "default", Wait: "watcher", ResultFile: "/tmp/r.json"}, SkipCRDs: true,
		Outputs: []string{"x=y"}}
	base.Values.Files = []string{"base.yaml"}
	base.Values.Set = []string{"b=2"}
	s, err := releaseSpec(base, p.Releases[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"name":            s.Release == "app" && s.Namespace == "apps",
		"chart":           s.Chart.Ref == "oci://r.example/app" && s.Chart.Version == "1.2.x",
		"createNamespace": s.CreateNamespace,
		"wait":            s.Wait == "legacy",
		"crds":            s.crdPolicy() == "create-replace",
		"files kept":      len(s.Values.Files) == 1 && s.Values.Files[0] == "base.yaml",
		"set replaced":    len(s.Values.Set) == 1 && s.Values.Set[0] == "a=1",
		"inline":          s.Values.Inline["host"] == "h",
		"conditions":      len(s.Conditions) == 1 && s.Conditions[0].Name == "app",
		"no files":        s.ResultFile == "" && s.Outputs == nil,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s: %+v", what, s)
		}
	}
}

// render --plan prints every release in the order of needs, each with its
// own values; images --plan lists the union of their images.
func TestRenderPlan(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	webapp := filepath.Join(dir, "web")
	for name, text := range map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: web\nversion: 1.0.0\n",
		"values.yaml": "image: {repository: registry.example.com/webapp, tag: \"1.0\"}\n",
		"templates/pod.yaml": `apiVersion: v1
kind: Pod
metadata: {name: {{ .Release.Name }}}
spec:
  containers: [{name: web, image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"}]
`,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(webapp, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(webapp, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(plan, []byte(`releases:
- {name: app, chart: `+webapp+`, needs: [db], set: ["image.tag=2.0"]}
- {name: db, namespace: data, chart: `+webapp+`, values: {image: {repository: docker.io/library/postgres}}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := IO{Stdout: &out, Stderr: io.Discard}
	spec := RenderSpec{Namespace: "default", Plan: plan, Chart: chart.Source{CacheDir: dir}}
	if err := Render(context.Background(), spec, o); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	db, app := strings.Index(text, "# Release: data/db\n"), strings.Index(text, "# Release: default/app\n")
	if db < 0 || app < db {
		t.Fatalf("want data/db, then default/app:\n%s", text)
	}
	if !strings.Contains(text[db:app], "postgres:1.0") || !strings.Contains(text[app:], "webapp:2.0") {
		t.Errorf("releases rendered without their own values:\n%s", text)
	}
	out.Reset()
	if err := Images(context.Background(), spec, ImagesText, o); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "docker.io/library/postgres:1.0\nregistry.example.com/webapp:2.0\n" {
		t.Errorf("images --plan:\n%s", got)
	}
	spec.Chart.Ref = webapp
	if err := Render(context.Background(), spec, o); err == nil || !strings.Contains(err.Error(), "given with --plan") {
		t.Errorf("CHART with --plan: %v", err)
	}
}
