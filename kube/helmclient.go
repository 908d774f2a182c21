package kube

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/util/retry"
	"k8s.io/kubectl/pkg/validation"

	helmkube "helm.sh/helm/v4/pkg/kube"

	"github.com/hookrunner/hookrunner/kube/yamldoc"
)

// HelmClient is the Helm SDK's kube client, with a cheaper wait for
// resources that are ready the moment they are written.
//
// Helm's status-watcher wait starts an informer over every kind of the
// chart and recomputes the status of every resource on every event: for a
// chart of 3000 ConfigMaps that is O(n²) work (2.2 s of CPU, most of it
// sorting) and a cache of 3000 objects, to learn what the API server's
// answers to the writes already said: a ConfigMap is ready once it exists.
//
// HelmClient remembers the object the API server returned for each write
// of the action, and its Wait hands Helm's waiter only the resources whose
// returned object is not yet Current by kstatus (the rules Helm's waiter
// applies to them). Kinds Helm reads with their own status readers
// (Deployments, ReplicaSets, StatefulSets, which look at their children,
// and Jobs) always go to Helm's waiter, as does anything not written by
// this action. The release is still marked deployed by Helm, after the
// wait, as before.
type HelmClient struct {
	*helmkube.Client

	// Workers bounds the resources Create and Delete write at once; 0
	// leaves the SDK's goroutine per resource. Set it to the run's
	// in-flight bound (Getter.MaxInFlight): more would only wait.
	Workers int

	// clientSide: Create creates as client-side apply does (see
	// CreateClientSide).
	clientSide atomic.Bool

	mu sync.Mutex
	// written maps each resource written by this action (the Helm SDK
	// passes the same *resource.Info to the write and to the wait) to the
	// object the API server returned for it.
	written map[*resource.Info]runtime.Object
}

// NewHelmClient wraps Helm's client. It also gives the client one
// validator per run (see validatorCache).
func NewHelmClient(c *helmkube.Client) *HelmClient {
	if c.Factory != nil {
		c.Factory = &validatorCache{Factory: c.Factory}
	}
	return &HelmClient{Client: c, written: map[*resource.Info]runtime.Object{}}
}

// validatorCache keeps the first validator the factory returns for each
// field-validation directive and returns it again.
//
// Helm builds every manifest through Factory.Validator, and kubectl's
// factory makes a new validator on each call: a new in-memory cache of
// OpenAPI v3 documents and of which kinds the server validates fields of.
// To learn that the server supports fieldValidation (and so that
// client-side validation is skipped), the validator parses the OpenAPI v3
// document of the kind's group-version: core/v1's alone took 80 ms of CPU.
// Helm calls Build twice per hook resource, so ingress-nginx's twelve hooks
// parsed core/v1, rbac/v1 and batch/v1 again and again: 0.21 s of its
// install's 0.76 s of CPU, all on the critical path, since hooks run one
// at a time. The validator answers the same for the same server within a
// run, so keeping it changes no decision. kubectl's validator caches
// behind mutexes and sync.Once and is safe for concurrent use.
//
// While the action applies server-side, the strict validator is not even
// built: every object, hooks included, goes to the API server with
// fieldValidation=Strict, which refuses an unknown field itself. The
// release's own manifest already skips client-side validation then
// (DisableOpenAPIValidation); Helm builds hook manifests with validation
// always on, and on ingress-nginx those lookups were 0.11 s of its pre-install
// hooks, one at a time on the critical path.
//
// While the action applies client-side, the strict validator is kubectl's
// with a faster answer to its one question (see strictValidator).
type validatorCache struct {
	helmkube.Factory

	serverValidates atomic.Bool

	mu    sync.Mutex
	cache map[string]validation.Schema
}

