// Command receiver is a callback endpoint for the demo: it accepts signals
// on loopback, prints each one (method, path, headers, pretty JSON body) to
// stdout, and answers 200. It writes its URL to the file given by -url-file
// once it listens.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
)

func main() {
	urlFile := flag.String("url-file", "", "write the receiver's URL here once listening")
	addr := flag.String("listen", "127.0.0.1:0", "address to listen on (the cluster's host-ip for hook pods on the real node)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
	url := "http://" + ln.Addr().String()
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile, []byte(url), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "receiver:", err)
			os.Exit(1)
		}
	}
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var pretty bytes.Buffer
		if json.Indent(&pretty, body, "", "  ") != nil {
			pretty.Write(body)
		}
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Printf("%s %s\n", r.Method, r.URL.Path)
		for _, k := range names {
			if k == "Content-Type" || k == "X-Hookrunner-Signature" {
				fmt.Printf("%s: %s\n", k, r.Header.Get(k))
			}
		}
		fmt.Printf("\n%s\n", pretty.String())
	}))
	fmt.Fprintln(os.Stderr, "receiver:", err)
}
