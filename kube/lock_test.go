package kube_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/test/cluster"
)

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func setup(t *testing.T, ns string) kubernetes.Interface {
	t.Helper()
	cs, err := cluster.Get(t).Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestLockIsExclusiveAndReleased(t *testing.T) {
	cs := setup(t, "lock-exclusive")
	ctx := context.Background()
	a, err := kube.AcquireLock(ctx, cs, "lock-exclusive", "web", "runner-a", quiet)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	var b *kube.Lock
	go func() {
		var err error
		b, err = kube.AcquireLock(ctx, cs, "lock-exclusive", "web", "runner-b", quiet)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second runner got the lock while the first held it (err %v)", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second runner did not get the lock after the first released it")
	}
	lease, err := cs.CoordinationV1().Leases("lock-exclusive").Get(ctx, kube.LockName("web"), metav1.GetOptions{})
	if err != nil || *lease.Spec.HolderIdentity != "runner-b" {
		t.Fatalf("lease after hand-over: %v, %v", lease, err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoordinationV1().Leases("lock-exclusive").Get(ctx, kube.LockName("web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease left after release: err = %v", err)
	}
}

// A lease its holder stopped renewing (a runner killed with SIGKILL) is
// taken over without waiting for anyone.
func TestLockTakesOverStaleLease(t *testing.T) {
	cs := setup(t, "lock-stale")
	ctx := context.Background()
	old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	stale := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: kube.LockName("web")},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("killed-runner"), LeaseDurationSeconds: ptr.To(int32(15)),
			AcquireTime: &old, RenewTime: &old,
		},
	}
	if _, err := cs.CoordinationV1().Leases("lock-stale").Create(ctx, stale, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Holding leases for an hour, this runner would wait an hour if it
	// judged the lease by what it observed itself: taking it over before
	// the context ends proves it read the lease's own renewTime.
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := kube.AcquireLock(wait, cs, "lock-stale", "web", "runner-new", quiet, kube.WithLeaseDuration(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLockWaitEndsWithContext(t *testing.T) {
	cs := setup(t, "lock-cancel")
	a, err := kube.AcquireLock(context.Background(), cs, "lock-cancel", "web", "runner-a", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = kube.AcquireLock(ctx, cs, "lock-cancel", "web", "runner-b", quiet)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

// The holder renews: the lease's renewTime advances while it is held, and
// the holder stays the same.
func TestLockRenews(t *testing.T) {
	cs := setup(t, "lock-renew")
	ctx := context.Background()
	a, err := kube.AcquireLock(ctx, cs, "lock-renew", "web", "runner-a", quiet, kube.WithLeaseDuration(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	leases := cs.CoordinationV1().Leases("lock-renew")
	first, err := leases.Get(ctx, kube.LockName("web"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := leases.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + kube.LockName("web"), ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	bound := time.After(time.Minute) // a hang guard, not a latency bound
	for {
		select {
		case ev := <-w.ResultChan():
			lease, ok := ev.Object.(*coordinationv1.Lease)
			if !ok || lease.Spec.RenewTime == nil {
				continue
			}
			if *lease.Spec.HolderIdentity != "runner-a" {
				t.Fatalf("holder changed to %s", *lease.Spec.HolderIdentity)
			}
			if lease.Spec.RenewTime.After(first.Spec.RenewTime.Time) {
				return // renewed
			}
		case <-bound:
			t.Fatal("the lease was never renewed")
		}
	}
}

// A lease whose holder is a process of this host that is gone is taken
// over at once, not after its duration.
func TestLockTakesOverFromDeadLocalHolder(t *testing.T) {
	cs := setup(t, "lock-dead-local")
	ctx := context.Background()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: kube.LockName("web")},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(fmt.Sprintf("%s/%d/dead", host, gone.Process.Pid)),
			LeaseDurationSeconds: ptr.To(int32(3600)), AcquireTime: &now, RenewTime: &now,
		},
	}
	if _, err := cs.CoordinationV1().Leases("lock-dead-local").Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The dead holder's lease is fresh for an hour, and so would be this
	// runner's own view of it: taking it over before the context ends
	// proves the holder was found dead.
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := kube.AcquireLock(wait, cs, "lock-dead-local", "web", kube.HolderIdentity(), quiet, kube.WithLeaseDuration(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
}
