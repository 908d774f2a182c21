// Package chart owns where the target chart comes from and with which
// values: a local directory or .tgz (also base64 of a .tgz, as a Secret
// carries it), an https URL, a chart repository with a version constraint,
// or an oci:// reference; digest pinning; and values layered with Helm's own
// precedence and parsers.
package chart

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hookrunner/hookrunner/runner/redact"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/downloader"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/registry"
	"helm.sh/helm/v4/pkg/repo/v1"
	orasregistry "oras.land/oras-go/v2/registry"
)

// Errors callers tell apart with errors.Is.
var (
	// ErrInvalidSource is a chart reference or option that cannot be right,
	// found before anything is fetched.
	ErrInvalidSource = errors.New("invalid chart source")
	// ErrUnavailable is a chart that could not be found, fetched or loaded.
	ErrUnavailable = errors.New("chart unavailable")
	// ErrDigestMismatch is a chart whose digest differs from the pinned one.
	ErrDigestMismatch = errors.New("chart digest mismatch")
	// ErrUnverified is a chart whose provenance could not be verified: no
	// .prov beside it, a signature by a key not in the keyring, or a chart
	// that differs from what was signed.
	ErrUnverified = errors.New("chart signature not verified")
)

// Source says where the chart comes from. Ref is what `helm install` takes
// as CHART: a path, an https URL, oci://…, or a chart name with RepoURL.
type Source struct {
	Ref     string
	Version string // version or constraint, for repositories and OCI
	RepoURL string

	Username              string
	Password              string
	CAFile                string
	InsecureSkipTLSVerify bool
	PlainHTTP             bool
	// RegistryConfig is a docker config.json with registry credentials.
	RegistryConfig string
	// Digest pins the chart: "sha256:<hex>" of the .tgz (for a directory,
	// of its files; see Digest).
	Digest string
	// CacheDir is where downloads go; it must be writable.
	CacheDir string
	// Verify checks the chart's provenance file (the .prov beside the .tgz,
	// as `helm package --sign` writes it) against Keyring, a public keyring
	// file, before the chart is loaded: repository, https and local .tgz
	// charts, with Helm's own code.
	Verify  bool
	Keyring string
	// CosignKey is a PEM public key: an OCI chart must carry a cosign
	// signature by it of the manifest digest its tag resolves to, checked
	// before the chart's layers are pulled.
	CosignKey string
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Validate checks the source without touching the network or the disk.
func (s Source) Validate() error {
	ref := strings.TrimSpace(s.Ref)
	switch {
	case ref == "":
		return fmt.Errorf("%w: no chart given (CHART argument or HOOKRUNNER_CHART)", ErrInvalidSource)
	case s.Digest != "" && !digestPattern.MatchString(s.Digest):
		return fmt.Errorf("%w: --chart-digest must be sha256:<64 lowercase hex digits>", ErrInvalidSource)
	case s.RepoURL != "":
		if err := checkURL("--repo", s.RepoURL, "http", "https"); err != nil {
			return err
		}
		if strings.Contains(ref, "/") || strings.Contains(ref, ":") {
			return fmt.Errorf("%w: with --repo, CHART is a chart name, not %q", ErrInvalidSource, redact.URL(ref))
		}
	case registry.IsOCI(ref):
		if _, err := orasregistry.ParseReference(strings.TrimPrefix(ref, "oci://")); err != nil {
			return fmt.Errorf("%w: CHART %s is not a valid OCI reference: %v", ErrInvalidSource, redact.URL(ref), err)
		}
	case strings.Contains(ref, "://"):
		return checkURL("CHART", ref, "http", "https")
	}
	if s.Verify {
		switch {
		case s.Keyring == "":
			return fmt.Errorf("%w: --verify needs --keyring, a public keyring file", ErrInvalidSource)
		case registry.IsOCI(ref):
			return fmt.Errorf("%w: --verify checks the provenance (.prov) of repository, https and .tgz charts; %s is an OCI chart", ErrInvalidSource, redact.URL(ref))
		}
		if _, err := os.Stat(s.Keyring); err != nil {
			return fmt.Errorf("%w: --keyring %s: %v", ErrInvalidSource, s.Keyring, errors.Unwrap(err))
		}
	}
	if s.CosignKey != "" {
		if !registry.IsOCI(ref) {
			return fmt.Errorf("%w: --cosign-key verifies OCI charts (oci://…); %s is not one (for .tgz and repository charts use --verify)", ErrInvalidSource, redact.URL(ref))
		}
		if _, err := os.Stat(s.CosignKey); err != nil {
			return fmt.Errorf("%w: --cosign-key %s: %v", ErrInvalidSource, s.CosignKey, errors.Unwrap(err))
		}
	}
	if s.CAFile != "" {
		if _, err := os.Stat(s.CAFile); err != nil {
			return fmt.Errorf("%w: --ca-file %s: %v", ErrInvalidSource, s.CAFile, errors.Unwrap(err))
		}
	}
	if s.RegistryConfig != "" {
		if _, err := os.Stat(s.RegistryConfig); err != nil {
			return fmt.Errorf("%w: --registry-config %s: %v", ErrInvalidSource, s.RegistryConfig, errors.Unwrap(err))
		}
	}
	return nil
}

func checkURL(name, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %s is not a URL", ErrInvalidSource, name)
	}
	for _, s := range schemes {
		if u.Scheme == s && u.Host != "" {
			return nil
		}
	}
	return fmt.Errorf("%w: %s %s: want an %s URL", ErrInvalidSource, name, redact.URL(raw), strings.Join(schemes, " or "))
}

