//go:build !linux

package main

// hugePageHeap does nothing where there are no transparent huge pages.
func hugePageHeap() {}
