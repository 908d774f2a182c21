// Package images owns the container image references inside rendered
// manifests: it lists every image a chart would run, and rewrites their
// registries by rules (as a Helm post-renderer) for mirrors and regional
// registries.
package images

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// ErrInvalid is a malformed rule or image reference.
var ErrInvalid = errors.New("invalid image reference")

// containerLists are the fields that hold containers, in a pod spec or in
// anything shaped like one (custom workloads such as OpenKruise's CloneSet,
// Argo Rollouts or Knative Services).
var containerLists = map[string]bool{"initContainers": true, "containers": true, "ephemeralContainers": true}

// skipKinds hold no workloads, only text or schemas that may look like
// them.
var skipKinds = map[string]bool{"CustomResourceDefinition": true, "ConfigMap": true, "Secret": true}

// Found is one image field of a rendered object.
type Found struct {
	// Image is the reference as written in the manifest.
	Image     string `json:"image"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Path is where in the object, e.g. spec.template.spec.containers[web].image
	// or spec.volumes[models].image.reference.
	Path string `json:"path"`
}

// Normalize returns the fully qualified form of an image reference:
// "nginx" is "docker.io/library/nginx:latest"; a digest is kept, and a
// reference with a digest gets no default tag.
func Normalize(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(ref))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalid, ref, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// Visit calls fn with every image field of every object in docs: each
// container's image in any containers, initContainers or
// ephemeralContainers list at any depth (so the pod templates of built-in
// and custom workloads alike), and each image volume's reference. fn may
// change the field's value.
func Visit(docs []*kyaml.RNode, fn func(field *kyaml.RNode, at Found) error) error {
	for _, doc := range docs {
		if skipKinds[doc.GetKind()] {
			continue
		}
		obj := Found{Kind: doc.GetKind(), Namespace: doc.GetNamespace(), Name: doc.GetName()}
		if err := walk(doc.YNode(), "", func(field *kyaml.Node, path string) error {
			at := obj
			at.Image, at.Path = field.Value, path
			return fn(kyaml.NewRNode(field), at)
		}); err != nil {
			return fmt.Errorf("%s %s: %w", obj.Kind, obj.Name, err)
		}
	}
	return nil
}

// PodSpecs calls fn with every mapping that holds a containers list: the
// pod specs of built-in and custom workloads.
func PodSpecs(docs []*kyaml.RNode, fn func(spec *kyaml.RNode) error) error {
	for _, doc := range docs {
		if skipKinds[doc.GetKind()] {
			continue
		}
		if err := podSpecs(doc.YNode(), true, fn); err != nil {
			return fmt.Errorf("%s %s: %w", doc.GetKind(), doc.GetName(), err)
		}
	}
	return nil
}

func podSpecs(n *kyaml.Node, top bool, fn func(*kyaml.RNode) error) error {
	if n.Kind == kyaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if key, val := n.Content[i].Value, n.Content[i+1]; key == "containers" && val.Kind == kyaml.SequenceNode {
				return fn(kyaml.NewRNode(n))
			}
		}
	}
	for i, c := range n.Content {
		if top && n.Kind == kyaml.MappingNode && i%2 == 1 && (n.Content[i-1].Value == "metadata" || n.Content[i-1].Value == "status") {
			continue
		}
		if err := podSpecs(c, n.Kind == kyaml.DocumentNode, fn); err != nil {
			return err
		}
	}
	return nil
}

// walk visits the image fields under n, whose path is path.
func walk(n *kyaml.Node, path string, fn func(field *kyaml.Node, path string) error) error {
	switch n.Kind {
	case kyaml.DocumentNode:
		for _, c := range n.Content {
			if err := walk(c, path, fn); err != nil {
				return err
			}
		}
	case kyaml.SequenceNode:
		for i, c := range n.Content {
			if err := walk(c, fmt.Sprintf("%s[%d]", path, i), fn); err != nil {
				return err
			}
		}
	case kyaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			at := key
			if path != "" {
				at = path + "." + key
			}
			var err error
			switch {
			case path == "" && (key == "metadata" || key == "status"):
			case containerLists[key] && val.Kind == kyaml.SequenceNode:
				err = eachNamed(val, at, []string{"image"}, fn)
			case key == "volumes" && val.Kind == kyaml.SequenceNode:
				err = eachNamed(val, at, []string{"image", "reference"}, fn)
			default:
				err = walk(val, at, fn)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// eachNamed calls fn with the scalar at field inside each element of list
// (containers or volumes), naming the element by its name.
func eachNamed(list *kyaml.Node, path string, field []string, fn func(*kyaml.Node, string) error) error {
	for i, el := range list.Content {
		if el.Kind != kyaml.MappingNode {
			continue
		}
		node := kyaml.NewRNode(el)
		id := strconv.Itoa(i)
		if name := node.Field("name"); name != nil && name.Value.YNode().Kind == kyaml.ScalarNode {
			id = name.Value.YNode().Value
		}
		v, err := node.Pipe(kyaml.Lookup(field...))
		if err != nil || v == nil || v.YNode().Kind != kyaml.ScalarNode || v.YNode().Value == "" {
			continue
		}
		if err := fn(v.YNode(), fmt.Sprintf("%s[%s].%s", path, id, strings.Join(field, "."))); err != nil {
			return err
		}
	}
	return nil
}

// Find returns every image field of the objects in manifests, a
// multi-document YAML stream, in document order.
func Find(manifests string) ([]Found, error) {
	docs, err := kio.ParseAll(manifests)
	if err != nil {
		return nil, fmt.Errorf("parse manifests: %w", err)
	}
	var found []Found
	err = Visit(docs, func(_ *kyaml.RNode, at Found) error {
		found = append(found, at)
		return nil
	})
	return found, err
}

// List returns the normalized images of every object in manifests,
// sorted and unique.
func List(manifests string) ([]string, error) {
	found, err := Find(manifests)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range found {
		ref, err := Normalize(f.Image)
		if err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", f.Kind, f.Name, f.Path, err)
		}
		seen[ref] = true
	}
	out := make([]string, 0, len(seen))
	for ref := range seen {
		out = append(out, ref)
	}
	sort.Strings(out)
	return out, nil
}

// Rule rewrites images whose normalized reference starts with From (at a
// path boundary) to start with To instead.
type Rule struct{ From, To string }

// Rules are registry rewrite rules; the longest matching From wins.
type Rules []Rule

// ParseRules reads FROM=TO entries, e.g. docker.io=mirror.example.com/hub.
func ParseRules(specs []string) (Rules, error) {
	rules := make(Rules, 0, len(specs))
	for _, s := range specs {
		from, to, ok := strings.Cut(s, "=")
		from, to = strings.TrimSuffix(strings.TrimSpace(from), "/"), strings.TrimSuffix(strings.TrimSpace(to), "/")
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("%w: --image-registry-rewrite %q: want FROM=TO, e.g. docker.io=mirror.example.com/hub", ErrInvalid, s)
		}
		// Both sides must be the start of a valid image name.
		for _, side := range []string{from, to} {
			if _, err := reference.ParseNormalizedNamed(side + "/x"); err != nil {
				return nil, fmt.Errorf("%w: --image-registry-rewrite %q: %q is not a registry or repository prefix", ErrInvalid, s, side)
			}
		}
		rules = append(rules, Rule{From: from, To: to})
	}
	sort.SliceStable(rules, func(i, j int) bool { return len(rules[i].From) > len(rules[j].From) })
	return rules, nil
}

// String renders the rules in a stable form (part of a release's identity).
func (rs Rules) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.From + "=" + r.To
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Rewrite applies the first (longest) matching rule to ref; a reference no
// rule matches is returned unchanged, as written.
func (rs Rules) Rewrite(ref string) (string, error) {
	norm, err := Normalize(ref)
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if rest, ok := strings.CutPrefix(norm, r.From); ok && boundary(rest) {
			out := r.To + rest
			if _, err := reference.ParseNormalizedNamed(out); err != nil {
				return "", fmt.Errorf("%w: rewriting %q gives %q: %v", ErrInvalid, ref, out, err)
			}
			return out, nil
		}
	}
	return ref, nil
}

// boundary reports whether rest, what follows a rule's From in a reference,
// starts a new path element, a tag or a digest: "docker.io/library/nginx"
// matches "docker.io/library/nginx:1.25" but not ".../nginx-extra", and
// "localhost" does not match "localhost:5000/app".
func boundary(rest string) bool {
	switch {
	case rest == "":
		return true
	case rest[0] == '/' || rest[0] == '@':
		return true
	case rest[0] == ':':
		return !strings.Contains(rest, "/")
	}
	return false
}

// Apply rewrites the images of docs in place.
func (rs Rules) Apply(docs []*kyaml.RNode) error {
	return Visit(docs, func(field *kyaml.RNode, _ Found) error {
		out, err := rs.Rewrite(field.YNode().Value)
		if err != nil {
			return err
		}
		field.YNode().Value = out
		return nil
	})
}
