package yamldoc

import "testing"

func TestReadHeader(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Header
		ok   bool
	}{
		{"namespaced object", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  labels:\n    name: other\nspec: {}\n",
			Header{"apps/v1", "Deployment", "web", "shop"}, true},
		{"cluster-scoped, quoted", "---\n# Source: x\napiVersion: \"apiextensions.k8s.io/v1\"\nkind: 'CustomResourceDefinition'\nmetadata:\n    name: \"a.b.io\"\nspec:\n  names:\n    kind: A\n",
			Header{"apiextensions.k8s.io/v1", "CustomResourceDefinition", "a.b.io", ""}, true},
		{"no apiVersion", "kind: ConfigMap\nmetadata:\n  name: c\n", Header{"", "ConfigMap", "c", ""}, true},
		{"name after a nested name", "kind: ConfigMap\nmetadata:\n  labels:\n    name: x\n  name: c\n", Header{"", "ConfigMap", "c", ""}, true},
		{"json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}`, Header{}, false},
		{"flow metadata", "kind: ConfigMap\nmetadata: {name: c}\n", Header{}, false},
		{"no name", "kind: ConfigMap\nmetadata:\n  labels: {}\n", Header{}, false},
		{"no kind", "apiVersion: v1\nmetadata:\n  name: c\n", Header{}, false},
		{"kind twice", "kind: ConfigMap\nkind: Secret\nmetadata:\n  name: c\n", Header{}, false},
		{"name twice", "kind: ConfigMap\nmetadata:\n  name: c\n  name: d\n", Header{}, false},
		{"namespace twice", "kind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n  namespace: b\n", Header{}, false},
		{"anchor", "kind: ConfigMap\nmetadata:\n  name: &n c\n", Header{}, false},
		{"tag", "kind: !!str ConfigMap\nmetadata:\n  name: c\n", Header{}, false},
		{"comment after a value", "kind: ConfigMap # a map\nmetadata:\n  name: c\n", Header{}, false},
		{"tab", "kind: ConfigMap\nmetadata:\n\tname: c\n", Header{}, false},
		{"templated name", "kind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n", Header{}, false},
		{"uppercase name", "kind: ConfigMap\nmetadata:\n  name: Web\n", Header{}, false},
		{"complex key", "? kind\n: ConfigMap\nmetadata:\n  name: c\n", Header{}, false},
		{"empty", "", Header{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ReadHeader([]byte(tt.doc))
			if ok != tt.ok || got != tt.want {
				t.Errorf("ReadHeader = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
