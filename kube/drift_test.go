package kube

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestParseIgnoreRules(t *testing.T) {
	good := map[string]IgnoreRule{
		"Deployment/*:/spec/replicas":          {Kind: "Deployment", Name: "*", Pointer: "/spec/replicas"},
		"Deployment:/spec/replicas/":           {Kind: "Deployment", Name: "*", Pointer: "/spec/replicas"},
		"ConfigMap/app-*:/data/generated~1key": {Kind: "ConfigMap", Name: "app-*", Pointer: "/data/generated~1key"},
	}
	for in, want := range good {
		got, err := ParseIgnoreRules([]string{in})
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("ParseIgnoreRules(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"Deployment", "Deployment/x", ":/spec", "Deployment/x:spec/replicas", "Deployment/[:/spec"} {
		_, err := ParseIgnoreRules([]string{bad})
		if !errors.Is(err, ErrInvalidIgnore) || !strings.Contains(err.Error(), "--drift-ignore") {
			t.Errorf("ParseIgnoreRules(%q): err = %v", bad, err)
		}
	}
}

func TestIgnoreRuleMatches(t *testing.T) {
	r := IgnoreRule{Kind: "Deployment", Name: "web-*", Pointer: "/spec/replicas"}
	cases := []struct {
		kind, name, field string
		want              bool
	}{
		{"Deployment", "web-1", "/spec/replicas", true},
		{"Deployment", "web-1", "/spec/replicasX", false},
		{"Deployment", "api", "/spec/replicas", false},
		{"StatefulSet", "web-1", "/spec/replicas", false},
	}
	for _, c := range cases {
		if got := r.matches(c.kind, c.name) && r.covers(c.field); got != c.want {
			t.Errorf("%s/%s %s: %v, want %v", c.kind, c.name, c.field, got, c.want)
		}
	}
	if !(IgnoreRule{Pointer: "/metadata/annotations"}).covers("/metadata/annotations/a~1b") {
		t.Error("a pointer does not cover what is under it")
	}
}

// The fields that differ, as JSON pointers; what the server sets on every
// write does not count.
func TestDiffFields(t *testing.T) {
	live := map[string]any{
		"metadata": map[string]any{"name": "web", "resourceVersion": "7", "generation": int64(3), "managedFields": []any{"x"}, "labels": map[string]any{"a/b": "1"}},
		"spec":     map[string]any{"replicas": int64(5), "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": "nginx:1"}}}}},
		"status":   map[string]any{"readyReplicas": int64(5)},
	}
	dry := map[string]any{
		"metadata": map[string]any{"name": "web", "resourceVersion": "8", "generation": int64(4), "labels": map[string]any{"a/b": "2"}},
		"spec":     map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": "nginx:2"}}}}},
		"status":   map[string]any{"readyReplicas": int64(1)},
	}
	var got []string
	diffFields("", comparable(live), comparable(dry), &got)
	want := []string{"/metadata/labels/a~1b", "/spec/replicas", "/spec/template/spec/containers/0/image"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got = nil
	diffFields("", comparable(live), comparable(live), &got)
	if len(got) != 0 {
		t.Errorf("an object differs from itself: %v", got)
	}
}

// Ignored fields are applied at their live values, so a correction leaves
// them as they are.
func TestKeepIgnored(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"replicas": int64(2)}}}
	live := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"replicas": int64(7)}}}
	keepIgnored(obj, live, []IgnoreRule{{Kind: "Deployment", Name: "*", Pointer: "/spec/replicas"}})
	if got, _, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "replicas"); got != float64(7) && got != int64(7) {
		t.Errorf("replicas = %v (%T), want the live 7", got, got)
	}
}

// Subset: every field of the first is in the second with the same value;
// numbers compare by value whatever their Go type.
func TestSubset(t *testing.T) {
	live := map[string]any{"spec": map[string]any{"replicas": int64(2), "ports": []any{map[string]any{"port": int64(80), "protocol": "TCP"}}}, "status": map[string]any{}}
	cases := map[string]struct {
		a    any
		want bool
	}{
		"fewer fields":         {map[string]any{"spec": map[string]any{"replicas": float64(2)}}, true},
		"list items subset":    {map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": 80}}}}, true},
		"other value":          {map[string]any{"spec": map[string]any{"replicas": int64(3)}}, false},
		"missing field":        {map[string]any{"spec": map[string]any{"paused": true}}, false},
		"other list length":    {map[string]any{"spec": map[string]any{"ports": []any{}}}, false},
		"other representation": {map[string]any{"spec": map[string]any{"replicas": "2"}}, false},
	}
	for name, tc := range cases {
		if got := Subset(tc.a, live); got != tc.want {
			t.Errorf("%s: Subset = %v, want %v", name, got, tc.want)
		}
	}
}
