// Command ociimage writes a container image as an OCI archive (an OCI image
// layout in a tar file) without a container engine: one layer per platform
// holding a static binary and, with -base static, what distroless
// static-debian12:nonroot provides (CA certificates, tzdata, /etc/passwd with
// the nonroot user 65532, /tmp, /home/nonroot; no shell). `make image-oci`
// builds the hookrunner image with it; the test cluster builds its pause
// image with it and imports both with `ctr images import`.
//
// The Dockerfile stays the recipe for users with a Docker engine; test/image
// checks that both give the same runtime contents. Archives are reproducible:
// entries are sorted and every timestamp is the epoch, so the same inputs
// give the same digests.
//
//	ociimage -o bin/hookrunner.oci.tar -name docker.io/library/hookrunner:0.1.0 \
//	  -base static -entrypoint /hookrunner -user 65532:65532 \
//	  -binary linux/amd64=bin/hookrunner-linux-amd64 -binary linux/arm64=bin/hookrunner-linux-arm64
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "crypto/sha256" // go-digest computes sha256 through crypto.SHA256
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The files of distroless static that hookrunner uses, read from this
// machine's Debian packages (ca-certificates, tzdata, netbase).
const (
	caFile      = "/etc/ssl/certs/ca-certificates.crt"
	zoneinfoDir = "/usr/share/zoneinfo"
)

// The users and groups of distroless static-debian12.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
)

type binaries map[string]string // "os/arch" → path

func (b binaries) String() string { return fmt.Sprint(map[string]string(b)) }

func (b binaries) Set(v string) error {
	platform, path, ok := strings.Cut(v, "=")
	if !ok || strings.Count(platform, "/") != 1 || path == "" {
		return fmt.Errorf("want OS/ARCH=PATH, got %q", v)
	}
	b[platform] = path
	return nil
}

func main() {
	bins := binaries{}
	out := flag.String("o", "", "archive to write")
	name := flag.String("name", "", "image name, for example docker.io/library/hookrunner:0.1.0")
	base := flag.String("base", "static", "static (distroless static's files) or none")
	entrypoint := flag.String("entrypoint", "", "path of the binary in the image, also the entrypoint")
	user := flag.String("user", "65532:65532", "numeric user:group")
	flag.Var(bins, "binary", "OS/ARCH=PATH of the static binary for that platform (repeatable)")
	flag.Parse()
	if err := write(*out, *name, *base, *entrypoint, *user, bins); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

// entry is one file or directory of a layer.
type entry struct {
	hdr  tar.Header
	data []byte
}

func write(out, name, base, entrypoint, user string, bins binaries) error {
	switch {
	case out == "":
		return errors.New("-o is required")
	case name == "":
		return errors.New("-name is required")
	case !strings.HasPrefix(entrypoint, "/"):
		return fmt.Errorf("-entrypoint %q: want an absolute path", entrypoint)
	case len(bins) == 0:
		return errors.New("at least one -binary is required")
	case base != "static" && base != "none":
		return fmt.Errorf("-base %q: want static or none", base)
	}
	var common []entry
	if base == "static" {
		var err error
		if common, err = staticBase(); err != nil {
			return err
		}
	}
	blobs := map[digest.Digest][]byte{}
	add := func(mediaType string, data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		blobs[d] = data
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	}
	platforms := make([]string, 0, len(bins))
	for p := range bins {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	var manifests []ocispec.Descriptor
	for _, p := range platforms {
		osName, arch, _ := strings.Cut(p, "/")
		data, err := os.ReadFile(bins[p])
		if err != nil {
			return fmt.Errorf("binary for %s: %w", p, err)
		}
		entries := append(append([]entry{}, common...), file(strings.TrimPrefix(entrypoint, "/"), 0o755, 0, 0, data))
		raw, err := layer(entries)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.ModTime = time.Unix(0, 0)
		if _, err := zw.Write(raw); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		layerDesc := add(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
		epoch := time.Unix(0, 0).UTC()
		cfg := ocispec.Image{
			Created:  &epoch,
			Platform: ocispec.Platform{OS: osName, Architecture: arch},
			Config: ocispec.ImageConfig{
				User:       user,
				Entrypoint: []string{entrypoint},
				Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=" + caFile},
				WorkingDir: "/",
			},
			RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(raw)}},
			History: []ocispec.History{{Created: &epoch, CreatedBy: "ociimage -base " + base + " " + entrypoint}},
		}
		cfgJSON, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		manifest := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    add(ocispec.MediaTypeImageConfig, cfgJSON),
			Layers:    []ocispec.Descriptor{layerDesc},
		}
		mJSON, err := json.Marshal(manifest)
		if err != nil {
			return err
		}
		desc := add(ocispec.MediaTypeImageManifest, mJSON)
		desc.Platform = &ocispec.Platform{OS: osName, Architecture: arch}
		manifests = append(manifests, desc)
	}
	// The image index of all platforms, named in the layout's index.json the
	// way containerd's importer reads names.
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
	idxJSON, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	top := add(ocispec.MediaTypeImageIndex, idxJSON)
	top.Annotations = map[string]string{
		"io.containerd.image.name": name,
		ocispec.AnnotationRefName:  refName(name),
	}
	layout, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}})
	if err != nil {
		return err
	}
	files := []entry{
		file("oci-layout", 0o644, 0, 0, []byte(`{"imageLayoutVersion":"1.0.0"}`)),
		file("index.json", 0o644, 0, 0, layout),
		dir("blobs", 0o755, 0, 0),
		dir("blobs/sha256", 0o755, 0, 0),
	}
	for d, data := range blobs {
		files = append(files, file("blobs/sha256/"+d.Encoded(), 0o644, 0, 0, data))
	}
	archive, err := layer(files)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, archive, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// refName is the tag of name, as an OCI layout names it.
