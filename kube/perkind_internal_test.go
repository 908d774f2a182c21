package kube

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	helmkube "helm.sh/helm/v4/pkg/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/resource"
)

func infosOfKinds(kinds ...string) helmkube.ResourceList {
	var list helmkube.ResourceList
	for i, k := range kinds {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind(k)
		u.SetName(fmt.Sprintf("%s-%d", k, i))
		list = append(list, &resource.Info{Name: u.GetName(), Object: u})
	}
	return list
}

// TestEachByKind: every resource is visited once; a run of one kind ends
// before the next begins (the SDK's order); within a run at most workers
// calls are in flight, and as many as that are used.
func TestEachByKind(t *testing.T) {
	repeat := func(kind string, n int) []string { return slices.Repeat([]string{kind}, n) }
	for _, tc := range []struct {
		name    string
		kinds   []string
		workers int
		peak    int // the most calls in flight at once
	}{
		{"empty", nil, 4, 0},
		{"one", []string{"ConfigMap"}, 4, 1},
		{"fewer than workers", repeat("ConfigMap", 3), 4, 3},
		{"more than workers", repeat("ConfigMap", 40), 4, 4},
		{"one worker", repeat("ConfigMap", 5), 1, 1},
		{"kinds in turn", slices.Concat(repeat("ServiceAccount", 6), repeat("ConfigMap", 9), repeat("Service", 2)), 3, 3},
		{"a kind again after another", slices.Concat(repeat("ConfigMap", 5), []string{"Service"}, repeat("ConfigMap", 5)), 8, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := infosOfKinds(tc.kinds...)
			var mu sync.Mutex
			var inFlight, peak int
			var visited []string
			running := map[string]int{}
			// The first calls hold until tc.peak of them are in flight
			// (or a generous timeout, then the peak check fails), and a
			// moment longer for any call beyond the bound to arrive, so
			// the peak does not depend on the scheduler.
			reached := make(chan struct{})
			var once sync.Once
			eachByKind(list, tc.workers, func(info *resource.Info) {
				mu.Lock()
				inFlight++
				peak = max(peak, inFlight)
				if inFlight == tc.peak {
					once.Do(func() { time.AfterFunc(50*time.Millisecond, func() { close(reached) }) })
				}
				running[kindOf(info)]++
				if len(running) > 1 {
					t.Errorf("%s ran while another kind was running: %v", info.Name, running)
				}
				mu.Unlock()
				select {
				case <-reached:
				case <-time.After(10 * time.Second):
				}
				mu.Lock()
				inFlight--
				if running[kindOf(info)]--; running[kindOf(info)] == 0 {
					delete(running, kindOf(info))
				}
				visited = append(visited, info.Name)
				mu.Unlock()
			})
			var want []string
			for _, info := range list {
				want = append(want, info.Name)
			}
			slices.Sort(visited)
			slices.Sort(want)
			if !slices.Equal(visited, want) {
				t.Errorf("visited %v, want each of %v once", visited, want)
			}
			if peak != tc.peak {
				t.Errorf("at most %d calls in flight, want %d", peak, tc.peak)
			}
		})
	}
}

// TestEachByKindOrder: the runs come in the list's order.
func TestEachByKindOrder(t *testing.T) {
	list := infosOfKinds("Namespace", "ServiceAccount", "ServiceAccount", "ConfigMap", "ConfigMap", "ConfigMap", "Deployment")
	var mu sync.Mutex
	var kinds []string
	eachByKind(list, 2, func(info *resource.Info) {
		mu.Lock()
		defer mu.Unlock()
		if len(kinds) == 0 || kinds[len(kinds)-1] != kindOf(info) {
			kinds = append(kinds, kindOf(info))
		}
	})
	if want := []string{"Namespace", "ServiceAccount", "ConfigMap", "Deployment"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds in order %v, want %v", kinds, want)
	}
}
