package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner/redact"
)

// Status values of a result document.
const (
	StatusSuccess = "SUCCESS"
	StatusFailure = "FAILURE"
)

// Action values of a result document: what the run did to the release.
const (
	ActionInstall   = "install"
	ActionUpgrade   = "upgrade"
	ActionNone      = "none"
	ActionUninstall = "uninstall"
	// ActionRepair: the release was at its config, but live objects had
	// drifted from it and were corrected (no new revision).
	ActionRepair = "repair"
)

// Result is the result document: the last line of stdout, --result-file
// (indented) and the termination log (compact, at most 4 KiB).
type Result struct {
	Status  string            `json:"status"`
	Action  string            `json:"action"`
	Release ReleaseInfo       `json:"release"`
	Outputs map[string]string `json:"outputs"`
	Reason  string            `json:"reason"`
	// ReasonCode is one of the Reason* constants: what an orchestrator
	// branches on instead of parsing Reason.
	ReasonCode string `json:"reasonCode"`
	// Diagnosis says why the release's objects were not ready when act or
	// wait failed, likeliest root cause first.
	Diagnosis []kube.Finding `json:"diagnosis,omitempty"`
	// CRDs lists the chart's CRDs that were created, updated, or (policy
	// create) left as they are although the chart changes them.
	CRDs *kube.CRDReport `json:"crds,omitempty"`
	// Drift lists the release's objects whose live state differed from
	// it when the release was at its config (--drift detect or correct).
	Drift []kube.Drift `json:"drift,omitempty"`
	// Releases are the releases of a plan (install or uninstall --plan),
	// in the order they ran.
	Releases        []PlanRelease `json:"releases,omitempty"`
	ExitCode        int           `json:"exitCode"`
	DurationSeconds float64       `json:"durationSeconds"`
	Steps           []StepTiming  `json:"steps"`
	// Callback says how reporting to the callback went, when one is set.
	Callback *CallbackInfo `json:"callback,omitempty"`
}

// CallbackInfo describes the delivery of the callback.
type CallbackInfo struct {
	Format    string `json:"format"`
	ID        string `json:"id"`
	Delivered bool   `json:"delivered"`
	Attempts  int    `json:"attempts"`
	// HTTPStatus is the status of the last answer, 0 when none came.
	HTTPStatus int    `json:"httpStatus,omitempty"`
	Error      string `json:"error,omitempty"`
}

// ReleaseInfo describes the release after the run.
type ReleaseInfo struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Revision   int    `json:"revision,omitempty"`
	Status     string `json:"status,omitempty"`
	Chart      string `json:"chart,omitempty"`
	Version    string `json:"version,omitempty"`
	AppVersion string `json:"appVersion,omitempty"`
}

// StepTiming is how long one step of the run took.
type StepTiming struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// terminationLogLimit is what the kubelet keeps of a termination log.
const terminationLogLimit = 4096

// compact encodes r in at most limit bytes: when the whole document is too
// long it drops step timings, then shortens the reason, then drops outputs
// (saying so in the reason), so status, action, release and exit code
// always survive.
func (r Result) compact(limit int) []byte {
	enc := func(r Result) []byte {
		data, _ := json.Marshal(r)
		return data
	}
	data := enc(r)
	if len(data) <= limit {
		return data
	}
	r.Steps, r.CRDs, r.Drift = nil, nil, nil
	if data = enc(r); len(data) <= limit {
		return data
	}
	// A plan's releases: first their details, then all but the failed.
	releases := make([]PlanRelease, 0, len(r.Releases))
	for _, rel := range r.Releases {
		rel.Steps, rel.Diagnosis, rel.CRDs, rel.Drift, rel.Reason = nil, nil, nil, nil, truncate(rel.Reason, 200)
		releases = append(releases, rel)
	}
	if r.Releases = releases; len(releases) > 0 {
		if data = enc(r); len(data) <= limit {
			return data
		}
		failed := releases[:0:0]
		for _, rel := range releases {
			if rel.Result == StatusFailure {
				failed = append(failed, rel)
			}
		}
		r.Releases = failed
	}
	if data = enc(r); len(data) <= limit {
		return data
	}
	if over := len(data) - limit; over < len(r.Reason) {
		r.Reason = truncate(r.Reason, len(r.Reason)-over-len("…")-8) + "…"
		if data = enc(r); len(data) <= limit {
			return data
		}
	}
	r.Outputs = map[string]string{}
	r.Reason = truncate(r.Reason, 200) + " (outputs omitted: see the result file)"
	return enc(r)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// write emits the result document: to stdout as one line (when stdout is
// set), to resultFile (indented; written to a temporary file and renamed,
// so a reader never sees half of it), and to the termination log when one
// exists.
func (r Result) write(o IO, red *redact.Redactor, resultFile string, stdout bool) error {
	r = r.scrubbed(red)
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var errs []error
	if stdout {
		if _, err := fmt.Fprintf(o.Stdout, "%s\n", line); err != nil {
			errs = append(errs, err)
		}
	}
	if resultFile != "" {
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, line, "", "  ")
		pretty.WriteByte('\n')
		if err := writeAtomic(resultFile, pretty.Bytes()); err != nil {
			errs = append(errs, fmt.Errorf("write --result-file %s: %w", resultFile, err))
		}
	}
	if o.TerminationLog != "" {
		if _, err := os.Stat(o.TerminationLog); err == nil {
			if err := os.WriteFile(o.TerminationLog, r.compact(terminationLogLimit), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("write termination log %s: %w", o.TerminationLog, err))
			}
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// writeOutputs writes r's outputs, scrubbed, as one JSON object to file
// (nothing when file is empty): the shape an ARM deployment script's
// $AZ_SCRIPTS_OUTPUT_PATH takes. A failed run writes what it has ({}).
func (r Result) writeOutputs(red *redact.Redactor, file string) error {
	if file == "" {
		return nil
	}
	outputs := r.scrubbed(red).Outputs
	if outputs == nil {
		outputs = map[string]string{}
	}
	data, err := json.Marshal(outputs)
	if err != nil {
		return err
	}
	if err := writeAtomic(file, append(data, '\n')); err != nil {
		return fmt.Errorf("write --outputs-json %s: %w", file, err)
	}
	return nil
}

// scrubbed returns r with secrets replaced in every free-text field.
func (r Result) scrubbed(red *redact.Redactor) Result {
	r.Reason = red.String(r.Reason)
	outputs := make(map[string]string, len(r.Outputs))
	for k, v := range r.Outputs {
		outputs[k] = red.String(v)
	}
	r.Outputs = outputs
	return r
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".result-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
