package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/kube"
)

// ExitChanges is the exit code of `diff` when install would change
// something (helm-diff's and helmfile's --detailed-exitcode).
const ExitChanges = 2

// DiffChanges is what Diff returns when install would change something: no
// error, only the exit code.
type DiffChanges struct{}

func (DiffChanges) Error() string { return "changes pending" }

// ExitCode is ExitChanges.
func (DiffChanges) ExitCode() int { return ExitChanges }

// DiffResult is what `hookrunner diff` finds: what `install` with the same
// arguments would do.
type DiffResult struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	// Decision is install, upgrade, reinstall or none, and Why says why.
	Decision string `json:"decision"`
	Why      string `json:"why"`
	// Changes is whether install would change anything.
	Changes bool         `json:"changes"`
	Objects []ObjectDiff `json:"objects"`
	// CRDs are the chart's CRDs install would create, update, or leave as
	// they are although the chart changes them.
	CRDs  *kube.CRDReport `json:"crds,omitempty"`
	Drift []kube.Drift    `json:"drift,omitempty"`
	// Notes say what could not be checked, and why.
	Notes []string `json:"notes,omitempty"`
}

// ObjectDiff is one object install would add, change or remove, with a
// unified diff of its manifest (Secret values masked).
type ObjectDiff struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Change    string `json:"change"` // added, changed, removed
	Diff      string `json:"diff"`
}

// Diff prints what `install` with the same spec would do, writing nothing
// to the cluster: the decision, a unified diff per object between the
// stored manifest and the new one, the CRDs --crds would touch, and drift.
// It returns DiffChanges (exit code 2) when install would change anything.
func Diff(ctx context.Context, spec InstallSpec, asJSON bool, o IO) error {
	r := newRun(ctx, "diff", spec.Common, o)
	defer r.cancel()
	var st installState
	if err := r.step("validate", ExitBadInput, func() error { return r.validateInstall(spec, &st) }); err != nil {
		return err
	}
	if err := r.step("resolve-chart", ExitChart, func() error { return r.resolveChart(spec, &st) }); err != nil {
		return err
	}
	if err := r.step("connect", ExitCluster, func() error { return r.reach(spec.Namespace, &st) }); err != nil {
		return err
	}
	res := DiffResult{Release: spec.Release, Namespace: spec.Namespace, Objects: []ObjectDiff{}}
	if err := r.step("inspect", ExitAction, func() error {
		return r.retryTransient("inspect", func() error { return r.decide(spec, &st) })
	}); err != nil {
		return err
	}
	res.Decision, res.Why = string(st.plan.kind), st.plan.why
	if policy := spec.crdPolicy(); policy != kube.CRDSkip {
		if err := r.step("crds", ExitAction, func() error {
			crds, err := st.loaded.CRDs(st.vals)
			if err != nil {
				return err
			}
			report, err := st.kc.ApplyCRDs(r.ctx, kubeCRDs(crds), kube.CRDOptions{Policy: policy, Compare: st.plan.kind != planNone, DryRun: true})
			if !report.Empty() {
				res.CRDs = &report
			}
			return err
		}); err != nil {
			return err
		}
	}
	if st.plan.kind != planNone {
		if err := r.step("render", ExitAction, func() error {
			rel, err := dryRun(r.ctx, st.cfg, spec.Release, spec.Namespace, st.loaded.Chart, st.vals, st.post, dryRunOptions{server: true, upgrade: st.plan.current != nil})
			if err != nil {
				return err
			}
			old := ""
			if st.plan.current != nil {
				old = st.plan.current.Manifest
			}
			res.Objects, err = diffManifests(old, rel.Manifest, spec.Namespace)
			return err
		}); err != nil {
			return err
		}
	} else if spec.Drift != kube.DriftOff && spec.Drift != "" {
		if err := r.step("drift", ExitAction, func() error {
			ignore, err := kube.ParseIgnoreRules(spec.DriftIgnore)
			if err != nil {
				return err
			}
			drifts, err := st.kc.DetectDrift(r.ctx, st.plan.current.Manifest, spec.Release, spec.Namespace, ignore)
			if apierrors.IsForbidden(err) {
				res.Notes = append(res.Notes, "drift not checked: these credentials may not dry-run a patch of the release's objects")
				return nil
			}
			res.Drift = drifts
			return err
		}); err != nil {
			return err
		}
	}
	res.Changes = st.plan.kind != planNone || len(res.Drift) > 0 ||
		(res.CRDs != nil && len(res.CRDs.Created)+len(res.CRDs.Updated) > 0)
	var err error
	if asJSON {
		err = json.NewEncoder(o.Stdout).Encode(res)
	} else {
		err = res.write(o.Stdout)
	}
	if err != nil {
		return err
	}
	if res.Changes {
		return DiffChanges{}
	}
	return nil
}

