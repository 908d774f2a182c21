package chart_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/test/chartsrv"
)

const fixture = "../test/testdata/charts/webapp"

func sha(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Every source a user can name loads the same chart, and an archive's
// digest is the sha256 of the .tgz however it was fetched.
func TestLoadEverySource(t *testing.T) {
	tgz := chartsrv.Package(t, fixture)
	digest := sha(t, tgz)
	b64 := filepath.Join(t.TempDir(), "chart.b64")
	enc := base64.StdEncoding.EncodeToString(mustRead(t, tgz))
	if err := os.WriteFile(b64, []byte(wrap(enc, 76)), 0o600); err != nil {
		t.Fatal(err)
	}
	files := chartsrv.NewHTTPS(t, "chartuser", "canary-https-pass", map[string]string{"webapp-1.2.3.tgz": tgz}, true)
	oci := chartsrv.NewOCI(t, "ociuser", "canary-oci-pass")
	ociRef := oci.Push(t, tgz)
	cache := t.TempDir()

	cases := map[string]struct {
		src        chart.Source
		wantDigest string
	}{
		"directory":    {src: chart.Source{Ref: fixture}},
		"tgz":          {src: chart.Source{Ref: tgz}, wantDigest: digest},
		"base64-tgz":   {src: chart.Source{Ref: b64}, wantDigest: digest},
		"https-url":    {src: chart.Source{Ref: files.URL + "/webapp-1.2.3.tgz", Username: files.Username, Password: files.Password, CAFile: files.CAFile}, wantDigest: digest},
		"repo":         {src: chart.Source{Ref: "webapp", RepoURL: files.URL, Version: "~1.2.0", Username: files.Username, Password: files.Password, CAFile: files.CAFile}, wantDigest: digest},
		"repo-latest":  {src: chart.Source{Ref: "webapp", RepoURL: files.URL, Username: files.Username, Password: files.Password, CAFile: files.CAFile}, wantDigest: digest},
		"oci":          {src: chart.Source{Ref: ociRef, Version: "1.2.3", RegistryConfig: oci.RegistryConfig, PlainHTTP: true}, wantDigest: digest},
		"oci-password": {src: chart.Source{Ref: ociRef, Version: "1.2.3", Username: "ociuser", Password: "canary-oci-pass", PlainHTTP: true}, wantDigest: digest},
		"pinned":       {src: chart.Source{Ref: tgz, Digest: digest}, wantDigest: digest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.src.CacheDir = cache
			got, err := chart.Load(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if got.Chart.Metadata.Name != "webapp" || got.Chart.Metadata.Version != "1.2.3" {
				t.Errorf("loaded %s %s", got.Chart.Metadata.Name, got.Chart.Metadata.Version)
			}
			if tc.wantDigest != "" && got.Digest != tc.wantDigest {
				t.Errorf("digest %s, want %s", got.Digest, tc.wantDigest)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	tgz := chartsrv.Package(t, fixture)
	files := chartsrv.NewHTTPS(t, "chartuser", "canary-https-pass", map[string]string{"webapp-1.2.3.tgz": tgz}, true)
	notChart := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notChart, []byte("hello: world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := "sha256:" + strings.Repeat("ab", 32)
	cases := map[string]struct {
		src     chart.Source
		wantErr error
		msg     string
	}{
		"empty":          {src: chart.Source{}, wantErr: chart.ErrInvalidSource, msg: "no chart given"},
		"bad-digest":     {src: chart.Source{Ref: tgz, Digest: "md5:abc"}, wantErr: chart.ErrInvalidSource, msg: "--chart-digest must be sha256"},
		"wrong-digest":   {src: chart.Source{Ref: tgz, Digest: wrong}, wantErr: chart.ErrDigestMismatch, msg: "--chart-digest wants " + wrong},
		"wrong-dir-pin":  {src: chart.Source{Ref: fixture, Digest: wrong}, wantErr: chart.ErrDigestMismatch},
		"missing-path":   {src: chart.Source{Ref: "./no/such/chart"}, wantErr: chart.ErrUnavailable, msg: "no such file or directory"},
		"not-a-chart":    {src: chart.Source{Ref: notChart}, wantErr: chart.ErrUnavailable, msg: "neither a chart directory, a .tgz, nor base64"},
		"ftp-url":        {src: chart.Source{Ref: "ftp://example.com/x.tgz"}, wantErr: chart.ErrInvalidSource, msg: "want an http or https URL"},
		"bad-oci":        {src: chart.Source{Ref: "oci://UPPER/Case:bad tag"}, wantErr: chart.ErrInvalidSource, msg: "not a valid OCI reference"},
		"repo-with-path": {src: chart.Source{Ref: "x/y", RepoURL: files.URL}, wantErr: chart.ErrInvalidSource, msg: "CHART is a chart name"},
		"unknown-chart":  {src: chart.Source{Ref: "nope", RepoURL: files.URL, Username: files.Username, Password: files.Password, CAFile: files.CAFile}, wantErr: chart.ErrUnavailable, msg: "nope"},
		"no-version":     {src: chart.Source{Ref: "webapp", Version: "9.x", RepoURL: files.URL, Username: files.Username, Password: files.Password, CAFile: files.CAFile}, wantErr: chart.ErrUnavailable, msg: "9.x"},
		"bad-password":   {src: chart.Source{Ref: files.URL + "/webapp-1.2.3.tgz", Username: files.Username, Password: "wrong-canary-pw", CAFile: files.CAFile}, wantErr: chart.ErrUnavailable, msg: "401"},
		"untrusted-tls":  {src: chart.Source{Ref: files.URL + "/webapp-1.2.3.tgz", Username: files.Username, Password: files.Password}, wantErr: chart.ErrUnavailable, msg: "certificate"},
		"unreachable":    {src: chart.Source{Ref: "https://127.0.0.1:1/x.tgz"}, wantErr: chart.ErrUnavailable, msg: "connection refused"},
		"missing-ca":     {src: chart.Source{Ref: "https://127.0.0.1:1/x.tgz", CAFile: "/no/ca.pem"}, wantErr: chart.ErrInvalidSource, msg: "--ca-file /no/ca.pem"},
		"missing-deps":   {src: chart.Source{Ref: "testdata/missing-dep"}, wantErr: chart.ErrUnavailable, msg: "dependencies in Chart.yaml missing from charts/: absent, gone"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.src.CacheDir = t.TempDir()
			_, err := chart.Load(tc.src)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to say %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), "canary") {
				t.Errorf("error shows a password: %q", err)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func wrap(s string, width int) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + "\n")
		s = s[width:]
	}
	return b.String() + s + "\n"
}
