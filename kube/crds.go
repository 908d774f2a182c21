package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// CRD policies for a chart's crds/ directory, as Flux's install.crds and
// upgrade.crds.
const (
	// CRDSkip leaves crds/ alone (helm --skip-crds).
	CRDSkip = "skip"
	// CRDCreate creates CRDs that do not exist and never changes one that
	// does: Helm's own behaviour.
	CRDCreate = "create"
	// CRDCreateReplace also updates existing CRDs to the chart's, by
	// server-side apply, refusing to drop a version still stored.
	CRDCreateReplace = "create-replace"
)

// CRDPolicies are the values --crds accepts.
var CRDPolicies = []string{CRDSkip, CRDCreate, CRDCreateReplace}

// ErrCRD is a CRD the policy refuses to apply: one that would drop a
// version still in its status.storedVersions, or whose fields another
// manager owns (without --force-conflicts).
var ErrCRD = errors.New("CRD not applied")

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CRDReport says what ApplyCRDs did, by CRD name.
type CRDReport struct {
	Created []string `json:"created,omitempty"`
	Updated []string `json:"updated,omitempty"`
	// Skipped are existing CRDs the chart would change, left as they are
	// (policy create).
	Skipped []string `json:"skipped,omitempty"`
}

// Empty reports whether nothing was created, updated or skipped.
func (r CRDReport) Empty() bool { return len(r.Created)+len(r.Updated)+len(r.Skipped) == 0 }

// CRDOptions say how ApplyCRDs treats a chart's CRDs.
type CRDOptions struct {
	// Policy is CRDSkip, CRDCreate or CRDCreateReplace.
	Policy string
	// Compare lists existing CRDs the chart would change as skipped
	// (policy create).
	Compare bool
	// Force takes fields other managers own (create-replace).
	Force bool
	// DryRun reports what would be done and writes nothing. (Where the
	// credentials may not even dry-run a patch, existing CRDs are compared
	// field by field with the chart's.)
	DryRun bool
}

// CRD is a CustomResourceDefinition to apply: its name, and its object,
// which is asked for only when the policy needs it (to create, compare or
// replace the CRD: an existing one under policy create without Compare is
// never parsed).
type CRD struct {
	Name   string
	Object func() (*unstructured.Unstructured, error)
}

// ApplyCRDs brings the chart's CRDs to the policy: missing ones are
// created; with create-replace existing ones are updated by server-side
// apply (field manager hookrunner; conflicts forced only with Force); with
// create, existing ones the chart would change are listed as skipped when
// Compare is set. Every CRD created or updated is Established before it
// returns, and discovery is refreshed so the release's custom resources
// map.
func (c *Config) ApplyCRDs(ctx context.Context, crds []CRD, o CRDOptions) (CRDReport, error) {
	var report CRDReport
	if o.Policy == CRDSkip || len(crds) == 0 {
		return report, nil
	}
	rc, err := c.getter.ToRESTConfig()
	if err != nil {
		return report, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return report, err
	}
	heads, err := metadata.NewForConfig(rc)
	if err != nil {
		return report, err
	}
	client := dyn.Resource(crdGVR)
	// Each CRD is read and applied on its own, all at once: a large CRD
	// costs the API server a few hundred milliseconds to store, and a
	// chart's CRDs (kube-prometheus-stack has ten) do not depend on each
	// other. The report and the error keep the chart's order.
	outcomes := make([]crdOutcome, len(crds))
	errs := make([]error, len(crds))
	var g errgroup.Group
	g.SetLimit(crdWorkers)
	for i, crd := range crds {
		g.Go(func() error {
			outcomes[i], errs[i] = applyCRD(ctx, client, heads.Resource(crdGVR), crd, o)
			return nil
		})
	}
	_ = g.Wait()
	var pending []string
	for i, out := range outcomes {
		name := crds[i].Name
		switch out {
		case crdCreated:
			report.Created = append(report.Created, name)
		case crdUpdated:
			report.Updated = append(report.Updated, name)
		case crdSkipped:
			report.Skipped = append(report.Skipped, name)
		}
		if (out == crdCreated || out == crdUpdated) && !o.DryRun {
			pending = append(pending, name)
		}
	}
	err = errors.Join(errs...)
	if err == nil {
		// Every CRD written is awaited, each by its own watch.
		waits := make([]error, len(pending))
		for i, name := range pending {
			g.Go(func() error {
				waits[i] = waitEstablished(ctx, client, name)
				return nil
			})
		}
		_ = g.Wait()
		err = errors.Join(waits...)
	}
	if len(pending) > 0 {
		c.refreshDiscovery()
	}
	return report, firstError(err)
}

// crdWorkers bounds the CRDs read and applied at once.
const crdWorkers = 16

// crdOutcome is what applyCRD did (or, in a dry run, would do) to one CRD.
type crdOutcome int

const (
	crdUnchanged crdOutcome = iota
	crdCreated
	crdUpdated
	crdSkipped // policy create: the chart would change it
)

