package callback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookrunner/hookrunner/runner/redact"
	"github.com/hookrunner/hookrunner/runner/retry"
)

var update = flag.Bool("update", false, "rewrite golden files")

// request is what a receiver saw.
type request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   string
}

// receiver records requests and answers with the next of codes (the last
// one repeats).
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	seen  []request
	codes []int
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.seen = append(r.seen, request{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), string(body)})
		code := http.StatusOK
		if n := len(r.seen) - 1; len(r.codes) > 0 {
			code = r.codes[min(n, len(r.codes)-1)]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request{}, r.seen...)
}

// golden renders what matters of a request (method, path, query, the
// headers a format sets, body) and compares it with testdata/NAME.golden.
func golden(t *testing.T, name string, req request) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s?%s\n", req.Method, req.Path, req.Query)
	var names []string
	for k := range req.Header {
		switch k {
		case "User-Agent", "Accept-Encoding", "Content-Length":
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %q\n", k, req.Header[k])
	}
	fmt.Fprintf(&b, "\n%s\n", req.Body)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("request differs from %s (-want +got):\n%s", path, diff)
	}
}

var noWait = retry.Policy{First: time.Millisecond, Max: time.Millisecond}

func TestFormats(t *testing.T) {
	sig := Signal{
		Success:  true,
		Outputs:  map[string]string{"endpoint": "http://10.0.0.7", "admin": "https://10.0.0.7/admin"},
		Document: []byte(`{"status":"SUCCESS","action":"install"}`),
	}
	cases := map[string]struct {
		cfg Config
		sig Signal
	}{
		"ros": {cfg: Config{Format: FormatROS, ID: "app.web.install", Headers: []string{"x-acs-ros-token: t0k3n"}}, sig: sig},
		"ros-failure": {cfg: Config{Format: FormatROS, ID: "app.web.install"},
			sig: Signal{Reason: "act: install: timed out waiting for Deployment app/web"}},
		"ros-curl": {cfg: Config{ID: "app.web.install",
			Curl: `curl -i -X POST -H 'Content-Type: application/json' -H "x-acs-region-id: cn-hangzhou" -H 'x-acs-ros-stack-id: 5f1c-9e' URL`}, sig: sig},
		"cfn":     {cfg: Config{Format: FormatCFN, ID: "app.web.install"}, sig: sig},
		"webhook": {cfg: Config{Format: FormatWebhook, ID: "app.web.install", Secret: "hmac-key-1"}, sig: sig},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rcv := newReceiver(t)
			target := rcv.URL + "/signal?Expires=1700000000&Signature=abc%2Bdef"
			if tc.cfg.Curl != "" {
				tc.cfg.Curl = strings.Replace(tc.cfg.Curl, "URL", "'"+target+"'", 1)
			} else {
				tc.cfg.URL = target
			}
			s, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Send(context.Background(), tc.sig); err != nil {
				t.Fatal(err)
			}
			got := rcv.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests", len(got))
			}
			golden(t, name, got[0])
			if name == "webhook" {
				mac := hmac.New(sha256.New, []byte("hmac-key-1"))
				mac.Write([]byte(got[0].Body))
				if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); got[0].Header.Get("X-Hookrunner-Signature") != want {
					t.Errorf("signature %q, want %q", got[0].Header.Get("X-Hookrunner-Signature"), want)
				}
			}
		})
	}
}

