package kube

import (
	"fmt"
	"io"
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
	n := c.count(&c.gets)
	return respond(req, http.StatusOK, []byte(fmt.Sprintf(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":%q,"resourceVersion":"%d"}}`, path.Base(req.URL.Path), n))), nil
}

func (c *fakeServer) count(n *int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	*n++
	return *n
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
// object the three-way merge patches against is never a snapshot's; but
// the third GET gets the second's answer, once, unless the object was
// written in between.
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
		method, name string
		live         bool
		// sameAs: the answer is step sameAs's (its index plus one)
		sameAs int
	}{
		{"GET", "a", true, 0},  // takes the snapshot, but a was looked at already
		{"GET", "b", false, 0}, // b's first look
		{"GET", "b", true, 0},  // the merge read
		{"GET", "b", false, 3}, // the refresh: the merge read's answer
		{"GET", "b", true, 0},  // then live for good
		{"GET", "b", true, 0},
		{"GET", "c", false, 0}, // not in the snapshot: its first look answers 404
		{"GET", "c", true, 0},
		{"PATCH", "c", true, 0},
		{"GET", "c", true, 0}, // written since the second GET: live
		{"GET", "a", true, 0},
	}
	answers := make([]string, len(steps))
	for i, st := range steps {
		_, before, writes := next.counts()
		req, err := http.NewRequest(st.method, "https://api.test"+cms+st.name, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		answers[i] = string(body)
		_, after, afterWrites := next.counts()
		if asked := after > before || afterWrites > writes; asked != st.live {
			t.Errorf("step %d, %s %s: asked the server %v, want %v", i+1, st.method, st.name, asked, st.live)
		}
		if st.sameAs > 0 && answers[i] != answers[st.sameAs-1] {
			t.Errorf("step %d, GET %s: %s, want step %d's answer %s", i+1, st.name, answers[i], st.sameAs, answers[st.sameAs-1])
		}
	}
	if answers[4] == answers[2] {
		t.Errorf("step 5 got step 3's answer again: %s", answers[4])
	}
	if lists, _, _ := next.counts(); lists != 1 {
		t.Errorf("%d lists, want 1", lists)
	}
}
