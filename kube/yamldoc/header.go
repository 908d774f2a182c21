// Package header reads what a Kubernetes object in a YAML document is
// (apiVersion, kind, name, namespace) without parsing the document: for
// documents so large (CRDs of a megabyte) that parsing them first would
// hold up work that needs only their identity.
package yamldoc

import "bytes"

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
	// Line by line over the bytes: a CRD of a megabyte is not copied into
	// a string to find its name.
	for line := range bytes.Lines(doc) {
		line = bytes.TrimRight(line, "\r\n")
		trimmed := bytes.TrimLeft(line, " ")
		if len(trimmed) == 0 || trimmed[0] == '#' || string(line) == "---" {
			continue
		}
		if bytes.IndexByte(line, '\t') >= 0 {
			return Header{}, false
		}
		depth := len(line) - len(trimmed)
		if depth == 0 {
			inMeta = false
			key, value, ok := bytes.Cut(line, []byte(":"))
			if !ok || bytes.ContainsAny(key, "{}[]&*!|>\"'? ") {
				return Header{}, false
			}
			value = bytes.TrimSpace(value)
			switch string(key) {
			case "apiVersion":
				if h.APIVersion, ok = scalar(string(value), isTypeRune); !ok {
					return Header{}, false
				}
				versions++
			case "kind":
				if h.Kind, ok = scalar(string(value), isTypeRune); !ok {
					return Header{}, false
				}
				kinds++
			case "metadata":
				if len(value) != 0 {
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
		key, value, ok := bytes.Cut(trimmed, []byte(":"))
		if !ok {
			continue
		}
		switch string(key) {
		case "name":
			if h.Name, ok = scalar(string(bytes.TrimSpace(value)), isNameRune); !ok {
				return Header{}, false
			}
			names++
		case "namespace":
			if h.Namespace, ok = scalar(string(bytes.TrimSpace(value)), isNameRune); !ok {
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