func (f *validatorCache) Validator(directive string) (validation.Schema, error) {
	if directive == metav1.FieldValidationStrict && f.serverValidates.Load() {
		return validation.NullSchema{}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.cache[directive]; ok {
		return v, nil
	}
	var v validation.Schema
	var err error
	if kf, ok := f.Factory.(kubectlFactory); ok && directive == metav1.FieldValidationStrict {
		v, err = strictValidator(kf)
	} else {
		v, err = f.Factory.Validator(directive)
	}
	if err != nil {
		return nil, err // not kept: the next Build tries again
	}
	if f.cache == nil {
		f.cache = map[string]validation.Schema{}
	}
	f.cache[directive] = v
	return v, nil
}

// ServerValidates says whether the coming action applies server-side, with
// fieldValidation=Strict: then the API server checks every field and Build
// skips the client-side check (see validatorCache).
func (c *HelmClient) ServerValidates(on bool) {
	if f, ok := c.Factory.(*validatorCache); ok {
		f.serverValidates.Store(on)
	}
}

var (
	_ helmkube.Interface            = (*HelmClient)(nil)
	_ helmkube.InterfaceWaitOptions = (*HelmClient)(nil)
)

// buildInParallelFrom is the manifest size from which Build converts its
// YAML documents to JSON on every core first.
const buildInParallelFrom = 256 << 10

// Build builds resources as Helm does. A large manifest has its YAML
// documents converted to JSON concurrently first (yamldoc.ToJSON gives the
// documents the builder's own decoder would): that conversion was most of
// the 0.12 s argo-cd's 1.9 MB manifest took to build, on one core, while
// nothing else ran. Whatever ToJSON refuses, or the builder refuses in
// JSON, is built from the original stream, so errors read as Helm's.
func (c *HelmClient) Build(r io.Reader, validate bool) (helmkube.ResourceList, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(data) >= buildInParallelFrom {
		if js, err := yamldoc.ToJSON(data, goruntime.GOMAXPROCS(0)); err == nil {
			if list, err := c.Client.Build(bytes.NewReader(js), validate); err == nil {
				return list, nil
			}
		}
	}
	return c.Client.Build(bytes.NewReader(data), validate)
}

// Create creates resources as Helm does and remembers what the server
// returned. A list longer than Workers is created Workers at a time (see
// eachByKind), each resource by the SDK's own Create; the result and the
// errors are the SDK's, every error joined. After CreateClientSide(true),
// each resource is created as the SDK's client-side apply creates it (see
// createClientSide).
func (c *HelmClient) Create(resources helmkube.ResourceList, options ...helmkube.ClientCreateOption) (*helmkube.Result, error) {
	clientSide := c.clientSide.Load() && len(resources) > 0
	if !clientSide && (c.Workers <= 0 || len(resources) <= c.Workers) {
		res, err := c.Client.Create(resources, options...)
		c.remember(resources)
		return res, err
	}
	create := func(info *resource.Info) error {
		_, err := c.Client.Create(helmkube.ResourceList{info}, options...)
		return err
	}
	if clientSide {
		create = createClientSide
	}
	workers := c.Workers
	if workers <= 0 {
		workers = len(resources)
	}
	var mu sync.Mutex
	var errs []error
	eachByKind(resources, workers, func(info *resource.Info) {
		if err := create(info); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	c.remember(resources)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &helmkube.Result{Created: resources}, nil
}

// CreateClientSide says whether the coming action's Create calls create
// client-side (an install with --server-side=false): then the caller must
// also pass the SDK ClientCreateOptionServerSideApply(false), which
// Create cannot read back.
func (c *HelmClient) CreateClientSide(on bool) { c.clientSide.Store(on) }

// createClientSide creates one resource with the very request of the
// SDK's client-side apply (a POST with Helm's field manager, retried on a
// conflict, the object then refreshed from the answer), without the SDK's
// process-wide lock around it. That lock (helm/helm#30972, against a data
// race its fake clients hit) makes every client-side create of an install
// wait for the one before: the creates of 3000 ConfigMaps took 7.3 s one
// at a time, 2.4 s concurrently here. The SDK runs its server-side applies
// concurrently through the same client-go helpers, unlocked; each
// goroutine here has its own resource.Info, and client-go's REST clients
// are safe for concurrent use.
func createClientSide(info *resource.Info) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := resource.NewHelper(info.Client, info.Mapping).WithFieldManager(fieldManager()).Create(info.Namespace, true, info.Object)
		if err != nil {
			return err
		}
		return info.Refresh(obj, true)
	})
}

// fieldManager is the field manager the SDK writes with (its unexported
// getManagedFieldsManager): ManagedFieldsManager when set, else the
// program's name.
func fieldManager() string {
	switch {
	case helmkube.ManagedFieldsManager != "":
		return helmkube.ManagedFieldsManager
	case os.Args[0] == "":
		return "unknown"
	}
	return filepath.Base(os.Args[0])
}

