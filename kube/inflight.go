package kube

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// DefaultMaxInFlight is how many requests of one run may be in flight at
// once unless Options say otherwise.
const DefaultMaxInFlight = 64

// inflight bounds the requests a run has in flight, across every client
// built from the Getters of one Config.
//
// The Helm SDK applies all resources of one kind at once, a goroutine per
// object, and gives each object its own REST client (so its own rate
// limiter: --qps does not bound them). With 3000 ConfigMaps that is 3000
// simultaneous requests: more than one HTTP/2 connection may carry, so Go's
// transport dials a new TLS connection for nearly every one of them (2,500
// connections were seen open at once against the local control plane),
// spending a quarter of the run's CPU on handshakes and slowing the API
// server it shares the machine with. A bounded number of requests over one
// connection is what the API server serves fastest.
//
// It also holds the run's one rate limiter (--qps, --burst-limit) for the
// same clients, which client-go would otherwise give one each. It limits
// in the transport, after the snapshot transport: GETs answered from a
// snapshot never reach the server and cost no token.
//
// Watches and other streams are not bounded: they stay open for the whole
// wait and would hold their slots forever.
type inflight struct {
	slots chan struct{} // nil: unbounded
	rate  *rate.Limiter // nil: no rate limit
	// waiting counts requests waiting for a slot (for tests).
	waiting atomic.Int64
}

// newInflight bounds requests to n in flight (n <= 0: unbounded) and qps
// per second with bursts of burst (qps <= 0: no rate limit).
func newInflight(n int, qps float32, burst int) *inflight {
	f := &inflight{}
	if n > 0 {
		f.slots = make(chan struct{}, n)
	}
	if qps > 0 {
		f.rate = rate.NewLimiter(rate.Limit(qps), max(burst, 1))
	}
	if f.slots == nil && f.rate == nil {
		return nil
	}
	return f
}

func (f *inflight) wrap(next http.RoundTripper) http.RoundTripper {
	if f == nil {
		return next
	}
	return &inflightTransport{next: next, inflight: f}
}

type inflightTransport struct {
	next http.RoundTripper
	*inflight
}

func (t *inflightTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if streams(req) {
		return t.next.RoundTrip(req)
	}
	if t.rate != nil {
		if err := t.rate.Wait(req.Context()); err != nil {
			return nil, err
		}
	}
	if t.slots == nil {
		return t.next.RoundTrip(req)
	}
	t.waiting.Add(1)
	select {
	case t.slots <- struct{}{}:
		t.waiting.Add(-1)
	case <-req.Context().Done():
		t.waiting.Add(-1)
		return nil, req.Context().Err()
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		<-t.slots
		return resp, err
	}
	// The slot is held until the body is read or closed: the request's
	// HTTP/2 stream lives until then.
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { <-t.slots }}
	return resp, nil
}

// streams reports whether a request stays open indefinitely: a watch, or
// a followed log.
func streams(req *http.Request) bool {
	q := req.URL.Query()
	return q.Get("watch") == "true" || q.Get("watch") == "1" || q.Get("follow") == "true"
}

// releasingBody calls release once, at EOF or Close, whichever is first.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.release)
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
