// Package image tests what can be tested of the container image without a
// Docker engine: the Dockerfile's runtime stage, its build flags, and the
// binary those flags produce, run the way the image runs it.
package image

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

const root = "../.."

// stage is one FROM section of the Dockerfile.
type stage struct {
	from         string
	instructions []string // joined continuation lines, comments dropped
}

// dockerfile parses the Dockerfile into global ARG defaults and stages.
func dockerfile(t *testing.T) (map[string]string, []stage) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" && cur.Len() == 0 {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	args := map[string]string{}
	var stages []stage
	for _, l := range lines {
		word, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			stages = append(stages, stage{from: rest})
		case "ARG":
			if len(stages) == 0 {
				if k, v, ok := strings.Cut(rest, "="); ok {
					args[k] = v
				}
				continue
			}
			fallthrough
		default:
			if len(stages) > 0 {
				stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, l)
			}
		}
	}
	return args, stages
}

func TestDockerfileRuntimeStage(t *testing.T) {
	args, stages := dockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stages", len(stages))
	}
	final := stages[len(stages)-1]
	image := os.Expand(final.from, func(k string) string { return args[k] })
	if image != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime base %q (from %q), want gcr.io/distroless/static-debian12:nonroot", image, final.from)
	}
	var user, entrypoint string
	for _, ins := range final.instructions {
		word, rest, _ := strings.Cut(ins, " ")
		switch strings.ToUpper(word) {
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entrypoint = rest
		case "RUN":
			t.Errorf("RUN in the final stage (distroless has no shell): %s", ins)
		}
	}
	if !regexp.MustCompile(`^\d+:\d+$`).MatchString(user) || user != "65532:65532" {
		t.Errorf("USER %q, want numeric 65532:65532", user)
	}
	var exec []string
	if err := json.Unmarshal([]byte(entrypoint), &exec); err != nil || len(exec) != 1 || exec[0] != "/hookrunner" {
		t.Errorf("ENTRYPOINT %q, want exec form [\"/hookrunner\"]", entrypoint)
	}
	var downloads bool
	for _, ins := range stages[0].instructions {
		downloads = downloads || strings.Contains(ins, "go mod download")
	}
	if !downloads {
		t.Error("the build stage does not download modules in a layer of its own")
	}
}

// buildFlags returns the go build flags of the Dockerfile's build stage.
func buildFlags(t *testing.T) (ldflags string, line string) {
	t.Helper()
	_, stages := dockerfile(t)
	for _, ins := range stages[0].instructions {
		if strings.Contains(ins, "go build") {
			m := regexp.MustCompile(`-ldflags "([^"]+)"`).FindStringSubmatch(ins)
			if m == nil {
				t.Fatalf("no -ldflags in %s", ins)
			}
			return m[1], ins
		}
	}
	t.Fatal("no go build in the build stage")
	return "", ""
}

// The Dockerfile and `make binary` build with the same flags.
func TestDockerfileAndMakefileAgree(t *testing.T) {
	_, line := buildFlags(t)
	out, err := exec.Command("make", "-s", "-n", "-C", root, "binary", "VERSION=v9", "COMMIT=c9").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n binary: %v\n%s", err, out)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w",
		"-X github.com/hookrunner/hookrunner/runner.Version=", "-X github.com/hookrunner/hookrunner/runner.Commit=", "./cmd/hookrunner"} {
		if !strings.Contains(line, want) {
			t.Errorf("Dockerfile build lacks %q: %s", want, line)
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("make binary lacks %q: %s", want, out)
		}
	}
}

// The binary built with the Dockerfile's flags is static and runs as uid
// 65532 with an empty environment from a read-only working directory, as
// in the image.
func TestStaticBinaryRunsAsNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("running as another user needs root, which CI has")
		}
		t.Skip("needs root to run the binary as uid 65532")
	}
	ldflags, _ := buildFlags(t)
	ldflags = strings.NewReplacer("${VERSION}", "v0.0.0-imagetest", "${COMMIT}", "abc123").Replace(ldflags)
	// t.TempDir's parent is private to root; uid 65532 must reach the binary.
	dir, err := os.MkdirTemp("", "hookrunner-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hookrunner")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/hookrunner")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	f.Close()

	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{}
		cmd.Dir = readOnly
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		out, err := cmd.Output()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run("version", "--output", "json")
	var v map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["version"] != "v0.0.0-imagetest" || v["commit"] != "abc123" || v["helm"] == "" {
		t.Errorf("version as uid 65532: exit %d, %s", code, out)
	}
	// With no configuration at all, a run is bad input, reported as such.
	out, code = run("install")
	if code != 2 || !strings.Contains(out, `"status":"FAILURE"`) {
		t.Errorf("install with nothing configured: exit %d, %s", code, out)
	}
}
