package yamldoc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Split splits a YAML stream into its documents, without parsing them: the
// documents apimachinery's YAMLReader returns, byte for byte, found without
// copying each line as it does (on argo-cd's 5 MB manifest, and on
// kube-prometheus-stack's 3 MB of crds/, reading lines into buffers cost
// more CPU than parsing the YAML). The documents share data's memory. A
// stream with carriage returns, which the reader turns into plain line
// ends, goes through the reader itself.
func Split(data []byte) ([][]byte, error) {
	if bytes.IndexByte(data, '\r') >= 0 {
		return splitByReader(data)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		// The reader ends every line with one.
		data = append(data[:len(data):len(data)], '\n')
	}
	var docs [][]byte
	start := 0 // where the current document began
	for pos := 0; pos < len(data); {
		end := pos + bytes.IndexByte(data[pos:], '\n') + 1
		if line := data[pos:end]; bytes.HasPrefix(line, separator) {
			// As the reader: only blanks or a comment may follow; a
			// separator ends a document, or begins the first one.
			if rest := strings.TrimSpace(string(line[len(separator):])); rest != "" && rest[0] != '#' {
				return nil, fmt.Errorf("invalid Yaml document separator: %s", rest)
			}
			if pos > start {
				docs = append(docs, data[start:pos:pos])
				start = end
			}
		}
		pos = end
	}
	if start < len(data) {
		docs = append(docs, data[start:])
	}
	return docs, nil
}

var separator = []byte("---")

// splitByReader is Split by apimachinery's YAMLReader.
func splitByReader(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}
