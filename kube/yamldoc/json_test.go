package yamldoc

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// decodeAsTheBuilder returns the documents kubectl's stream visitor builds
// objects from: each document the YAML-or-JSON decoder gives, trimmed,
// without the empty ones.
func decodeAsTheBuilder(data []byte) ([][]byte, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var docs [][]byte
	for {
		var ext runtime.RawExtension
		if err := d.Decode(&ext); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, err
		}
		if raw := bytes.TrimSpace(ext.Raw); len(raw) > 0 && string(raw) != "null" {
			docs = append(docs, raw)
		}
	}
}

// compareJSON checks ToJSON against the decoder; it reports whether ToJSON
// converted the stream at all (a refused stream is built as it is).
func compareJSON(t *testing.T, data string) bool {
	t.Helper()
	js, err := ToJSON([]byte(data), 3)
	if err != nil {
		return false
	}
	want, wantErr := decodeAsTheBuilder([]byte(data))
	if wantErr != nil {
		t.Fatalf("converted a stream the decoder refuses (%v): %q", wantErr, js)
	}
	got, err := decodeAsTheBuilder(js)
	if err != nil {
		t.Fatalf("the decoder refuses the converted stream: %v\n%q", err, js)
	}
	sameDocs(t, got, want, "the decoder's")
	return true
}

func TestToJSONAsTheDecoder(t *testing.T) {
	cases := map[string]string{
		"comments only":  "# Source: c/templates/empty.yaml\n---\n# nothing\n",
		"scalars":        "apiVersion: v1\nkind: ConfigMap\ndata:\n  on: yes\n  n: 010\n  f: 1.50\n  d: 2024-01-01\n  s: '007'\n",
		"block and flow": "a: |\n  line\n  ---\n  more\nb: {x: [1, 2, {y: null}]}\n",
		"anchors":        "a: &x {k: v}\nb: *x\n",
		"int keys":       "data:\n  1: one\n  true: yes\n",
		"unicode":        "a: \"é ✓ \\u2028 <&>\"\n",
	}
	for name, data := range splitCases {
		cases["split: "+name] = data
	}
	refused := map[string]bool{"split: json": true, "split: bad separator": true, "split: four dashes": true, "split: a lone carriage return": true, "split: not a mapping": true}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if !compareJSON(t, data) && !refused[name] {
				t.Error("not converted")
			}
		})
	}
	for name, data := range map[string]string{
		"json stream":   "{\"a\": 1}\n{\"b\": 2}\n",
		"bad yaml":      "a: [1, 2\n",
		"bad separator": "a: 1\n--- b: 2\n",
	} {
		if _, err := ToJSON([]byte(data), 2); err == nil {
			t.Errorf("%s: converted, want refused", name)
		}
	}
}

func FuzzToJSON(f *testing.F) {
	for _, data := range splitCases {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data string) { compareJSON(t, data) })
}
