// Package redact is the one home of secret scrubbing: the Redactor every
// line hookrunner writes passes through, the shortest string that counts
// as a secret, and the redaction of URLs (user info and query) for
// messages. It imports nothing of the project, so every package may use it.
package redact

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Placeholder replaces a secret wherever hookrunner writes text.
const Placeholder = "[REDACTED]"

// MinLen is the shortest string treated as a secret: shorter ones ("1",
// "yes", "99") would scrub common words out of every line and protect
// nothing. Packages that collect secrets hand every candidate to a
// Redactor, which applies this one threshold.
const MinLen = 4

// Redactor scrubs known secret strings (kubeconfig credentials, registry
// and repository passwords, secret values, callback URL queries and
// headers) from text, and their base64 forms, as a Secret manifest or an
// Authorization header would show them. Every line hookrunner writes (log,
// error, result document, termination log) passes through one.
type Redactor struct {
	mu       sync.RWMutex
	secrets  map[string]struct{}
	replacer *strings.Replacer
}

// New returns a Redactor that knows no secrets yet.
func New() *Redactor { return &Redactor{secrets: map[string]struct{}{}} }

// Add registers secrets; empty and very short strings are ignored.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < MinLen {
			continue
		}
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s))} {
			if _, ok := r.secrets[form]; !ok {
				r.secrets[form] = struct{}{}
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	// Longest first, so a secret that contains another is replaced whole.
	all := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) || len(all[i]) == len(all[j]) && all[i] < all[j] })
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Placeholder)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// String returns s with every known secret replaced.
func (r *Redactor) String(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.replacer == nil {
		return s
	}
	return r.replacer.Replace(s)
}

// Handler wraps h so that every message and attribute it handles is
// scrubbed first.
func (r *Redactor) Handler(h slog.Handler) slog.Handler { return &redactingHandler{r: r, next: h} }

type redactingHandler struct {
	r    *Redactor
	next slog.Handler
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &redactingHandler{r: h.r, next: h.next.WithAttrs(clean)}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{r: h.r, next: h.next.WithGroup(name)}
}

// attr scrubs one attribute; anything that is not a number, bool, time or
// group is rendered to a string first, so no Stringer or error escapes.
func (h *redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = h.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration, slog.KindTime:
		return slog.Attr{Key: a.Key, Value: v}
	default:
		return slog.String(a.Key, h.r.String(v.String()))
	}
}

// URL returns raw without its user info, query and fragment, for messages
// (presigned URLs carry their credentials in the query). Anything that is
// not an absolute URL (a local path, a chart name) is returned as is.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "://") {
			return "(unparsable URL)"
		}
		return raw
	}
	if u.Host == "" && u.Scheme == "" {
		return raw
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.Fragment = ""
	return u.String()
}
