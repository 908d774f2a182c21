package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hookrunner/hookrunner/kube/yamldoc"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// CRD is one CustomResourceDefinition of a chart's crds/. Its name is read
// from the document's header; the document itself is parsed only when
// Object is first called. A chart's CRDs are large (kube-prometheus-stack's
// hold 3 MB of YAML, about 0.3 s of CPU to parse), and a re-run with
// nothing to do needs only their names: the run that installed the same
// chart parsed them already.
type CRD struct {
	// Name is the CRD's metadata.name.
	Name string
	// File is the chart path of the crds/ file that holds it.
	File string

	chart string
	doc   []byte
	once  sync.Once
	obj   *unstructured.Unstructured
	err   error
}

// Object is the CRD parsed (once; safe for concurrent use).
func (c *CRD) Object() (*unstructured.Unstructured, error) {
	c.once.Do(func() {
		if c.obj != nil {
			return
		}
		obj, err := parseCRD(c.chart, c.File, c.doc)
		switch {
		case err != nil:
			c.err = err
		case obj == nil || obj.GetName() != c.Name:
			c.err = fmt.Errorf("%w: chart %s: %s: the CustomResourceDefinition whose header names it %q parses otherwise", ErrUnavailable, c.chart, c.File, c.Name)
		default:
			c.obj, c.doc = obj, nil
		}
	})
	return c.obj, c.err
}

// CRDs returns the CustomResourceDefinitions in the crds/ directories of
// the chart and of the subcharts that vals enable, in Helm's order. A
// document whose header does not name a CustomResourceDefinition plainly
// is parsed at once, so what is not a CRD is refused here. The chart
// itself is left as it was (Helm processes its dependencies again when it
// installs).
func (l *Loaded) CRDs(vals map[string]any) ([]*CRD, error) {
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
	var out []*CRD
	for _, f := range copied.CRDObjects() {
		docs, err := yamldoc.Split(f.File.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: chart %s: %s: %v", ErrUnavailable, l.Chart.Name(), f.Filename, err)
		}
		for _, doc := range docs {
			if name, ok := crdHeader(doc); ok {
				out = append(out, &CRD{Name: name, File: f.Filename, chart: l.Chart.Name(), doc: doc})
				continue
			}
			obj, err := parseCRD(l.Chart.Name(), f.Filename, doc)
			if err != nil {
				return nil, err
			}
			if obj != nil {
				out = append(out, &CRD{Name: obj.GetName(), File: f.Filename, obj: obj})
			}
		}
	}
	return out, nil
}

// parseCRD parses one document of a crds/ file: nil when it is empty, an
// error unless it is a named CustomResourceDefinition.
func parseCRD(chart, file string, doc []byte) (*unstructured.Unstructured, error) {
	var obj map[string]any
	err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096).Decode(&obj)
	if errors.Is(err, io.EOF) || err == nil && len(obj) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: chart %s: %s: %v", ErrUnavailable, chart, file, err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GetKind() != "CustomResourceDefinition" || u.GetName() == "" {
		return nil, fmt.Errorf("%w: chart %s: %s holds a %s %q; crds/ may hold only CustomResourceDefinitions", ErrUnavailable, chart, file, u.GetKind(), u.GetName())
	}
	return u, nil
}

// crdHeader reads, without parsing the document, the name of a
// CustomResourceDefinition written in block style (see yamldoc.ReadHeader).
// Anything else is not ok, and the document is parsed instead.
func crdHeader(doc []byte) (string, bool) {
	h, ok := yamldoc.ReadHeader(doc)
	if !ok || h.Kind != "CustomResourceDefinition" {
		return "", false
	}
	return h.Name, true
}
