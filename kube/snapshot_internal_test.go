package kube

import "testing"

// Which requests a snapshot may answer: GETs of one named object of a
// collection, namespaced or cluster-scoped; never lists, subresources,
// namespaces themselves or discovery.
func TestCollectionOf(t *testing.T) {
	cases := map[string]struct {
		collection, name string
		ok               bool
	}{
		"/api/v1/namespaces/shop/configmaps/web":                      {"/api/v1/namespaces/shop/configmaps", "web", true},
		"/apis/apps/v1/namespaces/shop/deployments/web":               {"/apis/apps/v1/namespaces/shop/deployments", "web", true},
		"/apis/rbac.authorization.k8s.io/v1/clusterroles/view":        {"/apis/rbac.authorization.k8s.io/v1/clusterroles", "view", true},
		"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.b": {"/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "a.b", true},
		"/api/v1/namespaces/shop/configmaps":                          {"", "", false}, // a list
		"/api/v1/namespaces/shop":                                     {"", "", false}, // a namespace
		"/apis/apps/v1/namespaces/shop/deployments/web/status":        {"", "", false}, // a subresource
		"/apis/apps/v1/namespaces/shop/deployments/web/scale":         {"", "", false},
		"/api/v1":                     {"", "", false}, // discovery
		"/apis/apps/v1":               {"", "", false},
		"/version":                    {"", "", false},
		"/apis/apps/v1/clusterthings": {"", "", false},
	}
	for p, want := range cases {
		c, n, ok := collectionOf(p)
		if c != want.collection || n != want.name || ok != want.ok {
			t.Errorf("collectionOf(%q) = %q, %q, %v; want %q, %q, %v", p, c, n, ok, want.collection, want.name, want.ok)
		}
	}
}
