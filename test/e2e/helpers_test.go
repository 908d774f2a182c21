// Package e2e runs the hookrunner binary built from this tree, and the real
// helm v4 and v3 CLIs, against the real test control plane.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/cluster"
)

// binary is the hookrunner built for this test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookrunner-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "hookrunner")
	build := exec.Command("go", "build", "-trimpath", "-o", binary, "github.com/hookrunner/hookrunner/cmd/hookrunner")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hookrunner: %v\n%s", err, out)
		os.Exit(1)
	}
	// The image the wrapper chart runs by default (hookrunner:APPVERSION),
	// imported into the real node that runs its hook pods.
	image := filepath.Join(dir, "hookrunner.oci.tar")
	name, err := wrapperImage()
	if err == nil {
		err = cluster.BuildImage(context.Background(), image, name, "/hookrunner", "static", "github.com/hookrunner/hookrunner/cmd/hookrunner", "-s -w")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "build hookrunner image: %v\n", err)
		os.Exit(1)
	}
	code := cluster.MainOptions(m, cluster.Options{RealNode: true, Images: []string{image}})
	os.RemoveAll(dir)
	os.Exit(code)
}

// wrapperImage is the wrapper chart's default image, as containerd names it.
func wrapperImage() (string, error) {
	data, err := os.ReadFile(filepath.Join(wrapperChart, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	var meta struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return "", err
	}
	return "docker.io/library/hookrunner:" + meta.AppVersion, nil
}

// listen listens on a free port of the address that both this machine and
// the real node's pods reach.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(cluster.Get(t).HostIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

const (
	webapp  = "../testdata/charts/webapp"
	failing = "../testdata/charts/failing"
	oldkube = "../testdata/charts/oldkube"
)

// run is one finished hookrunner process.
type run struct {
	code   int
	stdout string
	stderr string
	result runner.Result
}

// hookrunner runs the binary with args and the test cluster's admin
// kubeconfig in the environment, and parses the result document from the
// last line of stdout.
func hookrunner(t *testing.T, env []string, args ...string) run {
	t.Helper()
	cmd := command(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return finished(t, cmd, err, stdout.String(), stderr.String())
}

func command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	c := cluster.Get(t)
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"KUBECONFIG=" + c.Kubeconfig,
		"HOOKRUNNER_CACHE_DIR=" + t.TempDir(),
	}, env...)
	return cmd
}

func finished(t *testing.T, cmd *exec.Cmd, err error, stdout, stderr string) run {
	t.Helper()
	r := run{code: cmd.ProcessState.ExitCode(), stdout: stdout, stderr: stderr}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run hookrunner: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r.result); err != nil {
		t.Fatalf("last stdout line is not a result document: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Errorf("hookrunner panicked:\n%s", stderr)
	}
	if r.result.ExitCode != r.code {
		t.Errorf("result says exit code %d, process exited %d", r.result.ExitCode, r.code)
	}
	return r
}

// must fails the test unless r succeeded.
func (r run) must(t *testing.T) run {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("hookrunner exited %d: %s\nstderr:\n%s", r.code, r.result.Reason, r.stderr)
	}
	return r
}

// helmCLI runs the real helm CLI ("helm4" or "helm3") against the cluster
// and fails the test when it fails.
func helmCLI(t *testing.T, which string, args ...string) string {
	t.Helper()
	out, err := helmRun(t, which, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", which, strings.Join(args, " "), err, out)
	}
	return out
}

// silentListener accepts TCP connections and never answers:
// a callback receiver or API server that hangs.
func silentListener(t *testing.T) net.Listener {
	t.Helper()
	ln := listen(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
		}
	}()
	return ln
}

// helmRelease is a row of `helm list -o json`.
type helmRelease struct {
	Name     string `json:"name"`
	Revision string `json:"revision"`
	Status   string `json:"status"`
	Chart    string `json:"chart"`
}

