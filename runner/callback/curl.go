package callback

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrInvalid is a callback setting that cannot be right.
var ErrInvalid = errors.New("invalid callback")

// Curl is what a curl command line says about a request: the method, URL and
// headers. A ROS WaitConditionHandle's CurlCli attribute is such a line.
type Curl struct {
	Method   string
	URL      string
	Header   http.Header
	Insecure bool
}

// ParseCurl reads a curl command line with shell quoting rules, without a
// shell: nothing is expanded or run. Pipes, lists, redirections,
// substitutions and unknown options are refused.
func ParseCurl(line string) (Curl, error) {
	words, err := shellWords(line)
	if err != nil {
		return Curl{}, fmt.Errorf("%w: --callback-curl: %v", ErrInvalid, err)
	}
	if len(words) == 0 || (words[0] != "curl" && !strings.HasSuffix(words[0], "/curl")) {
		return Curl{}, fmt.Errorf("%w: --callback-curl: want a curl command line", ErrInvalid)
	}
	c := Curl{Header: http.Header{}}
	for i := 1; i < len(words); i++ {
		w := words[i]
		next := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("%w: --callback-curl: %s needs a value", ErrInvalid, w)
			}
			i++
			return words[i], nil
		}
		switch {
		case w == "-X" || w == "--request":
			v, err := next()
			if err != nil {
				return Curl{}, err
			}
			c.Method = strings.ToUpper(v)
		case strings.HasPrefix(w, "-X") && len(w) > 2:
			c.Method = strings.ToUpper(w[2:])
		case w == "-H" || w == "--header":
			v, err := next()
			if err != nil {
				return Curl{}, err
			}
			name, value, ok := strings.Cut(v, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return Curl{}, fmt.Errorf("%w: --callback-curl: header %q is not Name: value", ErrInvalid, strings.TrimSpace(name))
			}
			c.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		case w == "-d" || w == "--data" || w == "--data-binary" || w == "--data-raw":
			// A body in the template is a placeholder: hookrunner sends its own.
			if _, err := next(); err != nil {
				return Curl{}, err
			}
		case w == "-k" || w == "--insecure":
			c.Insecure = true
		case w == "-i" || w == "-s" || w == "-S" || w == "-sS" || w == "-v" || w == "-L" || w == "--silent" || w == "--include" || w == "--show-error" || w == "--location" || w == "--fail" || w == "-f":
			// Output options of curl: nothing to do for a request.
		case strings.HasPrefix(w, "-"):
			return Curl{}, fmt.Errorf("%w: --callback-curl: unsupported curl option %s", ErrInvalid, w)
		default:
			if c.URL != "" {
				return Curl{}, fmt.Errorf("%w: --callback-curl: more than one URL", ErrInvalid)
			}
			c.URL = w
		}
	}
	if c.URL == "" {
		return Curl{}, fmt.Errorf("%w: --callback-curl: no URL", ErrInvalid)
	}
	return c, nil
}

// shellWords splits line as a POSIX shell would split a simple command,
// with single quotes, double quotes and backslashes, and refuses anything
// that would make it more than one simple command or expand something.
func shellWords(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			flush()
		case ch == '\\':
			if i+1 < len(line) && line[i+1] == '\n' {
				i++ // line continuation
				continue
			}
			if i+1 >= len(line) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case ch == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unbalanced single quote")
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				switch line[j] {
				case '\\':
					if j+1 < len(line) && strings.IndexByte("\"\\$`\n", line[j+1]) >= 0 {
						j++
					}
				case '$', '`':
					return nil, errors.New("expansion ($ or `) inside double quotes is not supported")
				}
				cur.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, errors.New("unbalanced double quote")
			}
			i = j
			inWord = true
		case strings.IndexByte("|;&<>`$()", ch) >= 0:
			return nil, fmt.Errorf("%q is shell syntax, and nothing here runs a shell", string(ch))
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return words, nil
}
