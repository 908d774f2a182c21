package kube_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/test/cluster"
)

// Large documents have their live object read while they are parsed:
// drift is still found, a missing object still reported, an unchanged one
// not, and a document whose header cannot be read without parsing
// (flow style) is read after parsing, as before.
func TestDriftOfLargeDocuments(t *testing.T) {
	const ns = "drift-large"
	cs := setup(t, ns)
	ctx := context.Background()
	payload := strings.Repeat("x", 70<<10)
	owned := func(name, data string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
				Labels:      map[string]string{"app.kubernetes.io/managed-by": "Helm"},
				Annotations: map[string]string{"meta.helm.sh/release-name": "rel", "meta.helm.sh/release-namespace": ns}},
			Data: map[string]string{"payload": data},
		}
	}
	for _, cm := range []*corev1.ConfigMap{owned("same", payload), owned("changed", "y"+payload[1:]), owned("flow-changed", "y"+payload[1:])} {
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	block := func(name string) string {
		return fmt.Sprintf("---\n# Source: c/templates/%s.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  payload: %s\n", name, name, payload)
	}
	manifest := block("same") + block("changed") + block("missing") +
		fmt.Sprintf("---\n{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"flow-changed\"}, \"data\": {\"payload\": %q}}\n", payload)

	cfg, err := kube.Load(kube.Options{Kubeconfig: cluster.Get(t).Kubeconfig}, ns)
	if err != nil {
		t.Fatal(err)
	}
	drifts, err := cfg.DetectDrift(ctx, manifest, "rel", ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range drifts {
		got = append(got, fmt.Sprintf("%s missing=%v fields=%v", d.Name, d.Missing, d.Fields))
	}
	sort.Strings(got)
	want := []string{"changed missing=false fields=[/data/payload]", "flow-changed missing=false fields=[/data/payload]", "missing missing=true fields=[]"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("drift:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
