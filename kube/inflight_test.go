package kube

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingTransport answers after release is closed, counting the requests
// it holds at once.
type countingTransport struct {
	now, peak atomic.Int32
	release   chan struct{}
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	n := c.now.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-c.release
	c.now.Add(-1)
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

func get(t *testing.T, rt http.RoundTripper, url string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Error(err)
		return
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
}

func TestInflightBoundsConcurrentRequests(t *testing.T) {
	base := &countingTransport{release: make(chan struct{})}
	f := newInflight(4, 0, 0)
	rt := f.wrap(base)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, rt, "https://k/api/v1/namespaces/a/configmaps/x") }()
	}
	// Every request is either in the transport or parked at the bound:
	// once 46 are parked, exactly 4 are in flight.
	deadline := time.Now().Add(time.Minute) // a hang guard, not a latency bound
	for f.waiting.Load() < 46 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := f.waiting.Load(); n != 46 {
		t.Fatalf("%d requests waiting for a slot, want 46", n)
	}
	if n := base.now.Load(); n != 4 {
		t.Errorf("%d requests in flight while 46 wait, want 4", n)
	}
	close(base.release)
	wg.Wait()
	if p := base.peak.Load(); p != 4 {
		t.Errorf("peak in flight %d, want 4", p)
	}
}

func TestInflightDoesNotCountWatches(t *testing.T) {
	base := &countingTransport{release: make(chan struct{})}
	rt := newInflight(1, 0, 0).wrap(base)
	var wg sync.WaitGroup
	for _, q := range []string{"?watch=true", "?watch=1", "?follow=true"} {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, rt, "https://k/api/v1/namespaces/a/configmaps"+q) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for base.now.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := base.now.Load(); n != 3 {
		t.Errorf("%d streams in flight with a limit of 1, want all 3", n)
	}
	close(base.release)
	wg.Wait()
}

func TestInflightReleasesAtBodyEOFOrClose(t *testing.T) {
	base := &countingTransport{release: make(chan struct{})}
	close(base.release)
	f := newInflight(1, 0, 0)
	rt := f.wrap(base)
	req, _ := http.NewRequest(http.MethodGet, "https://k/api", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.slots) != 1 {
		t.Fatalf("slot released before the body was read")
	}
	_, _ = io.ReadAll(resp.Body) // EOF releases
	if len(f.slots) != 0 {
		t.Fatalf("slot held after EOF")
	}
	resp.Body.Close() // and a later Close does not release twice
	if len(f.slots) != 0 {
		t.Fatalf("slot count %d after Close", len(f.slots))
	}
	resp, _ = rt.RoundTrip(req)
	resp.Body.Close() // Close without reading releases too
	if len(f.slots) != 0 {
		t.Fatalf("slot held after Close")
	}
}

func TestInflightWaitEndsWithContext(t *testing.T) {
	base := &countingTransport{release: make(chan struct{})}
	rt := newInflight(1, 0, 0).wrap(base)
	go get(t, rt, "https://k/api") // holds the only slot
	for base.now.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://k/api", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's deadline", err)
	}
	close(base.release)
}

func TestInflightUnbounded(t *testing.T) {
	base := http.DefaultTransport
	if got := newInflight(-1, 0, 0).wrap(base); got != base {
		t.Errorf("a negative limit wrapped the transport")
	}
}

func TestInflightSharesOneRateLimit(t *testing.T) {
	base := &countingTransport{release: make(chan struct{})}
	close(base.release)
	// One token, and the next in 1000 s: a request that must wait for a
	// token fails at once against a 10 s deadline (the limiter knows it
	// would exceed it), so nothing here depends on timing.
	f := newInflight(0, 0.001, 1)
	// Two transports of one inflight, as two clients of a run would have.
	a, b := f.wrap(base), f.wrap(base)
	roundTrip := func(rt http.RoundTripper, url string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := roundTrip(a, "https://k/api"); err != nil {
		t.Fatalf("first request: %v", err)
	}
	if err := roundTrip(b, "https://k/api"); err == nil {
		t.Errorf("a second client's request got a token the first had spent: the limit is not shared")
	}
	if err := roundTrip(a, "https://k/api?watch=true"); err != nil {
		t.Errorf("a watch waited for a token: %v", err)
	}
}
