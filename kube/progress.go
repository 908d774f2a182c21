package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// maxProgressGets bounds the requests of one progress line.
const maxProgressGets = 50

// Readiness counts how many of refs are ready, for the progress line while
// Helm waits: workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet,
// Job), PersistentVolumeClaims and LoadBalancer Services are read (at most
// maxProgressGets of them); every other kind counts as ready once Helm has
// created it, which is what Helm's own wait makes of it. waiting names the
// first few not ready with their state ("Deployment app/web: 1/2 ready").
func Readiness(ctx context.Context, cs kubernetes.Interface, refs []Ref) (ready, total int, waiting []string) {
	gets := 0
	for _, ref := range refs {
		total++
		if gets >= maxProgressGets {
			continue // not counted as ready: unknown
		}
		st := readRef(ctx, cs, ref)
		if st.checked {
			gets++
		}
		if st.ready {
			ready++
		} else if len(waiting) < 3 {
			waiting = append(waiting, fmt.Sprintf("%s %s/%s: %s", ref.Kind, ref.Namespace, ref.Name, st.state))
		}
	}
	return ready, total, waiting
}

// refState is what readRef learned of one object.
type refState struct {
	checked  bool // its kind has a readiness of its own, and it was read
	found    bool
	ready    bool
	state    string                // "1/2 available", for progress lines
	selector *metav1.LabelSelector // a workload's pods
	pod      *corev1.Pod
	pvc      *corev1.PersistentVolumeClaim
	service  *corev1.Service
}

// readRef reads ref when its kind has a readiness of its own (workloads,
// pods, claims, Services) and says whether it is ready; any other kind is
// left unread and counts as ready. The one home of readiness for progress
// lines and diagnoses.
func readRef(ctx context.Context, cs kubernetes.Interface, ref Ref) refState {
	get := metav1.GetOptions{}
	replicas := func(p *int32) int32 {
		if p == nil {
			return 1
		}
		return *p
	}
	missing := refState{checked: true, state: "not found yet"}
	switch ref.Kind {
	case "Deployment":
		d, err := cs.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return missing
		}
		return refState{checked: true, found: true, ready: deploymentReady(d), selector: d.Spec.Selector,
			state: fmt.Sprintf("%d/%d available", d.Status.AvailableReplicas, replicas(d.Spec.Replicas))}
	case "StatefulSet":
		s, err := cs.AppsV1().StatefulSets(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return missing
		}
		return refState{checked: true, found: true, ready: s.Status.ReadyReplicas >= replicas(s.Spec.Replicas), selector: s.Spec.Selector,
			state: fmt.Sprintf("%d/%d ready", s.Status.ReadyReplicas, replicas(s.Spec.Replicas))}
	case "DaemonSet":
		d, err := cs.AppsV1().DaemonSets(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return missing
		}
		return refState{checked: true, found: true, ready: d.Status.NumberReady >= d.Status.DesiredNumberScheduled, selector: d.Spec.Selector,
			state: fmt.Sprintf("%d/%d ready", d.Status.NumberReady, d.Status.DesiredNumberScheduled)}
	case "ReplicaSet":
		r, err := cs.AppsV1().ReplicaSets(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return missing
		}
		return refState{checked: true, found: true, ready: r.Status.ReadyReplicas >= replicas(r.Spec.Replicas), selector: r.Spec.Selector,
			state: fmt.Sprintf("%d/%d ready", r.Status.ReadyReplicas, replicas(r.Spec.Replicas))}
	case "Job":
		j, err := cs.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return missing
		}
		return refState{checked: true, found: true, ready: jobComplete(j), selector: j.Spec.Selector,
			state: fmt.Sprintf("%d active, %d succeeded, %d failed", j.Status.Active, j.Status.Succeeded, j.Status.Failed)}
	case "Pod":
		p, err := cs.CoreV1().Pods(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return missing
		}
		ready := p.Status.Phase == corev1.PodSucceeded
		for _, c := range p.Status.Conditions {
			ready = ready || c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
		}
		return refState{checked: true, found: true, ready: ready, pod: p, state: string(p.Status.Phase)}
	case "PersistentVolumeClaim":
		p, err := cs.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return missing
		}
		return refState{checked: true, found: true, ready: p.Status.Phase != corev1.ClaimPending, pvc: p, state: string(p.Status.Phase)}
	case "Service":
		s, err := cs.CoreV1().Services(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return missing
		}
		lb := s.Spec.Type == corev1.ServiceTypeLoadBalancer
		return refState{checked: true, found: true, ready: !lb || len(s.Status.LoadBalancer.Ingress) > 0, service: s,
			state: "no load balancer address yet"}
	}
	return refState{ready: true}
}