// Loaded is a chart ready to install.
type Loaded struct {
	Chart *chartv2.Chart
	// Digest is "sha256:<hex>" of the chart archive, or for a directory of
	// its files (see Digest).
	Digest string
}

// Load fetches (when remote), verifies the pinned digest, and loads the chart.
func Load(s Source) (*Loaded, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	path, err := s.locate()
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, path, errors.Unwrap(err))
	}
	var (
		ch     *chartv2.Chart
		digest string
	)
	if info.IsDir() {
		if ch, err = loadDir(path); err != nil {
			return nil, fmt.Errorf("%w: load chart directory %s: %v", ErrUnavailable, path, err)
		}
		digest = Digest(ch)
	} else {
		data, err := readArchive(path)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		digest = "sha256:" + hex.EncodeToString(sum[:])
		// Verify before loading: a pinned chart that differs is not parsed.
		if s.Digest != "" && s.Digest != digest {
			return nil, fmt.Errorf("%w: %s is %s, --chart-digest wants %s", ErrDigestMismatch, displayRef(s), digest, s.Digest)
		}
		if ch, err = loader.LoadArchive(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("%w: load chart archive %s: %v", ErrUnavailable, displayRef(s), err)
		}
	}
	if s.Digest != "" && s.Digest != digest {
		return nil, fmt.Errorf("%w: %s is %s, --chart-digest wants %s", ErrDigestMismatch, displayRef(s), digest, s.Digest)
	}
	if err := ch.Validate(); err != nil {
		return nil, fmt.Errorf("%w: chart %s: %v", ErrUnavailable, displayRef(s), err)
	}
	if missing := missingDependencies(ch); len(missing) > 0 {
		return nil, fmt.Errorf("%w: chart %s: dependencies in Chart.yaml missing from charts/: %s (run helm dependency build)", ErrUnavailable, displayRef(s), strings.Join(missing, ", "))
	}
	return &Loaded{Chart: ch, Digest: digest}, nil
}

// missingDependencies are the dependencies Chart.yaml lists that charts/
// does not hold, matched by name as helm install and upgrade do
// (action.CheckDependencies): helm refuses such a chart even when the
// missing ones are disabled, and so does hookrunner, rather than fail later
// on a template that reads their values.
func missingDependencies(ch *chartv2.Chart) []string {
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		if d != nil && !have[d.Name] {
			missing = append(missing, d.Name)
		}
	}
	return missing
}

