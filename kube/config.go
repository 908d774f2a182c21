// Package kube owns everything about talking to a cluster:
//
//   - the kubeconfig (a file holding YAML or base64 of it, or the in-cluster
//     ServiceAccount), its credential policy, and the rest.Config hookrunner
//     uses (QPS, burst, in-flight bound, user agent);
//   - the RESTClientGetter the Helm SDK needs, with one shared discovery and
//     snapshots that answer its one-by-one existence checks (getter.go,
//     snapshot.go), and the Helm kube client's readiness filter
//     (helmclient.go);
//   - the Lease lock that keeps two runners off one release (lock.go);
//   - wait conditions and the waiter (wait.go), readiness and progress
//     (progress.go), diagnoses of what is not ready (diagnose.go), and
//     Events about a run (events.go);
//   - a chart's CRDs by policy (crds.go) and drift of a release's objects
//     (drift.go);
//   - which errors are transient (transient.go).
package kube

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FieldManager is the server-side apply field manager of every write.
const FieldManager = "hookrunner"

// Options say which cluster to talk to and how.
type Options struct {
	// Kubeconfig is the path of a kubeconfig file whose content is YAML or
	// base64 of it. Empty means the in-cluster ServiceAccount.
	Kubeconfig string
	// Context is the kubeconfig context; empty means its current-context.
	Context string
	// AllowExecCredentials permits users whose credentials come from an exec
	// plugin or an auth-provider, which run code or reach other services.
	AllowExecCredentials bool
	// QPS and Burst bound client-side request rates: one limit shared by
	// every client built from a Getter (the Helm SDK's), and the same
	// limit for each client built from REST(). QPS 0 means no limit.
	QPS   float32
	Burst int
	// UserAgent is sent with every request.
	UserAgent string
	// MaxInFlight bounds the requests the Helm SDK's clients (those built
	// from Getters) have in flight at once, watches aside; 0 means
	// DefaultMaxInFlight, negative means unbounded. Clients built from
	// REST() (the lock's, the waits') are not bounded: a Lease renewal
	// must never queue behind a chart's writes.
	MaxInFlight int
}

// ErrInvalidKubeconfig marks a kubeconfig that cannot be used as given: it
// is bad input, not a cluster failure.
var ErrInvalidKubeconfig = errors.New("invalid kubeconfig")

// Config is a loaded, validated kubeconfig: how to reach the cluster, with
// the credential strings that must never be printed.
type Config struct {
	loader  clientcmd.ClientConfig
	rest    *rest.Config
	getter  *Getter
	secrets []string
	// inflight bounds the requests of every client built from a Getter.
	inflight *inflight
	// discovery is shared by every Getter.
	discovery *discoveryCache
	// InCluster: the configuration is the pod's own ServiceAccount.
	InCluster bool
	// Source names where the configuration came from, for messages: the
	// kubeconfig path or "in-cluster ServiceAccount".
	Source string
}

// Load reads and validates the kubeconfig without contacting the cluster.
// namespace becomes the default namespace of the Helm client.
func Load(opts Options, namespace string) (*Config, error) {
	var (
		raw    *clientcmdapi.Config
		source string
		err    error
	)
	if opts.Kubeconfig == "" {
		if raw, err = inClusterConfig(); err != nil {
			return nil, fmt.Errorf("%w: no --kubeconfig (KUBECONFIG) given and not running in a pod: %v", ErrInvalidKubeconfig, err)
		}
		source = "in-cluster ServiceAccount"
	} else {
		source = opts.Kubeconfig
		if raw, err = loadFile(opts.Kubeconfig); err != nil {
			return nil, err
		}
	}
	if err := checkContext(raw, opts, source); err != nil {
		return nil, err
	}
	if err := checkFiles(raw, source); err != nil {
		return nil, err
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.Context}
	overrides.Context.Namespace = namespace
	loader := clientcmd.NewNonInteractiveClientConfig(*raw, opts.Context, overrides, nil)
	restConfig, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: kubeconfig %s: %v", ErrInvalidKubeconfig, source, err)
	}
	restConfig.QPS = opts.QPS
	restConfig.Burst = opts.Burst
	if opts.QPS == 0 {
		restConfig.QPS = -1 // no limit, not client-go's default of 5
	}
	restConfig.UserAgent = opts.UserAgent
	// No custom Dial: it would make client-go build a transport (and a TLS
	// handshake) per client instead of sharing one; its own dialer already
	// gives up after 30 s, and TLS handshakes after 10 s.
	maxInFlight := opts.MaxInFlight
	if maxInFlight == 0 {
		maxInFlight = DefaultMaxInFlight
	}
	c := &Config{loader: loader, rest: restConfig, secrets: credentialStrings(raw), Source: source, InCluster: opts.Kubeconfig == "", inflight: newInflight(maxInFlight, opts.QPS, opts.Burst), discovery: &discoveryCache{}}
	c.getter = &Getter{cfg: c}
	return c, nil
}

