package kube

import (
	"net/http"
	"path"
	"runtime"
	"strings"
	"sync"
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
// counts what reached it. A LIST waits for gate, when set, to close.
type fakeServer struct {
	gate chan struct{}

	mu                  sync.Mutex
	lists, gets, writes int
}

func (c *fakeServer) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method != http.MethodGet:
		c.count(&c.writes)
		return respond(req, http.StatusOK, []byte(`{}`)), nil
	case strings.HasSuffix(req.URL.Path, "/configmaps"):
		c.count(&c.lists)
		if c.gate != nil {
			<-c.gate
		}
		return respond(req, http.StatusOK, []byte(`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`)), nil
	}
	c.count(&c.gets)
	return respond(req, http.StatusOK, []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"`+path.Base(req.URL.Path)+`"}}`)), nil
}

func (c *fakeServer) count(n *int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*n++
}

func (c *fakeServer) counts() (lists, gets, writes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lists, c.gets, c.writes
}

// send sends a request through rt and checks it succeeded.
func send(t *testing.T, rt http.RoundTripper, method, p string) {
	req, err := http.NewRequest(method, "https://api.test"+p, nil)
	if err != nil {
		t.Error(err)
		return
	}
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("%s %s: %v %v", method, p, resp, err)
		return
	}
	resp.Body.Close()
}

// Which GETs the snapshots answer, and which reach the server, in each
// mode: off; on (server-side apply: an object this client has written is
// asked live, and a write to the collection as a whole drops its
// snapshot); until the first write of any collection (client-side
// install: every GET after a write is live).
func TestSnapshotModes(t *testing.T) {
	const cms = "/api/v1/namespaces/shop/configmaps"
	type step struct {
		method, path string
	}
	gets := func(n int, name string) []step {
		var out []step
		for range n {
			out = append(out, step{http.MethodGet, cms + "/" + name})
		}
		return out
	}
	// Ten GETs (the eighth takes the snapshot), a write elsewhere, ten
	// more GETs, a write of b, GETs of a and of b, a create in the
	// collection, GETs of a.
	var script []step
	script = append(script, gets(10, "a")...)
	script = append(script, step{http.MethodPost, "/api/v1/namespaces/shop/secrets"})
	script = append(script, gets(10, "a")...)
	script = append(script, step{http.MethodPatch, cms + "/b"})
	script = append(script, gets(2, "a")...)
	script = append(script, gets(2, "b")...)
	script = append(script, step{http.MethodPost, cms})
	script = append(script, gets(2, "a")...)
	cases := map[string]struct {
		use             func(*snapshots)
		lists, liveGets int
	}{
		"off":         {func(s *snapshots) {}, 0, 26},
		"on":          {func(s *snapshots) { s.on.Store(true) }, 1, 7 + 2 + 2},
		"until-write": {func(s *snapshots) { s.untilWrite.Store(true); s.on.Store(true) }, 1, 7 + 10 + 2 + 2 + 2},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			next := &fakeServer{}
			s := newSnapshots()
			tc.use(s)
			rt := s.wrap(next)
			for _, st := range script {
				send(t, rt, st.method, st.path)
			}
			if lists, gets, writes := next.counts(); lists != tc.lists || gets != tc.liveGets || writes != 3 {
				t.Errorf("server saw %d lists, %d GETs, %d writes; want %d, %d, 3", lists, gets, writes, tc.lists, tc.liveGets)
			}
		})
	}
}

// GETs that come at once while the collection is being listed wait for
// that LIST and are answered from it: one LIST, whatever the timing.
func TestSnapshotIsTakenOnce(t *testing.T) {
	const cm = "/api/v1/namespaces/shop/configmaps/a"
	next := &fakeServer{gate: make(chan struct{})}
	s := newSnapshots()
	s.on.Store(true)
	rt := s.wrap(next)
	for range snapshotAfter - 1 {
		send(t, rt, http.MethodGet, cm)
	}
	const at = 32
	var entered sync.WaitGroup
	var wg sync.WaitGroup
	entered.Add(at)
	for range at {
		wg.Go(func() {
			entered.Done()
			send(t, rt, http.MethodGet, cm)
		})
	}
	entered.Wait()
	for range 1000 {
		runtime.Gosched() // let the others reach the snapshot
	}
	close(next.gate)
	wg.Wait()
	if lists, gets, _ := next.counts(); lists != 1 || gets != snapshotAfter-1 {
		t.Errorf("server saw %d lists and %d GETs, want 1 list and %d GETs", lists, gets, snapshotAfter-1)
	}
}

// First look (client-side upgrade): each object's first GET is answered
// from the snapshot, every later GET of it asks the server, so the live
// object the three-way merge patches against is never a snapshot's.
func TestSnapshotFirstLook(t *testing.T) {
	const cms = "/api/v1/namespaces/shop/configmaps/"
	next := &fakeServer{}
	s := newSnapshots()
	s.on.Store(true)
	s.firstLook.Store(true)
	rt := s.wrap(next)
	for range snapshotAfter - 1 {
		send(t, rt, http.MethodGet, cms+"a") // before the snapshot: live
	}
	steps := []struct {
		name string
		live bool
	}{
		{"a", true},  // takes the snapshot, but a was looked at already
		{"b", false}, // b's first look
		{"b", true},
		{"b", true},
		{"c", false}, // not in the snapshot: its first look answers 404
		{"c", true},
	}
	for i, st := range steps {
		_, before, _ := next.counts()
		req, err := http.NewRequest(http.MethodGet, "https://api.test"+cms+st.name, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, after, _ := next.counts(); (after > before) != st.live {
			t.Errorf("step %d, GET %s: asked the server %v, want %v", i, st.name, after > before, st.live)
		}
	}
	if lists, _, _ := next.counts(); lists != 1 {
		t.Errorf("%d lists, want 1", lists)
	}
}