func refName(name string) string {
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[i+1:]
	}
	return "latest"
}

// staticBase returns the files of distroless static that a static Go
// binary needs, from this machine's Debian packages.
func staticBase() ([]entry, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificates (Debian package ca-certificates): %w", err)
	}
	entries := []entry{
		dir("etc", 0o755, 0, 0),
		file("etc/passwd", 0o644, 0, 0, []byte(passwd)),
		file("etc/group", 0o644, 0, 0, []byte(group)),
		file("etc/nsswitch.conf", 0o644, 0, 0, []byte("hosts: files dns\n")),
		dir("etc/ssl", 0o755, 0, 0),
		dir("etc/ssl/certs", 0o755, 0, 0),
		file("etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0, ca),
		dir("home", 0o755, 0, 0),
		dir("home/nonroot", 0o700, 65532, 65532),
		dir("tmp", 0o1777, 0, 0),
		dir("usr", 0o755, 0, 0),
		dir("usr/share", 0o755, 0, 0),
	}
	for _, f := range []string{"/etc/services", "/etc/protocols"} { // netbase
		if data, err := os.ReadFile(f); err == nil {
			entries = append(entries, file(strings.TrimPrefix(f, "/"), 0o644, 0, 0, data))
		}
	}
	err = filepath.WalkDir(zoneinfoDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(path, "/")
		switch {
		case d.IsDir():
			entries = append(entries, dir(rel, 0o755, 0, 0))
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			entries = append(entries, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: rel, Linkname: target, Mode: 0o777}})
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			entries = append(entries, file(rel, 0o644, 0, 0, data))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tzdata (Debian package tzdata): %w", err)
	}
	return entries, nil
}

func file(name string, mode int64, uid, gid int, data []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: uid, Gid: gid, Size: int64(len(data))}, data: data}
}

func dir(name string, mode int64, uid, gid int) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: gid}}
}

// layer writes entries, sorted by name with every timestamp at the epoch,
// as an uncompressed tar.
func layer(entries []entry) ([]byte, error) {
	sort.SliceStable(entries, func(i, j int) bool {
		return strings.TrimSuffix(entries[i].hdr.Name, "/") < strings.TrimSuffix(entries[j].hdr.Name, "/")
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		e.hdr.ModTime = time.Unix(0, 0)
		e.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.hdr.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
