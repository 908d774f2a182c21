package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// CRDs returns the CustomResourceDefinitions in the crds/ directories of
// the chart and of the subcharts that vals enable, in Helm's order, parsed.
// The chart itself is left as it was (Helm processes its dependencies
// again when it installs).
func (l *Loaded) CRDs(vals map[string]any) ([]*unstructured.Unstructured, error) {
	files := make([]*archive.BufferedFile, 0, len(l.Chart.Raw))
	for _, f := range l.Chart.Raw {
		files = append(files, &archive.BufferedFile{Name: f.Name, ModTime: f.ModTime, Data: f.Data})
	}
	copied, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("%w: chart %s: %v", ErrUnavailable, l.Chart.Name(), err)
	}
	if err := chartutil.ProcessDependencies(copied, vals); err != nil {
		return nil, fmt.Errorf("%w: chart %s: dependencies: %v", ErrInvalidValues, l.Chart.Name(), err)
	}
	var out []*unstructured.Unstructured
	for _, crd := range copied.CRDObjects() {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(crd.File.Data), 4096)
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%w: chart %s: %s: %v", ErrUnavailable, l.Chart.Name(), crd.Filename, err)
			}
			if len(obj) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: obj}
			if u.GetKind() != "CustomResourceDefinition" || u.GetName() == "" {
				return nil, fmt.Errorf("%w: chart %s: %s holds a %s %q; crds/ may hold only CustomResourceDefinitions", ErrUnavailable, l.Chart.Name(), crd.Filename, u.GetKind(), u.GetName())
			}
			out = append(out, u)
		}
	}
	return out, nil
}
