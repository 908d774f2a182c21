package runner

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	ri "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const behindKey = "sh.helm.release.v1.app.v1"

// gatedSecrets is a fake API server whose record updates wait while the
// gate is closed, and which notes what each update stored.
type gatedSecrets struct {
	cs *fake.Clientset

	mu      sync.Mutex
	gate    chan struct{} // nil: open
	fail    bool
	stored  []string      // "status/hook phases" of each update, in order
	arrived chan struct{} // one per update that reached the server
}

func newGatedSecrets(t *testing.T) *gatedSecrets {
	g := &gatedSecrets{cs: fake.NewClientset(), arrived: make(chan struct{}, 100)}
	g.cs.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		g.arrived <- struct{}{}
		g.mu.Lock()
		gate := g.gate
		g.mu.Unlock()
		if gate != nil {
			<-gate
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.fail {
			return true, nil, errors.New("etcdserver: request timed out")
		}
		rel, err := decodeRecord(a.(k8stesting.UpdateAction).GetObject().(*corev1.Secret).Data["release"])
		if err != nil {
			t.Errorf("stored record does not decode: %v", err)
			return true, nil, err
		}
		g.stored = append(g.stored, describe(rel))
		return false, nil, nil // the tracker stores it
	})
	return g
}

func (g *gatedSecrets) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
}

func (g *gatedSecrets) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

func (g *gatedSecrets) updates() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.stored...)
}

// describe is a release's status and its hooks' phases.
func describe(rel *release.Release) string {
	parts := []string{rel.Info.Status.String()}
	for _, h := range rel.Hooks {
		parts = append(parts, h.Name+"="+string(h.LastRun.Phase))
	}
	return strings.Join(parts, " ")
}

func hookRelease() *release.Release {
	return &release.Release{
		Name: "app", Namespace: "ns", Version: 1, Chart: testChart("1.0.0"),
		Info: &release.Info{Status: rcommon.StatusPendingInstall},
		Hooks: []*release.Hook{
			{Name: "sa", Kind: "ServiceAccount", Events: []release.HookEvent{release.HookPreInstall}},
			{Name: "job", Kind: "Job", Events: []release.HookEvent{release.HookPreInstall}},
		},
	}
}

// stored reads the record as it is on the server now, without the store.
func storedRecord(t *testing.T, g *gatedSecrets) string {
	t.Helper()
	obj, err := g.cs.CoreV1().Secrets("ns").Get(context.Background(), behindKey, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get record: %v", err)
	}
	rel, err := decodeRecord(obj.Data["release"])
	if err != nil {
		t.Fatal(err)
	}
	return describe(rel)
}

