package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hookrunner/hookrunner/kube/yamldoc"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// Drift policies: what a re-run does when the release is at its config.
const (
	DriftOff     = "off"
	DriftDetect  = "detect"
	DriftCorrect = "correct"
)

// DriftPolicies are the values --drift accepts.
var DriftPolicies = []string{DriftOff, DriftDetect, DriftCorrect}

// ErrInvalidIgnore is a malformed --drift-ignore rule.
var ErrInvalidIgnore = errors.New("invalid drift ignore rule")

// Drift is one object of a release whose live state differs from what the
// release applied: the fields the chart sets that differ (JSON pointers,
// never values), or the whole object missing.
type Drift struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name"`
	Missing   bool     `json:"missing,omitempty"`
	Fields    []string `json:"fields,omitempty"`

	// apply is the object to apply to correct the drift.
	apply    *unstructured.Unstructured
	resource dynamic.ResourceInterface
}

// String is "Kind namespace/name" and what drifted.
func (d Drift) String() string {
	id := d.Kind + " " + d.Name
	if d.Namespace != "" {
		id = d.Kind + " " + d.Namespace + "/" + d.Name
	}
	if d.Missing {
		return id + " (missing)"
	}
	return id + " (" + strings.Join(d.Fields, ", ") + ")"
}

// IgnoreRule is KIND[/NAME]:JSONPOINTER: drift at or under the pointer of
// matching objects does not count (NAME may be a glob; * by default).
type IgnoreRule struct {
	Kind, Name, Pointer string
}

// ParseIgnoreRules reads --drift-ignore rules.
func ParseIgnoreRules(specs []string) ([]IgnoreRule, error) {
	var rules []IgnoreRule
	for _, s := range specs {
		obj, pointer, ok := strings.Cut(s, ":")
		kind, name, _ := strings.Cut(obj, "/")
		if name == "" {
			name = "*"
		}
		if !ok || kind == "" || !strings.HasPrefix(pointer, "/") {
			return nil, fmt.Errorf("%w: --drift-ignore %q: want KIND[/NAME]:/json/pointer, e.g. Deployment/*:/spec/replicas", ErrInvalidIgnore, s)
		}
		if _, err := path.Match(name, ""); err != nil {
			return nil, fmt.Errorf("%w: --drift-ignore %q: name pattern: %v", ErrInvalidIgnore, s, err)
		}
		rules = append(rules, IgnoreRule{Kind: kind, Name: name, Pointer: strings.TrimSuffix(pointer, "/")})
	}
	return rules, nil
}

func (r IgnoreRule) matches(kind, name string) bool {
	ok, _ := path.Match(r.Name, name)
	return r.Kind == kind && ok
}

// covers reports whether field (a JSON pointer) is at or under r.Pointer.
func (r IgnoreRule) covers(field string) bool {
	return field == r.Pointer || strings.HasPrefix(field, r.Pointer+"/")
}