// Delete deletes resources as Helm does, a list longer than Workers
// Workers at a time (see eachByKind), each resource by the SDK's own
// Delete. As the SDK's, it attempts every resource, returns what it
// deleted (or found gone) and every error.
func (c *HelmClient) Delete(resources helmkube.ResourceList, policy metav1.DeletionPropagation) (*helmkube.Result, []error) {
	if c.Workers <= 0 || len(resources) <= c.Workers {
		return c.Client.Delete(resources, policy)
	}
	var mu sync.Mutex
	res := &helmkube.Result{}
	var errs []error
	eachByKind(resources, c.Workers, func(info *resource.Info) {
		one, err := c.Client.Delete(helmkube.ResourceList{info}, policy)
		mu.Lock()
		defer mu.Unlock()
		if one != nil {
			res.Deleted = append(res.Deleted, one.Deleted...)
		}
		errs = append(errs, err...)
	})
	if errs != nil {
		return nil, errs
	}
	return res, nil
}

// Update updates resources as Helm does and remembers what the server
// returned. With Workers set, it does the SDK's work concurrently (see
// updateConcurrently).
func (c *HelmClient) Update(originals, targets helmkube.ResourceList, options ...helmkube.ClientUpdateOption) (*helmkube.Result, error) {
	var (
		res *helmkube.Result
		err error
	)
	if c.Workers > 0 && len(originals)+len(targets) > 1 {
		res, err = c.updateConcurrently(originals, targets, options)
	} else {
		res, err = c.Client.Update(originals, targets, options...)
	}
	c.remember(targets)
	return res, err
}

// updateConcurrently is the SDK's Update with its steps run Workers at a
// time, in runs of one kind as Create's (see eachByKind).
//
// The SDK's Update goes through the targets one at a time (a GET, then a
// create or a patch) and then deletes what the targets dropped, one at a
// time: an upgrade of 1000 ConfigMaps took 5.2 s applying server-side and
// 6.4-7.0 s client-side, where their install takes 1.2-1.4 s. Here each
// target's step is the SDK's own Update of that one target against its
// one original (so no deletion), and each deletion the SDK's own Update of
// that one original against no target: the requests, field managers,
// merges, retries and errors are the SDK's. What stays the SDK's too:
//   - a target the SDK could not look up or create stops the update: no
//     further target is started, nothing is deleted, and the error of the
//     first such target (in the targets' order) is returned alone;
//   - a failed patch does not stop the others, but then nothing is
//     deleted and the patch errors are returned joined by " && ";
//   - deletions come only after every target succeeded;
//   - the result lists every target attempted (Created for those the SDK
//     created or tried to, which Helm's cleanup on failure deletes,
//     Updated for the others) and every original deleted, in the order of
//     the lists given.
//
// What differs: targets of one kind run at once, so when one fails to be
// created, others of its kind already under way still finish (and are in
// the result), where the SDK would not have started them.
func (c *HelmClient) updateConcurrently(originals, targets helmkube.ResourceList, options []helmkube.ClientUpdateOption) (*helmkube.Result, error) {
	byKey := make(map[matchKey]*resource.Info, len(originals))
	for _, o := range originals {
		if _, dup := byKey[keyOf(o)]; !dup {
			byKey[keyOf(o)] = o // ResourceList.Get returns the first match
		}
	}
	steps := c.eachStep(targets, func(target *resource.Info) (*helmkube.Result, error) {
		var original helmkube.ResourceList
		if o := byKey[keyOf(target)]; o != nil {
			original = helmkube.ResourceList{o}
		}
		return c.Client.Update(original, helmkube.ResourceList{target}, options...)
	}, stopsUpdate)
	res := &helmkube.Result{}
	var failed []error
	for _, s := range steps {
		if s.res != nil {
			res.Created = append(res.Created, s.res.Created...)
			res.Updated = append(res.Updated, s.res.Updated...)
		}
		if s.err != nil && stopsUpdate(s.res, s.err) {
			return res, s.err
		}
		if s.err != nil {
			failed = append(failed, s.err)
		}
	}
	if len(failed) != 0 {
		return res, joinErrors(failed)
	}

	wanted := make(map[matchKey]bool, len(targets))
	for _, t := range targets {
		wanted[keyOf(t)] = true
	}
	var gone helmkube.ResourceList
	for _, o := range originals {
		if !wanted[keyOf(o)] {
			gone = append(gone, o)
		}
	}
	for _, s := range c.eachStep(gone, func(info *resource.Info) (*helmkube.Result, error) {
		return c.Client.Update(helmkube.ResourceList{info}, nil, options...)
	}, nil) {
		if s.res != nil {
			res.Deleted = append(res.Deleted, s.res.Deleted...)
		}
		if s.err != nil {
			failed = append(failed, s.err)
		}
	}
	if len(failed) != 0 {
		return res, joinErrors(failed)
	}
	return res, nil
}

