package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/hookrunner/hookrunner/test/corpus"
	"sigs.k8s.io/yaml"
)

// The real-chart section: the charts of ../shared/corpus (MANIFEST.md
// there), each with its own install and upgrade values for this control
// plane.

// Operations measured on a real chart.
const (
	opInstall   = "first install"
	opNoop      = "no-op re-run"
	opUpgrade   = "upgrade"
	opUninstall = "uninstall"
)

var corpusOps = []string{opInstall, opNoop, opUpgrade, opUninstall}

// corpusTool is one way of running the operations on a chart; an empty
// argv means the tool has no such operation.
type corpusTool struct {
	name string
	argv func(op, chart, ns string, c corpus.Chart) []string
}

// corpusResult is what was measured for one chart: tool → op → samples,
// or why the chart was skipped; without lists the dependencies measured
// without because the corpus lacks them.
type corpusResult struct {
	chart   string
	skipped string
	without []string
	samples map[string]map[string][]sample
}

// corpusDir is where the corpus is: -corpus, else $HOOKRUNNER_CORPUS, else
// ../shared/corpus beside the work tree.
func corpusDir(root string) string {
	if *corpusF != "" {
		return *corpusF
	}
	dir, _ := corpus.Dir(root)
	return dir
}

// corpusToolNames are the real-chart tools in the order of the tables.
var corpusToolNames = []string{"hookrunner", csaTool, "helm", "helm --qps 100", "limit"}

func (e *env) corpusTools() []corpusTool {
	hookrunner := func(extra ...string) func(op, name, ns string, c corpus.Chart) []string {
		return func(op, name, ns string, c corpus.Chart) []string {
			base := append([]string{e.hookrunner, "install", name, c.Dir, "-n", ns, "--create-namespace", "--timeout", "10m", "--log-format", "json"}, extra...)
			switch op {
			case opInstall, opNoop:
				return append(base, c.ValueFiles(false)...)
			case opUpgrade:
				return append(base, c.ValueFiles(true)...)
			}
			return []string{e.hookrunner, "uninstall", name, "-n", ns, "--timeout", "10m", "--log-format", "json"}
		}
	}
	return []corpusTool{
		{name: "hookrunner", argv: hookrunner()},
		// Client-side, as Helm 3 writes: what a release helm 3 installed
		// is upgraded with.
		{name: csaTool, argv: hookrunner("--server-side=false")},
		{name: "helm", argv: func(op, name, ns string, c corpus.Chart) []string {
			switch op {
			case opInstall:
				return append([]string{e.helm, "install", name, c.Dir, "-n", ns, "--create-namespace", "--wait=watcher", "--timeout", "10m"}, c.ValueFiles(false)...)
			case opUpgrade:
				return append([]string{e.helm, "upgrade", name, c.Dir, "-n", ns, "--wait=watcher", "--timeout", "10m"}, c.ValueFiles(true)...)
			case opUninstall:
				return []string{e.helm, "uninstall", name, "-n", ns, "--wait", "--timeout", "10m"}
			}
			return nil // helm has no no-op: an upgrade always writes a revision
		}},
		{name: "helm --qps 100", argv: func(op, name, ns string, c corpus.Chart) []string {
			if op == opInstall {
				return append([]string{e.helm, "install", name, c.Dir, "-n", ns, "--create-namespace", "--wait=watcher", "--timeout", "10m", "--qps", "100", "--burst-limit", "200"}, c.ValueFiles(false)...)
			}
			if op == opUninstall {
				return []string{e.helm, "uninstall", name, "-n", ns, "--wait", "--timeout", "10m"} // cleanup, not reported
			}
			return nil
		}},
		{name: "limit", argv: func(op, name, ns string, c corpus.Chart) []string {
			if op == opInstall {
				return []string{e.rawphases, "-f", filepath.Join(workDir, "rendered-"+ns+".yaml"), "-namespace", ns}
			}
			return nil
		}},
	}
}

