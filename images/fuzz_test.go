package images

import (
	"errors"
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// FuzzRewrite: a reference is rewritten into a valid reference or refused
// with ErrInvalid; tags and digests survive a rewrite.
func FuzzRewrite(f *testing.F) {
	rules, err := ParseRules([]string{"docker.io=mirror.example.com/hub", "docker.io/bitnami=bitnami.example.com", "localhost=x.example.com"})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"nginx", "nginx:1.25", "bitnami/redis:7@sha256:4c3b0b7b3c2e9ac1d3ef3a1f1b8d0c6e2b0f4c4a3d2e1f0a9b8c7d6e5f4a3b2c", "localhost:5000/a", "quay.io/a/b", "UPPER", "a b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		out, err := rules.Rewrite(ref)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if out == ref {
			return // no rule matched: unchanged
		}
		before, _ := reference.ParseNormalizedNamed(strings.TrimSpace(ref)) // Rewrite trims, as YAML would
		after, err := reference.ParseNormalizedNamed(out)
		if err != nil {
			t.Fatalf("rewrite of %q gave invalid %q: %v", ref, out, err)
		}
		if bt, ok := reference.TagNameOnly(before).(reference.Tagged); ok {
			if at, ok := reference.TagNameOnly(after).(reference.Tagged); !ok || at.Tag() != bt.Tag() {
				t.Fatalf("tag lost: %q -> %q", ref, out)
			}
		}
		if bd, ok := before.(reference.Digested); ok {
			if ad, ok := after.(reference.Digested); !ok || ad.Digest() != bd.Digest() {
				t.Fatalf("digest lost: %q -> %q", ref, out)
			}
		}
	})
}
