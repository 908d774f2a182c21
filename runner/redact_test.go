package runner

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
	red := NewRedactor()
	red.Add(token, "", "abc") // empty and short strings are ignored
	cases := map[string]struct {
		in, want string
	}{
		"plain":       {"Authorization: Bearer " + token, "Authorization: Bearer " + redacted},
		"base64":      {"data: " + base64.StdEncoding.EncodeToString([]byte(token)), "data: " + redacted},
		"twice":       {token + " and " + token, redacted + " and " + redacted},
		"short-kept":  {"abc is not a secret", "abc is not a secret"},
		"no-secret":   {"nothing to hide", "nothing to hide"},
		"inside-word": {"x" + token + "y", "x" + redacted + "y"},
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
	red := NewRedactor()
	red.Add("pass", "password-long-1")
	if got := red.String("password-long-1"); got != redacted {
		t.Errorf("got %q, want one %s", got, redacted)
	}
}

// Every message, attribute (string, error, Stringer, group) and attribute
// added with With passes through the Redactor.
func TestRedactingHandler(t *testing.T) {
	const secret = "canary-values-secret-77"
	red := NewRedactor()
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
