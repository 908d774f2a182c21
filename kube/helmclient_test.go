package kube_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	helmkube "helm.sh/helm/v4/pkg/kube"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/test/cluster"
)

const waitManifest = `apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
data: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: cluster-ip}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`

func names(list helmkube.ResourceList) string {
	var out []string
	for _, info := range list {
		out = append(out, info.Mapping.GroupVersionKind.Kind+"/"+info.Name)
	}
	return strings.Join(out, " ")
}

// TestHelmClientWaitsOnlyForWhatIsNotReady: of what the action wrote, only
// what the API server's answer does not already show Current (by kstatus)
// and the kinds Helm reads with readers of their own go to Helm's waiter;
// resources the action did not write always do.
func TestHelmClientWaitsOnlyForWhatIsNotReady(t *testing.T) {
	const ns = "helmclient-wait"
	cs := setup(t, ns)
	cfg, err := kube.Load(kube.Options{Kubeconfig: cluster.Get(t).Kubeconfig}, ns)
	if err != nil {
		t.Fatal(err)
	}
	hc := kube.NewHelmClient(helmkube.New(cfg.Getter()))
	build := func() helmkube.ResourceList {
		list, err := hc.Build(strings.NewReader(waitManifest), false)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range list {
			info.Namespace = ns
		}
		return list
	}

	rendered := build()
	if got, want := names(hc.NotReady(rendered)), "ConfigMap/plain Service/cluster-ip PersistentVolumeClaim/claim Deployment/web"; got != want {
		t.Errorf("before any write, pending %q, want %q", got, want)
	}

	written := build()
	if _, err := hc.Create(written); err != nil {
		t.Fatal(err)
	}
	if got, want := names(hc.NotReady(written)), "PersistentVolumeClaim/claim Deployment/web"; got != want {
		t.Errorf("after the write, pending %q, want %q", got, want)
	}
	if got := names(hc.NotReady(build())); !strings.Contains(got, "ConfigMap/plain") {
		t.Errorf("resources this action did not write are taken as ready: pending %q", got)
	}

	// The Deployment still goes through Helm's waiter: Wait returns only
	// once it is available.
	w, err := hc.GetWaiterWithOptions(helmkube.StatusWatcherStrategy)
	if err != nil {
		t.Fatal(err)
	}
	var noClaim helmkube.ResourceList
	for _, info := range written {
		if info.Name != "claim" {
			noClaim = append(noClaim, info)
		}
	}
	if err := w.Wait(noClaim, time.Minute); err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.AvailableReplicas != 1 {
		t.Errorf("Wait returned with %d available replicas, want 1", d.Status.AvailableReplicas)
	}
	// And the claim, Pending without a volume, makes the wait time out.
	if err := w.Wait(written, 2*time.Second); err == nil || !strings.Contains(err.Error(), "claim") {
		t.Errorf("waiting on an unbound claim: %v, want a timeout naming it", err)
	}
}

// TestGetterClientsShareTheInFlightBoundButOthersDoNot: with a bound of 1,
// a Getter's request whose answer is still open blocks another Getter's
// request, but not one from REST() (the lock's Lease renewals must never
// queue behind a chart's writes).
func TestGetterClientsShareTheInFlightBoundButOthersDoNot(t *testing.T) {
	c := cluster.Get(t)
	cfg, err := kube.Load(kube.Options{Kubeconfig: c.Kubeconfig, MaxInFlight: 1}, "default")
	if err != nil {
		t.Fatal(err)
	}
	httpClient := func(rc *rest.Config) *http.Client {
		hc, err := rest.HTTPClientFor(rc)
		if err != nil {
			t.Fatal(err)
		}
		return hc
	}
	bounded, err := cfg.Getter().ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	helmActions, err := cfg.ForHelmActions().ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	get := func(hc *http.Client, within time.Duration) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Host+"/version", nil)
		return hc.Do(req)
	}
	held, err := get(httpClient(bounded), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(httpClient(helmActions), 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second Getter's request while the slot is held: %v, want it to wait", err)
	}
	resp, err := get(httpClient(cfg.REST()), 10*time.Second)
	if err != nil {
		t.Fatalf("a REST() request while the Getters' slot is held: %v", err)
	}
	resp.Body.Close()
	held.Body.Close()
	resp, err = get(httpClient(helmActions), 10*time.Second)
	if err != nil {
		t.Fatalf("after the slot was released: %v", err)
	}
	resp.Body.Close()
}

