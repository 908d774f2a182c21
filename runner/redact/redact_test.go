package redact

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactorScrubsSecretsAndTheirBase64(t *testing.T) {
	const token = "canary-token-5f1c9e"
	red := New()
	red.Add(token, "", "abc") // empty and short strings are ignored
	cases := map[string]struct {
		in, want string
	}{
		"plain":       {"Authorization: Bearer " + token, "Authorization: Bearer " + Placeholder},
		"base64":      {"data: " + base64.StdEncoding.EncodeToString([]byte(token)), "data: " + Placeholder},
		"twice":       {token + " and " + token, Placeholder + " and " + Placeholder},
		"short-kept":  {"abc is not a secret", "abc is not a secret"},
		"no-secret":   {"nothing to hide", "nothing to hide"},
		"inside-word": {"x" + token + "y", "x" + Placeholder + "y"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := red.String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRedactorLongestSecretFirst(t *testing.T) {
	red := New()
	red.Add("pass", "password-long-1")
	if got := red.String("password-long-1"); got != Placeholder {
		t.Errorf("got %q, want one %s", got, Placeholder)
	}
}

// Every message, attribute (string, error, Stringer, group) and attribute
// added with With passes through the Redactor.
func TestRedactingHandler(t *testing.T) {
	const secret = "canary-values-secret-77"
	red := New()
	red.Add(secret)
	var buf bytes.Buffer
	log := slog.New(red.Handler(slog.NewJSONHandler(&buf, nil)))
	log.With("ctx", "pre "+secret).Info("msg "+secret,
		"error", errors.New("err "+secret),
		"n", 3,
		slog.Group("g", "inner", secret))
	out := buf.String()
	if strings.Contains(out, secret) {
		t.Fatalf("secret reached the log: %s", out)
	}
	for _, want := range []string{`"msg":"msg [REDACTED]"`, `"error":"err [REDACTED]"`, `"n":3`, `"ctx":"pre [REDACTED]"`, `"inner":"[REDACTED]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s: %s", want, out)
		}
	}
}

func TestURL(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"query":         {"https://ros.example/wait?Signature=canary-sig-1&Expires=9", "https://ros.example/wait?REDACTED"},
		"user-info":     {"https://u:canary-pass@charts.example/x.tgz", "https://charts.example/x.tgz"},
		"fragment":      {"https://charts.example/x.tgz#canary-frag", "https://charts.example/x.tgz"},
		"oci":           {"oci://registry.example/charts/app", "oci://registry.example/charts/app"},
		"local-path":    {"./charts/app", "./charts/app"},
		"chart-name":    {"podinfo", "podinfo"},
		"unparsable":    {"https://u:canary-pass@[::1/x", "(unparsable URL)"},
		"plain-no-auth": {"http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := URL(tc.in)
			if got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.Contains(got, "canary") {
				t.Errorf("URL(%q) kept a secret: %q", tc.in, got)
			}
		})
	}
}
