package kube

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadKubeconfig: any file content loads or is refused with
// ErrInvalidKubeconfig, never a panic; base64 detection never accepts what
// it cannot decode.
func FuzzLoadKubeconfig(f *testing.F) {
	for _, name := range []string{"token.kubeconfig", "exec.kubeconfig", "authprovider.kubeconfig", "garbage.kubeconfig", "base64-garbage.kubeconfig"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("YXBpVmVyc2lvbjogdjEK"))
	// Found while fuzzing: client-go would read this token file forever.
	f.Add([]byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://x\"}}]\n" +
		"users: [{name: u, user: {tokenFile: /dev/zero}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, ok := decodeBase64(data); ok && len(data) == 0 {
			t.Fatal("decoded empty input")
		}
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(Options{Kubeconfig: path}, "default")
		if err != nil && !errors.Is(err, ErrInvalidKubeconfig) {
			t.Fatalf("error %v is not ErrInvalidKubeconfig", err)
		}
	})
}

// FuzzParseCondition: the compact form and the YAML list either parse
// into valid conditions (which then print) or are refused with
// ErrInvalidCondition.
func FuzzParseCondition(f *testing.F) {
	for _, seed := range []string{
		"Service/web jsonpath={.status.loadBalancer.ingress[0].ip}", "Pod selector=app=web jsonpath=$.status.phase Equals value=Running timeout=2m",
		"apps/v1:Deployment/web Matches value=(", "ConfigMap/x jsonpath={.a[", "- kind: Pod\n  name: x\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := ParseCondition(s); err == nil {
			_ = c.String()
		} else if !errors.Is(err, ErrInvalidCondition) {
			t.Fatalf("compact: error %v is not ErrInvalidCondition", err)
		}
		if conds, err := ParseConditions([]byte(s), "fuzz"); err == nil {
			for _, c := range conds {
				_ = c.String()
			}
		} else if !errors.Is(err, ErrInvalidCondition) {
			t.Fatalf("list: error %v is not ErrInvalidCondition", err)
		}
	})
}
