// Command pause is the sandbox ("pause") container of the test cluster's real
// node: it holds a pod's namespaces and waits for SIGTERM or SIGINT. No image
// can be pulled here, so the test cluster builds it into a local image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	// PID 1 of the pod: children reparented to it are reaped by the
	// runtime's shim, not here; there are none in a pause container.
	<-sig
}
