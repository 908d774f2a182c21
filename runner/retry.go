package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookrunner/hookrunner/kube"
)

// errUnreachable is an outage that outlasted the run.
var errUnreachable = errors.New("cluster unreachable")

// retryTransient runs fn until it succeeds, fails for good, or the run's
// context ends, backing off from 250 ms to 5 s between attempts that failed
// transiently (the API server restarting or out of reach). When the context
// ends during such an outage, the error says the cluster was unreachable.
func (r *run) retryTransient(what string, fn func() error) error {
	wait := 250 * time.Millisecond
	var first time.Time
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !kube.IsTransient(err) {
			if err == nil && attempt > 1 {
				r.log.Info("cluster reachable again", "step", what, "attempts", attempt, "afterSeconds", seconds(time.Since(first)))
			}
			return err
		}
		if first.IsZero() {
			first = time.Now()
		}
		r.log.Warn("transient cluster error; retrying", "step", what, "attempt", attempt, "error", r.oneLine(err))
		select {
		case <-r.ctx.Done():
			if r.parent.Err() != nil {
				return r.parent.Err()
			}
			return fmt.Errorf("%w for %s, until the run's timeout: %s", errUnreachable, time.Since(first).Round(time.Second), r.oneLine(err))
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
