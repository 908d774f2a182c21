package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hookrunner/hookrunner/test/cluster"
)

// hookPods follows the wrapper chart's hook pods in a namespace while the
// real kubelet runs them: it records each pod's spec, node and final
// container state, and streams its log from the start (helm deletes a
// succeeded hook Job, and its pods' logs with it, at once).
type hookPods struct {
	cs     kubernetes.Interface
	ns     string
	mu     sync.Mutex
	seen   map[string]*hookPod
	cancel context.CancelFunc
	done   chan struct{}
}

type hookPod struct {
	spec       corev1.PodSpec
	node       string
	terminated *corev1.ContainerStateTerminated
	log        bytes.Buffer
	streaming  bool
}

// followHookPods follows pods labelled app.kubernetes.io/name=hookrunner in
// namespace until the test ends.
func followHookPods(t *testing.T, namespace string) *hookPods {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &hookPods{cs: client(t), ns: namespace, seen: map[string]*hookPod{}, cancel: cancel, done: make(chan struct{})}
	go h.loop(ctx)
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	return h
}

func (h *hookPods) loop(ctx context.Context) {
	defer close(h.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		pods, err := h.cs.CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=hookrunner"})
		if err == nil {
			for i := range pods.Items {
				pod := &pods.Items[i]
				h.mu.Lock()
				p := h.seen[pod.Name]
				if p == nil {
					p = &hookPod{spec: *pod.Spec.DeepCopy()}
					h.seen[pod.Name] = p
				}
				p.node = pod.Spec.NodeName
				started := false
				for _, s := range pod.Status.ContainerStatuses {
					if s.State.Terminated != nil {
						p.terminated = s.State.Terminated.DeepCopy()
					}
					started = started || s.State.Running != nil || s.State.Terminated != nil
				}
				stream := started && !p.streaming
				p.streaming = p.streaming || stream
				h.mu.Unlock()
				if stream {
					wg.Add(1)
					go func(name string) {
						defer wg.Done()
						h.stream(ctx, name)
					}(pod.Name)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stream copies a pod's log, from its start, until the container ends.
func (h *hookPods) stream(ctx context.Context, name string) {
	rc, err := h.cs.CoreV1().Pods(h.ns).GetLogs(name, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		h.mu.Lock()
		fmt.Fprintf(&h.seen[name].log, "(log stream: %v)\n", err)
		h.mu.Unlock()
		return
	}
	defer rc.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		h.mu.Lock()
		h.seen[name].log.Write(buf[:n])
		h.mu.Unlock()
		if err == io.EOF || err != nil {
			return
		}
	}
}

// log returns every followed pod's log, for failure messages and checks.
func (h *hookPods) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.seen))
	for n := range h.seen {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "--- pod %s (node %s)\n%s\n", n, h.seen[n].node, h.seen[n].log.String())
	}
	return b.String()
}

// pods returns a copy of what was recorded of each pod.
func (h *hookPods) pods() map[string]hookPod {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]hookPod{}
	for n, p := range h.seen {
		out[n] = hookPod{spec: p.spec, node: p.node, terminated: p.terminated}
	}
	return out
}

// ranOnRealNode fails the test unless at least one hook pod was seen and
// every one ran on the real node.
func (h *hookPods) ranOnRealNode(t *testing.T) {
	t.Helper()
	pods := h.pods()
	if len(pods) == 0 {
		t.Error("no hook pod seen")
	}
	for name, p := range pods {
		if p.node != cluster.NodeName {
			t.Errorf("hook pod %s ran on %q, not on the real node %s", name, p.node, cluster.NodeName)
		}
	}
}
