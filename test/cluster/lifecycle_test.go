package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hookrunner/hookrunner/test/cluster"
)

// fakeTools is a bin directory whose etcd dies at once with a message.
func fakeTools(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		script := "#!/bin/sh\necho '" + name + ": fatal: disk on fire' >&2\nexit 1\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestStartFailureCarriesLogTail(t *testing.T) {
	_, err := cluster.Start(context.Background(), cluster.Options{BinDir: fakeTools(t)})
	if err == nil {
		t.Fatal("started a cluster whose etcd exits")
	}
	for _, want := range []string{"etcd exited", "etcd: fatal: disk on fire", "--- etcd (last"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestStartWithoutToolsSaysSo(t *testing.T) {
	_, err := cluster.Start(context.Background(), cluster.Options{BinDir: t.TempDir()})
	if !errors.Is(err, cluster.ErrToolsMissing) {
		t.Errorf("err = %v, want ErrToolsMissing", err)
	}
}

// Under CI=true a test that needs the cluster fails, never skips, when the
// cluster cannot start (with the log tail) or the tools are missing; only
// outside CI do missing tools make it skip.
func TestClusterTestsFailInCI(t *testing.T) {
	cases := map[string]struct {
		ci, bin  string
		wantFail bool
		want     string
	}{
		"ci-start-fails":      {ci: "true", bin: fakeTools(t), wantFail: true, want: "disk on fire"},
		"ci-tools-missing":    {ci: "true", bin: t.TempDir(), wantFail: true, want: "test cluster did not start"},
		"local-tools-missing": {ci: "", bin: t.TempDir(), wantFail: false, want: "--- SKIP: TestVersionIsStamped"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestVersionIsStamped$", "-test.v")
			cmd.Env = append(os.Environ(), "CI="+tc.ci, "HOOKRUNNER_TOOLS_BIN="+tc.bin)
			out, err := cmd.CombinedOutput()
			failed := err != nil
			if failed != tc.wantFail || !strings.Contains(string(out), tc.want) {
				t.Errorf("failed=%v (want %v), output lacks %q:\n%s", failed, tc.wantFail, tc.want, out)
			}
			if tc.wantFail && strings.Contains(string(out), "SKIP") {
				t.Errorf("skipped under CI:\n%s", out)
			}
		})
	}
}

// make cluster-up / cluster-down: the script starts a cluster whose nodes
// kubectl sees Ready, and stopping it leaves no process and no state.
func TestClusterUpDown(t *testing.T) {
	bin, err := cluster.ToolsBin()
	if err != nil {
		cluster.Get(t) // fails under CI, skips locally, like every cluster test
	}
	root, _ := filepath.Abs("../..")
	dir := filepath.Join(t.TempDir(), "state")
	testcluster := filepath.Join(t.TempDir(), "testcluster")
	if out, err := exec.Command("go", "build", "-o", testcluster, "github.com/hookrunner/hookrunner/test/cmd/testcluster").CombinedOutput(); err != nil {
		t.Fatalf("build testcluster: %v\n%s", err, out)
	}
	command := func(verb string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(root, "test/tools/cluster.sh"), verb)
		cmd.Env = append(os.Environ(), "HOOKRUNNER_CLUSTER_DIR="+dir, "HOOKRUNNER_TESTCLUSTER="+testcluster)
		return cmd
	}
	script := func(verb string) string {
		out, err := command(verb).CombinedOutput()
		if err != nil {
			t.Fatalf("cluster.sh %s: %v\n%s", verb, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { _ = command("down").Run() })
	t.Log(script("up"))
	out, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", filepath.Join(dir, "kubeconfig"), "get", "nodes", "--no-headers").CombinedOutput()
	if err != nil || strings.Count(string(out), " Ready ") != 2 {
		t.Fatalf("kubectl get nodes: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	pids := append(children(t, pid), pid)
	if len(pids) < 6 {
		t.Fatalf("testcluster %d has children %v, want its 5 components", pid, pids)
	}
	script("down")
	for _, p := range pids {
		if alive(p) {
			t.Errorf("pid %d still running after cluster-down", p)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory left behind: %v", err)
	}
}

// children lists the processes whose parent is pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// A second build with unchanged pins builds nothing: make test calls the
// build before the tests, so by now every bundle is cached.
func TestToolsBuildIsCached(t *testing.T) {
	if _, err := cluster.ToolsBin(); err != nil {
		cluster.Get(t)
	}
	out, err := exec.Command("../tools/build.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	for _, name := range []string{"cluster", "helm4", "helm3", "helm30"} {
		if !strings.Contains(string(out), "tools: "+name+" up to date") {
			t.Errorf("%s was not found up to date:\n%s", name, out)
		}
	}
	if strings.Contains(string(out), "building") {
		t.Errorf("a second run built something:\n%s", out)
	}
}
