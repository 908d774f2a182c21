// Package plan reads a release plan: several releases installed by one
// run, ordered by what each needs. It parses and validates the file (every
// error names the entry), resolves needs, and orders the releases; it
// touches no cluster and runs nothing. runner runs the releases.
package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// ErrInvalid is a plan that cannot be run: a file that does not parse, an
// unknown key, a release without a name or chart, two releases with one
// name and namespace, a need that names nothing or more than one release,
// or a cycle.
var ErrInvalid = errors.New("invalid plan")

// Plan is a plan file.
type Plan struct {
	Releases []Release `json:"releases"`
	// Outputs are templates, as --outputs-file, that see
	// .Releases.<name>.{Release,Values,Conditions}.
	Outputs map[string]string `json:"outputs,omitempty"`

	// source names the file in messages.
	source string
}

// Release is one entry of a plan. Keys left out take the command line's
// value; a key given replaces it (lists included).
type Release struct {
	Name            string `json:"name"`
	Namespace       string `json:"namespace,omitempty"`
	CreateNamespace *bool  `json:"createNamespace,omitempty"`

	// The chart: any source install accepts.
	Chart       string `json:"chart"`
	Version     string `json:"version,omitempty"`
	Repo        string `json:"repo,omitempty"`
	ChartDigest string `json:"chartDigest,omitempty"`

	// Values, layered as install's: valuesFiles, values, secretValuesFiles,
	// then the --set family.
	Values            map[string]any `json:"values,omitempty"`
	ValuesFiles       []string       `json:"valuesFiles,omitempty"`
	SecretValuesFiles []string       `json:"secretValuesFiles,omitempty"`
	Set               []string       `json:"set,omitempty"`
	SetString         []string       `json:"setString,omitempty"`
	SetFile           []string       `json:"setFile,omitempty"`
	SetJSON           []string       `json:"setJSON,omitempty"`

	// Install flags that make sense per release.
	Wait              string   `json:"wait,omitempty"`
	WaitForJobs       *bool    `json:"waitForJobs,omitempty"`
	WaitFor           []any    `json:"waitFor,omitempty"` // conditions, as --wait-for-file
	CRDs              string   `json:"crds,omitempty"`
	Drift             string   `json:"drift,omitempty"`
	DriftIgnore       []string `json:"driftIgnore,omitempty"`
	OnFailed          string   `json:"onFailed,omitempty"`
	ServerSide        string   `json:"serverSide,omitempty"`
	ForceConflicts    *bool    `json:"forceConflicts,omitempty"`
	TakeOwnership     *bool    `json:"takeOwnership,omitempty"`
	RollbackOnFailure *bool    `json:"rollbackOnFailure,omitempty"`
	HistoryMax        *int     `json:"historyMax,omitempty"`

	// Needs name releases of this plan that must be deployed, and their
	// waits hold, before this one starts: "name", or "namespace/name"
	// when a name is used in more than one namespace.
	Needs []string `json:"needs,omitempty"`
}

// Key is "namespace/name", unique in a valid plan.
func (r Release) Key() string { return r.Namespace + "/" + r.Name }

// Load reads and validates the plan file at path. Releases without a
// namespace get defaultNamespace; relative chart paths and values files
// are taken relative to the plan file's directory.
func Load(path, defaultNamespace string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --plan %s: %v", ErrInvalid, path, errors.Unwrap(err))
	}
	p, err := Parse(data, "--plan "+path, defaultNamespace)
	if err != nil {
		return nil, err
	}
	p.resolvePaths(filepath.Dir(path))
	return p, nil
}

