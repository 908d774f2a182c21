package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ociArchive builds the image with `make image-oci` (both architectures)
// into a scratch directory and returns its blobs by digest and index.json.
func ociArchive(t *testing.T) (map[string][]byte, []byte) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "img.tar")
	for _, arch := range []string{"amd64", "arm64"} {
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "hookrunner-"+arch), "./cmd/hookrunner")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if data, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", arch, err, data)
		}
	}
	cmd := exec.Command("go", "run", "./cmd/ociimage", "-o", out, "-name", "docker.io/library/hookrunner:test",
		"-base", "static", "-entrypoint", "/hookrunner",
		"-binary", "linux/amd64="+filepath.Join(dir, "hookrunner-amd64"), "-binary", "linux/arm64="+filepath.Join(dir, "hookrunner-arm64"))
	cmd.Dir = root
	if data, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ociimage: %v\n%s", err, data)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blobs := map[string][]byte{}
	var index []byte
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		switch {
		case h.Name == "index.json":
			index = data
		case strings.HasPrefix(h.Name, "blobs/sha256/") && h.Typeflag == tar.TypeReg:
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); "blobs/sha256/"+got != h.Name {
				t.Errorf("blob %s has digest %s", h.Name, got)
			}
			blobs["sha256:"+strings.TrimPrefix(h.Name, "blobs/sha256/")] = data
		}
	}
	return blobs, index
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

// The OCI archive that `make image-oci` writes without a Docker engine has
// the runtime contents of the Dockerfile's final stage on distroless static
// nonroot: the binary at the entrypoint the Dockerfile names, the user it
// names, CA certificates, tzdata, the nonroot user in /etc/passwd, a
// world-writable /tmp, and no shell; for amd64 and arm64.
func TestOCIArchiveMatchesDockerfile(t *testing.T) {
	_, stages := dockerfile(t)
	var user string
	var entrypoint []string
	for _, ins := range stages[len(stages)-1].instructions {
		word, rest, _ := strings.Cut(ins, " ")
		switch strings.ToUpper(word) {
		case "USER":
			user = rest
		case "ENTRYPOINT":
			_ = json.Unmarshal([]byte(rest), &entrypoint)
		}
	}
	blobs, indexJSON := ociArchive(t)
	var layout struct{ Manifests []descriptor }
	if err := json.Unmarshal(indexJSON, &layout); err != nil || len(layout.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, indexJSON)
	}
	if n := layout.Manifests[0].Annotations["io.containerd.image.name"]; n != "docker.io/library/hookrunner:test" {
		t.Errorf("image name %q", n)
	}
	var index struct{ Manifests []descriptor }
	if err := json.Unmarshal(blobs[layout.Manifests[0].Digest], &index); err != nil {
		t.Fatal(err)
	}
	arches := map[string]bool{}
	for _, m := range index.Manifests {
		if m.Platform == nil || m.Platform.OS != "linux" {
			t.Fatalf("manifest without a linux platform: %+v", m)
		}
		arches[m.Platform.Architecture] = true
		var manifest struct {
			Config descriptor
			Layers []descriptor
		}
		if err := json.Unmarshal(blobs[m.Digest], &manifest); err != nil {
			t.Fatal(err)
		}
		var config struct {
			Architecture string
			Config       struct {
				User       string
				Entrypoint []string
			}
		}
		if err := json.Unmarshal(blobs[manifest.Config.Digest], &config); err != nil {
			t.Fatal(err)
		}
		if config.Config.User != user || strings.Join(config.Config.Entrypoint, " ") != strings.Join(entrypoint, " ") || config.Architecture != m.Platform.Architecture {
			t.Errorf("%s config: user %q entrypoint %v, Dockerfile: USER %q ENTRYPOINT %v", m.Platform.Architecture, config.Config.User, config.Config.Entrypoint, user, entrypoint)
		}
		files := map[string]*tar.Header{}
		contents := map[string][]byte{}
		for _, l := range manifest.Layers {
			zr, err := gzip.NewReader(bytes.NewReader(blobs[l.Digest]))
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(zr)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				name := "/" + strings.TrimSuffix(h.Name, "/")
				files[name] = h
				contents[name], _ = io.ReadAll(tr)
			}
		}
		bin := files[entrypoint[0]]
		if bin == nil || bin.Mode&0o111 == 0 || !bytes.HasPrefix(contents[entrypoint[0]], []byte("\x7fELF")) {
			t.Errorf("%s: no executable ELF at %s", m.Platform.Architecture, entrypoint[0])
		}
		for _, want := range []string{"/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo/UTC", "/usr/share/zoneinfo/Asia/Shanghai", "/etc/passwd", "/etc/group"} {
			if files[want] == nil {
				t.Errorf("%s: %s missing", m.Platform.Architecture, want)
			}
		}
		if !strings.Contains(string(contents["/etc/passwd"]), "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd lacks the nonroot user: %s", contents["/etc/passwd"])
		}
		if h := files["/tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
			t.Errorf("/tmp missing or not 1777: %+v", h)
		}
		if h := files["/home/nonroot"]; h == nil || h.Uid != 65532 {
			t.Errorf("/home/nonroot missing or not owned by 65532: %+v", h)
		}
		for _, shell := range []string{"/bin/sh", "/bin/bash", "/bin/busybox", "/usr/bin/sh"} {
			if files[shell] != nil {
				t.Errorf("%s: the image has a shell at %s", m.Platform.Architecture, shell)
			}
		}
	}
	if !arches["amd64"] || !arches["arm64"] {
		t.Errorf("platforms %v, want amd64 and arm64", arches)
	}
}

// The same inputs give the same image: the archive is reproducible.
func TestOCIArchiveIsReproducible(t *testing.T) {
	_, first := ociArchive(t)
	_, second := ociArchive(t)
	if !bytes.Equal(first, second) {
		t.Errorf("two builds of the same binaries differ:\n%s\n%s", first, second)
	}
}
