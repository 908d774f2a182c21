package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	cases := map[string]struct {
		p    Policy
		want []time.Duration // after attempts 1, 2, …
	}{
		"transient": {Transient, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		"poll":      {Poll, []time.Duration{500 * time.Millisecond, 500 * time.Millisecond}},
		"settle":    {Settle, []time.Duration{200 * time.Millisecond, 200 * time.Millisecond}},
		"zero":      {Policy{}, []time.Duration{0, 0}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for i, want := range tc.want {
				if got := tc.p.Delay(i + 1); got != want {
					t.Errorf("Delay(%d) = %v, want %v", i+1, got, want)
				}
			}
		})
	}
}

// Jittered waits stay under the ceiling the unjittered policy gives.
func TestDelayJitterBounded(t *testing.T) {
	ceiling := Delivery
	ceiling.Jitter = false
	for n := 1; n <= 10; n++ {
		for range 50 {
			if got := Delivery.Delay(n); got < 0 || got >= ceiling.Delay(n) {
				t.Fatalf("Delay(%d) = %v, want in [0, %v)", n, got, ceiling.Delay(n))
			}
		}
	}
}

var errFlaky = errors.New("flaky")

func TestDo(t *testing.T) {
	fast := Policy{First: time.Microsecond, Max: time.Microsecond}
	cases := map[string]struct {
		failures int   // attempts that ask for another
		final    error // what the last attempt returns
		attempts int
	}{
		"first-time":       {0, nil, 1},
		"after-three":      {3, nil, 4},
		"permanent-error":  {0, errFlaky, 1},
		"fails-for-good-2": {2, errFlaky, 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			calls := 0
			err := Do(context.Background(), fast, func(n int) (bool, error) {
				calls++
				if n != calls {
					t.Errorf("attempt %d reported as %d", calls, n)
				}
				if calls <= tc.failures {
					return true, errFlaky
				}
				return false, tc.final
			})
			if !errors.Is(err, tc.final) || (tc.final == nil) != (err == nil) {
				t.Errorf("Do = %v, want %v", err, tc.final)
			}
			if calls != tc.attempts {
				t.Errorf("%d attempts, want %d", calls, tc.attempts)
			}
		})
	}
}

func TestDoStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Do(ctx, Policy{First: time.Hour, Max: time.Hour}, func(int) (bool, error) {
		calls++
		cancel()
		return true, errFlaky
	})
	s, ok := IsStopped(err)
	if !ok || s.Attempts != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, errFlaky) {
		t.Fatalf("Do = %#v, want Stopped after 1 attempt with Canceled and the last error", err)
	}
	if calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
}

// A deadline that falls before the next attempt stops the loop at once
// rather than sleeping into it.
func TestDoStopsBeforeADeadlineItCannotMeet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err := Do(ctx, Policy{First: 2 * time.Hour, Max: 2 * time.Hour}, func(int) (bool, error) { return true, errFlaky })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errFlaky) {
		t.Fatalf("Do = %v, want DeadlineExceeded wrapping the last error", err)
	}
}
