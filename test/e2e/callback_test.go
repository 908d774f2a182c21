package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hookrunner/hookrunner/runner"
)

// signal is one callback a receiver got.
type signal struct {
	at     time.Time
	method string
	query  string
	header http.Header
	body   map[string]any
}

// receiver is a callback endpoint that records what it gets.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []signal
	more chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{more: make(chan struct{}, 16)}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		data, _ := io.ReadAll(req.Body)
		s := signal{at: time.Now(), method: req.Method, query: req.URL.RawQuery, header: req.Header.Clone()}
		_ = json.Unmarshal(data, &s.body)
		r.mu.Lock()
		r.got = append(r.got, s)
		r.mu.Unlock()
		r.more <- struct{}{}
	}))
	// On the address hook pods on the real node reach too.
	r.Listener.Close()
	r.Listener = listen(t)
	r.Start()
	t.Cleanup(r.Close)
	return r
}

// url is the receiver's handle URL with a query that is a secret.
func (r *receiver) url() string { return r.URL + "/handle?Signature=canary-callback-sig" }

func (r *receiver) signals() []signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]signal{}, r.got...)
}

// next waits for the next signal.
func (r *receiver) next(t *testing.T, within time.Duration) signal {
	t.Helper()
	select {
	case <-r.more:
		s := r.signals()
		return s[len(s)-1]
	case <-time.After(within):
		t.Fatalf("no callback within %s", within)
	}
	return signal{}
}

// rosData decodes the data field of a ROS signal: outputs as a JSON string.
func rosData(t *testing.T, s signal) map[string]string {
	t.Helper()
	var data map[string]string
	raw, _ := s.body["data"].(string)
	if err := json.Unmarshal([]byte(raw), &data); err != nil {
		t.Fatalf("data %q is not outputs as a JSON string: %v", raw, err)
	}
	return data
}

// The SUCCESS callback arrives as soon as the watched condition holds (the
// LoadBalancer IP appears), with the IP in its data through an output.
func TestCallbackWhenConditionHolds(t *testing.T) {
	t.Parallel()
	ns := createNamespace(t)
	rcv := newReceiver(t)
	s := start(t, nil, "install", "web", webapp, "-n", ns, "--set", "service.type=LoadBalancer",
		"--wait-for", "Service/web jsonpath={.status.loadBalancer.ingress[0].ip}",
		"--output", `endpoint=http://{{ (index (lookup "v1" "Service" .Release.Namespace "web").status.loadBalancer.ingress 0).ip }}`,
		"--output", `seen={{ (index .Conditions 0).Value }}`,
		"--output", `release={{ .Release.Name }}-{{ .Release.Revision }}-{{ .Values.message }}`,
		"--callback-url", rcv.url(), "--progress-interval", "1s")
	cs := client(t)
	ctx := context.Background()
	eventually(t, 30*time.Second, "service created", func() bool {
		_, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil
	})
	time.Sleep(3 * time.Second)
	if got := rcv.signals(); len(got) != 0 {
		t.Fatalf("callback before the condition held: %+v", got[0].body)
	}
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
	if _, err := cs.CoreV1().Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	patched := time.Now()
	var sig signal
	select {
	case <-rcv.more:
		got := rcv.signals()
		sig = got[len(got)-1]
	case <-time.After(20 * time.Second):
		t.Fatalf("no callback within 20s of the patch; hookrunner's log:\n%s", s.stderr.String())
	}
	// How soon is logged, not asserted (machines here are shared and
	// noisy); the bench measures it.
	t.Logf("callback %s after the status patch", sig.at.Sub(patched).Round(time.Millisecond))
	if sig.method != http.MethodPost || sig.body["status"] != "SUCCESS" || sig.body["id"] != ns+".web.install" {
		t.Errorf("signal %s %+v", sig.method, sig.body)
	}
	data := rosData(t, sig)
	want := map[string]string{"endpoint": "http://203.0.113.10", "seen": "203.0.113.10", "release": "web-1-hello"}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("output %s = %q, want %q", k, data[k], v)
		}
	}
	r := s.wait(t, 30*time.Second).must(t)
	if r.result.Outputs["endpoint"] != "http://203.0.113.10" || r.result.Callback == nil || !r.result.Callback.Delivered {
		t.Errorf("result %+v", r.result)
	}
	if !strings.Contains(r.stderr, `"msg":"waiting"`) || !strings.Contains(r.stderr, "Service/"+ns+"/web") {
		t.Errorf("no progress line naming the pending condition:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "canary-callback-sig") {
		t.Error("the callback URL's query reached the output")
	}
}

// A condition that never holds: FAILURE after its timeout, the reason
// naming the condition and its last value; exit code for a timeout.
func TestCallbackFailureOnTimeout(t *testing.T) {
	t.Parallel()
	ns := createNamespace(t)
	rcv := newReceiver(t)
	r := hookrunner(t, nil, "install", "web", webapp, "-n", ns, "--callback-format", "cfn",
		"--wait-for", "Service/web jsonpath={.spec.type} Equals value=LoadBalancer timeout=2s",
		"--callback-url", rcv.url())
	if r.code != runner.ExitTimeout {
		t.Errorf("exit %d, want %d: %s", r.code, runner.ExitTimeout, r.result.Reason)
	}
	got := rcv.signals()
	if len(got) != 1 {
		t.Fatalf("%d signals", len(got))
	}
	sig := got[0]
	reason, _ := sig.body["Reason"].(string)
	if sig.method != http.MethodPut || sig.body["Status"] != "FAILURE" || sig.body["UniqueId"] != ns+".web.install" {
		t.Errorf("signal %s %+v", sig.method, sig.body)
	}
	for _, want := range []string{"Service/" + ns + `/web {.spec.type} Equals "LoadBalancer"`, `last value "ClusterIP"`} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q lacks %q", reason, want)
		}
	}
}

