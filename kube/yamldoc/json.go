package yamldoc

import (
	"bytes"
	"errors"
	"sync"

	"sigs.k8s.io/yaml"
)

// ToJSON converts a YAML stream into a stream of JSON documents, one per
// line: the documents, in order and byte for byte, that apimachinery's
// YAML-or-JSON decoder gives for data, without the empty ones (null) that
// kubectl's builder skips. Documents are converted by up to workers
// goroutines: the conversion (sigs.k8s.io/yaml) is most of the CPU of
// building a large manifest, and a large manifest is built while nothing
// else runs. A stream that starts as JSON, which the decoder reads as JSON,
// is refused, as is any document that does not convert or is not a
// mapping; the caller builds the original stream then.
func ToJSON(data []byte, workers int) ([]byte, error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return nil, errors.New("a JSON stream")
	}
	docs, err := Split(data)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(docs))
	errs := make([]error, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(workers, len(docs))) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = yaml.YAMLToJSON(docs[i])
			}
		})
	}
	size := 0
	for i := range docs {
		next <- i
		size += len(docs[i])
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size)
	for _, j := range out {
		if j = bytes.TrimSpace(j); len(j) == 0 || string(j) == "null" {
			continue
		}
		if j[0] != '{' {
			// The decoder reads a stream as JSON only when it starts
			// with an object; a scalar or a list is no object anyway.
			return nil, errors.New("a document that is not a mapping")
		}
		buf = append(append(buf, j...), '\n')
	}
	return buf, nil
}
