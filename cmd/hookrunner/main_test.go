package main

import "testing"

func TestCommandOf(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"uninstall":   {args: []string{"uninstall", "web", "--bogus"}, want: "uninstall"},
		"flags first": {args: []string{"--log-format", "json", "uninstall"}, want: "uninstall"},
		"install":     {args: []string{"install", "--timeout", "x"}, want: "install"},
		"nothing":     {args: nil, want: ""},
		"only flags":  {args: []string{"--help"}, want: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := commandOf(tc.args); got != tc.want {
				t.Errorf("commandOf(%q) = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}
