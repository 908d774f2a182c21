package postrender_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hookrunner/hookrunner/images"
	"github.com/hookrunner/hookrunner/runner/postrender"
)

// run applies a chain built from o to testdata/release.yaml and returns
// the objects by kind/name.
func run(t *testing.T, o postrender.Options) map[string]*kyaml.RNode {
	t.Helper()
	c, err := postrender.New(o)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile("testdata/release.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Run(bytes.NewBuffer(in))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := kio.ParseAll(out.String())
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]*kyaml.RNode{}
	for _, d := range docs {
		objs[d.GetKind()+"/"+d.GetName()] = d
	}
	return objs
}

// get returns the YAML of the field at path of obj ("" when absent).
func get(t *testing.T, obj *kyaml.RNode, path ...string) string {
	t.Helper()
	n, err := obj.Pipe(kyaml.Lookup(path...))
	if err != nil {
		t.Fatal(err)
	}
	if n == nil {
		return ""
	}
	s, err := n.String()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

func TestPullSecretsReachEveryPodSpec(t *testing.T) {
	objs := run(t, postrender.Options{PullSecrets: []string{"mirror-creds", "chart-own", "mirror-creds"}})
	want := map[string][]string{
		"Deployment/web":    {"spec", "template", "spec", "imagePullSecrets"},
		"Deployment/worker": {"spec", "template", "spec", "imagePullSecrets"},
		"CronJob/report":    {"spec", "jobTemplate", "spec", "template", "spec", "imagePullSecrets"},
		"CloneSet/cache":    {"spec", "template", "spec", "imagePullSecrets"},
	}
	for obj, path := range want {
		got := get(t, objs[obj], path...)
		if !strings.Contains(got, "name: mirror-creds") || strings.Count(got, "mirror-creds") != 1 {
			t.Errorf("%s: imagePullSecrets = %q, want mirror-creds once", obj, got)
		}
	}
	if got := get(t, objs["Deployment/web"], "spec", "template", "spec", "imagePullSecrets"); strings.Count(got, "chart-own") != 1 {
		t.Errorf("the chart's own pull secret was duplicated or lost: %q", got)
	}
	if got := get(t, objs["ServiceAccount/app"], "imagePullSecrets"); got != "" {
		t.Errorf("ServiceAccount changed without being asked: %q", got)
	}
	if got := get(t, objs["ConfigMap/settings"], "data"); strings.Contains(got, "imagePullSecrets") {
		t.Errorf("a ConfigMap's data was touched: %q", got)
	}

	objs = run(t, postrender.Options{PullSecrets: []string{"mirror-creds"}, PullSecretsToServiceAccounts: true})
	if got := get(t, objs["ServiceAccount/app"], "imagePullSecrets"); got != "- name: mirror-creds" {
		t.Errorf("ServiceAccount imagePullSecrets = %q", got)
	}
}

func TestLabelsAndAnnotationsOnEveryObject(t *testing.T) {
	objs := run(t, postrender.Options{Labels: []string{"shop.example.com/product=suite", "app=overridden"}, Annotations: []string{"owner=team a=b"}})
	for name, obj := range objs {
		l, a := obj.GetLabels(), obj.GetAnnotations()
		if l["shop.example.com/product"] != "suite" || l["app"] != "overridden" || a["owner"] != "team a=b" {
			t.Errorf("%s: labels %v, annotations %v", name, l, a)
		}
	}
	// Pod templates and selectors are the chart's: a label there would
	// restart pods or break selectors.
	if got := get(t, objs["Deployment/web"], "spec", "selector", "matchLabels", "app"); got != "web" {
		t.Errorf("selector changed: %q", got)
	}
	if got := get(t, objs["Deployment/web"], "spec", "template", "metadata", "labels", "app"); got != "web" {
		t.Errorf("pod template labels changed: %q", got)
	}
}

func TestPatches(t *testing.T) {
	objs := run(t, postrender.Options{PatchFiles: []string{"testdata/patches.yaml"}})
	if got := get(t, objs["Deployment/web"], "spec", "template", "spec", "tolerations"); !strings.Contains(got, "key: dedicated") {
		t.Errorf("web tolerations = %q", got)
	}
	if got := get(t, objs["Deployment/web"], "spec", "template", "spec", "containers"); !strings.Contains(got, "image: nginx:1.27") {
		t.Errorf("the strategic merge lost the containers: %q", got)
	}
	if got := get(t, objs["Deployment/worker"], "spec", "template", "spec", "tolerations"); got != "" {
		t.Errorf("worker was patched too: %q", got)
	}
	if got := get(t, objs["Service/web"], "spec", "type"); got != "NodePort" {
		t.Errorf("Service type = %q", got)
	}
	if got := objs["Service/web"].GetAnnotations()["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec"]; got != "slb.s1.small" {
		t.Errorf("Service annotation = %q", got)
	}
}

// The stages run in order: rewrite, pull secrets, labels, then patches, so
// a patch sees (and may override) what the others did.
func TestChainOrder(t *testing.T) {
	objs := run(t, postrender.Options{
		ImageRewrite: []string{"docker.io=mirror.example.com/hub"},
		PullSecrets:  []string{"mirror-creds"},
		Labels:       []string{"tier=gold"},
		PatchFiles:   []string{"testdata/patches.yaml"},
	})
	var all []*kyaml.RNode
	for _, o := range objs {
		all = append(all, o)
	}
	var imgs []string
	if err := images.Visit(all, func(_ *kyaml.RNode, at images.Found) error {
		imgs = append(imgs, at.Image)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		if !strings.HasPrefix(img, "mirror.example.com/hub/") && !strings.HasPrefix(img, "quay.io/") {
			t.Errorf("not rewritten: %s", img)
		}
	}
	if get(t, objs["Deployment/web"], "spec", "template", "spec", "tolerations") == "" || objs["Service/web"].GetLabels()["tier"] != "gold" {
		t.Error("a stage did not run")
	}
}

func TestInvalid(t *testing.T) {
	cases := map[string]struct {
		o    postrender.Options
		want string
	}{
		"pull-secret":       {postrender.Options{PullSecrets: []string{"Bad_Name"}}, `--image-pull-secret "Bad_Name"`},
		"label-no-value":    {postrender.Options{Labels: []string{"tier"}}, `--add-label "tier": want KEY=VALUE`},
		"label-bad-key":     {postrender.Options{Labels: []string{"-x=1"}}, `--add-label "-x=1": key`},
		"label-bad-value":   {postrender.Options{Labels: []string{"x=a b"}}, `--add-label "x=a b": value`},
		"annotation-key":    {postrender.Options{Annotations: []string{"a/b/c=1"}}, `--add-annotation "a/b/c=1": key`},
		"rewrite":           {postrender.Options{ImageRewrite: []string{"docker.io"}}, "--image-registry-rewrite"},
		"missing-file":      {postrender.Options{PatchFiles: []string{"testdata/absent.yaml"}}, "--post-render-patch testdata/absent.yaml: no such file"},
		"unknown-key":       {postrender.Options{PatchFiles: []string{"testdata/unknown-key.yaml"}}, `--post-render-patch testdata/unknown-key.yaml: want a YAML list of {target, patch}: error unmarshaling JSON: while decoding JSON: json: unknown field "patches"`},
		"not-a-list":        {postrender.Options{PatchFiles: []string{"testdata/not-a-list.yaml"}}, "--post-render-patch testdata/not-a-list.yaml: want a YAML list"},
		"6902-needs-target": {postrender.Options{PatchFiles: []string{"testdata/no-target.yaml"}}, "--post-render-patch testdata/no-target.yaml: patch 1: a JSON 6902 patch needs a target"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := postrender.New(tc.o)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line with %q", err, tc.want)
			}
			if !errors.Is(err, postrender.ErrInvalid) && !errors.Is(err, images.ErrInvalid) {
				t.Errorf("error %v is not a bad-input error", err)
			}
		})
	}
}

