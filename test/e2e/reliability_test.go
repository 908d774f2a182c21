package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/cluster"
)

const bulk = "../testdata/charts/bulk"

// deployedRevisions counts deployed revisions of name in namespace.
func deployedRevisions(t *testing.T, namespace, name string) int {
	t.Helper()
	n := 0
	for _, s := range helmHistory(t, namespace, name) {
		if s == "deployed" {
			n++
		}
	}
	return n
}

// leaseGone reports whether the release's Lease is absent.
func leaseGone(t *testing.T, namespace, name string) bool {
	t.Helper()
	_, err := client(t).CoordinationV1().Leases(namespace).Get(context.Background(), kube.LockName(name), metav1.GetOptions{})
	return err != nil
}

// SIGKILL at many points of installs and upgrades: the same command again
// always ends deployed, with one deployed revision and no Lease left.
func TestSIGKILLAnywhereRecovers(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HOOKRUNNER_KILL_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (rerun with HOOKRUNNER_KILL_SEED=%d)", seed, seed)
	rng := mathrand.New(mathrand.NewPCG(seed, seed))
	ns := createNamespace(t)
	for round := range 12 {
		args := []string{"install", "bulk", bulk, "-n", ns, "--set", fmt.Sprintf("round=%d", round), "--set", "count=40"}
		delay := time.Duration(rng.IntN(900)) * time.Millisecond
		s := start(t, nil, args...)
		time.Sleep(delay)
		select {
		case <-s.done: // finished before the kill
		default:
			_, _ = s.signal(t, syscall.SIGKILL, 5*time.Second)
		}
		status, rev := helmStatus(t, ns, "bulk")
		r := hookrunner(t, nil, args...).must(t)
		t.Logf("round %d: killed after %s, release was %q at revision %s; re-run: %s to revision %d",
			round, delay, status, rev, r.result.Action, r.result.Release.Revision)
		if r.result.Release.Status != "deployed" {
			t.Fatalf("round %d: re-run left %+v", round, r.result.Release)
		}
		if n := deployedRevisions(t, ns, "bulk"); n != 1 {
			t.Fatalf("round %d: %d deployed revisions: %v", round, n, helmHistory(t, ns, "bulk"))
		}
		if !leaseGone(t, ns, "bulk") {
			t.Fatalf("round %d: lease left behind", round)
		}
		if got := helmValues(t, "helm4", ns, "bulk")["round"]; fmt.Sprint(got) != fmt.Sprint(round) {
			t.Fatalf("round %d: values say round %v", round, got)
		}
	}
}

// kube-apiserver dies during the install and during the wait: hookrunner
// retries and succeeds within its timeout. (Not parallel: it stops the
// package's apiserver.)
func TestAPIServerRestartDuringRun(t *testing.T) {
	c := cluster.Get(t)
	t.Cleanup(func() {
		if _, err := client(t).Discovery().ServerVersion(); err != nil {
			_ = c.StartAPIServer(context.Background())
		}
		// The parallel tests start next: leave them a control plane whose
		// controllers have relisted since the outages. Until then (a
		// minute, once), a new namespace got no default ServiceAccount
		// and the first parallel test to create one failed.
		createNamespaceWithin(t, 3*time.Minute)
	})
	outage := func(after, downFor time.Duration) {
		time.Sleep(after)
		if err := c.StopAPIServer(); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(downFor)
		if err := c.StartAPIServer(context.Background()); err != nil {
			t.Error(err)
		}
	}

	t.Run("during-install", func(t *testing.T) {
		ns := namespaceFor(t)
		s := start(t, nil, "install", "bulk", bulk, "-n", ns, "--create-namespace", "--set", "count=3000", "--timeout", "2m")
		// The outage starts once the install is deciding or acting on
		// 3000 objects, so requests fail and the run must retry.
		eventually(t, time.Minute, "inspect done", func() bool {
			return strings.Contains(s.stderr.String(), `"step":"inspect"`)
		})
		outage(0, 3*time.Second)
		r := s.wait(t, 2*time.Minute)
		if r.code != 0 || r.result.Release.Status != "deployed" {
			t.Fatalf("exit %d, %+v: %s\n%s", r.code, r.result.Release, r.result.Reason, r.stderr)
		}
		if !strings.Contains(r.stderr, "transient cluster error; retrying") {
			t.Errorf("the run did not retry through the outage:\n%s", r.stderr)
		}
		if n := deployedRevisions(t, ns, "bulk"); n != 1 {
			t.Errorf("%d deployed revisions", n)
		}
	})

	t.Run("during-wait", func(t *testing.T) {
		ns := namespaceFor(t)
		s := start(t, nil, "install", "web", webapp, "-n", ns, "--create-namespace", "--timeout", "2m",
			"--wait-for", "ConfigMap/flag", "--progress-interval", "1s")
		eventually(t, 30*time.Second, "waiting", func() bool { return strings.Contains(s.stderr.String(), `"step":"act"`) })
		outage(0, 3*time.Second)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "flag"}}
		if _, err := client(t).CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := s.wait(t, time.Minute)
		if r.code != 0 {
			t.Fatalf("exit %d: %s\n%s", r.code, r.result.Reason, r.stderr)
		}
	})

	t.Run("down-past-timeout", func(t *testing.T) {
		rcv := newReceiver(t)
		if err := c.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.StartAPIServer(context.Background()); err != nil {
				t.Fatal(err)
			}
		}()
		r := hookrunner(t, nil, "install", "web", webapp, "-n", "never", "--timeout", "4s", "--callback-url", rcv.url())
		if r.code != runner.ExitCluster || !strings.Contains(r.result.Reason, "cluster unreachable for") {
			t.Errorf("exit %d, reason %q", r.code, r.result.Reason)
		}
		if sig := rcv.next(t, 5*time.Second); sig.body["status"] != "FAILURE" || !strings.Contains(fmt.Sprint(sig.body["reason"]), "cluster unreachable") {
			t.Errorf("callback %+v", sig.body)
		}
	})
}

