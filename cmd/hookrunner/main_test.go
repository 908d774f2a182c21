package main

import (
	"testing"
	"time"
)

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

// A command line that does not parse is reported with the settings the
// environment gives, read through the flags' own env and default tags.
func TestFromEnvironment(t *testing.T) {
	t.Setenv("HOOKRUNNER_RELEASE", "shop")
	t.Setenv("HOOKRUNNER_NAMESPACE", "")
	t.Setenv("HOOKRUNNER_RESULT_FILE", "/tmp/result.json")
	t.Setenv("HOOKRUNNER_CALLBACK_URL", "https://ros.example.com/signal?sig=x")
	t.Setenv("HOOKRUNNER_CALLBACK_HEADER", "Authorization: Bearer x")
	t.Setenv("HOOKRUNNER_CALLBACK_TIMEOUT", "3s")
	t.Setenv("HOOKRUNNER_CALLBACK_BUDGET", "not a duration")
	common, cb := fromEnvironment()
	if common.Release != "shop" || common.Namespace != "default" || common.ResultFile != "/tmp/result.json" || common.Timeout != 10*time.Minute {
		t.Errorf("common = %+v", common)
	}
	if cb.URL != "https://ros.example.com/signal?sig=x" || cb.Format != "ros" || len(cb.Headers) != 1 || cb.AttemptTimeout != 3*time.Second || cb.Budget != 0 {
		t.Errorf("callback = %+v", cb)
	}
}
