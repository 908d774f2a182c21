package runner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrunner/hookrunner/runner/redact"
)

func TestCompactFitsTerminationLog(t *testing.T) {
	big := Result{
		Status: StatusFailure, Action: ActionInstall, ExitCode: ExitAction,
		Release: ReleaseInfo{Name: "web", Namespace: "app"},
		Outputs: map[string]string{"a": strings.Repeat("x", 3000)},
		Reason:  strings.Repeat("é", 3000), // multi-byte: cut on a rune boundary
		Steps:   []StepTiming{{Name: "act", Seconds: 1}},
	}
	cases := map[string]struct {
		r           Result
		keepSteps   bool
		keepOutputs bool
	}{
		"small":       {r: Result{Status: StatusSuccess, Action: ActionNone, Outputs: map[string]string{"ip": "10.0.0.7"}, Steps: []StepTiming{{Name: "act"}}}, keepSteps: true, keepOutputs: true},
		"long-reason": {r: big, keepOutputs: true}, // the reason shrinks first
		"huge-outputs": {r: Result{Status: StatusSuccess, Action: ActionInstall,
			Outputs: map[string]string{"a": strings.Repeat("y", 5000)}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data := tc.r.compact(terminationLogLimit)
			if len(data) > terminationLogLimit {
				t.Fatalf("compact is %d bytes, limit %d", len(data), terminationLogLimit)
			}
			var got Result
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("compact is not JSON: %v", err)
			}
			if got.Status != tc.r.Status || got.Action != tc.r.Action || got.ExitCode != tc.r.ExitCode || got.Release != tc.r.Release {
				t.Errorf("status, action, exit code or release lost: %+v", got)
			}
			if (len(got.Steps) > 0) != tc.keepSteps || (len(got.Outputs) > 0) != tc.keepOutputs {
				t.Errorf("steps kept %v (want %v), outputs kept %v (want %v)", len(got.Steps) > 0, tc.keepSteps, len(got.Outputs) > 0, tc.keepOutputs)
			}
		})
	}
}

func TestWriteResult(t *testing.T) {
	dir := t.TempDir()
	term := filepath.Join(dir, "termination-log")
	if err := os.WriteFile(term, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	red := redact.New()
	red.Add("canary-secret-123")
	r := Result{Status: StatusFailure, Reason: "act: bad canary-secret-123", Outputs: map[string]string{"pw": "canary-secret-123"}}
	resultFile := filepath.Join(dir, "result.json")
	if err := r.write(IO{Stdout: &stdout, TerminationLog: term}, red, resultFile, true); err != nil {
		t.Fatal(err)
	}
	pretty, _ := os.ReadFile(resultFile)
	compact, _ := os.ReadFile(term)
	for name, data := range map[string]string{"stdout": stdout.String(), "result file": string(pretty), "termination log": string(compact)} {
		if strings.Contains(data, "canary-secret-123") {
			t.Errorf("%s holds the secret: %s", name, data)
		}
		var got Result
		if err := json.Unmarshal([]byte(data), &got); err != nil || got.Status != StatusFailure {
			t.Errorf("%s is not the result document: %v: %s", name, err, data)
		}
	}
	if strings.Count(stdout.String(), "\n") != 1 {
		t.Errorf("stdout is not one line: %q", stdout.String())
	}
	// A termination log that does not exist is not created (not in a pod).
	missing := filepath.Join(dir, "absent")
	if err := r.write(IO{Stdout: &stdout, TerminationLog: missing}, red, "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("termination log created outside a pod: %v", err)
	}
}

// --outputs-json writes the outputs alone, as one JSON object, scrubbed of
// secrets; with no outputs (a failure, an uninstall) it writes {}.
func TestWriteOutputs(t *testing.T) {
	red := redact.New()
	red.Add("canary-secret-output")
	cases := map[string]struct {
		outputs map[string]string
		want    map[string]string
	}{
		"outputs": {outputs: map[string]string{"endpoint": "http://10.0.0.7", "token": "x canary-secret-output"}, want: map[string]string{"endpoint": "http://10.0.0.7", "token": "x [REDACTED]"}},
		"none":    {outputs: nil, want: map[string]string{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "outputs.json")
			if err := (Result{Status: StatusSuccess, Outputs: tc.outputs}).writeOutputs(red, file); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]string
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("not one JSON object: %v: %s", err, data)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	if err := (Result{}).writeOutputs(red, ""); err != nil {
		t.Errorf("no file asked: %v", err)
	}
}
