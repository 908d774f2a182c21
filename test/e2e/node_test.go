package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hookrunner/hookrunner/test/cluster"
)

// The network rule: nothing on the real node can reach an address outside
// this machine. The node's namespace and every pod's namespace have no
// default route, pods route only to the Service range, the veth pair and
// their own subnet, and this machine routes the pod subnet only into the
// veth. Checked on the routing tables; no traffic is sent to probe.
func TestRealNodeHasNoRouteOut(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ns := createNamespace(t)
	// A pod on the node, so that a pod network namespace exists.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "routes", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: cluster.PauseImage, ImagePullPolicy: corev1.PullNever}}},
	}
	if _, err := client(t).CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, ns, "routes", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	routes, err := c.NodeRoutes()
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 2 {
		t.Fatalf("want the node's and at least one pod's routes, got %v", routes)
	}
	allowed := []string{cluster.ServiceCIDR}
	_, veth, _ := net.ParseCIDR(c.HostIP() + "/30")
	allowed = append(allowed, veth.String())
	for where, table := range routes {
		if d := cluster.DefaultRoutes(table); len(d) > 0 {
			t.Errorf("%s has a default route: %v", where, d)
		}
		if where == "node" {
			continue
		}
		// A pod: its own subnet (kernel route), the Service range and the
		// veth pair, via the bridge; link-local and IPv6 kernel routes.
		for _, line := range strings.Split(table, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] == "local" || f[0] == "broadcast" || f[0] == "multicast" || strings.HasPrefix(f[0], "fe80") || strings.HasPrefix(f[0], "ff00") || f[0] == "::1" {
				continue
			}
			ok := strings.Contains(line, "proto kernel")
			for _, a := range allowed {
				ok = ok || f[0] == a
			}
			if !ok {
				t.Errorf("pod namespace %s has an unexpected route: %q", where, line)
			}
		}
	}
	// Every pod route goes via the node; the node has nothing beyond the
	// veth pair and its bridge.
	for _, line := range strings.Split(routes["node"], "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "local" || f[0] == "broadcast" || f[0] == "multicast" || strings.HasPrefix(f[0], "fe80") || strings.HasPrefix(f[0], "ff00") || f[0] == "::1" {
			continue
		}
		if !strings.Contains(line, "proto kernel") {
			t.Errorf("node namespace has a route that is not a connected network: %q", line)
		}
	}
	t.Logf("routes:\n%v", routes)
}

// waitPod polls a pod until cond holds (a minute at most).
func waitPod(t *testing.T, ns, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		p, err := client(t).CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
	}
	t.Fatalf("pod %s/%s never reached the condition; last status %+v", ns, name, last)
	return nil
}

// The Job's activeDeadlineSeconds expires while hookrunner waits for a
// target that never becomes ready: the kubelet's SIGTERM makes hookrunner
// leave the target release failed (never pending-install) and send the
// FAILURE callback within the pod's grace period.
func TestWrapperJobDeadlineInterruptsCleanly(t *testing.T) {
	t.Parallel()
	ns, target := "wrapper-deadline", "target-deadline"
	rcv := newReceiver(t)
	k := followHookPods(t, ns)
	values := wrapperValues(t, target, map[string]any{
		"target":   map[string]any{"values": map[string]any{"notReady": true}},
		"callback": map[string]any{"url": rcv.url(), "format": "cfn"},
		// The chart derives the deadline from install.timeout (1s + 60 s);
		// the run itself waits 10 minutes, so the deadline comes first.
		"install":   map[string]any{"timeout": "1s", "extraArgs": []any{"--timeout=10m"}},
		"uninstall": map[string]any{"timeout": "1s"}, // the deadline is shared
		"job":       map[string]any{"activeDeadlineSeconds": 61, "backoffLimit": 0},
	})
	out, err := helmRun(t, "helm4", "install", "wrap", wrapperChart, "-n", ns, "--create-namespace", "-f", values, "--timeout", "4m")
	if err == nil {
		t.Fatalf("helm install succeeded although the Job ran out of time:\n%s", out)
	}
	sig := rcv.next(t, 30*time.Second)
	// Sent by hookrunner after the kubelet's SIGTERM: the process was alive,
	// and the kubelet SIGKILLs it when the grace period ends, so the
	// callback went out within that period. (No wall-clock bound: on a
	// loaded machine the Job starts late.)
	reason, _ := sig.body["Reason"].(string)
	if sig.body["Status"] != "FAILURE" || !strings.Contains(reason, "interrupted by signal") {
		t.Errorf("callback %+v, want FAILURE saying the run was interrupted by the signal", sig.body)
	}
	job, err := client(t).BatchV1().Jobs(ns).Get(context.Background(), "wrap-hookrunner-install", metav1.GetOptions{})
	if err != nil || job.Status.StartTime == nil {
		t.Fatalf("the failed install Job: %v", err)
	}
	failed := false
	for _, c := range job.Status.Conditions {
		failed = failed || c.Type == batchv1.JobFailed && c.Reason == batchv1.JobReasonDeadlineExceeded
	}
	if !failed {
		t.Errorf("the install Job did not fail by its deadline: %+v", job.Status.Conditions)
	}
	deadline := job.Status.StartTime.Add(61 * time.Second)
	t.Logf("FAILURE callback %s after the Job's deadline (grace period 30 s)", sig.at.Sub(deadline).Round(time.Millisecond))
	if status, _ := helmStatus(t, target, "app"); status != "failed" {
		t.Errorf("target release %q after SIGTERM, want failed (never pending-install)\n%s", status, k.log())
	}
	k.ranOnRealNode(t)
}