// helmList lists releases in namespace (all states) with the given CLI.
func helmList(t *testing.T, which, namespace string) []helmRelease {
	t.Helper()
	var list []helmRelease
	args := []string{"list", "-n", namespace, "-o", "json"}
	if which == "helm3" {
		args = append(args, "--all") // helm 4 lists every state by default and has no --all
	}
	out := helmCLI(t, which, args...)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%s list: %v: %s", which, err, out)
	}
	return list
}

// helmValues is `helm get values NAME -o json`.
func helmValues(t *testing.T, which, namespace, name string) map[string]any {
	t.Helper()
	var vals map[string]any
	out := helmCLI(t, which, "get", "values", name, "-n", namespace, "-o", "json")
	if err := json.Unmarshal([]byte(out), &vals); err != nil {
		t.Fatalf("%s get values: %v: %s", which, err, out)
	}
	return vals
}

// helmStatus is the status of the latest revision of name, per helm v4.
func helmStatus(t *testing.T, namespace, name string) (status string, revision string) {
	t.Helper()
	for _, r := range helmList(t, "helm4", namespace) {
		if r.Name == name {
			return r.Status, r.Revision
		}
	}
	return "", ""
}

func client(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := cluster.Get(t).Client()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// namespaceFor returns a namespace name unique to the test.
func namespaceFor(t *testing.T) string {
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.Trim(name, "-")
}

// createNamespace creates a namespace unique to the test, and waits for
// its default ServiceAccount: until the controller manager has made it,
// the API server refuses pods in the namespace.
func createNamespace(t *testing.T) string {
	t.Helper()
	return createNamespaceWithin(t, time.Minute)
}

// createNamespaceWithin is createNamespace, waiting up to within for the
// ServiceAccount.
func createNamespaceWithin(t *testing.T, within time.Duration) string {
	t.Helper()
	ns := namespaceFor(t)
	_, err := client(t).CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for {
		_, err := client(t).CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		if err == nil {
			return ns
		}
		if time.Now().After(deadline) {
			// The controller manager makes it: say what the control plane
			// was doing.
			t.Fatalf("the default ServiceAccount of %s: not made within %s (last: %v)\n%s", ns, within, err, cluster.Get(t).LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// namespaceAbsent reports whether namespace does not exist (or is going).
func namespaceAbsent(t *testing.T, namespace string) bool {
	t.Helper()
	ns, err := client(t).CoreV1().Namespaces().Get(context.Background(), namespace, metav1.GetOptions{})
	return apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp != nil)
}

// releaseSecrets counts Helm's release records in namespace.
func releaseSecrets(t *testing.T, namespace string) int {
	t.Helper()
	list, err := client(t).CoreV1().Secrets(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer a process writes while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// started is a hookrunner running in the background.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
}

func start(t *testing.T, env []string, args ...string) *started {
	t.Helper()
	cmd := command(t, env, args...)
	s := &started{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return s
}

// signal sends sig and waits at most within for the process to exit.
func (s *started) signal(t *testing.T, sig syscall.Signal, within time.Duration) (run, time.Duration) {
	t.Helper()
	sent := time.Now()
	// The process may finish between the caller's look and the signal:
	// then there is nothing to signal, and its exit is waited for below.
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		took := time.Since(sent)
		if sig == syscall.SIGKILL {
			return run{code: -1}, took
		}
		return finished(t, s.cmd, err, s.stdout.String(), s.stderr.String()), took
	case <-time.After(within):
		t.Fatalf("hookrunner still running %s after %s", within, sig)
	}
	return run{}, 0
}

// wait waits for the process to exit on its own.
func (s *started) wait(t *testing.T, within time.Duration) run {
	t.Helper()
	select {
	case err := <-s.done:
		return finished(t, s.cmd, err, s.stdout.String(), s.stderr.String())
	case <-time.After(within):
		t.Fatalf("hookrunner still running after %s\nstderr:\n%s", within, s.stderr.String())
	}
	return run{}
}

// writeChart writes files (path → content) under dir.
func writeChart(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
