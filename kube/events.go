package kube

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// EventController is the reporting controller of hookrunner's Events.
const EventController = "hookrunner"

// maxEventMessage bounds an Event's message (events.k8s.io's limit).
const maxEventMessage = 1024

// Recorder records what a run did as Kubernetes Events. Events are a
// courtesy: a Recorder never fails a run. The first refusal (no RBAC for
// events) is logged once as a warning and disables it.
type Recorder struct {
	cs       kubernetes.Interface
	log      *slog.Logger
	instance string

	mu       sync.Mutex
	disabled bool
}

// NewRecorder returns a Recorder that writes with cs.
func NewRecorder(cs kubernetes.Interface, log *slog.Logger) *Recorder {
	host, _ := os.Hostname()
	return &Recorder{cs: cs, log: log, instance: host}
}

// Object names what an Event is about; Record looks up its UID, so that
// `kubectl describe` shows the Event.
type Object struct {
	Kind      string // Secret or Pod
	Namespace string
	Name      string
}

// Record creates one Event (type corev1.EventTypeNormal or Warning) about
// each object that exists, within ctx.
func (r *Recorder) Record(ctx context.Context, about []Object, eventType, reason, message string) {
	if r == nil {
		return
	}
	message = clip(message, maxEventMessage)
	for _, obj := range about {
		r.mu.Lock()
		disabled := r.disabled
		r.mu.Unlock()
		if disabled || ctx.Err() != nil {
			return
		}
		ref := corev1.ObjectReference{Kind: obj.Kind, APIVersion: "v1", Namespace: obj.Namespace, Name: obj.Name}
		var meta metav1.Object
		var err error
		switch obj.Kind {
		case "Secret":
			meta, err = r.cs.CoreV1().Secrets(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		case "Pod":
			meta, err = r.cs.CoreV1().Pods(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		}
		if err == nil && meta != nil {
			ref.UID = meta.GetUID()
		}
		now := metav1.NewTime(time.Now())
		ev := &corev1.Event{
			ObjectMeta:          metav1.ObjectMeta{GenerateName: obj.Name + ".", Namespace: obj.Namespace},
			InvolvedObject:      ref,
			Reason:              reason,
			Message:             message,
			Type:                eventType,
			Source:              corev1.EventSource{Component: EventController},
			ReportingController: EventController,
			ReportingInstance:   r.instance,
			Action:              reason,
			FirstTimestamp:      now,
			LastTimestamp:       now,
			Count:               1,
		}
		if _, err := r.cs.CoreV1().Events(obj.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
				r.mu.Lock()
				r.disabled = true
				r.mu.Unlock()
				r.log.Warn("cannot record Events (grant create on events to record them); going on without", "namespace", obj.Namespace, "error", err.Error())
				return
			}
			r.log.Debug("recording an Event failed", "error", err.Error())
		}
	}
}
