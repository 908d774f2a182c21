// Package retry is the one retry loop of hookrunner. Each caller keeps its
// own policy as data (how long to wait before each next attempt) and
// decides after each attempt whether another one is worth it; the loop
// owns the waiting, the context and the deadline. It imports nothing of
// the project, so every package may use it.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy says how long to wait between attempts: First after the first
// attempt, doubling up to Max. With Jitter each wait is drawn uniformly
// from zero to that ceiling ("full jitter"), so many clients retrying one
// receiver spread out.
type Policy struct {
	First  time.Duration
	Max    time.Duration
	Jitter bool
}

// The policies hookrunner uses.
var (
	// Transient: cluster calls during an API server outage.
	Transient = Policy{First: 250 * time.Millisecond, Max: 5 * time.Second}
	// Delivery: callback deliveries, many runners possibly signalling one
	// receiver at once.
	Delivery = Policy{First: 500 * time.Millisecond, Max: 8 * time.Second, Jitter: true}
	// Poll: waiting for something another process holds (a lock).
	Poll = Policy{First: 500 * time.Millisecond, Max: 500 * time.Millisecond}
	// Settle: rewriting a record until the write lands.
	Settle = Policy{First: 200 * time.Millisecond, Max: 200 * time.Millisecond}
)

// Delay is the wait after attempt n (1-based).
func (p Policy) Delay(n int) time.Duration {
	d := p.First
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if p.Jitter && d > 0 {
		return time.Duration(rand.Int64N(int64(d)))
	}
	return d
}

// Stopped is returned when the context ended, or its deadline would pass
// before the next attempt, while fn still asked for another attempt.
type Stopped struct {
	Attempts int
	Last     error // fn's last error, nil when it had none
	Cause    error // the context's error
}

func (e *Stopped) Error() string {
	if e.Last == nil {
		return fmt.Sprintf("stopped after %d attempt(s): %v", e.Attempts, e.Cause)
	}
	return fmt.Sprintf("stopped after %d attempt(s): %v: %v", e.Attempts, e.Cause, e.Last)
}

// Unwrap lets errors.Is see both the context's error and fn's.
func (e *Stopped) Unwrap() []error { return []error{e.Cause, e.Last} }

// Do calls fn with attempt numbers 1, 2, … until fn says not to try again,
// and returns fn's error then. Between attempts it waits as p says. When
// ctx ends first, or its deadline falls before the next attempt, it
// returns a *Stopped.
func Do(ctx context.Context, p Policy, fn func(attempt int) (again bool, err error)) error {
	for attempt := 1; ; attempt++ {
		again, err := fn(attempt)
		if !again {
			return err
		}
		wait := p.Delay(attempt)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return &Stopped{Attempts: attempt, Last: err, Cause: context.DeadlineExceeded}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &Stopped{Attempts: attempt, Last: err, Cause: ctx.Err()}
		case <-t.C:
		}
	}
}

// IsStopped reports whether err is a *Stopped, and returns it.
func IsStopped(err error) (*Stopped, bool) {
	var s *Stopped
	ok := errors.As(err, &s)
	return s, ok
}
