package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hookrunner/hookrunner/images"
	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/test/chartsrv"
	"github.com/hookrunner/hookrunner/test/corpus"
)

// Signed charts install; a chart whose signature does not verify is
// refused with exit code 3 before the cluster is touched: no namespace, no
// release record. Cosign for OCI charts, provenance for .tgz charts.
func TestSignedChartsOnly(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	cosignPub := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(cosignPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	oci := chartsrv.NewOCI(t, "ociuser", "canary-trust-pass")
	ref := oci.Push(t, chartsrv.Package(t, webapp))
	oci.CosignSign(t, "charts/webapp", "1.2.3", key)
	unsignedDir := filepath.Join(t.TempDir(), "unsigned")
	if err := os.CopyFS(unsignedDir, os.DirFS(webapp)); err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(unsignedDir, "Chart.yaml")
	data, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chartYAML, []byte(strings.Replace(string(data), "name: webapp", "name: unsigned", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	unsigned := oci.Push(t, chartsrv.Package(t, unsignedDir))

	secring, pubring := chartsrv.Keyring(t, "packager")
	signedTgz := chartsrv.Package(t, webapp)
	chartsrv.SignProvenance(t, signedTgz, secring, "packager")
	tampered := filepath.Join(t.TempDir(), filepath.Base(signedTgz))
	tgz, err := os.ReadFile(signedTgz)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := os.ReadFile(signedTgz + ".prov")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tampered, append(tgz, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tampered+".prov", prov, 0o644); err != nil {
		t.Fatal(err)
	}

	ociArgs := []string{"--version", "1.2.3", "--plain-http", "--registry-config", oci.RegistryConfig, "--cosign-key", cosignPub}
	cases := map[string]struct {
		args []string
		ok   bool
		says string
	}{
		"cosign-signed":  {args: append([]string{ref}, ociArgs...), ok: true},
		"cosign-missing": {args: append([]string{unsigned}, ociArgs...), says: "no cosign signature"},
		"prov-signed":    {args: []string{signedTgz, "--verify", "--keyring", pubring}, ok: true},
		"prov-tampered":  {args: []string{tampered, "--verify", "--keyring", pubring}, says: "sha256 sum does not match"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := "trust-" + name
			args := append([]string{"install", "app"}, tc.args...)
			r := hookrunner(t, nil, append(args, "-n", ns, "--create-namespace", "--timeout", "60s")...)
			if tc.ok {
				r.must(t)
				if status, _ := helmStatus(t, ns, "app"); status != "deployed" {
					t.Errorf("release %q", status)
				}
				return
			}
			if r.code != runner.ExitChart || !strings.Contains(r.result.Reason, tc.says) {
				t.Errorf("exit %d, reason %q; want %d saying %q", r.code, r.result.Reason, runner.ExitChart, tc.says)
			}
			if strings.Contains(r.stdout+r.stderr, "canary-trust-pass") {
				t.Error("the registry password was printed")
			}
			if !namespaceAbsent(t, ns) {
				t.Errorf("namespace %s was created for a chart that did not verify", ns)
			}
		})
	}
}

// Patches, pull secrets and labels apply in install, render and diff
// alike; a
// patch whose target matches nothing is bad input, and nothing is created.
func TestPostRenderPatches(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	patches := filepath.Join(dir, "patches.yaml")
	if err := os.WriteFile(patches, []byte(`- patch: |
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: app}
    spec:
      template:
        spec:
          tolerations: [{key: dedicated, operator: Equal, value: shop, effect: NoSchedule}]
- target: {version: v1, kind: Service, name: app}
  patch: |
    - {op: replace, path: /spec/type, value: NodePort}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	nomatch := filepath.Join(dir, "nomatch.yaml")
	if err := os.WriteFile(nomatch, []byte("- target: {kind: Deployment, name: frontend}\n  patch: '[{\"op\": \"add\", \"path\": \"/spec/replicas\", \"value\": 3}]'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--post-render-patch", patches, "--image-pull-secret", "mirror-creds", "--add-label", "shop.example.com/product=suite"}

	ns := "patches"
	hookrunner(t, nil, append([]string{"install", "app", webapp, "-n", ns, "--create-namespace", "--timeout", "60s"}, flags...)...).must(t)
	cs := client(t)
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "dedicated" || len(pod.ImagePullSecrets) != 1 || d.Labels["shop.example.com/product"] != "suite" {
		t.Errorf("installed Deployment: tolerations %v, pull secrets %v, labels %v", pod.Tolerations, pod.ImagePullSecrets, d.Labels)
	}
	svc, err := cs.CoreV1().Services(ns).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil || svc.Spec.Type != "NodePort" {
		t.Errorf("installed Service: %v %v", err, svc.Spec.Type)
	}
	// render gives the manifest install stored.
	rendered := hookrunnerRaw(t, append([]string{"render", "app", webapp, "-n", ns}, flags...)...)
	stored := helmCLI(t, "helm4", "get", "manifest", "app", "-n", ns)
	if diff := cmp.Diff(strings.TrimSpace(stored), strings.TrimSpace(rendered)); diff != "" {
		t.Errorf("render differs from the installed manifest (-installed +render):\n%s", diff)
	}
	// diff of a new release shows the objects as install would apply them.
	cmd := command(t, nil, append([]string{"diff", "app", webapp, "-n", "patches-preview"}, flags...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	for _, want := range []string{"release patches-preview/app: install", "+  type: NodePort", "+      - name: mirror-creds", "+      tolerations: [{key: dedicated", "+    shop.example.com/product: suite"} {
		if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), want) {
			t.Errorf("diff with the patches: exit %d, no %q in\n%s\n%s", cmd.ProcessState.ExitCode(), want, out, stderr.String())
			break
		}
	}
	// Re-running with the same patches changes nothing; a changed patch
	// is a new config, so the release is upgraded.
	if r := hookrunner(t, nil, append([]string{"install", "app", webapp, "-n", ns, "--timeout", "60s"}, flags...)...).must(t); r.result.Action != runner.ActionNone {
		t.Errorf("re-run with the same patches: action %s", r.result.Action)
	}
	if r := hookrunner(t, nil, append([]string{"install", "app", webapp, "-n", ns, "--timeout", "60s", "--add-label", "tier=gold"}, flags...)...).must(t); r.result.Action != runner.ActionUpgrade {
		t.Errorf("re-run with one more label: action %s", r.result.Action)
	}

	bad := hookrunner(t, nil, "install", "app", webapp, "-n", "patches-nomatch", "--create-namespace", "--timeout", "60s", "--post-render-patch", nomatch)
	if bad.code != runner.ExitBadInput || !strings.Contains(bad.result.Reason, "--post-render-patch "+nomatch+": patch 1: its target matches no object") {
		t.Errorf("a patch matching nothing: exit %d, reason %q", bad.code, bad.result.Reason)
	}
	if !namespaceAbsent(t, "patches-nomatch") {
		t.Error("a run refused for its patch left its namespace behind")
	}
}

// corpusDir returns the directory of the real third-party charts
// (../shared/corpus beside the repository, or $HOOKRUNNER_CORPUS).
func corpusDir(t *testing.T) string {
	t.Helper()
	dir, set := corpus.Dir(filepath.Join("..", ".."))
	if err := corpus.Present(dir); err != nil {
		if set {
			t.Fatalf("HOOKRUNNER_CORPUS=%s: no chart corpus there: %v", dir, err)
		}
		t.Skipf("no chart corpus at %s (set HOOKRUNNER_CORPUS to its directory): the real-chart checks did not run", dir)
	}
	return dir
}

// On the real charts, a mirror rewrite and a pull secret reach every pod
// spec, hooks included; images lists what render renders; the release
// install stores carries the same images and secrets; and a re-run finds
// no drift.
func TestMirrorOnRealCharts(t *testing.T) {
	t.Parallel()
	dir := corpusDir(t)
	mirror := []string{
		"--image-registry-rewrite", "docker.io=mirror.example.com/hub",
		"--image-registry-rewrite", "quay.io=mirror.example.com/quay",
		"--image-registry-rewrite", "registry.k8s.io=mirror.example.com/k8s",
		"--image-registry-rewrite", "ghcr.io=mirror.example.com/ghcr",
		"--image-registry-rewrite", "ecr-public.aws.com=mirror.example.com/ecr",
		"--image-pull-secret", "mirror-creds",
	}
	for _, name := range corpus.Charts {
		t.Run(name, func(t *testing.T) {
			ns := "mirror-" + name
			// A chart whose dependencies the corpus lacks is checked
			// without them (a copy in a temporary directory).
			c, err := corpus.Open(dir, name, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Without) > 0 {
				t.Logf("%s checked without %s: the corpus does not vendor them", name, strings.Join(c.Without, ", "))
			}
			base := append([]string{name, c.Dir, "-n", ns}, c.ValueFiles(false)...)
			args := append(base, mirror...)
			if out, err := helmRun(t, "helm4", append([]string{"template"}, base...)...); err != nil {
				t.Fatalf("the corpus's %s does not render with helm: %s", name, firstLine(out))
			}
			rendered := hookrunnerRaw(t, append([]string{"render"}, args...)...)
			renderedImages := checkMirrored(t, "render", rendered)

			var listed []string
			if err := json.Unmarshal([]byte(hookrunnerRaw(t, append([]string{"images", "-o", "json"}, args...)...)), &listed); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(renderedImages, listed); diff != "" {
				t.Errorf("images differs from what render renders (-render +images):\n%s", diff)
			}

			hookrunner(t, nil, append([]string{"install"}, append(args, "--create-namespace", "--timeout", "5m")...)...).must(t)
			t.Cleanup(func() { hookrunner(t, nil, "uninstall", name, "-n", ns, "--timeout", "3m") })
			// A re-run right after the install finds no drift: defaulted
			// fields, server-set annotations, webhook-patched objects and
			// hook-written fields are not the chart's.
			r := hookrunner(t, nil, append([]string{"install"}, append(args, "--timeout", "5m", "--drift", "detect")...)...).must(t)
			if r.result.Action != runner.ActionNone || len(r.result.Drift) != 0 {
				t.Errorf("re-run: action %s, false drift %+v", r.result.Action, r.result.Drift)
			}
			for _, s := range r.result.Steps {
				if s.Name == "drift" {
					t.Logf("re-run: drift step %.3f s of %.3f s", s.Seconds, r.result.DurationSeconds)
				}
			}
			stored := helmCLI(t, "helm4", "get", "manifest", name, "-n", ns) + "\n---\n" + helmCLI(t, "helm4", "get", "hooks", name, "-n", ns)
			if diff := cmp.Diff(renderedImages, checkMirrored(t, "install", stored)); diff != "" {
				t.Errorf("the installed release's images differ from render's (-render +install):\n%s", diff)
			}
		})
	}
}

// checkMirrored checks that every image of manifests is on the mirror and
// every pod spec lists the mirror's pull secret, and returns the images.
func checkMirrored(t *testing.T, what, manifests string) []string {
	t.Helper()
	docs, err := kio.ParseAll(manifests)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	specs := 0
	if err := images.PodSpecs(docs, func(spec *kyaml.RNode) error {
		specs++
		secrets, err := spec.Pipe(kyaml.Lookup("imagePullSecrets"))
		if err != nil {
			return err
		}
		if secrets == nil {
			t.Errorf("%s: a pod spec without pull secrets", what)
			return nil
		}
		if s, _ := secrets.String(); !strings.Contains(s, "name: mirror-creds") {
			t.Errorf("%s: a pod spec without the mirror's pull secret: %s", what, s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	found, err := images.Find(manifests)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, f := range found {
		if !strings.HasPrefix(f.Image, "mirror.example.com/") {
			t.Errorf("%s: %s %s %s: not on the mirror: %s", what, f.Kind, f.Name, f.Path, f.Image)
		}
		norm, err := images.Normalize(f.Image)
		if err != nil {
			t.Fatal(err)
		}
		set[norm] = true
	}
	if specs == 0 || len(set) == 0 {
		t.Fatalf("%s: no pod specs (%d) or images (%d) found", what, specs, len(set))
	}
	out := make([]string, 0, len(set))
	for ref := range set {
		out = append(out, ref)
	}
	sort.Strings(out)
	t.Logf("%s: %d pod specs, %d images checked", what, specs, len(out))
	return out
}
