package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookrunner/hookrunner/runner"
)

const broken = "../testdata/charts/broken"

// When a target is not ready, the reason says why, first: the scheduler's
// message, the image that cannot be pulled, the crash-looping container's
// exit code and last log line, the missing Secret, the unbound claim, the
// failed hook's output; reasonCode says which kind of failure it was. The
// modes that need a real kubelet run on the real node.
func TestDiagnosisExplainsFailures(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		timeout  string
		code     int
		reason   string
		contains []string
	}{
		"unschedulable": {timeout: "20s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"Deployment", "/web not ready", "Unschedulable", "didn't match Pod's node affinity/selector"}},
		"pvc": {timeout: "20s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"PersistentVolumeClaim", "/data not ready", "StorageClass"}},
		"neverPull": {timeout: "30s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"ErrImageNeverPull", "localhost/not-present:1.0"}},
		"crash": {timeout: "45s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"container web exited with code 2", "must be one of", "last log lines"}},
		"missingSecret": {timeout: "30s", code: runner.ExitTimeout, reason: runner.ReasonNotReady,
			contains: []string{"CreateContainerConfigError", "no-such-secret"}},
		"hookFails": {timeout: "60s", code: runner.ExitAction, reason: runner.ReasonHookFailed,
			contains: []string{"Job", "/migrate not ready", "exited with code 2", "migration-failed"}},
	}
	for mode, tc := range cases {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ns := namespaceFor(t)
			rcv := newReceiver(t)
			// A secret value the crashing container prints: it must never
			// reach the reason, the result or the callback.
			secrets := writeFile(t, "secret.yaml", "secret: canary-diag-7f3\n")
			r := hookrunner(t, nil, "install", "web", broken, "-n", ns, "--create-namespace", "--set", "mode="+mode,
				"--secret-values", secrets, "--timeout", tc.timeout, "--callback-format", "webhook", "--callback-url", rcv.url())
			if r.code != tc.code || r.result.ReasonCode != tc.reason {
				t.Errorf("exit %d reasonCode %q, want %d %q; reason: %s", r.code, r.result.ReasonCode, tc.code, tc.reason, r.result.Reason)
			}
			for _, want := range tc.contains {
				if !strings.Contains(r.result.Reason, want) {
					t.Errorf("reason lacks %q: %s", want, r.result.Reason)
				}
			}
			if len(r.result.Diagnosis) == 0 || len(r.result.Reason) > 1024 || strings.Contains(r.result.Reason, "\n") {
				t.Errorf("diagnosis %+v; reason of %d bytes: %s", r.result.Diagnosis, len(r.result.Reason), r.result.Reason)
			}
			sig := rcv.next(t, 10*time.Second)
			if sig.body["reason"] != r.result.Reason || sig.body["reasonCode"] != tc.reason {
				t.Errorf("callback reason %q code %v, result %q", sig.body["reason"], sig.body["reasonCode"], r.result.Reason)
			}
			whole, _ := json.Marshal(sig.body)
			for _, where := range []string{r.stdout, r.stderr, string(whole)} {
				if strings.Contains(where, "canary-diag-7f3") {
					t.Errorf("the secret value leaked: %s", where)
				}
			}
			t.Logf("reason: %s", r.result.Reason)
		})
	}
}