// benchCorpus measures every corpus chart that renders, interleaving the
// tools round by round; between rounds the chart's namespace, its
// cluster-scoped objects and its CRDs are deleted, so every install is a
// first install.
func (e *env) benchCorpus(root string) ([]corpusResult, error) {
	dir := corpusDir(root)
	if err := corpus.Present(dir); err != nil {
		fmt.Fprintf(os.Stderr, "bench: no corpus at %s (set -corpus or HOOKRUNNER_CORPUS): real charts skipped\n", dir)
		return nil, nil
	}
	var out []corpusResult
	tools := e.corpusTools()
	seq := 0
	for _, name := range strings.Split(*corpusOnly, ",") {
		res := corpusResult{chart: name, samples: map[string]map[string][]sample{}}
		c, err := corpus.Open(dir, name, workDir)
		if err != nil {
			return nil, err
		}
		if res.without = c.Without; len(c.Without) > 0 {
			fmt.Fprintf(os.Stderr, "bench: %s measured without %s: not vendored in the corpus\n", name, strings.Join(c.Without, ", "))
		}
		if _, err := e.render(c, "rc-probe"); err != nil {
			res.skipped = err.Error()
			fmt.Fprintf(os.Stderr, "bench: %s skipped: %s\n", name, res.skipped)
			out = append(out, res)
			continue
		}
		for round := 0; round <= *corpusRuns; round++ {
			for _, t := range tools {
				seq++
				ns := fmt.Sprintf("rc-%s-%d", name, seq)
				rendered, err := e.render(c, ns)
				if err != nil {
					return nil, err
				}
				if err := os.WriteFile(filepath.Join(workDir, "rendered-"+ns+".yaml"), rendered, 0o600); err != nil {
					return nil, err
				}
				for _, op := range corpusOps {
					argv := t.argv(op, name, ns, c)
					if argv == nil {
						continue
					}
					s, err := e.measureRun(argv)
					if err != nil {
						return nil, fmt.Errorf("%s %s of %s: %w", t.name, op, name, err)
					}
					if round == 0 || t.name == "helm --qps 100" && op == opUninstall {
						continue
					}
					if res.samples[t.name] == nil {
						res.samples[t.name] = map[string][]sample{}
					}
					res.samples[t.name][op] = append(res.samples[t.name][op], s)
					fmt.Fprintf(os.Stderr, "bench: %-16s %-22s %-14s %.2fs %.0f MB\n", t.name, name, op, s.Wall, s.RSSMB)
				}
				if err := e.cleanCorpus(rendered, ns); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, res)
	}
	return out, nil
}

// render is the chart's CRDs (crds/ of the chart and its enabled
// subcharts), manifests and hooks for namespace ns, as hookrunner (and helm
// template --include-crds) render them: what the limit program applies and
// what cleanCorpus deletes.
func (e *env) render(c corpus.Chart, ns string) ([]byte, error) {
	cmd := exec.Command(e.hookrunner, append([]string{"render", c.Name, c.Dir, "-n", ns, "--include-crds"}, c.ValueFiles(false)...)...)
	cmd.Env = []string{"HOME=" + workDir, "HOOKRUNNER_CACHE_DIR=" + filepath.Join(workDir, "cache")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("render: %s", lastReason(stderr.String()))
	}
	return out, nil
}

// lastReason is the reason of the last hookrunner log line, or the last line.
func lastReason(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	var rec struct {
		Error string `json:"error"`
	}
	if yaml.Unmarshal([]byte(last), &rec) == nil && rec.Error != "" {
		return rec.Error
	}
	return last
}

// cleanCorpus deletes what a round left: the cluster-scoped objects of the
// rendered chart (CRDs included, which helm keeps) and those it puts in
// other namespaces, then the namespace.
func (e *env) cleanCorpus(rendered []byte, ns string) error {
	dc, err := discovery.NewDiscoveryClientForConfig(e.c.RESTConfig())
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(e.c.RESTConfig())
	if err != nil {
		return err
	}
	ctx := context.Background()
	var crds []string
	for _, text := range strings.Split("\n"+string(rendered), "\n---") {
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(text), &obj.Object); err != nil || obj.GetKind() == "" {
			continue
		}
		gvk := schema.FromAPIVersionAndKind(obj.GetAPIVersion(), obj.GetKind())
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			continue
		}
		var res dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() != "root" {
			// Objects the chart puts in other namespaces (kube-system)
			// outlive the release namespace: the limit program leaves them.
			if obj.GetNamespace() == "" || obj.GetNamespace() == ns {
				continue
			}
			res = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		if err := res.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if obj.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, obj.GetName())
		}
	}
	if err := e.deleteNamespace(ns); err != nil {
		return err
	}
	// The next round's install must create the CRDs, not find them going.
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	deadline := time.Now().Add(5 * time.Minute)
	for _, name := range crds {
		for {
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s still there 5 minutes after its deletion: %s", name, crdState(crd))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// writeCorpus writes the real-chart tables and returns their targets.
func writeCorpus(b *strings.Builder, corpus []corpusResult) []target {
	if len(corpus) == 0 {
		return nil
	}
	fmt.Fprintf(b, "## Real charts\n\n")
	fmt.Fprintf(b, "The charts of `../shared/corpus` (see its MANIFEST.md) with their own values for this control plane. Each round installs the chart into a fresh namespace with each tool in turn; between tools the namespace, the chart's cluster-scoped objects and its CRDs are deleted, so every install is a first install. One warm-up round, then %d counted; medians with min–max.\n\n", *corpusRuns)
	b.WriteString("- hookrunner: `hookrunner install R CHART -n NS --create-namespace -f VALUES` (first install, then the same again: the no-op re-run), the same with `-f UPGRADE` (upgrade), `hookrunner uninstall`.\n")
	b.WriteString("- hookrunner --server-side=false: the same, every write client-side as Helm 3 makes it (how a release helm 3 installed is upgraded).\n")
	b.WriteString("- helm: `helm install … --wait=watcher`, `helm upgrade … --wait=watcher -f VALUES -f UPGRADE`, `helm uninstall --wait` (helm has no no-op: an upgrade always writes a revision); the install also with `--qps 100 --burst-limit 200`.\n")
	b.WriteString("- limit: `test/cmd/rawphases` applies the same rendered objects (the charts' crds/ included) in Helm's phase order (pre-install hooks to completion, CRDs established, every other object at once, readiness by Helm's status watcher, post-install hooks) with no release record.\n\n")
	b.WriteString("| chart | tool | first install (s) | no-op re-run (s) | upgrade (s) | uninstall (s) | install peak RSS (MB) |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	cell := func(s []sample) string {
		if len(s) == 0 {
			return "–"
		}
		lo, hi := minMax(pick(s, wall))
		return fmt.Sprintf("%.2f (%.2f–%.2f)", median(pick(s, wall)), lo, hi)
	}
	var skipped []corpusResult
	for _, res := range corpus {
		if res.skipped != "" {
			skipped = append(skipped, res)
			continue
		}
		for _, tool := range corpusToolNames {
			ops := res.samples[tool]
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %.0f |\n", res.chart, tool, cell(ops[opInstall]), cell(ops[opNoop]), cell(ops[opUpgrade]), cell(ops[opUninstall]), median(pick(ops[opInstall], rss)))
		}
	}
	for _, res := range skipped {
		fmt.Fprintf(b, "\n%s was not measured: %s.\n", res.chart, res.skipped)
	}
	for _, res := range corpus {
		if len(res.without) > 0 {
			fmt.Fprintf(b, "\n%s was measured without its dependencies %s: the corpus does not vendor them (MANIFEST.md says it does), and helm refuses a chart whose Chart.yaml lists dependencies missing from charts/. The bench installs a copy of the chart (in its work directory, not the repository) with those entries dropped from Chart.yaml and their conditions set to false.\n", res.chart, strings.Join(res.without, ", "))
		}
	}
	b.WriteString("\n### Real charts: ratios (medians, same run)\n\n| chart | hookrunner / helm install | hookrunner / helm --qps 100 install | hookrunner / limit | hookrunner / helm upgrade | hookrunner --server-side=false / helm install | hookrunner --server-side=false / helm upgrade | hookrunner / helm uninstall | hookrunner / helm install peak RSS |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var targets []target
	var sumHR, sumHelm, sumLimit float64
	for _, res := range corpus {
		if res.skipped != "" {
			continue
		}
		m := func(tool, op string, f func(sample) float64) float64 { return median(pick(res.samples[tool][op], f)) }
		install := m("hookrunner", opInstall, wall) / m("helm", opInstall, wall)
		limit := m("hookrunner", opInstall, wall) / m("limit", opInstall, wall)
		uninstall := m("hookrunner", opUninstall, wall) / m("helm", opUninstall, wall)
		fmt.Fprintf(b, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", res.chart, install, m("hookrunner", opInstall, wall)/m("helm --qps 100", opInstall, wall),
			limit, m("hookrunner", opUpgrade, wall)/m("helm", opUpgrade, wall),
			m(csaTool, opInstall, wall)/m("helm", opInstall, wall), m(csaTool, opUpgrade, wall)/m("helm", opUpgrade, wall),
			uninstall, m("hookrunner", opInstall, rss)/m("helm", opInstall, rss))
		sumHR += m("hookrunner", opInstall, wall)
		sumHelm += m("helm", opInstall, wall)
		sumLimit += m("limit", opInstall, wall)
		targets = append(targets,
			target{res.chart + ": hookrunner / helm first-install time", install, 1, "%.2f"},
			target{res.chart + ": hookrunner / limit first-install time", limit, 1.3, "%.2f"},
			target{res.chart + ": no-op re-run (median, s)", m("hookrunner", opNoop, wall), 0.5, "%.2f"},
			target{res.chart + ": hookrunner / helm uninstall time", uninstall, 1, "%.2f"})
		if res.chart == "kube-prometheus-stack" {
			targets = append(targets, target{res.chart + ": hookrunner / helm install peak RSS", m("hookrunner", opInstall, rss) / m("helm", opInstall, rss), 0.5, "%.2f"})
		}
	}
	if sumHelm > 0 {
		fmt.Fprintf(b, "\nSummed over the measured charts, hookrunner's first installs took %.2f s against helm's %.2f s: %.2f×. The limit program, which keeps Helm's phases but writes no release record, took %.2f s: %.2f× helm's.\n\n", sumHR, sumHelm, sumHR/sumHelm, sumLimit, sumLimit/sumHelm)
		targets = append([]target{{"real charts summed: hookrunner / helm first-install time", sumHR / sumHelm, 0.6, "%.2f"}}, targets...)
	}
	return targets
}

// crdState says why a deleted CRD is still there: its finalizers and the
// conditions the apiextensions finalizer sets while it removes instances.
func crdState(crd *unstructured.Unstructured) string {
	if crd == nil {
		return "unreadable"
	}
	state := fmt.Sprintf("finalizers %v", crd.GetFinalizers())
	if crd.GetDeletionTimestamp() == nil {
		state += ", no deletion timestamp"
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]interface{})
		state += fmt.Sprintf("; %v=%v %v", m["type"], m["status"], m["message"])
	}
	return state
}
