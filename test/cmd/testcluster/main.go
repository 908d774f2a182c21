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
	realNode := flag.Bool("real-node", false, "add a real node (kubelet and containerd in sealed namespaces; needs root)")
	var images imageList
	flag.Var(&images, "image", "OCI archive to import into the real node (repeatable)")
	flag.Parse()
	if err := run(*dir, cluster.Options{Nodes: *nodes, RealNode: *realNode, Images: images}); err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		os.Exit(1)
	}
}

type imageList []string

func (l *imageList) String() string     { return fmt.Sprint(*l) }
func (l *imageList) Set(v string) error { *l = append(*l, v); return nil }

func run(dir string, opts cluster.Options) error {
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
	opts.Dir = abs
	for i, img := range opts.Images {
		if opts.Images[i], err = filepath.Abs(img); err != nil {
			return err
		}
	}
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	data, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		return err
	}
	// The address the real node's pods reach on this machine.
	if err := os.WriteFile(filepath.Join(abs, "host-ip"), []byte(c.HostIP()+"\n"), 0o600); err != nil {
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
