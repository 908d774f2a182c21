package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
)

// snapshotAfter is how many single-object GETs of one collection it takes
// before the collection is listed once instead: a small chart never pays
// for a LIST.
const snapshotAfter = 8

// snapshotMaxItems bounds a snapshot: a collection larger than this (the
// namespace holds far more than the chart) is not listed.
const snapshotMaxItems = 10000

// snapshotTransport answers the Helm SDK's one-by-one existence checks
// (a GET of every resource of the chart before an install or upgrade, and
// again in an upgrade's update) from one LIST of the collection, instead
// of a request per object: for a chart of 3000 ConfigMaps, 1 request
// instead of 3000.
//
// It is correct for what it serves: a collection's snapshot is taken on
// the snapshotAfter-th GET, once (GETs that come while it is being taken
// wait for it), and an object this client has written is asked live ever
// after; a POST to a collection (a create, whose name is in the body) or
// any other write to it as a whole drops the collection's snapshot. Only
// plain JSON GETs of named objects are served, everything else passes
// through. Objects changed by others between the LIST and a GET are seen
// as of the LIST, a race the check had anyway.
type snapshotTransport struct {
	next http.RoundTripper
	*snapshots
}

// snapshots is the state every transport of one Getter shares: client-go
// builds several clients (and wraps a transport for each) from one config.
type snapshots struct {
	// on is off until the caller knows the action applies server-side:
	// client-side apply reads live objects to merge with and must see them
	// fresh.
	on atomic.Bool
	// untilWrite, when set, turns on off at the first write of any
	// collection: client-side apply's existence checks all come before
	// its first write, and its later reads (to merge with) stay live.
	untilWrite atomic.Bool
	// firstLook, when set, answers only an object's first GET from the
	// snapshot: client-side apply's update checks existence first, then
	// reads the live object to merge with. The answer to that second,
	// live, GET also answers the third, once, unless this client wrote
	// the object in between: when the merge finds nothing to change, the
	// update reads the object again only to refresh its copy.
	firstLook atomic.Bool

	mu      sync.Mutex
	gets    map[string]int                        // collection → GETs seen
	snaps   map[string]map[string]json.RawMessage // collection → name → object
	dead    map[string]bool                       // collections not to snapshot
	written map[string]map[string]bool            // collection → names written (or, firstLook, seen): asked live
	taking  map[string]chan struct{}              // collection → closed when its LIST is done
	// Of firstLook, by collection + "/" + name: GETs seen, objects
	// written, the second GET's answer until the third takes it.
	looks   map[string]int
	changed map[string]bool
	kept    map[string][]byte
}

func newSnapshots() *snapshots {
	return &snapshots{
		gets:    map[string]int{},
		snaps:   map[string]map[string]json.RawMessage{},
		dead:    map[string]bool{},
		written: map[string]map[string]bool{},
		taking:  map[string]chan struct{}{},
		looks:   map[string]int{},
		changed: map[string]bool{},
		kept:    map[string][]byte{},
	}
}

// wrap returns a transport over next that shares s.
func (s *snapshots) wrap(next http.RoundTripper) http.RoundTripper {
	return &snapshotTransport{next: next, snapshots: s}
}

// collectionOf splits /api/v1/namespaces/ns/configmaps/name (or
// /apis/g/v/...) into the collection path and the name; ok is false for
// anything that is not a named object of a namespaced or cluster
// collection (subresources, lists, discovery).
func collectionOf(p string) (collection, name string, ok bool) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	default:
		return "", "", false
	}
	// rest: [namespaces ns] resource name
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) == 4 {
		return path.Dir(p), rest[3], true
	}
	if len(rest) == 2 && rest[0] != "namespaces" {
		return path.Dir(p), rest[1], true
	}
	return "", "", false
}