// A patch whose target matches nothing fails the render, naming the
// patch: a silent no-op would hide a typo or a chart that changed.
func TestPatchMatchingNothing(t *testing.T) {
	c, err := postrender.New(postrender.Options{PatchFiles: []string{"testdata/nomatch.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := os.ReadFile("testdata/release.yaml")
	_, err = c.Run(bytes.NewBuffer(in))
	if !errors.Is(err, postrender.ErrInvalid) || !strings.Contains(err.Error(), "--post-render-patch testdata/nomatch.yaml: patch 1: its target matches no object") {
		t.Errorf("err = %v", err)
	}
}

func TestIdentity(t *testing.T) {
	id := func(o postrender.Options) string {
		t.Helper()
		c, err := postrender.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return c.Identity()
	}
	if got := id(postrender.Options{}); got != "" {
		t.Errorf("empty chain identity = %q", got)
	}
	// Rules alone keep the form releases were hashed with before.
	if got := id(postrender.Options{ImageRewrite: []string{"docker.io=m.example.com/hub"}}); got != "images:docker.io=m.example.com/hub" {
		t.Errorf("rules identity = %q", got)
	}
	base := postrender.Options{PullSecrets: []string{"a"}, Labels: []string{"x=1"}, PatchFiles: []string{"testdata/patches.yaml"}}
	seen := map[string]string{"base": id(base)}
	variants := map[string]postrender.Options{
		"secret":  {PullSecrets: []string{"b"}, Labels: base.Labels, PatchFiles: base.PatchFiles},
		"sa":      {PullSecrets: base.PullSecrets, PullSecretsToServiceAccounts: true, Labels: base.Labels, PatchFiles: base.PatchFiles},
		"label":   {PullSecrets: base.PullSecrets, Labels: []string{"x=2"}, PatchFiles: base.PatchFiles},
		"patches": {PullSecrets: base.PullSecrets, Labels: base.Labels},
		"annot":   {PullSecrets: base.PullSecrets, Labels: base.Labels, PatchFiles: base.PatchFiles, Annotations: []string{"x=1"}},
	}
	for name, o := range variants {
		got := id(o)
		for other, v := range seen {
			if v == got {
				t.Errorf("%s and %s have one identity %q", name, other, got)
			}
		}
		seen[name] = got
	}
	// Order of repeated flags does not matter.
	if a, b := id(postrender.Options{Labels: []string{"x=1", "y=2"}}), id(postrender.Options{Labels: []string{"y=2", "x=1"}}); a != b {
		t.Errorf("label order changes the identity: %q vs %q", a, b)
	}
	if diff := cmp.Diff(true, (&postrender.Chain{}).Empty()); diff != "" {
		t.Error(diff)
	}
}
