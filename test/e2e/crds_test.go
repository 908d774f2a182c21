package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/cluster"
)

// gadgetCRD is the crds/ file of the gadgets chart: versions lists
// "name:properties" (the first is the storage version).
func gadgetCRD(versions ...string) string {
	var b strings.Builder
	b.WriteString(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.crds.hookrunner.dev
spec:
  group: crds.hookrunner.dev
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  scope: Namespaced
  versions:
`)
	for i, v := range versions {
		name, props, _ := strings.Cut(v, ":")
		fmt.Fprintf(&b, `    - name: %s
      served: true
      storage: %t
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties: {%s}
`, name, i == 0, props)
	}
	return b.String()
}

// gadgetChart writes version of the gadgets chart: its CRD and one Gadget.
func gadgetChart(t *testing.T, version, crd string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gadgets")
	writeChart(t, dir, map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: gadgets\nversion: " + version + "\n",
		"crds/gadgets.yaml":   crd,
		"templates/cr.yaml":   "apiVersion: crds.hookrunner.dev/v1\nkind: Gadget\nmetadata:\n  name: main\nspec:\n  size: 3\n",
		"templates/note.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gadgets-note\ndata:\n  version: " + version + "\n",
	})
	return dir
}

// --crds: the default creates missing CRDs and leaves existing ones as they
// are, saying which it skipped; create-replace updates them before the
// release's objects, so a custom resource using a new field is accepted;
// dropping a stored version is refused, naming the CRD and the version.
func TestCRDPolicy(t *testing.T) {
	ns := createNamespace(t)
	dyn, err := dynamic.NewForConfig(cluster.Get(t).RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	const crdName = "gadgets.crds.hookrunner.dev"
	t.Cleanup(func() {
		crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		_ = dyn.Resource(crds).Delete(context.Background(), crdName, metav1.DeleteOptions{})
	})
	gadgets := dyn.Resource(schema.GroupVersionResource{Group: "crds.hookrunner.dev", Version: "v1", Resource: "gadgets"}).Namespace(ns)
	withColor := func(name string) error {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "crds.hookrunner.dev/v1", "kind": "Gadget",
			"metadata": map[string]any{"name": name}, "spec": map[string]any{"size": int64(1), "color": "red"},
		}}
		_, err := gadgets.Create(context.Background(), obj, metav1.CreateOptions{FieldValidation: "Strict"})
		return err
	}
	install := func(chart string, flags ...string) run {
		t.Helper()
		return hookrunner(t, nil, append([]string{"install", "gadgets", chart, "-n", ns, "--timeout", "90s"}, flags...)...)
	}
	crds := func(r run) kube.CRDReport {
		if r.result.CRDs == nil {
			return kube.CRDReport{}
		}
		return *r.result.CRDs
	}

	v1 := gadgetChart(t, "1.0.0", gadgetCRD("v1:size: {type: integer}"))
	r := install(v1).must(t)
	if diff := cmp.Diff(kube.CRDReport{Created: []string{crdName}}, crds(r)); diff != "" {
		t.Errorf("first install crds (-want +got):\n%s", diff)
	}

	// Version 2 of the chart adds spec.color to the CRD.
	v2 := gadgetChart(t, "2.0.0", gadgetCRD("v1:size: {type: integer}, color: {type: string}"))
	r = install(v2).must(t)
	if r.result.Action != runner.ActionUpgrade {
		t.Errorf("action %s, want upgrade", r.result.Action)
	}
	if diff := cmp.Diff(kube.CRDReport{Skipped: []string{crdName}}, crds(r)); diff != "" {
		t.Errorf("default policy crds (-want +got):\n%s", diff)
	}
	if err := withColor("before"); err == nil || !strings.Contains(err.Error(), "color") {
		t.Errorf("the old schema took the new field: %v", err)
	}

	// diff shows what create-replace would do, and does not do it.
	cmd := command(t, nil, "diff", "gadgets", v2, "-n", ns, "--crds", "create-replace")
	out, err := cmd.Output()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "CRD "+crdName+": would be updated") {
		t.Errorf("diff --crds create-replace: %v\n%s", err, out)
	}
	r = install(v2, "--crds", "create-replace").must(t)
	if diff := cmp.Diff(kube.CRDReport{Updated: []string{crdName}}, crds(r)); diff != "" {
		t.Errorf("create-replace crds (-want +got):\n%s", diff)
	}
	if err := withColor("after"); err != nil {
		t.Errorf("a Gadget with the new field after create-replace: %v", err)
	}
	// Applying it again changes nothing.
	if r := install(v2, "--crds", "create-replace").must(t); r.result.CRDs != nil || r.result.Action != runner.ActionNone {
		t.Errorf("re-run: action %s, crds %+v", r.result.Action, r.result.CRDs)
	}
	// helm v4 and v3 read the release as ever.
	for _, cli := range []string{"helm4", "helm3"} {
		if out := helmCLI(t, cli, "history", "gadgets", "-n", ns); !strings.Contains(out, "gadgets-2.0.0") {
			t.Errorf("%s history:\n%s", cli, out)
		}
	}

	// Version 3 serves only v2: v1 still holds the stored objects.
	v3 := gadgetChart(t, "3.0.0", gadgetCRD("v2:size: {type: integer}, color: {type: string}"))
	r = install(v3, "--crds", "create-replace")
	if r.code != runner.ExitAction || !strings.Contains(r.result.Reason, "CRD "+crdName+": the chart removes version [v1], which is still in status.storedVersions") {
		t.Errorf("dropping a stored version: exit %d, reason %q", r.code, r.result.Reason)
	}
	if status, rev := helmStatus(t, ns, "gadgets"); status != "deployed" || rev != "2" {
		t.Errorf("after the refused upgrade the release is %s revision %s, want deployed 2 (untouched)", status, rev)
	}

	// --skip-crds is --crds skip; with create-replace it is a contradiction.
	if r := install(v3, "--skip-crds", "--crds", "create-replace"); r.code != runner.ExitBadInput || !strings.Contains(r.result.Reason, "--skip-crds and --crds create-replace") {
		t.Errorf("--skip-crds with create-replace: exit %d, %q", r.code, r.result.Reason)
	}
}

// A chart's CRDs are applied all at once: every one is created and
// Established before the custom resources that use them, and the report
// keeps the chart's order (its crds/ files by name).
func TestCRDsManyAtOnce(t *testing.T) {
	ns := createNamespace(t)
	dyn, err := dynamic.NewForConfig(cluster.Get(t).RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	files := map[string]string{"Chart.yaml": "apiVersion: v2\nname: many\nversion: 1.0.0\n"}
	var want []string
	for i := range 6 {
		kind, plural := fmt.Sprintf("Part%d", i), fmt.Sprintf("parts%d", i)
		name := plural + ".many.hookrunner.dev"
		want = append(want, name)
		t.Cleanup(func() { _ = dyn.Resource(crdGVR).Delete(context.Background(), name, metav1.DeleteOptions{}) })
		files[fmt.Sprintf("crds/%c-%s.yaml", 'a'+i, plural)] = strings.NewReplacer("gadgets.crds.hookrunner.dev", name, "crds.hookrunner.dev", "many.hookrunner.dev",
			"kind: Gadget", "kind: "+kind, "plural: gadgets", "plural: "+plural, "singular: gadget", "singular: "+strings.ToLower(kind)).Replace(gadgetCRD("v1:size: {type: integer}"))
		files[fmt.Sprintf("templates/%s.yaml", plural)] = fmt.Sprintf("apiVersion: many.hookrunner.dev/v1\nkind: %s\nmetadata:\n  name: one\nspec:\n  size: %d\n", kind, i)
	}
	dir := filepath.Join(t.TempDir(), "many")
	writeChart(t, dir, files)

	r := hookrunner(t, nil, "install", "many", dir, "-n", ns, "--timeout", "90s").must(t)
	if r.result.CRDs == nil {
		t.Fatal("no CRD report")
	}
	if diff := cmp.Diff(kube.CRDReport{Created: want}, *r.result.CRDs); diff != "" {
		t.Errorf("crds (-want +got):\n%s", diff)
	}
	for i := range 6 {
		gvr := schema.GroupVersionResource{Group: "many.hookrunner.dev", Version: "v1", Resource: fmt.Sprintf("parts%d", i)}
		obj, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), "one", metav1.GetOptions{})
		if err != nil {
			t.Errorf("custom resource of %s: %v", gvr.Resource, err)
			continue
		}
		if size, _, _ := unstructured.NestedInt64(obj.Object, "spec", "size"); size != int64(i) {
			t.Errorf("%s one: size %d, want %d", gvr.Resource, size, i)
		}
	}
}
