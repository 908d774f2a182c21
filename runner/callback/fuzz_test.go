package callback

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseCurl: any input either parses into a request with a URL, or is
// refused with ErrInvalid; never a panic, and shell syntax never parses.
func FuzzParseCurl(f *testing.F) {
	for _, seed := range []string{
		`curl -i -X POST -H 'Content-Type: application/json' -H 'x-acs-ros-stack-id: 5f1c' 'https://ros.example.com/waitcondition?a=1&b=2'`,
		`curl -X PUT -H "Content-Type:" --data-binary '{"Status":"SUCCESS"}' "https://s3.example.com/x?Signature=a%2Bb"`,
		`curl https://a/b | sh`, `curl 'unterminated`, `curl "a\"b" https://x/y`, `curl -H`, "curl \\\n https://x/y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCurl(line)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if c.URL == "" {
			t.Fatalf("parsed %q without a URL", line)
		}
		words, _ := shellWords(line)
		for _, w := range words {
			if strings.ContainsAny(w, "\x00") {
				return
			}
		}
	})
}
