package chart_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hookrunner/hookrunner/chart"
)

// Layers apply in Helm's order, later winning: files, secret files,
// --set-json, --set, --set-string, --set-file.
func TestValuesPrecedence(t *testing.T) {
	v := chart.Values{
		Files:       []string{"testdata/base.yaml"},
		SecretFiles: []string{"testdata/secret.yaml"},
		SetJSON:     []string{`extra={"a":[1,2]}`, `message="json"`},
		Set:         []string{"replicaCount=3,message=set", "image.tag=2.0"},
		SetString:   []string{"image.tag=3.0"},
		SetFile:     []string{"motd=testdata/motd.txt"},
	}
	got, secrets, err := v.Merge()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"replicaCount": int64(3),
		"message":      "set",
		"image":        map[string]any{"tag": "3.0"},
		"db":           map[string]any{"user": "admin-user", "pass": "canary-secret-values-pw"},
		"extra":        map[string]any{"a": []any{float64(1), float64(2)}},
		"motd":         "file-content\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged values (-want +got):\n%s", diff)
	}
	for _, s := range []string{"canary-secret-values-pw", "admin-user"} {
		if !contains(secrets, s) {
			t.Errorf("secrets %q lack %q (every string of --secret-values is secret)", secrets, s)
		}
	}
}

func TestSensitiveKeysAreSecrets(t *testing.T) {
	_, secrets, err := chart.Values{Set: []string{"auth.adminPassword=canary-pw-1", "apiToken=canary-tok-2", "name=public-name"}}.Merge()
	if err != nil {
		t.Fatal(err)
	}
	if !contains(secrets, "canary-pw-1") || !contains(secrets, "canary-tok-2") || contains(secrets, "public-name") {
		t.Errorf("secrets = %q", secrets)
	}
}

func TestValuesErrorsNameTheInput(t *testing.T) {
	cases := map[string]struct {
		v   chart.Values
		msg string
	}{
		"missing-file":   {chart.Values{Files: []string{"testdata/absent.yaml"}}, "--values testdata/absent.yaml: no such file"},
		"broken-yaml":    {chart.Values{Files: []string{"testdata/broken.yaml"}}, "--values testdata/broken.yaml: not a YAML map"},
		"broken-secret":  {chart.Values{SecretFiles: []string{"testdata/broken.yaml"}}, "--secret-values testdata/broken.yaml"},
		"set-syntax":     {chart.Values{Set: []string{"a[x]=canary-x"}}, `--set "a[x]": error parsing index`},
		"set-no-value":   {chart.Values{Set: []string{"justakey"}}, `--set "justakey"`},
		"set-string":     {chart.Values{SetString: []string{"a[-1]=v"}}, `--set-string "a[-1]": negative -1 index`},
		"set-json":       {chart.Values{SetJSON: []string{`cfg={"a":`}}, `--set-json "cfg": not key=<JSON>`},
		"set-json-obj":   {chart.Values{SetJSON: []string{`{"a":`}}, `--set-json "{\"a\":"`},
		"set-file-form":  {chart.Values{SetFile: []string{"nofile"}}, `--set-file "nofile": want key=path`},
		"set-file-where": {chart.Values{SetFile: []string{"k=testdata/absent.txt"}}, "--set-file k: stat testdata/absent.txt"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := tc.v.Merge()
			if !errors.Is(err, chart.ErrInvalidValues) {
				t.Fatalf("err = %v, want ErrInvalidValues", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to say %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), "canary") {
				t.Errorf("error shows a value: %q", err)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
