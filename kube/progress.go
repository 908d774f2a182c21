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
		state, checked, ok := readyState(ctx, cs, ref)
		if checked {
			gets++
		}
		if ok {
			ready++
		} else if len(waiting) < 3 {
			waiting = append(waiting, fmt.Sprintf("%s %s/%s: %s", ref.Kind, ref.Namespace, ref.Name, state))
		}
	}
	return ready, total, waiting
}

// readyState reads ref when its kind has a readiness of its own.
func readyState(ctx context.Context, cs kubernetes.Interface, ref Ref) (state string, checked, ready bool) {
	get := metav1.GetOptions{}
	replicas := func(p *int32) int32 {
		if p == nil {
			return 1
		}
		return *p
	}
	switch ref.Kind {
	case "Deployment":
		d, err := cs.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return "not found yet", true, false
		}
		return fmt.Sprintf("%d/%d available", d.Status.AvailableReplicas, replicas(d.Spec.Replicas)), true, deploymentReady(d)
	case "StatefulSet":
		s, err := cs.AppsV1().StatefulSets(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return "not found yet", true, false
		}
		return fmt.Sprintf("%d/%d ready", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), true, s.Status.ReadyReplicas >= replicas(s.Spec.Replicas)
	case "DaemonSet":
		d, err := cs.AppsV1().DaemonSets(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return "not found yet", true, false
		}
		return fmt.Sprintf("%d/%d ready", d.Status.NumberReady, d.Status.DesiredNumberScheduled), true, d.Status.NumberReady >= d.Status.DesiredNumberScheduled
	case "ReplicaSet":
		r, err := cs.AppsV1().ReplicaSets(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return "not found yet", true, false
		}
		return fmt.Sprintf("%d/%d ready", r.Status.ReadyReplicas, replicas(r.Spec.Replicas)), true, r.Status.ReadyReplicas >= replicas(r.Spec.Replicas)
	case "Job":
		j, err := cs.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return "not found yet", true, false
		}
		return fmt.Sprintf("%d active, %d succeeded, %d failed", j.Status.Active, j.Status.Succeeded, j.Status.Failed), true, jobComplete(j)
	case "PersistentVolumeClaim":
		p, err := cs.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return "not found yet", true, false
		}
		return string(p.Status.Phase), true, p.Status.Phase == corev1.ClaimBound
	case "Service":
		s, err := cs.CoreV1().Services(ref.Namespace).Get(ctx, ref.Name, get)
		if err != nil {
			return "not found yet", true, false
		}
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			return "", true, true
		}
		return "no load balancer address yet", true, len(s.Status.LoadBalancer.Ingress) > 0
	}
	return "", false, true
}