// DetectDrift compares each object of manifest (the manifest Helm stored
// for release in namespace) with the live object, by a server-side apply
// dry run with hookrunner's field manager of the object as Helm applied
// it (with its ownership label and annotations): only fields the chart
// sets can differ, never those controllers or defaulting own. Objects
// without a namespace are in namespace when namespaced.
func (c *Config) DetectDrift(ctx context.Context, manifest, release, namespace string, ignore []IgnoreRule) ([]Drift, error) {
	docs, err := yamldoc.Split([]byte(manifest))
	if err != nil {
		return nil, fmt.Errorf("parse the release manifest: %w", err)
	}
	d := c.discover()
	if d.err != nil {
		return nil, d.err
	}
	rc, err := c.getter.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	// Each document is parsed and compared on its own, 16 at once, the
	// largest first: parsing a large CRD (argo-cd's manifest holds one of
	// 1.4 MB) is the longest task and overlaps the reads of the others.
	sort.SliceStable(docs, func(i, j int) bool { return len(docs[i]) > len(docs[j]) })
	var (
		mu     sync.Mutex
		drifts []Drift
		errs   = make([]error, len(docs))
		g      errgroup.Group
	)
	g.SetLimit(16)
	for i, doc := range docs {
		pre := startRead(ctx, dyn, d.mapper, doc, namespace)
		g.Go(func() error {
			objs, err := parseDoc(doc)
			if err != nil {
				errs[i] = err
				return nil
			}
			for _, obj := range objs {
				withHelmOwnership(obj, release, namespace)
				drift, err := c.driftOf(ctx, dyn, d.mapper, obj, namespace, ignore, pre)
				if err != nil {
					errs[i] = err
					return nil
				}
				if drift != nil {
					mu.Lock()
					drifts = append(drifts, *drift)
					mu.Unlock()
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(drifts, func(i, j int) bool { return drifts[i].String() < drifts[j].String() })
	return drifts, nil
}

func (c *Config) driftOf(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured, namespace string, ignore []IgnoreRule, pre *liveRead) (*Drift, error) {
	gvk := obj.GroupVersionKind()
	res, ns, err := resourceFor(dyn, mapper, gvk, obj.GetNamespace(), namespace)
	if err != nil {
		return nil, fmt.Errorf("drift of %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	if ns != obj.GetNamespace() {
		obj.SetNamespace(ns)
	}
	drift := &Drift{Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), apply: obj, resource: res}
	var live *unstructured.Unstructured
	if pre.of(gvk, ns, obj.GetName()) {
		live, err = pre.wait()
	} else {
		live, err = res.Get(ctx, obj.GetName(), metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		drift.Missing = true
		return drift, nil
	}
	if err != nil {
		return nil, fmt.Errorf("drift of %s: read: %w", drift.id(), err)
	}
	var rules []IgnoreRule
	for _, r := range ignore {
		if r.matches(gvk.Kind, obj.GetName()) {
			rules = append(rules, r)
		}
	}
	keepIgnored(obj, live, rules)
	// Every field the release sets already has its value: applying it
	// would change nothing, so there is no drift and no need to ask the
	// server. Only a difference (or a value the server writes in another
	// form, such as a quantity) is confirmed by a dry run.
	if Subset(obj.Object, live.Object) {
		return nil, nil
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	force := true
	dry, err := res.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, fmt.Errorf("drift of %s: dry-run apply: %w", drift.id(), err)
	}
	var fields []string
	diffFields("", comparable(live.Object), comparable(dry.Object), &fields)
	for _, f := range fields {
		ignored := false
		for _, r := range rules {
			ignored = ignored || r.covers(f)
		}
		if !ignored {
			drift.Fields = append(drift.Fields, f)
		}
	}
	if len(drift.Fields) == 0 {
		return nil, nil
	}
	const maxFields = 20
	if len(drift.Fields) > maxFields {
		drift.Fields = append(drift.Fields[:maxFields], fmt.Sprintf("… %d more", len(drift.Fields)-maxFields))
	}
	return drift, nil
}

func (d Drift) id() string {
	if d.Namespace == "" {
		return d.Kind + " " + d.Name
	}
	return d.Kind + " " + d.Namespace + "/" + d.Name
}

// CorrectDrift re-applies exactly the drifted objects (missing ones are
// created), taking back the fields the chart sets; ignored fields keep
// their live values.
func (c *Config) CorrectDrift(ctx context.Context, drifts []Drift) error {
	force := true
	for _, d := range drifts {
		if d.apply == nil {
			continue
		}
		data, err := json.Marshal(d.apply.Object)
		if err != nil {
			return err
		}
		if _, err := d.resource.Patch(ctx, d.Name, types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
			return fmt.Errorf("correct drift of %s: %w", d.id(), err)
		}
	}
	return nil
}

// keepIgnored sets the ignored fields of obj to their live values, so
// that applying obj leaves them as they are.
func keepIgnored(obj, live *unstructured.Unstructured, rules []IgnoreRule) {
	for _, r := range rules {
		parts := pointerParts(r.Pointer)
		if v, ok, _ := unstructured.NestedFieldNoCopy(live.Object, parts...); ok {
			_ = unstructured.SetNestedField(obj.Object, runtimeCopy(v), parts...)
		}
	}
}

func runtimeCopy(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(data, &out) != nil {
		return v
	}
	return out
}

// pointerParts splits a JSON pointer into map keys (list indexes are not
// supported in ignore rules).
func pointerParts(p string) []string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return parts
}

// comparable drops what the server sets on every write.
func comparable(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "status" {
			out[k] = v
		}
	}
	if m, ok := obj["metadata"].(map[string]any); ok {
		md := make(map[string]any, len(m))
		for k, v := range m {
			switch k {
			case "managedFields", "resourceVersion", "generation", "uid", "creationTimestamp":
			default:
				md[k] = v
			}
		}
		out["metadata"] = md
	}
	return out
}

// diffFields appends the JSON pointers at which a and b differ.
func diffFields(at string, a, b any, out *[]string) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			*out = append(*out, pointerOrRoot(at))
			return
		}
		keys := maps.Clone(av)
		maps.Copy(keys, bv)
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			diffFields(at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), av[k], bv[k], out)
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			*out = append(*out, pointerOrRoot(at))
			return
		}
		for i := range av {
			diffFields(at+"/"+strconv.Itoa(i), av[i], bv[i], out)
		}
	default:
		if !reflect.DeepEqual(a, b) {
			*out = append(*out, pointerOrRoot(at))
		}
	}
}

func pointerOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// resourceFor is the client of gvk's resource, and the namespace of an
// object of it given as ns (the release namespace when the resource is
// namespaced and ns is empty).
func resourceFor(dyn dynamic.Interface, mapper meta.RESTMapper, gvk schema.GroupVersionKind, ns, namespace string) (dynamic.ResourceInterface, string, error) {
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, "", err
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return dyn.Resource(mapping.Resource), ns, nil
	}
	if ns == "" {
		ns = namespace
	}
	return dyn.Resource(mapping.Resource).Namespace(ns), ns, nil
}

// minPrefetch is the size from which a document's object is read from the
// server while the document is parsed.
const minPrefetch = 64 << 10

// liveRead is the read of a live object, started before its document was
// parsed, from the document's header.
type liveRead struct {
	gvk      schema.GroupVersionKind
	ns, name string
	done     chan struct{}
	live     *unstructured.Unstructured
	err      error
}

// startRead starts reading the live object of a large document whose
// header can be read without parsing it (argo-cd's 1.4 MB CRD took 0.15 s
// to parse and 70 ms to read, one after the other); nil otherwise. The
// read counts only if the parsed object turns out to be the same one.
func startRead(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, doc []byte, namespace string) *liveRead {
	if len(doc) < minPrefetch {
		return nil
	}
	h, ok := yamldoc.ReadHeader(doc)
	if !ok || h.APIVersion == "" {
		return nil
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		return nil
	}
	gvk := gv.WithKind(h.Kind)
	res, ns, err := resourceFor(dyn, mapper, gvk, h.Namespace, namespace)
	if err != nil {
		return nil
	}
	r := &liveRead{gvk: gvk, ns: ns, name: h.Name, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.live, r.err = res.Get(ctx, h.Name, metav1.GetOptions{})
	}()
	return r
}

// of reports whether r reads the object gvk ns/name.
func (r *liveRead) of(gvk schema.GroupVersionKind, ns, name string) bool {
	return r != nil && r.gvk == gvk && r.ns == ns && r.name == name
}

// wait returns what r read.
func (r *liveRead) wait() (*unstructured.Unstructured, error) {
	<-r.done
	return r.live, r.err
}

// decodeDoc decodes one document; an empty one is nil.
func decodeDoc(doc []byte) (map[string]any, error) {
	var obj map[string]any
	var err error
	if utilyaml.IsJSONBuffer(doc) {
		err = utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096).Decode(&obj)
	} else if o, ok := yamldoc.Object(doc); ok {
		obj = o
	} else {
		err = yaml.Unmarshal(doc, &obj) // for its answer or its error
	}
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	return obj, err
}

// parseDoc parses one document of a release manifest (as yamldoc.Split
// returns it) into its objects (a List into its items; an empty document
// into none). A YAML document is parsed as apimachinery's YAML-or-JSON
// decoder parses it (sigs.k8s.io/yaml, by yamldoc.Object without its JSON
// round trip), without reading it line by line a second time; a JSON one
// goes through that decoder.
func parseDoc(doc []byte) ([]*unstructured.Unstructured, error) {
	obj, err := decodeDoc(doc)
	if err != nil {
		return nil, fmt.Errorf("parse the release manifest: %w", err)
	}
	if len(obj) == 0 {
		return nil, nil
	}
	u := &unstructured.Unstructured{Object: obj}
	if !u.IsList() {
		return []*unstructured.Unstructured{u}, nil
	}
	list, err := u.ToList()
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// withHelmOwnership adds what Helm adds to every object it applies: the
// managed-by label and the release annotations.
func withHelmOwnership(obj *unstructured.Unstructured, release, namespace string) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["app.kubernetes.io/managed-by"] = "Helm"
	obj.SetLabels(labels)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations["meta.helm.sh/release-name"] = release
	annotations["meta.helm.sh/release-namespace"] = namespace
	obj.SetAnnotations(annotations)
}
