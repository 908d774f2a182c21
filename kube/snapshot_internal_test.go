package kube

import (
	"net/http"
	"path"
	"strings"
	"testing"
)

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

// fakeServer answers every request: a LIST with items a and b, a
// GET of a named object with that object, anything else with 200; it
// counts what reached it.
type fakeServer struct{ lists, gets, writes int }

func (c *fakeServer) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method != http.MethodGet:
		c.writes++
		return respond(req, http.StatusOK, []byte(`{}`)), nil
	case strings.HasSuffix(req.URL.Path, "/configmaps"):
		c.lists++
		return respond(req, http.StatusOK, []byte(`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`)), nil
	}
	c.gets++
	return respond(req, http.StatusOK, []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"`+path.Base(req.URL.Path)+`"}}`)), nil
}

// Which GETs the snapshots answer, and which reach the server, in each
// mode: off; on (server-side apply: a collection is asked live once this
// client has written to it); until the first write of any collection
// (client-side install: every GET after a write is live).
func TestSnapshotModes(t *testing.T) {
	const cms = "/api/v1/namespaces/shop/configmaps/"
	type step struct {
		method, path string
	}
	gets := func(n int) []step {
		var out []step
		for range n {
			out = append(out, step{http.MethodGet, cms + "a"})
		}
		return out
	}
	// Ten GETs (the eighth takes the snapshot), a write elsewhere, ten
	// more GETs, a write to the collection, two more GETs.
	var script []step
	script = append(script, gets(10)...)
	script = append(script, step{http.MethodPost, "/api/v1/namespaces/shop/secrets"})
	script = append(script, gets(10)...)
	script = append(script, step{http.MethodPatch, cms + "b"})
	script = append(script, gets(2)...)
	cases := map[string]struct {
		use             func(*snapshots)
		lists, liveGets int
	}{
		"off":         {func(s *snapshots) {}, 0, 22},
		"on":          {func(s *snapshots) { s.on.Store(true) }, 1, 7 + 2},
		"until-write": {func(s *snapshots) { s.untilWrite.Store(true); s.on.Store(true) }, 1, 7 + 10 + 2},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			next := &fakeServer{}
			s := newSnapshots()
			tc.use(s)
			rt := s.wrap(next)
			for _, st := range script {
				req, err := http.NewRequest(st.method, "https://api.test"+st.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := rt.RoundTrip(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %s: %v %v", st.method, st.path, resp, err)
				}
				resp.Body.Close()
			}
			if next.lists != tc.lists || next.gets != tc.liveGets || next.writes != 2 {
				t.Errorf("server saw %d lists, %d GETs, %d writes; want %d, %d, 2", next.lists, next.gets, next.writes, tc.lists, tc.liveGets)
			}
		})
	}
}
