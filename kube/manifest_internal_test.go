package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/hookrunner/hookrunner/kube/yamldoc"
)

// Each document of a manifest decodes as apimachinery's YAML-or-JSON
// decoder decodes it.
func TestDecodeDocAsTheDecoder(t *testing.T) {
	manifests := map[string]string{
		"helm's layout":       "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\ndata: {on: yes, n: 0755, f: 1.0}\n---\n# Source: c/templates/b.yaml\napiVersion: v1\nkind: Secret\n",
		"empty documents":     "---\n---\n# only a comment\n---\n\n",
		"json":                "{\"a\": 1}\n---\n{\"kind\": \"List\", \"items\": []}\n",
		"not a mapping":       "- a\n- b\n",
		"a list":              "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
		"bad yaml":            "a: [\n",
		"a long line":         "a: " + strings.Repeat("x", 70000) + "\n",
		"duplicate keys":      "a: 1\na: 2\n",
		"anchors and aliases": "a: &x {b: 1}\nc: *x\n",
	}
	for name, manifest := range manifests {
		t.Run(name, func(t *testing.T) {
			docs, err := yamldoc.Split([]byte(manifest))
			if err != nil {
				t.Fatal(err)
			}
			for i, doc := range docs {
				got, gotErr := decodeDoc(doc)
				var want map[string]any
				wantErr := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096).Decode(&want)
				if errors.Is(wantErr, io.EOF) {
					wantErr = nil
				}
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
					t.Errorf("document %d decodes as %v (%v), the decoder's as %v (%v)", i, got, gotErr, want, wantErr)
				}
			}
		})
	}
}
