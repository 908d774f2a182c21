package main

import (
	"errors"
	"testing"
)

// A failed run's error in the report: one line, what failed and the
// tool's last word.
func TestGist(t *testing.T) {
	cases := map[string]struct{ err, want string }{
		"one line": {"helm install of 10: exit status 2", "helm install of 10: exit status 2"},
		"stderr tail": {"helm --qps 100 install of 3000: exit 1: pected EOF\nserver-side apply failed for b-1: unexpected EOF\n",
			"helm --qps 100 install of 3000: server-side apply failed for b-1: unexpected EOF"},
	}
	for name, tc := range cases {
		if got := gist(errors.New(tc.err)); got != tc.want {
			t.Errorf("%s: gist = %q, want %q", name, got, tc.want)
		}
	}
}