// Helm's writes between hooks return at once, go out in order, and only
// the latest of those queued behind a write in flight is sent; a write
// that changes the status, and every read, waits for them.
func TestReleaseStoreWritesHookRecordsBehind(t *testing.T) {
	g := newGatedSecrets(t)
	s := newReleaseStore(g.cs.CoreV1().Secrets("ns"), nil)
	rel := hookRelease()
	if err := s.Create(behindKey, rel); err != nil {
		t.Fatal(err)
	}

	// First hook: the write is sent, and held at the server.
	g.close()
	rel.Hooks[0].LastRun.Phase = release.HookPhaseRunning
	if err := s.Update(behindKey, rel); err != nil {
		t.Fatal(err)
	}
	<-g.arrived
	// Helm changes the release after the write returns: the record sent
	// is the release as it was when written.
	rel.Hooks[0].LastRun.Phase = release.HookPhaseSucceeded
	rel.Hooks[1].LastRun.Phase = release.HookPhaseRunning
	if err := s.Update(behindKey, rel); err != nil { // queued
		t.Fatal(err)
	}
	rel.Hooks[1].LastRun.Phase = release.HookPhaseSucceeded
	if err := s.Update(behindKey, rel); err != nil { // replaces the queued one
		t.Fatal(err)
	}

	// The release is deployed: that write waits for the queue.
	done := make(chan error)
	go func() {
		rel := hookRelease()
		rel.Info.Status = rcommon.StatusDeployed
		rel.Hooks[0].LastRun.Phase = release.HookPhaseSucceeded
		rel.Hooks[1].LastRun.Phase = release.HookPhaseSucceeded
		done <- s.Update(behindKey, rel)
	}()
	select {
	case err := <-done:
		t.Fatalf("the deployed write returned (%v) while a hook write was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pending-install sa=Running job=",
		"pending-install sa=Succeeded job=Succeeded",
		"deployed sa=Succeeded job=Succeeded",
	}
	if got := g.updates(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("updates sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := storedRecord(t, g); got != want[2] {
		t.Errorf("stored %q, want %q", got, want[2])
	}
}

// Which writes may go behind: only an update that keeps a pending status
// this store wrote for the key; every other call waits for the queue
// before it goes to the server.
func TestReleaseStoreBehindOnlyForHookWrites(t *testing.T) {
	pending := func(status rcommon.Status) *release.Release {
		rel := hookRelease()
		rel.Info.Status = status
		return rel
	}
	tests := []struct {
		name string
		// created is the status the store created the record with; empty:
		// the record was written by someone else (helm, an earlier run).
		created rcommon.Status
		update  rcommon.Status
		behind  bool
	}{
		{"install hook", rcommon.StatusPendingInstall, rcommon.StatusPendingInstall, true},
		{"upgrade hook", rcommon.StatusPendingUpgrade, rcommon.StatusPendingUpgrade, true},
		{"rollback hook", rcommon.StatusPendingRollback, rcommon.StatusPendingRollback, true},
		{"end of install", rcommon.StatusPendingInstall, rcommon.StatusDeployed, false},
		{"failed install", rcommon.StatusPendingInstall, rcommon.StatusFailed, false},
		{"status changes to another pending one", rcommon.StatusPendingInstall, rcommon.StatusPendingUpgrade, false},
		{"a record this store did not write", "", rcommon.StatusPendingInstall, false},
		{"superseding the deployed revision", rcommon.StatusDeployed, rcommon.StatusSuperseded, false},
		{"deployed again", rcommon.StatusDeployed, rcommon.StatusDeployed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGatedSecrets(t)
			s := newReleaseStore(g.cs.CoreV1().Secrets("ns"), nil)
			if tt.created != "" {
				if err := s.Create(behindKey, pending(tt.created)); err != nil {
					t.Fatal(err)
				}
			} else if err := driver.NewSecrets(g.cs.CoreV1().Secrets("ns")).Create(behindKey, pending(tt.update)); err != nil {
				t.Fatal(err)
			}
			g.close()
			done := make(chan error, 1)
			go func() { done <- s.Update(behindKey, pending(tt.update)) }()
			<-g.arrived
			if tt.behind {
				// Returns while the server holds the write.
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			} else {
				select {
				case err := <-done:
					t.Fatalf("Update returned (%v) before the server stored the record", err)
				case <-time.After(50 * time.Millisecond):
				}
				g.open()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			g.open()
			s.Flush()
			if got := storedRecord(t, g); !strings.HasPrefix(got, tt.update.String()+" ") {
				t.Errorf("stored %q, want status %s", got, tt.update)
			}
		})
	}
}

// Reads and deletes wait for the queue: Helm reads what it wrote, and a
// deleted record does not come back.
func TestReleaseStoreReadsAndDeletesAfterQueuedWrites(t *testing.T) {
	tests := []struct {
		name string
		call func(s releaseStore) error
		// gone: the record must be absent afterwards.
		gone bool
	}{
		{"get", func(s releaseStore) error {
			r, err := s.Get(behindKey)
			if err == nil {
				if rel, _ := asRelease(r); describe(rel) != "pending-install sa=Running job=" {
					err = errors.New("read " + describe(rel))
				}
			}
			return err
		}, false},
		{"query", func(s releaseStore) error {
			rs, err := s.Query(map[string]string{"name": "app", "owner": "helm"})
			if err == nil {
				if rel, _ := asRelease(rs[0]); describe(rel) != "pending-install sa=Running job=" {
					err = errors.New("read " + describe(rel))
				}
			}
			return err
		}, false},
		{"list", func(s releaseStore) error {
			rs, err := s.List(func(ri.Releaser) bool { return true })
			if err == nil && len(rs) != 1 {
				err = errors.New("listed not one record")
			}
			return err
		}, false},
		{"delete", func(s releaseStore) error { _, err := s.Delete(behindKey); return err }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGatedSecrets(t)
			s := newReleaseStore(g.cs.CoreV1().Secrets("ns"), nil)
			rel := hookRelease()
			if err := s.Create(behindKey, rel); err != nil {
				t.Fatal(err)
			}
			g.close()
			rel.Hooks[0].LastRun.Phase = release.HookPhaseRunning
			if err := s.Update(behindKey, rel); err != nil {
				t.Fatal(err)
			}
			<-g.arrived
			done := make(chan error, 1)
			go func() { done <- tt.call(s) }()
			select {
			case err := <-done:
				t.Fatalf("returned (%v) while a write was in flight", err)
			case <-time.After(50 * time.Millisecond):
			}
			g.open()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			_, err := g.cs.CoreV1().Secrets("ns").Get(context.Background(), behindKey, metav1.GetOptions{})
			if tt.gone != (err != nil) {
				t.Errorf("record present after %s: %v", tt.name, err == nil)
			}
		})
	}
}

// A write that fails in the background is logged as Helm logs it, and
// the next hook write of that record is made in the foreground.
func TestReleaseStoreBehindFailureIsLogged(t *testing.T) {
	g := newGatedSecrets(t)
	var logs bytes.Buffer
	s := newReleaseStore(g.cs.CoreV1().Secrets("ns"), slog.New(slog.NewTextHandler(&logs, nil)))
	rel := hookRelease()
	if err := s.Create(behindKey, rel); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.fail = true
	g.mu.Unlock()
	if err := s.Update(behindKey, rel); err != nil {
		t.Fatalf("a hook write in the background returned %v", err)
	}
	s.Flush()
	if !strings.Contains(logs.String(), "failed to update release") || !strings.Contains(logs.String(), "request timed out") {
		t.Errorf("log: %q", logs.String())
	}
	if err := s.Update(behindKey, rel); err == nil {
		t.Error("the next hook write went behind again: want it in the foreground, failing")
	}
}
