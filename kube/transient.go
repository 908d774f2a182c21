package kube

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// transientMessages are what transport failures look like once an error
// has been flattened into a string on its way through the Helm SDK.
var transientMessages = []string{
	"connection refused", "connection reset by peer", "broken pipe", "i/o timeout",
	"http2: client connection lost", "TLS handshake timeout", "unexpected EOF",
	"the server is currently unable to handle the request", "etcdserver: request timed out",
	"etcdserver: leader changed", "the server was unable to return a response in the time allotted",
	"too many requests", "net/http: request canceled while waiting for connection",
	"use of closed network connection", "no route to host",
}

// permanentMessages are server errors that come back the same however
// often they are retried. Server-side apply answers a field the type's
// schema does not declare with HTTP 500 instead of 400
// (kubernetes/kubernetes#122480, #139253): an unknown field in a chart is a
// bad chart, not a sick API server.
var permanentMessages = []string{
	"failed to create typed patch object", "failed to create typed live object",
}

// IsTransient reports whether err is worth retrying: the API server was
// unreachable, restarting, overloaded or timed out. A context that ended is
// not transient: the caller's deadline decides.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	msg := err.Error()
	for _, m := range permanentMessages {
		if strings.Contains(msg, m) {
			return false
		}
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return true
	}
	for _, m := range transientMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return strings.HasSuffix(msg, ": EOF") || msg == "EOF"
}
