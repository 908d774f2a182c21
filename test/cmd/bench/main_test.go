package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// -sizes: object counts, or an error naming the flag and the bad count,
// before the control plane is started.
func TestParseSizes(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    []int
		wantErr string
	}{
		"default":    {in: "10,300,1000,3000", want: []int{10, 300, 1000, 3000}},
		"spaces":     {in: " 10 , 300", want: []int{10, 300}},
		"one":        {in: "3000", want: []int{3000}},
		"not number": {in: "10,x", wantErr: `-sizes "10,x": "x" is not a positive object count`},
		"empty":      {in: "", wantErr: `-sizes "": "" is not a positive object count`},
		"zero":       {in: "0,10", wantErr: `"0" is not a positive object count`},
		"negative":   {in: "-5", wantErr: `"-5" is not a positive object count`},
	}
	for name, tc := range cases {
		got, err := parseSizes(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: parseSizes(%q) error = %v, want one with %q", name, tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: parseSizes(%q) = %v, %v; want %v", name, tc.in, got, err, tc.want)
		}
	}
}

// The peak resident set of a running process, from /proc/PID/status.
func TestPeakResidentMB(t *testing.T) {
	real, err := os.ReadFile("testdata/proc-status.txt")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		status  string
		want    float64
		wantErr string
	}{
		"proc status":    {status: string(real), want: 47880.0 / 1024},
		"no VmHWM":       {status: "Name:\thelm\nVmRSS:\t 100 kB\n", wantErr: "no VmHWM line"},
		"not kB":         {status: "VmHWM:\t 100 MB\n", wantErr: `unreadable VmHWM line "VmHWM:\t 100 MB"`},
		"not a number":   {status: "VmHWM:\t many kB\n", wantErr: "unreadable VmHWM line"},
		"empty":          {status: "", wantErr: "no VmHWM line"},
		"VmHWM mid-file": {status: "A:\t1\nVmHWM:\t 2048 kB\nB:\t2\n", want: 2},
	}
	for name, tc := range cases {
		got, err := peakResidentMB([]byte(tc.status))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error = %v, want one with %q", name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: = %v, %v; want %v", name, got, err, tc.want)
		}
	}
}