func (t *snapshotTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	collection, name, named := collectionOf(req.URL.Path)
	if req.Method != http.MethodGet {
		if t.untilWrite.Load() {
			t.on.Store(false)
		}
		t.wrote(req.URL.Path, collection, name, named)
		return t.next.RoundTrip(req)
	}
	if !named || req.URL.RawQuery != "" || !acceptsJSON(req) || !t.on.Load() {
		return t.next.RoundTrip(req)
	}
	snap := t.snapshot(req, collection)
	key := collection + "/" + name
	t.mu.Lock()
	live := snap == nil || t.written[collection][name]
	var keep bool
	var replay []byte
	if t.firstLook.Load() {
		// Looked at (from the snapshot or, before there was one, live):
		// every later GET of it asks the server, but for the third.
		t.markLive(collection, name)
		t.looks[key]++
		switch t.looks[key] {
		case 2:
			keep = !t.changed[key]
		case 3:
			replay = t.kept[key]
			delete(t.kept, key)
		}
	}
	t.mu.Unlock()
	if replay != nil {
		return respond(req, http.StatusOK, replay), nil
	}
	if live && keep {
		return t.keepAnswer(req, key)
	}
	if live {
		return t.next.RoundTrip(req)
	}
	if obj, ok := snap[name]; ok {
		return respond(req, http.StatusOK, obj), nil
	}
	resource := path.Base(collection)
	status := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"%s %q not found","reason":"NotFound","details":{"name":%q,"kind":%q},"code":404}`,
		resource, name, name, resource)
	return respond(req, http.StatusNotFound, []byte(status)), nil
}

// keepAnswer asks the server and keeps a 200 answer for the object's
// next GET (see firstLook).
func (t *snapshotTransport) keepAnswer(req *http.Request, key string) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	t.mu.Lock()
	if !t.changed[key] {
		t.kept[key] = body
	}
	t.mu.Unlock()
	return resp, nil
}

// wrote records a write to p: a named object is asked live from now on;
// a write to a collection as a whole (a POST, a delete of the collection)
// drops its snapshot for good; a write to a subresource counts as one to
// its object.
func (s *snapshots) wrote(p, collection, name string, named bool) {
	if !named {
		if c, n, ok := collectionOf(path.Dir(p)); ok {
			collection, name, named = c, n, true // a subresource
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !named {
		delete(s.snaps, p)
		s.dead[p] = true
		for key := range s.kept {
			if path.Dir(key) == p {
				delete(s.kept, key)
			}
		}
		return
	}
	s.markLive(collection, name)
	key := collection + "/" + name
	s.changed[key] = true
	delete(s.kept, key)
}

// markLive makes every later GET of the object ask the server; s.mu held.
func (s *snapshots) markLive(collection, name string) {
	if s.written[collection] == nil {
		s.written[collection] = map[string]bool{}
	}
	s.written[collection][name] = true
}

// snapshot returns the collection's snapshot, taking it on the
// snapshotAfter-th GET; nil while it should not be served (too few GETs
// yet, or the collection cannot or may no longer be snapshot). GETs that
// come while the LIST is under way wait for it: a concurrent update asks
// for dozens of objects at once, and each LIST of a large collection costs
// tens of milliseconds of CPU to decode.
func (t *snapshotTransport) snapshot(req *http.Request, collection string) map[string]json.RawMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	counted := false
	for {
		if snap, ok := t.snaps[collection]; ok || t.dead[collection] {
			return snap
		}
		if done, busy := t.taking[collection]; busy {
			t.mu.Unlock()
			<-done
			t.mu.Lock()
			continue
		}
		if !counted {
			t.gets[collection]++
			counted = true
		}
		if t.gets[collection] < snapshotAfter {
			return nil
		}
		done := make(chan struct{})
		t.taking[collection] = done
		t.mu.Unlock()
		snap := t.take(req, collection)
		t.mu.Lock()
		delete(t.taking, collection)
		close(done)
		if snap == nil || t.dead[collection] {
			t.dead[collection] = true
			return nil
		}
		t.snaps[collection] = snap
		return snap
	}
}

// take lists collection with req's credentials; nil when it cannot or
// should not (forbidden, too large, not JSON).
func (t *snapshotTransport) take(req *http.Request, collection string) map[string]json.RawMessage {
	list := req.Clone(req.Context())
	list.URL.Path = collection
	list.URL.RawQuery = fmt.Sprintf("limit=%d", snapshotMaxItems+1)
	list.Header.Set("Accept", "application/json")
	resp, err := t.next.RoundTrip(list)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var body struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Continue string `json:"continue"`
		} `json:"metadata"`
		Items []map[string]json.RawMessage `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Metadata.Continue != "" || len(body.Items) > snapshotMaxItems {
		return nil
	}
	kind, _ := json.Marshal(strings.TrimSuffix(body.Kind, "List"))
	apiVersion, _ := json.Marshal(body.APIVersion)
	snap := make(map[string]json.RawMessage, len(body.Items))
	for _, item := range body.Items {
		var meta struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(item["metadata"], &meta); err != nil {
			return nil
		}
		// List items carry no type; a GET's answer does.
		item["kind"], item["apiVersion"] = kind, apiVersion
		obj, err := json.Marshal(item)
		if err != nil {
			return nil
		}
		snap[meta.Name] = obj
	}
	return snap
}

func acceptsJSON(req *http.Request) bool {
	accept := req.Header.Get("Accept")
	return accept == "" || strings.HasPrefix(accept, "application/json") || accept == "*/*"
}

func respond(req *http.Request, code int, body []byte) *http.Response {
	return &http.Response{
		StatusCode:    code,
		Status:        fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
