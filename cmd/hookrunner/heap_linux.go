package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"unsafe"
)

const (
	// heapReserve is how much address space the heap grows into with
	// huge pages: more than a run's heap needs (peaks of 40-120 MB on the
	// corpus and bulk charts). Address space, not memory: only what the
	// heap touches is backed.
	heapReserve = 256 << 20
	piece       = 8 << 20
	hugePage    = 2 << 20
	madvHuge    = 14 // MADV_HUGEPAGE
)

// hugePageHeap lays out the address space the heap will grow into and asks
// the kernel to back it with transparent huge pages.
//
// A run's heap grows to tens of MB in a young process, and every fresh 4 KiB
// page is a fault: on virtual machines one costs about 11 µs (measured here:
// 64 MB first touched in 180 ms, and in 4 ms with MADV_HUGEPAGE), so an
// argo-cd no-op spent about 130 ms of its 530 ms in 12,000 faults, most of
// them the heap's. The Go runtime maps its heap without that advice, so a
// placeholder as large as heapReserve is allocated (the runtime maps it and
// never touches it), advised, and handed back to the runtime at once; the
// heap then grows into that advised mapping. Where the kernel's THP setting
// is "never", the advice does nothing; GODEBUG=disablethp=1 (the runtime's
// own switch) turns this off.
func hugePageHeap() {
	reserve := reserveFor(debug.SetMemoryLimit(-1))
	if reserve == 0 || thpDisabled(os.Getenv("GODEBUG")) {
		return
	}
	// The placeholder is many pieces, not one: the runtime zeroes (and so
	// touches, a 4 KiB fault at a time) a piece that reuses memory it
	// freed before, and one 256 MB piece that did took a second.
	// The collector stays off meanwhile: otherwise every piece starts a
	// cycle that marks the heap package initialisation left.
	percent := debug.SetGCPercent(-1)
	pieces := make([][]byte, reserve/piece)
	for i := range pieces {
		pieces[i] = make([]byte, piece)
		advise(pieces[i])
	}
	runtime.KeepAlive(pieces)
	pieces = nil
	debug.SetGCPercent(percent)
	// Collect the placeholder and return its (untouched) pages, so that it
	// never counts against the heap's goal or a memory limit.
	debug.FreeOSMemory()
}

// advise asks for huge pages for every huge page b overlaps (its
// neighbours there are heap memory too).
func advise(b []byte) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	beg := base &^ (hugePage - 1)
	end := (base + uintptr(len(b)) + hugePage - 1) &^ (hugePage - 1)
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, beg, end-beg, madvHuge)
}

// reserveFor is the placeholder's size under a memory limit: heapReserve,
// or half the limit when that is smaller, or nothing when that is below
// 8 MiB.
func reserveFor(limit int64) int {
	r := int64(heapReserve)
	if limit/2 < r {
		r = limit / 2 &^ (piece - 1)
	}
	if r < 8<<20 {
		return 0
	}
	return int(r)
}

// thpDisabled reports whether GODEBUG (comma-separated, the last setting
// winning, as the runtime reads it) sets disablethp=1.
func thpDisabled(godebug string) bool {
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "disablethp" {
			off = v == "1"
		}
	}
	return off
}
