package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// storeRevisions writes one record per status, revisions 1, 2, … in turn,
// as the release store writes them.
func storeRevisions(t *testing.T, secrets corev1client.SecretInterface, statuses ...rcommon.Status) {
	t.Helper()
	for i, st := range statuses {
		v := i + 1
		rel := &release.Release{
			Name: "app", Namespace: "ns", Version: v, Chart: testChart("1.0.0"),
			Config: map[string]any{"v": "1"}, Manifest: fmt.Sprintf("# revision %d\n", v),
			Labels: map[string]string{ConfigHashLabel: "h"},
			Info:   &release.Info{Status: st, FirstDeployed: time.Unix(1700000000, 0).UTC(), LastDeployed: time.Unix(1700000000, 0).UTC()},
		}
		if err := newReleaseStore(secrets, nil).Create(fmt.Sprintf("sh.helm.release.v1.app.v%d", v), rel); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHistoryDecidesAsHelmsHistory: for every shape of history, the
// decision made from the store's history (the latest decoded, the others
// from their labels) is the decision made from Helm's History, which
// decodes them all; and the latest is decoded in full, the others not.
func TestHistoryDecidesAsHelmsHistory(t *testing.T) {
	const (
		dep   = rcommon.StatusDeployed
		sup   = rcommon.StatusSuperseded
		fai   = rcommon.StatusFailed
		pin   = rcommon.StatusPendingInstall
		pup   = rcommon.StatusPendingUpgrade
		uni   = rcommon.StatusUninstalled
		uning = rcommon.StatusUninstalling
	)
	for _, statuses := range [][]rcommon.Status{
		{dep}, {fai}, {pin}, {uni}, {uning},
		{sup, dep}, {sup, sup, dep}, {dep, fai}, {sup, dep, fai, fai},
		{fai, fai}, {sup, dep, pup}, {dep, uni}, {fai, pup},
		{sup, sup, sup, sup, sup, sup, sup, sup, sup, dep},
	} {
		for _, w := range []want{
			{hash: "h", digest: "", chartName: "app", chartVersion: "1.0.0", onFailed: "auto"},
			{hash: "other", chartName: "app", chartVersion: "1.0.0", onFailed: "upgrade"},
			{hash: "h", chartName: "app", chartVersion: "1.0.0", onFailed: "reinstall"},
			{hash: "h", chartName: "app", chartVersion: "1.0.0", onFailed: "abort"},
		} {
			name := fmt.Sprint(statuses, " ", w.hash, " ", w.onFailed)
			secrets := fake.NewClientset().CoreV1().Secrets("ns")
			storeRevisions(t, secrets, statuses...)
			ours, err := newReleaseStore(secrets, nil).history("app")
			if err != nil {
				t.Fatalf("%s: history: %v", name, err)
			}
			list, err := driver.NewSecrets(secrets).Query(map[string]string{"name": "app", "owner": "helm"})
			if err != nil {
				t.Fatal(err)
			}
			helms, _ := asReleases(list)
			got, gotErr := decide(ours, w)
			want, wantErr := decide(helms, w)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || got.kind != want.kind || got.why != want.why || got.replace != want.replace ||
				(got.current == nil) != (want.current == nil) || (got.recover == nil) != (want.recover == nil) {
				t.Errorf("%s: decided %s %q %v (%v), Helm's history gives %s %q %v (%v)", name, got.kind, got.why, got.replace, gotErr, want.kind, want.why, want.replace, wantErr)
				continue
			}
			if got.current != nil && (got.current.Version != want.current.Version || got.current.Manifest != want.current.Manifest || got.current.Chart == nil) {
				t.Errorf("%s: current is revision %d %q, want %d %q in full", name, got.current.Version, got.current.Manifest, want.current.Version, want.current.Manifest)
			}
			for _, r := range ours {
				if full := r.Manifest != ""; full != (r.Version == len(statuses)) {
					t.Errorf("%s: revision %d decoded in full: %v, want only the latest (%d)", name, r.Version, full, len(statuses))
				}
			}
		}
	}
}

// TestHistoryDamagedRecords: an undecodable latest record is skipped and
// the one before is decoded in its place; a Secret without Helm's labels is
// decoded; an undecodable older one is counted by its labels; nothing at
// all is ErrReleaseNotFound.
func TestHistoryDamagedRecords(t *testing.T) {
	ctx := context.Background()
	damage := func(t *testing.T, secrets corev1client.SecretInterface, v int, data bool, labels ...string) {
		key := fmt.Sprintf("sh.helm.release.v1.app.v%d", v)
		sec, err := secrets.Get(ctx, key, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if data {
			sec.Data["release"] = []byte("not a record")
		}
		for _, l := range labels {
			delete(sec.Labels, l)
		}
		if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	summary := func(list []*release.Release) string {
		var parts []string
		for _, r := range list {
			kind := "stub"
			if r.Manifest != "" {
				kind = "full"
			}
			parts = append(parts, fmt.Sprintf("v%d:%s:%s", r.Version, r.Info.Status, kind))
		}
		return strings.Join(parts, " ")
	}
	for _, tc := range []struct {
		name   string
		damage func(*testing.T, corev1client.SecretInterface)
		want   string
	}{
		{"intact", func(*testing.T, corev1client.SecretInterface) {}, "v3:deployed:full v2:superseded:stub v1:superseded:stub"},
		{"latest undecodable", func(t *testing.T, s corev1client.SecretInterface) { damage(t, s, 3, true) }, "v2:superseded:full v1:superseded:stub"},
		{"older without a status label", func(t *testing.T, s corev1client.SecretInterface) { damage(t, s, 1, false, "status") }, "v1:superseded:full v3:deployed:full v2:superseded:stub"},
		{"latest without a version label", func(t *testing.T, s corev1client.SecretInterface) { damage(t, s, 3, false, "version") }, "v3:deployed:full v2:superseded:full v1:superseded:stub"},
		{"older undecodable, labels intact", func(t *testing.T, s corev1client.SecretInterface) { damage(t, s, 2, true) }, "v3:deployed:full v2:superseded:stub v1:superseded:stub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets := fake.NewClientset().CoreV1().Secrets("ns")
			storeRevisions(t, secrets, rcommon.StatusSuperseded, rcommon.StatusSuperseded, rcommon.StatusDeployed)
			tc.damage(t, secrets)
			got, err := newReleaseStore(secrets, nil).history("app")
			if err != nil {
				t.Fatal(err)
			}
			if s := summary(got); s != tc.want {
				t.Errorf("history %s, want %s", s, tc.want)
			}
		})
	}
	if _, err := newReleaseStore(fake.NewClientset().CoreV1().Secrets("ns"), nil).history("app"); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Errorf("history of nothing: %v, want ErrReleaseNotFound", err)
	}
	if _, err := newReleaseStore(fake.NewClientset().CoreV1().Secrets("ns"), nil).history("bad name!"); err == nil || !strings.Contains(err.Error(), "bad name!") {
		t.Errorf("history of an invalid name: %v, want an error naming it", err)
	}
}