// TestHelmClientWaitForDelete: resources already gone need no watch; one
// still there (held by a finalizer) is waited for until it goes.
func TestHelmClientWaitForDelete(t *testing.T) {
	const ns = "helmclient-delete"
	cs := setup(t, ns)
	cfg, err := kube.Load(kube.Options{Kubeconfig: cluster.Get(t).Kubeconfig}, ns)
	if err != nil {
		t.Fatal(err)
	}
	hc := kube.NewHelmClient(helmkube.New(cfg.Getter()))
	hc.Namespace = ns
	build := func(name string) helmkube.ResourceList {
		list, err := hc.Build(strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "+name+", finalizers: [hookrunner.dev/test]}\n"), false)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	w, err := hc.GetWaiterWithOptions(helmkube.StatusWatcherStrategy)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WaitForDelete(build("never-created"), time.Minute); err != nil {
		t.Errorf("waiting for a resource that never existed: %v", err)
	}
	held := build("held")
	if _, err := hc.Create(held); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps(ns).Delete(context.Background(), "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitForDelete(held, 2*time.Second); err == nil {
		t.Error("WaitForDelete returned while a finalizer still held the ConfigMap")
	}
	done := make(chan error, 1)
	go func() { done <- w.WaitForDelete(held, time.Minute) }()
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := cs.CoreV1().ConfigMaps(ns).Patch(context.Background(), "held", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("waiting for the released ConfigMap: %v", err)
	}
}

// TestHelmClientHookWait: of a hook's resources this action created, only
// Jobs and Pods go to Helm's hook watcher (it takes every other kind as
// ready once seen); resources it did not write always do. A Job still
// waits until it completes.
func TestHelmClientHookWait(t *testing.T) {
	const ns = "helmclient-hooks"
	cs := setup(t, ns)
	cfg, err := kube.Load(kube.Options{Kubeconfig: cluster.Get(t).Kubeconfig}, ns)
	if err != nil {
		t.Fatal(err)
	}
	hc := kube.NewHelmClient(helmkube.New(cfg.Getter()))
	hc.Namespace = ns
	const hooks = `apiVersion: v1
kind: ServiceAccount
metadata: {name: hook}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: hook}
---
apiVersion: batch/v1
kind: Job
metadata: {name: hook}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
`
	build := func() helmkube.ResourceList {
		list, err := hc.Build(strings.NewReader(hooks), false)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if got, want := names(hc.HookPending(build())), "ServiceAccount/hook ConfigMap/hook Job/hook"; got != want {
		t.Errorf("before any write, pending %q, want %q", got, want)
	}
	written := build()
	if _, err := hc.Create(written); err != nil {
		t.Fatal(err)
	}
	if got, want := names(hc.HookPending(written)), "Job/hook"; got != want {
		t.Errorf("after the write, pending %q, want %q", got, want)
	}
	// The Job is still awaited: the wait returns only once it completed
	// (kwok's node runs its pod).
	w, err := hc.GetWaiterWithOptions(helmkube.StatusWatcherStrategy)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WatchUntilReady(written, time.Minute); err != nil {
		t.Fatal(err)
	}
	job, err := cs.BatchV1().Jobs(ns).Get(context.Background(), "hook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status.Succeeded < 1 {
		t.Errorf("WatchUntilReady returned with the Job not complete: %+v", job.Status)
	}
}

const pooledManifest = `apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c0}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: bad}
bogus: field
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c3}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec: {ports: [{port: 80}]}
`

// pooledClient is a HelmClient for namespace ns (created) that writes two
// resources at a time, and a client to check what it wrote.
func pooledClient(t *testing.T, ns string) (kubernetes.Interface, *kube.HelmClient) {
	t.Helper()
	cs := setup(t, ns)
	cfg, err := kube.Load(kube.Options{Kubeconfig: cluster.Get(t).Kubeconfig}, ns)
	if err != nil {
		t.Fatal(err)
	}
	hc := kube.NewHelmClient(helmkube.New(cfg.Getter()))
	hc.Workers = 2
	return cs, hc
}

// buildIn builds manifest with hc, every resource in namespace ns.
func buildIn(t *testing.T, hc *kube.HelmClient, ns, manifest string) helmkube.ResourceList {
	t.Helper()
	list, err := hc.Build(strings.NewReader(manifest), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range list {
		info.Namespace = ns
	}
	return list
}

// TestHelmClientCreatesAndDeletesWorkersAtATime: with more resources than
// Workers, Create and Delete still do what the SDK's do: every resource
// attempted, the error of the one the API server refuses returned (naming
// it) while the others are written, what was written remembered for the
// wait; Delete counts a resource already gone as deleted.
func TestHelmClientCreatesAndDeletesWorkersAtATime(t *testing.T) {
	const ns = "helmclient-pooled"
	cs, hc := pooledClient(t, ns)
	list := buildIn(t, hc, ns, pooledManifest)

	res, err := hc.Create(list)
	if err == nil || !strings.Contains(err.Error(), "bad") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("Create with a ConfigMap the server refuses: %v, want an error naming it and its field", err)
	}
	if res != nil {
		t.Errorf("Create failed but returned a result: %+v", res)
	}
	ctx := context.Background()
	for _, name := range []string{"c0", "c1", "c2", "c3"} {
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("ConfigMap %s: %v, want it created despite the other's error", name, err)
		}
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "sa", metav1.GetOptions{}); err != nil {
		t.Errorf("ServiceAccount: %v", err)
	}
	if _, err := cs.CoreV1().Services(ns).Get(ctx, "svc", metav1.GetOptions{}); err != nil {
		t.Errorf("Service (the kind after the failed one): %v", err)
	}
	if got, want := names(hc.NotReady(list)), "ConfigMap/bad"; got != want {
		t.Errorf("pending after Create %q, want %q (the written ones remembered)", got, want)
	}

	// Again, from a fresh build (the written objects now carry the
	// server's managedFields, which an apply may not send).
	var good helmkube.ResourceList
	for _, info := range buildIn(t, hc, ns, pooledManifest) {
		if info.Name != "bad" {
			good = append(good, info)
		}
	}
	res, err = hc.Create(good)
	if err != nil {
		t.Fatalf("Create again (applied server-side, so idempotent): %v", err)
	}
	if got, want := names(res.Created), names(good); got != want {
		t.Errorf("Created %q, want %q", got, want)
	}

	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "c1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	del, errs := hc.Delete(good, metav1.DeletePropagationBackground)
	if len(errs) != 0 {
		t.Fatalf("Delete: %v", errs)
	}
	if got, want := len(del.Deleted), len(good); got != want {
		t.Errorf("Deleted %d resources (%s), want %d: one already gone counts", got, names(del.Deleted), want)
	}
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Name != "kube-root-ca.crt" && cm.DeletionTimestamp == nil {
			t.Errorf("ConfigMap %s still there after Delete", cm.Name)
		}
	}
}

