package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	shared    *Cluster
	sharedErr error
	sharedMu  sync.Mutex
)

// Main runs a test package's tests with one cluster started before them and
// stopped after, for use in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }
//
// Tests get the cluster with Get. A cluster that cannot start fails every
// test that asks for it, with the tail of the component logs; outside CI,
// binaries that were never built make those tests skip instead, and under
// CI=true they fail too.
func Main(m *testing.M) int { return MainOptions(m, Options{}) }

// MainOptions is Main with a cluster started with opts (a real node, images
// to import).
func MainOptions(m *testing.M, opts Options) int {
	// Fuzzing (go test -fuzz) exercises pure functions, in worker
	// processes that each run TestMain: no cluster for those.
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	start := time.Now()
	c, err := Start(ctx, opts)
	if err != nil && !errors.Is(err, ErrToolsMissing) && !errors.Is(err, ErrNodeUnsupported) {
		// A port taken between choosing and binding it is the one transient
		// failure here: try once more.
		fmt.Fprintf(os.Stderr, "cluster: first start failed, retrying: %v\n", err)
		c, err = Start(ctx, opts)
	}
	cancel()
	if err == nil {
		fmt.Fprintf(os.Stderr, "cluster: started in %s at %s\n", time.Since(start).Round(time.Millisecond), c.Host)
	}
	sharedMu.Lock()
	shared, sharedErr = c, err
	sharedMu.Unlock()
	code := m.Run()
	if c != nil {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "cluster: close: %v\n", err)
		}
	}
	return code
}

// Get returns the package's cluster started by Main, or ends the test: it
// fails when the cluster could not start, and skips only when the binaries
// are not built and CI is not set.
func Get(t testing.TB) *Cluster {
	t.Helper()
	sharedMu.Lock()
	c, err := shared, sharedErr
	sharedMu.Unlock()
	switch {
	case c != nil:
		return c
	case err == nil:
		t.Fatal("cluster.Get called without cluster.Main in TestMain")
	case (errors.Is(err, ErrToolsMissing) || errors.Is(err, ErrNodeUnsupported)) && os.Getenv("CI") != "true":
		t.Skipf("no test cluster: %v", err)
	}
	t.Fatalf("test cluster did not start: %v", err)
	return nil
}
