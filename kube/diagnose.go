package kube

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Ref names one object of a release.
type Ref struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

// Finding is one reason why an object is not ready, as a person would read
// it in `kubectl describe`.
type Finding struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Pod is the pod of a workload the finding is about.
	Pod string `json:"pod,omitempty"`
	// Reason is Kubernetes' own word for it: Unschedulable, ImagePullBackOff,
	// CrashLoopBackOff, CreateContainerConfigError, FailedBinding, …
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// rank orders findings by how likely each is the root cause (lower
	// first): a pod that cannot be scheduled explains a Deployment that is
	// not available, not the other way round.
	rank int
}

// Limits of a diagnosis: it runs after a failure, before the report, and
// must not delay it or load the API server.
const (
	maxPodsPerWorkload = 10
	maxLogLines        = 3
	maxLogBytes        = 2048
	maxMessage         = 300
	maxCustomReads     = 20
)

// Diagnose finds why the objects refs are not ready: for workloads
// (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job) the state of their
// pods (not scheduled, an image that cannot be pulled, a container that
// crash-loops, with the last lines of its previous log, a missing Secret or
// ConfigMap, failing readiness probes), PersistentVolumeClaims left Pending
// and LoadBalancer Services without an address. It returns at most max
// findings, most likely root cause first; errors reading an object only
// leave it out. custom reads other kinds (custom resources), whose kstatus
// status and message it reports; its zero value reads none. The caller
// bounds ctx (a few seconds).
func Diagnose(ctx context.Context, cs kubernetes.Interface, refs []Ref, max int, custom CustomReader) []Finding {
	var found []Finding
	seen := map[string]bool{}
	add := func(f Finding) {
		key := f.Kind + "/" + f.Namespace + "/" + f.Name + "/" + f.Reason
		if !seen[key] {
			seen[key] = true
			found = append(found, f)
		}
	}
	customReads := 0
	for _, ref := range refs {
		if ctx.Err() != nil {
			break
		}
		fs := diagnoseOne(ctx, cs, ref)
		if fs == nil && !builtinKind(ref) && customReads < maxCustomReads {
			customReads++
			fs = custom.diagnose(ctx, ref)
		}
		for _, f := range fs {
			add(f)
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].rank < found[j].rank })
	if len(found) > max {
		found = found[:max]
	}
	return found
}

func diagnoseOne(ctx context.Context, cs kubernetes.Interface, ref Ref) []Finding {
	st := readRef(ctx, cs, ref)
	switch {
	case !st.found || st.ready:
		return nil
	case st.selector != nil:
		return podsOf(ctx, cs, ref, st.selector)
	case st.pod != nil:
		return podFindings(ctx, cs, ref, st.pod)
	case st.pvc != nil:
		f := Finding{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Reason: "Pending", rank: 2,
			Message: "the claim is not bound"}
		if st.pvc.Spec.StorageClassName == nil || *st.pvc.Spec.StorageClassName == "" {
			f.Message = "the claim is not bound: it names no StorageClass and none is the cluster's default"
		}
		if ev := lastWarning(ctx, cs, ref, "PersistentVolumeClaim"); ev != nil {
			f.Reason, f.Message = ev.Reason, ev.Message
		}
		return []Finding{f}
	case st.service != nil:
		f := Finding{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Reason: "NoLoadBalancerAddress", rank: 5,
			Message: "no load balancer has given the Service an address (is a load-balancer controller running?)"}
		if ev := lastWarning(ctx, cs, ref, "Service"); ev != nil {
			f.Message += ": " + ev.Reason + ": " + ev.Message
		}
		return []Finding{f}
	}
	return nil
}

func deploymentReady(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= want && d.Status.AvailableReplicas >= want
}

