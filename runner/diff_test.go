package runner

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Objects are compared by identity: added, changed and removed ones get a
// unified diff, unchanged ones none, and Secret values never appear.
func TestDiffManifests(t *testing.T) {
	old := `---
# Source: app/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: a
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: same
data: {x: "1"}
---
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  user: admin
  password: canary-old
---
apiVersion: v1
kind: Service
metadata:
  name: gone
  namespace: other
`
	new := `---
# Source: app/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: b
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: same
data: {x: "1"}
---
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  user: admin
  password: canary-new
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: fresh
`
	got, err := diffManifests(old, new, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, o := range got {
		summary = append(summary, o.Change+" "+o.Kind+" "+o.Namespace+"/"+o.Name)
		if strings.Contains(o.Diff, "canary") {
			t.Errorf("%s %s: a Secret value in the diff:\n%s", o.Kind, o.Name, o.Diff)
		}
	}
	want := []string{"added ConfigMap shop/fresh", "changed ConfigMap shop/settings", "changed Secret shop/db", "removed Service other/gone"}
	if diff := cmp.Diff(want, summary); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	byName := map[string]string{}
	for _, o := range got {
		byName[o.Name] = o.Diff
	}
	if d := byName["settings"]; !strings.Contains(d, "-  mode: a\n+  mode: b\n") || !strings.Contains(d, "--- ConfigMap shop/settings (deployed)") {
		t.Errorf("settings diff:\n%s", d)
	}
	if d := byName["db"]; !strings.Contains(d, "-  password: (masked)\n+  password: (masked) (changed)\n") || strings.Contains(d, "user: (masked) (changed)") {
		t.Errorf("Secret diff:\n%s", d)
	}
	if d := byName["fresh"]; !strings.Contains(d, "(not deployed)") || !strings.Contains(d, "+kind: ConfigMap") {
		t.Errorf("added object diff:\n%s", d)
	}
	if d := byName["gone"]; !strings.Contains(d, "(removed)") || !strings.Contains(d, "-kind: Service") {
		t.Errorf("removed object diff:\n%s", d)
	}
}
