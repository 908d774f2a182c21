package runner

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// corpusRecord is the encoded release record of a corpus chart (argo-cd by
// default: a record of about 5 MB of JSON), for the record benchmarks.
func corpusRecord(b testing.TB, name string) []byte {
	dir := os.Getenv("HOOKRUNNER_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	ch, err := loader.LoadDir(filepath.Join(dir, name))
	if err != nil {
		b.Skipf("no corpus chart %s: %v", name, err)
	}
	cfg := &action.Configuration{Releases: storage.Init(driver.NewMemory()), KubeClient: &kubefake.PrintingKubeClient{Out: io.Discard}}
	in := action.NewInstall(cfg)
	in.DryRunStrategy, in.ReleaseName, in.Namespace = action.DryRunClient, name, "ns"
	in.KubeVersion = &common.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	out, err := in.RunWithContext(b.Context(), ch, map[string]any{})
	if err != nil {
		b.Fatal(err)
	}
	rel, _ := asRelease(out)
	data, err := encodeRecord(rel)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkDecodeRecord(b *testing.B) {
	data := corpusRecord(b, "argo-cd")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRecord(data); err != nil {
			b.Fatal(err)
		}
	}
}
