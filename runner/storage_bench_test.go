package runner

import (
	"io"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/test/corpus"
)

// corpusRecord is the encoded release record of a corpus chart installed
// with its corpus values (argo-cd's is about 5 MB of JSON), for the record
// tests and benchmarks.
func corpusRecord(b testing.TB, name string) []byte {
	dir, _ := corpus.Dir("..")
	if err := corpus.Present(dir); err != nil {
		b.Skipf("no corpus: %v", err)
	}
	c, err := corpus.Open(dir, name, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ch, err := loader.LoadDir(c.Dir)
	if err != nil {
		b.Fatal(err)
	}
	files := []string{c.Values}
	if c.Off != "" {
		files = append(files, c.Off)
	}
	vals, _, err := chart.Values{Files: files}.Merge()
	if err != nil {
		b.Fatal(err)
	}
	cfg := &action.Configuration{Releases: storage.Init(driver.NewMemory()), KubeClient: &kubefake.PrintingKubeClient{Out: io.Discard}}
	in := action.NewInstall(cfg)
	in.DryRunStrategy, in.ReleaseName, in.Namespace = action.DryRunClient, name, "ns"
	in.KubeVersion = &common.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	out, err := in.RunWithContext(b.Context(), ch, vals)
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

func BenchmarkEncodeRecord(b *testing.B) {
	data := corpusRecord(b, "argo-cd")
	rel, err := decodeRecord(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeRecord(rel); err != nil {
			b.Fatal(err)
		}
	}
}
