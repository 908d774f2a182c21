package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// spawnRequests carries commands to the one goroutine that starts child
// processes. Linux delivers the parent-death signal when the *thread* that
// forked the child exits, not the process; Go may retire threads at will, so
// every child is forked from one goroutine locked to its thread for the life
// of the process (golang/go#27505).
var spawnRequests = make(chan spawnRequest)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for req := range spawnRequests {
			req.done <- req.cmd.Start()
		}
	}()
}

// process is one control-plane component running as a child of this process.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error // valid after exited is closed
}

// startProcess runs path with args in its own process group, killed with
// SIGKILL when this process dies, with stdout and stderr appended to logPath.
func startProcess(name, path, logPath string, args ...string) (*process, error) {
	return startProcessEnv(name, path, logPath, nil, args...)
}

// startProcessEnv is startProcess with env added to this process's
// environment.
func startProcessEnv(name, path, logPath string, env []string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	req := spawnRequest{cmd: cmd, done: make(chan error)}
	spawnRequests <- req
	if err := <-req.done; err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process group and SIGKILL after grace. The
// control plane's state is disposable, and kube-apiserver may ignore SIGTERM
// for over a minute, so grace is short.
func (p *process) stop(grace time.Duration) error {
	if !p.running() {
		return nil
	}
	pgid := p.cmd.Process.Pid
	if grace > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
	}
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, pgid)
		}
	}
	var exitErr *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exitErr) {
		return fmt.Errorf("wait for %s: %w", p.name, p.err)
	}
	return nil
}
