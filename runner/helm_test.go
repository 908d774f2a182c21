package runner

import (
	"testing"

	release "helm.sh/helm/v4/pkg/release/v1"
)

// Which actions apply server-side decides whether existence checks may be
// answered from snapshots and whether client-side validation may be
// skipped: it must follow Helm's own rule for "auto".
func TestAppliesServerSide(t *testing.T) {
	ssa := &release.Release{ApplyMethod: string(release.ApplyMethodServerSideApply)}
	csa := &release.Release{ApplyMethod: string(release.ApplyMethodClientSideApply)}
	legacy := &release.Release{} // installed by Helm 3: no apply method recorded
	cases := map[string]struct {
		serverSide string
		kind       planKind
		current    *release.Release
		want       bool
	}{
		"true-upgrade-of-csa":   {"true", planUpgrade, csa, true},
		"false-install":         {"false", planInstall, nil, false},
		"auto-install":          {"auto", planInstall, nil, true},
		"auto-reinstall":        {"auto", planReinstall, csa, true},
		"auto-upgrade-of-ssa":   {"auto", planUpgrade, ssa, true},
		"auto-upgrade-of-csa":   {"auto", planUpgrade, csa, false},
		"auto-upgrade-of-helm3": {"auto", planUpgrade, legacy, false},
	}
	for name, tc := range cases {
		if got := appliesServerSide(tc.serverSide, tc.kind, tc.current); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