// REST returns a copy of the client configuration.
func (c *Config) REST() *rest.Config { return rest.CopyConfig(c.rest) }

// Secrets returns the credential strings of the kubeconfig (tokens,
// passwords, private keys) so that output can be scrubbed of them.
func (c *Config) Secrets() []string { return c.secrets }

// loadFile reads a kubeconfig file holding YAML, or base64 of YAML (with any
// whitespace, as a Secret or an environment variable may wrap it).
func loadFile(path string) (*clientcmdapi.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read kubeconfig %s: %v", ErrInvalidKubeconfig, path, errors.Unwrap(err))
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: kubeconfig %s is empty", ErrInvalidKubeconfig, path)
	}
	if decoded, ok := decodeBase64(data); ok {
		data = decoded
	}
	cfg, err := clientcmd.Load(data)
	if err != nil || len(cfg.Clusters) == 0 {
		// The parser's message may quote the content: never show it.
		return nil, fmt.Errorf("%w: kubeconfig %s is neither kubeconfig YAML nor base64 of it", ErrInvalidKubeconfig, path)
	}
	// Relative file references resolve against the kubeconfig's directory,
	// as kubectl does.
	for _, a := range cfg.AuthInfos {
		a.LocationOfOrigin = path
	}
	for _, c := range cfg.Clusters {
		c.LocationOfOrigin = path
	}
	if err := clientcmd.ResolveLocalPaths(cfg); err != nil {
		return nil, fmt.Errorf("%w: kubeconfig %s: %v", ErrInvalidKubeconfig, path, err)
	}
	return cfg, nil
}

// decodeBase64 decodes data when it is nothing but base64 (standard or URL
// alphabet, padded or not, wrapped at any width) of something that is not
// itself base64-looking text.
func decodeBase64(data []byte) ([]byte, bool) {
	compact := make([]byte, 0, len(data))
	for _, b := range data {
		switch {
		case b == ' ' || b == '\n' || b == '\r' || b == '\t':
		case b >= 'A' && b <= 'Z', b >= 'a' && b <= 'z', b >= '0' && b <= '9',
			b == '+', b == '/', b == '-', b == '_', b == '=':
			compact = append(compact, b)
		default:
			return nil, false // ':' and friends: YAML, not base64
		}
	}
	s := strings.TrimRight(string(compact), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if out, err := enc.DecodeString(s); err == nil && len(out) > 0 {
			return out, true
		}
	}
	return nil, false
}

// checkContext refuses a context that does not exist and, unless allowed, a
// user whose credentials come from an exec plugin or an auth-provider.
func checkContext(cfg *clientcmdapi.Config, opts Options, source string) error {
	name := opts.Context
	if name == "" {
		name = cfg.CurrentContext
	}
	ctx, ok := cfg.Contexts[name]
	switch {
	case name == "" && len(cfg.Contexts) == 0:
		return nil // a bare cluster+user kubeconfig; clientcmd reports what is missing
	case name == "":
		return fmt.Errorf("%w: kubeconfig %s has no current-context: pass --kube-context", ErrInvalidKubeconfig, source)
	case !ok:
		return fmt.Errorf("%w: kubeconfig %s has no context %q", ErrInvalidKubeconfig, source, name)
	}
	if _, ok := cfg.Clusters[ctx.Cluster]; !ok {
		return fmt.Errorf("%w: kubeconfig %s: context %q names cluster %q, which it does not define", ErrInvalidKubeconfig, source, name, ctx.Cluster)
	}
	user, ok := cfg.AuthInfos[ctx.AuthInfo]
	if !ok {
		return fmt.Errorf("%w: kubeconfig %s: context %q names user %q, which it does not define", ErrInvalidKubeconfig, source, name, ctx.AuthInfo)
	}
	if opts.AllowExecCredentials {
		return nil
	}
	if user.Exec != nil {
		return fmt.Errorf("%w: kubeconfig %s: user %q gets credentials from exec plugin %q; pass --allow-exec-credentials to run it",
			ErrInvalidKubeconfig, source, ctx.AuthInfo, filepath.Base(user.Exec.Command))
	}
	if user.AuthProvider != nil {
		return fmt.Errorf("%w: kubeconfig %s: user %q gets credentials from auth-provider %q; pass --allow-exec-credentials to use it",
			ErrInvalidKubeconfig, source, ctx.AuthInfo, user.AuthProvider.Name)
	}
	return nil
}

