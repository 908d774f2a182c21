package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BuildImage builds the Go command pkg (a package path of this module)
// statically for this machine's architecture and writes it as the OCI
// archive out, image name, with cmd/ociimage: base "static" gives it
// distroless static's files (the hookrunner image), "none" nothing else
// (the pause image). ldflags are passed to go build.
func BuildImage(ctx context.Context, out, name, entrypoint, base, pkg, ldflags string) error {
	bin := out + ".bin"
	defer os.Remove(bin)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if data, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", pkg, err, data)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	image := exec.CommandContext(ctx, "go", "run", "github.com/hookrunner/hookrunner/cmd/ociimage",
		"-o", out, "-name", name, "-base", base, "-entrypoint", entrypoint,
		"-binary", "linux/"+runtime.GOARCH+"="+bin)
	if data, err := image.CombinedOutput(); err != nil {
		return fmt.Errorf("image %s: %v\n%s", name, err, data)
	}
	return nil
}
