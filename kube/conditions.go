// The wait condition grammar: what --wait-for and --wait-for-file accept
// (user input). The waiter that evaluates conditions lives in wait.go.

package kube

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"
)

// Operators of a wait condition.
const (
	OpExists    = "Exists"    // the path (or, without a path, the object) exists
	OpNotEmpty  = "NotEmpty"  // the path exists and renders to a non-empty string
	OpEquals    = "Equals"    // the path renders to Value
	OpNotEquals = "NotEquals" // the path exists and does not render to Value
	OpMatches   = "Matches"   // the path renders to a match of the regular expression Value
)

// ErrInvalidCondition is a wait condition that cannot be right.
var ErrInvalidCondition = errors.New("invalid wait condition")

// Condition is something that must hold in the cluster before the release
// counts as usable: a JSONPath of an object (by name) or of every object
// (by label selector) compared with an operator.
type Condition struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name,omitempty"`
	Selector   string `json:"selector,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	JSONPath   string `json:"jsonPath,omitempty"`
	Operator   string `json:"operator,omitempty"`
	Value      string `json:"value,omitempty"`
	Timeout    string `json:"timeout,omitempty"`

	path    *jsonpath.JSONPath
	re      *regexp.Regexp
	timeout time.Duration
}

// ParseConditions reads a YAML list of conditions (--wait-for-file) and
// validates each; errors name the entry.
func ParseConditions(data []byte, source string) ([]Condition, error) {
	var conds []Condition
	if err := yaml.UnmarshalStrict(data, &conds); err != nil {
		return nil, fmt.Errorf("%w: %s: not a YAML list of conditions: %v", ErrInvalidCondition, source, err)
	}
	for i := range conds {
		if err := conds[i].validate(); err != nil {
			return nil, fmt.Errorf("%s entry %d: %w", source, i+1, err)
		}
	}
	return conds, nil
}

// ParseCondition reads the compact form of --wait-for:
//
//	[apiVersion:]Kind/name key=value… [Operator]
//	[apiVersion:]Kind key=value… (with selector=…)
//
// where the keys are jsonpath, namespace, selector, value and timeout, and
// Operator one of Exists, NotEmpty, Equals, NotEquals, Matches. Values
// cannot hold spaces: use --wait-for-file for those.
func ParseCondition(s string) (Condition, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Condition{}, fmt.Errorf("%w: --wait-for is empty", ErrInvalidCondition)
	}
	var c Condition
	target := fields[0]
	if i := strings.LastIndex(target, ":"); i > 0 {
		c.APIVersion, target = target[:i], target[i+1:]
	}
	c.Kind, c.Name, _ = strings.Cut(target, "/")
	for _, f := range fields[1:] {
		key, value, ok := strings.Cut(f, "=")
		if !ok {
			c.Operator = f
			continue
		}
		switch strings.ToLower(key) {
		case "jsonpath":
			c.JSONPath = value
		case "namespace":
			c.Namespace = value
		case "selector":
			c.Selector = value
		case "value":
			c.Value = value
		case "timeout":
			c.Timeout = value
		default:
			return Condition{}, fmt.Errorf("%w: --wait-for %q: unknown key %q (want jsonpath, namespace, selector, value, timeout)", ErrInvalidCondition, s, key)
		}
	}
	if err := c.validate(); err != nil {
		return Condition{}, fmt.Errorf("--wait-for %q: %w", s, err)
	}
	return c, nil
}

func (c *Condition) validate() error {
	switch {
	case c.Kind == "":
		return fmt.Errorf("%w: no kind", ErrInvalidCondition)
	case c.Name == "" && c.Selector == "":
		return fmt.Errorf("%w: %s: give a name or a selector", ErrInvalidCondition, c.Kind)
	case c.Name != "" && c.Selector != "":
		return fmt.Errorf("%w: %s: give a name or a selector, not both", ErrInvalidCondition, c.Kind)
	}
	if c.Selector != "" {
		if _, err := labels.Parse(c.Selector); err != nil {
			return fmt.Errorf("%w: selector %q: %v", ErrInvalidCondition, c.Selector, err)
		}
	}
	if c.Operator == "" {
		c.Operator = OpExists
		if c.JSONPath != "" {
			c.Operator = OpNotEmpty
		}
	}
	switch c.Operator {
	case OpExists, OpNotEmpty, OpEquals, OpNotEquals, OpMatches:
	default:
		return fmt.Errorf("%w: operator %q: want Exists, NotEmpty, Equals, NotEquals or Matches", ErrInvalidCondition, c.Operator)
	}
	if c.JSONPath == "" && c.Operator != OpExists {
		return fmt.Errorf("%w: operator %s needs a jsonPath", ErrInvalidCondition, c.Operator)
	}
	if c.JSONPath != "" {
		c.JSONPath = NormalizeJSONPath(c.JSONPath)
		c.path = jsonpath.New("condition").AllowMissingKeys(true)
		if err := c.path.Parse(c.JSONPath); err != nil {
			return fmt.Errorf("%w: jsonPath %q: %v", ErrInvalidCondition, c.JSONPath, err)
		}
	}
	if c.Operator == OpMatches {
		re, err := regexp.Compile(c.Value)
		if err != nil {
			return fmt.Errorf("%w: value %q is not a regular expression: %v", ErrInvalidCondition, c.Value, err)
		}
		c.re = re
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: timeout %q: want a positive duration such as 5m", ErrInvalidCondition, c.Timeout)
		}
		c.timeout = d
	}
	return nil
}

// NormalizeJSONPath accepts kubectl's {.a.b}, ROS WaitUntil's $.a.b, and a
// bare .a.b, and returns kubectl's form.
func NormalizeJSONPath(p string) string {
	p = strings.TrimSpace(p)
	switch {
	case strings.HasPrefix(p, "{"):
		return p
	case strings.HasPrefix(p, "$"):
		return "{" + p[1:] + "}"
	case strings.HasPrefix(p, "."), strings.HasPrefix(p, "["):
		return "{" + p + "}"
	}
	return "{." + p + "}"
}

// String names the condition for messages: Kind[.group]/namespace/name, the
// path, the operator and the value.
func (c Condition) String() string {
	var b strings.Builder
	b.WriteString(c.Kind)
	if g := groupOf(c.APIVersion); g != "" {
		b.WriteString("." + g)
	}
	if c.Namespace != "" {
		b.WriteString("/" + c.Namespace)
	}
	if c.Name != "" {
		b.WriteString("/" + c.Name)
	} else {
		b.WriteString(" -l " + c.Selector)
	}
	if c.JSONPath != "" {
		b.WriteString(" " + c.JSONPath)
	}
	b.WriteString(" " + c.Operator)
	if c.Operator == OpEquals || c.Operator == OpNotEquals || c.Operator == OpMatches {
		fmt.Fprintf(&b, " %q", c.Value)
	}
	return b.String()
}

func groupOf(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}
