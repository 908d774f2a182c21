package kube

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// Getter is the RESTClientGetter the Helm SDK builds its clients from. It
// discovers the API once per run and caches it in memory: a one-shot Job has
// no use for kubectl's on-disk cache, and its root filesystem is read-only.
type Getter struct {
	cfg *Config
	// snapshots, when set, serve the Helm SDK's per-object existence
	// checks from one LIST per collection (see snapshotTransport).
	snapshots *snapshots
}

// discoveryCache is the one discovery of a run, shared by every Getter of
// its Config.
type discoveryCache struct {
	once      sync.Once
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
	err       error
}

var _ genericclioptions.RESTClientGetter = (*Getter)(nil)

// Getter returns the RESTClientGetter for this configuration; every client
// of a run shares its discovery cache.
func (c *Config) Getter() *Getter { return c.getter }

// ToRESTConfig returns a copy of the client configuration, its requests
// bounded in number and rate with those of every other Getter of the
// Config.
func (g *Getter) ToRESTConfig() (*rest.Config, error) {
	rc := g.cfg.REST()
	// The Helm SDK builds a client per object; client-go would give each
	// its own rate limiter. The one shared limit is in the transport.
	rc.QPS, rc.RateLimiter = -1, nil
	rc.Wrap(g.cfg.inflight.wrap)
	if g.snapshots != nil {
		rc.Wrap(g.snapshots.wrap)
	}
	return rc, nil
}

// MaxInFlight is the bound on the requests of the run in flight at once
// (0: unbounded).
func (g *Getter) MaxInFlight() int {
	if g.cfg.inflight == nil {
		return 0
	}
	return cap(g.cfg.inflight.slots)
}

// ForHelmActions returns a Getter for the Helm SDK's install, upgrade and
// uninstall clients that can answer their one-by-one GETs of a chart's
// resources (existence and ownership checks) from one LIST per collection,
// once UseSnapshots(true) says that is safe (an install or upgrade that
// applies server-side, an uninstall), or until the first write
// (UseSnapshotsUntilWrite: an install that applies client-side), or for
// each object's first look (UseSnapshotsFirstLook: an upgrade that
// applies client-side). Lock,
// wait and lookups keep using Getter, which always asks the server. Both
// share one discovery.
func (c *Config) ForHelmActions() *Getter {
	return &Getter{cfg: c, snapshots: newSnapshots()}
}

// UseSnapshots turns serving GETs from snapshots on or off; a no-op on a
// Getter without them (or a nil one).
func (g *Getter) UseSnapshots(on bool) {
	if g != nil && g.snapshots != nil {
		g.snapshots.untilWrite.Store(false)
		g.snapshots.firstLook.Store(false)
		g.snapshots.on.Store(on)
	}
}

// UseSnapshotsUntilWrite serves GETs from snapshots until the first write
// through the Getter, of any collection; from then on every GET asks the
// server (until UseSnapshots turns them on again). That is safe for an
// install that applies client-side: Helm's existence checks all come
// before its first write (the release record), and every read it merges
// with later is live.
func (g *Getter) UseSnapshotsUntilWrite() {
	if g != nil && g.snapshots != nil {
		g.snapshots.untilWrite.Store(true)
		g.snapshots.firstLook.Store(false)
		g.snapshots.on.Store(true)
	}
}

// UseSnapshotsFirstLook serves each object's first GET from its
// collection's snapshot (once there is one) and every later GET of it
// from the server (until UseSnapshots changes the mode). That is safe for an upgrade that applies
// client-side: the SDK's update first GETs each object to learn whether it
// exists, then GETs it again for the live object its three-way merge
// patches against: that read is live. When the merge finds nothing to
// change, the SDK GETs the object a third time only to refresh its copy;
// that GET gets the second's answer, unless this client wrote the object
// in between. Every later GET is live. An object an earlier check
// already looked at (a new object's conflict check) is read live by the
// update.
func (g *Getter) UseSnapshotsFirstLook() {
	if g != nil && g.snapshots != nil {
		g.snapshots.untilWrite.Store(false)
		g.snapshots.firstLook.Store(true)
		g.snapshots.on.Store(true)
	}
}

// ToRawKubeConfigLoader returns the kubeconfig loader; its namespace is the
// release namespace.
func (g *Getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return g.cfg.loader }

// ToDiscoveryClient returns the shared, memory-cached discovery client.
func (g *Getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	d := g.cfg.discover()
	return d.discovery, d.err
}

// ToRESTMapper returns a mapper backed by the shared discovery client, which
// re-discovers once when asked for a kind it does not know (a CRD the chart
// has just installed).
func (g *Getter) ToRESTMapper() (meta.RESTMapper, error) {
	d := g.cfg.discover()
	return d.mapper, d.err
}

// discover runs the Config's discovery once, for all its Getters.
func (c *Config) discover() *discoveryCache {
	d := c.discovery
	d.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(c.REST())
		if err != nil {
			d.err = err
			return
		}
		d.discovery = memory.NewMemCacheClient(dc)
		d.mapper = restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(d.discovery), d.discovery, nil)
	})
	return d
}
