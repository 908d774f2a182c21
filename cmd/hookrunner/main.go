// Command hookrunner installs or uninstalls a Helm chart from a Kubernetes
// Job, waits until it is usable, and reports the result. See README.md.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/hookrunner/hookrunner/runner"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	defer profile()()
	tuneMemory()
	hugePageHeap()
	var cli CLI
	parser := kong.Must(&cli,
		kong.Name("hookrunner"),
		kong.Description("Install or uninstall a Helm chart from a Job, wait until it is usable, and report the result."),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"defaultCacheDir": defaultCacheDir()},
	)
	kctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		// A bad command line is bad input like any other: it gets a result
		// document and the documented exit code.
		common, cb := fromEnvironment()
		parser.FatalIfErrorf(runner.ReportBadInput(commandOf(os.Args[1:]), err, common, cb, cli.io()))
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(cli.io())
	err = kctx.Run()
	if errors.As(err, new(runner.DiffChanges)) {
		os.Exit(runner.ExitChanges) // not an error: diff found changes
	}
	parser.FatalIfErrorf(err)
}

// io is where runs write: JSON log lines unless stderr is a terminal.
func (c *CLI) io() runner.IO {
	json := !term.IsTerminal(int(os.Stderr.Fd()))
	switch c.LogFormat {
	case "json":
		json = true
	case "text":
		json = false
	}
	termLog := c.TerminationLog
	if termLog == "" { // the command line did not parse
		if termLog = os.Getenv("HOOKRUNNER_TERMINATION_LOG"); termLog == "" {
			termLog = "/dev/termination-log"
		}
	}
	return runner.IO{
		Stdout:         os.Stdout,
		Stderr:         os.Stderr,
		JSONLogs:       json,
		Debug:          c.Debug,
		TerminationLog: termLog,
	}
}

func defaultCacheDir() string { return os.TempDir() + "/hookrunner" }

// profile writes CPU and heap profiles to $HOOKRUNNER_PPROF_DIR when it is
// set, for benchmarks; the returned function finishes them.
func profile() func() {
	dir := os.Getenv("HOOKRUNNER_PPROF_DIR")
	if dir == "" {
		return func() {}
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return func() {}
	}
	_ = pprof.StartCPUProfile(cpu)
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		if heap, err := os.Create(filepath.Join(dir, "heap.pprof")); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(heap, 0)
			heap.Close()
		}
	}
}

// tuneMemory keeps the heap small: a one-shot runner spends its time waiting
// on the API server, so collecting twice as often costs little and lowers
// the peak a Job's memory limit must allow (GOGC 50 unless GOGC is set);
// and near the container's memory limit the runtime collects harder rather
// than be OOM-killed (90% of the cgroup limit unless GOMEMLIMIT is set).
func tuneMemory() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err == nil && limit > 0 && limit < 1<<50 {
			debug.SetMemoryLimit(limit / 10 * 9)
		}
		return
	}
}

// commandOf is the command a command line asks for, read before parsing
// (which failed): the first argument that names a command. A bad uninstall
// command line then reports under the uninstall's callback id.
func commandOf(args []string) string {
	for _, a := range args {
		switch a {
		case "install", "uninstall", "render", "images", "diff", "version":
			return a
		}
	}
	return ""
}