const clientSideManifest = `apiVersion: v1
kind: ConfigMap
metadata: {name: c0}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c1}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: Not_A_Name}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c2}
data: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec: {ports: [{port: 80}]}
`

// TestHelmClientCreatesClientSide: after CreateClientSide(true), Create
// writes each resource as the SDK's client-side apply does (the same field
// manager and operation as an object the SDK itself created client-side),
// concurrently, every resource attempted, the refused one's error returned,
// what was written remembered for the wait; and, as the SDK's, a second
// create of the same objects fails (a create is not an apply).
func TestHelmClientCreatesClientSide(t *testing.T) {
	const ns = "helmclient-clientside"
	cs, hc := pooledClient(t, ns)
	build := func(manifest string) helmkube.ResourceList { return buildIn(t, hc, ns, manifest) }
	csa := helmkube.ClientCreateOptionServerSideApply(false, false)

	// The reference: one object the SDK creates client-side itself.
	if _, err := hc.Client.Create(build("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ref}\ndata: {a: b}\n"), csa); err != nil {
		t.Fatal(err)
	}
	hc.CreateClientSide(true)
	list := build(clientSideManifest)
	res, err := hc.Create(list, csa)
	if err == nil || !strings.Contains(err.Error(), "Not_A_Name") {
		t.Fatalf("Create with a name the server refuses: %v, want an error naming it", err)
	}
	if res != nil {
		t.Errorf("Create failed but returned a result: %+v", res)
	}
	ctx := context.Background()
	ref, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "ref", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := managers(ref.ManagedFields)
	if want == "" {
		t.Fatal("the SDK's client-side create left no managedFields to compare with")
	}
	for _, name := range []string{"c0", "c1", "c2"} {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("ConfigMap %s: %v, want it created despite the other's error", name, err)
			continue
		}
		if got := managers(cm.ManagedFields); got != want {
			t.Errorf("ConfigMap %s written by %q, want %q as the SDK's client-side create", name, got, want)
		}
	}
	if _, err := cs.CoreV1().Services(ns).Get(ctx, "svc", metav1.GetOptions{}); err != nil {
		t.Errorf("Service (the kind after the failed one): %v", err)
	}
	if got, want := names(hc.NotReady(list)), "ConfigMap/Not_A_Name"; got != want {
		t.Errorf("pending after Create %q, want %q (the written ones remembered)", got, want)
	}

	again := build("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c0}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c3}\n")
	if _, err := hc.Create(again, csa); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("creating existing objects client-side: %v, want already exists", err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "c3", metav1.GetOptions{}); err != nil {
		t.Errorf("c3, new beside the existing ones: %v", err)
	}
}

// managers lists the manager and operation of each managedFields entry.
func managers(entries []metav1.ManagedFieldsEntry) string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Manager+"/"+string(e.Operation))
	}
	return strings.Join(out, " ")
}