// maxReferencedFile bounds a file a kubeconfig names (token, certificate,
// key): client-go reads such files whole.
const maxReferencedFile = 1 << 20

// checkFiles refuses a kubeconfig naming a file that is not a regular file
// of reasonable size: a token file of /dev/zero would have client-go read
// forever.
func checkFiles(cfg *clientcmdapi.Config, source string) error {
	check := func(what, path string) error {
		if path == "" {
			return nil
		}
		info, err := os.Stat(path)
		switch {
		case err != nil:
			return fmt.Errorf("%w: kubeconfig %s: %s %s: %v", ErrInvalidKubeconfig, source, what, path, errors.Unwrap(err))
		case !info.Mode().IsRegular():
			return fmt.Errorf("%w: kubeconfig %s: %s %s is not a regular file", ErrInvalidKubeconfig, source, what, path)
		case info.Size() > maxReferencedFile:
			return fmt.Errorf("%w: kubeconfig %s: %s %s is larger than 1 MiB", ErrInvalidKubeconfig, source, what, path)
		}
		return nil
	}
	for name, a := range cfg.AuthInfos {
		for what, path := range map[string]string{"tokenFile": a.TokenFile, "client-certificate": a.ClientCertificate, "client-key": a.ClientKey} {
			if err := check(fmt.Sprintf("user %q %s", name, what), path); err != nil {
				return err
			}
		}
	}
	for name, c := range cfg.Clusters {
		if err := check(fmt.Sprintf("cluster %q certificate-authority", name), c.CertificateAuthority); err != nil {
			return err
		}
	}
	return nil
}

// credentialStrings lists every credential in cfg.
func credentialStrings(cfg *clientcmdapi.Config) []string {
	var out []string
	for _, a := range cfg.AuthInfos {
		out = append(out, a.Token, a.Password, string(a.ClientKeyData))
		if a.TokenFile != "" {
			if token, ok := readSmallFile(a.TokenFile); ok {
				out = append(out, token)
			}
		}
		if a.AuthProvider != nil {
			for _, v := range a.AuthProvider.Config {
				out = append(out, v)
			}
		}
		if a.Exec != nil {
			for _, e := range a.Exec.Env {
				out = append(out, e.Value)
			}
		}
	}
	return out
}

// readSmallFile reads a regular file of at most maxReferencedFile (the
// bound checkFiles applies, so a token is learned whole): a token file that
// names a device or a FIFO must not hang or exhaust the run.
func readSmallFile(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return "", false
	}
	data, err := io.ReadAll(io.LimitReader(f, maxReferencedFile))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(data)), true
}

// inClusterConfig describes the pod's ServiceAccount as a kubeconfig, so the
// in-cluster case goes through the same loader (and token rotation through
// TokenFile) as a mounted kubeconfig.
func inClusterConfig() (*clientcmdapi.Config, error) {
	rc, err := rest.InClusterConfig()
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["in-cluster"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthority: rc.TLSClientConfig.CAFile}
	cfg.AuthInfos["in-cluster"] = &clientcmdapi.AuthInfo{TokenFile: rc.BearerTokenFile}
	cfg.Contexts["in-cluster"] = &clientcmdapi.Context{Cluster: "in-cluster", AuthInfo: "in-cluster"}
	cfg.CurrentContext = "in-cluster"
	return cfg, nil
}