// A ServiceAccount that may act only in its own namespace gets a clear
// forbidden error naming verb, resource and namespace, a FAILURE callback,
// and no release is left pending.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ctx := context.Background()
	own := createNamespace(t)
	other := own + "-other"
	if _, err := client(t).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc, err := c.ServiceAccountKubeconfig(ctx, own, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	grant := func(ns string, rules []rbacv1.PolicyRule) {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}, Rules: rules}
		if _, err := client(t).RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deployer"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: own}}}
		if _, err := client(t).RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	grant(own, []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}})
	// In the other namespace: the lock and release records, but no Deployments.
	grant(other, []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps", "services"}, Verbs: []string{"*"}},
	})
	env := []string{"KUBECONFIG=" + kc}
	// Allowed at home.
	hookrunner(t, env, "install", "web", webapp, "-n", own).must(t)

	cases := map[string]struct {
		ns   string
		want []string
	}{
		"no-rights-at-all": {ns: "default", want: []string{`cannot get resource "leases"`, `in the namespace "default"`}},
		"no-deployments":   {ns: other, want: []string{`cannot`, `resource "deployments"`, `in the namespace "` + other + `"`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rcv := newReceiver(t)
			r := hookrunner(t, env, "install", "web", webapp, "-n", tc.ns, "--callback-url", rcv.url())
			if r.code != runner.ExitCluster {
				t.Errorf("exit %d, want %d: %s", r.code, runner.ExitCluster, r.result.Reason)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.result.Reason, w) {
					t.Errorf("reason %q lacks %q", r.result.Reason, w)
				}
			}
			if sig := rcv.next(t, 5*time.Second); sig.body["status"] != "FAILURE" || !strings.Contains(fmt.Sprint(sig.body["reason"]), "forbidden") {
				t.Errorf("callback %+v", sig.body)
			}
			if status, _ := helmStatus(t, tc.ns, "web"); strings.HasPrefix(status, "pending") {
				t.Errorf("release left %s", status)
			}
		})
	}
}

