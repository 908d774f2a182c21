// Package images owns the container image references inside rendered
// manifests: it lists every image a chart would run, and rewrites their
// registries by rules (as a Helm post-renderer) for mirrors and regional
// registries.
package images

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// ErrInvalid is a malformed rule or image reference.
var ErrInvalid = errors.New("invalid image reference")

// podSpecPaths says where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// containerLists are the fields of a pod spec that hold containers.
var containerLists = []string{"initContainers", "containers", "ephemeralContainers"}

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

// visit calls fn with every image field of the workloads in manifests, a
// multi-document YAML stream; fn may change the field's value.
func visit(manifests string, fn func(field *kyaml.RNode) error) ([]*kyaml.RNode, error) {
	docs, err := kio.ParseAll(manifests)
	if err != nil {
		return nil, fmt.Errorf("parse manifests: %w", err)
	}
	for _, doc := range docs {
		path, ok := podSpecPaths[doc.GetKind()]
		if !ok {
			continue
		}
		spec, err := doc.Pipe(kyaml.Lookup(path...))
		if err != nil || spec == nil {
			continue
		}
		for _, list := range containerLists {
			containers, err := spec.Pipe(kyaml.Lookup(list))
			if err != nil || containers == nil {
				continue
			}
			items, err := containers.Elements()
			if err != nil {
				continue
			}
			for _, c := range items {
				field, err := c.Pipe(kyaml.Lookup("image"))
				if err != nil || field == nil {
					continue
				}
				if err := fn(field); err != nil {
					return nil, fmt.Errorf("%s %s: %w", doc.GetKind(), doc.GetName(), err)
				}
			}
		}
	}
	return docs, nil
}

// List returns the normalized images of every workload in manifests,
// sorted and unique.
func List(manifests string) ([]string, error) {
	seen := map[string]bool{}
	_, err := visit(manifests, func(field *kyaml.RNode) error {
		ref, err := Normalize(field.YNode().Value)
		if err != nil {
			return err
		}
		seen[ref] = true
		return nil
	})
	if err != nil {
		return nil, err
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

// Run rewrites the images of the manifests: Rules are a Helm post-renderer.
func (rs Rules) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	docs, err := visit(in.String(), func(field *kyaml.RNode) error {
		out, err := rs.Rewrite(field.YNode().Value)
		if err != nil {
			return err
		}
		field.YNode().Value = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	s, err := kio.StringAll(docs)
	if err != nil {
		return nil, err
	}
	return bytes.NewBufferString(s), nil
}