// SIGTERM during the wait: the FAILURE callback is received before the
// process exits.
func TestCallbackOnSIGTERM(t *testing.T) {
	t.Parallel()
	ns := createNamespace(t)
	rcv := newReceiver(t)
	s := start(t, nil, "install", "web", webapp, "-n", ns, "--callback-format", "webhook", "--callback-secret", "canary-hmac-key",
		"--wait-for", "ConfigMap/never-there", "--callback-url", rcv.url())
	eventually(t, 30*time.Second, "waiting on the condition", func() bool {
		return strings.Contains(s.stderr.String(), `"step":"act"`)
	})
	r, took := s.signal(t, syscall.SIGTERM, 10*time.Second)
	exited := time.Now()
	got := rcv.signals()
	if len(got) != 1 || got[0].at.After(exited) {
		t.Fatalf("%d signals before exit", len(got))
	}
	if got[0].body["status"] != "FAILURE" || !strings.Contains(got[0].body["reason"].(string), "interrupted by signal") {
		t.Errorf("webhook body %+v", got[0].body)
	}
	if !strings.HasPrefix(got[0].header.Get("X-Hookrunner-Signature"), "sha256=") {
		t.Errorf("webhook not signed: %v", got[0].header)
	}
	if r.code != runner.ExitInterrupted {
		t.Errorf("exit %d", r.code)
	}
	t.Logf("exited %s after SIGTERM, callback included", took.Round(time.Millisecond))
}

// Bad input still reports FAILURE once the callback settings parsed, even
// a command line that did not parse (settings from the environment).
func TestCallbackOnBadInput(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	cases := map[string]struct {
		args []string
		env  []string
		want string
	}{
		"bad-set":      {args: []string{"install", "web", webapp, "--set", "a[x]=1", "--callback-url", rcv.url()}, want: `--set "a[x]"`},
		"unknown-flag": {args: []string{"install", "web", webapp, "--bogus"}, env: []string{"HOOKRUNNER_CALLBACK_URL=" + rcv.url()}, want: "unknown flag --bogus"},
		"bad-chart":    {args: []string{"install", "web", "./nope", "--callback-url", rcv.url()}, want: "chart ./nope"},
		// Reported under the uninstall's callback id, not the install's.
		"uninstall-unknown-flag": {args: []string{"uninstall", "web", "--bogus"}, env: []string{"HOOKRUNNER_CALLBACK_URL=" + rcv.url()}, want: "unknown flag --bogus"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := hookrunner(t, tc.env, tc.args...)
			if r.code == 0 {
				t.Fatal("succeeded")
			}
			sig := rcv.next(t, 5*time.Second)
			if sig.body["status"] != "FAILURE" || !strings.Contains(sig.body["reason"].(string), tc.want) {
				t.Errorf("signal %+v, want FAILURE saying %q", sig.body, tc.want)
			}
			if id, _ := sig.body["id"].(string); !strings.HasSuffix(id, "."+tc.args[0]) {
				t.Errorf("callback id %q, want one of the %s command", id, tc.args[0])
			}
		})
	}
}

// A receiver that never answers: the callback-failed exit code, and the
// result (saying so) is still in the result file.
func TestCallbackUndeliverable(t *testing.T) {
	t.Parallel()
	ln := silentListener(t)
	ns := namespaceFor(t)
	resultFile := filepath.Join(t.TempDir(), "result.json")
	termLog := writeFile(t, "termination-log", "") // as the kubelet creates it
	r := hookrunner(t, []string{"HOOKRUNNER_TERMINATION_LOG=" + termLog}, "install", "web", webapp, "-n", ns, "--create-namespace", "--result-file", resultFile,
		"--callback-url", "http://"+ln.Addr().String()+"/h?sig=canary-q", "--callback-timeout", "300ms", "--callback-budget", "2s")
	if r.code != runner.ExitCallback {
		t.Fatalf("exit %d, want %d", r.code, runner.ExitCallback)
	}
	data, err := os.ReadFile(resultFile)
	if err != nil {
		t.Fatal(err)
	}
	var res runner.Result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != runner.StatusSuccess || res.ExitCode != runner.ExitCallback || res.Callback == nil || res.Callback.Delivered || res.Callback.Attempts < 2 {
		t.Errorf("result file %s", data)
	}
	compact, err := os.ReadFile(termLog)
	if err != nil {
		t.Fatal(err)
	}
	var term runner.Result
	if err := json.Unmarshal(compact, &term); err != nil || term.ExitCode != runner.ExitCallback || len(compact) > 4096 {
		t.Errorf("termination log (%d bytes): %s (%v)", len(compact), compact, err)
	}
	if strings.Contains(string(data)+string(compact)+r.stderr, "canary-q") {
		t.Error("callback query printed")
	}
}

// uninstall reports too.
func TestUninstallReports(t *testing.T) {
	t.Parallel()
	ns := namespaceFor(t)
	rcv := newReceiver(t)
	hookrunner(t, nil, "install", "web", webapp, "-n", ns, "--create-namespace").must(t)
	hookrunner(t, nil, "uninstall", "web", "-n", ns, "--callback-url", rcv.url()).must(t)
	sig := rcv.next(t, 5*time.Second)
	if sig.body["status"] != "SUCCESS" || sig.body["id"] != ns+".web.uninstall" {
		t.Errorf("signal %+v", sig.body)
	}
}
