package chart

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/hookrunner/hookrunner/runner/redact"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/errdef"
)

// What `cosign sign --key` pushes (its classic, tag-based form): an image
// tagged sha256-<hex>.sig in the signed artifact's repository, whose layers
// are simple-signing payloads naming the signed manifest digest, each with
// its signature in an annotation.
const (
	cosignPayloadType    = "application/vnd.dev.cosign.simplesigning.v1+json"
	cosignSigAnnotation  = "dev.cosignproject.cosign/signature"
	cosignSignatureType  = "cosign container image signature"
	maxCosignSignatures  = 64
	maxCosignPayloadSize = 64 << 10
)

// loadCosignKey reads a PEM public key (ECDSA, RSA or Ed25519, as `cosign
// generate-key-pair` and KMS exports write them).
func loadCosignKey(file string) (signature.Verifier, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: --cosign-key %s: %v", ErrInvalidSource, file, errors.Unwrap(err))
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem)
	if err != nil {
		return nil, fmt.Errorf("%w: --cosign-key %s: not a PEM public key: %v", ErrInvalidSource, file, err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: --cosign-key %s: %v", ErrInvalidSource, file, err)
	}
	return v, nil
}

// verifyCosign resolves the OCI chart's tag (or version constraint) to its
// manifest digest, checks that a cosign signature by the key signs exactly
// that digest, and returns the chart's reference pinned to the digest, so
// that the layers pulled next are the ones that were verified.
func (s Source) verifyCosign(ref string, rc *registry.Client) (string, error) {
	verifier, err := loadCosignKey(s.CosignKey)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("%w: CHART %s is not a valid OCI reference", ErrInvalidSource, redact.URL(ref))
	}
	_, resolved, err := rc.ValidateReference(ref, s.Version, u)
	if err != nil {
		return "", fmt.Errorf("%w: fetch %s: %v", ErrUnavailable, displayRef(s), err)
	}
	target := strings.TrimPrefix(resolved.String(), "oci://")
	desc, err := rc.Resolve(target)
	if err != nil {
		return "", fmt.Errorf("%w: fetch %s: %v", ErrUnavailable, displayRef(s), err)
	}
	digest := desc.Digest.String()
	repo := repository(target)
	sigRef := repo + ":" + strings.Replace(digest, ":", "-", 1) + ".sig"
	res, err := rc.Generic().PullGeneric(sigRef, registry.GenericPullOptions{})
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return "", fmt.Errorf("%w: chart %s (%s): no cosign signature (no tag %s in its repository)", ErrUnverified, displayRef(s), digest, sigRef[len(repo)+1:])
	case err != nil:
		return "", fmt.Errorf("%w: chart %s (%s): fetch its cosign signature: %v", ErrUnverified, displayRef(s), digest, err)
	}
	var problems []string
	checked := 0
	for _, d := range res.Descriptors {
		if d.MediaType != cosignPayloadType || checked >= maxCosignSignatures {
			continue
		}
		checked++
		if d.Size > maxCosignPayloadSize {
			problems = append(problems, "a payload is too large")
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(d.Annotations[cosignSigAnnotation])
		if err != nil || len(sig) == 0 {
			problems = append(problems, "a layer has no signature annotation")
			continue
		}
		data, err := rc.Generic().GetDescriptorData(res.MemoryStore, d)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if err := verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)); err != nil {
			problems = append(problems, "a signature is not by the --cosign-key key")
			continue
		}
		var p payload.SimpleContainerImage
		if err := json.Unmarshal(data, &p); err != nil {
			problems = append(problems, "a signed payload is not cosign's simple signing JSON")
			continue
		}
		if p.Critical.Type != cosignSignatureType {
			problems = append(problems, fmt.Sprintf("a signed payload has type %q", p.Critical.Type))
			continue
		}
		if got := p.Critical.Image.DockerManifestDigest; got != digest {
			problems = append(problems, fmt.Sprintf("a signature by the key signs %s, not this manifest", got))
			continue
		}
		return "oci://" + repo + "@" + digest, nil
	}
	if checked == 0 {
		problems = append(problems, "no cosign signature payload in "+sigRef)
	}
	return "", fmt.Errorf("%w: chart %s (%s): %s", ErrUnverified, displayRef(s), digest, strings.Join(dedupe(problems), "; "))
}

// repository strips the tag or digest from host/repo[:tag][@digest].
func repository(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
