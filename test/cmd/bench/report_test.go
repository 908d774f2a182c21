package main

import "testing"

func TestTargetMeasured(t *testing.T) {
	for _, tc := range []struct {
		value, limit float64
		format, want string
	}{
		{0.2022, 0.2, "%.2f", "0.202"},
		{0.1996, 0.2, "%.2f", "0.20"},       // met: equal reads as met
		{0.2000001, 0.2, "%.2f", "0.20000"}, // still equal after three more digits: stop there
		{0.21, 0.2, "%.2f", "0.21"},
		{0.2, 0.2, "%.2f", "0.20"},
		{13.7, 100, "%.1f", "13.7"},
		{100.04, 100, "%.1f", "100.04"},
	} {
		got := target{value: tc.value, limit: tc.limit, format: tc.format}.measured()
		if got != tc.want {
			t.Errorf("measured(%v against %v, %s) = %s, want %s", tc.value, tc.limit, tc.format, got, tc.want)
		}
	}
}
