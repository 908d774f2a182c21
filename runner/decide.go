package runner

import (
	"fmt"
	"sort"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/hookrunner/hookrunner/chart"
)

// ConfigHashLabel is the release label holding chart.ConfigHash of what the
// release was installed with: the same inputs again change nothing.
const ConfigHashLabel = "hookrunner.dev/config-hash"

// planKind is what an install run does to reach the asked state.
type planKind string

const (
	planInstall   planKind = "install"   // no release yet
	planReinstall planKind = "reinstall" // uninstall what failed, then install
	planUpgrade   planKind = "upgrade"
	planNone      planKind = "none" // already deployed with the same inputs
)

// plan is the decision of the inspect step.
type plan struct {
	kind planKind
	// recover is a pending-* revision left by a killed runner, to be marked
	// failed before anything else.
	recover *release.Release
	// replace means an uninstalled revision kept in history must be
	// replaced by the install.
	replace bool
	// current is the latest revision, if any.
	current *release.Release
	// why explains the decision, for the log.
	why string
}

// want is what the install asks for.
type want struct {
	hash         string
	digest       string
	chartName    string
	chartVersion string
	onFailed     string // auto, reinstall, upgrade, abort
}

// errFailedAbort is returned when --on-failed=abort meets a failed release.
type errFailedAbort struct{ status rcommon.Status }

func (e errFailedAbort) Error() string {
	return fmt.Sprintf("release is %s with no deployed revision and --on-failed=abort", e.status)
}

// decide picks what an install does given the release history (any order).
func decide(history []*release.Release, w want) (plan, error) {
	if len(history) == 0 {
		return plan{kind: planInstall, why: "no release yet"}, nil
	}
	sorted := append([]*release.Release{}, history...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Version < sorted[j].Version })
	latest := sorted[len(sorted)-1]
	p := plan{current: latest}
	status := latest.Info.Status
	if status.IsPending() {
		p.recover = latest
		status = rcommon.StatusFailed
	}
	deployed := false
	for _, r := range sorted {
		if r.Info.Status == rcommon.StatusDeployed {
			deployed = true
		}
	}
	switch {
	case status == rcommon.StatusUninstalled:
		p.kind, p.replace, p.why = planInstall, true, "release was uninstalled with its history kept"
	case status == rcommon.StatusDeployed && sameInputs(latest, w):
		p.kind, p.why = planNone, "deployed with the same chart and values"
	case status == rcommon.StatusDeployed:
		p.kind, p.why = planUpgrade, "deployed with other inputs"
	case deployed:
		p.kind, p.why = planUpgrade, fmt.Sprintf("latest revision is %s; an earlier one is deployed", status)
	default:
		// Every revision failed (or an uninstall was cut short).
		switch w.onFailed {
		case "abort":
			return p, errFailedAbort{status}
		case "reinstall":
			p.kind = planReinstall
		case "upgrade":
			p.kind = planUpgrade
		default:
			if latest.Version == 1 || status == rcommon.StatusUninstalling {
				p.kind = planReinstall
			} else {
				p.kind = planUpgrade
			}
		}
		p.why = fmt.Sprintf("latest revision %d is %s with no deployed revision", latest.Version, status)
		if p.kind == planUpgrade && status == rcommon.StatusUninstalling {
			p.kind = planReinstall // Helm cannot upgrade a release half uninstalled
		}
	}
	if p.recover != nil {
		p.why = fmt.Sprintf("revision %d was left %s by an interrupted run; %s", latest.Version, latest.Info.Status, p.why)
	}
	return p, nil
}

// sameInputs reports whether rel was installed by hookrunner from the same
// chart and values as w, and still has those values (nobody ran `helm
// upgrade` with others since).
func sameInputs(rel *release.Release, w want) bool {
	if rel.Labels[ConfigHashLabel] != w.hash || rel.Chart == nil || rel.Chart.Metadata == nil {
		return false
	}
	if rel.Chart.Metadata.Name != w.chartName || rel.Chart.Metadata.Version != w.chartVersion {
		return false
	}
	config := rel.Config
	if config == nil {
		config = map[string]any{}
	}
	got, err := chart.ConfigHash(w.digest, config)
	return err == nil && got == w.hash
}