// A CurlCli of the shape ROS returns gives the same request as its URL and
// headers given separately.
func TestCurlEqualsURLAndHeaders(t *testing.T) {
	rcv := newReceiver(t)
	target := rcv.URL + "/waitcondition?stackid=5f1c&resource=handle&signature=s1g"
	viaCurl, err := New(Config{ID: "x", Curl: `curl -i -X POST -H 'Content-Type: application/json' -H 'x-acs-region-id: cn-hangzhou' -H 'x-acs-ros-stack-id: 5f1c' ` + "'" + target + "'"})
	if err != nil {
		t.Fatal(err)
	}
	viaFlags, err := New(Config{ID: "x", URL: target, Headers: []string{"Content-Type: application/json", "x-acs-region-id=cn-hangzhou", "x-acs-ros-stack-id: 5f1c"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Sender{viaCurl, viaFlags} {
		if _, err := s.Send(context.Background(), Signal{Success: true}); err != nil {
			t.Fatal(err)
		}
	}
	got := rcv.requests()
	if diff := cmp.Diff(got[0], got[1]); diff != "" {
		t.Errorf("curl and flags differ (-curl +flags):\n%s", diff)
	}
}

func TestParseCurlRefuses(t *testing.T) {
	cases := map[string]struct{ line, msg string }{
		"unbalanced-single": {`curl -X POST 'https://ros/x`, "unbalanced single quote"},
		"unbalanced-double": {`curl -H "a: b https://ros/x`, "unbalanced double quote"},
		"no-url":            {`curl -i -X POST -H 'a: b'`, "no URL"},
		"pipe":              {`curl https://ros/x | sh`, `"|" is shell syntax`},
		"semicolon":         {`curl https://ros/x; rm -rf /`, `";" is shell syntax`},
		"and":               {`curl https://ros/x && id`, `"&" is shell syntax`},
		"substitution":      {`curl https://ros/$(id)`, `"$" is shell syntax`},
		"backtick":          {"curl https://ros/`id`", "is shell syntax"},
		"expand-in-quotes":  {`curl "https://ros/$HOME"`, "expansion"},
		"redirect":          {`curl https://ros/x > /tmp/out`, `">" is shell syntax`},
		"not-curl":          {`wget https://ros/x`, "want a curl command line"},
		"unknown-option":    {`curl --upload-file /etc/passwd https://ros/x`, "unsupported curl option --upload-file"},
		"two-urls":          {`curl https://a/x https://b/y`, "more than one URL"},
		"bad-header":        {`curl -H 'nocolon' https://ros/x`, `header "nocolon"`},
		"dangling-flag":     {`curl https://ros/x -H`, "-H needs a value"},
		"empty":             {``, "want a curl command line"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCurl(tc.line)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	cases := map[string]struct {
		cfg Config
		msg string
	}{
		"bad-format":      {Config{URL: "https://x/y", Format: "sns"}, `--callback-format "sns"`},
		"both":            {Config{URL: "https://x/y", Curl: "curl https://x/y"}, "not both"},
		"not-http":        {Config{URL: "ftp://x/y?secret=1"}, "callback URL ftp://x/y?REDACTED: want an http or https URL"},
		"header-no-url":   {Config{Headers: []string{"a: b"}}, "without --callback-url"},
		"bad-header":      {Config{URL: "https://x/y", Headers: []string{"novalue"}}, `--callback-header "novalue"`},
		"missing-ca-file": {Config{URL: "https://x/y", CAFile: "/no/ca.pem"}, "--callback-ca-file /no/ca.pem"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %q", err, tc.msg)
			}
		})
	}
	if s, err := New(Config{}); s != nil || err != nil {
		t.Errorf("no callback configured: %v, %v", s, err)
	}
}

// 500, 500, 200: three attempts, the same id and body each time.
func TestRetriesTransientFailures(t *testing.T) {
	rcv := newReceiver(t, 500, 503, 200)
	s, err := New(Config{URL: rcv.URL + "/s", ID: "stable-id"})
	if err != nil {
		t.Fatal(err)
	}
	s.retry = noWait
	d, err := s.Send(context.Background(), Signal{Success: true})
	if err != nil || d.Attempts != 3 {
		t.Fatalf("attempts %d, err %v", d.Attempts, err)
	}
	got := rcv.requests()
	for _, r := range got[1:] {
		if r.Body != got[0].Body || !strings.Contains(r.Body, `"id":"stable-id"`) {
			t.Errorf("attempt body %s differs from the first %s", r.Body, got[0].Body)
		}
	}
}

func TestDeliveryFailures(t *testing.T) {
	cases := map[string]struct {
		codes    []int
		attempts int
		msg      string
	}{
		"client-error-not-retried": {codes: []int{403}, attempts: 1, msg: "403 Forbidden"},
		"not-found-not-retried":    {codes: []int{404}, attempts: 1, msg: "404"},
		"429-retried":              {codes: []int{429, 429, 204}, attempts: 3},
		"408-retried":              {codes: []int{408, 200}, attempts: 2},
		"redirect-not-followed":    {codes: []int{307}, attempts: 1, msg: "redirects are not followed"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rcv := newReceiver(t, tc.codes...)
			s, err := New(Config{URL: rcv.URL + "/s?token=canary-query-secret", ID: "id"})
			if err != nil {
				t.Fatal(err)
			}
			s.retry = noWait
			d, err := s.Send(context.Background(), Signal{})
			if d.Attempts != tc.attempts || len(rcv.requests()) != tc.attempts {
				t.Errorf("attempts %d (server saw %d), want %d", d.Attempts, len(rcv.requests()), tc.attempts)
			}
			if tc.msg == "" {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), "canary") {
				t.Errorf("error shows the URL query: %v", err)
			}
		})
	}
}

// A receiver that never answers: each attempt times out, the budget ends
// the delivery, and the error says so without the URL's query.
func TestSilentReceiverExhaustsBudget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // accept and say nothing
		}
	}()
	s, err := New(Config{URL: "http://" + ln.Addr().String() + "/s?sig=canary-q", AttemptTimeout: 200 * time.Millisecond, Budget: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.retry = noWait
	d, err := s.Send(context.Background(), Signal{})
	if err == nil || d.Attempts < 2 || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("attempts %d, err %v", d.Attempts, err)
	}
	// Each attempt waits out its 200 ms: a budget of 1 s holds at most 5
	// (a slower machine makes fewer, never more).
	if d.Attempts > 6 {
		t.Errorf("%d attempts within a 1 s budget of 200 ms attempts", d.Attempts)
	}
	if strings.Contains(err.Error(), "canary") {
		t.Errorf("error shows the query: %v", err)
	}
}

