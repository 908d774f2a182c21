package kube

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	helmkube "helm.sh/helm/v4/pkg/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi/cached"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hookrunner/hookrunner/test/cluster"
)

// TestPatchParamsOf: which kinds' PATCH takes fieldValidation, read from a
// document as kubectl's verifier reads it.
func TestPatchParamsOf(t *testing.T) {
	data, err := os.ReadFile("testdata/openapi/patch-params.json")
	if err != nil {
		t.Fatal(err)
	}
	got := patchParamsOf(data)
	if got == nil {
		t.Fatal("patchParamsOf: nil for a readable document")
	}
	core := func(kind string) schema.GroupVersionKind { return schema.GroupVersionKind{Version: "v1", Kind: kind} }
	for _, tc := range []struct {
		kind                       string
		found, supports, disagrees bool
	}{
		{kind: "ConfigMap", found: true, supports: true},
		{kind: "Secret", found: true, supports: true},   // by a #/parameters/ reference
		{kind: "Service", found: true, supports: false}, // a header is not a query parameter
		{kind: "Endpoints", found: true, supports: false},
		{kind: "Pod", found: true, disagrees: true}, // its status PATCH does not take it
		{kind: "Event", found: false},               // its kind extension is not an object
		{kind: "Namespace", found: false},           // no PATCH in the document
	} {
		supports, found := got.supports[core(tc.kind)]
		if found != tc.found || got.disagree[core(tc.kind)] != tc.disagrees || (found && !tc.disagrees && supports != tc.supports) {
			t.Errorf("%s: found %v supports %v disagrees %v, want found %v supports %v disagrees %v",
				tc.kind, found, supports, got.disagree[core(tc.kind)], tc.found, tc.supports, tc.disagrees)
		}
	}
	for _, bad := range []string{`{}`, `{"paths": 3}`, `not json`} {
		if p := patchParamsOf([]byte(bad)); p != nil {
			t.Errorf("patchParamsOf(%s) = %+v, want nil: kubectl's verifier answers then", bad, p)
		}
	}
}

// countingVerifier counts the questions passed on to kubectl's verifier.
type countingVerifier struct {
	resource.Verifier
	asked atomic.Int32
}

func (c *countingVerifier) HasSupport(gvk schema.GroupVersionKind) error {
	c.asked.Add(1)
	return c.Verifier.HasSupport(gvk)
}

// TestFieldValidationVerifierAgreesWithKubectl asks the verifier and
// kubectl's OpenAPI v3 verifier about every kind the API server serves, a
// CRD's kind created just before, and kinds it does not serve: the same
// answers, and the built-in kinds answered without kubectl's.
func TestFieldValidationVerifierAgreesWithKubectl(t *testing.T) {
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.Get(t).Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.fieldvalidation.hookrunner.test"},
		"spec": map[string]any{
			"group": "fieldvalidation.hookrunner.test", "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Create(context.Background(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = crds.Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{}) })

	_, lists, err := disc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []schema.GroupVersionKind
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") {
				kinds = append(kinds, gv.WithKind(r.Kind))
			}
		}
	}
	kinds = append(kinds,
		schema.GroupVersionKind{Version: "v1", Kind: "List"},
		schema.GroupVersionKind{Version: "v1", Kind: "NoSuchKind"},
		schema.GroupVersionKind{Group: "fieldvalidation.hookrunner.test", Version: "v1", Kind: "Widget"},
		schema.GroupVersionKind{Group: "example.invalid", Version: "v1", Kind: "Gadget"},
	)

	param := resource.QueryParamFieldValidation
	asked := &countingVerifier{Verifier: resource.NewQueryParamVerifierV3(dyn, cached.NewClient(disc.OpenAPIV3()), param)}
	ours := newFieldValidationVerifier(cached.NewClient(disc.OpenAPIV3()), asked)
	kubectl := resource.NewQueryParamVerifierV3(dyn, cached.NewClient(disc.OpenAPIV3()), param)
	supported := 0
	for _, gvk := range kinds {
		got, want := ours.HasSupport(gvk), kubectl.HasSupport(gvk)
		if !sameAnswer(got, want) {
			t.Errorf("%s: %v, kubectl's verifier: %v", gvk, got, want)
		}
		if got == nil {
			supported++
		}
	}
	if supported < 20 {
		t.Errorf("only %d of %d kinds take fieldValidation: the comparison proves little", supported, len(kinds))
	}
	before := asked.asked.Load()
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"}, {Group: "batch", Version: "v1", Kind: "Job"},
	} {
		fresh := newFieldValidationVerifier(cached.NewClient(disc.OpenAPIV3()), asked)
		if err := fresh.HasSupport(gvk); err != nil {
			t.Errorf("%s: %v", gvk, err)
		}
	}
	if n := asked.asked.Load() - before; n != 0 {
		t.Errorf("kubectl's verifier was asked %d times about built-in kinds, want 0", n)
	}
}

func sameAnswer(a, b error) bool {
	switch {
	case a == nil || b == nil:
		return a == nil && b == nil
	case resource.IsParamUnsupportedError(a) || resource.IsParamUnsupportedError(b):
		return resource.IsParamUnsupportedError(a) && resource.IsParamUnsupportedError(b)
	}
	return a.Error() == b.Error()
}

// The Helm SDK's client is made with kubectl's factory, which strictValidator
// needs: were that to change, client-side builds would quietly fall back to
// kubectl's slower validator.
func TestHelmFactoryIsKubectls(t *testing.T) {
	c := helmkube.New(genericclioptions.NewConfigFlags(false))
	if _, ok := c.Factory.(kubectlFactory); !ok {
		t.Fatalf("the SDK's factory %T lacks what strictValidator builds from", c.Factory)
	}
}
