package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/cluster"
)

const workloads = "../testdata/charts/workloads"

// render prints exactly what the real helm v4 CLI's template command
// prints, for the same chart, values and release.
func TestRenderEqualsHelmTemplate(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"webapp-defaults":  {"web", webapp},
		"webapp-values":    {"web", webapp, "-n", "apps", "--set", "replicaCount=5", "--set-string", "image.tag=3.1", "--set", "service.type=NodePort"},
		"workloads-hooks":  {"wl", workloads, "--set", "registry=quay.io"},
		"failing-rendered": {"f", failing, "--set", "auth.password=abcd"},
		"include-crds":     {"g", gadgetChart(t, "1.0.0", gadgetCRD("v1:size: {type: integer}")), "--include-crds"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			ours := hookrunnerRaw(t, append([]string{"render"}, args...)...)
			helm := helmCLI(t, "helm4", append([]string{"template"}, args...)...)
			if diff := cmp.Diff(helm, ours); diff != "" {
				t.Errorf("render differs from helm template (-helm +hookrunner):\n%s", diff)
			}
		})
	}
}

// hookrunnerRaw runs the binary and returns its stdout, failing on a
// non-zero exit.
func hookrunnerRaw(t *testing.T, args ...string) string {
	t.Helper()
	cmd := command(t, []string{"KUBECONFIG="}, args...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("hookrunner %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// With the cluster, render takes its capabilities from it and lookup works.
func TestRenderWithClusterLookup(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	chartDir := filepath.Join(t.TempDir(), "lookup")
	writeChart(t, chartDir, map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: lookup\nversion: 0.1.0\n",
		"templates/info.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: info\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  ns: {{ dig \"metadata\" \"name\" \"\" (lookup \"v1\" \"Namespace\" \"\" \"kube-system\") | quote }}\n",
	})
	out := hookrunnerRaw(t, "render", "x", chartDir, "--kubeconfig", c.Kubeconfig)
	if !strings.Contains(out, `kube: "v1.36.3"`) || !strings.Contains(out, `ns: "kube-system"`) {
		t.Errorf("render with the cluster:\n%s", out)
	}
	offline := hookrunnerRaw(t, "render", "x", chartDir)
	if !strings.Contains(offline, `ns: ""`) {
		t.Errorf("render without a cluster should not look anything up:\n%s", offline)
	}
}

func TestImagesCommand(t *testing.T) {
	t.Parallel()
	out := hookrunnerRaw(t, "images", "wl", workloads, "-o", "json", "--image-registry-rewrite", "docker.io=mirror.example.com/hub")
	var list []string
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if !sort.StringsAreSorted(list) || len(list) != 8 {
		t.Errorf("images: %v", list)
	}
	for _, ref := range list {
		if strings.HasPrefix(ref, "docker.io/") {
			t.Errorf("not rewritten: %s", ref)
		}
	}
	bad := hookrunner(t, nil, "install", "wl", workloads, "-n", "rewrite-bad", "--create-namespace", "--image-registry-rewrite", "docker.io")
	if bad.code != runner.ExitBadInput || !strings.Contains(bad.result.Reason, `--image-registry-rewrite "docker.io": want FROM=TO`) {
		t.Errorf("malformed rule: exit %d, %s", bad.code, bad.result.Reason)
	}
}

// install with rewrite rules creates workloads whose pod templates carry
// the rewritten images; changing the rules upgrades.
func TestInstallRewritesImages(t *testing.T) {
	t.Parallel()
	ns := namespaceFor(t)
	args := []string{"install", "web", webapp, "-n", ns, "--create-namespace", "--image-registry-rewrite", "registry.example.com=mirror.cn.example.com/app"}
	hookrunner(t, nil, args...).must(t)
	d, err := client(t).AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "mirror.cn.example.com/app/webapp:1.0" {
		t.Errorf("deployment image %q", got)
	}
	if again := hookrunner(t, nil, args...).must(t); again.result.Action != runner.ActionNone {
		t.Errorf("same rules again: %s", again.result.Action)
	}
	other := hookrunner(t, nil, "install", "web", webapp, "-n", ns).must(t)
	if other.result.Action != runner.ActionUpgrade {
		t.Errorf("dropping the rules: action %s, want upgrade", other.result.Action)
	}
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	out := hookrunnerRaw(t, "version", "--output", "json")
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "commit", "go", "helm", "kubernetes"} {
		if v[k] == "" {
			t.Errorf("version lacks %s: %s", k, out)
		}
	}
	if v["helm"] != "v4.3.1" {
		t.Errorf("helm SDK %q, want the pinned v4.3.1", v["helm"])
	}
}
