// Package callback reports a run's result to whoever waits on it: an Alibaba
// ROS WaitConditionHandle, an AWS CloudFormation WaitConditionHandle, or a
// plain webhook. Delivery retries with capped, jittered exponential backoff
// on network errors, 408, 429 and 5xx, with the same id on every attempt.
// The URL's query and the headers are secrets: they never appear in errors.
package callback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hookrunner/hookrunner/runner/redact"
	"github.com/hookrunner/hookrunner/runner/retry"
)

// Formats.
const (
	FormatROS     = "ros"
	FormatCFN     = "cfn"
	FormatWebhook = "webhook"
)

// Config are the callback settings as given.
type Config struct {
	Format string
	URL    string
	// Curl is a curl command line (a ROS CurlCli) giving URL, method and
	// headers; it replaces URL.
	Curl string
	// Headers are "Name: value" or "Name=value" entries added to the request.
	Headers []string
	// ID identifies the signal; the same on every attempt.
	ID string
	// Secret signs webhook bodies (X-Hookrunner-Signature: sha256=<hmac>).
	Secret string
	// CAFile trusts an extra CA for the callback endpoint.
	CAFile string
	// AttemptTimeout bounds one request; Budget bounds all attempts.
	AttemptTimeout time.Duration
	Budget         time.Duration
}

// Defaults for delivery.
const (
	DefaultAttemptTimeout = 10 * time.Second
	DefaultBudget         = 2 * time.Minute
)

// Sender delivers callbacks for one run.
type Sender struct {
	format  string
	method  string
	url     *url.URL
	header  http.Header
	id      string
	secret  string
	client  *http.Client
	attempt time.Duration
	budget  time.Duration
	secrets []string
	retry   retry.Policy
}

// New validates cfg and returns its Sender; a nil Sender (and no error)
// when no callback is configured.
func New(cfg Config) (*Sender, error) {
	if cfg.URL == "" && cfg.Curl == "" {
		if cfg.Format != "" && cfg.Format != FormatROS || len(cfg.Headers) > 0 || cfg.Secret != "" {
			return nil, fmt.Errorf("%w: callback settings given without --callback-url or --callback-curl", ErrInvalid)
		}
		return nil, nil
	}
	s := &Sender{
		format:  cfg.Format,
		header:  http.Header{},
		id:      cfg.ID,
		secret:  cfg.Secret,
		attempt: cfg.AttemptTimeout,
		budget:  cfg.Budget,
		retry:   retry.Delivery,
	}
	if s.format == "" {
		s.format = FormatROS
	}
	switch s.format {
	case FormatROS:
		s.method = http.MethodPost
	case FormatCFN:
		s.method = http.MethodPut
	case FormatWebhook:
		s.method = http.MethodPost
	default:
		return nil, fmt.Errorf("%w: --callback-format %q: want ros, cfn or webhook", ErrInvalid, cfg.Format)
	}
	raw := cfg.URL
	insecure := false
	if cfg.Curl != "" {
		if cfg.URL != "" {
			return nil, fmt.Errorf("%w: give --callback-url or --callback-curl, not both", ErrInvalid)
		}
		c, err := ParseCurl(cfg.Curl)
		if err != nil {
			return nil, err
		}
		raw, insecure, s.header = c.URL, c.Insecure, c.Header
		if c.Method != "" {
			s.method = c.Method
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: callback URL %s: want an http or https URL", ErrInvalid, redact.URL(raw))
	}
	s.url = u
	for _, h := range cfg.Headers {
		name, value, ok := cutHeader(h)
		if !ok {
			return nil, fmt.Errorf("%w: --callback-header %q: want Name: value or Name=value", ErrInvalid, name)
		}
		s.header.Set(name, value)
	}
	if s.attempt <= 0 {
		s.attempt = DefaultAttemptTimeout
	}
	if s.budget <= 0 {
		s.budget = DefaultBudget
	}
	tlsConf := &tls.Config{InsecureSkipVerify: insecure} //nolint:gosec // only when the curl line says -k
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --callback-ca-file %s: %v", ErrInvalid, cfg.CAFile, errors.Unwrap(err))
		}
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: --callback-ca-file %s holds no PEM certificate", ErrInvalid, cfg.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	s.client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: tlsConf, Proxy: http.ProxyFromEnvironment},
		// A redirect would carry the signal (and its headers) elsewhere:
		// never follow one; a 3xx is a failed delivery.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.secrets = append(s.secrets, cfg.Secret, u.RawQuery, u.User.String())
	for _, vals := range u.Query() {
		for _, v := range vals {
			// The Redactor ignores values shorter than redact.MinLen.
			s.secrets = append(s.secrets, v)
		}
	}
	for name, vals := range s.header {
		if name != "Content-Type" && name != "Accept" {
			s.secrets = append(s.secrets, vals...)
		}
	}
	return s, nil
}

