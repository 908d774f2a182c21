package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// hookKubelet plays the kubelet for hookrunner's own hook pods, which carry
// cluster.ExecLabel so kwok leaves them alone: it runs the hookrunner binary
// built from this tree with the pod's args and environment (Secret keys
// resolved, $(VAR) expanded) and its Secret and emptyDir volumes as local
// directories, then sets the pod Succeeded or Failed with the exit code and
// the termination message, so the Job controller and Helm proceed exactly
// as on a real node.
type hookKubelet struct {
	t      *testing.T
	cs     kubernetes.Interface
	ns     string
	mu     sync.Mutex
	ran    map[string]bool
	logs   map[string]string // pod name → stderr of its run
	specs  []corev1.PodSpec  // of every pod run
	cancel context.CancelFunc
	done   chan struct{}
}

// startHookKubelet runs hook pods of namespace until the test ends.
func startHookKubelet(t *testing.T, namespace string) *hookKubelet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &hookKubelet{t: t, cs: client(t), ns: namespace, ran: map[string]bool{}, logs: map[string]string{}, cancel: cancel, done: make(chan struct{})}
	go k.loop(ctx)
	t.Cleanup(func() {
		cancel()
		<-k.done
	})
	return k
}

func (k *hookKubelet) loop(ctx context.Context) {
	defer close(k.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		pods, err := k.cs.CoreV1().Pods(k.ns).List(ctx, metav1.ListOptions{LabelSelector: cluster.ExecLabel})
		if err == nil {
			for i := range pods.Items {
				pod := pods.Items[i]
				if pod.Spec.NodeName == "" || pod.Status.Phase != corev1.PodPending || pod.DeletionTimestamp != nil {
					continue
				}
				k.mu.Lock()
				seen := k.ran[pod.Name]
				k.ran[pod.Name] = true
				k.mu.Unlock()
				if !seen {
					wg.Add(1)
					go func() {
						defer wg.Done()
						k.run(ctx, &pod)
					}()
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// podSpecs returns the specs of the pods run so far.
func (k *hookKubelet) podSpecs() []corev1.PodSpec {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]corev1.PodSpec{}, k.specs...)
}

// log returns the stderr of every pod run so far, for failure messages.
func (k *hookKubelet) log() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	names := make([]string, 0, len(k.logs))
	for n := range k.logs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "--- pod %s\n%s\n", n, k.logs[n])
	}
	return b.String()
}

func (k *hookKubelet) run(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	k.specs = append(k.specs, *pod.Spec.DeepCopy())
	k.mu.Unlock()
	ctr := pod.Spec.Containers[0]
	root, err := os.MkdirTemp("", "hook-pod-")
	if err != nil {
		k.t.Error(err)
		return
	}
	defer os.RemoveAll(root)
	// Volumes become directories; mount paths map onto them.
	mounts := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(root, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			k.t.Error(err)
			return
		}
		if v.Secret != nil {
			s, err := k.cs.CoreV1().Secrets(pod.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				k.fail(ctx, pod, 128, "mount secret "+v.Secret.SecretName+": "+err.Error())
				return
			}
			files := map[string]string{}
			for key := range s.Data {
				files[key] = key
			}
			if len(v.Secret.Items) > 0 {
				files = map[string]string{}
				for _, item := range v.Secret.Items {
					files[item.Key] = item.Path
				}
			}
			for key, path := range files {
				if err := os.WriteFile(filepath.Join(dir, path), s.Data[key], 0o600); err != nil {
					k.t.Error(err)
					return
				}
			}
		}
		for _, m := range ctr.VolumeMounts {
			if m.Name == v.Name {
				mounts[m.MountPath] = dir
			}
		}
	}
	local := func(s string) string {
		// Longest mount path first.
		paths := make([]string, 0, len(mounts))
		for p := range mounts {
			paths = append(paths, p)
		}
		sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
		for _, p := range paths {
			if s == p || strings.HasPrefix(s, p+"/") {
				return mounts[p] + strings.TrimPrefix(s, p)
			}
		}
		return s
	}
	env := map[string]string{}
	var order []string
	for _, e := range ctr.Env {
		value := e.Value
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			s, err := k.cs.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.SecretKeyRef.Name, metav1.GetOptions{})
			data, ok := []byte(nil), false
			if err == nil {
				data, ok = s.Data[ref.SecretKeyRef.Key]
			}
			if !ok {
				if ref.SecretKeyRef.Optional != nil && *ref.SecretKeyRef.Optional {
					continue
				}
				k.fail(ctx, pod, 128, "secret key "+ref.SecretKeyRef.Name+"/"+ref.SecretKeyRef.Key+" not found")
				return
			}
			value = string(data)
		}
		env[e.Name] = local(value)
		order = append(order, e.Name)
	}
	termLog := filepath.Join(root, "termination-log")
	if err := os.WriteFile(termLog, nil, 0o644); err != nil {
		k.t.Error(err)
		return
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	args := make([]string, len(ctr.Args))
	for i, a := range ctr.Args {
		args[i] = local(ref.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		}))
	}
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOOKRUNNER_TERMINATION_LOG=" + termLog}
	for _, name := range order {
		cmd.Env = append(cmd.Env, name+"="+env[name])
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	k.setRunning(ctx, pod)
	err = cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
	}
	k.mu.Lock()
	k.logs[pod.Name] = stderr.String()
	k.mu.Unlock()
	msg, _ := os.ReadFile(termLog)
	k.finish(ctx, pod, code, string(msg))
}

func (k *hookKubelet) setRunning(ctx context.Context, pod *corev1.Pod) {
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image, Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
	}}
	if updated, err := k.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err == nil {
		*pod = *updated
	}
}

func (k *hookKubelet) fail(ctx context.Context, pod *corev1.Pod, code int, msg string) {
	k.mu.Lock()
	k.logs[pod.Name] = msg
	k.mu.Unlock()
	k.finish(ctx, pod, code, msg)
}

// finish sets the pod's final phase with its container's exit code.
func (k *hookKubelet) finish(ctx context.Context, pod *corev1.Pod, code int, msg string) {
	for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
		now := metav1.Now()
		pod.Status.Phase = corev1.PodSucceeded
		reason := "Completed"
		if code != 0 {
			pod.Status.Phase = corev1.PodFailed
			reason = "Error"
		}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now}}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: int32(code), Reason: reason, Message: msg, StartedAt: now, FinishedAt: now}},
		}}
		_, err := k.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		fresh, gerr := k.cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return // deleted meanwhile
		}
		*pod = *fresh
	}
}
