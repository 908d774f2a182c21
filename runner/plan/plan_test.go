package plan

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	p, err := Load("testdata/three.yaml", "default")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	app, op, db := p.Releases[0], p.Releases[1], p.Releases[2]
	if app.Chart != filepath.Join("testdata", "charts/app") && app.Chart != filepath.Join(dir, "charts/app") {
		t.Errorf("app chart = %q, want it relative to the plan file", app.Chart)
	}
	if app.ValuesFiles[0] != filepath.Join("testdata", "app.yaml") {
		t.Errorf("app values file = %q, want it relative to the plan file", app.ValuesFiles[0])
	}
	if op.Chart != "oci://registry.example/charts/operator" || db.Chart != "db" {
		t.Errorf("remote charts changed: %q, %q", op.Chart, db.Chart)
	}
	if db.Namespace != "default" {
		t.Errorf("db namespace = %q, want the default", db.Namespace)
	}
	if op.CreateNamespace == nil || !*op.CreateNamespace || app.CreateNamespace != nil {
		t.Errorf("createNamespace: operator %v, app %v", op.CreateNamespace, app.CreateNamespace)
	}
	if len(db.WaitFor) != 1 || p.Outputs["url"] == "" {
		t.Errorf("waitFor %v, outputs %v", db.WaitFor, p.Outputs)
	}
	order, err := p.Order()
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p, order); got != "operator db app" {
		t.Errorf("order = %s, want operator db app", got)
	}
}

func names(p *Plan, order []int) string {
	var out []string
	for _, i := range order {
		out = append(out, p.Releases[i].Name)
	}
	return strings.Join(out, " ")
}

func TestOrder(t *testing.T) {
	cases := map[string]struct {
		plan, want string
	}{
		"file-order": {`releases: [{name: a, chart: x}, {name: b, chart: x}]`, "a b"},
		"chain":      {`releases: [{name: c, chart: x, needs: [b]}, {name: b, chart: x, needs: [a]}, {name: a, chart: x}]`, "a b c"},
		"diamond":    {`releases: [{name: d, chart: x, needs: [b, c]}, {name: c, chart: x, needs: [a]}, {name: b, chart: x, needs: [a]}, {name: a, chart: x}]`, "a c b d"},
		"qualified":  {`releases: [{name: web, namespace: one, chart: x}, {name: web, namespace: two, chart: x, needs: [one/web]}]`, "web web"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Parse([]byte(tc.plan), "test", "default")
			if err != nil {
				t.Fatal(err)
			}
			order, err := p.Order()
			if err != nil {
				t.Fatal(err)
			}
			if got := names(p, order); got != tc.want {
				t.Errorf("order = %s, want %s", got, tc.want)
			}
		})
	}
}

// Every bad plan is one line that names the entry and what is wrong.
func TestBadPlans(t *testing.T) {
	cases := map[string]struct {
		plan string
		want string
	}{
		"cycle":         {`releases: [{name: a, chart: x, needs: [c]}, {name: b, chart: x, needs: [a]}, {name: c, chart: x, needs: [b]}]`, "releases[0] (a): needs form a cycle: a → c → b → a"},
		"self":          {`releases: [{name: a, chart: x, needs: [a]}]`, "releases[0] (a): needs itself"},
		"unknown-need":  {`releases: [{name: a, chart: x, needs: [nope]}]`, `releases[0] (a): needs "nope": no release of this plan has that name`},
		"ambiguous":     {`releases: [{name: w, namespace: one, chart: x}, {name: w, namespace: two, chart: x}, {name: a, chart: x, needs: [w]}]`, `releases[2] (a): needs "w": several releases have that name; write namespace/name`},
		"duplicate":     {`releases: [{name: a, chart: x}, {name: b, chart: x}, {name: a, chart: z}]`, "releases[2] (a): release default/a is also releases[0] (a)"},
		"unknown-key":   {`releases: [{name: a, chart: x}, {name: b, chart: x, valuesFile: [v.yaml]}]`, `releases[1]: unknown field "valuesFile"`},
		"top-level-key": {`releases: [{name: a, chart: x}]` + "\nrelease: []", `unknown field "release"`},
		"no-chart":      {`releases: [{name: a}]`, "releases[0] (a): no chart"},
		"no-name":       {`releases: [{chart: x}]`, "releases[0]: no name"},
		"bad-name":      {`releases: [{name: Not_Valid, chart: x}]`, `releases[0] (Not_Valid): name "Not_Valid"`},
		"bad-namespace": {`releases: [{name: a, namespace: UPPER, chart: x}]`, `releases[0] (a): namespace "UPPER"`},
		"empty":         {`releases: []`, "no releases"},
		"not-yaml":      {"releases: [", "test: "},
		"wrong-type":    {`releases: [{name: a, chart: x, needs: b}]`, "releases[0]: needs: want []string, not a string"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.plan), "test", "default")
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error = %q, want it to contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

// Values may be secrets: a type error names the key, never the value.
func TestBadPlanDoesNotQuoteValues(t *testing.T) {
	_, err := Parse([]byte(`releases: [{name: a, chart: x, set: canary-secret-value-9}]`), "test", "default")
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Fatalf("error = %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml", "default")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--plan testdata/nope.yaml: no such file or directory") {
		t.Fatalf("error = %v", err)
	}
}