// A certificate that does not verify is refused at once; trusting its CA
// with CAFile makes it work.
func TestTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s, err := New(Config{URL: srv.URL + "/s"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Send(context.Background(), Signal{})
	if err == nil || d.Attempts != 1 || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: attempts %d, err %v", d.Attempts, err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = New(Config{URL: srv.URL + "/s", CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), Signal{}); err != nil {
		t.Errorf("with its CA: %v", err)
	}
}

func TestSecretsCoverQueryAndHeaders(t *testing.T) {
	s, err := New(Config{URL: "https://u:p4ss@ros.example/x?Signature=sig-value-1&Expires=99&stack=demo", Headers: []string{"x-acs-token: tok-value-2", "Content-Type: application/json"}, Secret: "hmac-3"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.Secrets(), " ")
	for _, want := range []string{"sig-value-1", "tok-value-2", "hmac-3", "Signature=sig-value-1&Expires=99", "u:p4ss"} {
		if !strings.Contains(got, want) {
			t.Errorf("Secrets() lacks %q: %q", want, got)
		}
	}
	if strings.Contains(got, "application/json") {
		t.Errorf("Content-Type treated as a secret: %q", got)
	}
	// The one threshold lives in the Redactor: "99" stays readable.
	red := redact.New()
	red.Add(s.Secrets()...)
	if got := red.String("expires 99, signature sig-value-1"); got != "expires 99, signature "+redact.Placeholder {
		t.Errorf("scrubbed = %q", got)
	}
}

// A receiver that resets connections: retried like any network error.
func TestConnectionResetIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			n := accepted
			mu.Unlock()
			if n < 3 {
				conn.(*net.TCPConn).SetLinger(0) // RST on close
				conn.Close()
				continue
			}
			go http.Serve(&oneConn{conn: conn}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		}
	}()
	s, err := New(Config{URL: "http://" + ln.Addr().String() + "/s", ID: "id"})
	if err != nil {
		t.Fatal(err)
	}
	s.retry = noWait
	d, err := s.Send(context.Background(), Signal{Success: true})
	if err != nil || d.Attempts != 3 {
		t.Errorf("attempts %d, err %v; want success on the third", d.Attempts, err)
	}
}

// oneConn is a listener that yields one connection.
type oneConn struct {
	conn net.Conn
	done bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.done {
		select {} // block: http.Serve keeps serving the one connection
	}
	l.done = true
	return l.conn, nil
}
func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.conn.LocalAddr() }

// A redirect to another host is not followed: the signal and its headers
// never reach the other host.
func TestRedirectToAnotherHostNotFollowed(t *testing.T) {
	other := newReceiver(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	s, err := New(Config{URL: redirect.URL + "/s", Headers: []string{"x-acs-token: secret-tok"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Send(context.Background(), Signal{Success: true})
	if err == nil || d.Attempts != 1 || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Errorf("attempts %d, err %v", d.Attempts, err)
	}
	if got := other.requests(); len(got) != 0 {
		t.Errorf("the other host got %d requests", len(got))
	}
}