// applyCRD brings one CRD to the policy (see ApplyCRDs). Whether it exists
// (and its generation) is read from its metadata alone; the whole live CRD
// (hundreds of KiB) is read only to check its stored versions or, where
// the credentials may not dry-run, to compare its spec.
func applyCRD(ctx context.Context, client dynamic.NamespaceableResourceInterface, heads metadata.Getter, crd CRD, o CRDOptions) (crdOutcome, error) {
	name := crd.Name
	head, err := heads.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && o.DryRun:
		return crdCreated, nil
	case err != nil && !apierrors.IsNotFound(err):
		return crdUnchanged, fmt.Errorf("read CRD %s: %w", name, err)
	case err == nil && o.Policy == CRDCreate && !o.Compare:
		return crdUnchanged, nil
	}
	exists := err == nil
	obj, err := crd.Object()
	if err != nil {
		return crdUnchanged, err
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return crdUnchanged, err
	}
	apply := func(dryRun bool, force bool) (*unstructured.Unstructured, error) {
		opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		out, err := client.Patch(ctx, name, types.ApplyPatchType, data, opts)
		if apierrors.IsConflict(err) {
			return nil, fmt.Errorf("%w: CRD %s: fields the chart sets are owned by another manager (pass --force-conflicts to take them): %v", ErrCRD, name, err)
		}
		return out, err
	}
	if !exists {
		if _, err := apply(false, true); err != nil {
			return crdUnchanged, fmt.Errorf("create CRD %s: %w", name, err)
		}
		return crdCreated, nil
	}
	// changes says whether applying the chart's CRD would change the live
	// one: a dry run bumps the generation when the spec changes.
	changes := func() (bool, error) {
		out, err := apply(true, true)
		if apierrors.IsForbidden(err) {
			// Credentials that may create CRDs but not patch them cannot
			// even dry-run; compare the chart's fields instead.
			live, err := client.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return !Subset(obj.Object["spec"], live.Object["spec"]), nil
		}
		if err != nil {
			return false, err
		}
		return out.GetGeneration() != head.GetGeneration(), nil
	}
	switch o.Policy {
	case CRDCreate:
		changed, err := changes()
		if err != nil {
			return crdUnchanged, fmt.Errorf("compare CRD %s: %w", name, err)
		}
		if changed {
			return crdSkipped, nil
		}
	case CRDCreateReplace:
		live, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return crdUnchanged, fmt.Errorf("read CRD %s: %w", name, err)
		}
		if err := keepsStoredVersions(obj, live); err != nil {
			return crdUnchanged, err
		}
		if o.DryRun {
			changed, err := changes()
			if err != nil {
				return crdUnchanged, fmt.Errorf("compare CRD %s: %w", name, err)
			}
			if changed {
				return crdUpdated, nil
			}
			return crdUnchanged, nil
		}
		out, err := apply(false, o.Force)
		if err != nil {
			return crdUnchanged, fmt.Errorf("update CRD %s: %w", name, err)
		}
		if out.GetGeneration() != live.GetGeneration() {
			return crdUpdated, nil
		}
	}
	return crdUnchanged, nil
}

// firstError is the first of a joined error (the chart's order), so that
// a failure stays one line; nil stays nil.
func firstError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
		return j.Unwrap()[0]
	}
	return err
}

// keepsStoredVersions refuses a CRD that no longer serves a version the
// API server still stores objects in: dropping it would make them
// unreadable. The versions must be migrated and removed from
// status.storedVersions first.
func keepsStoredVersions(crd, live *unstructured.Unstructured) error {
	stored, _, _ := unstructured.NestedStringSlice(live.Object, "status", "storedVersions")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var names []string
	for _, v := range versions {
		if m, ok := v.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				names = append(names, n)
			}
		}
	}
	var dropped []string
	for _, s := range stored {
		if !slices.Contains(names, s) {
			dropped = append(dropped, s)
		}
	}
	if len(dropped) > 0 {
		sort.Strings(dropped)
		return fmt.Errorf("%w: CRD %s: the chart removes version %v, which is still in status.storedVersions; migrate the stored objects and remove it from storedVersions first", ErrCRD, crd.GetName(), dropped)
	}
	return nil
}

// waitEstablished watches the CRD until it is Established and its names
// accepted.
func waitEstablished(ctx context.Context, client dynamic.NamespaceableResourceInterface, name string) error {
	selector := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListFunc: func(opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return client.List(ctx, opts)
		},
		WatchFunc: func(opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return client.Watch(ctx, opts)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		return crdCondition(u, "Established") && crdCondition(u, "NamesAccepted"), nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s did not become Established: %w", name, err)
	}
	return nil
}

func crdCondition(u *unstructured.Unstructured, kind string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == kind {
			return m["status"] == "True"
		}
	}
	return false
}

// refreshDiscovery forgets what discovery learnt, so new kinds map and the
// chart's capabilities list them.
func (c *Config) refreshDiscovery() {
	d := c.discover()
	if d.err != nil {
		return
	}
	d.discovery.Invalidate()
	meta.MaybeResetRESTMapper(d.mapper)
}

// Subset reports whether every field of a is in b with the same value
// (lists element by element, of the same length): what a server-side
// apply of a over b would leave unchanged, ownership aside.
func Subset(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range av {
			if !Subset(v, bv[k]) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !Subset(av[i], bv[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(normalizeNumber(a), normalizeNumber(b))
}

// normalizeNumber makes 3, int64(3) and 3.0 compare equal.
func normalizeNumber(v any) any {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case int32:
		return float64(n)
	}
	return v
}