// maxArchive bounds a chart archive read into memory (Helm's own loader
// bounds the decompressed size).
const maxArchive = 100 << 20

// readArchive reads a chart archive, decoding it first when the file holds
// base64 of one.
func readArchive(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, path, errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxArchive+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrUnavailable, path, err)
	}
	if len(data) > maxArchive {
		return nil, fmt.Errorf("%w: %s is larger than %d MiB", ErrUnavailable, path, maxArchive>>20)
	}
	if isGzip(data) {
		return data, nil
	}
	if decoded, ok := decodeBase64Archive(data); ok {
		return decoded, nil
	}
	return nil, fmt.Errorf("%w: %s is neither a chart directory, a .tgz, nor base64 of a .tgz", ErrUnavailable, path)
}

func isGzip(data []byte) bool { return len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b }

// Digest is the digest of a chart loaded from a directory: sha256 over its
// files in name order, each as its name, a NUL, its length and its data.
// An archive's digest is the sha256 of the archive itself.
func Digest(ch *chartv2.Chart) string {
	files := make(map[string][]byte, len(ch.Raw))
	names := make([]string, 0, len(ch.Raw))
	for _, f := range ch.Raw {
		files[f.Name] = f.Data
		names = append(names, f.Name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// locate returns a local path for the chart, downloading it with Helm's own
// chart downloader (repository index and version constraints, https, OCI).
func (s Source) locate() (string, error) {
	ref := strings.TrimSpace(s.Ref)
	if s.RepoURL == "" && !strings.Contains(ref, "://") {
		if _, err := os.Stat(ref); err != nil {
			return "", fmt.Errorf("%w: chart %s: no such file or directory (for a repository chart pass --repo)", ErrUnavailable, ref)
		}
		abs, err := filepath.Abs(ref)
		if err != nil {
			return "", err
		}
		if s.Verify {
			if _, err := downloader.VerifyChart(abs, abs+".prov", s.Keyring); err != nil {
				return "", fmt.Errorf("%w: chart %s: %v", ErrUnverified, ref, err)
			}
		}
		return abs, nil
	}
	if s.CacheDir == "" {
		return "", fmt.Errorf("%w: no cache directory for downloads", ErrInvalidSource)
	}
	settings := cli.New()
	settings.RepositoryCache = filepath.Join(s.CacheDir, "repository")
	settings.ContentCache = filepath.Join(s.CacheDir, "content")
	settings.RepositoryConfig = filepath.Join(s.CacheDir, "repositories.yaml")
	settings.PluginsDirectory = filepath.Join(s.CacheDir, "no-plugins") // never run a getter plugin
	settings.RegistryConfig = s.RegistryConfig
	if settings.RegistryConfig == "" {
		settings.RegistryConfig = filepath.Join(s.CacheDir, "registry-config.json")
	}
	rc, err := s.registryClient(settings.RegistryConfig)
	if err != nil {
		return "", err
	}
	if s.CosignKey != "" {
		pinned, err := s.verifyCosign(ref, rc)
		if err != nil {
			return "", err
		}
		s.Version = "" // the digest pins it
		ref = pinned
	}
	return s.fetch(ref, settings, rc)
}

// fetch downloads a repository, https or OCI chart with Helm's chart
// downloader (repository index and version constraints, OCI tags), and
// with --verify its .prov, which Helm's VerifyChart then checks: a chart
// that cannot be fetched is unavailable, one that cannot be verified is
// unverified. (Helm's LocateChart fetches the .prov without the
// credentials and CA it uses for the chart, so it cannot verify a chart
// behind either; it is not used.)
func (s Source) fetch(ref string, settings *cli.EnvSettings, rc *registry.Client) (string, error) {
	options := []getter.Option{
		getter.WithTLSClientConfig("", "", s.CAFile),
		getter.WithInsecureSkipVerifyTLS(s.InsecureSkipTLSVerify),
		getter.WithPlainHTTP(s.PlainHTTP),
	}
	user, password := s.Username, s.Password
	if registry.IsOCI(ref) {
		options = append(options, getter.WithRegistryClient(rc))
	}
	if s.RepoURL != "" {
		chartURL, err := repo.FindChartInRepoURL(s.RepoURL, ref, getter.All(settings),
			repo.WithChartVersion(s.Version), repo.WithClientTLS("", "", s.CAFile),
			repo.WithUsernamePassword(s.Username, s.Password), repo.WithInsecureSkipTLSVerify(s.InsecureSkipTLSVerify))
		if err != nil {
			return "", fmt.Errorf("%w: fetch %s: %v", ErrUnavailable, displayRef(s), err)
		}
		// Credentials go only to the repository's own host, as helm does.
		if u1, u2 := mustParse(s.RepoURL), mustParse(chartURL); u1 == nil || u2 == nil || u1.Host != u2.Host || u1.Scheme != u2.Scheme {
			user, password = "", ""
		}
		ref = chartURL
	}
	options = append(options, getter.WithBasicAuth(user, password))
	dest := filepath.Join(s.CacheDir, "charts")
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return "", err
	}
	verify := downloader.VerifyNever
	if s.Verify {
		verify = downloader.VerifyLater // fetch the .prov; verify below
	}
	dl := downloader.ChartDownloader{
		Out:              io.Discard,
		Verify:           verify,
		Keyring:          s.Keyring,
		Getters:          getter.All(settings),
		Options:          options,
		RepositoryConfig: settings.RepositoryConfig,
		RepositoryCache:  settings.RepositoryCache,
		ContentCache:     settings.ContentCache,
		RegistryClient:   rc,
	}
	path, _, err := dl.DownloadTo(ref, s.Version, dest)
	if err != nil {
		return "", fmt.Errorf("%w: fetch %s: %v", ErrUnavailable, displayRef(s), err)
	}
	if s.Verify {
		if _, err := downloader.VerifyChart(path, path+".prov", s.Keyring); err != nil {
			return "", fmt.Errorf("%w: chart %s: %v", ErrUnverified, displayRef(s), err)
		}
	}
	return path, nil
}

func mustParse(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	return u
}

// registryClient builds the OCI client as the helm CLI does: credentials
// from the docker config file or --username/--password, custom CA or
// insecure TLS, or plain HTTP.
func (s Source) registryClient(credentialsFile string) (*registry.Client, error) {
	opts := []registry.ClientOption{
		registry.ClientOptEnableCache(true),
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptCredentialsFile(credentialsFile),
		registry.ClientOptBasicAuth(s.Username, s.Password),
	}
	switch {
	case s.CAFile != "" || s.InsecureSkipTLSVerify:
		tlsConf := &tls.Config{InsecureSkipVerify: s.InsecureSkipTLSVerify} //nolint:gosec // only when asked for
		if s.CAFile != "" {
			pem, err := os.ReadFile(s.CAFile)
			if err != nil {
				return nil, fmt.Errorf("%w: --ca-file %s: %v", ErrInvalidSource, s.CAFile, errors.Unwrap(err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: --ca-file %s holds no PEM certificate", ErrInvalidSource, s.CAFile)
			}
			tlsConf.RootCAs = pool
		}
		opts = append(opts, registry.ClientOptHTTPClient(&http.Client{
			Transport: &http.Transport{TLSClientConfig: tlsConf, Proxy: http.ProxyFromEnvironment},
		}))
	case s.PlainHTTP:
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	rc, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: registry client: %v", ErrInvalidSource, err)
	}
	return rc, nil
}

// displayRef names the chart for messages, without URL credentials or query.
func displayRef(s Source) string {
	if s.RepoURL != "" {
		return fmt.Sprintf("%s from %s", s.Ref, redact.URL(s.RepoURL))
	}
	return redact.URL(s.Ref)
}

// decodeBase64Archive decodes base64 (any line wrapping) of a gzip archive.
func decodeBase64Archive(data []byte) ([]byte, bool) {
	compact := bytes.Join(bytes.Fields(data), nil)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if out, err := enc.DecodeString(string(compact)); err == nil && isGzip(out) {
			return out, true
		}
	}
	return nil, false
}