// write prints the result for a person.
func (d DiffResult) write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "release %s/%s: %s (%s)\n", d.Namespace, d.Release, d.Decision, d.Why)
	if d.CRDs != nil {
		for _, n := range d.CRDs.Created {
			fmt.Fprintf(&b, "CRD %s: would be created\n", n)
		}
		for _, n := range d.CRDs.Updated {
			fmt.Fprintf(&b, "CRD %s: would be updated\n", n)
		}
		for _, n := range d.CRDs.Skipped {
			fmt.Fprintf(&b, "CRD %s: the chart changes it, but --crds create leaves it as it is (--crds create-replace updates it)\n", n)
		}
	}
	for _, dr := range d.Drift {
		fmt.Fprintf(&b, "drift: %s\n", dr.String())
	}
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, o := range d.Objects {
		b.WriteString(o.Diff)
	}
	if !d.Changes {
		b.WriteString("no changes\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// manifestObject is one document of a manifest.
type manifestObject struct {
	kind, namespace, name string
	text                  string
	obj                   map[string]any
}

func (m manifestObject) id() string { return m.kind + " " + m.namespace + "/" + m.name }

// splitManifest parses a manifest into its objects by identity.
func splitManifest(manifest, namespace string) (map[string]manifestObject, error) {
	out := map[string]manifestObject{}
	for _, doc := range strings.Split("\n"+manifest, "\n---") {
		text := strings.TrimSpace(doc)
		if text == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(text), &obj); err != nil {
			return nil, fmt.Errorf("parse manifest: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		m := manifestObject{text: text + "\n", obj: obj, namespace: namespace}
		m.kind, _ = obj["kind"].(string)
		if md, ok := obj["metadata"].(map[string]any); ok {
			m.name, _ = md["name"].(string)
			if ns, ok := md["namespace"].(string); ok && ns != "" {
				m.namespace = ns
			}
		}
		out[m.id()] = m
	}
	return out, nil
}

// diffManifests compares two manifests object by object.
func diffManifests(oldManifest, newManifest, namespace string) ([]ObjectDiff, error) {
	before, err := splitManifest(oldManifest, namespace)
	if err != nil {
		return nil, err
	}
	after, err := splitManifest(newManifest, namespace)
	if err != nil {
		return nil, err
	}
	ids := maps.Clone(before)
	maps.Copy(ids, after)
	out := []ObjectDiff{}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		a, hadA := before[id]
		b, hasB := after[id]
		if a.kind == "Secret" || b.kind == "Secret" {
			a.text, b.text = maskSecrets(a.obj, b.obj)
		}
		if hadA && hasB && a.text == b.text {
			continue
		}
		od := ObjectDiff{Kind: a.kind, Namespace: a.namespace, Name: a.name, Change: "changed"}
		from, to := id+" (deployed)", id+" (new)"
		switch {
		case !hadA:
			od = ObjectDiff{Kind: b.kind, Namespace: b.namespace, Name: b.name, Change: "added"}
			a.text, from = "", id+" (not deployed)"
		case !hasB:
			od.Change = "removed"
			b.text, to = "", id+" (removed)"
		}
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: lines(a.text), B: lines(b.text), FromFile: from, ToFile: to, Context: 3,
		})
		if err != nil {
			return nil, err
		}
		od.Diff = text
		out = append(out, od)
	}
	return out, nil
}

// masked stands for a Secret value in a diff.
const masked = "(masked)"

// maskSecrets renders the two sides of a Secret with every value of data
// and stringData masked; a value that changed is masked as changed.
func maskSecrets(before, after map[string]any) (string, string) {
	mask := func(obj, other map[string]any, isNew bool) string {
		if obj == nil {
			return ""
		}
		cp := map[string]any{}
		for k, v := range obj {
			cp[k] = v
		}
		for _, field := range []string{"data", "stringData"} {
			values, ok := obj[field].(map[string]any)
			if !ok {
				continue
			}
			otherValues, _ := other[field].(map[string]any)
			m := map[string]any{}
			for k, v := range values {
				if ov, ok := otherValues[k]; isNew && ok && ov != v {
					m[k] = masked + " (changed)"
				} else {
					m[k] = masked
				}
			}
			cp[field] = m
		}
		data, err := yaml.Marshal(cp)
		if err != nil {
			return masked + "\n"
		}
		return string(data)
	}
	return mask(before, after, false), mask(after, before, true)
}

// lines splits text into lines for a diff; no text is no lines.
func lines(text string) []string {
	if text = strings.TrimSuffix(text, "\n"); text == "" {
		return nil
	}
	return difflib.SplitLines(text)
}
