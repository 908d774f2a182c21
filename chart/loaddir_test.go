package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// loadDir gives exactly the chart loader.LoadDir gives: same files, order,
// names, times and contents. Out of the ordinary directories (symbolic
// links, errors) are left to loader.LoadDir, so the fast path must decline
// them.
func TestLoadDirAsHelm(t *testing.T) {
	const chartYAML = "apiVersion: v2\nname: c\nversion: 1.0.0\n"
	tests := []struct {
		name  string
		files map[string]string
		setup func(t *testing.T, dir string)
		// declined: the fast path must leave it to loader.LoadDir.
		declined bool
		// viaLink: the chart is loaded through a symbolic link to it.
		viaLink bool
	}{
		{name: "plain", files: map[string]string{
			"Chart.yaml": chartYAML, "values.yaml": "a: 1\n", "templates/cm.yaml": "kind: ConfigMap\n",
			"templates/_helpers.tpl": "{{- define \"x\" }}x{{ end }}\n", "files/b.txt": "b", "files/a.txt": "a", "README.md": "# c\n",
		}},
		{name: "helmignore and default rules", files: map[string]string{
			"Chart.yaml": chartYAML, ".helmignore": "*.bak\nskip/\n# comment\n", "templates/cm.yaml": "kind: ConfigMap\n",
			"templates/old.yaml.bak": "x", "skip/a.txt": "a", "keep/skip.txt": "k", "templates/.hidden": "h",
		}},
		{name: "byte order mark and empty file", files: map[string]string{
			"Chart.yaml": chartYAML, "values.yaml": "\xEF\xBB\xBFa: 1\n", "templates/empty.yaml": "",
		}},
		{name: "subchart", files: map[string]string{
			"Chart.yaml": chartYAML, "charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n", "charts/sub/templates/s.yaml": "kind: Secret\n",
		}},
		{name: "symbolic link", files: map[string]string{"Chart.yaml": chartYAML, "real/a.txt": "a"}, declined: true,
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "linked")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "root is a symbolic link", files: map[string]string{"Chart.yaml": chartYAML, "templates/cm.yaml": "kind: ConfigMap\n"}, viaLink: true},
		{name: "bad Chart.yaml", files: map[string]string{"Chart.yaml": "name: [\n"}, declined: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				path := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			if tt.viaLink {
				link := filepath.Join(t.TempDir(), "link")
				if err := os.Symlink(dir, link); err != nil {
					t.Fatal(err)
				}
				dir = link
			}
			fast, ok := loadDirFast(dir)
			if ok == tt.declined {
				t.Fatalf("fast path taken: %v, want %v", ok, !tt.declined)
			}
			want, wantErr := loader.LoadDir(dir)
			got, gotErr := loadDir(dir)
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("error %v, Helm's %v", gotErr, wantErr)
			}
			if ok {
				got = fast
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("chart differs from loader.LoadDir's (-helm +ours):\n%s", cmp.Diff(want, got, cmpopts.IgnoreUnexported(chartv2.Chart{})))
			}
		})
	}
}

// And on the real charts of ../shared/corpus, when they are there.
func TestLoadDirAsHelmOnCorpus(t *testing.T) {
	dir := os.Getenv("HOOKRUNNER_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("no corpus: %v", err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		path := filepath.Join(dir, e.Name())
		want, err := loader.LoadDir(path)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		got, ok := loadDirFast(path)
		if !ok {
			t.Errorf("%s: fast path declined", e.Name())
			continue
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s differs from loader.LoadDir's (-helm +ours):\n%.2000s", e.Name(), cmp.Diff(want, got, cmpopts.IgnoreUnexported(chartv2.Chart{})))
		}
	}
	if n == 0 {
		t.Errorf("no chart in %s", dir)
	}
}
