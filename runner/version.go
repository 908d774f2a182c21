package runner

// Version and Commit are stamped at build time (-ldflags -X, see the
// Makefile's LDFLAGS and the Dockerfile).
var (
	Version = "dev"
	Commit  = "unknown"
)

// UserAgent is sent with every API request.
func UserAgent() string { return "hookrunner/" + Version }
