// Command bench measures hookrunner against the real helm v4 CLI and the
// raw client-go limit on the local control plane, and writes
// docs/benchmarks.md and docs/benchmarks.png. `make bench` runs it.
//
// Tools run interleaved (A B C D A B C D …): one warm-up round, then
// -runs counted rounds; medians and min–max are reported. Each process is
// started through test/cmd/measure, so its peak RSS comes from its own
// rusage.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hookrunner/hookrunner/test/cluster"
	"github.com/hookrunner/hookrunner/test/corpus"
)

var (
	runs       = flag.Int("runs", 5, "counted runs per tool and size")
	sizesF     = flag.String("sizes", "10,300,1000,3000", "object counts")
	mixN       = flag.Int("mix", 300, "objects of the mixed chart (Deployments, Services, Secrets, ConfigMaps); 0 skips it")
	outDir     = flag.String("out", "docs", "where benchmarks.md and benchmarks.png go")
	repo       = flag.String("repo", ".", "the work tree")
	ldflags    = flag.String("ldflags", "-s -w", "linker flags of the hookrunner binary (make bench passes the release build's, with version and commit)")
	binF       = flag.String("hookrunner", "", "a hookrunner binary to measure instead of building the work tree's (for before-and-after comparisons)")
	corpusF    = flag.String("corpus", "", "the real-chart corpus (default $HOOKRUNNER_CORPUS, else ../shared/corpus beside the work tree)")
	corpusRuns = flag.Int("corpus-runs", 3, "counted rounds per real chart")
	corpusOnly = flag.String("corpus-charts", strings.Join(corpus.Charts, ","), "the corpus charts to measure (a subset: to iterate, not to publish)")
	sectionsF  = flag.String("sections", "latency,bulk,mix,corpus", "what to measure (a subset regenerates only part of the report's data: use it to iterate, not to publish)")
	workDir    string
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// tool is one way of installing a chart of n objects into a namespace.
type tool struct {
	name      string
	install   func(ns string, n int, mix bool) []string // argv; mix: n objects of mixed kinds
	mixes     bool                                      // can install the mixed chart
	upgrade   func(ns string, n int) []string           // every object changed; nil: not measured
	uninstall func(ns string) []string                  // nil: not measured
}

// bulk holds the samples of the bulk section: tool → size → samples.
type bulk struct {
	installs, upgrades, uninstalls map[string]map[int][]sample
}

// sample is one measured run.
type sample struct {
	Wall     float64
	RSSMB    float64
	Requests float64
}

type env struct {
	c          *cluster.Cluster
	cs         kubernetes.Interface
	hookrunner string
	helm       string
	measure    string
	raw        string
	rawphases  string
	chart      string
	metrics    *http.Client
	retried    []string // bulk rounds run again after a failure: tool, size, why
}

// run measures what -sections asks for, in an order that keeps each
// measure on as quiet a control plane as it needs, and writes the report.
func run() error {
	var err error
	if workDir, err = os.MkdirTemp("", "hookrunner-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	root, _ := filepath.Abs(*repo)
	sizes, err := parseSizes(*sizesF)
	if err != nil {
		return err
	}
	sections := map[string]bool{}
	for _, name := range strings.Split(*sectionsF, ",") {
		sections[strings.TrimSpace(name)] = true
	}
	if !sections["bulk"] {
		sizes = nil
	}
	if !sections["mix"] {
		*mixN = 0
	}
	e := &env{
		hookrunner: filepath.Join(workDir, "hookrunner"),
		measure:    filepath.Join(workDir, "measure"),
		raw:        filepath.Join(workDir, "rawcreate"),
		rawphases:  filepath.Join(workDir, "rawphases"),
		chart:      filepath.Join(root, "test/testdata/charts/bulk"),
	}
	if err := e.buildBinaries(root); err != nil {
		return err
	}
	toolsBin, err := cluster.ToolsBin()
	if err != nil {
		return err
	}
	e.helm = filepath.Join(toolsBin, "helm4")
	fmt.Fprintln(os.Stderr, "bench: starting the control plane")
	if e.c, err = cluster.Start(context.Background(), cluster.Options{}); err != nil {
		return err
	}
	defer e.c.Close()
	if e.cs, err = e.c.Client(); err != nil {
		return err
	}
	e.metrics = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback test cluster
	tools := e.bulkTools()

	// Latencies first, on a quiet control plane: after the large runs the
	// machine is still busy collecting their objects (measured last, they
	// came out 10-20 times worse, for helm as much as for hookrunner).
	var (
		callback []float64
		cold     startup
	)
	if sections["latency"] {
		if callback, err = e.callbackLatency(); err != nil {
			return err
		}
		if cold, err = e.coldStart(); err != nil {
			return err
		}
	}
	// Real charts next, before the bulk runs load the control plane.
	var corpus []corpusResult
	if sections["corpus"] {
		if corpus, err = e.benchCorpus(root); err != nil {
			return err
		}
	}
	res, err := e.benchBulk(tools, sizes)
	if err != nil {
		return err
	}
	mixed, err := e.benchMixed(tools, *mixN)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	if err := writePlot(filepath.Join(*outDir, "benchmarks.png"), tools, sizes, res.installs, corpus); err != nil {
		return err
	}
	return writeReport(filepath.Join(*outDir, "benchmarks.md"), e, tools, sizes, res, mixed, callback, cold, corpus)
}

// parseSizes reads -sizes: object counts, comma-separated.
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-sizes %q: %q is not a positive object count", s, strings.TrimSpace(f))
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// buildBinaries builds what the bench runs into the work directory:
// hookrunner with -ldflags (or a copy of -hookrunner), the measuring
// wrapper and the two limit programs.
func (e *env) buildBinaries(root string) error {
	if *binF != "" {
		if out, err := exec.Command("cp", *binF, e.hookrunner).CombinedOutput(); err != nil {
			return fmt.Errorf("copy %s: %v\n%s", *binF, err, out)
		}
	}
	for bin, pkg := range map[string]string{e.hookrunner: "./cmd/hookrunner", e.measure: "./test/cmd/measure", e.raw: "./test/cmd/rawcreate", e.rawphases: "./test/cmd/rawphases"} {
		flags := "-s -w"
		if bin == e.hookrunner {
			if *binF != "" {
				continue
			}
			flags = *ldflags
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", flags, "-o", bin, pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// bulkTools are the tools of the bulk and mixed sections, in the order
// each round runs them.
func (e *env) bulkTools() []tool {
	set := func(n int, mix bool) []string {
		if mix {
			return []string{"--set", "count=0", "--set", "deployment=false", "--set", fmt.Sprintf("mix=%d", n)}
		}
		return []string{"--set", fmt.Sprintf("count=%d", n), "--set", "deployment=false"}
	}
	// An upgrade changes every ConfigMap (the chart writes round into each).
	changed := func(n int) []string { return append(set(n, false), "--set", "round=1") }
	return []tool{
		{name: "hookrunner", mixes: true, install: func(ns string, n int, mix bool) []string {
			return append([]string{e.hookrunner, "install", "b", e.chart, "-n", ns, "--create-namespace", "--log-format", "json"}, set(n, mix)...)
		}, upgrade: func(ns string, n int) []string {
			return append([]string{e.hookrunner, "install", "b", e.chart, "-n", ns, "--log-format", "json"}, changed(n)...)
		}, uninstall: func(ns string) []string {
			return []string{e.hookrunner, "uninstall", "b", "-n", ns, "--log-format", "json"}
		}},
		{name: csaTool, install: func(ns string, n int, mix bool) []string {
			return append([]string{e.hookrunner, "install", "b", e.chart, "-n", ns, "--create-namespace", "--log-format", "json", "--server-side=false"}, set(n, mix)...)
		}, upgrade: func(ns string, n int) []string {
			return append([]string{e.hookrunner, "install", "b", e.chart, "-n", ns, "--log-format", "json", "--server-side=false"}, changed(n)...)
		}},
		{name: "helm", mixes: true, install: func(ns string, n int, mix bool) []string {
			return append([]string{e.helm, "install", "b", e.chart, "-n", ns, "--create-namespace", "--wait=watcher", "--timeout", "10m"}, set(n, mix)...)
		}, upgrade: func(ns string, n int) []string {
			return append([]string{e.helm, "upgrade", "b", e.chart, "-n", ns, "--wait=watcher", "--timeout", "10m"}, changed(n)...)
		}, uninstall: func(ns string) []string { return []string{e.helm, "uninstall", "b", "-n", ns, "--wait"} }},
		{name: "helm --qps 100", mixes: true, install: func(ns string, n int, mix bool) []string {
			return append([]string{e.helm, "install", "b", e.chart, "-n", ns, "--create-namespace", "--wait=watcher", "--timeout", "10m", "--qps", "100", "--burst-limit", "200"}, set(n, mix)...)
		}},
		{name: "client-go limit", install: func(ns string, n int, _ bool) []string {
			return []string{e.raw, "-n", strconv.Itoa(n), "-namespace", ns}
		}},
		{name: "client-go apply limit", install: func(ns string, n int, _ bool) []string {
			return []string{e.raw, "-apply", "-n", strconv.Itoa(n), "-namespace", ns}
		}},
	}
}

// benchBulk measures every tool on the bulk chart at every size: a
// warm-up round, then -runs counted rounds, the tools interleaved.
func (e *env) benchBulk(tools []tool, sizes []int) (bulk, error) {
	res := bulk{installs: map[string]map[int][]sample{}, upgrades: map[string]map[int][]sample{}, uninstalls: map[string]map[int][]sample{}}
	for _, t := range tools {
		res.installs[t.name] = map[int][]sample{}
		res.upgrades[t.name] = map[int][]sample{}
		res.uninstalls[t.name] = map[int][]sample{}
	}
	seq := 0
	for _, n := range sizes {
		for round := 0; round <= *runs; round++ {
			for _, t := range tools {
				seq++
				ns := fmt.Sprintf("b%d-%d", n, seq)
				s, up, un, err := e.bulkRound(t, ns, n)
				if err != nil {
					// The API server on 2 shared cores sometimes drops a
					// connection under helm's thousands of concurrent
					// requests: run the round again once, and say so in
					// the report.
					why := gist(err)
					fmt.Fprintf(os.Stderr, "bench: %s, %d objects: %s; again in a fresh namespace\n", t.name, n, why)
					e.retried = append(e.retried, fmt.Sprintf("%s, %d objects (%s)", t.name, n, why))
					if err := e.deleteNamespace(ns); err != nil {
						return res, err
					}
					seq++
					ns = fmt.Sprintf("b%d-%d", n, seq)
					if s, up, un, err = e.bulkRound(t, ns, n); err != nil {
						return res, err
					}
				}
				label := "warm-up"
				if round > 0 {
					label = "counted"
					res.installs[t.name][n] = append(res.installs[t.name][n], s)
					if t.upgrade != nil {
						res.upgrades[t.name][n] = append(res.upgrades[t.name][n], up)
					}
					if t.uninstall != nil {
						res.uninstalls[t.name][n] = append(res.uninstalls[t.name][n], un)
					}
				}
				fmt.Fprintf(os.Stderr, "bench: %-30s %5d objects %s: %.2fs %.0f MB %0.f requests", t.name, n, label, s.Wall, s.RSSMB, s.Requests)
				if t.upgrade != nil {
					fmt.Fprintf(os.Stderr, "; upgrade %.2fs", up.Wall)
				}
				fmt.Fprintln(os.Stderr)
			}
		}
	}
	return res, nil
}

// benchMixed measures the tools that can install the mixed chart of n
// objects (0: none), interleaved as benchBulk does.
func (e *env) benchMixed(tools []tool, n int) (map[string][]sample, error) {
	mixed := map[string][]sample{} // tool → samples of the mixed chart
	seq := 0
	for round := 0; n > 0 && round <= *runs; round++ {
		for _, t := range tools {
			if !t.mixes {
				continue
			}
			seq++
			ns := fmt.Sprintf("mix%d-%d", n, seq)
			s, err := e.measureRun(t.install(ns, n, true))
			if err != nil {
				return nil, fmt.Errorf("%s install of the mixed chart: %w", t.name, err)
			}
			if err := e.deleteNamespace(ns); err != nil {
				return nil, err
			}
			label := "warm-up"
			if round > 0 {
				label = "counted"
				mixed[t.name] = append(mixed[t.name], s)
			}
			fmt.Fprintf(os.Stderr, "bench: %-16s %5d mixed %s: %.2fs %.0f MB %0.f requests\n", t.name, n, label, s.Wall, s.RSSMB, s.Requests)
		}
	}
	return mixed, nil
}

// gist is an error of a measured run in one line: its first line (what
// failed, with the start of the tool's stderr) and its last (the tool's
// own final error), each cut short.
func gist(err error) string {
	cut := func(s string, n int) string {
		if len(s) > n {
			return s[:n] + "…"
		}
		return s
	}
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	if len(lines) == 1 {
		return cut(lines[0], 300)
	}
	first, _, _ := strings.Cut(lines[0], ": exit ")
	return cut(first, 100) + ": " + cut(strings.TrimSpace(lines[len(lines)-1]), 200)
}

// bulkRound installs a chart of n ConfigMaps with t into ns, then
// upgrades and uninstalls it where t does, and deletes ns.
func (e *env) bulkRound(t tool, ns string, n int) (install, upgrade, uninstall sample, err error) {
	if install, err = e.measureRun(t.install(ns, n, false)); err != nil {
		err = fmt.Errorf("%s install of %d: %w", t.name, n, err)
	} else if t.upgrade != nil {
		if upgrade, err = e.measureRun(t.upgrade(ns, n)); err != nil {
			err = fmt.Errorf("%s upgrade of %d: %w", t.name, n, err)
		}
	}
	if err == nil && t.uninstall != nil {
		if uninstall, err = e.measureRun(t.uninstall(ns)); err != nil {
			err = fmt.Errorf("%s uninstall of %d: %w", t.name, n, err)
		}
	}
	if err != nil {
		return install, upgrade, uninstall, err
	}
	return install, upgrade, uninstall, e.deleteNamespace(ns)
}

// deleteNamespace deletes ns and waits until it is gone, so that the next
// run does not share the API server with the deletion of this one's
// objects.
func (e *env) deleteNamespace(ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	for {
		if _, err := e.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s still there after 5 minutes", ns)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// requestCount is the API server's total of served requests.
func (e *env) requestCount() float64 {
	req, _ := http.NewRequest(http.MethodGet, e.c.Host+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+e.c.RESTConfig().BearerToken)
	resp, err := e.metrics.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			total += v
		}
	}
	return total
}

// measureRun runs argv through measure with the cluster's kubeconfig.
func (e *env) measureRun(argv []string) (sample, error) {
	before := e.requestCount()
	cmd := exec.Command(e.measure, append([]string{"-stderr", filepath.Join(workDir, "last.stderr"), "--"}, argv...)...)
	home := filepath.Join(workDir, "home")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "KUBECONFIG=" + e.c.Kubeconfig,
		"HELM_CACHE_HOME=" + home + "/cache", "HELM_CONFIG_HOME=" + home + "/config", "HELM_DATA_HOME=" + home + "/data"}
	out, err := cmd.Output()
	if err != nil {
		return sample{}, err
	}
	var m struct {
		WallSeconds float64 `json:"wallSeconds"`
		MaxRSSKB    float64 `json:"maxRSSKB"`
		ExitCode    int     `json:"exitCode"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return sample{}, err
	}
	if m.ExitCode != 0 {
		tail, _ := os.ReadFile(filepath.Join(workDir, "last.stderr"))
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return sample{}, fmt.Errorf("exit %d: %s", m.ExitCode, tail)
	}
	return sample{Wall: m.WallSeconds, RSSMB: m.MaxRSSKB / 1024, Requests: e.requestCount() - before - 1}, nil
}

// callbackLatency measures, for counted runs, the time from a watched
// condition becoming true (a ConfigMap created) to the callback arriving.
func (e *env) callbackLatency() ([]float64, error) {
	got := make(chan time.Time, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- time.Now()
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer rcv.Close()
	var out []float64
	for i := 0; i <= *runs; i++ {
		ns := fmt.Sprintf("cb-%d", i)
		cmd := exec.Command(e.hookrunner, "install", "b", e.chart, "-n", ns, "--create-namespace", "--set", "count=1", "--set", "deployment=false",
			"--wait-for", "ConfigMap/flag", "--callback-url", rcv.URL, "--log-format", "json")
		cmd.Env = []string{"KUBECONFIG=" + e.c.Kubeconfig, "HOME=" + workDir}
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(stderr.String(), `"step":"act"`) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				return nil, fmt.Errorf("callback run did not reach the wait: %s", stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // the watch is established
		created := time.Now()
		if _, err := e.cs.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "flag"}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		select {
		case at := <-got:
			if i > 0 {
				out = append(out, at.Sub(created).Seconds()*1000)
			}
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("no callback")
		}
		_ = cmd.Wait()
		if err := e.deleteNamespace(ns); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startup is the cold-start measure per tool: milliseconds from process
// start to its first API request, and the process's peak resident memory
// (VmHWM) at that moment: the floor every run starts from.
type startup struct {
	ms, residentMB map[string][]float64
}

// coldStart measures, for hookrunner and helm, the time from starting the
// process to its first API request, and its peak resident memory then,
// against a local TLS endpoint that records the first request and holds
// it unanswered until the process is killed.
func (e *env) coldStart() (startup, error) {
	first := make(chan time.Time, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case first <- time.Now():
		default:
		}
		// No answer until the process is killed: it must still be
		// running when its resident memory is read (helm exits on the
		// first error).
		<-r.Context().Done()
	}))
	srv.StartTLS()
	defer srv.Close()
	kc := filepath.Join(workDir, "cold.kubeconfig")
	content := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]\n"+
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n", srv.URL)
	if err := os.WriteFile(kc, []byte(content), 0o600); err != nil {
		return startup{}, err
	}
	argv := map[string][]string{
		"hookrunner": {e.hookrunner, "install", "b", e.chart, "-n", "cold", "--set", "count=10", "--set", "deployment=false", "--timeout", "2s"},
		"helm":       {e.helm, "install", "b", e.chart, "-n", "cold", "--set", "count=10", "--set", "deployment=false"},
	}
	out := startup{ms: map[string][]float64{}, residentMB: map[string][]float64{}}
	for i := 0; i <= *runs; i++ {
		for _, name := range []string{"hookrunner", "helm"} {
			for len(first) > 0 {
				<-first
			}
			cmd := exec.Command(argv[name][0], argv[name][1:]...)
			cmd.Env = []string{"KUBECONFIG=" + kc, "HOME=" + workDir, "HELM_CACHE_HOME=" + workDir + "/cache", "HELM_CONFIG_HOME=" + workDir + "/config"}
			started := time.Now()
			if err := cmd.Start(); err != nil {
				return startup{}, err
			}
			select {
			case at := <-first:
				status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
				mb, perr := peakResidentMB(status)
				if err == nil {
					err = perr
				}
				if err != nil {
					cmd.Process.Kill()
					_ = cmd.Wait()
					return startup{}, fmt.Errorf("%s: peak resident memory: %w", name, err)
				}
				if i > 0 {
					out.ms[name] = append(out.ms[name], at.Sub(started).Seconds()*1000)
					out.residentMB[name] = append(out.residentMB[name], mb)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				_ = cmd.Wait()
				return startup{}, fmt.Errorf("%s made no request", name)
			}
			cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	return out, nil
}

// peakResidentMB reads VmHWM, the peak resident set, from the text of
// /proc/PID/status, in MB.
func peakResidentMB(status []byte) (float64, error) {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unreadable VmHWM line %q", line)
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0, fmt.Errorf("unreadable VmHWM line %q", line)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM line")
}

func median(xs []float64) float64 {
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	return s[0], s[len(s)-1]
}

func pick(samples []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = f(s)
	}
	return out
}

func wall(s sample) float64     { return s.Wall }
func rss(s sample) float64      { return s.RSSMB }
func requests(s sample) float64 { return s.Requests }

func machine() string {
	cpus := runtime.NumCPU()
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Fields(strings.SplitN(string(data), "\n", 2)[0])[1]
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	memGiB, _ := strconv.ParseFloat(mem, 64)
	return fmt.Sprintf("%d CPUs, %.0f GiB memory, Linux %s, %s", cpus, memGiB/1024/1024, strings.TrimSpace(string(kernel)), runtime.Version())
}

func (e *env) versions() string {
	out, _ := exec.Command(e.hookrunner, "version").Output()
	helm, _ := exec.Command(e.helm, "version", "--short").Output()
	return fmt.Sprintf("%s; helm CLI %s; kube-apiserver %s (local control plane, kwok nodes)", strings.TrimSpace(string(out)), strings.TrimSpace(string(helm)), cluster.KubeVersion)
}
