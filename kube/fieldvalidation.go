package kube

import (
	"encoding/json"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi/cached"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
)

// kubectlFactory is what kubectl's factory (the one Helm's client is made
// with) offers beyond Helm's Factory: what its strict validator is built
// from.
type kubectlFactory interface {
	DynamicClient() (dynamic.Interface, error)
	ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error)
	kubectlopenapi.OpenAPIResourcesGetter
}

// strictValidator is kubectl's strict validator (its Factory.Validator
// for "Strict", step for step) with one change: whether the API server
// takes fieldValidation for a kind is read by fieldValidationVerifier.
//
// That question is the strict validator's whole work on any API server
// since Kubernetes 1.27: the server validates fields itself, so the
// validator checks nothing client-side. kubectl's verifier answers it by
// decoding the group-version's whole OpenAPI v3 document, schemas and
// all, for each kind: argo-cd's install with --server-side=false decoded
// core/v1 four times, rbac/v1 four times, 0.24 s of CPU before its first
// object was written (Helm builds every manifest with validation on).
func strictValidator(f kubectlFactory) (validation.Schema, error) {
	dyn, err := f.DynamicClient()
	if err != nil {
		return nil, err
	}
	disc, err := f.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	clientSide := validation.ConjunctiveSchema{
		validation.NewSchemaValidation(f),
		validation.NoDoubleKeySchema{},
	}
	oapi := cached.NewClient(disc.OpenAPIV3())
	primary := newFieldValidationVerifier(oapi, resource.NewQueryParamVerifierV3(dyn, oapi, resource.QueryParamFieldValidation))
	secondary := resource.NewQueryParamVerifier(dyn, disc, resource.QueryParamFieldValidation)
	return validation.NewParamVerifyingSchema(clientSide, resource.NewFallbackQueryParamVerifier(primary, secondary), "Strict"), nil
}

// newFieldValidationVerifier reads documents from client (memory-cached:
// kubectl's verifier reads the same) and asks kubectl what it cannot
// answer.
func newFieldValidationVerifier(client openapi.Client, kubectl resource.Verifier) *fieldValidationVerifier {
	return &fieldValidationVerifier{
		client:  client,
		kubectl: kubectl,
		docs:    map[schema.GroupVersion]*patchParams{},
		cache:   map[schema.GroupVersionKind]error{},
	}
}

// fieldValidationVerifier says whether the API server's PATCH of a kind
// takes the fieldValidation query parameter, as kubectl's OpenAPI v3
// verifier does, from a decode of only the document's paths and
// parameters, once per group-version. Whatever it cannot answer that way
// (a group-version not in the document, as a CRD's just created; a
// document it cannot read; no PATCH of the kind in it; PATCHes of the
// kind that disagree) it asks kubectl's verifier, so those answers and
// their errors are kubectl's. Like kubectl's caching verifier, it keeps
// every answer for the run.
type fieldValidationVerifier struct {
	client  openapi.Client
	kubectl resource.Verifier

	mu    sync.Mutex
	docs  map[schema.GroupVersion]*patchParams
	cache map[schema.GroupVersionKind]error
}

// patchParams is, per kind of a group-version's document, whether its
// PATCH takes fieldValidation; disagree lists the kinds whose PATCHes
// answer differently (kubectl would take whichever it met first).
type patchParams struct {
	supports map[schema.GroupVersionKind]bool
	disagree map[schema.GroupVersionKind]bool
}

func (v *fieldValidationVerifier) HasSupport(gvk schema.GroupVersionKind) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err, ok := v.cache[gvk]; ok {
		return err
	}
	err := v.answer(gvk)
	v.cache[gvk] = err
	return err
}

func (v *fieldValidationVerifier) answer(gvk schema.GroupVersionKind) error {
	if (gvk == schema.GroupVersionKind{Version: "v1", Kind: "List"}) {
		return v.kubectl.HasSupport(gvk)
	}
	gv := gvk.GroupVersion()
	doc, ok := v.docs[gv]
	if !ok {
		doc = v.read(gv)
		v.docs[gv] = doc
	}
	if doc == nil || doc.disagree[gvk] {
		return v.kubectl.HasSupport(gvk)
	}
	supported, found := doc.supports[gvk]
	switch {
	case !found:
		return v.kubectl.HasSupport(gvk)
	case supported:
		return nil
	}
	return resource.NewParamUnsupportedError(gvk, resource.QueryParamFieldValidation)
}

// read is the group-version's PATCH parameters, or nil when its document
// cannot be had or read.
func (v *fieldValidationVerifier) read(gv schema.GroupVersion) *patchParams {
	paths, err := v.client.Paths()
	if err != nil {
		return nil
	}
	key := "apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		key = "api/" + gv.Version
	}
	gvc, ok := paths[key]
	if !ok {
		return nil
	}
	data, err := gvc.Schema(runtime.ContentTypeJSON)
	if err != nil {
		return nil
	}
	return patchParamsOf(data)
}

// patchDoc is what of an OpenAPI v3 document the verifier reads.
type patchDoc struct {
	Paths map[string]*struct {
		Patch *struct {
			GVK        json.RawMessage `json:"x-kubernetes-group-version-kind"`
			Parameters []oapiParam     `json:"parameters"`
		} `json:"patch"`
	} `json:"paths"`
	Components *struct {
		Parameters map[string]*oapiParam `json:"parameters"`
	} `json:"components"`
}

type oapiParam struct {
	Name string `json:"name"`
	In   string `json:"in"`
	Ref  string `json:"$ref"`
}

// patchParamsOf reads a document as kubectl's supportsQueryParamV3 does:
// a PATCH is a kind's when its x-kubernetes-group-version-kind names it;
// it takes the parameter when one of its parameters, or a global one its
// "#/parameters/" reference names, is the query parameter.
func patchParamsOf(data []byte) *patchParams {
	var doc patchDoc
	if err := json.Unmarshal(data, &doc); err != nil || doc.Paths == nil {
		return nil
	}
	out := &patchParams{supports: map[schema.GroupVersionKind]bool{}, disagree: map[schema.GroupVersionKind]bool{}}
	want := string(resource.QueryParamFieldValidation)
	for _, path := range doc.Paths {
		if path == nil || path.Patch == nil {
			continue
		}
		var ext map[string]string
		if json.Unmarshal(path.Patch.GVK, &ext) != nil || ext == nil {
			continue
		}
		gvk := schema.GroupVersionKind{Group: ext["group"], Version: ext["version"], Kind: ext["kind"]}
		takes := false
		for _, p := range path.Patch.Parameters {
			if p.Name == want && p.In == "query" {
				takes = true
				break
			}
			if k, ok := strings.CutPrefix(p.Ref, "#/parameters/"); ok && doc.Components != nil {
				if g := doc.Components.Parameters[k]; g != nil && g.In == "query" && g.Name == want {
					takes = true
					break
				}
			}
		}
		if seen, ok := out.supports[gvk]; ok && seen != takes {
			out.disagree[gvk] = true
		}
		out.supports[gvk] = takes
	}
	return out
}
