package chart

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/strvals"
)

// ErrInvalidValues is a values input that does not parse.
var ErrInvalidValues = errors.New("invalid values")

// Values are the user's values, layered in Helm's order: --values files,
// then --secret-values files, then --set-json, --set, --set-string and
// --set-file, later layers winning. Helm's own parsers do the work.
type Values struct {
	Files []string // -f/--values: YAML files
	// Inline values (a plan's values:), layered after Files and before
	// SecretFiles.
	Inline      map[string]any
	SecretFiles []string // --secret-values: YAML files whose every string is a secret
	Set         []string // --set a.b=c
	SetString   []string // --set-string
	SetFile     []string // --set-file key=path
	SetJSON     []string // --set-json key=<json> or a JSON object
}

// sensitiveKey matches value keys whose string values are treated as
// secrets even when not given through --secret-values.
var sensitiveKey = regexp.MustCompile(`(?i)(password|passwd|secret|token|apikey|api_key|accesskey|access_key|privatekey|private_key|credential)`)

// Merge validates each input on its own, so an error names the input, then
// layers them. It returns the merged values and the strings in them that
// are secrets.
func (v Values) Merge() (map[string]any, []string, error) {
	if err := v.check(); err != nil {
		return nil, nil, err
	}
	files := append([]string{}, v.Files...)
	if v.Inline != nil {
		// Helm's merge reads files: the inline layer becomes one, private
		// to this process and removed at once.
		path, err := writeInline(v.Inline)
		if err != nil {
			return nil, nil, err
		}
		defer os.Remove(path)
		files = append(files, path)
	}
	opts := values.Options{
		ValueFiles:   append(files, v.SecretFiles...),
		Values:       v.Set,
		StringValues: v.SetString,
		FileValues:   v.SetFile,
		JSONValues:   v.SetJSON,
	}
	// No getters: values come from local files only, never a URL.
	merged, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidValues, err)
	}
	var secrets []string
	for _, path := range v.SecretFiles {
		data, _ := os.ReadFile(path) // read and parsed by check already
		layer, _ := loader.LoadValues(bytes.NewReader(data))
		collectStrings(layer, func(_, s string) { secrets = append(secrets, s) })
	}
	collectStrings(merged, func(key, s string) {
		if sensitiveKey.MatchString(key) {
			secrets = append(secrets, s)
		}
	})
	return merged, secrets, nil
}

// writeInline writes inline values to a new private temporary file.
func writeInline(inline map[string]any) (string, error) {
	data, err := yaml.Marshal(inline)
	if err != nil {
		return "", fmt.Errorf("%w: values: %v", ErrInvalidValues, err)
	}
	f, err := os.CreateTemp("", "hookrunner-values-*.yaml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// check parses every input alone to name the one that is wrong. Messages
// name keys and files, never values.
func (v Values) check() error {
	for _, group := range []struct {
		flag  string
		files []string
	}{{"--values", v.Files}, {"--secret-values", v.SecretFiles}} {
		for _, path := range group.files {
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("%w: %s %s: %v", ErrInvalidValues, group.flag, path, errors.Unwrap(err))
			}
			if _, err := loader.LoadValues(bytes.NewReader(data)); err != nil {
				return fmt.Errorf("%w: %s %s: not a YAML map: %v", ErrInvalidValues, group.flag, path, yamlReason(err))
			}
		}
	}
	for _, entry := range v.SetJSON {
		trimmed := strings.TrimSpace(entry)
		var err error
		if strings.HasPrefix(trimmed, "{") {
			err = json.Unmarshal([]byte(trimmed), new(map[string]any))
		} else {
			err = strvals.ParseJSON(entry, map[string]any{})
		}
		if err != nil {
			return fmt.Errorf("%w: --set-json %s: not key=<JSON> or a JSON object", ErrInvalidValues, keyOf(entry))
		}
	}
	for _, group := range []struct {
		flag    string
		entries []string
		parse   func(string, map[string]any) error
	}{
		{"--set", v.Set, strvals.ParseInto},
		{"--set-string", v.SetString, strvals.ParseIntoString},
	} {
		for _, entry := range group.entries {
			if err := group.parse(entry, map[string]any{}); err != nil {
				return fmt.Errorf("%w: %s %s: %v", ErrInvalidValues, group.flag, keyOf(entry), err)
			}
		}
	}
	for _, entry := range v.SetFile {
		key, path, ok := strings.Cut(entry, "=")
		if !ok || key == "" || path == "" {
			return fmt.Errorf("%w: --set-file %s: want key=path", ErrInvalidValues, keyOf(entry))
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%w: --set-file %s: %v", ErrInvalidValues, key, err)
		}
		if err := strvals.ParseIntoFile(entry, map[string]any{}, func([]rune) (any, error) { return "", nil }); err != nil {
			return fmt.Errorf("%w: --set-file %s: %v", ErrInvalidValues, key, err)
		}
	}
	return nil
}

// keyOf is the key part of a key=value entry, quoted, for messages.
func keyOf(entry string) string {
	key, _, _ := strings.Cut(entry, "=")
	if len(key) > 80 {
		key = key[:80] + "…"
	}
	return fmt.Sprintf("%q", key)
}

// yamlReason keeps the line number of a YAML error and drops any quoted
// content, which may be a secret.
func yamlReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		msg = msg[i:]
	}
	if i := strings.IndexAny(msg, "`\""); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return msg
}

// collectStrings calls fn for every string leaf of v with the key that
// holds it.
func collectStrings(v any, fn func(key, s string)) {
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, e := range t {
				walk(k, e)
			}
		case []any:
			for _, e := range t {
				walk(key, e)
			}
		case string:
			fn(key, t) // the Redactor ignores strings shorter than redact.MinLen
		}
	}
	walk("", v)
}

// ConfigHash identifies what an install asks for: the chart digest and the
// user values. Stored as a release label, it makes a re-run with the same
// inputs a no-op. 40 hex digits keep it within a label value's 63 bytes.
func ConfigHash(digest string, vals map[string]any) (string, error) {
	data, err := json.Marshal(vals) // map keys marshal sorted: canonical
	if err != nil {
		return "", fmt.Errorf("%w: values do not encode as JSON: %v", ErrInvalidValues, err)
	}
	h := sha256.New()
	h.Write([]byte(digest))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))[:40], nil
}
