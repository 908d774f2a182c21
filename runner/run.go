// Package runner is hookrunner's one-shot run, as named steps: validate →
// resolve-chart → connect → lock → inspect → act → report. It owns the
// result document, the exit codes, what a signal or a panic does to a run,
// and the scrubbing of secrets from everything a run writes.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner/callback"
	"github.com/hookrunner/hookrunner/runner/redact"
	"k8s.io/client-go/kubernetes"
)

// cleanupBudget bounds the work a run does after its context has ended
// (marking a release failed, releasing the lock, reporting), well inside a
// pod's default 30 s termination grace period.
const cleanupBudget = 8 * time.Second

// run is one invocation: its context, output and the result it builds.
type run struct {
	// parent ends on SIGTERM/SIGINT; ctx also ends at the run's timeout.
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc

	io          IO
	command     string // install or uninstall
	sender      *callback.Sender
	red         *redact.Redactor
	log         *slog.Logger
	helm        *helmTail
	start       time.Time
	resultFile  string
	outputsJSON string
	result      Result
	// hookFailed: the diagnosis found a hook of the release first.
	hookFailed bool
	// events records the outcome once the cluster is reached; pod is this
	// run's own pod (downward API), named in Events only in-cluster.
	events    *kube.Recorder
	custom    kube.CustomReader
	inCluster bool
	pod       kube.Object
	// member: this run is one release of a plan, others may run beside it.
	member bool
}

func newRun(parent context.Context, command string, c Common, o IO) *run {
	red := redact.New()
	log := newLogger(o, red)
	r := &run{
		parent:      parent,
		command:     command,
		io:          o,
		red:         red,
		log:         log,
		helm:        newHelmTail(log),
		start:       time.Now(),
		resultFile:  c.ResultFile,
		outputsJSON: c.OutputsJSON,
		pod:         kube.Object{Kind: "Pod", Namespace: c.PodNamespace, Name: c.PodName},
		result: Result{
			Release: ReleaseInfo{Name: c.Release, Namespace: c.Namespace},
			Outputs: map[string]string{},
			Steps:   []StepTiming{},
		},
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = time.Hour // invalid, but validate reports it; never a zero deadline
	}
	r.ctx, r.cancel = context.WithTimeout(parent, timeout)
	return r
}

// loadKube loads the kubeconfig and learns its credentials as secrets.
func (r *run) loadKube(opts kube.Options, namespace string) (*kube.Config, error) {
	kc, err := kube.Load(opts, namespace)
	if err != nil {
		return nil, err
	}
	r.red.Add(kc.Secrets()...)
	return kc, nil
}

// lock takes the release's Lease as the "lock" step; the returned function
// releases it, even after the run's context ended.
func (r *run) lock(client kubernetes.Interface, c Common) (func(), error) {
	var lock *kube.Lock
	if err := r.step("lock", ExitCluster, func() (err error) {
		lock, err = kube.AcquireLock(r.ctx, client, c.Namespace, c.Release, kube.HolderIdentity(), r.log)
		return err
	}); err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := r.cleanupContext()
		defer cancel()
		if err := lock.Release(ctx); err != nil {
			r.log.Warn("could not release the lock; it expires by itself", "error", err)
		}
	}, nil
}

// cleanupContext is for work that must happen even after the run's context
// ended.
func (r *run) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.parent), cleanupBudget)
}

// step runs one named step, records and logs its duration, and turns its
// error into an *Error with the right exit code (code unless the cause says
// more) and a one-line message free of secrets.
func (r *run) step(name string, code int, fn func() error) error {
	t0 := time.Now()
	err := fn()
	secs := seconds(time.Since(t0))
	r.result.Steps = append(r.result.Steps, StepTiming{Name: name, Seconds: secs})
	if err == nil {
		r.log.Info("step done", "step", name, "seconds", secs)
		return nil
	}
	var inner *Error
	if errors.As(err, &inner) {
		return err // a nested step already reported it
	}
	e := &Error{Step: name, Code: classify(r.parent, code, err), Err: err, msg: r.oneLine(err)}
	if e.Code == ExitInterrupted {
		e.msg = "interrupted by signal: " + e.msg
	}
	if kube.IsTransient(err) && r.ctx.Err() == nil {
		r.log.Warn("step failed with a transient error", "step", name, "seconds", secs, "error", e.msg)
	} else {
		r.log.Error("step failed", "step", name, "seconds", secs, "exitCode", e.Code, "error", e.msg)
	}
	return e
}

// oneLine renders err as one scrubbed line.
func (r *run) oneLine(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	return r.red.String(msg)
}

