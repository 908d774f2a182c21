// Command testcluster runs the local control plane of package test/cluster in
// the foreground until SIGTERM or SIGINT, for `make cluster-up`, the demo and
// benchmarks. It writes DIR/kubeconfig (admin) once the cluster is ready and
// DIR/pid with its own process ID; stopping it stops every component.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hookrunner/hookrunner/test/cluster"
)

func main() {
	dir := flag.String("dir", ".cluster", "state directory (kubeconfig, logs, etcd data)")
	nodes := flag.Int("nodes", 2, "number of fake nodes")
	flag.Parse()
	if err := run(*dir, *nodes); err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		os.Exit(1)
	}
}

func run(dir string, nodes int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(abs, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return err
	}
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Dir: abs, Nodes: nodes})
	if err != nil {
		return err
	}
	defer c.Close()
	data, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		return err
	}
	// Written last and renamed into place: its presence means "ready".
	tmp := filepath.Join(abs, "kubeconfig.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(abs, "kubeconfig")); err != nil {
		return err
	}
	fmt.Printf("testcluster: ready in %s at %s\n", time.Since(start).Round(time.Millisecond), c.Host)
	<-ctx.Done()
	fmt.Println("testcluster: stopping")
	return nil
}
