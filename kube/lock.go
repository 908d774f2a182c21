package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookrunner/hookrunner/runner/retry"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/ptr"
)

// DefaultLeaseDuration is how long a lock outlives a holder that stopped
// renewing it (a runner killed with SIGKILL). Holders renew every third of
// it.
const DefaultLeaseDuration = 15 * time.Second

// LockOption changes how AcquireLock holds the lease.
type LockOption func(*Lock)

// WithLeaseDuration holds the lease for d instead of DefaultLeaseDuration.
func WithLeaseDuration(d time.Duration) LockOption {
	return func(l *Lock) { l.duration = d }
}

// HolderIdentity names this process in a Lease: host (in a pod, the pod
// name), process ID and a random suffix.
func HolderIdentity() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// deadOnThisHost reports whether holder names a process on this host (this
// pod) that is gone: its PID does not exist, or is this very process (a
// restarted container reuses PID 1). Such a lease is taken over at once
// instead of after its duration. Holders elsewhere are judged by expiry.
func deadOnThisHost(holder string) bool {
	parts := strings.Split(holder, "/")
	host, _ := os.Hostname()
	if len(parts) != 3 || parts[0] != host {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return true
	}
	// A killed process its parent has not reaped yet is a zombie: gone too.
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// LockName is the name of the Lease guarding release.
func LockName(release string) string { return "hookrunner-" + release }

// Lock is a held Lease on one release: while a runner holds it, no other
// runner acts on that release.
type Lock struct {
	leases coordinationclient.LeaseInterface
	name   string
	holder string
	log    *slog.Logger
	// duration is the lease's duration; renewed every third of it.
	duration time.Duration

	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	last *coordinationv1.Lease
}

// AcquireLock takes the Lease LockName(release) in namespace for holder,
// waiting while another holder keeps it renewed. A lease nobody renewed for
// its duration (by its renewTime, or by what this process observed) is
// taken over. The lock is renewed in the background until Release.
func AcquireLock(ctx context.Context, cs kubernetes.Interface, namespace, release, holder string, log *slog.Logger, opts ...LockOption) (*Lock, error) {
	l := &Lock{
		leases:   cs.CoordinationV1().Leases(namespace),
		name:     LockName(release),
		holder:   holder,
		log:      log,
		duration: DefaultLeaseDuration,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for _, o := range opts {
		o(l)
	}
	var (
		seenVersion string
		seenAt      time.Time
		logged      string
	)
	err := retry.Do(ctx, retry.Poll, func(int) (bool, error) {
		lease, err := l.tryAcquire(ctx, &seenVersion, &seenAt)
		if err != nil && IsTransient(err) {
			log.Warn("transient cluster error while taking the lock; retrying", "lease", l.name, "error", err.Error())
			return true, nil
		} else if err != nil {
			return false, fmt.Errorf("lock release %s/%s with lease %s: %w", namespace, release, l.name, err)
		}
		if lease != nil {
			l.last = lease
			return false, nil
		}
		if other := seenHolder(l); other != logged {
			log.Info("waiting for another runner to finish with this release", "lease", l.name, "holder", other)
			logged = other
		}
		return true, nil
	})
	if stopped, ok := retry.IsStopped(err); ok {
		return nil, fmt.Errorf("lock release %s/%s: waiting for lease %s held by %s: %w", namespace, release, l.name, logged, stopped.Cause)
	}
	if err != nil {
		return nil, err
	}
	go l.renew()
	return l, nil
}

// seenHolder is the holder of the lease this process last saw.
func seenHolder(l *Lock) string {
	if l.last == nil || l.last.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.last.Spec.HolderIdentity
}

// tryAcquire makes one attempt. It returns the lease when this holder has
// it, nil when another live holder does.
func (l *Lock) tryAcquire(ctx context.Context, seenVersion *string, seenAt *time.Time) (*coordinationv1.Lease, error) {
	now := metav1.NewMicroTime(time.Now())
	current, err := l.leases.Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.name, Labels: map[string]string{"app.kubernetes.io/managed-by": "hookrunner"}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       &l.holder,
				LeaseDurationSeconds: ptr.To(int32(l.duration / time.Second)),
				AcquireTime:          &now,
				RenewTime:            &now,
			},
		}
		created, err := l.leases.Create(ctx, lease, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) {
			return nil, nil
		}
		return created, err
	}
	if err != nil {
		return nil, err
	}
	l.last = current
	if current.ResourceVersion != *seenVersion {
		*seenVersion, *seenAt = current.ResourceVersion, time.Now()
	}
	spec := current.Spec
	free := spec.HolderIdentity == nil || *spec.HolderIdentity == "" || *spec.HolderIdentity == l.holder
	stale := deadOnThisHost(*spec.HolderIdentity) || time.Since(*seenAt) > l.duration ||
		(spec.RenewTime != nil && spec.LeaseDurationSeconds != nil &&
			time.Since(spec.RenewTime.Time) > time.Duration(*spec.LeaseDurationSeconds)*time.Second)
	if !free && !stale {
		return nil, nil
	}
	if !free {
		l.log.Warn("taking over the lease of a runner that is gone", "lease", l.name, "holder", *spec.HolderIdentity)
	}
	taken := current.DeepCopy()
	taken.Spec.HolderIdentity = &l.holder
	taken.Spec.LeaseDurationSeconds = ptr.To(int32(l.duration / time.Second))
	taken.Spec.AcquireTime = &now
	taken.Spec.RenewTime = &now
	updated, err := l.leases.Update(ctx, taken, metav1.UpdateOptions{FieldManager: FieldManager})
	if apierrors.IsConflict(err) {
		return nil, nil // someone else moved first; look again
	}
	return updated, err
}

// renew keeps the lease fresh until Release.
func (l *Lock) renew() {
	defer close(l.done)
	tick := time.NewTicker(l.duration / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.duration/3)
		l.mu.Lock()
		lease := l.last.DeepCopy()
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.RenewTime = &now
		updated, err := l.leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: FieldManager})
		if err == nil {
			l.last = updated
		} else {
			l.log.Warn("renewing the release lock failed; retrying", "lease", l.name, "error", err)
			if apierrors.IsConflict(err) {
				if fresh, gerr := l.leases.Get(ctx, l.name, metav1.GetOptions{}); gerr == nil &&
					fresh.Spec.HolderIdentity != nil && *fresh.Spec.HolderIdentity == l.holder {
					l.last = fresh
				}
			}
		}
		l.mu.Unlock()
		cancel()
	}
}

// Release stops renewing and deletes the lease if this holder still has it.
func (l *Lock) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.leases.Delete(ctx, l.name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &l.last.UID, ResourceVersion: &l.last.ResourceVersion},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or taken over: not ours to delete
	}
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.name, err)
	}
	return nil
}
