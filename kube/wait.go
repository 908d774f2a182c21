package kube

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
)

// Observed is a condition with what was last seen of it.
type Observed struct {
	Condition Condition
	// Value is the rendered JSONPath of the (first) object, "" when absent.
	Value string
	// Found says whether the object and path existed.
	Found bool
	Met   bool
}

// WaitError is a wait that ended with conditions not met.
type WaitError struct {
	Pending []Observed
	Cause   error // context.DeadlineExceeded for a timeout
	After   time.Duration
}

func (e *WaitError) Error() string {
	parts := make([]string, len(e.Pending))
	for i, o := range e.Pending {
		last := "object not found"
		if o.Found {
			last = fmt.Sprintf("last value %q", o.Value)
		}
		parts[i] = fmt.Sprintf("%s (%s)", o.Condition, last)
	}
	return fmt.Sprintf("wait condition not met after %s: %s", e.After.Round(time.Millisecond), strings.Join(parts, "; "))
}

func (e *WaitError) Unwrap() error { return e.Cause }

// Waiter evaluates conditions from watches of the cluster.
type Waiter struct {
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	Log     *slog.Logger
	// Progress is the interval of the progress line; 0 means 10 s.
	Progress time.Duration
}

// NewWaiter returns a Waiter on the cluster of c.
func (c *Config) NewWaiter(log *slog.Logger) (*Waiter, error) {
	dyn, err := dynamic.NewForConfig(c.REST())
	if err != nil {
		return nil, err
	}
	mapper, err := c.getter.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	return &Waiter{Dynamic: dyn, Mapper: mapper, Log: log}, nil
}

// watched is one condition with its informer's store.
type watched struct {
	obs      Observed
	store    cache.Store
	deadline time.Time
}

// Wait returns when every condition holds, or with a *WaitError when a
// condition's own timeout or ctx ends first. Objects are watched, not
// polled: a change is seen within the watch latency. Conditions without a
// namespace use namespace.
func (w *Waiter) Wait(ctx context.Context, conds []Condition, namespace string) ([]Observed, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	items := make([]*watched, len(conds))
	for i, c := range conds {
		if c.Namespace == "" {
			c.Namespace = namespace
		}
		store, err := w.watch(ctx, &c, notify)
		if err != nil {
			return nil, err
		}
		items[i] = &watched{obs: Observed{Condition: c}, store: store}
		if c.timeout > 0 {
			items[i].deadline = start.Add(c.timeout)
		}
	}
	progress := w.Progress
	if progress <= 0 {
		progress = 10 * time.Second
	}
	tick := time.NewTicker(progress)
	defer tick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var pending []Observed
		var next time.Time
		for _, it := range items {
			it.obs = evaluate(it.obs.Condition, it.store)
			if it.obs.Met {
				continue
			}
			pending = append(pending, it.obs)
			if !it.deadline.IsZero() {
				if time.Now().After(it.deadline) {
					return observedOf(items), &WaitError{Pending: []Observed{it.obs}, Cause: context.DeadlineExceeded, After: time.Since(start)}
				}
				if next.IsZero() || it.deadline.Before(next) {
					next = it.deadline
				}
			}
		}
		if len(pending) == 0 {
			return observedOf(items), nil
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return observedOf(items), &WaitError{Pending: pending, Cause: ctx.Err(), After: time.Since(start)}
		case <-changed:
		case <-timer.C:
		case <-tick.C:
			for _, p := range pending {
				w.Log.Info("waiting", "condition", p.Condition.String(), "found", p.Found, "lastValue", p.Value, "seconds", int(time.Since(start).Seconds()))
			}
		}
	}
}

func observedOf(items []*watched) []Observed {
	out := make([]Observed, len(items))
	for i, it := range items {
		out[i] = it.obs
	}
	return out
}

// watch starts an informer for the objects c names and returns its store.
func (w *Waiter) watch(ctx context.Context, c *Condition, notify func()) (cache.Store, error) {
	mapping, err := w.resolve(c)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = w.Dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = w.Dynamic.Resource(mapping.Resource).Namespace(c.Namespace)
	} else {
		c.Namespace = ""
	}
	narrow := func(o *metav1.ListOptions) {
		if c.Name != "" {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", c.Name).String()
		} else {
			o.LabelSelector = c.Selector
		}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			narrow(&o)
			return ri.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			narrow(&o)
			return ri.Watch(ctx, o)
		},
	}
	store, controller := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &unstructured.Unstructured{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { notify() },
			UpdateFunc: func(any, any) { notify() },
			DeleteFunc: func(any) { notify() },
		},
	})
	go controller.RunWithContext(ctx)
	return store, nil
}

// resolve maps the condition's kind (and apiVersion, if given) to a
// resource through discovery, so CRDs work.
func (w *Waiter) resolve(c *Condition) (*meta.RESTMapping, error) {
	if c.APIVersion != "" {
		gv, err := schema.ParseGroupVersion(c.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("%w: apiVersion %q: %v", ErrInvalidCondition, c.APIVersion, err)
		}
		m, err := w.Mapper.RESTMapping(gv.WithKind(c.Kind).GroupKind(), gv.Version)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: the cluster does not serve kind %s in %s", ErrInvalidCondition, c, c.Kind, c.APIVersion)
		}
		return m, nil
	}
	gvk, err := w.Mapper.KindFor(schema.GroupVersionResource{Resource: strings.ToLower(c.Kind)})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: the cluster serves no kind %s (give apiVersion for a custom resource)", ErrInvalidCondition, c, c.Kind)
	}
	c.Kind = gvk.Kind
	m, err := w.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidCondition, c, err)
	}
	return m, nil
}

// evaluate checks c against the objects in store: the named object, or
// every object of the selector (at least one).
func evaluate(c Condition, store cache.Store) Observed {
	o := Observed{Condition: c}
	objs := store.List()
	sort.Slice(objs, func(i, j int) bool {
		return objs[i].(*unstructured.Unstructured).GetName() < objs[j].(*unstructured.Unstructured).GetName()
	})
	if len(objs) == 0 {
		return o
	}
	met := true
	values := make([]string, 0, len(objs))
	found := true
	for _, obj := range objs {
		value, ok := valueAt(c, obj.(*unstructured.Unstructured))
		values = append(values, value)
		found = found && ok
		met = met && holds(c, value, ok)
	}
	o.Value = strings.Join(values, ",")
	o.Found = found
	o.Met = met
	return o
}

// valueAt returns the JSONPath's text for obj and whether it exists.
func valueAt(c Condition, obj *unstructured.Unstructured) (string, bool) {
	if c.path == nil {
		return "", true
	}
	results, err := c.path.FindResults(obj.Object)
	if err != nil {
		return "", false
	}
	exists := false
	for _, r := range results {
		if len(r) > 0 {
			exists = true
		}
	}
	if !exists {
		return "", false
	}
	var buf bytes.Buffer
	if err := c.path.Execute(&buf, obj.Object); err != nil {
		return "", false
	}
	return buf.String(), true
}

func holds(c Condition, value string, exists bool) bool {
	switch c.Operator {
	case OpExists:
		return exists
	case OpNotEmpty:
		return exists && value != ""
	case OpEquals:
		return exists && value == c.Value
	case OpNotEquals:
		return exists && value != c.Value
	case OpMatches:
		return exists && c.re.MatchString(value)
	}
	return false
}
