package runner

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Every exit path maps to one documented reason code; a change here is a
// change of the contract orchestrators branch on.
func TestReasonCode(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "x", errors.New("no"))
	cases := map[string]struct {
		action  string
		err     *Error
		hook    bool
		drifted bool
		want    string
	}{
		"installed":         {action: ActionInstall, want: ReasonInstallSucceeded},
		"upgraded":          {action: ActionUpgrade, want: ReasonUpgradeSucceeded},
		"nothing":           {action: ActionNone, want: ReasonNothingToDo},
		"uninstalled":       {action: ActionUninstall, want: ReasonUninstallSucceeded},
		"bad input":         {action: ActionNone, err: &Error{Step: "validate", Code: ExitBadInput, Err: errInvalidSpec}, want: ReasonBadInput},
		"chart":             {action: ActionNone, err: &Error{Step: "resolve-chart", Code: ExitChart, Err: errors.New("404")}, want: ReasonChartUnavailable},
		"unreachable":       {action: ActionNone, err: &Error{Step: "connect", Code: ExitCluster, Err: errUnreachable}, want: ReasonClusterUnreachable},
		"forbidden":         {action: ActionNone, err: &Error{Step: "lock", Code: ExitCluster, Err: forbidden}, want: ReasonForbidden},
		"install failed":    {action: ActionInstall, err: &Error{Step: "act", Code: ExitAction, Err: errors.New("x")}, want: ReasonInstallFailed},
		"upgrade failed":    {action: ActionUpgrade, err: &Error{Step: "act", Code: ExitAction, Err: errors.New("x")}, want: ReasonUpgradeFailed},
		"uninstall failed":  {action: ActionUninstall, err: &Error{Step: "act", Code: ExitAction, Err: errors.New("x")}, want: ReasonUninstallFailed},
		"hook failed":       {action: ActionInstall, err: &Error{Step: "act", Code: ExitAction, Err: errors.New("x")}, hook: true, want: ReasonHookFailed},
		"hook timed out":    {action: ActionInstall, err: &Error{Step: "act", Code: ExitTimeout, Err: errors.New("x")}, hook: true, want: ReasonHookFailed},
		"not ready":         {action: ActionInstall, err: &Error{Step: "act", Code: ExitTimeout, Err: errors.New("x")}, want: ReasonNotReady},
		"condition timeout": {action: ActionInstall, err: &Error{Step: "wait", Code: ExitTimeout, Err: errors.New("x")}, want: ReasonConditionTimeout},
		"interrupted":       {action: ActionInstall, err: &Error{Step: "act", Code: ExitInterrupted, Err: errors.New("x")}, want: ReasonInterrupted},
		"callback":          {action: ActionInstall, err: &Error{Step: "report", Code: ExitCallback, Err: errors.New("x")}, want: ReasonCallbackFailed},
		"internal":          {action: ActionInstall, err: &Error{Step: "run", Code: ExitInternal, Err: errors.New("x")}, want: ReasonInternalError},
		"drift detected":    {action: ActionNone, drifted: true, want: ReasonDriftDetected},
		"repaired":          {action: ActionRepair, drifted: true, want: ReasonRepaired},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := reasonCode(tc.action, tc.err, tc.hook, tc.drifted); got != tc.want {
				t.Errorf("reasonCode = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestClipReason(t *testing.T) {
	if got := clipReason("short"); got != "short" {
		t.Errorf("short reason changed: %q", got)
	}
	long := strings.Repeat("é", 1000) // 2000 bytes
	got := clipReason(long)
	if len(got) > maxReason || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "é") {
		t.Errorf("clipped to %d bytes: %q…", len(got), got[:10])
	}
	if strings.ContainsRune(strings.TrimSuffix(got, "…"), '\uFFFD') {
		t.Error("cut inside a rune")
	}
}
