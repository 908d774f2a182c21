package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

func TestReserveFor(t *testing.T) {
	cases := []struct {
		limit int64
		want  int
	}{
		{limit: 1<<63 - 1, want: heapReserve}, // no limit
		{limit: 1 << 30, want: heapReserve},
		{limit: 320 << 20, want: 160 << 20},
		{limit: 300 << 20, want: 144 << 20}, // rounded down to whole pieces
		{limit: 16 << 20, want: 8 << 20},
		{limit: 15 << 20, want: 0},
		{limit: 0, want: 0},
	}
	for _, tc := range cases {
		if got := reserveFor(tc.limit); got != tc.want {
			t.Errorf("reserveFor(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestTHPDisabled(t *testing.T) {
	cases := map[string]bool{
		"":                               false,
		"disablethp=1":                   true,
		"disablethp=0":                   false,
		"gctrace=1,disablethp=1":         true,
		"disablethp=1,disablethp=0":      false, // the last one wins
		" disablethp=1 , madvdontneed=1": true,
		"xdisablethp=1":                  false,
	}
	for in, want := range cases {
		if got := thpDisabled(in); got != want {
			t.Errorf("thpDisabled(%q) = %v, want %v", in, got, want)
		}
	}
}

// After hugePageHeap, a large allocation lands in a mapping advised for
// huge pages ("hg" among its VmFlags).
func TestHugePageHeap(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skipf("this kernel has no transparent huge pages: %v", err)
	}
	if thpDisabled(os.Getenv("GODEBUG")) {
		t.Skip("GODEBUG sets disablethp=1")
	}
	flagsAt := func(addr uintptr) string {
		f, err := os.Open("/proc/self/smaps")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		in := false
		s := bufio.NewScanner(f)
		for s.Scan() {
			line := s.Text()
			var lo, hi uintptr
			if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 { // a mapping's first line
				in = lo <= addr && addr < hi
				continue
			}
			if in && strings.HasPrefix(line, "VmFlags:") {
				return line
			}
		}
		t.Fatalf("no mapping holds %#x", addr)
		return ""
	}
	hugePageHeap()
	b := make([]byte, 32<<20)
	mid := uintptr(unsafe.Pointer(&b[len(b)/2]))
	if flags := flagsAt(mid); !strings.Contains(flags, " hg") {
		t.Errorf("a 32 MB allocation after hugePageHeap is in a mapping without huge page advice: %s", flags)
	}
}