// Parse validates a plan read from source (named in messages).
func Parse(data []byte, source, defaultNamespace string) (*Plan, error) {
	// Each release is decoded on its own, so an unknown key is reported
	// with the entry it is in.
	var raw struct {
		Releases []json.RawMessage `json:"releases"`
		Outputs  map[string]string `json:"outputs,omitempty"`
	}
	if err := yaml.UnmarshalStrict(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, source, strictReason(err))
	}
	if len(raw.Releases) == 0 {
		return nil, fmt.Errorf("%w: %s: no releases", ErrInvalid, source)
	}
	p := &Plan{source: source, Outputs: raw.Outputs, Releases: make([]Release, len(raw.Releases))}
	seen := map[string]int{}
	for i := range p.Releases {
		r := &p.Releases[i]
		dec := json.NewDecoder(bytes.NewReader(raw.Releases[i]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(r); err != nil {
			return nil, fmt.Errorf("%w: %s: releases[%d]: %s", ErrInvalid, source, i, strictReason(err))
		}
		if r.Namespace == "" {
			r.Namespace = defaultNamespace
		}
		if err := p.check(i); err != nil {
			return nil, err
		}
		if j, dup := seen[r.Key()]; dup {
			return nil, fmt.Errorf("%w: %s: %s: release %s is also %s", ErrInvalid, source, p.entry(i), r.Key(), p.entry(j))
		}
		seen[r.Key()] = i
	}
	if _, err := p.Order(); err != nil {
		return nil, err
	}
	return p, nil
}

// entry names release i in messages: releases[i] (name).
func (p *Plan) entry(i int) string {
	return fmt.Sprintf("releases[%d] (%s)", i, p.Releases[i].Name)
}

// check validates one release on its own.
func (p *Plan) check(i int) error {
	r := p.Releases[i]
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s: %s", ErrInvalid, p.source, p.entry(i), fmt.Sprintf(format, args...))
	}
	if r.Name == "" {
		return fmt.Errorf("%w: %s: releases[%d]: no name", ErrInvalid, p.source, i)
	}
	if err := chartutil.ValidateReleaseName(r.Name); err != nil {
		return bad("name %q: %v", r.Name, err)
	}
	if errs := validation.IsDNS1123Label(r.Namespace); len(errs) > 0 {
		return bad("namespace %q: %s", r.Namespace, errs[0])
	}
	if strings.TrimSpace(r.Chart) == "" {
		return bad("no chart")
	}
	for _, n := range r.Needs {
		if strings.TrimSpace(n) == "" {
			return bad("an empty entry in needs")
		}
	}
	return nil
}

// resolve finds the release a need names; errors say why it names none
// or more than one.
func (p *Plan) resolve(i int, need string) (int, error) {
	var found []int
	for j, r := range p.Releases {
		if need == r.Key() || !strings.Contains(need, "/") && need == r.Name {
			found = append(found, j)
		}
	}
	switch {
	case len(found) == 0:
		return 0, fmt.Errorf("%w: %s: %s: needs %q: no release of this plan has that name", ErrInvalid, p.source, p.entry(i), need)
	case len(found) > 1:
		return 0, fmt.Errorf("%w: %s: %s: needs %q: several releases have that name; write namespace/name", ErrInvalid, p.source, p.entry(i), need)
	case found[0] == i:
		return 0, fmt.Errorf("%w: %s: %s: needs itself", ErrInvalid, p.source, p.entry(i))
	}
	return found[0], nil
}

// Needs returns, for each release, the indexes of the releases it needs.
func (p *Plan) Needs() ([][]int, error) {
	needs := make([][]int, len(p.Releases))
	for i, r := range p.Releases {
		for _, n := range r.Needs {
			j, err := p.resolve(i, strings.TrimSpace(n))
			if err != nil {
				return nil, err
			}
			needs[i] = append(needs[i], j)
		}
	}
	return needs, nil
}

// Order returns the release indexes in an order where every release comes
// after all it needs (ties in file order), or an error naming a cycle.
func (p *Plan) Order() ([]int, error) {
	needs, err := p.Needs()
	if err != nil {
		return nil, err
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(needs))
	var (
		order []int
		stack []int
		visit func(i int) error
	)
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			start := 0
			for k, s := range stack {
				if s == i {
					start = k
				}
			}
			names := []string{}
			for _, s := range append(stack[start:], i) {
				names = append(names, p.Releases[s].Name)
			}
			return fmt.Errorf("%w: %s: %s: needs form a cycle: %s", ErrInvalid, p.source, p.entry(i), strings.Join(names, " → "))
		}
		state[i] = visiting
		stack = append(stack, i)
		deps := append([]int(nil), needs[i]...)
		sort.Ints(deps)
		for _, j := range deps {
			if err := visit(j); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
		order = append(order, i)
		return nil
	}
	for i := range needs {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// resolvePaths makes relative local chart paths and values files relative
// to dir, the plan file's directory.
func (p *Plan) resolvePaths(dir string) {
	abs := func(path string) string {
		if path == "" || filepath.IsAbs(path) || strings.Contains(path, "://") {
			return path
		}
		return filepath.Join(dir, path)
	}
	absAll := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, path := range paths {
			out[i] = abs(path)
		}
		return out
	}
	for i := range p.Releases {
		r := &p.Releases[i]
		if r.Repo == "" {
			r.Chart = abs(r.Chart)
		}
		r.ValuesFiles = absAll(r.ValuesFiles)
		r.SecretValuesFiles = absAll(r.SecretValuesFiles)
		for k, entry := range r.SetFile {
			if key, path, ok := strings.Cut(entry, "="); ok {
				r.SetFile[k] = key + "=" + abs(path)
			}
		}
	}
}

// strictReason shortens a YAML or strict-decoding error to what is wrong,
// without quoting values (which may be secrets).
func strictReason(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "json: ")
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("%s: want %s, not a %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	if strings.Contains(msg, "unknown field") {
		return msg
	}
	if i := strings.Index(msg, "line "); i >= 0 {
		msg = msg[i:]
	}
	return msg
}
