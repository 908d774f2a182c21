// Command rawcreate creates N ConfigMaps with 64 parallel workers using
// plain client-go: the practical limit of the API server, against which
// benchmarks compare hookrunner and helm. With -apply it writes them as
// Helm 4 does, by server-side apply (field manager "helm", strict field
// validation, conflicts not forced): the limit for an install that keeps
// Helm 4's semantics.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	n := flag.Int("n", 100, "ConfigMaps to create")
	ns := flag.String("namespace", "raw", "namespace (created)")
	payload := flag.Int("payload", 64, "bytes of data per ConfigMap")
	workers := flag.Int("workers", 64, "parallel requests")
	apply := flag.Bool("apply", false, "write by server-side apply, as Helm 4 does, instead of create")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = 100000, 100000
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *ns}}, metav1.CreateOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	data := strings.Repeat("x", *payload)
	noForce := false
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				name := fmt.Sprintf("raw-%d", i)
				var err error
				if *apply {
					body, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name, "namespace": *ns}, "data": map[string]string{"payload": data}})
					_, err = cs.CoreV1().ConfigMaps(*ns).Patch(ctx, name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "helm", Force: &noForce, FieldValidation: metav1.FieldValidationStrict})
				} else {
					cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"payload": data}}
					_, err = cs.CoreV1().ConfigMaps(*ns).Create(ctx, cm, metav1.CreateOptions{})
				}
				if err != nil {
					failed.Do(func() { fmt.Fprintln(os.Stderr, err); os.Exit(1) })
				}
			}
		}()
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}