// tarball builds a .tgz with the given entries (name → content), and a
// file of zeroes of zeroSize bytes when zeroName is set, streamed so the
// test itself never holds it.
func tarball(t *testing.T, entries map[string][]byte, zeroName string, zeroSize int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chart.tgz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	for name, data := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if zeroName != "" {
		if err := tw.WriteHeader(&tar.Header{Name: zeroName, Mode: 0o644, Size: zeroSize, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(tw, zeroReader{}, zeroSize); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Large and hostile input: a clear error, bounded memory, nothing created.
func TestLargeAndHostileInput(t *testing.T) {
	t.Parallel()
	chartYAML := []byte("apiVersion: v2\nname: hostile\nversion: 0.1.0\n")
	cm := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {}\n")

	random := make([]byte, 4<<20) // base64: 5.3 MiB of text
	_, _ = rand.Read(random)
	bigValues := writeFile(t, "big-values.yaml", "blob: "+base64.StdEncoding.EncodeToString(random)[:5<<20]+"\n")

	bigChart := filepath.Join(t.TempDir(), "bigchart")
	writeChart(t, bigChart, map[string]string{
		"Chart.yaml": string(chartYAML), "templates/cm.yaml": string(cm),
		"files/blob.txt": base64.StdEncoding.EncodeToString(random[:2<<20]),
	})

	bomb := tarball(t, map[string][]byte{"hostile/Chart.yaml": chartYAML, "hostile/templates/cm.yaml": cm}, "hostile/files/zeros", 1<<30)
	traversal := tarball(t, map[string][]byte{"hostile/Chart.yaml": chartYAML, "hostile/../../etc/evil.yaml": cm}, "", 0)

	var nested strings.Builder
	for range 20000 {
		nested.WriteString("{a: ")
	}
	nested.WriteString("1")
	for range 20000 {
		nested.WriteString("}")
	}
	deep := writeFile(t, "deep.yaml", "x: "+nested.String()+"\n")

	cases := map[string]struct {
		args []string
		code int
		want string
	}{
		"values-5mib":          {args: []string{webapp, "-f", bigValues}, code: runner.ExitBadInput, want: "over the 1048576 bytes a Secret holds"},
		"record-over-1mib":     {args: []string{bigChart}, code: runner.ExitBadInput, want: "would be"},
		"decompression-bomb":   {args: []string{bomb}, code: runner.ExitChart, want: "decompressed"},
		"path-traversal":       {args: []string{traversal}, code: runner.ExitChart, want: "illegally references parent directory"},
		"deeply-nested-values": {args: []string{webapp, "-f", deep}, code: runner.ExitBadInput, want: "--values"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := "hostile-" + name
			cmd := command(t, nil, append(append([]string{"install", "x"}, tc.args...), "-n", ns, "--create-namespace")...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			r := finished(t, cmd, err, stdout.String(), stderr.String())
			if r.code != tc.code || !strings.Contains(r.result.Reason, tc.want) {
				t.Errorf("exit %d (want %d), reason %q (want %q)", r.code, tc.code, r.result.Reason, tc.want)
			}
			if strings.Count(r.result.Reason, "\n") > 0 || len(r.result.Reason) > 2000 {
				t.Errorf("reason is not one short line: %d bytes", len(r.result.Reason))
			}
			// An upper bound: Linux folds the parent's high-water mark into a
			// child started with vfork, so this is at least the test's own.
			if rusage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				t.Logf("peak RSS at most %d MiB", rusage.Maxrss>>10)
				if rusage.Maxrss > 600<<10 {
					t.Errorf("peak RSS %d MiB: not bounded", rusage.Maxrss>>10)
				}
			}
			if !namespaceAbsent(t, ns) {
				t.Errorf("namespace %s left behind", ns)
			}
		})
	}
}

// The existence checks before an install are answered from one LIST per
// collection (kube.snapshotTransport) once a chart has many objects: an
// object that already exists, not owned by the release, must still stop
// the install, exactly as one GET per object would, whether the install
// applies server-side or client-side (whose creates then run concurrently).
func TestSnapshotSeesExistingObjects(t *testing.T) {
	t.Parallel()
	for _, serverSide := range []string{"auto", "false"} {
		t.Run("server-side-"+serverSide, func(t *testing.T) {
			t.Parallel()
			ns := createNamespace(t)
			taken := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bulk-37"}}
			if _, err := client(t).CoreV1().ConfigMaps(ns).Create(context.Background(), taken, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			r := hookrunner(t, nil, "install", "bulk", bulk, "-n", ns, "--set", "count=100", "--server-side", serverSide, "--debug")
			if r.code != runner.ExitAction || !strings.Contains(r.result.Reason, `ConfigMap "bulk-37"`) || !strings.Contains(r.result.Reason, "exists and cannot be imported") {
				t.Fatalf("exit %d: %s", r.code, r.result.Reason)
			}
			if n := releaseSecrets(t, ns); n != 0 {
				t.Errorf("%d release records after a refused install", n)
			}
			// With the object gone, the same install goes through, checking
			// the other 99 against the snapshot.
			if err := client(t).CoreV1().ConfigMaps(ns).Delete(context.Background(), "bulk-37", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			hookrunner(t, nil, "install", "bulk", bulk, "-n", ns, "--set", "count=100", "--server-side", serverSide).must(t)
			list, err := client(t).CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=bulk"})
			if err != nil || len(list.Items) != 100 {
				t.Fatalf("%d ConfigMaps, err %v", len(list.Items), err)
			}
			want := metav1.ManagedFieldsOperationApply
			if serverSide == "false" {
				want = metav1.ManagedFieldsOperationUpdate
			}
			for _, cm := range list.Items {
				if len(cm.ManagedFields) != 1 || cm.ManagedFields[0].Manager != kube.FieldManager || cm.ManagedFields[0].Operation != want {
					t.Fatalf("ConfigMap %s managed by %+v, want one %s by %s", cm.Name, cm.ManagedFields, want, kube.FieldManager)
				}
			}
		})
	}
}