// cutHeader splits "Name: value" or "Name=value".
func cutHeader(h string) (string, string, bool) {
	i := strings.IndexAny(h, ":=")
	if i <= 0 {
		return strings.TrimSpace(h), "", false
	}
	return strings.TrimSpace(h[:i]), strings.TrimSpace(h[i+1:]), true
}

// Secrets are the strings of the callback settings that must never be
// printed: the URL's query and user info, header values, the HMAC secret.
func (s *Sender) Secrets() []string { return s.secrets }

// ID is the signal id sent with every attempt.
func (s *Sender) ID() string { return s.id }

// Format is the callback format.
func (s *Sender) Format() string { return s.format }

// Signal is what a callback reports.
type Signal struct {
	Success bool
	Reason  string
	Outputs map[string]string
	// Document is the full result document, sent as the webhook body.
	Document []byte
}

// Body returns the request body of sig in the sender's format.
func (s *Sender) Body(sig Signal) ([]byte, error) {
	outputs := sig.Outputs
	if outputs == nil {
		outputs = map[string]string{}
	}
	data, err := json.Marshal(outputs)
	if err != nil {
		return nil, err
	}
	status := "FAILURE"
	if sig.Success {
		status = "SUCCESS"
	}
	switch s.format {
	case FormatCFN:
		return json.Marshal(struct {
			Status   string `json:"Status"`
			Reason   string `json:"Reason"`
			UniqueID string `json:"UniqueId"`
			Data     string `json:"Data"`
		}{status, sig.Reason, s.id, string(data)})
	case FormatWebhook:
		return sig.Document, nil
	default:
		return json.Marshal(struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
			Data   string `json:"data"`
			ID     string `json:"id"`
		}{status, sig.Reason, string(data), s.id})
	}
}

// Delivery says how a Send went.
type Delivery struct {
	Attempts int
	Status   int // HTTP status of the last response, 0 if none
}

// DeliveryError is a failed delivery; its message holds no URL query or header.
type DeliveryError struct {
	Attempts int
	Reason   string
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("callback not delivered after %d attempt(s): %s", e.Attempts, e.Reason)
}

// Send delivers sig, retrying transient failures within the budget (and
// ctx). Every attempt carries the same id and body.
func (s *Sender) Send(ctx context.Context, sig Signal) (Delivery, error) {
	body, err := s.Body(sig)
	if err != nil {
		return Delivery{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	var (
		d      Delivery
		reason string
	)
	err = retry.Do(ctx, s.retry, func(attempt int) (bool, error) {
		var again bool
		d.Attempts = attempt
		d.Status, again, reason = s.attemptOnce(ctx, body)
		if reason == "" {
			return false, nil
		}
		return again, &DeliveryError{Attempts: attempt, Reason: reason}
	})
	if _, stopped := retry.IsStopped(err); stopped {
		return d, &DeliveryError{Attempts: d.Attempts, Reason: reason + " (retry budget spent)"}
	}
	return d, err
}

// attemptOnce sends one request. It returns the HTTP status, whether a
// failure is worth retrying, and why it failed ("" on success).
func (s *Sender) attemptOnce(ctx context.Context, body []byte) (int, bool, string) {
	ctx, cancel := context.WithTimeout(ctx, s.attempt)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, s.method, s.url.String(), bytes.NewReader(body))
	if err != nil {
		return 0, false, "build request: invalid method or URL" // the error would quote the URL
	}
	for name, vals := range s.header {
		req.Header[name] = append([]string(nil), vals...)
	}
	switch s.format {
	case FormatCFN:
		// A presigned S3 URL is signed for an empty Content-Type.
		req.Header["Content-Type"] = []string{""}
	default:
		if req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if s.format == FormatWebhook && s.secret != "" {
		mac := hmac.New(sha256.New, []byte(s.secret))
		mac.Write(body)
		req.Header.Set("X-Hookrunner-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the url.Error would print the URL with its query
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, true, fmt.Sprintf("no answer from %s within %s", s.host(), s.attempt)
		}
		return 0, !isTLSError(err), fmt.Sprintf("%s: %v", s.host(), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return code, false, ""
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return code, true, fmt.Sprintf("%s answered %s", s.host(), resp.Status)
	case code >= 300 && code < 400:
		return code, false, fmt.Sprintf("%s answered %s; redirects are not followed", s.host(), resp.Status)
	default:
		return code, false, fmt.Sprintf("%s answered %s", s.host(), resp.Status)
	}
}

func (s *Sender) host() string { return s.url.Scheme + "://" + s.url.Host + s.url.Path }

// isTLSError reports a certificate problem: retrying will not fix it.
func isTLSError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify)
}
