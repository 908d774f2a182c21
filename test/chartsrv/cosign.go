package chartsrv

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// Digest returns the manifest digest that tag points to in the repository
// path.
func (o *OCI) Digest(t testing.TB, path, tag string) string {
	t.Helper()
	desc, err := o.Repository(t, path).Resolve(context.Background(), tag)
	if err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String()
}

// CosignSign signs the manifest that tag points to in the repository path
// with key, exactly as `cosign sign --key` does in its classic form, and
// returns the signed manifest digest. See PushCosignSignature.
func (o *OCI) CosignSign(t testing.TB, path, tag string, key crypto.Signer) string {
	t.Helper()
	digest := o.Digest(t, path, tag)
	o.PushCosignSignature(t, path, digest, digest, key)
	return digest
}

// PushCosignSignature pushes what cosign pushes to sign the manifest
// sigFor: an image tagged sha256-<hex>.sig whose one layer is the simple
// signing payload naming signed (normally sigFor itself), with the
// signature of the payload (SHA-256, ASN.1 for ECDSA) base64 in the
// layer's dev.cosignproject.cosign/signature annotation.
func (o *OCI) PushCosignSignature(t testing.TB, path, sigFor, signed string, key crypto.Signer) {
	t.Helper()
	ctx := context.Background()
	repo := o.Repository(t, path)
	payload := fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`,
		o.Host+"/"+path, signed)
	// cosign signs the SHA-256 of the payload with ECDSA and RSA keys, and
	// the payload itself with Ed25519.
	digest, hash := payload, crypto.Hash(0)
	if _, ok := key.Public().(ed25519.PublicKey); !ok {
		sum := sha256.Sum256(payload)
		digest, hash = sum[:], crypto.SHA256
	}
	sig, err := key.Sign(rand.Reader, digest, hash)
	if err != nil {
		t.Fatal(err)
	}
	layer := content.NewDescriptorFromBytes("application/vnd.dev.cosign.simplesigning.v1+json", payload)
	layer.Annotations = map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)}
	config, err := json.Marshal(map[string]any{
		"architecture": "", "os": "", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layer.Digest.String()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	configDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, config)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, blob := range []struct {
		desc ocispec.Descriptor
		data []byte
	}{{layer, payload}, {configDesc, config}} {
		if err := repo.Push(ctx, blob.desc, bytes.NewReader(blob.data)); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
	}
	manifestDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, manifest)
	if err := repo.PushReference(ctx, manifestDesc, bytes.NewReader(manifest), strings.Replace(sigFor, ":", "-", 1)+".sig"); err != nil {
		t.Fatal(err)
	}
}
