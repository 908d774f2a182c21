// Package chartsrv serves charts to tests the ways users serve them: a
// packaged .tgz, an HTTPS server with basic auth (plain files or a chart
// repository with index.yaml), and an in-process OCI registry with basic
// auth whose credentials live in a docker config.json.
package chartsrv

import (
	"context"
	"crypto/subtle"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"           // registry auth
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // registry storage
	"golang.org/x/crypto/bcrypt"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	helmregistry "helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Package packs the chart directory dir into a .tgz in a temporary
// directory, as `helm package` does, and returns its path.
func Package(t testing.TB, dir string) string {
	t.Helper()
	ch, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	path, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// HTTPS is a TLS file server that wants basic auth.
type HTTPS struct {
	URL      string
	CAFile   string // PEM of the server's certificate
	Username string
	Password string
	Root     string // served directory
}

// NewHTTPS serves the files (name → local path) over HTTPS with basic auth.
// With repo set, it also serves an index.yaml of the .tgz files, making it a
// chart repository.
func NewHTTPS(t testing.TB, username, password string, files map[string]string, asRepo bool) *HTTPS {
	t.Helper()
	root := t.TempDir()
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := http.FileServer(http.Dir(root))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(username)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fs.ServeHTTP(w, r)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if asRepo {
		index, err := repo.IndexDirectory(root, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if err := index.WriteFile(filepath.Join(root, "index.yaml"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &HTTPS{URL: srv.URL, CAFile: caFile, Username: username, Password: password, Root: root}
}

// OCI is an in-process OCI registry with basic auth over plain HTTP.
type OCI struct {
	// Host is host:port of the registry.
	Host string
	// RegistryConfig is a docker config.json holding the credentials.
	RegistryConfig string
	client         *helmregistry.Client
	cred           auth.Credential
}

// NewOCI starts a registry that accepts username/password and logs in to
// it, which writes the credentials to RegistryConfig.
func NewOCI(t testing.TB, username, password string) *OCI {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", username, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := &configuration.Configuration{}
	cfg.HTTP.Addr = addr
	cfg.HTTP.DrainTimeout = time.Second
	cfg.Log.Level = "panic" // 404s on HEAD are how pushes probe: not worth a line
	cfg.Log.AccessLog.Disabled = true
	cfg.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "localhost", "path": htpasswd}}
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := registry.NewRegistry(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { _ = reg.ListenAndServe() }()
	t.Cleanup(func() {
		shutdown, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		_ = reg.Shutdown(shutdown)
		cancel()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	configFile := filepath.Join(dir, "config.json")
	client, err := helmregistry.NewClient(helmregistry.ClientOptCredentialsFile(configFile), helmregistry.ClientOptPlainHTTP())
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Login(addr, helmregistry.LoginOptBasicAuth(username, password), helmregistry.LoginOptPlainText(true)); err != nil {
		t.Fatal(err)
	}
	return &OCI{Host: addr, RegistryConfig: configFile, client: client, cred: auth.Credential{Username: username, Password: password}}
}

// Push uploads the chart archive tgz and returns its oci:// reference
// without a tag (pass the chart version as --version).
func (o *OCI) Push(t testing.TB, tgz string) string {
	t.Helper()
	ch, err := loader.Load(tgz)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("%s/charts/%s:%s", o.Host, ch.Metadata.Name, ch.Metadata.Version)
	if _, err := o.client.Push(data, ref); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("oci://%s/charts/%s", o.Host, ch.Metadata.Name)
}

// Repository opens the repository path (e.g. "charts/app") of the
// registry with its credentials, for pushes that are not charts.
func (o *OCI) Repository(t testing.TB, path string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(o.Host + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	r.Client = &auth.Client{Credential: auth.StaticCredential(o.Host, o.cred)}
	return r
}
