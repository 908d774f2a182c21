package runner

import (
	"context"
	"errors"
	"net"
	"net/url"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/images"
	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner/callback"
	"github.com/hookrunner/hookrunner/runner/postrender"
)

// Exit codes: a closed set, each a row of the README's table. A run ends
// with exactly one of them, and its result document says which.
const (
	// ExitOK: the release is in the state asked for.
	ExitOK = 0
	// ExitInternal: an unexpected error or a recovered panic; a bug.
	ExitInternal = 1
	// ExitBadInput: a flag, argument, kubeconfig, values input or chart
	// constraint (kubeVersion, values schema) is wrong; nothing was changed.
	ExitBadInput = 2
	// ExitChart: the chart could not be found, fetched or loaded, or its
	// digest differs from --chart-digest.
	ExitChart = 3
	// ExitCluster: the cluster is unreachable, or refused a request
	// (unauthorized, forbidden).
	ExitCluster = 4
	// ExitAction: the install, upgrade or uninstall failed, or the outputs
	// could not be rendered after it.
	ExitAction = 5
	// ExitTimeout: --timeout (or a wait condition's own timeout) passed
	// before the release was ready.
	ExitTimeout = 6
	// ExitCallback: the run succeeded but its callback could not be
	// delivered.
	ExitCallback = 7
	// ExitInterrupted: SIGTERM or SIGINT ended the run; the release was
	// left failed, never pending.
	ExitInterrupted = 8
)

// Error is a failed run: the step that failed, the exit code, and the
// cause. Its message is one line free of secrets; the cause stays
// reachable for errors.Is and errors.As.
type Error struct {
	Step string
	Code int
	Err  error
	// msg is the scrubbed one-line message; the cause's own when empty.
	msg string
}

func (e *Error) Error() string {
	if e.msg != "" {
		return e.Step + ": " + e.msg
	}
	return e.Step + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the process exit code; kong honours it.
func (e *Error) ExitCode() int { return e.Code }

// errInvalidSpec marks a flag or argument that is wrong on its own.
var errInvalidSpec = errors.New("invalid input")

// classify picks the exit code of err raised in a step whose failures are
// code by default; causes that say more than the step win.
func classify(ctx context.Context, code int, err error) int {
	var (
		netErr net.Error
		urlErr *url.Error
		status apierrors.APIStatus
	)
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return ExitInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	case errors.Is(err, errInvalidSpec), errors.Is(err, errReleaseTooLarge), errors.Is(err, kube.ErrInvalidKubeconfig), errors.Is(err, kube.ErrInvalidCondition), errors.Is(err, kube.ErrInvalidIgnore),
		errors.Is(err, chart.ErrInvalidSource), errors.Is(err, chart.ErrInvalidValues), errors.Is(err, callback.ErrInvalid),
		errors.Is(err, images.ErrInvalid), errors.Is(err, postrender.ErrInvalid):
		return ExitBadInput
	case errors.Is(err, errUnreachable):
		return ExitCluster
	case errors.Is(err, chart.ErrUnavailable), errors.Is(err, chart.ErrDigestMismatch), errors.Is(err, chart.ErrUnverified):
		return ExitChart
	case errors.As(err, &status) && (apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)):
		return ExitCluster
	case code != ExitChart && (errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.Is(err, syscall.ECONNREFUSED)):
		return ExitCluster
	}
	return code
}
