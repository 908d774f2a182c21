package images_test

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hookrunner/hookrunner/images"
)

var update = flag.Bool("update", false, "rewrite golden files")

func manifests(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/workloads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Every workload kind, init and sidecar containers, a CronJob, a test hook
// and digests: the exact list, normalized, sorted and unique.
func TestList(t *testing.T) {
	got, err := images.List(manifests(t))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.WriteFile("testdata/workloads.images.golden", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/workloads.images.golden")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), text); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNormalize(t *testing.T) {
	cases := map[string]string{
		"nginx":                        "docker.io/library/nginx:latest",
		"nginx:1.25":                   "docker.io/library/nginx:1.25",
		"bitnami/redis":                "docker.io/bitnami/redis:latest",
		"localhost:5000/app":           "localhost:5000/app:latest",
		"quay.io/a/b:v1":               "quay.io/a/b:v1",
		"ghcr.io/a/b@sha256:" + hex64:  "ghcr.io/a/b@sha256:" + hex64,
		"a/b:1.0@sha256:" + hex64:      "docker.io/a/b:1.0@sha256:" + hex64,
		"registry.example.com:443/x/y": "registry.example.com:443/x/y:latest",
	}
	for in, want := range cases {
		got, err := images.Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "library/Nginx", "nginx:", "a b", "nginx@sha256:short"} {
		if _, err := images.Normalize(bad); !errors.Is(err, images.ErrInvalid) {
			t.Errorf("Normalize(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
}

const hex64 = "4c3b0b7b3c2e9ac1d3ef3a1f1b8d0c6e2b0f4c4a3d2e1f0a9b8c7d6e5f4a3b2c"

func TestRewrite(t *testing.T) {
	rules, err := images.ParseRules([]string{
		"docker.io=mirror.example.com/hub",
		"docker.io/bitnami=bitnami.mirror.example.com", // longer: wins for bitnami
		"localhost=never.example.com",                  // must not match localhost:5000
		"docker.io/library/nginx=nginx.example.com/nginx",
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"nginx":                                 "nginx.example.com/nginx:latest",
		"nginx:1.25":                            "nginx.example.com/nginx:1.25",
		"nginx-extra:1":                         "mirror.example.com/hub/library/nginx-extra:1",
		"bitnami/redis:7.2":                     "bitnami.mirror.example.com/redis:7.2",
		"busybox@sha256:" + hex64:               "mirror.example.com/hub/library/busybox@sha256:" + hex64,
		"quay.io/a/b:v1":                        "quay.io/a/b:v1", // no rule: unchanged, as written
		"localhost:5000/app":                    "localhost:5000/app",
		"docker.io/example/x:1@sha256:" + hex64: "mirror.example.com/hub/example/x:1@sha256:" + hex64,
	}
	for in, want := range cases {
		got, err := rules.Rewrite(in)
		if err != nil || got != want {
			t.Errorf("Rewrite(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestParseRulesRefuses(t *testing.T) {
	for _, bad := range []string{"docker.io", "=x", "docker.io=", "docker.io/Bad=x", "a=b c"} {
		if _, err := images.ParseRules([]string{bad}); !errors.Is(err, images.ErrInvalid) || !strings.Contains(err.Error(), "--image-registry-rewrite") {
			t.Errorf("ParseRules(%q): err = %v", bad, err)
		}
	}
}

// The rules change image fields of workloads only.
func TestApplyRewritesWorkloadsOnly(t *testing.T) {
	rules, err := images.ParseRules([]string{"docker.io=mirror.example.com/hub", "registry.k8s.io=k8s.mirror.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := kio.ParseAll(manifests(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rules.Apply(docs); err != nil {
		t.Fatal(err)
	}
	out, err := kio.StringAll(docs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := images.List(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range got {
		if strings.HasPrefix(ref, "docker.io/") || strings.HasPrefix(ref, "registry.k8s.io/") {
			t.Errorf("not rewritten: %s", ref)
		}
	}
	if !strings.Contains(out, `image: "this is not an image: nginx"`) && !strings.Contains(out, "image: 'this is not an image: nginx'") {
		t.Errorf("a ConfigMap's data was touched:\n%s", out)
	}
}

// Images in workloads of any kind, built-in or custom, and in image
// volumes: found with where they sit, and rewritten alike.
func TestFindInAnyWorkload(t *testing.T) {
	data, err := os.ReadFile("testdata/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := images.Find(string(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []images.Found{
		{Image: "bitnami/kubectl:1.31", Kind: "CloneSet", Namespace: "shop", Name: "web", Path: "spec.template.spec.initContainers[migrate].image"},
		{Image: "nginx:1.27", Kind: "CloneSet", Namespace: "shop", Name: "web", Path: "spec.template.spec.containers[web].image"},
		{Image: "quay.io/prometheus/node-exporter:v1.8.2", Kind: "CloneSet", Namespace: "shop", Name: "web", Path: "spec.template.spec.containers[sidecar].image"},
		{Image: "ghcr.io/example/worker@sha256:" + hex64, Kind: "Worker", Name: "queue", Path: "spec.containers[worker].image"},
		{Image: "gcr.io/knative-samples/helloworld-go", Kind: "Service", Name: "hello", Path: "spec.template.spec.containers[0].image"},
		{Image: "registry.k8s.io/pause:3.10", Kind: "Pod", Name: "inference", Path: "spec.containers[model-server].image"},
		{Image: "docker.io/example/models:v2", Kind: "Pod", Name: "inference", Path: "spec.volumes[models].image.reference"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	rules, err := images.ParseRules([]string{"docker.io=mirror.example.com/hub", "quay.io=mirror.example.com/quay", "gcr.io=mirror.example.com/gcr", "ghcr.io=mirror.example.com/ghcr", "registry.k8s.io=mirror.example.com/k8s"})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := kio.ParseAll(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := rules.Apply(docs); err != nil {
		t.Fatal(err)
	}
	out, err := kio.StringAll(docs)
	if err != nil {
		t.Fatal(err)
	}
	after, err := images.Find(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(want) {
		t.Fatalf("%d images after the rewrite, want %d", len(after), len(want))
	}
	for _, f := range after {
		if !strings.HasPrefix(f.Image, "mirror.example.com/") {
			t.Errorf("%s %s %s: not rewritten: %s", f.Kind, f.Name, f.Path, f.Image)
		}
	}
	for _, untouched := range []string{"image: docker.io/never/listed:1", "image: registry.k8s.io/pause:3.10\n"} {
		if !strings.Contains(out, untouched) {
			t.Errorf("a CRD schema or an object's status was rewritten: %q is gone", untouched)
		}
	}
}

// Pod specs are found wherever a containers list sits, and only there.
func TestPodSpecs(t *testing.T) {
	data, err := os.ReadFile("testdata/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := kio.ParseAll(string(data))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := images.PodSpecs(docs, func(spec *kyaml.RNode) error {
		list, err := spec.Pipe(kyaml.Lookup("containers"))
		if err != nil {
			return err
		}
		els, err := list.Elements()
		if err != nil {
			return err
		}
		got = append(got, els[0].Field("image").Value.YNode().Value)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"nginx:1.27", "ghcr.io/example/worker@sha256:" + hex64, "gcr.io/knative-samples/helloworld-go", "registry.k8s.io/pause:3.10"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
