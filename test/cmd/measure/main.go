// Command measure runs a command and prints on its own stdout, as one JSON
// line, the command's wall time, peak RSS (from rusage) and exit code; the
// command's own output goes to files.
//
//	measure -stdout F -stderr F -- cmd args...
//
// It exists because Linux folds the parent's memory high-water mark into a
// child started with vfork (as Go's os/exec does): started from this small
// process, the child's rusage reports the child's peak alone.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	stdout := flag.String("stdout", os.DevNull, "file for the command's stdout")
	stderr := flag.String("stderr", os.DevNull, "file for the command's stderr")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: measure [-stdout F] [-stderr F] -- cmd args...")
		os.Exit(2)
	}
	out, err := os.Create(*stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	errf, err := os.Create(*stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, errf
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, runErr)
		os.Exit(2)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"wallSeconds": wall.Seconds(),
		"maxRSSKB":    ru.Maxrss,
		"exitCode":    cmd.ProcessState.ExitCode(),
	})
}
