package chart_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/test/chartsrv"
)

// writePublicKey writes pub as cosign's cosign.pub (a PEM PUBLIC KEY).
func writePublicKey(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pushAs pushes the fixture chart renamed to name (version 1.2.3), with one
// more file when changed: the same name and version, other bytes.
func pushAs(t *testing.T, oci *chartsrv.OCI, name string, changed bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dir, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(dir, "Chart.yaml")
	data := strings.Replace(string(mustRead(t, chartYAML)), "name: webapp", "name: "+name, 1)
	if err := os.WriteFile(chartYAML, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed {
		if err := os.WriteFile(filepath.Join(dir, "templates", "extra.yaml"), []byte("# changed after signing\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return oci.Push(t, chartsrv.Package(t, dir))
}

// --cosign-key: an OCI chart whose manifest digest is signed by the key
// (as `cosign sign --key` signs it) loads, pinned to the verified digest;
// unsigned, signed by another key, or changed after signing, it is refused
// before its layers are pulled, each with the reason in one line.
func TestCosign(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := writePublicKey(t, key.Public())
	oci := chartsrv.NewOCI(t, "ociuser", "canary-cosign-pass")

	signed := pushAs(t, oci, "signed", false)
	oci.CosignSign(t, "charts/signed", "1.2.3", key)
	unsigned := pushAs(t, oci, "unsigned", false)
	byOther := pushAs(t, oci, "by-other", false)
	oci.CosignSign(t, "charts/by-other", "1.2.3", other)
	byEd := pushAs(t, oci, "by-ed25519", false)
	oci.CosignSign(t, "charts/by-ed25519", "1.2.3", edKey)
	// Signed, then the tag moved to other bytes: the new digest has no
	// signature.
	moved := pushAs(t, oci, "moved", false)
	oci.CosignSign(t, "charts/moved", "1.2.3", key)
	pushAs(t, oci, "moved", true)
	// Signed, then the tag moved and the old signature copied to the new
	// digest: a valid signature by the key, of other bytes.
	forged := pushAs(t, oci, "forged", false)
	oldDigest := oci.CosignSign(t, "charts/forged", "1.2.3", key)
	pushAs(t, oci, "forged", true)
	newDigest := oci.Digest(t, "charts/forged", "1.2.3")
	oci.PushCosignSignature(t, "charts/forged", newDigest, oldDigest, key)

	cases := map[string]struct {
		src  chart.Source
		key  string
		want error
		says string
	}{
		"signed":                {src: chart.Source{Ref: signed, Version: "1.2.3"}, key: pub},
		"signed, by range":      {src: chart.Source{Ref: signed, Version: "^1.0.0"}, key: pub},
		"signed, tag in ref":    {src: chart.Source{Ref: signed + ":1.2.3"}, key: pub},
		"signed, ed25519":       {src: chart.Source{Ref: byEd, Version: "1.2.3"}, key: writePublicKey(t, edPub)},
		"unsigned":              {src: chart.Source{Ref: unsigned, Version: "1.2.3"}, key: pub, want: chart.ErrUnverified, says: "no cosign signature (no tag sha256-"},
		"another key":           {src: chart.Source{Ref: byOther, Version: "1.2.3"}, key: pub, want: chart.ErrUnverified, says: "a signature is not by the --cosign-key key"},
		"changed after signing": {src: chart.Source{Ref: moved, Version: "1.2.3"}, key: pub, want: chart.ErrUnverified, says: "no cosign signature (no tag sha256-"},
		"signature of other bytes": {src: chart.Source{Ref: forged, Version: "1.2.3"}, key: pub, want: chart.ErrUnverified,
			says: "a signature by the key signs " + oldDigest + ", not this manifest"},
		"not OCI":     {src: chart.Source{Ref: chartsrv.Package(t, fixture)}, key: pub, want: chart.ErrInvalidSource, says: "--cosign-key verifies OCI charts"},
		"no such key": {src: chart.Source{Ref: signed, Version: "1.2.3"}, key: "/nonexistent/cosign.pub", want: chart.ErrInvalidSource, says: "--cosign-key /nonexistent/cosign.pub"},
		"not a key":   {src: chart.Source{Ref: signed, Version: "1.2.3"}, key: filepath.Join(fixture, "Chart.yaml"), want: chart.ErrInvalidSource, says: "not a PEM public key"},
	}
	for label, tc := range cases {
		t.Run(label, func(t *testing.T) {
			src := tc.src
			src.CosignKey, src.CacheDir, src.RegistryConfig, src.PlainHTTP = tc.key, t.TempDir(), oci.RegistryConfig, true
			loaded, err := chart.Load(src)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				if loaded.Chart.Metadata.Version != "1.2.3" {
					t.Errorf("loaded %s %s", loaded.Chart.Metadata.Name, loaded.Chart.Metadata.Version)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.want, tc.says)
			}
			if strings.Contains(err.Error(), "canary-cosign-pass") || strings.Contains(err.Error(), "\n") {
				t.Errorf("not one clean line: %v", err)
			}
		})
	}
}