// step is the outcome of one resource's part of an update.
type step struct {
	res *helmkube.Result
	err error
}

// eachStep runs fn on every resource of list, Workers at a time in runs of
// one kind (see eachByKind), and returns the outcomes in list's order.
// Once an outcome stops the whole (stop, when set, says so), no further
// resource is started; those are left zero.
func (c *HelmClient) eachStep(list helmkube.ResourceList, fn func(*resource.Info) (*helmkube.Result, error), stop func(*helmkube.Result, error) bool) []step {
	at := make(map[*resource.Info]int, len(list))
	for i, info := range list {
		at[info] = i
	}
	steps := make([]step, len(list))
	var stopped atomic.Bool
	eachByKind(list, c.Workers, func(info *resource.Info) {
		if stopped.Load() {
			return
		}
		res, err := fn(info)
		steps[at[info]] = step{res, err}
		if err != nil && stop != nil && stop(res, err) {
			stopped.Store(true)
		}
	})
	return steps
}

// stopsUpdate says whether the SDK's Update of one target failed in a way
// that stops its whole Update: the target could not be looked up or
// created. A failed patch still lists the target as Updated.
func stopsUpdate(res *helmkube.Result, err error) bool {
	return err != nil && (res == nil || len(res.Updated) == 0)
}

// matchKey is what the SDK matches a target with its original by (its
// isMatchingInfo): name, namespace, group and kind, not version.
type matchKey struct {
	name, namespace string
	gk              schema.GroupKind
}

func keyOf(info *resource.Info) matchKey {
	return matchKey{info.Name, info.Namespace, info.Mapping.GroupVersionKind.GroupKind()}
}

// joinedErrors joins errors as the SDK's Update does, with " && ".
type joinedErrors []error

func joinErrors(errs []error) error { return joinedErrors(errs) }

func (e joinedErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, " && ")
}

func (e joinedErrors) Unwrap() []error { return e }

// remember records, for each resource whose object came back from the API
// server (it has a uid and a resourceVersion; a rendered manifest has
// neither), that object.
func (c *HelmClient) remember(resources helmkube.ResourceList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, info := range resources {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok || u.GetUID() == "" || u.GetResourceVersion() == "" {
			continue
		}
		c.written[info] = info.Object
	}
}

// GetWaiter returns the waiter for a strategy; see GetWaiterWithOptions.
func (c *HelmClient) GetWaiter(strategy helmkube.WaitStrategy) (helmkube.Waiter, error) {
	return c.GetWaiterWithOptions(strategy)
}

// GetWaiterWithOptions returns Helm's waiter, behind a filter of resources
// already ready for the status-watcher strategy.
func (c *HelmClient) GetWaiterWithOptions(strategy helmkube.WaitStrategy, opts ...helmkube.WaitOption) (helmkube.Waiter, error) {
	w, err := c.Client.GetWaiterWithOptions(strategy, opts...)
	if err != nil || strategy != helmkube.StatusWatcherStrategy {
		return w, err
	}
	return &readyFilter{Waiter: w, client: c}, nil
}

// readyFilter passes Helm's waiter only what is not known ready.
type readyFilter struct {
	helmkube.Waiter
	client *HelmClient
}

func (w *readyFilter) Wait(resources helmkube.ResourceList, timeout time.Duration) error {
	pending := w.client.notReady(resources)
	if len(pending) == 0 {
		return nil
	}
	return w.Waiter.Wait(pending, timeout)
}

