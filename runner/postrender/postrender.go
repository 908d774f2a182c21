// Package postrender owns what hookrunner changes in a chart's rendered
// manifests before Helm applies them, as one Helm post-renderer chain, in
// this order:
//
//  1. image registries rewritten by rules (package images);
//  2. image pull secrets added to every pod spec, of built-in and custom
//     workloads alike, and to ServiceAccounts when asked;
//  3. labels and annotations added to every object's metadata;
//  4. patches, kustomize-style: strategic merge and JSON 6902, each with a
//     target selector, applied with kustomize's own filters.
//
// Helm runs the chain over the release's manifest and its hooks together
// (not over crds/), so install, upgrade, render and images see the same
// objects.
package postrender

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/filters/patchjson6902"
	"sigs.k8s.io/kustomize/api/filters/patchstrategicmerge"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/resid"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/images"
)

// ErrInvalid is a post-render option that cannot be right: a malformed
// label, pull secret name or patch file, or a patch whose target matches
// no object.
var ErrInvalid = errors.New("invalid post-render option")

// Options say what to change; the zero value changes nothing.
type Options struct {
	// ImageRewrite are registry rewrite rules FROM=TO.
	ImageRewrite []string
	// PullSecrets are added to every pod spec's imagePullSecrets.
	PullSecrets []string
	// PullSecretsToServiceAccounts adds them to the release's
	// ServiceAccounts as well.
	PullSecretsToServiceAccounts bool
	// Labels and Annotations are KEY=VALUE, set on every object.
	Labels      []string
	Annotations []string
	// PatchFiles are YAML lists of {target, patch} (see README).
	PatchFiles []string
}

// Chain is a validated Options: a Helm post-renderer.
type Chain struct {
	rules         images.Rules
	pullSecrets   []string
	toSAs         bool
	labels        [][2]string
	annotations   [][2]string
	patches       []patch
	identityParts []string
}

// patch is one entry of a patch file.
type patch struct {
	name     string // "--post-render-patch FILE: patch N"
	target   *types.SelectorRegex
	labels   labels.Selector
	annots   labels.Selector
	smp      *kyaml.RNode
	json6902 string
}

// entry is one patch as written in a patch file.
type entry struct {
	Target *types.Selector `json:"target,omitempty"`
	Patch  string          `json:"patch"`
}

// New validates o; every error names the flag and the entry.
func New(o Options) (*Chain, error) {
	c := &Chain{toSAs: o.PullSecretsToServiceAccounts}
	var err error
	if c.rules, err = images.ParseRules(o.ImageRewrite); err != nil {
		return nil, err
	}
	for _, name := range o.PullSecrets {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return nil, fmt.Errorf("%w: --image-pull-secret %q: %s", ErrInvalid, name, errs[0])
		}
		if !slices.Contains(c.pullSecrets, name) {
			c.pullSecrets = append(c.pullSecrets, name)
		}
	}
	if c.labels, err = pairs("--add-label", o.Labels, validation.IsValidLabelValue); err != nil {
		return nil, err
	}
	if c.annotations, err = pairs("--add-annotation", o.Annotations, nil); err != nil {
		return nil, err
	}
	ident := map[string]any{}
	var rawPatches []entry
	for _, file := range o.PatchFiles {
		ps, raw, err := readPatches(file)
		if err != nil {
			return nil, err
		}
		c.patches = append(c.patches, ps...)
		rawPatches = append(rawPatches, raw...)
	}
	if len(c.rules) > 0 {
		c.identityParts = append(c.identityParts, "images:"+c.rules.String())
	}
	if len(c.pullSecrets) > 0 {
		ident["pullSecrets"], ident["toServiceAccounts"] = c.pullSecrets, c.toSAs
	}
	if len(c.labels) > 0 {
		ident["labels"] = c.labels
	}
	if len(c.annotations) > 0 {
		ident["annotations"] = c.annotations
	}
	if len(rawPatches) > 0 {
		ident["patches"] = rawPatches
	}
	if len(ident) > 0 {
		data, err := json.Marshal(ident) // map keys are sorted
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		c.identityParts = append(c.identityParts, "post-render:sha256:"+hex.EncodeToString(sum[:]))
	}
	return c, nil
}

