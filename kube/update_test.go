package kube_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	helmkube "helm.sh/helm/v4/pkg/kube"
)

// Manifests of updates: documents of a ServiceAccount, ConfigMaps and a
// Service.
const serviceAccount = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n"

func configMap(meta, data string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: " + meta + "\ndata: " + data + "\n"
}

func service(port int) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: %d}]}\n", port)
}

func manifest(docs ...string) string { return strings.Join(docs, "---\n") }

// updateFrom is the release an update starts from: a ServiceAccount,
// ConfigMaps (one kept by policy, one to be dropped) and a Service.
var updateFrom = manifest(serviceAccount,
	configMap("{name: c0}", `{v: "1"}`),
	configMap("{name: c1}", `{v: "1", dropped: "x"}`),
	configMap("{name: c2}", `{v: "1"}`),
	configMap("{name: kept, annotations: {helm.sh/resource-policy: keep}}", `{v: "1"}`),
	configMap("{name: gone}", `{v: "1"}`),
	service(80))

// updateTo changes c0..c2 (c1 loses a key), adds c3 and c4, changes the
// Service's port and drops kept and gone; extra documents come after the
// ConfigMaps.
func updateTo(extra ...string) string {
	docs := []string{serviceAccount}
	for _, name := range []string{"c0", "c1", "c2", "c3", "c4"} {
		docs = append(docs, configMap("{name: "+name+"}", `{v: "2"}`))
	}
	docs = append(docs, extra...)
	return manifest(append(docs, service(81))...)
}

// TestHelmClientUpdatesAsTheSDK: Update with Workers set (2 here, so the
// ConfigMaps go concurrently) leaves the cluster as the SDK's sequential
// Update leaves it, and returns what it returns, in both apply modes: the
// same objects, data and field managers; the same Created, Updated and
// Deleted lists; the same error when a patch is refused (then nothing is
// deleted) and when a create is refused (then the update stops: nothing
// after the refused kind, nothing deleted).
func TestHelmClientUpdatesAsTheSDK(t *testing.T) {
	refusedPatch := configMap("{name: c2}", "{v: 3}")
	refusedCreate := configMap("{name: Not_A_Name}", "{}")
	modes := map[string][]helmkube.ClientUpdateOption{
		"server-side": {helmkube.ClientUpdateOptionServerSideApply(true, false)},
		"client-side": {helmkube.ClientUpdateOptionServerSideApply(false, false), helmkube.ClientUpdateOptionThreeWayMergeForUnstructured(false)},
	}
	cases := map[string]struct {
		extra []string
		// fails: the update returns an error; stops: it stops before
		// the Service.
		fails, stops bool
	}{
		"changes":        {},
		"refused patch":  {extra: []string{refusedPatch}, fails: true},
		"refused create": {extra: []string{refusedCreate}, fails: true, stops: true},
	}
	n := 0
	for mode, opts := range modes {
		for name, tc := range cases {
			n++
			t.Run(mode+"/"+name, func(t *testing.T) {
				ours, sdks := fmt.Sprintf("update-%d-ours", n), fmt.Sprintf("update-%d-sdk", n)
				cs, hc := pooledClient(t, ours)
				_, ref := pooledClient(t, sdks)
				create := []helmkube.ClientCreateOption{helmkube.ClientCreateOptionServerSideApply(mode == "server-side", false)}
				if _, err := hc.Create(buildIn(t, hc, ours, updateFrom), create...); err != nil {
					t.Fatal(err)
				}
				if _, err := ref.Client.Create(buildIn(t, ref, sdks, updateFrom), create...); err != nil {
					t.Fatal(err)
				}

				got, gotErr := hc.Update(buildIn(t, hc, ours, updateFrom), buildIn(t, hc, ours, updateTo(tc.extra...)), opts...)
				want, wantErr := ref.Client.Update(buildIn(t, ref, sdks, updateFrom), buildIn(t, ref, sdks, updateTo(tc.extra...)), opts...)

				if (gotErr != nil) != tc.fails {
					t.Fatalf("Update: %v, want an error: %v", gotErr, tc.fails)
				}
				if tc.fails && sameError(gotErr.Error(), ours) != sameError(wantErr.Error(), sdks) {
					t.Errorf("Update's error:\n%v\nthe SDK's:\n%v", gotErr, wantErr)
				}
				for _, l := range []struct {
					what      string
					got, want helmkube.ResourceList
				}{
					{"Created", got.Created, want.Created},
					{"Updated", got.Updated, want.Updated},
					{"Deleted", got.Deleted, want.Deleted},
				} {
					if names(l.got) != names(l.want) {
						t.Errorf("%s %q, the SDK's %q", l.what, names(l.got), names(l.want))
					}
				}
				if g, w := objects(t, cs, ours), objects(t, cs, sdks); g != w {
					t.Errorf("after Update:\n%s\nafter the SDK's:\n%s", g, w)
				}
				if svc := objects(t, cs, ours); tc.stops == strings.Contains(svc, "port 81") {
					t.Errorf("the Service after Update (stopped: %v):\n%s", tc.stops, svc)
				}
			})
		}
	}
}

// serverFields are the fields of an object that the API server sets and
// that an error quoting the object quotes, escaped.
var serverFields = regexp.MustCompile(`\\"(uid|resourceVersion|creationTimestamp|time)\\":\\"[^\\]*\\"`)

// sameError is msg without its namespace ns or the values of serverFields.
func sameError(msg, ns string) string {
	return serverFields.ReplaceAllString(strings.ReplaceAll(msg, ns, "NS"), `$1`)
}

// objects describes the ConfigMaps and Services of ns: name, data or
// port, field managers, one per line in name order.
func objects(t *testing.T, cs kubernetes.Interface, ns string) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Name == "kube-root-ca.crt" {
			continue
		}
		var data []string
		for k, v := range cm.Data {
			data = append(data, k+"="+v)
		}
		sort.Strings(data)
		out = append(out, fmt.Sprintf("ConfigMap %s %v %s", cm.Name, data, managers(cm.ManagedFields)))
	}
	svcs, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range svcs.Items {
		out = append(out, fmt.Sprintf("Service %s port %d %s", svc.Name, svc.Spec.Ports[0].Port, managers(svc.ManagedFields)))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