func (w *readyFilter) WaitWithJobs(resources helmkube.ResourceList, timeout time.Duration) error {
	pending := w.client.notReady(resources)
	if len(pending) == 0 {
		return nil
	}
	return w.Waiter.WaitWithJobs(pending, timeout)
}

// WatchUntilReady is Helm's wait for a hook's resources. Helm's watcher
// reads only Jobs and Pods there (hookrunner passes it no custom readers):
// anything else is ready as soon as the watcher sees it. So a resource of
// another kind that this action has just created is done without a watch
// (about 10-50 ms each; ingress-nginx's certgen hooks hold five RBAC
// objects and a ServiceAccount before their Job). Jobs, Pods and anything
// not written by this action go to Helm's watcher as they are.
func (w *readyFilter) WatchUntilReady(resources helmkube.ResourceList, timeout time.Duration) error {
	pending := w.client.hookPending(resources)
	if len(pending) == 0 {
		return nil
	}
	return w.Waiter.WatchUntilReady(pending, timeout)
}

// hookKinds are the kinds Helm's hook watcher waits for; it takes every
// other kind as ready.
var hookKinds = map[schema.GroupKind]bool{
	{Group: "batch", Kind: "Job"}: true,
	{Group: "", Kind: "Pod"}:      true,
}

// hookPending returns the hook resources Helm's watcher must still see:
// Jobs, Pods, and whatever this action did not write.
func (c *HelmClient) hookPending(resources helmkube.ResourceList) helmkube.ResourceList {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pending helmkube.ResourceList
	for _, info := range resources {
		obj, ok := c.written[info]
		if !ok || obj != info.Object || hookKinds[obj.GetObjectKind().GroupVersionKind().GroupKind()] {
			pending = append(pending, info)
		}
	}
	return pending
}

// WaitForDelete skips the watch when a few GETs show every resource gone.
// Helm deletes a hook's resources before creating it again
// (before-hook-creation) on every run, and waits for them with a status
// watcher, whose start and stop took about 0.1 s per hook even when, as on
// a first install, there was nothing to delete. Longer lists (an
// uninstall) go to the watcher as they are.
func (w *readyFilter) WaitForDelete(resources helmkube.ResourceList, timeout time.Duration) error {
	if len(resources) <= maxDeleteChecks && allGone(resources) {
		return nil
	}
	return w.Waiter.WaitForDelete(resources, timeout)
}

// maxDeleteChecks bounds the GETs WaitForDelete makes before watching.
const maxDeleteChecks = 8

// allGone reports whether a GET of each resource finds nothing.
func allGone(resources helmkube.ResourceList) bool {
	for _, info := range resources {
		if info.Client == nil || info.Mapping == nil {
			return false
		}
		_, err := resource.NewHelper(info.Client, info.Mapping).Get(info.Namespace, info.Name)
		if !apierrors.IsNotFound(err) {
			return false
		}
	}
	return true
}

// ownStatusReaders are the kinds Helm's waiter reads with a status reader
// of their own rather than kstatus's generic rules on the object alone
// (cli-utils' default readers, and Helm's Job reader under
// --wait-for-jobs). hookrunner passes Helm no custom readers
// (helmkube.WithKStatusReaders); a kind given one would belong here.
var ownStatusReaders = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:  true,
	{Group: "apps", Kind: "ReplicaSet"}:  true,
	{Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "batch", Kind: "Job"}:        true,
}

// notReady returns the resources Helm's waiter must still watch: all but
// those whose object, as this action's write returned it, kstatus already
// computes Current.
func (c *HelmClient) notReady(resources helmkube.ResourceList) helmkube.ResourceList {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pending helmkube.ResourceList
	for _, info := range resources {
		if !c.knownReady(info) {
			pending = append(pending, info)
		}
	}
	return pending
}

func (c *HelmClient) knownReady(info *resource.Info) bool {
	obj, ok := c.written[info]
	if !ok || obj != info.Object {
		return false // not written by this action, or changed since
	}
	u := obj.(*unstructured.Unstructured)
	if ownStatusReaders[u.GroupVersionKind().GroupKind()] {
		return false
	}
	res, err := status.Compute(u)
	return err == nil && res.Status == status.CurrentStatus
}
