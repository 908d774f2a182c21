package runner

import (
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Reason codes: a closed set, in the result document (reasonCode) and the
// webhook body, each a row of the README's table. An orchestrator branches
// on these, never on the reason's text.
const (
	ReasonInstallSucceeded = "InstallSucceeded"
	ReasonUpgradeSucceeded = "UpgradeSucceeded"
	ReasonNothingToDo      = "NothingToDo"
	// ReasonDriftDetected: the release was at its config, but live objects
	// had drifted from it (--drift detect; exit 0).
	ReasonDriftDetected = "DriftDetected"
	// ReasonRepaired: drifted objects were re-applied (--drift correct).
	ReasonRepaired           = "Repaired"
	ReasonUninstallSucceeded = "UninstallSucceeded"
	// ReasonBadInput: a flag, argument, kubeconfig, values, wait condition,
	// output template or callback setting is wrong (exit 2).
	ReasonBadInput = "BadInput"
	// ReasonChartUnavailable: the chart could not be found, fetched, loaded
	// or verified (exit 3).
	ReasonChartUnavailable = "ChartUnavailable"
	// ReasonClusterUnreachable: the cluster could not be reached (exit 4).
	ReasonClusterUnreachable = "ClusterUnreachable"
	// ReasonForbidden: the cluster refused the credentials or a request (exit 4).
	ReasonForbidden = "Forbidden"
	// ReasonInstallFailed, ReasonUpgradeFailed, ReasonUninstallFailed: Helm's
	// action failed (exit 5).
	ReasonInstallFailed   = "InstallFailed"
	ReasonUpgradeFailed   = "UpgradeFailed"
	ReasonUninstallFailed = "UninstallFailed"
	// ReasonHookFailed: a hook of the chart failed (exit 5 or 6).
	ReasonHookFailed = "HookFailed"
	// ReasonNotReady: the release's resources were not ready in time (exit 6).
	ReasonNotReady = "NotReady"
	// ReasonConditionTimeout: a --wait-for condition did not hold in time (exit 6).
	ReasonConditionTimeout = "ConditionTimeout"
	// ReasonInterrupted: SIGTERM or SIGINT ended the run (exit 8).
	ReasonInterrupted = "Interrupted"
	// ReasonCallbackFailed: the run did its work but the callback could not
	// be delivered (exit 7).
	ReasonCallbackFailed = "CallbackFailed"
	// ReasonInternalError: a bug (exit 1).
	ReasonInternalError = "InternalError"
)

// reasonCode is the code of a run that ended with e (nil: success) after
// action; hookFailed when the diagnosis found a failed hook first; drifted
// when live objects differed from a release at its config.
func reasonCode(action string, e *Error, hookFailed, drifted bool) string {
	if e == nil {
		switch action {
		case ActionRepair:
			return ReasonRepaired
		case ActionNone:
			if drifted {
				return ReasonDriftDetected
			}
		case ActionInstall:
			return ReasonInstallSucceeded
		case ActionUpgrade:
			return ReasonUpgradeSucceeded
		case ActionUninstall:
			return ReasonUninstallSucceeded
		}
		return ReasonNothingToDo
	}
	switch e.Code {
	case ExitBadInput:
		return ReasonBadInput
	case ExitChart:
		return ReasonChartUnavailable
	case ExitCluster:
		var status apierrors.APIStatus
		if errors.As(e.Err, &status) && (apierrors.IsForbidden(e.Err) || apierrors.IsUnauthorized(e.Err)) {
			return ReasonForbidden
		}
		return ReasonClusterUnreachable
	case ExitInterrupted:
		return ReasonInterrupted
	case ExitCallback:
		return ReasonCallbackFailed
	case ExitTimeout:
		switch {
		case hookFailed:
			return ReasonHookFailed
		case e.Step == "wait":
			return ReasonConditionTimeout
		}
		return ReasonNotReady
	case ExitAction:
		switch {
		case hookFailed:
			return ReasonHookFailed
		case action == ActionUpgrade:
			return ReasonUpgradeFailed
		case action == ActionUninstall:
			return ReasonUninstallFailed
		}
		return ReasonInstallFailed
	}
	return ReasonInternalError
}

// maxReason bounds the reason: one line that a stack event or a console
// shows whole.
const maxReason = 1024

// clipReason cuts reason to maxReason bytes on a rune boundary, marking the cut.
func clipReason(reason string) string {
	if len(reason) <= maxReason {
		return reason
	}
	cut := maxReason - len("…")
	for cut > 0 && reason[cut]&0xC0 == 0x80 {
		cut--
	}
	return reason[:cut] + "…"
}
