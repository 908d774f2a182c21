package kube

import (
	"errors"
	"testing"

	helmkube "helm.sh/helm/v4/pkg/kube"
	"k8s.io/kubectl/pkg/validation"
)

// countingFactory returns a new validator on each call, as kubectl's
// factory does, and fails while fail is set.
type countingFactory struct {
	helmkube.Factory
	calls map[string]int
	fail  bool
}

type schemaID struct {
	validation.NullSchema
	n int
}

func (f *countingFactory) Validator(directive string) (validation.Schema, error) {
	f.calls[directive]++
	if f.fail {
		return nil, errors.New("no discovery")
	}
	return &schemaID{n: f.calls[directive]}, nil
}

func TestValidatorCache(t *testing.T) {
	type call struct {
		directive string
		// serverSide: the action applies server-side.
		serverSide bool
		fail       bool
		wantErr    bool
		// wantNone: no validator is built; a no-op schema comes back.
		wantNone bool
		// wantFrom is which underlying call's validator comes back.
		wantFrom int
	}
	tests := []struct {
		name      string
		calls     []call
		wantCalls map[string]int
	}{
		{
			name:      "one directive asked again is made once",
			calls:     []call{{directive: "Strict", wantFrom: 1}, {directive: "Strict", wantFrom: 1}, {directive: "Strict", wantFrom: 1}},
			wantCalls: map[string]int{"Strict": 1},
		},
		{
			name:      "each directive has its own",
			calls:     []call{{directive: "Strict", wantFrom: 1}, {directive: "Ignore", wantFrom: 1}, {directive: "Strict", wantFrom: 1}, {directive: "Ignore", wantFrom: 1}},
			wantCalls: map[string]int{"Strict": 1, "Ignore": 1},
		},
		{
			name: "strict is left to the server while it applies server-side",
			calls: []call{
				{directive: "Strict", serverSide: true, wantNone: true},
				{directive: "Ignore", serverSide: true, wantFrom: 1},
				{directive: "Strict", serverSide: false, wantFrom: 1},
				{directive: "Strict", serverSide: true, wantNone: true},
				{directive: "Strict", serverSide: false, wantFrom: 1},
			},
			wantCalls: map[string]int{"Strict": 1, "Ignore": 1},
		},
		{
			name:      "an error is not kept",
			calls:     []call{{directive: "Strict", fail: true, wantErr: true}, {directive: "Strict", wantFrom: 2}, {directive: "Strict", wantFrom: 2}},
			wantCalls: map[string]int{"Strict": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			under := &countingFactory{calls: map[string]int{}}
			f := &validatorCache{Factory: under}
			for i, c := range tt.calls {
				under.fail = c.fail
				f.serverValidates.Store(c.serverSide)
				v, err := f.Validator(c.directive)
				if (err != nil) != c.wantErr {
					t.Fatalf("call %d: err = %v, want error %v", i, err, c.wantErr)
				}
				if c.wantErr {
					continue
				}
				if c.wantNone {
					if _, ok := v.(validation.NullSchema); !ok {
						t.Errorf("call %d (%s): validator %T, want validation.NullSchema", i, c.directive, v)
					}
					continue
				}
				if got := v.(*schemaID).n; got != c.wantFrom {
					t.Errorf("call %d (%s): validator of underlying call %d, want %d", i, c.directive, got, c.wantFrom)
				}
			}
			for d, n := range tt.wantCalls {
				if under.calls[d] != n {
					t.Errorf("underlying Validator(%q) called %d times, want %d", d, under.calls[d], n)
				}
			}
		})
	}
}