func jobComplete(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// podsOf diagnoses the pods a workload selects.
func podsOf(ctx context.Context, cs kubernetes.Interface, owner Ref, sel *metav1.LabelSelector) []Finding {
	if sel == nil {
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil
	}
	pods, err := cs.CoreV1().Pods(owner.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String(), Limit: maxPodsPerWorkload})
	if err != nil {
		return nil
	}
	var out []Finding
	for i := range pods.Items {
		for _, f := range podFindings(ctx, cs, owner, &pods.Items[i]) {
			out = append(out, f)
		}
		if len(out) > 0 {
			break // one pod tells the story; its siblings share it
		}
	}
	if len(out) == 0 && len(pods.Items) == 0 {
		// No pod at all: the controller could not create one (quota, an
		// admission webhook, a missing ServiceAccount).
		if ev := lastWarning(ctx, cs, owner, owner.Kind); ev != nil {
			out = append(out, Finding{Kind: owner.Kind, Namespace: owner.Namespace, Name: owner.Name, Reason: ev.Reason, Message: ev.Message, rank: 2})
		}
	}
	return out
}

// podFindings says why one pod is not ready, as its owner's finding.
func podFindings(ctx context.Context, cs kubernetes.Interface, owner Ref, pod *corev1.Pod) []Finding {
	finding := func(reason, msg string, rank int) Finding {
		f := Finding{Kind: owner.Kind, Namespace: owner.Namespace, Name: owner.Name, Reason: reason, Message: clip(msg, maxMessage), rank: rank}
		if owner.Kind != "Pod" {
			f.Pod = pod.Name
		}
		return f
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return []Finding{finding(c.Reason, c.Message, 1)}
		}
	}
	var out []Finding
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, s := range statuses {
		w := s.State.Waiting
		switch {
		case w != nil && (w.Reason == "ImagePullBackOff" || w.Reason == "ErrImagePull" || w.Reason == "ErrImageNeverPull" || w.Reason == "InvalidImageName"):
			out = append(out, finding(w.Reason, fmt.Sprintf("container %s: image %s: %s", s.Name, s.Image, w.Message), 2))
		case w != nil && (w.Reason == "CreateContainerConfigError" || w.Reason == "CreateContainerError" || w.Reason == "RunContainerError"):
			out = append(out, finding(w.Reason, fmt.Sprintf("container %s: %s", s.Name, w.Message), 2))
		case s.LastTerminationState.Terminated != nil && (w != nil && w.Reason == "CrashLoopBackOff" || !s.Ready):
			t := s.LastTerminationState.Terminated
			reason := "CrashLoopBackOff"
			if w == nil || w.Reason != "CrashLoopBackOff" {
				reason = "ContainerTerminated"
			}
			msg := fmt.Sprintf("container %s exited with code %d", s.Name, t.ExitCode)
			if t.Reason != "" && t.Reason != "Error" {
				msg += " (" + t.Reason + ")"
			}
			msg = withLogLines(msg, lastLogLines(ctx, cs, pod, s.Name, true))
			out = append(out, finding(reason, msg, 3))
		case s.State.Terminated != nil && s.State.Terminated.ExitCode != 0:
			t := s.State.Terminated
			msg := fmt.Sprintf("container %s exited with code %d", s.Name, t.ExitCode)
			msg = withLogLines(msg, lastLogLines(ctx, cs, pod, s.Name, false))
			out = append(out, finding("ContainerFailed", msg, 3))
		}
	}
	if len(out) > 0 {
		return out
	}
	if pod.Status.Phase == corev1.PodRunning {
		if ev := lastWarning(ctx, cs, Ref{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name}, "Pod"); ev != nil && ev.Reason == "Unhealthy" {
			return []Finding{finding(ev.Reason, ev.Message, 4)}
		}
	}
	return nil
}

// lastLogLines returns the last lines of a container's log (its previous
// run when previous), joined with " | ", bounded in lines and bytes. A
// crashing container is restarted at any moment, and the kubelet then
// answers for the run it no longer has with a line saying so: the other
// run (the current one, which fails the same way) is asked instead.
func lastLogLines(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, container string, previous bool) string {
	lines := logLines(ctx, cs, pod, container, previous)
	if lines == "" || strings.HasPrefix(lines, "unable to retrieve container logs") {
		if other := logLines(ctx, cs, pod, container, !previous); other != "" && !strings.HasPrefix(other, "unable to retrieve container logs") {
			return other
		}
		return ""
	}
	return lines
}