// finish completes the result document, writes it, and returns the error
// the process exits with.
func (r *run) finish(err error) error {
	defer r.cancel()
	e := r.conclude(err)
	if e != nil {
		err = e
	}
	r.recordOutcome()
	// The files first: if the pod dies while the callback retries, the
	// termination log and result file still tell what happened.
	if r.sender != nil {
		if werr := r.result.write(r.io, r.red, r.resultFile, false); werr != nil {
			r.log.Error("writing the result failed", "error", werr)
		}
	}
	if cerr := r.report(); cerr != nil && err == nil {
		// The release is fine, but whoever waits on it was not told:
		// that must fail the Job.
		err = cerr
		r.result.ExitCode = cerr.Code
		r.result.ReasonCode = ReasonCallbackFailed
	}
	if werr := r.result.write(r.io, r.red, r.resultFile, true); werr != nil {
		r.log.Error("writing the result failed", "error", werr)
	}
	if werr := r.result.writeOutputs(r.red, r.outputsJSON); werr != nil {
		r.log.Error("writing the outputs failed", "error", werr)
	}
	r.log.Info("run finished", "status", r.result.Status, "action", r.result.Action, "exitCode", r.result.ExitCode, "seconds", r.result.DurationSeconds)
	return err
}

// conclude completes the result's status, exit code, reason and reason
// code from the run's error, and returns that error as an *Error (nil on
// success).
func (r *run) conclude(err error) *Error {
	r.result.DurationSeconds = seconds(time.Since(r.start))
	var e *Error
	switch {
	case err == nil:
		r.result.Status = StatusSuccess
	case errors.As(err, &e):
	default:
		e = &Error{Step: "run", Code: ExitInternal, Err: err, msg: r.oneLine(err)}
	}
	if e != nil {
		r.result.Status = StatusFailure
		r.result.ExitCode = e.Code
		if len(r.result.Diagnosis) > 0 && (e.Code == ExitAction || e.Code == ExitTimeout) {
			// The likeliest cause first, then what Helm said.
			e.msg = r.red.String(r.result.Diagnosis[0].String()) + "; " + e.Error()[len(e.Step)+2:]
		}
		r.result.Reason = clipReason(e.Error())
		if lines := r.helm.Lines(); len(lines) > 0 && e.Code == ExitAction {
			r.log.Error("last Helm log lines before the failure", "lines", strings.Join(lines, "\n"))
		}
	}
	r.result.ReasonCode = reasonCode(r.result.Action, e, r.hookFailed, len(r.result.Drift) > 0)
	return e
}

// setupCallback validates the callback settings first of all, so that every
// later failure, bad input included, can still be reported.
func (r *run) setupCallback(cfg callback.Config, c Common) error {
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s.%s.%s", c.Namespace, c.Release, r.command)
	}
	s, err := callback.New(cfg)
	if err != nil {
		return err
	}
	if s != nil {
		r.red.Add(s.Secrets()...)
		r.sender = s
	}
	return nil
}

// report sends the result to the callback, if one is set. A run cut short
// by a signal has only the pod's grace period left, so it gets a short
// budget.
func (r *run) report() *Error {
	if r.sender == nil {
		return nil
	}
	budget := callback.DefaultBudget
	if r.parent.Err() != nil {
		budget = cleanupBudget
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.parent), budget)
	defer cancel()
	scrubbed := r.result.scrubbed(r.red)
	doc, _ := json.Marshal(scrubbed)
	t0 := time.Now()
	d, err := r.sender.Send(ctx, callback.Signal{
		Success:  r.result.Status == StatusSuccess,
		Reason:   scrubbed.Reason,
		Outputs:  r.result.Outputs,
		Document: doc,
	})
	info := &CallbackInfo{Format: r.sender.Format(), ID: r.sender.ID(), Delivered: err == nil, Attempts: d.Attempts, HTTPStatus: d.Status}
	r.result.Callback = info
	if err != nil {
		info.Error = r.oneLine(err)
		r.log.Error("callback not delivered", "format", info.Format, "id", info.ID, "attempts", d.Attempts, "error", info.Error)
		return &Error{Step: "report", Code: ExitCallback, Err: err, msg: info.Error}
	}
	r.log.Info("callback delivered", "format", info.Format, "id", info.ID, "status", r.result.Status, "attempts", d.Attempts, "seconds", seconds(time.Since(t0)))
	return nil
}

// recoverPanic turns a panic in the run's own goroutine into a reported
// FAILURE with ExitInternal; the stack goes to the debug log only.
func (r *run) recoverPanic(errp *error) {
	p := recover()
	if p == nil {
		return
	}
	r.log.Debug("panic", "stack", string(debug.Stack()))
	*errp = r.finish(&Error{Step: "internal", Code: ExitInternal, Err: fmt.Errorf("panic: %v", p), msg: r.oneLine(fmt.Errorf("panic: %v (a bug: please report it)", p))})
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// ReportBadInput reports a command line that did not parse: a FAILURE
// result document with ExitBadInput, and a FAILURE callback when cb (read
// from the environment by the caller) is usable. It returns the error to
// exit with.
func ReportBadInput(command string, err error, c Common, cb callback.Config, o IO) error {
	if command != "uninstall" {
		command = "install"
	}
	r := newRun(context.Background(), command, c, o)
	if cerr := r.setupCallback(cb, c); cerr != nil {
		r.log.Warn("no callback: its settings are invalid too", "error", r.oneLine(cerr))
	}
	return r.finish(&Error{Step: "parse", Code: ExitBadInput, Err: err, msg: r.oneLine(err)})
}
