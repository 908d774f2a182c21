package runner

import (
	"runtime/debug"
	"testing"
)

// TestCollectLess: the target rises to driftGCPercent and comes back,
// unless GOGC is set or the target is already as high (or off).
func TestCollectLess(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name          string
		env           string
		before, while int
	}{
		{"the default 50", "", 50, driftGCPercent},
		{"already higher", "", 200, 200},
		{"off", "", -1, -1},
		{"GOGC set", "30", 30, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.env)
			debug.SetGCPercent(tc.before)
			restore := collectLess()
			if got := debug.SetGCPercent(tc.while); got != tc.while {
				t.Errorf("while collecting less: GOGC %d, want %d", got, tc.while)
			}
			restore()
			if got := debug.SetGCPercent(tc.before); got != tc.before {
				t.Errorf("after restore: GOGC %d, want %d", got, tc.before)
			}
		})
	}
}
