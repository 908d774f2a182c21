package kube

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wrapped returns base64 of the file at path, wrapped at 76 columns as
// base64(1) does, in a temporary file.
func wrapped(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	out := filepath.Join(t.TempDir(), "b64.kubeconfig")
	if err := os.WriteFile(out, []byte("  "+b.String()+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoad(t *testing.T) {
	cases := map[string]struct {
		opts    Options
		wantErr string // substring; empty for success
		host    string
	}{
		"yaml":                 {opts: Options{Kubeconfig: "testdata/token.kubeconfig"}, host: "https://127.0.0.1:6443"},
		"base64-wrapped":       {opts: Options{Kubeconfig: wrapped(t, "testdata/token.kubeconfig")}, host: "https://127.0.0.1:6443"},
		"exec-refused":         {opts: Options{Kubeconfig: "testdata/exec.kubeconfig"}, wantErr: `user "eks-user" gets credentials from exec plugin "aws"; pass --allow-exec-credentials`},
		"exec-allowed":         {opts: Options{Kubeconfig: "testdata/exec.kubeconfig", AllowExecCredentials: true}, host: "https://example.eks.amazonaws.com"},
		"auth-provider":        {opts: Options{Kubeconfig: "testdata/authprovider.kubeconfig"}, wantErr: `user "gke-user" gets credentials from auth-provider "gcp"`},
		"garbage":              {opts: Options{Kubeconfig: "testdata/garbage.kubeconfig"}, wantErr: "is neither kubeconfig YAML nor base64 of it"},
		"base64-of-garbage":    {opts: Options{Kubeconfig: "testdata/base64-garbage.kubeconfig"}, wantErr: "is neither kubeconfig YAML nor base64 of it"},
		"empty":                {opts: Options{Kubeconfig: "testdata/empty.kubeconfig"}, wantErr: "is empty"},
		"missing":              {opts: Options{Kubeconfig: "testdata/absent.kubeconfig"}, wantErr: "read kubeconfig testdata/absent.kubeconfig: no such file or directory"},
		"unknown-context":      {opts: Options{Kubeconfig: "testdata/token.kubeconfig", Context: "nope"}, wantErr: `has no context "nope"`},
		"context-unknown-user": {opts: Options{Kubeconfig: "testdata/token.kubeconfig", Context: "other"}, wantErr: `context "other" names user "plugin", which it does not define`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(tc.opts, "app")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if !errors.Is(err, ErrInvalidKubeconfig) {
					t.Errorf("err = %v is not ErrInvalidKubeconfig", err)
				}
				if strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one secret-free line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.REST().Host; got != tc.host {
				t.Errorf("host = %q, want %q", got, tc.host)
			}
			if ns, _, _ := cfg.Getter().ToRawKubeConfigLoader().Namespace(); ns != "app" {
				t.Errorf("namespace = %q, want the release namespace", ns)
			}
		})
	}
}

func TestLoadAppliesClientSettings(t *testing.T) {
	cfg, err := Load(Options{Kubeconfig: "testdata/token.kubeconfig", QPS: 50, Burst: 100, UserAgent: "hookrunner/test"}, "default")
	if err != nil {
		t.Fatal(err)
	}
	rc := cfg.REST()
	if rc.QPS != 50 || rc.Burst != 100 || rc.UserAgent != "hookrunner/test" {
		t.Errorf("QPS %v, burst %d, user agent %q", rc.QPS, rc.Burst, rc.UserAgent)
	}
	if got := cfg.Secrets(); !contains(got, "canary-kube-token-3b7e") {
		t.Errorf("Secrets() = %q lacks the token", got)
	}
	// The Helm SDK's clients share one limit in the transport instead of a
	// limiter each.
	hc, err := cfg.Getter().ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if hc.QPS >= 0 || hc.RateLimiter != nil || hc.WrapTransport == nil {
		t.Errorf("Getter config: QPS %v, rate limiter %v, transport wrapped %v", hc.QPS, hc.RateLimiter, hc.WrapTransport != nil)
	}
	// Every Getter of a Config shares one discovery: the Helm actions'
	// clients and the waits' must not discover the API twice.
	d1, err1 := cfg.Getter().ToDiscoveryClient()
	d2, err2 := cfg.ForHelmActions().ToDiscoveryClient()
	if err1 != nil || err2 != nil || d1 != d2 {
		t.Errorf("Getter and ForHelmActions have different discovery clients (%v, %v)", err1, err2)
	}
	// --qps 0 means no limit, not client-go's default of 5.
	unlimited, err := Load(Options{Kubeconfig: "testdata/token.kubeconfig"}, "default")
	if err != nil {
		t.Fatal(err)
	}
	if q := unlimited.REST().QPS; q >= 0 {
		t.Errorf("QPS 0 gave REST() QPS %v, want negative (no limit)", q)
	}
}

// TestGetterMaxInFlight: the bound the Helm client's writers are sized to
// (HelmClient.Workers) is the run's own: the default, the option, or none.
func TestGetterMaxInFlight(t *testing.T) {
	for _, tc := range []struct {
		option, want int
	}{{0, DefaultMaxInFlight}, {8, 8}, {1, 1}, {-1, 0}} {
		cfg, err := Load(Options{Kubeconfig: "testdata/token.kubeconfig", MaxInFlight: tc.option}, "default")
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Getter().MaxInFlight(); got != tc.want {
			t.Errorf("MaxInFlight option %d: Getter().MaxInFlight() = %d, want %d", tc.option, got, tc.want)
		}
		if got := cfg.ForHelmActions().MaxInFlight(); got != tc.want {
			t.Errorf("MaxInFlight option %d: ForHelmActions().MaxInFlight() = %d, want %d", tc.option, got, tc.want)
		}
	}
}

func TestNoKubeconfigOutsideAPod(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err := Load(Options{}, "default")
	if !errors.Is(err, ErrInvalidKubeconfig) || !strings.Contains(err.Error(), "no --kubeconfig") {
		t.Errorf("err = %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// Found by fuzzing: a kubeconfig naming /dev/zero as its token file would
// have client-go read until the process is killed. Such files are refused.
func TestLoadRefusesHostileReferencedFiles(t *testing.T) {
	for name, user := range map[string]string{
		"token-device":   "{tokenFile: /dev/zero}",
		"token-missing":  "{tokenFile: /no/token}",
		"cert-directory": "{client-certificate: /tmp, client-key: /tmp}",
	} {
		t.Run(name, func(t *testing.T) {
			kc := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://x\"}}]\n" +
				"users: [{name: u, user: " + user + "}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(Options{Kubeconfig: path}, "default")
			if !errors.Is(err, ErrInvalidKubeconfig) || !strings.Contains(err.Error(), `user "u"`) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
