package chart

import (
	"errors"
	"testing"
)

// FuzzSetValues: any --set, --set-string and --set-json entry is accepted
// and merged, or refused with ErrInvalidValues naming the flag; never a
// panic.
func FuzzSetValues(f *testing.F) {
	for _, seed := range []string{"a=b", "a.b[0].c=1,d=e", "a[x]=1", `a\.b=c`, "a[-1]=2", "=v", "a..b=1", `cfg={"a":[1,2]}`, `{"a":`, "a[65537]=1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		for _, v := range []Values{{Set: []string{entry}}, {SetString: []string{entry}}, {SetJSON: []string{entry}}} {
			_, _, err := v.Merge()
			if err != nil && !errors.Is(err, ErrInvalidValues) {
				t.Fatalf("error %v is not ErrInvalidValues", err)
			}
		}
	})
}
