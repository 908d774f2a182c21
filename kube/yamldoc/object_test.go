package yamldoc

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/test/corpus"
)

// compareObject checks Object against sigs.k8s.io/yaml.Unmarshal into a
// map; it reports whether Object decoded the document itself.
func compareObject(t *testing.T, doc []byte) bool {
	t.Helper()
	got, ok := Object(doc)
	if !ok {
		return false
	}
	var want map[string]any
	if err := yaml.Unmarshal(doc, &want); err != nil {
		t.Fatalf("decoded a document sigs.k8s.io/yaml refuses (%v): %q", err, doc)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Object(%q)\n got %#v\nwant %#v", doc, got, want)
	}
	return true
}

func TestObjectAsSigsYAML(t *testing.T) {
	cases := []struct {
		name, doc string
		ok        bool
	}{
		{"empty", "", true},
		{"comment only", "# nothing\n", true},
		{"null", "null\n", true},
		{"object", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n", true},
		{"yaml 1.1 scalars", "a: yes\nb: on\nc: 010\nd: 0x1F\ne: 1.50\nf: 2024-01-01\ng: '007'\nh: ~\ni: 1e3\n", true},
		{"big numbers", "a: 9223372036854775807\nb: 18446744073709551615\nc: 9007199254740993\nd: -0.0\ne: 1e308\n", true},
		{"non-string keys", "data:\n  1: one\n  true: yes\n  1.5: x\n  .inf: y\n", true},
		{"empty collections", "a: {}\nb: []\nc: [[], {}]\n", true},
		{"anchors and merge", "base: &b {x: 1, y: [1, 2]}\nc:\n  <<: *b\n  z: 3\nd: *b\n", true},
		{"block scalars", "a: |\n  line\n  ---\n  more\nb: >-\n  folded\n  text\n", true},
		{"unicode", "a: \"é ✓ \\u2028 <&>\"\n\"ключ\": значение\n", true},
		{"binary", "a: !!binary aGVsbG8=\n", true},
		{"list document", "- a\n- b\n", false},
		{"scalar document", "just text\n", false},
		{"nan", "a: .nan\n", false},
		{"infinity", "a: [.inf]\n", false},
		{"colliding keys", "a:\n  1: x\n  \"1\": y\n", false},
		{"null key", "~: x\n", false},
		{"binary not utf-8", "a: !!binary /w==\n", false},
		{"invalid yaml", "a: [\n", false},
		{"tab indent", "a:\n\tb: c\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := compareObject(t, []byte(c.doc)); got != c.ok {
				t.Fatalf("ok = %v, want %v", got, c.ok)
			}
		})
	}
}

func TestObjectTooDeep(t *testing.T) {
	doc := strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2)
	if _, ok := Object([]byte("a: " + doc + "\n")); ok {
		t.Fatal("a document nested past maxDepth was decoded")
	}
	if !compareObject(t, []byte("a: [[[1]]]\n")) {
		t.Fatal("shallow nesting not decoded")
	}
}

// TestObjectOnCorpus decodes every document of the corpus charts' YAML
// files that sigs.k8s.io/yaml reads as a mapping (their crds/ and values,
// the largest real documents at hand) and requires the same answer.
func TestObjectOnCorpus(t *testing.T) {
	dir, _ := corpus.Dir(filepath.Join("..", ".."))
	if err := corpus.Present(dir); err != nil {
		t.Skipf("no corpus: %v", err)
	}
	decoded := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) || strings.Contains(path, "/templates/") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		docs, err := Split(data)
		if err != nil {
			return nil
		}
		for _, doc := range docs {
			var m map[string]any
			if yaml.Unmarshal(doc, &m) != nil || m == nil {
				continue
			}
			if !compareObject(t, doc) {
				t.Errorf("%s: a mapping document was not decoded", path)
			}
			decoded++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if decoded < 50 {
		t.Fatalf("only %d corpus documents decoded; is %s the corpus?", decoded, dir)
	}
	t.Logf("%d corpus documents decoded as sigs.k8s.io/yaml decodes them", decoded)
}

func FuzzObject(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: ConfigMap\ndata:\n  on: yes\n  n: 010\n",
		"a: &x {k: [1, 2.5, -3]}\nb: *x\n1: x\ntrue: y\n",
		"a: !!binary aGVsbG8=\nb: 1e400\nc: 2024-01-01T00:00:00Z\n",
		"a: |\n  text\nb: >\n  more\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		compareObject(t, doc)
	})
}

func BenchmarkObject(b *testing.B) {
	doc := largestCorpusDoc(b)
	b.SetBytes(int64(len(doc)))
	b.Run("Object", func(b *testing.B) {
		for b.Loop() {
			if _, ok := Object(doc); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("sigs.k8s.io/yaml", func(b *testing.B) {
		for b.Loop() {
			var m map[string]any
			if err := yaml.Unmarshal(doc, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// largestCorpusDoc is argo-cd's ApplicationSet CRD (1.4 MB), the largest
// document of the corpus, without its template actions (whole lines).
func largestCorpusDoc(b *testing.B) []byte {
	dir, _ := corpus.Dir(filepath.Join("..", ".."))
	data, err := os.ReadFile(filepath.Join(dir, "argo-cd", "templates", "crds", "crd-applicationset.yaml"))
	if err != nil {
		b.Skipf("no corpus: %v", err)
	}
	var doc []byte
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "{{") {
			doc = append(doc, line...)
		}
	}
	return doc
}
