package runner

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/hookrunner/hookrunner/chart"
)

const testDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// rev is a release revision as the history holds it.
func rev(version int, status rcommon.Status, vals map[string]any, labels map[string]string) *release.Release {
	return &release.Release{
		Name:    "web",
		Version: version,
		Info:    &release.Info{Status: status},
		Chart:   &chartv2.Chart{Metadata: &chartv2.Metadata{Name: "webapp", Version: "1.2.3"}},
		Config:  vals,
		Labels:  labels,
	}
}

func TestDecide(t *testing.T) {
	vals := map[string]any{"message": "hi", "replicaCount": int64(2)}
	stored := map[string]any{"message": "hi", "replicaCount": float64(2)} // as read back from a release Secret
	hash, err := chart.ConfigHash(testDigest, vals)
	if err != nil {
		t.Fatal(err)
	}
	same := map[string]string{ConfigHashLabel: hash}
	w := want{hash: hash, digest: testDigest, chartName: "webapp", chartVersion: "1.2.3", onFailed: "auto"}
	withOnFailed := func(p string) want { x := w; x.onFailed = p; return x }
	otherChart := w
	otherChart.chartVersion = "1.2.4"

	type result struct {
		Kind    planKind
		Recover int // revision to mark failed, 0 for none
		Replace bool
	}
	cases := map[string]struct {
		reason  string
		history []*release.Release
		want    want
		out     result
		wantErr bool
	}{
		"none": {
			reason:  "no history: install",
			history: nil, want: w,
			out: result{Kind: planInstall},
		},
		"deployed-same": {
			reason:  "the same inputs again change nothing",
			history: []*release.Release{rev(1, rcommon.StatusDeployed, vals, same)}, want: w,
			out: result{Kind: planNone},
		},
		"deployed-json-roundtrip": {
			reason:  "numbers come back from storage as float64: still the same",
			history: []*release.Release{rev(1, rcommon.StatusDeployed, stored, same)}, want: w,
			out: result{Kind: planNone},
		},
		"deployed-other-values": {
			reason:  "a changed value upgrades",
			history: []*release.Release{rev(1, rcommon.StatusDeployed, map[string]any{"message": "bye"}, map[string]string{ConfigHashLabel: "other"})}, want: w,
			out: result{Kind: planUpgrade},
		},
		"deployed-by-helm-cli": {
			reason:  "someone ran helm upgrade with other values since: the label is stale, the config says so",
			history: []*release.Release{rev(2, rcommon.StatusDeployed, map[string]any{"message": "manual"}, same)}, want: w,
			out: result{Kind: planUpgrade},
		},
		"deployed-other-chart-version": {
			reason:  "same label but another chart version upgrades",
			history: []*release.Release{rev(1, rcommon.StatusDeployed, vals, same)}, want: otherChart,
			out: result{Kind: planUpgrade},
		},
		"deployed-no-label": {
			reason:  "installed by helm, not hookrunner: upgrade to take it over",
			history: []*release.Release{rev(1, rcommon.StatusDeployed, vals, nil)}, want: w,
			out: result{Kind: planUpgrade},
		},
		"pending-install": {
			reason:  "a killed first install: mark failed, then reinstall",
			history: []*release.Release{rev(1, rcommon.StatusPendingInstall, vals, same)}, want: w,
			out: result{Kind: planReinstall, Recover: 1},
		},
		"pending-upgrade": {
			reason: "a killed upgrade over a deployed revision: mark failed, then upgrade",
			history: []*release.Release{
				rev(1, rcommon.StatusDeployed, vals, same),
				rev(2, rcommon.StatusPendingUpgrade, vals, same),
			}, want: w,
			out: result{Kind: planUpgrade, Recover: 2},
		},
		"pending-rollback": {
			reason: "a killed rollback: mark failed, then upgrade",
			history: []*release.Release{
				rev(1, rcommon.StatusSuperseded, vals, same),
				rev(2, rcommon.StatusDeployed, vals, same),
				rev(3, rcommon.StatusPendingRollback, vals, same),
			}, want: w,
			out: result{Kind: planUpgrade, Recover: 3},
		},
		"failed-rev1": {
			reason:  "a failed first install is reinstalled by default",
			history: []*release.Release{rev(1, rcommon.StatusFailed, vals, same)}, want: w,
			out: result{Kind: planReinstall},
		},
		"failed-rev1-upgrade-policy": {
			reason:  "--on-failed=upgrade upgrades it instead",
			history: []*release.Release{rev(1, rcommon.StatusFailed, vals, same)}, want: withOnFailed("upgrade"),
			out: result{Kind: planUpgrade},
		},
		"failed-rev2-no-deployed": {
			reason: "every revision failed, not the first: upgrade by default",
			history: []*release.Release{
				rev(1, rcommon.StatusFailed, vals, same),
				rev(2, rcommon.StatusFailed, vals, same),
			}, want: w,
			out: result{Kind: planUpgrade},
		},
		"failed-rev2-reinstall-policy": {
			reason: "--on-failed=reinstall reinstalls it",
			history: []*release.Release{
				rev(1, rcommon.StatusFailed, vals, same),
				rev(2, rcommon.StatusFailed, vals, same),
			}, want: withOnFailed("reinstall"),
			out: result{Kind: planReinstall},
		},
		"failed-abort": {
			reason:  "--on-failed=abort refuses",
			history: []*release.Release{rev(1, rcommon.StatusFailed, vals, same)}, want: withOnFailed("abort"),
			wantErr: true,
		},
		"failed-after-deployed": {
			reason: "a failed upgrade over a deployed revision: upgrade, even to the same inputs",
			history: []*release.Release{
				rev(1, rcommon.StatusDeployed, vals, same),
				rev(2, rcommon.StatusFailed, vals, same),
			}, want: w,
			out: result{Kind: planUpgrade},
		},
		"uninstalled-kept-history": {
			reason:  "uninstalled with --keep-history: install again, replacing it",
			history: []*release.Release{rev(1, rcommon.StatusUninstalled, vals, same)}, want: w,
			out: result{Kind: planInstall, Replace: true},
		},
		"uninstalling": {
			reason:  "a killed uninstall: finish it, then install",
			history: []*release.Release{rev(3, rcommon.StatusUninstalling, vals, same)}, want: withOnFailed("upgrade"),
			out: result{Kind: planReinstall},
		},
		"unsorted-history": {
			reason: "the latest revision is the highest, whatever the order given",
			history: []*release.Release{
				rev(2, rcommon.StatusDeployed, vals, same),
				rev(1, rcommon.StatusSuperseded, map[string]any{}, nil),
			}, want: w,
			out: result{Kind: planNone},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := decide(tc.history, tc.want)
			if tc.wantErr {
				var abort errFailedAbort
				if !errors.As(err, &abort) {
					t.Fatalf("%s: err = %v, want errFailedAbort", tc.reason, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.reason, err)
			}
			got := result{Kind: p.kind, Replace: p.replace}
			if p.recover != nil {
				got.Recover = p.recover.Version
			}
			if diff := cmp.Diff(tc.out, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
			if p.why == "" {
				t.Errorf("%s: the plan gives no reason", tc.reason)
			}
		})
	}
}

// Values read back from a release Secret are JSON-decoded: integers become
// float64. The config hash must not see a difference.
func TestConfigHashSurvivesStorageRoundTrip(t *testing.T) {
	given := map[string]any{"replicaCount": int64(3), "nested": map[string]any{"port": int64(80), "on": true}}
	stored := map[string]any{"replicaCount": float64(3), "nested": map[string]any{"port": float64(80), "on": true}}
	a, err := chart.ConfigHash(testDigest, given)
	if err != nil {
		t.Fatal(err)
	}
	b, err := chart.ConfigHash(testDigest, stored)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("hash of given values %s != hash of stored values %s", a, b)
	}
	if c, _ := chart.ConfigHash("sha256:1111111111111111111111111111111111111111111111111111111111111111", given); c == a {
		t.Error("a different chart digest gives the same hash")
	}
}
