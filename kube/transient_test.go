package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// What is worth retrying: outages, restarts, overload and timeouts, also
// once flattened into strings by the Helm SDK; never an answer the server
// meant, and never a context that ended.
func TestIsTransient(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	cases := map[string]struct {
		err  error
		want bool
	}{
		"nil":               {nil, false},
		"refused":           {fmt.Errorf("get: %w", syscall.ECONNREFUSED), true},
		"reset":             {syscall.ECONNRESET, true},
		"net error":         {&net.OpError{Op: "dial", Err: errors.New("x")}, true},
		"eof":               {fmt.Errorf("read: %w", io.EOF), true},
		"unexpected eof":    {io.ErrUnexpectedEOF, true},
		"flattened refused": {errors.New(`Get "https://10.0.0.1/api": dial tcp 10.0.0.1:6443: connect: connection refused`), true},
		"flattened eof":     {errors.New(`Post "https://k/api": EOF`), true},
		"etcd leader":       {errors.New("etcdserver: leader changed"), true},
		"too many requests": {apierrors.NewTooManyRequests("slow down", 1), true},
		"unavailable":       {apierrors.NewServiceUnavailable("restarting"), true},
		"server timeout":    {apierrors.NewServerTimeout(gr, "create", 1), true},
		"internal":          {apierrors.NewInternalError(errors.New("boom")), true},
		"ssa schema error": {fmt.Errorf("server-side apply failed for object ns/typo /v1, Kind=ConfigMap: %w", &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: 500, Message: "failed to create typed patch object (ns/typo; /v1, Kind=ConfigMap): .datta: field not declared in schema",
		}}), false},
		"ssa schema error flattened":   {errors.New("failed to create typed patch object (ns/typo; /v1, Kind=ConfigMap): .datta: field not declared in schema"), false},
		"ssa live object schema error": {apierrors.NewInternalError(errors.New("failed to create typed live object (ns/x; example.com/v1, Kind=Gadget): .spec.old: field not declared in schema")), false},
		"canceled":                     {fmt.Errorf("wait: %w", context.Canceled), false},
		"deadline":                     {context.DeadlineExceeded, false},
		"not found":                    {apierrors.NewNotFound(gr, "x"), false},
		"forbidden":                    {apierrors.NewForbidden(gr, "x", errors.New("no")), false},
		"conflict":                     {apierrors.NewConflict(gr, "x", errors.New("changed")), false},
		"invalid":                      {apierrors.NewBadRequest("spec.replicas: must be >= 0"), false},
		"helm's own failure":           {errors.New("rendered manifests contain a resource that already exists"), false},
		"template error":               {errors.New(`template: app/templates/cm.yaml:3:5: executing "x" at <.Values.a.b>: nil pointer`), false},
	}
	for name, tc := range cases {
		if got := IsTransient(tc.err); got != tc.want {
			t.Errorf("%s: IsTransient(%v) = %v, want %v", name, tc.err, got, tc.want)
		}
	}
}
