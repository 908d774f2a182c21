package chartsrv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/provenance"
	"sigs.k8s.io/yaml"
)

// Keyring makes an OpenPGP key named name and writes its secret and public
// keyrings, as gpg --export-secret-keys and gpg --export would.
func Keyring(t testing.TB, name string) (secret, public string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "hookrunner test key", name+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret, public = filepath.Join(dir, "secring.gpg"), filepath.Join(dir, "pubring.gpg")
	for path, write := range map[string]func(f *os.File) error{
		secret: func(f *os.File) error { return e.SerializePrivate(f, nil) },
		public: func(f *os.File) error { return e.Serialize(f) },
	} {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return secret, public
}

// SignProvenance writes tgz.prov as `helm package --sign` does, with Helm's
// code and the key named name in secring.
func SignProvenance(t testing.TB, tgz, secring, name string) {
	t.Helper()
	signer, err := provenance.NewFromKeyring(secring, name)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(tgz)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := yaml.Marshal(ch.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.ClearSign(data, filepath.Base(tgz), meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tgz+".prov", []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
}
