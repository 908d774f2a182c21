package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/kube"
)

// outputName is what an output may be called: it becomes a JSON key in
// callbacks and a stack output downstream.
var outputName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,62}$`)

// outputTemplate is one named output.
type outputTemplate struct {
	name string
	tmpl *template.Template
}

// parseOutputs reads --output NAME=TEMPLATE entries and an --outputs-file
// (a YAML map of name to template; entries given as flags win) and parses
// every template, so a syntax error is bad input found before the cluster
// is touched.
func parseOutputs(flags []string, file string) ([]outputTemplate, error) {
	sources, err := outputSources(flags, file)
	if err != nil {
		return nil, err
	}
	return parseOutputSources(sources)
}

// outputSources reads the output flags and file into a map of name to
// template, flags winning.
func outputSources(flags []string, file string) (map[string]string, error) {
	sources := map[string]string{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%w: --outputs-file %s: %v", errInvalidSpec, file, errors.Unwrap(err))
		}
		if err := yaml.UnmarshalStrict(data, &sources); err != nil {
			return nil, fmt.Errorf("%w: --outputs-file %s: not a YAML map of name to template: %v", errInvalidSpec, file, err)
		}
	}
	for _, f := range flags {
		name, text, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("%w: --output %q: want NAME=TEMPLATE", errInvalidSpec, name)
		}
		sources[strings.TrimSpace(name)] = text
	}
	return sources, nil
}

// parseOutputSources parses a map of output name to template.
func parseOutputSources(sources map[string]string) ([]outputTemplate, error) {
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]outputTemplate, 0, len(names))
	for _, name := range names {
		if !outputName.MatchString(name) {
			return nil, fmt.Errorf("%w: output name %q: want a letter, then letters, digits, '_', '-' or '.'", errInvalidSpec, name)
		}
		tmpl, err := template.New(name).Funcs(outputFuncs(nil)).Parse(sources[name])
		if err != nil {
			return nil, fmt.Errorf("%w: output %s: %v", errInvalidSpec, name, err)
		}
		out = append(out, outputTemplate{name: name, tmpl: tmpl})
	}
	return out, nil
}

// outputData is what an output template sees.
type outputData struct {
	// Release: Name, Namespace, Revision, Status, Chart, Version, AppVersion.
	Release map[string]any
	// Values are the chart's values with the user's applied, as the
	// chart's own templates saw them.
	Values map[string]any
	// Conditions are the wait conditions with what was observed of them:
	// Kind, Name, Namespace, Selector, JSONPath, Value.
	Conditions []map[string]any
}

func newOutputData(rel ReleaseInfo, values map[string]any, observed []kube.Observed) outputData {
	d := outputData{
		Release: map[string]any{
			"Name": rel.Name, "Namespace": rel.Namespace, "Revision": rel.Revision, "Status": rel.Status,
			"Chart": rel.Chart, "Version": rel.Version, "AppVersion": rel.AppVersion,
		},
		Values:     values,
		Conditions: []map[string]any{},
	}
	for _, o := range observed {
		c := o.Condition
		d.Conditions = append(d.Conditions, map[string]any{
			"Kind": c.Kind, "Name": c.Name, "Namespace": c.Namespace, "Selector": c.Selector,
			"JSONPath": c.JSONPath, "Value": o.Value,
		})
	}
	return d
}

// renderOutputs renders every output against the cluster of config.
func renderOutputs(outputs []outputTemplate, data any, config *rest.Config) (map[string]string, error) {
	funcs := outputFuncs(config)
	result := make(map[string]string, len(outputs))
	for _, o := range outputs {
		var buf bytes.Buffer
		if err := template.Must(o.tmpl.Clone()).Funcs(funcs).Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("output %s: %w", o.name, err)
		}
		result[o.name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return result, nil
}

// outputFuncs are Helm's template functions (sprig without env access,
// toYaml, toJson, fromYaml, fromJson, required, lookup) plus jsonpath.
// With a nil config, lookup is a placeholder for parsing.
func outputFuncs(config *rest.Config) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = func(v any) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	f["toJson"] = func(v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["fromYaml"] = func(s string) map[string]any {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJson"] = func(s string) map[string]any {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["required"] = func(msg string, v any) (any, error) {
		if v == nil || v == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["jsonpath"] = func(path string, obj any) (string, error) {
		jp := jsonpath.New("output").AllowMissingKeys(true)
		if err := jp.Parse(kube.NormalizeJSONPath(path)); err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := jp.Execute(&buf, obj); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	if config != nil {
		f["lookup"] = engine.NewLookupFunction(config)
	} else {
		f["lookup"] = func(string, string, string, string) (map[string]any, error) { return map[string]any{}, nil }
	}
	return f
}
