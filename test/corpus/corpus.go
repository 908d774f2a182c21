// Package corpus opens the real third-party charts of ../shared/corpus
// (MANIFEST.md there) for tests and benchmarks. They are read where they
// are, never copied into the repository; a chart whose Chart.yaml lists
// dependencies its charts/ does not hold is copied into a work directory
// without them (helm refuses such a chart), with their conditions false.
package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"sigs.k8s.io/yaml"
)

// Charts are the corpus charts, in the order they are reported.
var Charts = []string{"podinfo", "ingress-nginx", "argo-cd", "kube-prometheus-stack"}

// Dir is where the corpus is: $HOOKRUNNER_CORPUS when set (set reports
// that), else ../shared/corpus beside the work tree root.
func Dir(root string) (dir string, set bool) {
	if d, ok := os.LookupEnv("HOOKRUNNER_CORPUS"); ok {
		return d, true
	}
	return filepath.Join(root, "..", "shared", "corpus"), false
}

// Present reports whether dir holds the corpus (its MANIFEST.md).
func Present(dir string) error {
	_, err := os.Stat(filepath.Join(dir, "MANIFEST.md"))
	return err
}

// Chart is a corpus chart ready to install: its directory, its values for
// this control plane, and its upgrade values.
type Chart struct {
	Name, Dir, Values, Upgrade string
	// Off is a values file setting false the conditions of the
	// dependencies left out (Without); empty when none are.
	Off     string
	Without []string
}

// ValueFiles are the -f flags of an install (with the upgrade values when
// upgrade is set).
func (c Chart) ValueFiles(upgrade bool) []string {
	args := []string{"-f", c.Values}
	if c.Off != "" {
		args = append(args, "-f", c.Off)
	}
	if upgrade {
		args = append(args, "-f", c.Upgrade)
	}
	return args
}

// Open returns chart name of the corpus in dir. When its charts/ lacks
// dependencies its Chart.yaml lists, the chart is copied into work without
// those entries, and Off and Without say which were left out.
func Open(dir, name, work string) (Chart, error) {
	c := Chart{Name: name, Dir: filepath.Join(dir, name), Values: filepath.Join(dir, name+".values.yaml"), Upgrade: filepath.Join(dir, name+".upgrade.yaml")}
	ch, err := loader.LoadDir(c.Dir)
	if err != nil {
		return c, fmt.Errorf("corpus chart %s: %w", name, err)
	}
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	off := map[string]any{}
	for _, d := range ch.Metadata.Dependencies {
		if have[d.Name] {
			continue
		}
		c.Without = append(c.Without, d.Name)
		for _, cond := range strings.Split(d.Condition, ",") {
			if cond = strings.TrimSpace(cond); cond != "" {
				setPath(off, strings.Split(cond, "."), false)
			}
		}
	}
	if len(c.Without) == 0 {
		return c, nil
	}
	dst := filepath.Join(work, "corpus", name)
	if err := os.RemoveAll(dst); err != nil {
		return c, err
	}
	if err := os.CopyFS(dst, os.DirFS(c.Dir)); err != nil {
		return c, err
	}
	raw, err := os.ReadFile(filepath.Join(c.Dir, "Chart.yaml"))
	if err != nil {
		return c, err
	}
	var meta map[string]any
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return c, err
	}
	deps, _ := meta["dependencies"].([]any)
	var kept []any
	for _, d := range deps {
		if m, ok := d.(map[string]any); ok && have[fmt.Sprint(m["name"])] {
			kept = append(kept, d)
		}
	}
	meta["dependencies"] = kept
	if err := writeYAML(filepath.Join(dst, "Chart.yaml"), meta); err != nil {
		return c, err
	}
	c.Dir, c.Off = dst, filepath.Join(work, "corpus", name+".off.yaml")
	return c, writeYAML(c.Off, off)
}

// setPath sets m[path[0]][path[1]]… to v, making the maps on the way.
func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func writeYAML(path string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
