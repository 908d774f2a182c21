package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner/retry"
)

// errUnreachable is an outage that outlasted the run.
var errUnreachable = errors.New("cluster unreachable")

// retryTransient runs fn until it succeeds, fails for good, or the run's
// context ends, retrying with the retry.Transient policy while it fails
// transiently (the API server restarting or out of reach). When the
// context ends during such an outage, the error says the cluster was
// unreachable.
func (r *run) retryTransient(what string, fn func() error) error {
	var first time.Time
	err := retry.Do(r.ctx, retry.Transient, func(attempt int) (bool, error) {
		err := fn()
		if err == nil || !kube.IsTransient(err) {
			if err == nil && attempt > 1 {
				r.log.Info("cluster reachable again", "step", what, "attempts", attempt, "afterSeconds", seconds(time.Since(first)))
			}
			return false, err
		}
		if first.IsZero() {
			first = time.Now()
		}
		r.log.Warn("transient cluster error; retrying", "step", what, "attempt", attempt, "error", r.oneLine(err))
		return true, err
	})
	if stopped, ok := retry.IsStopped(err); ok {
		if r.parent.Err() != nil {
			return r.parent.Err()
		}
		return fmt.Errorf("%w for %s, until the run's timeout: %s", errUnreachable, time.Since(first).Round(time.Second), r.oneLine(stopped.Last))
	}
	return err
}
