package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/test/chartsrv"
	"github.com/hookrunner/hookrunner/test/cluster"
)

const recipes = "../../docs/recipes"

// recipeCheck is what checkRecipes found in a recipes directory.
type recipeCheck struct {
	problems      []string
	wrapperValues int // wrapper chart values documents rendered
	flags         int // hookrunner flags and variables checked
}

// checkRecipes parses every template under dir, renders the wrapper chart
// with every set of wrapper values a recipe gives (the chart's schema
// refuses unknown values), and checks every hookrunner flag and HOOKRUNNER_*
// variable the recipes name against the binary's own help.
func checkRecipes(t *testing.T, dir string) recipeCheck {
	t.Helper()
	var rc recipeCheck
	known := knownFlags(t)
	var texts []string // every recipe text, decoded from its format
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		var doc any
		switch filepath.Ext(path) {
		case ".json":
			if err := json.Unmarshal(data, &doc); err != nil {
				rc.problems = append(rc.problems, fmt.Sprintf("%s: not JSON: %v", rel, err))
				return nil
			}
		case ".yaml":
			if err := yaml.Unmarshal(data, &doc); err != nil {
				rc.problems = append(rc.problems, fmt.Sprintf("%s: not YAML: %v", rel, err))
				return nil
			}
		default:
			texts = append(texts, string(data))
			return nil
		}
		texts = append(texts, strings_(doc)...)
		for i, values := range wrapperValuesIn(rel, doc) {
			rc.wrapperValues++
			if msg := renderWrapper(t, values); msg != "" {
				rc.problems = append(rc.problems, fmt.Sprintf("%s: wrapper values %d: %s", rel, i, msg))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	invocation := regexp.MustCompile(`hookrunner(?:-linux-[a-z0-9]+)?\s+(?:install|uninstall|render|images)\b(?:[^\n]*\\\n)*[^\n]*`)
	flag := regexp.MustCompile(`(?:^|\s)(--[a-z][a-z0-9-]*)`)
	env := regexp.MustCompile(`\bHOOKRUNNER_[A-Z0-9_]+\b`)
	for _, text := range texts {
		for _, call := range invocation.FindAllString(text, -1) {
			for _, m := range flag.FindAllStringSubmatch(call, -1) {
				rc.flags++
				if !known[m[1]] {
					rc.problems = append(rc.problems, fmt.Sprintf("hookrunner has no flag %s (in %q)", m[1], firstLine(call)))
				}
			}
		}
		for _, name := range env.FindAllString(text, -1) {
			rc.flags++
			if !known["$"+name] {
				rc.problems = append(rc.problems, fmt.Sprintf("hookrunner reads no variable %s", name))
			}
		}
	}
	sort.Strings(rc.problems)
	return rc
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// knownFlags returns the flags ("--name") and variables ("$NAME") of the
// install and uninstall commands, from the binary's help.
func knownFlags(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, cmd := range []string{"install", "uninstall", "render", "images"} {
		out, _ := exec.Command(binary, cmd, "--help").CombinedOutput()
		for _, m := range regexp.MustCompile(`--[a-z][a-z0-9-]*`).FindAllString(string(out), -1) {
			known[m] = true
		}
		for _, m := range regexp.MustCompile(`\$[A-Z][A-Z0-9_]*`).FindAllString(string(out), -1) {
			known[m] = true
		}
	}
	if len(known) < 30 {
		t.Fatalf("read only %d flags and variables from the help: the parse is broken", len(known))
	}
	return known
}

// strings_ returns every string in a decoded document.
func strings_(doc any) []string {
	switch v := doc.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, strings_(x)...)
		}
		return out
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, strings_(x)...)
		}
		return out
	}
	return nil
}

// wrapperValuesIn returns the wrapper chart values a recipe document sets:
// the ChartValues of a ROS ClusterHelmApplication, an Argo CD
// Application's valuesObject, or a whole values file.
func wrapperValuesIn(rel string, doc any) []map[string]any {
	m, _ := doc.(map[string]any)
	switch {
	case m == nil:
		return nil
	case m["ROSTemplateFormatVersion"] != nil:
		var out []map[string]any
		resources, _ := m["Resources"].(map[string]any)
		for _, r := range resources {
			res, _ := r.(map[string]any)
			if res["Type"] == "ALIYUN::CS::ClusterHelmApplication" {
				props, _ := res["Properties"].(map[string]any)
				if v, ok := placeholders(props["ChartValues"]).(map[string]any); ok {
					out = append(out, v)
				}
			}
		}
		return out
	case m["kind"] == "Application":
		spec, _ := m["spec"].(map[string]any)
		source, _ := spec["source"].(map[string]any)
		helm, _ := source["helm"].(map[string]any)
		if v, ok := helm["valuesObject"].(map[string]any); ok {
			return []map[string]any{v}
		}
	case strings.HasSuffix(rel, "values.yaml") || strings.HasSuffix(rel, "wrapper-values.yaml"):
		return []map[string]any{m}
	}
	return nil
}

