package yamldoc

import (
	"strconv"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
)

// maxDepth bounds the nesting Object converts; deeper documents go through
// sigs.k8s.io/yaml, whose JSON decoder has its own limit.
const maxDepth = 1000

// Object decodes one YAML document into the map that sigs.k8s.io/yaml's
// Unmarshal gives for a map[string]any target (the same go-yaml v2 parse,
// keys made strings, every number a float64), without the JSON text that
// function writes and reads back: on a large document (argo-cd's 1.4 MB
// CRD) that round trip is about half of the CPU of decoding it.
//
// ok is false whenever the round trip could answer otherwise or fail: a
// document go-yaml refuses, one that is not a mapping, NaN or an
// infinity, a key that is not a string, number or bool, two keys that
// become the same string, a string that is not valid UTF-8, a value of
// another type, or nesting deeper than maxDepth. The caller then decodes
// the document with sigs.k8s.io/yaml, which gives the answer or the error.
// An empty document is nil and ok.
func Object(doc []byte) (obj map[string]any, ok bool) {
	var v any
	if err := yamlv2.Unmarshal(doc, &v); err != nil {
		return nil, false
	}
	if v == nil {
		return nil, true
	}
	if _, isMap := v.(map[any]any); !isMap {
		return nil, false
	}
	out, ok := jsonable(v, 0)
	if !ok {
		return nil, false
	}
	return out.(map[string]any), true
}

// jsonable is v as encoding/json decodes the JSON that json.Marshal writes
// for sigs.k8s.io/yaml's conversion of v; ok is false where that is not
// certain.
func jsonable(v any, depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	switch v := v.(type) {
	case nil, bool:
		return v, true
	case string:
		return v, utf8.ValidString(v)
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		// json.Marshal writes the shortest text that parses back to v,
		// and refuses NaN and the infinities.
		if v != v || v > maxFloat || v < -maxFloat {
			return nil, false
		}
		return v, true
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, ok := jsonable(e, depth+1)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			key, ok := keyString(k)
			if !ok {
				return nil, false
			}
			c, ok := jsonable(e, depth+1)
			if !ok {
				return nil, false
			}
			out[key] = c
		}
		// Keys such as 1 and "1" become one: which value wins depends on
		// map order in sigs.k8s.io/yaml.
		return out, len(out) == len(v)
	}
	return nil, false
}

const maxFloat = 1.7976931348623157e308

// keyString is the JSON key sigs.k8s.io/yaml makes of a YAML map key.
func keyString(k any) (string, bool) {
	switch k := k.(type) {
	case string:
		return k, utf8.ValidString(k)
	case int:
		return strconv.Itoa(k), true
	case int64:
		return strconv.FormatInt(k, 10), true
	case float64:
		s := strconv.FormatFloat(k, 'g', -1, 32)
		switch s {
		case "+Inf":
			s = ".inf"
		case "-Inf":
			s = "-.inf"
		case "NaN":
			s = ".nan"
		}
		return s, true
	case bool:
		return strconv.FormatBool(k), true
	}
	return "", false
}