func logLines(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, container string, previous bool) string {
	tail, limit := int64(maxLogLines), int64(maxLogBytes)
	rc, err := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Previous: previous, TailLines: &tail, LimitBytes: &limit}).Stream(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	data, _ := io.ReadAll(io.LimitReader(rc, maxLogBytes))
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " | ")
}

// withLogLines appends a container's last log lines to msg, keeping their
// end when the finding's message (maxMessage) cannot hold them all: a
// crashing program's last line is most often its fatal error, and the
// order in which the runtime interleaves its stdout and stderr lines is
// not fixed.
func withLogLines(msg, lines string) string {
	if lines == "" {
		return msg
	}
	msg += "; last log lines: "
	return msg + clipFront(lines, maxMessage-len(msg))
}

// clipFront is clip keeping the end of s: "…" and the last n-len("…")
// bytes, whitespace collapsed, cut at a rune boundary.
func clipFront(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := len(s) - (n - len("…"))
	for cut < len(s) && !utf8RuneStart(s[cut]) {
		cut++
	}
	return "…" + s[cut:]
}

// lastWarning returns the newest Warning Event about an object, or nil.
func lastWarning(ctx context.Context, cs kubernetes.Interface, ref Ref, kind string) *corev1.Event {
	sel := fields.Set{"involvedObject.name": ref.Name, "involvedObject.kind": kind, "type": corev1.EventTypeWarning}.AsSelector().String()
	events, err := cs.CoreV1().Events(ref.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel, Limit: 50})
	if err != nil || len(events.Items) == 0 {
		return nil
	}
	newest := &events.Items[0]
	for i := range events.Items {
		e := &events.Items[i]
		if eventTime(e).After(eventTime(newest).Time) {
			newest = e
		}
	}
	return newest
}

func eventTime(e *corev1.Event) metav1.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.NewTime(e.EventTime.Time)
	}
	return e.CreationTimestamp
}

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// String renders a finding as the first clause of a failure reason:
// "Deployment app/web not ready: pod web-7c9d…: Unschedulable: 0/3 nodes are available: …".
func (f Finding) String() string {
	pod := ""
	if f.Pod != "" {
		pod = "pod " + f.Pod + ": "
	}
	return fmt.Sprintf("%s %s/%s not ready: %s%s: %s", f.Kind, f.Namespace, f.Name, pod, f.Reason, f.Message)
}

// builtinKind reports whether ref is of a kind of the core, apps or batch
// API groups, which diagnoseOne reads or deliberately leaves alone.
func builtinKind(ref Ref) bool {
	group, _, found := strings.Cut(ref.APIVersion, "/")
	return !found || readyOnCreate[group] || group == "apps" || group == "batch"
}

// readyOnCreate are API groups whose objects have no readiness to wait for.
var readyOnCreate = map[string]bool{
	"rbac.authorization.k8s.io": true, "policy": true, "networking.k8s.io": true, "scheduling.k8s.io": true,
	"admissionregistration.k8s.io": true, "storage.k8s.io": true, "coordination.k8s.io": true, "autoscaling": true,
	"discovery.k8s.io": true, "node.k8s.io": true,
}

// CustomReader reads objects of any kind (custom resources) for a
// diagnosis, through discovery and the dynamic client.
type CustomReader struct {
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
}

// diagnose reports a custom resource that kstatus does not compute Current,
// with kstatus's status and message (its Ready condition's, usually).
func (c CustomReader) diagnose(ctx context.Context, ref Ref) []Finding {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || c.Dynamic == nil || c.Mapper == nil {
		return nil
	}
	mapping, err := c.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return nil
	}
	var obj *unstructured.Unstructured
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		obj, err = c.Dynamic.Resource(mapping.Resource).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		obj, err = c.Dynamic.Resource(mapping.Resource).Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil
	}
	res, err := status.Compute(obj)
	if err != nil || res.Status == status.CurrentStatus {
		return nil
	}
	msg := res.Message
	if msg == "" {
		msg = "not Current"
	}
	return []Finding{{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Reason: string(res.Status), Message: clip(msg, maxMessage), rank: 4}}
}