// placeholders replaces ROS and CloudFormation intrinsic functions ({Ref:
// …}, {Fn::…: …}) with a string, as the stack would at deploy time.
func placeholders(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return "curl -X POST https://ros.example.com/placeholder"
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = placeholders(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = placeholders(e)
		}
		return out
	}
	return v
}

// renderWrapper renders the wrapper chart with values (and a placeholder
// chart when they name none) and returns helm's complaint, or "".
func renderWrapper(t *testing.T, values map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(values)
	if err != nil {
		return err.Error()
	}
	file := writeFile(t, "recipe-values.yaml", string(data))
	args := []string{"template", "w", wrapperChart, "-f", file}
	target, _ := values["target"].(map[string]any)
	if values["ChartUrl"] == nil && target["chart"] == nil && target["chartContent"] == nil && target["chartFile"] == nil {
		args = append(args, "--set-string", "target.chartContent=aGVsbG8=")
	}
	out, err := helmRun(t, "helm4", args...)
	if err != nil {
		return strings.TrimSpace(out)
	}
	if !strings.Contains(out, "kind: Job") {
		return "rendered no Job"
	}
	return ""
}

// Every recipe template parses, sets only wrapper values that exist, and
// names only flags and variables that exist.
func TestRecipesMatchChartAndFlags(t *testing.T) {
	t.Parallel()
	rc := checkRecipes(t, recipes)
	for _, p := range rc.problems {
		t.Error(p)
	}
	// Not vacuous: the ROS, CloudFormation, Argo CD and Helm values, and the
	// Azure script's flags.
	if rc.wrapperValues < 4 || rc.flags < 8 {
		t.Errorf("checked only %d wrapper values documents and %d flags", rc.wrapperValues, rc.flags)
	}
}

// The check fails on a renamed wrapper value and a renamed flag.
func TestRecipesCheckCatchesRenames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", recipes+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	rename := func(file, from, to string) {
		path := filepath.Join(dir, file)
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), from) {
			t.Fatalf("%s has no %q: %v", file, from, err)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rename("helm/values.yaml", "waitFor:", "waitsFor:")
	rename("azure/deploy.json", "--outputs-json", "--outputs-jsn")
	rename("argocd.md", "hookrunner uninstall shop -n shop", "hookrunner uninstall shop -n shop --purge")
	rc := checkRecipes(t, dir)
	all := strings.Join(rc.problems, "\n")
	for _, want := range []string{"waitsFor", "--outputs-jsn", "--purge"} {
		if !strings.Contains(all, want) {
			t.Errorf("renamed %s not caught; problems:\n%s", want, all)
		}
	}
}

// The Azure deployment script runs as the recipe has it, against the test
// cluster (az stubbed to write the cluster's kubeconfig), and leaves its
// outputs in $AZ_SCRIPTS_OUTPUT_PATH as one JSON object.
func TestRecipeAzureScriptWritesOutputs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(recipes, "azure", "deploy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources []struct {
			Properties struct {
				ScriptContent        string
				EnvironmentVariables []struct{ Name, Value string }
			}
		}
	}
	if err := json.Unmarshal(data, &tmpl); err != nil || len(tmpl.Resources) != 1 {
		t.Fatalf("deploy.json: %v", err)
	}
	props := tmpl.Resources[0].Properties
	work := t.TempDir()
	// What supportingScriptUris would download: the binary and the chart.
	tgz := chartsrv.Package(t, webapp)
	copyFile(t, binary, filepath.Join(work, "hookrunner-linux-amd64"))
	env := []string{"PATH=" + filepath.Join(work, "bin") + ":" + os.Getenv("PATH"), "HOME=" + work,
		"AZ_SCRIPTS_OUTPUT_PATH=" + filepath.Join(work, "outputs.json"), "HOOKRUNNER_CACHE_DIR=" + filepath.Join(work, "cache")}
	for _, e := range props.EnvironmentVariables {
		if strings.HasPrefix(e.Value, "[") { // an ARM expression: any name will do
			e.Value = "test"
		}
		env = append(env, e.Name+"="+e.Value)
		if e.Name == "CHART_FILE" {
			copyFile(t, tgz, filepath.Join(work, e.Value))
		}
	}
	// az aks get-credentials … --file F writes the cluster's kubeconfig to F.
	kc := cluster.Get(t).Kubeconfig
	stub := "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = --file ] && cp " + kc + " \"$2\"; shift; done\n"
	if err := os.MkdirAll(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "bin", "az"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", props.ScriptContent)
	cmd.Dir = work
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the deployment script failed: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(work, "outputs.json"))
	if err != nil {
		t.Fatalf("no outputs file: %v", err)
	}
	var outputs map[string]string
	if err := json.Unmarshal(raw, &outputs); err != nil {
		t.Fatalf("outputs file is not one JSON object: %v: %s", err, raw)
	}
	if !strings.HasPrefix(outputs["endpoint"], "http://10.0.0.") || outputs["revision"] != "1" {
		t.Errorf("outputs %v", outputs)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
