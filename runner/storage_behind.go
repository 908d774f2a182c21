package runner

import (
	"log/slog"
	"maps"
	"sync"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
)

// writeBehind sends the release writes Helm makes between hook resources
// in the background, keeping only the latest when several queue up.
//
// While a release is pending (installing, upgrading, rolling back,
// uninstalling), Helm writes the whole record again before creating each
// hook resource, only to note that hook's LastRun; it ignores the
// outcome of those writes (Configuration.recordRelease logs and goes on).
// For ingress-nginx that is twelve writes of a 160 KB record, each
// encoded and sent before the next hook may start: about 40 ms each on
// the critical path.
//
// Such a write (an Update whose status is a pending one, of a record this
// store last wrote with that same status) returns once the release is
// copied; the copy is encoded and sent by one goroutine, in order. A
// write queued behind another replaces it: the stored record skips
// intermediate LastRun states, never the latest. Every other call of the
// store (a read, a create, a delete, an update that changes the status:
// deployed, failed, superseded...) first waits until the queue is empty,
// so what Helm reads, and every record that ends an action, is exactly
// what it would be without the queue. The runner flushes after each
// action too, for the actions whose last write is a hook's (a pre-delete
// hook that fails).
//
// What changes: for up to one write's time, the stored record may show
// an earlier hook's LastRun than the one being created. The status that
// recovery reads (pending-*) was written synchronously before any hook
// ran.
type writeBehind struct {
	log *slog.Logger

	mu   sync.Mutex
	idle *sync.Cond // signalled when the queue empties
	// status is the status of the last record this store wrote, per key.
	status map[string]rcommon.Status
	// next is the latest write waiting to be sent; busy reports whether
	// the sender is running.
	next *queuedWrite
	busy bool
	send func(key string, rel *release.Release) error
}

type queuedWrite struct {
	key string
	rel *release.Release
}

// newWriteBehind returns a queue; its owner sets send before use.
func newWriteBehind(log *slog.Logger) *writeBehind {
	w := &writeBehind{log: log, status: map[string]rcommon.Status{}}
	w.idle = sync.NewCond(&w.mu)
	return w
}

// pendingStatus are the statuses during which Helm writes after each hook.
var pendingStatus = map[rcommon.Status]bool{
	rcommon.StatusPendingInstall:  true,
	rcommon.StatusPendingUpgrade:  true,
	rcommon.StatusPendingRollback: true,
	rcommon.StatusUninstalling:    true,
}

// later queues an update of key to rel and reports true when it may be
// sent in the background; false means the caller writes it itself (after
// flush).
func (w *writeBehind) later(key string, rel *release.Release) bool {
	if rel == nil || rel.Info == nil || !pendingStatus[rel.Info.Status] {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status[key] != rel.Info.Status {
		return false
	}
	w.next = &queuedWrite{key: key, rel: snapshot(rel)}
	if !w.busy {
		w.busy = true
		go w.run()
	}
	return true
}

// run sends queued writes until none is left.
func (w *writeBehind) run() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.next != nil {
		q := w.next
		w.next = nil
		w.mu.Unlock()
		err := w.send(q.key, q.rel)
		w.mu.Lock()
		if err != nil {
			w.log.Warn("failed to update release", "key", q.key, "error", err)
		}
	}
	w.busy = false
	w.idle.Broadcast()
}

// flush waits until every queued write has been sent.
func (w *writeBehind) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.busy {
		w.idle.Wait()
	}
}

// wrote notes that key now holds a record with status (written, or
// created, by the caller).
func (w *writeBehind) wrote(key string, status rcommon.Status) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.status[key] = status
}

// forget notes that this store no longer knows what key holds.
func (w *writeBehind) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.status, key)
}

// snapshot copies what Helm changes in a release after writing it while
// hooks run (each hook's LastRun and delete policies, the info), sharing
// what it does not change (chart, values, manifest).
func snapshot(rel *release.Release) *release.Release {
	c := *rel
	if rel.Info != nil {
		info := *rel.Info
		c.Info = &info
	}
	c.Labels = maps.Clone(rel.Labels)
	c.Hooks = make([]*release.Hook, len(rel.Hooks))
	for i, h := range rel.Hooks {
		if h == nil {
			continue
		}
		hc := *h
		hc.Events = append([]release.HookEvent(nil), h.Events...)
		hc.DeletePolicies = append([]release.HookDeletePolicy(nil), h.DeletePolicies...)
		hc.OutputLogPolicies = append([]release.HookOutputLogPolicy(nil), h.OutputLogPolicies...)
		c.Hooks[i] = &hc
	}
	return &c
}
