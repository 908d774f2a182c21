package kube

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestWithLogLines: the message keeps the end of the log lines within
// maxMessage, whichever order the runtime gave the lines in.
func TestWithLogLines(t *testing.T) {
	const prefix = "container web exited with code 2"
	result := `{"status":"FAILURE","action":"","release":{"name":"","namespace":"default"},"outputs":{},"reason":"parse: --output must be one of \"text\",\"json\" but got \"x\"","reasonCode":"BadInput","exitCode":2}`
	finished := `{"time":"2026-11-23T02:00:31.802687862Z","level":"INFO","msg":"run finished","status":"FAILURE","action":"","exitCode":2,"seconds":0}`
	fatal := `hookrunner: error: parse: --output must be one of "text","json" but got "x"`
	for _, tc := range []struct {
		name, lines string
		want        []string
	}{
		{"none", "", []string{prefix}},
		{"short", "boom", []string{prefix + "; last log lines: boom"}},
		{"fatal line last", strings.Join([]string{finished, result, fatal}, " | "), []string{"last log lines: …", fatal}},
		{"fatal line first", strings.Join([]string{fatal, finished, result}, " | "), []string{"last log lines: …", "must be one of", `"exitCode":2}`}},
		{"multi-byte at the cut", strings.Repeat("é", 400), []string{"last log lines: …é"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withLogLines(prefix, tc.lines)
			if len(got) > maxMessage || !utf8.ValidString(got) {
				t.Errorf("%d bytes (max %d), valid UTF-8 %v: %s", len(got), maxMessage, utf8.ValidString(got), got)
			}
			if !strings.HasPrefix(got, prefix) {
				t.Errorf("lost its start: %s", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q: %s", w, got)
				}
			}
			if clip(got, maxMessage) != got {
				t.Errorf("the finding's own clip would cut it again: %s", got)
			}
		})
	}
}