// Empty reports whether the chain changes nothing: Helm then gets no
// post-renderer, and renders exactly as it would alone.
func (c *Chain) Empty() bool { return c == nil || len(c.identityParts) == 0 }

// Identity is a stable summary of the chain, part of a release's config
// hash: changing a rule, a pull secret, a label or a patch changes it. It
// is "images:RULES" alone when only rules are set (as before the other
// options existed), so such releases keep their hash.
func (c *Chain) Identity() string {
	if c == nil {
		return ""
	}
	return strings.Join(c.identityParts, " ")
}

// Run is the Helm post-renderer: it parses the stream once, applies every
// stage, and writes it back.
func (c *Chain) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	docs, err := kio.ParseAll(in.String())
	if err != nil {
		return nil, fmt.Errorf("parse rendered manifests: %w", err)
	}
	if docs, err = c.Apply(docs); err != nil {
		return nil, err
	}
	out, err := kio.StringAll(docs)
	if err != nil {
		return nil, err
	}
	return bytes.NewBufferString(out), nil
}

// Apply runs every stage over docs and returns the objects that remain (a
// strategic merge patch may delete one).
func (c *Chain) Apply(docs []*kyaml.RNode) ([]*kyaml.RNode, error) {
	if len(c.rules) > 0 {
		if err := c.rules.Apply(docs); err != nil {
			return nil, err
		}
	}
	if len(c.pullSecrets) > 0 {
		if err := images.PodSpecs(docs, func(spec *kyaml.RNode) error { return addPullSecrets(spec, c.pullSecrets) }); err != nil {
			return nil, err
		}
		if c.toSAs {
			for _, doc := range docs {
				if doc.GetKind() == "ServiceAccount" && doc.GetApiVersion() == "v1" {
					if err := addPullSecrets(doc, c.pullSecrets); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	for _, doc := range docs {
		for _, kv := range c.labels {
			if err := doc.PipeE(kyaml.SetLabel(kv[0], kv[1])); err != nil {
				return nil, fmt.Errorf("%s %s: add label %s: %w", doc.GetKind(), doc.GetName(), kv[0], err)
			}
		}
		for _, kv := range c.annotations {
			if err := doc.PipeE(kyaml.SetAnnotation(kv[0], kv[1])); err != nil {
				return nil, fmt.Errorf("%s %s: add annotation %s: %w", doc.GetKind(), doc.GetName(), kv[0], err)
			}
		}
	}
	for _, p := range c.patches {
		var err error
		if docs, err = p.apply(docs); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// addPullSecrets appends the secrets a pod spec (or ServiceAccount) does
// not list yet.
func addPullSecrets(obj *kyaml.RNode, names []string) error {
	list, err := obj.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "imagePullSecrets"))
	if err != nil {
		return err
	}
	have := map[string]bool{}
	els, err := list.Elements()
	if err != nil {
		return err
	}
	for _, el := range els {
		if f := el.Field("name"); f != nil {
			have[f.Value.YNode().Value] = true
		}
	}
	for _, name := range names {
		if have[name] {
			continue
		}
		item := kyaml.NewMapRNode(&map[string]string{"name": name})
		if err := list.PipeE(kyaml.Append(item.YNode())); err != nil {
			return err
		}
	}
	return nil
}

// apply patches the objects the target selects; selecting none is an
// error, as it almost always means a typo or a chart that changed.
func (p patch) apply(docs []*kyaml.RNode) ([]*kyaml.RNode, error) {
	var (
		out     = make([]*kyaml.RNode, 0, len(docs))
		matched bool
	)
	for _, doc := range docs {
		if !p.selects(doc) {
			out = append(out, doc)
			continue
		}
		matched = true
		var (
			res []*kyaml.RNode
			err error
		)
		if p.smp != nil {
			res, err = patchstrategicmerge.Filter{Patch: p.smp.Copy()}.Filter([]*kyaml.RNode{doc})
		} else {
			res, err = patchjson6902.Filter{Patch: p.json6902}.Filter([]*kyaml.RNode{doc})
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s on %s %s: %v", ErrInvalid, p.name, doc.GetKind(), doc.GetName(), err)
		}
		out = append(out, res...)
	}
	if !matched {
		return nil, fmt.Errorf("%w: %s: its target matches no object of the release", ErrInvalid, p.name)
	}
	return out, nil
}

func (p patch) selects(doc *kyaml.RNode) bool {
	if !p.target.MatchGvk(resid.GvkFromNode(doc)) || !p.target.MatchName(doc.GetName()) || !p.target.MatchNamespace(doc.GetNamespace()) {
		return false
	}
	if p.labels != nil && !p.labels.Matches(labels.Set(doc.GetLabels())) {
		return false
	}
	return p.annots == nil || p.annots.Matches(labels.Set(doc.GetAnnotations()))
}

// readPatches reads a patch file: a YAML list of {target, patch}. A patch
// that is a list of operations is JSON 6902 and needs a target; any other
// is a strategic merge patch, whose target defaults to its own kind and
// name, as in kustomize.
func readPatches(file string) ([]patch, []entry, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --post-render-patch %s: %v", ErrInvalid, file, errors.Unwrap(err))
	}
	var entries []entry
	if err := k8syaml.UnmarshalStrict(data, &entries); err != nil {
		return nil, nil, fmt.Errorf("%w: --post-render-patch %s: want a YAML list of {target, patch}: %v", ErrInvalid, file, err)
	}
	if len(entries) == 0 {
		return nil, nil, fmt.Errorf("%w: --post-render-patch %s: no patches", ErrInvalid, file)
	}
	out := make([]patch, 0, len(entries))
	for i, e := range entries {
		p, err := newPatch(fmt.Sprintf("--post-render-patch %s: patch %d", file, i+1), e)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, p)
	}
	return out, entries, nil
}

func newPatch(name string, e entry) (patch, error) {
	p := patch{name: name}
	body := strings.TrimSpace(e.Patch)
	if body == "" {
		return p, fmt.Errorf("%w: %s: no patch", ErrInvalid, name)
	}
	node, err := kyaml.Parse(body)
	if err != nil {
		return p, fmt.Errorf("%w: %s: not YAML: %v", ErrInvalid, name, err)
	}
	sel := e.Target
	if node.YNode().Kind == kyaml.SequenceNode {
		if sel == nil {
			return p, fmt.Errorf("%w: %s: a JSON 6902 patch needs a target", ErrInvalid, name)
		}
		if _, err := (patchjson6902.Filter{Patch: body}).Filter(nil); err != nil {
			return p, fmt.Errorf("%w: %s: not a JSON 6902 patch: %v", ErrInvalid, name, err)
		}
		p.json6902 = body
	} else {
		if node.GetKind() == "" && sel == nil {
			return p, fmt.Errorf("%w: %s: a strategic merge patch needs a kind and name, or a target", ErrInvalid, name)
		}
		if sel == nil {
			sel = &types.Selector{ResId: resid.NewResIdWithNamespace(resid.GvkFromNode(node), node.GetName(), node.GetNamespace())}
		}
		p.smp = node
	}
	if p.target, err = types.NewSelectorRegex(sel); err != nil {
		return p, fmt.Errorf("%w: %s: target: %v", ErrInvalid, name, err)
	}
	for _, s := range []struct {
		expr string
		into *labels.Selector
		what string
	}{{sel.LabelSelector, &p.labels, "labelSelector"}, {sel.AnnotationSelector, &p.annots, "annotationSelector"}} {
		if s.expr == "" {
			continue
		}
		if *s.into, err = labels.Parse(s.expr); err != nil {
			return p, fmt.Errorf("%w: %s: target %s: %v", ErrInvalid, name, s.what, err)
		}
	}
	return p, nil
}

// pairs parses KEY=VALUE entries with Kubernetes' key rules (and value
// rules when given), keeping the last value of a repeated key.
func pairs(flag string, specs []string, checkValue func(string) []string) ([][2]string, error) {
	m := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %s %q: want KEY=VALUE", ErrInvalid, flag, s)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("%w: %s %q: key: %s", ErrInvalid, flag, s, errs[0])
		}
		if checkValue != nil {
			if errs := checkValue(v); len(errs) > 0 {
				return nil, fmt.Errorf("%w: %s %q: value: %s", ErrInvalid, flag, s, errs[0])
			}
		}
		m[k] = v
	}
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out, nil
}
