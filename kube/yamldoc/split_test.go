package yamldoc

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// SplitCases are streams whose split must be exactly the documents
// apimachinery's YAMLReader returns.
var splitCases = map[string]string{
	"empty":                     "",
	"one line":                  "a: 1\n",
	"no final line end":         "a: 1\nb: 2",
	"helm's layout":             "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n---\n# Source: c/templates/b.yaml\napiVersion: v1\nkind: Secret\n",
	"separator at the end":      "a: 1\n---\n",
	"separator without newline": "a: 1\n---",
	"separators in a row":       "---\n---\n---\na: 1\n---\n---\nb: 2\n",
	"separator with a comment":  "a: 1\n--- # next\nb: 2\n",
	"separator with blanks":     "a: 1\n---   \t\nb: 2\n",
	"bad separator":             "a: 1\n--- b: 2\n",
	"four dashes":               "a: 1\n----\nb: 2\n",
	"indented dashes":           "a: |\n  ---\n  text\nb: 2\n",
	"dashes inside a line":      "a: x---y\n",
	"only blank lines":          "\n\n\n",
	"blank lines between":       "a: 1\n\n---\n\nb: 2\n\n",
	"carriage returns":          "a: 1\r\n---\r\nb: 2\r\n",
	"a lone carriage return":    "a: 1\rb\n",
	"json":                      "{\"a\": 1}\n---\n{\"kind\": \"List\", \"items\": []}\n",
	"not a mapping":             "- a\n- b\n",
	"a long line":               "a: " + strings.Repeat("x", 10000) + "\n---\nb: " + strings.Repeat("y", 70000),
}

func TestSplitAsTheReader(t *testing.T) {
	for name, data := range splitCases {
		t.Run(name, func(t *testing.T) { compareSplits(t, data) })
	}
}

func compareSplits(t *testing.T, data string) {
	t.Helper()
	in := []byte(data)
	got, gotErr := Split(in)
	want, wantErr := splitByReader([]byte(data))
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, the reader's %v", gotErr, wantErr)
	}
	sameDocs(t, got, want, "the reader's")
	if string(in) != data {
		t.Errorf("Split changed its input")
	}
}

// sameDocs fails t unless got holds the documents of want, whose source
// is named by theirs.
func sameDocs(t *testing.T, got, want [][]byte, theirs string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d documents %q, %s %d %q", len(got), got, theirs, len(want), want)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("document %d: %q, %s %q", i, got[i], theirs, want[i])
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, data := range splitCases {
		f.Add(data)
	}
	f.Fuzz(compareSplits)
}
