package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hookrunner/hookrunner/kube"
)

func TestOutputs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "outputs.yaml")
	if err := os.WriteFile(file, []byte("admin: 'https://{{ .Values.host }}/admin'\nport: '{{ .Values.port }}'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outputs, err := parseOutputs([]string{
		`port={{ add .Values.port 1 }}`, // flags win over the file
		`name={{ .Release.Name }}-r{{ .Release.Revision }}`,
		`ip={{ (index .Conditions 0).Value }}`,
		`path={{ jsonpath "$.spec.ports[0].port" (fromJson .Values.svc) }}`,
		`yaml={{ toYaml .Values.list | nindent 0 | trim }}`,
		`missing={{ .Values.nope }}`,
	}, file)
	if err != nil {
		t.Fatal(err)
	}
	data := newOutputData(ReleaseInfo{Name: "web", Revision: 3}, map[string]any{
		"host": "example.com", "port": 8080, "list": []any{"a"}, "svc": `{"spec":{"ports":[{"port":443}]}}`,
	}, []kube.Observed{{Value: "203.0.113.7"}})
	got, err := renderOutputs(outputs, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"admin": "https://example.com/admin", "port": "8081", "name": "web-r3", "ip": "203.0.113.7",
		"path": "443", "yaml": "- a", "missing": "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestOutputErrorsNameTheOutput(t *testing.T) {
	cases := map[string]struct {
		flags   []string
		parse   bool // the error comes from parsing, before the cluster
		message string
	}{
		"syntax":      {flags: []string{"ip={{ .Values.x "}, parse: true, message: "output ip:"},
		"no-equals":   {flags: []string{"justaname"}, parse: true, message: `--output "justaname": want NAME=TEMPLATE`},
		"bad-name":    {flags: []string{"9lives=x"}, parse: true, message: `output name "9lives"`},
		"env-refused": {flags: []string{`home={{ env "HOME" }}`}, parse: true, message: `function "env" not defined`},
		"exec-error":  {flags: []string{`ip={{ index .Values.list 5 }}`}, message: "output ip:"},
		"required":    {flags: []string{`ip={{ required "no ip yet" .Values.ip }}`}, message: "no ip yet"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			outputs, err := parseOutputs(tc.flags, "")
			if tc.parse {
				if !errors.Is(err, errInvalidSpec) || !strings.Contains(err.Error(), tc.message) {
					t.Errorf("parse err = %v, want %q", err, tc.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = renderOutputs(outputs, newOutputData(ReleaseInfo{}, map[string]any{"list": []any{}}, nil), nil)
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("render err = %v, want %q", err, tc.message)
			}
		})
	}
}
