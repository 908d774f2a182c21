// Command rawphases is the limit for real charts, as rawcreate is for
// ConfigMaps: it applies the objects of a rendered chart (the output of
// `hookrunner render`, hooks included) in Helm's phase order with nothing
// but the work itself: pre-install hooks run to completion (by weight),
// CRDs created and established, every other object created at once (64
// in flight), readiness awaited by Helm's own status watcher, then
// post-install hooks. Each phase is fully parallel and watch-based; there
// is no release record, no history read, no post-render. It prints each
// phase's seconds to stderr.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	helmkube "helm.sh/helm/v4/pkg/kube"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

var (
	file    = flag.String("f", "", "rendered manifests (hookrunner render)")
	ns      = flag.String("namespace", "raw", "namespace (created)")
	workers = flag.Int("workers", 64, "objects created at once")
	timeout = flag.Duration("timeout", 10*time.Minute, "bound on each wait")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rawphases:", err)
		os.Exit(1)
	}
}

// doc is one rendered object and what decides its phase.
type doc struct {
	text   string
	kind   string
	hooks  []string
	weight int
}

func run() error {
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var pre, post, crds, objects []doc
	for _, text := range strings.Split("\n"+string(data), "\n---") {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(text), &head); err != nil || head.Kind == "" {
			continue
		}
		d := doc{text: text, kind: head.Kind}
		if h := head.Metadata.Annotations["helm.sh/hook"]; h != "" {
			d.hooks = strings.Split(strings.ReplaceAll(h, " ", ""), ",")
			d.weight, _ = strconv.Atoi(head.Metadata.Annotations["helm.sh/hook-weight"])
		}
		switch {
		case has(d.hooks, "pre-install"):
			pre = append(pre, d)
		case has(d.hooks, "post-install"):
			post = append(post, d)
		case len(d.hooks) > 0: // test, delete, upgrade, rollback hooks: not part of an install
		case d.kind == "CustomResourceDefinition":
			crds = append(crds, d)
		default:
			objects = append(objects, d)
		}
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.Namespace = ns
	kubeconfig := os.Getenv("KUBECONFIG")
	flags.KubeConfig = &kubeconfig
	// No client-side rate limit: the limit is the API server's.
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config { c.QPS, c.Burst = 100000, 100000; return c }
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	client := func() *helmkube.Client {
		c := helmkube.New(flags)
		c.Namespace = *ns
		return c
	}
	phase := func(name string, fn func() error) error {
		t0 := time.Now()
		err := fn()
		fmt.Fprintf(os.Stderr, "%s %.3f\n", name, time.Since(t0).Seconds())
		return err
	}
	if err := phase("pre-install-hooks", func() error { return hooks(client(), pre) }); err != nil {
		return err
	}
	if err := phase("crds", func() error {
		c := client()
		list, err := apply(c, crds)
		if err != nil || len(list) == 0 {
			return err
		}
		return waitReady(c, list)
	}); err != nil {
		return err
	}
	// A fresh client: discovery now knows the new CRDs.
	c := client()
	var list helmkube.ResourceList
	if err := phase("resources", func() (err error) { list, err = apply(c, objects); return err }); err != nil {
		return err
	}
	if err := phase("ready", func() error { return waitReady(c, list) }); err != nil {
		return err
	}
	return phase("post-install-hooks", func() error { return hooks(client(), post) })
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hooks runs hooks by ascending weight, each weight's at once, and waits
// for every one as Helm does (a Job until it completes).
func hooks(c *helmkube.Client, docs []doc) error {
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].weight < docs[j].weight })
	for start := 0; start < len(docs); {
		end := start
		for end < len(docs) && docs[end].weight == docs[start].weight {
			end++
		}
		list, err := apply(c, docs[start:end])
		if err != nil {
			return err
		}
		w, err := c.GetWaiter(helmkube.StatusWatcherStrategy)
		if err != nil {
			return err
		}
		if err := w.WatchUntilReady(list, *timeout); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// apply builds docs and creates every object, *workers at once.
func apply(c *helmkube.Client, docs []doc) (helmkube.ResourceList, error) {
	var b bytes.Buffer
	for _, d := range docs {
		b.WriteString("---\n" + d.text + "\n")
	}
	if len(docs) == 0 {
		return nil, nil
	}
	list, err := c.Build(&b, false)
	if err != nil {
		return nil, err
	}
	jobs := make(chan *resource.Info)
	errs := make(chan error, len(list))
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for info := range jobs {
				obj, err := resource.NewHelper(info.Client, info.Mapping).WithFieldManager("rawphases").Create(info.Namespace, true, info.Object)
				if err != nil {
					errs <- fmt.Errorf("%s %s: %w", info.Mapping.GroupVersionKind.Kind, info.Name, err)
					continue
				}
				_ = info.Refresh(obj, true)
			}
		}()
	}
	for _, info := range list {
		jobs <- info
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return list, nil
}

// waitReady waits with Helm's status watcher, as hookrunner and helm
// --wait=watcher do.
func waitReady(c *helmkube.Client, list helmkube.ResourceList) error {
	w, err := c.GetWaiter(helmkube.StatusWatcherStrategy)
	if err != nil {
		return err
	}
	return w.Wait(list, *timeout)
}
