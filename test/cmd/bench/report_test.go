package main

import (
	"strings"
	"testing"
)

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

// The kube-prometheus-stack RSS target set beside the floor: every number
// from the measures, nothing when one is missing.
func TestFloorNote(t *testing.T) {
	kps := func(hr, helm float64) corpusResult {
		return corpusResult{chart: "kube-prometheus-stack", samples: map[string]map[string][]sample{
			"hookrunner": {opInstall: {{RSSMB: hr}, {RSSMB: hr + 10}, {RSSMB: hr - 10}}},
			"helm":       {opInstall: {{RSSMB: helm}}},
		}}
	}
	cold := startup{residentMB: map[string][]float64{"hookrunner": {47, 48, 49}, "helm": {48}}}
	cases := map[string]struct {
		cold   startup
		corpus []corpusResult
		want   []string // substrings; none: no note
	}{
		"measured": {cold, []corpusResult{{chart: "podinfo"}, kps(98, 108)}, []string{
			"allows half helm's peak: 54 MB", "already 48 MB resident, a helm process 48 MB",
			"leaves 6 MB above that floor", "took hookrunner 50 MB above the floor, helm 60 MB"}},
		"floor above the target": {cold, []corpusResult{kps(98, 95)}, []string{
			"allows half helm's peak: 48 MB", "leaves nothing above that floor", "helm 47 MB"}},
		"no latency section": {startup{}, []corpusResult{kps(98, 108)}, nil},
		"no corpus":          {cold, nil, nil},
		"chart skipped":      {cold, []corpusResult{{chart: "kube-prometheus-stack", skipped: "not in the corpus"}}, nil},
		"other charts only":  {cold, []corpusResult{{chart: "argo-cd", samples: kps(98, 108).samples}}, nil},
	}
	for name, tc := range cases {
		got := floorNote(tc.cold, tc.corpus)
		if len(tc.want) == 0 {
			if got != "" {
				t.Errorf("%s: floorNote = %q, want none", name, got)
			}
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: floorNote = %q, want it to say %q", name, got, w)
			}
		}
	}
}
