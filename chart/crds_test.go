package chart

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
)

// The header reader names a CRD only when a line-by-line read cannot be
// wrong; everything else is left to the parser.
func TestCRDHeader(t *testing.T) {
	cases := map[string]struct {
		doc  string
		name string // "" = not ok
	}{
		"plain":            {doc: "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec: {}\n", name: "widgets.example.com"},
		"quoted":           {doc: "kind: CustomResourceDefinition\nmetadata:\n  annotations:\n    x: y\n  name: \"widgets.example.com\"\n", name: "widgets.example.com"},
		"single-quoted":    {doc: "kind: CustomResourceDefinition\nmetadata:\n    name: 'a.b'\n", name: "a.b"},
		"separator":        {doc: "---\n# comment\nkind: CustomResourceDefinition\nmetadata:\n  name: a.b\n", name: "a.b"},
		"crlf":             {doc: "kind: CustomResourceDefinition\r\nmetadata:\r\n  name: a.b\r\n", name: "a.b"},
		"name-in-labels":   {doc: "kind: CustomResourceDefinition\nmetadata:\n  labels:\n    name: nope\n  name: a.b\n", name: "a.b"},
		"nested-only":      {doc: "kind: CustomResourceDefinition\nmetadata:\n  labels:\n    name: nope\n"},
		"name-in-spec":     {doc: "kind: CustomResourceDefinition\nmetadata:\n  namespace: x\nspec:\n  name: nope\n"},
		"other-kind":       {doc: "kind: ConfigMap\nmetadata:\n  name: a\n"},
		"no-kind":          {doc: "metadata:\n  name: a.b\n"},
		"kind-twice":       {doc: "kind: CustomResourceDefinition\nkind: CustomResourceDefinition\nmetadata:\n  name: a.b\n"},
		"name-twice":       {doc: "kind: CustomResourceDefinition\nmetadata:\n  name: a.b\n  name: c.d\n"},
		"flow-metadata":    {doc: "kind: CustomResourceDefinition\nmetadata: {name: a.b}\n"},
		"json":             {doc: `{"kind": "CustomResourceDefinition", "metadata": {"name": "a.b"}}`},
		"anchor":           {doc: "kind: CustomResourceDefinition\nmetadata:\n  name: &n a.b\n"},
		"alias":            {doc: "kind: CustomResourceDefinition\nmetadata:\n  name: *n\n"},
		"tag":              {doc: "kind: CustomResourceDefinition\nmetadata:\n  name: !!str a.b\n"},
		"trailing-comment": {doc: "kind: CustomResourceDefinition\nmetadata:\n  name: a.b # the name\n"},
		"block-scalar":     {doc: "kind: CustomResourceDefinition\nmetadata:\n  name: |\n    a.b\n"},
		"tab":              {doc: "kind: CustomResourceDefinition\nmetadata:\n\tname: a.b\n"},
		"quoted-key":       {doc: "\"kind\": CustomResourceDefinition\nmetadata:\n  name: a.b\n"},
		"empty":            {doc: "# nothing\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := crdHeader([]byte(tc.doc))
			if ok != (tc.name != "") || got != tc.name {
				t.Errorf("crdHeader = %q, %v; want %q", got, ok, tc.name)
			}
		})
	}
}

// Every document of crds/ comes back in file order, named; those read by
// their header parse on demand to the same object as an eager parse, and
// what is not a CRD is refused at once.
func TestCRDsLazyAndEager(t *testing.T) {
	crd := func(name string) string {
		return "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: " + name + "\nspec:\n  group: example.com\n"
	}
	load := func(files map[string]string) (*Loaded, error) {
		ch := &chartv2.Chart{Metadata: &chartv2.Metadata{APIVersion: "v2", Name: "c", Version: "1.0.0"}}
		ch.Raw = append(ch.Raw, &common.File{Name: "Chart.yaml", Data: []byte("apiVersion: v2\nname: c\nversion: 1.0.0\n")})
		for _, name := range slices.Sorted(maps.Keys(files)) { // as a chart directory loads
			ch.Raw = append(ch.Raw, &common.File{Name: name, Data: []byte(files[name])})
		}
		return &Loaded{Chart: ch}, nil
	}
	l, _ := load(map[string]string{
		"crds/a.yaml": crd("as.example.com") + "---\n# only a comment\n---\n" + crd("bs.example.com"),
		"crds/b.json": `{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "cs.example.com"}}`,
	})
	got, err := l.CRDs(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
		obj, err := c.Object()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if obj.GetName() != c.Name || obj.GetKind() != "CustomResourceDefinition" {
			t.Errorf("%s parsed as %s %s", c.Name, obj.GetKind(), obj.GetName())
		}
	}
	if want := "as.example.com bs.example.com cs.example.com"; strings.Join(names, " ") != want {
		t.Errorf("names %q, want %q", strings.Join(names, " "), want)
	}
	for name, files := range map[string]map[string]string{
		"not-a-crd": {"crds/x.yaml": "kind: ConfigMap\nmetadata:\n  name: x\n"},
		"bad-yaml":  {"crds/x.yaml": "kind: [\n"},
	} {
		l, _ := load(files)
		if _, err := l.CRDs(nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
