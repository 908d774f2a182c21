package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hookrunner/hookrunner/test/cluster"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelper()
		return
	}
	os.Exit(cluster.Main(m))
}

func client(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := cluster.Get(t).Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// eventually polls cond until it holds or 60 s pass.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after 60s (last error: %v)", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestVersionIsStamped(t *testing.T) {
	v, err := client(t).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != cluster.KubeVersion || v.Major != "1" || v.Minor != "36" {
		t.Errorf("server version = %s (major %q, minor %q), want %s", v.GitVersion, v.Major, v.Minor, cluster.KubeVersion)
	}
}

func TestNodesReady(t *testing.T) {
	nodes, err := client(t).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) < 2 {
		t.Fatalf("got %d nodes, want at least 2", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if got := n.Status.Allocatable.StorageEphemeral().String(); got != "200Gi" {
			t.Errorf("node %s allocatable ephemeral-storage = %s, want 200Gi", n.Name, got)
		}
	}
}

func labels(app string) map[string]string { return map[string]string{"app": app} }

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}}
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	cs := client(t)
	ns := namespace(t, cs)
	replicas := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels("web")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("web")}, Spec: podSpec()},
		},
	}
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "deployment Available with 2 ready replicas", func() (bool, error) {
		got, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && got.Status.ReadyReplicas == 2 {
				return true, nil
			}
		}
		return false, fmt.Errorf("status %+v", got.Status)
	})
	t.Logf("deployment available after %s", time.Since(start).Round(time.Millisecond))
}

func TestJobCompletes(t *testing.T) {
	cs := client(t)
	ns := namespace(t, cs)
	spec := podSpec()
	spec.RestartPolicy = corev1.RestartPolicyNever
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "once"},
		Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: spec}},
	}
	ctx := context.Background()
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "job Complete", func() (bool, error) {
		got, err := cs.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, fmt.Errorf("status %+v", got.Status)
	})
}

// A pod labelled cluster.ExecLabel is scheduled but never started by kwok,
// while an unlabelled twin created at the same time runs.
func TestExecLabelledPodIsLeftAlone(t *testing.T) {
	cs := client(t)
	ns := namespace(t, cs)
	ctx := context.Background()
	for _, name := range []string{"excluded", "managed"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: podSpec()}
		if name == "excluded" {
			pod.Labels = map[string]string{cluster.ExecLabel: "true"}
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "unlabelled pod Running", func() (bool, error) {
		got, err := cs.CoreV1().Pods(ns).Get(ctx, "managed", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning, err
	})
	// Give kwok the same head start again on the excluded pod, then look.
	eventually(t, "excluded pod scheduled", func() (bool, error) {
		got, err := cs.CoreV1().Pods(ns).Get(ctx, "excluded", metav1.GetOptions{})
		return err == nil && got.Spec.NodeName != "", err
	})
	time.Sleep(2 * time.Second)
	got, err := cs.CoreV1().Pods(ns).Get(ctx, "excluded", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodPending || got.Status.PodIP != "" || len(got.Status.ContainerStatuses) != 0 {
		t.Errorf("kwok touched the excluded pod: phase %s, podIP %q, %d container statuses",
			got.Status.Phase, got.Status.PodIP, len(got.Status.ContainerStatuses))
	}
	// Deleting it still completes (kwok's pod-delete stage finalises every pod).
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "excluded", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "excluded pod deleted", func() (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "excluded", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

func TestServiceAccountKubeconfigFollowsRBAC(t *testing.T) {
	c := cluster.Get(t)
	admin := client(t)
	ns := namespace(t, admin)
	ctx := context.Background()
	path, err := c.ServiceAccountKubeconfig(ctx, ns, "runner")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list configmaps without a role: err = %v, want Forbidden", err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-cm"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-cm"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-cm"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "runner", Namespace: ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "list configmaps allowed by the role", func() (bool, error) {
		_, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	if _, err := sa.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list configmaps in another namespace: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets: err = %v, want Forbidden", err)
	}
}

const helperEnv = "HOOKRUNNER_CLUSTER_HELPER"

// runHelper starts a cluster, prints its component PIDs as one JSON line and
// waits to be killed.
func runHelper() {
	c, err := cluster.Start(context.Background(), cluster.Options{Dir: os.Getenv(helperEnv), Nodes: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(c.PIDs())
	time.Sleep(5 * time.Minute)
	os.Exit(2)
}

// kill -9 of a process running a cluster leaves none of the components
// behind: each is started with a parent-death signal.
func TestKilledParentLeavesNoProcesses(t *testing.T) {
	if _, err := cluster.ToolsBin(); err != nil {
		cluster.Get(t) // skips or fails by the same rules as every cluster test
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &pids) != nil || len(pids) < 5 {
		cmd.Process.Kill()
		t.Fatalf("helper did not report its components: %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, "every component gone", func() (bool, error) {
		for _, pid := range pids {
			if alive(pid) {
				return false, fmt.Errorf("pid %d still running", pid)
			}
		}
		return true, nil
	})
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Field 3, after the parenthesised command name, is the state.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
