// Package header reads what a Kubernetes object in a YAML document is
// (apiVersion, kind, name, namespace) without parsing the document: for
// documents so large (CRDs of a megabyte) that parsing them first would
// hold up work that needs only their identity.
package yamldoc

import "strings"

// Header is the identity of the object a document holds.
type Header struct {
	APIVersion, Kind, Name, Namespace string
}

// ReadHeader reads the header of doc when it is written in block style: top-level
// "apiVersion:", "kind:" and "metadata:" lines, each at most once (kind and
// metadata exactly once), and in the metadata block a first-level "name:"
// (exactly once) and "namespace:" (at most once), all plain or simply
// quoted scalars. Anything else (JSON, flow style, anchors, tags, block
// scalars, tabs, a key twice) is not ok: the caller must parse the
// document to know.
func ReadHeader(doc []byte) (Header, bool) {
	var (
		h                                  Header
		versions, kinds, metas, names, nss int
		inMeta                             bool
		indent                             = -1
	)
	for line := range strings.Lines(string(doc)) {
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || line == "---" {
			continue
		}
		if strings.ContainsRune(line, '\t') {
			return Header{}, false
		}
		depth := len(line) - len(trimmed)
		if depth == 0 {
			inMeta = false
			key, value, ok := strings.Cut(line, ":")
			if !ok || strings.ContainsAny(key, "{}[]&*!|>\"'? ") {
				return Header{}, false
			}
			value = strings.TrimSpace(value)
			switch key {
			case "apiVersion":
				if h.APIVersion, ok = scalar(value, isTypeRune); !ok {
					return Header{}, false
				}
				versions++
			case "kind":
				if h.Kind, ok = scalar(value, isTypeRune); !ok {
					return Header{}, false
				}
				kinds++
			case "metadata":
				if value != "" {
					return Header{}, false
				}
				inMeta, metas = true, metas+1
			}
			continue
		}
		if !inMeta {
			continue
		}
		if indent < 0 {
			indent = depth
		}
		if depth != indent {
			continue
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		switch key {
		case "name":
			if h.Name, ok = scalar(strings.TrimSpace(value), isNameRune); !ok {
				return Header{}, false
			}
			names++
		case "namespace":
			if h.Namespace, ok = scalar(strings.TrimSpace(value), isNameRune); !ok {
				return Header{}, false
			}
			nss++
		}
	}
	if versions > 1 || kinds != 1 || metas != 1 || names != 1 || nss > 1 {
		return Header{}, false
	}
	return h, true
}

// scalar is the value of a plain or simply quoted YAML scalar made only of
// runes ok accepts; false for anything a line alone cannot tell.
func scalar(v string, ok func(rune) bool) (string, bool) {
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		v = v[1 : len(v)-1]
	}
	if v == "" {
		return "", false
	}
	for _, r := range v {
		if !ok(r) {
			return "", false
		}
	}
	return v, true
}

// isNameRune: a DNS subdomain's runes (object names, namespaces).
func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.'
}

// isTypeRune: the runes of an apiVersion or a kind.
func isTypeRune(r rune) bool {
	return isNameRune(r) || r >= 'A' && r <= 'Z' || r == '/'
}