// The hook pod installs the 3000-object bench chart under the wrapper
// chart's default memory limit; the peak memory the kernel charged to its
// container is logged.
func TestWrapperBulkUnderDefaultMemoryLimit(t *testing.T) {
	t.Parallel()
	ns, target := "wrapper-bulk", "target-bulk"
	k := followHookPods(t, ns)
	values := wrapperValues(t, target, map[string]any{
		"target":  map[string]any{"chartContent": chartContent(t, "../testdata/charts/bulk"), "values": map[string]any{"count": 3000}},
		"install": map[string]any{"timeout": "5m"},
	})
	peak := make(chan uint64, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := client(t)
	go func() { peak <- watchPeakMemory(ctx, cs, ns) }()
	if out, err := helmRun(t, "helm4", "install", "wrap", wrapperChart, "-n", ns, "--create-namespace", "-f", values, "--timeout", "8m"); err != nil {
		t.Fatalf("helm install: %v\n%s\n%s", err, out, k.log())
	}
	cancel()
	k.ranOnRealNode(t)
	if status, _ := helmStatus(t, target, "app"); status != "deployed" {
		t.Errorf("target %q", status)
	}
	cms, err := client(t).CoreV1().ConfigMaps(target).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(cms.Items) < 3000 {
		t.Errorf("ConfigMaps in the target namespace: %v, %d", err, len(cms.Items))
	}
	p := <-peak
	if p == 0 {
		t.Error("never read the hook container's memory cgroup")
	}
	t.Logf("hook container peak memory (cgroup memory.max_usage_in_bytes): %.1f MiB, limit 512 MiB", float64(p)/(1<<20))
}

// watchPeakMemory follows the install pod's container on the real node
// and returns the last high-water mark of its memory cgroup (cgroup v1
// memory.max_usage_in_bytes; the node uses the cgroupfs driver, so the
// cgroup is a directory named after the container ID) read before the
// container went away or ctx ended.
func watchPeakMemory(ctx context.Context, cs kubernetes.Interface, ns string) uint64 {
	var peak uint64
	var dir string
	for ctx.Err() == nil {
		if dir == "" {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=install"})
			if err == nil {
				for _, p := range pods.Items {
					for _, st := range p.Status.ContainerStatuses {
						if id, ok := strings.CutPrefix(st.ContainerID, "containerd://"); ok && st.State.Running != nil {
							dir = findCgroup("/sys/fs/cgroup/memory", id)
						}
					}
				}
			}
		}
		if dir != "" {
			data, err := os.ReadFile(filepath.Join(dir, "memory.max_usage_in_bytes"))
			if err != nil {
				return peak // the container is gone
			}
			if v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err == nil && v > peak {
				peak = v
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return peak
}

// findCgroup returns the directory under root (at most four levels deep)
// whose name contains id, or "".
func findCgroup(root, id string) string {
	var found string
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		entries, err := os.ReadDir(dir)
		if err != nil || depth > 4 || found != "" {
			return
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if strings.Contains(e.Name(), id) {
				found = filepath.Join(dir, e.Name())
				return
			}
			walk(filepath.Join(dir, e.Name()), depth+1)
		}
	}
	walk(root, 0)
	return found
}
