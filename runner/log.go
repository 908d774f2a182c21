package runner

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/hookrunner/hookrunner/runner/redact"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// IO is where a run writes: the result document's last line to Stdout, log
// lines to Stderr.
type IO struct {
	Stdout io.Writer
	Stderr io.Writer
	// JSONLogs selects JSON log lines (a Job's stderr) over text (a terminal).
	JSONLogs bool
	// Debug shows Helm's and client-go's debug lines.
	Debug bool
	// TerminationLog is written with the compact result when it exists
	// (the kubelet creates /dev/termination-log in a container).
	TerminationLog string
}

// newLogger returns the run's logger, scrubbed by red, and routes klog and
// API server warnings into it.
func newLogger(o IO, red *redact.Redactor) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if o.Debug {
		opts.Level = slog.LevelDebug
	}
	var h slog.Handler
	if o.JSONLogs {
		h = slog.NewJSONHandler(o.Stderr, opts)
	} else {
		h = slog.NewTextHandler(o.Stderr, opts)
	}
	log := slog.New(red.Handler(h))
	klog.SetSlogLogger(log.With("source", "client-go"))
	rest.SetDefaultWarningHandler(warningLogger{log})
	return log
}

// warningLogger logs API server warnings (deprecated APIs, …) as log lines.
type warningLogger struct{ log *slog.Logger }

func (w warningLogger) HandleWarningHeader(_ int, _ string, text string) {
	w.log.Warn("API server warning", "warning", text)
}

// helmTail is the slog handler given to the Helm SDK: it forwards Helm's
// records to the run's logger at the run's level and keeps the last lines
// at every level, debug included, to explain a failure.
type helmTail struct {
	next  slog.Handler
	attrs []slog.Attr
	ring  *ring
}

type ring struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

const helmTailLines = 15

func newHelmTail(log *slog.Logger) *helmTail {
	return &helmTail{next: log.Handler().WithAttrs([]slog.Attr{slog.String("source", "helm")}), ring: &ring{lines: make([]string, helmTailLines)}}
}

func (h *helmTail) Enabled(context.Context, slog.Level) bool { return true }

func (h *helmTail) Handle(ctx context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.ring.add(b.String())
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *helmTail) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &helmTail{next: h.next.WithAttrs(attrs), attrs: append(append([]slog.Attr{}, h.attrs...), attrs...), ring: h.ring}
}

func (h *helmTail) WithGroup(name string) slog.Handler {
	return &helmTail{next: h.next.WithGroup(name), attrs: h.attrs, ring: h.ring}
}

// Lines returns the kept lines, oldest first.
func (h *helmTail) Lines() []string {
	r := h.ring
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]string{}, r.lines[:r.next]...)
	}
	return append(append([]string{}, r.lines[r.next:]...), r.lines[:r.next]...)
}

func (r *ring) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = line
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
}
