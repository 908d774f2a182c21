package chart_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/test/chartsrv"
)

// copyTo copies files into a new directory and returns the new paths.
func copyTo(t *testing.T, files ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, f := range files {
		dst := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(dst, mustRead(t, f), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, dst)
	}
	return out
}

// --verify --keyring: a chart signed with the key installs, from a local
// .tgz or over https; a tampered chart, a signature by another key and a
// missing .prov are refused before anything is loaded, each naming the
// chart and the problem.
func TestVerifyProvenance(t *testing.T) {
	secring, pubring := chartsrv.Keyring(t, "packager")
	_, otherPub := chartsrv.Keyring(t, "someone-else")
	signed := chartsrv.Package(t, fixture)
	chartsrv.SignProvenance(t, signed, secring, "packager")
	name := filepath.Base(signed)

	unsigned := copyTo(t, signed)[0] // no .prov beside it
	tampered := copyTo(t, signed, signed+".prov")[0]
	if err := os.WriteFile(tampered, append(mustRead(t, tampered), 0), 0o644); err != nil {
		t.Fatal(err)
	}
	withProv := chartsrv.NewHTTPS(t, "u", "canary-verify-pass", map[string]string{name: signed, name + ".prov": signed + ".prov"}, false)
	withoutProv := chartsrv.NewHTTPS(t, "u", "canary-verify-pass", map[string]string{name: signed}, false)
	repoSrv := chartsrv.NewHTTPS(t, "u", "canary-verify-pass", map[string]string{name: signed, name + ".prov": signed + ".prov"}, true)
	https := func(srv *chartsrv.HTTPS) chart.Source {
		return chart.Source{Ref: srv.URL + "/" + name, Username: srv.Username, Password: srv.Password, CAFile: srv.CAFile}
	}

	cases := map[string]struct {
		src     chart.Source
		keyring string
		want    error
		says    string
	}{
		"signed local": {src: chart.Source{Ref: signed}, keyring: pubring},
		"signed https": {src: https(withProv), keyring: pubring},
		"signed repo": {src: chart.Source{Ref: "webapp", RepoURL: repoSrv.URL, Version: "1.2.3", Username: repoSrv.Username, Password: repoSrv.Password, CAFile: repoSrv.CAFile},
			keyring: pubring},
		"repo, another key": {src: chart.Source{Ref: "webapp", RepoURL: repoSrv.URL, Username: repoSrv.Username, Password: repoSrv.Password, CAFile: repoSrv.CAFile},
			keyring: otherPub, want: chart.ErrUnverified, says: "webapp"},
		"tampered":           {src: chart.Source{Ref: tampered}, keyring: pubring, want: chart.ErrUnverified, says: "sha256 sum does not match"},
		"another key":        {src: chart.Source{Ref: signed}, keyring: otherPub, want: chart.ErrUnverified, says: name},
		"missing prov":       {src: chart.Source{Ref: unsigned}, keyring: pubring, want: chart.ErrUnverified, says: "provenance"},
		"missing prov https": {src: https(withoutProv), keyring: pubring, want: chart.ErrUnverified, says: name},
		"no keyring":         {src: chart.Source{Ref: signed}, want: chart.ErrInvalidSource, says: "--verify needs --keyring"},
		"oci":                {src: chart.Source{Ref: "oci://registry.example.com/charts/app"}, keyring: pubring, want: chart.ErrInvalidSource, says: "OCI chart"},
	}
	for label, tc := range cases {
		t.Run(label, func(t *testing.T) {
			src := tc.src
			src.Verify, src.Keyring, src.CacheDir = true, tc.keyring, t.TempDir()
			loaded, err := chart.Load(src)
			if tc.want == nil {
				if err != nil || loaded.Chart.Metadata.Name != "webapp" {
					t.Fatalf("load: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.want, tc.says)
			}
			if strings.Contains(err.Error(), "canary-verify-pass") || strings.Contains(err.Error(), "\n") {
				t.Errorf("not one clean line: %v", err)
			}
		})
	}
}
