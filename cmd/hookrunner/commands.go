package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner"
	"github.com/hookrunner/hookrunner/runner/callback"
	"github.com/hookrunner/hookrunner/runner/postrender"
)

// CLI is the command line. Every flag and argument also reads an
// environment variable, so a Job needs no command line at all.
type CLI struct {
	Debug     bool   `help:"Show Helm's and client-go's debug lines." env:"HOOKRUNNER_DEBUG"`
	LogFormat string `help:"Log line format: auto (JSON unless stderr is a terminal), json or text." default:"auto" enum:"auto,json,text" env:"HOOKRUNNER_LOG_FORMAT"`
	// The kubelet creates the termination log; hookrunner writes it only
	// when it exists.
	TerminationLog string `help:"Termination log, written with the compact result when it exists." default:"/dev/termination-log" env:"HOOKRUNNER_TERMINATION_LOG"`

	Install   InstallCmd   `cmd:"" help:"Install the chart, or upgrade it, or do nothing: whatever reaches the asked state."`
	Uninstall UninstallCmd `cmd:"" help:"Uninstall the release; a release that does not exist is a success."`
	Render    RenderCmd    `cmd:"" help:"Print the chart's manifests as helm template would."`
	Images    ImagesCmd    `cmd:"" help:"List every container image the chart would run."`
	Diff      DiffCmd      `cmd:"" help:"Show what install with the same arguments would do, writing nothing; exit 2 when it would change something."`
	Version   VersionCmd   `cmd:"" help:"Print version information."`
}

// ClusterFlags say which cluster and how to talk to it.
type ClusterFlags struct {
	Kubeconfig           string  `help:"Kubeconfig file; its content may be YAML or base64 of it. Empty: the pod's ServiceAccount." env:"KUBECONFIG"`
	KubeContext          string  `help:"Kubeconfig context (default: its current-context)." env:"HOOKRUNNER_KUBE_CONTEXT"`
	AllowExecCredentials bool    `help:"Allow kubeconfig users whose credentials come from an exec plugin or auth-provider." env:"HOOKRUNNER_ALLOW_EXEC_CREDENTIALS"`
	QPS                  float32 `name:"qps" help:"Queries per second to the API server: one limit for all the chart's requests, watches aside (0: no limit). At most 64 of them are in flight at once." default:"1000" env:"HOOKRUNNER_QPS"`
	BurstLimit           int     `help:"Client-side burst of API requests above --qps." default:"2000" env:"HOOKRUNNER_BURST_LIMIT"`
	MaxInFlight          int     `help:"Requests of the run in flight at once, watches aside (negative: no bound)." default:"64" env:"HOOKRUNNER_MAX_IN_FLIGHT"`
}

// CallbackFlags say where to report the result.
type CallbackFlags struct {
	CallbackFormat  string        `help:"Callback format: ros (Alibaba ROS WaitConditionHandle), cfn (AWS CloudFormation WaitConditionHandle) or webhook." default:"ros" env:"HOOKRUNNER_CALLBACK_FORMAT"`
	CallbackURL     string        `name:"callback-url" help:"URL to report the result to (a secret: never printed)." env:"HOOKRUNNER_CALLBACK_URL"`
	CallbackCurl    string        `help:"A curl command line (a ROS CurlCli) giving the callback URL, method and headers; parsed, never run." env:"HOOKRUNNER_CALLBACK_CURL"`
	CallbackHeader  []string      `help:"Callback request header Name: value (repeatable; a secret)." sep:"none" env:"HOOKRUNNER_CALLBACK_HEADER"`
	CallbackID      string        `name:"callback-id" help:"Signal id, the same on every attempt (default: NAMESPACE.RELEASE.COMMAND)." env:"HOOKRUNNER_CALLBACK_ID"`
	CallbackSecret  string        `help:"HMAC key signing webhook bodies (X-Hookrunner-Signature)." env:"HOOKRUNNER_CALLBACK_SECRET"`
	CallbackCAFile  string        `name:"callback-ca-file" help:"Extra CA trusted for the callback endpoint." env:"HOOKRUNNER_CALLBACK_CA_FILE"`
	CallbackTimeout time.Duration `help:"Timeout of one callback attempt." default:"10s" env:"HOOKRUNNER_CALLBACK_TIMEOUT"`
	CallbackBudget  time.Duration `help:"Time for all callback attempts together." default:"2m" env:"HOOKRUNNER_CALLBACK_BUDGET"`
}

func (f CallbackFlags) config() callback.Config {
	return callback.Config{
		Format: f.CallbackFormat, URL: f.CallbackURL, Curl: f.CallbackCurl, Headers: nonEmpty(f.CallbackHeader),
		ID: f.CallbackID, Secret: f.CallbackSecret, CAFile: f.CallbackCAFile,
		AttemptTimeout: f.CallbackTimeout, Budget: f.CallbackBudget,
	}
}

// fromEnvironment reads what reporting a command line that did not parse
// needs (release, namespace, result file, callback) from the environment
// alone, by the same env and default tags as the flags, so no variable name
// or default is written twice.
func fromEnvironment() (runner.Common, callback.Config) {
	var c InstallCmd // uninstall reads the same variables for these
	fillFromEnv(reflect.ValueOf(&c).Elem())
	return c.common(c.Release), c.CallbackFlags.config()
}

// fillFromEnv sets the string, string list and duration fields of the
// struct v (and of the structs it embeds) from the environment variable
// each one's env tag names, else from its default tag. A value that does
// not parse is left zero.
func fillFromEnv(v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			fillFromEnv(fv)
			continue
		}
		name, ok := f.Tag.Lookup("env")
		if !ok {
			continue
		}
		value, set := os.LookupEnv(name)
		if !set || value == "" {
			if value, set = f.Tag.Lookup("default"); !set || strings.HasPrefix(value, "${") {
				continue
			}
		}
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			if d, err := time.ParseDuration(value); err == nil {
				fv.SetInt(int64(d))
			}
		case f.Type.Kind() == reflect.String:
			fv.SetString(value)
		case f.Type == reflect.TypeFor[[]string]():
			fv.Set(reflect.ValueOf([]string{value}))
		}
	}
}

// CommonFlags are shared by install and uninstall.
type CommonFlags struct {
	Namespace   string        `short:"n" help:"Release namespace." default:"default" env:"HOOKRUNNER_NAMESPACE"`
	Timeout     time.Duration `help:"Bound on the whole run, waiting for the lock included." default:"10m" env:"HOOKRUNNER_TIMEOUT"`
	Wait        string        `help:"Wait strategy: watcher (until resources are ready), legacy, hookOnly, or none (hooks only)." default:"watcher" env:"HOOKRUNNER_WAIT"`
	ResultFile  string        `help:"Also write the result document (indented JSON) to this file." env:"HOOKRUNNER_RESULT_FILE"`
	OutputsJSON string        `name:"outputs-json" help:"Also write the rendered outputs, as one JSON object of name to string, to this file (for example $AZ_SCRIPTS_OUTPUT_PATH of an ARM deployment script)." env:"HOOKRUNNER_OUTPUTS_JSON"`
	CacheDir    string        `help:"Writable directory for chart downloads." default:"${defaultCacheDir}" env:"HOOKRUNNER_CACHE_DIR"`
	// Set by the wrapper chart from the downward API.
	PodName      string `help:"The pod this run is in, for an Event about it in in-cluster mode." env:"POD_NAME" hidden:""`
	PodNamespace string `help:"The namespace of that pod." env:"POD_NAMESPACE" hidden:""`
	ClusterFlags
	CallbackFlags
}

// options turns the cluster flags into kube options.
func (f ClusterFlags) options() kube.Options {
	return kube.Options{
		Kubeconfig:           f.Kubeconfig,
		Context:              f.KubeContext,
		AllowExecCredentials: f.AllowExecCredentials,
		QPS:                  f.QPS,
		Burst:                f.BurstLimit,
		MaxInFlight:          f.MaxInFlight,
		UserAgent:            runner.UserAgent(),
	}
}

func (f CommonFlags) common(release string) runner.Common {
	return runner.Common{
		Release:      release,
		Namespace:    f.Namespace,
		Kube:         f.ClusterFlags.options(),
		Timeout:      f.Timeout,
		Wait:         f.Wait,
		ResultFile:   f.ResultFile,
		OutputsJSON:  f.OutputsJSON,
		PodName:      f.PodName,
		PodNamespace: f.PodNamespace,
		CacheDir:     f.CacheDir,
		Callback:     f.CallbackFlags.config(),
	}
}

// ChartFlags say which chart, with which values; shared by install,
// render and images.
type ChartFlags struct {
	Chart string `arg:"" optional:"" help:"Chart: a directory, a .tgz (or base64 of one), an https URL, oci://…, or a name with --repo." env:"HOOKRUNNER_CHART"`

	Version               string `help:"Chart version or constraint (repository and OCI charts)." env:"HOOKRUNNER_CHART_VERSION"`
	Repo                  string `help:"Chart repository URL; CHART is then a chart name." env:"HOOKRUNNER_REPO"`
	Username              string `help:"Chart repository or registry user." env:"HOOKRUNNER_USERNAME"`
	Password              string `help:"Chart repository or registry password (prefer the environment variable)." env:"HOOKRUNNER_PASSWORD"`
	CAFile                string `name:"ca-file" help:"CA bundle for the chart repository or registry." env:"HOOKRUNNER_CA_FILE"`
	InsecureSkipTLSVerify bool   `name:"insecure-skip-tls-verify" help:"Skip TLS verification of the chart repository or registry." env:"HOOKRUNNER_INSECURE_SKIP_TLS_VERIFY"`
	PlainHTTP             bool   `help:"Use plain HTTP for the OCI registry." env:"HOOKRUNNER_PLAIN_HTTP"`
	Verify                bool   `help:"Verify the chart's provenance file (.prov, from helm package --sign) against --keyring before anything is installed: repository, https and .tgz charts." env:"HOOKRUNNER_VERIFY"`
	Keyring               string `help:"Public keyring (OpenPGP) for --verify." env:"HOOKRUNNER_KEYRING"`
	CosignKey             string `help:"PEM public key: refuse an OCI chart unless its manifest digest carries a cosign signature by this key." env:"HOOKRUNNER_COSIGN_KEY"`
	RegistryConfig        string `help:"Docker config.json with registry credentials." env:"HOOKRUNNER_REGISTRY_CONFIG"`
	ChartDigest           string `help:"Refuse the chart unless its digest is this sha256:… (of the .tgz)." env:"HOOKRUNNER_CHART_DIGEST"`

	Values       []string `short:"f" help:"Values YAML file (repeatable)." sep:"none" env:"HOOKRUNNER_VALUES"`
	SecretValues []string `help:"Values YAML file whose strings are secrets, layered after --values (repeatable)." sep:"none" env:"HOOKRUNNER_SECRET_VALUES"`
	Set          []string `help:"Set a value: key=value[,key=value] (repeatable)." sep:"none" env:"HOOKRUNNER_SET"`
	SetString    []string `help:"Set a string value (repeatable)." sep:"none" env:"HOOKRUNNER_SET_STRING"`
	SetFile      []string `help:"Set a value from a file: key=path (repeatable)." sep:"none" env:"HOOKRUNNER_SET_FILE"`
	SetJSON      []string `name:"set-json" help:"Set a JSON value: key=json, or a JSON object (repeatable)." sep:"none" env:"HOOKRUNNER_SET_JSON"`

	ImageRegistryRewrite []string `help:"Rewrite image registries FROM=TO, e.g. docker.io=mirror.example.com/hub; longest FROM wins (repeatable)." sep:"none" env:"HOOKRUNNER_IMAGE_REGISTRY_REWRITE"`
	ImagePullSecret      []string `help:"Add this pull secret to every pod spec of the release, of any workload kind (repeatable)." sep:"none" env:"HOOKRUNNER_IMAGE_PULL_SECRET"`
	PullSecretToSAs      bool     `name:"image-pull-secret-service-accounts" help:"Also add the --image-pull-secret names to the release's ServiceAccounts." env:"HOOKRUNNER_IMAGE_PULL_SECRET_SERVICE_ACCOUNTS"`
	AddLabel             []string `help:"Set the label KEY=VALUE on every object of the release (repeatable)." sep:"none" env:"HOOKRUNNER_ADD_LABEL"`
	AddAnnotation        []string `help:"Set the annotation KEY=VALUE on every object of the release (repeatable)." sep:"none" env:"HOOKRUNNER_ADD_ANNOTATION"`
	PostRenderPatch      []string `help:"YAML list of kustomize-style patches {target, patch} (strategic merge or JSON 6902), applied after the options above (repeatable)." sep:"none" env:"HOOKRUNNER_POST_RENDER_PATCH"`
}

// postRender says what to change in the rendered manifests.
func (f ChartFlags) postRender() postrender.Options {
	return postrender.Options{
		ImageRewrite:                 nonEmpty(f.ImageRegistryRewrite),
		PullSecrets:                  nonEmpty(f.ImagePullSecret),
		PullSecretsToServiceAccounts: f.PullSecretToSAs,
		Labels:                       nonEmpty(f.AddLabel),
		Annotations:                  nonEmpty(f.AddAnnotation),
		PatchFiles:                   nonEmpty(f.PostRenderPatch),
	}
}

func (f ChartFlags) source(cacheDir string) chart.Source {
	return chart.Source{
		Ref:                   f.Chart,
		Version:               f.Version,
		RepoURL:               f.Repo,
		Username:              f.Username,
		Password:              f.Password,
		CAFile:                f.CAFile,
		InsecureSkipTLSVerify: f.InsecureSkipTLSVerify,
		PlainHTTP:             f.PlainHTTP,
		Verify:                f.Verify,
		Keyring:               f.Keyring,
		CosignKey:             f.CosignKey,
		RegistryConfig:        f.RegistryConfig,
		Digest:                f.ChartDigest,
		CacheDir:              cacheDir,
	}
}

func (f ChartFlags) values() chart.Values {
	return chart.Values{
		Files:       nonEmpty(f.Values),
		SecretFiles: nonEmpty(f.SecretValues),
		Set:         nonEmpty(f.Set),
		SetString:   nonEmpty(f.SetString),
		SetFile:     nonEmpty(f.SetFile),
		SetJSON:     nonEmpty(f.SetJSON),
	}
}

// InstallCmd is `hookrunner install RELEASE CHART`.
type InstallCmd struct {
	Release string `arg:"" optional:"" help:"Release name." env:"HOOKRUNNER_RELEASE"`
	ChartFlags
	CommonFlags

	CreateNamespace bool `help:"Create the release namespace if it does not exist." env:"HOOKRUNNER_CREATE_NAMESPACE"`

	WaitForJobs       bool     `help:"Also wait for Jobs to complete." env:"HOOKRUNNER_WAIT_FOR_JOBS"`
	RollbackOnFailure bool     `help:"Roll back (or uninstall) when the install or upgrade fails." env:"HOOKRUNNER_ROLLBACK_ON_FAILURE"`
	ServerSide        string   `help:"Server-side apply: auto, true or false." default:"auto" env:"HOOKRUNNER_SERVER_SIDE"`
	ForceConflicts    bool     `help:"Take over fields other managers own (server-side apply)." env:"HOOKRUNNER_FORCE_CONFLICTS"`
	TakeOwnership     bool     `help:"Adopt existing resources not owned by the release." env:"HOOKRUNNER_TAKE_OWNERSHIP"`
	CRDs              string   `name:"crds" help:"The chart's crds/ on install and upgrade: skip, create (missing ones only, as helm) or create-replace (also update existing ones by server-side apply)." default:"create" env:"HOOKRUNNER_CRDS"`
	SkipCRDs          bool     `name:"skip-crds" help:"Alias of --crds skip." env:"HOOKRUNNER_SKIP_CRDS"`
	Drift             string   `help:"When the release is at its config: off, detect (report live objects that differ from it) or correct (re-apply them, action repair)." default:"detect" env:"HOOKRUNNER_DRIFT"`
	DriftIgnore       []string `help:"Drift not to count: KIND[/NAME]:/json/pointer, e.g. Deployment/*:/spec/replicas (repeatable)." sep:"none" env:"HOOKRUNNER_DRIFT_IGNORE"`
	HistoryMax        int      `help:"Revisions kept in history (0: no limit)." default:"10" env:"HOOKRUNNER_HISTORY_MAX"`
	OnFailed          string   `help:"A release whose every revision failed: auto (reinstall revision 1, else upgrade), reinstall, upgrade or abort." default:"auto" env:"HOOKRUNNER_ON_FAILED"`

	WaitFor          []string      `help:"Wait until a condition holds: '[apiVersion:]Kind/name jsonpath={.status.x} [Operator] [value=V] [namespace=N] [timeout=5m]' (repeatable)." sep:"none" env:"HOOKRUNNER_WAIT_FOR"`
	WaitForFile      string        `help:"YAML list of wait conditions (kind, name or selector, namespace, jsonPath, operator, value, timeout)." env:"HOOKRUNNER_WAIT_FOR_FILE"`
	ProgressInterval time.Duration `help:"Interval of the progress line while waiting." default:"10s" env:"HOOKRUNNER_PROGRESS_INTERVAL"`
	Output           []string      `help:"Output NAME=TEMPLATE, a Go template with sprig, lookup and jsonpath (repeatable)." sep:"none" env:"HOOKRUNNER_OUTPUT"`
	OutputsFile      string        `help:"YAML map of output name to template." env:"HOOKRUNNER_OUTPUTS_FILE"`
	PlanFlags
}

// PlanFlags run a release plan instead of one release.
type PlanFlags struct {
	Plan         string `help:"Release plan (YAML): several releases ordered by their needs, one result and one callback; RELEASE then names the plan, CHART comes from each release, and these flags are every release's defaults." env:"HOOKRUNNER_PLAN"`
	PlanParallel int    `help:"Releases of a plan run at once, at most." default:"4" env:"HOOKRUNNER_PLAN_PARALLEL"`
}

// Run hands the typed spec to the runner.
func (c *InstallCmd) Run(ctx context.Context, o runner.IO) error {
	spec := c.spec()
	if c.Plan != "" {
		return runner.InstallPlan(ctx, runner.PlanSpec{File: c.Plan, Install: spec, Parallel: c.PlanParallel}, o)
	}
	return runner.Install(ctx, spec, o)
}

func (c *InstallCmd) spec() runner.InstallSpec {
	return runner.InstallSpec{
		Common:            c.common(c.Release),
		Chart:             c.source(c.CacheDir),
		Values:            c.values(),
		PostRender:        c.postRender(),
		CreateNamespace:   c.CreateNamespace,
		WaitForJobs:       c.WaitForJobs,
		RollbackOnFailure: c.RollbackOnFailure,
		ServerSide:        c.ServerSide,
		ForceConflicts:    c.ForceConflicts,
		TakeOwnership:     c.TakeOwnership,
		CRDs:              c.CRDs,
		SkipCRDs:          c.SkipCRDs,
		Drift:             c.Drift,
		DriftIgnore:       nonEmpty(c.DriftIgnore),
		HistoryMax:        c.HistoryMax,
		OnFailed:          c.OnFailed,
		WaitFor:           nonEmpty(c.WaitFor),
		WaitForFile:       c.WaitForFile,
		Progress:          c.ProgressInterval,
		Outputs:           nonEmpty(c.Output),
		OutputsFile:       c.OutputsFile,
	}
}

// RenderFlags are shared by render and images.
type RenderFlags struct {
	Release string `arg:"" optional:"" help:"Release name." default:"release-name" env:"HOOKRUNNER_RELEASE"`
	ChartFlags
	Namespace string `short:"n" help:"Release namespace." default:"default" env:"HOOKRUNNER_NAMESPACE"`
	CacheDir  string `help:"Writable directory for chart downloads." default:"${defaultCacheDir}" env:"HOOKRUNNER_CACHE_DIR"`
	ClusterFlags
	Cluster     bool   `help:"Take capabilities from the cluster (and let lookup work); implied by --kubeconfig."`
	Plan        string `help:"Render every release of this release plan, in the order of their needs (CHART comes from each release)." env:"HOOKRUNNER_PLAN"`
	IncludeCRDs bool   `name:"include-crds" help:"Also print the chart's crds/ files (enabled subcharts' too), first, as helm template --include-crds." env:"HOOKRUNNER_INCLUDE_CRDS"`
}

func (f RenderFlags) spec() runner.RenderSpec {
	return runner.RenderSpec{
		Release:     f.Release,
		Namespace:   f.Namespace,
		Chart:       f.source(f.CacheDir),
		Values:      f.values(),
		PostRender:  f.postRender(),
		Kube:        f.ClusterFlags.options(),
		UseCluster:  f.Cluster || f.Kubeconfig != "",
		Plan:        f.Plan,
		IncludeCRDs: f.IncludeCRDs,
	}
}

// RenderCmd is `hookrunner render RELEASE CHART`.
type RenderCmd struct {
	RenderFlags
}

// Run prints the manifests as `helm template` would.
func (c *RenderCmd) Run(ctx context.Context, o runner.IO) error {
	return runner.Render(ctx, c.spec(), o)
}

// ImagesCmd is `hookrunner images RELEASE CHART`.
type ImagesCmd struct {
	RenderFlags
	Output string `short:"o" help:"Output format: text (one image per line), json (a list), or wide (every image field: image, object, path)." default:"text" enum:"text,json,wide"`
}

// Run prints every container image the chart would run.
func (c *ImagesCmd) Run(ctx context.Context, o runner.IO) error {
	return runner.Images(ctx, c.spec(), c.Output, o)
}

// DiffCmd is `hookrunner diff RELEASE CHART`: install's chart, values,
// post-render, CRD and drift flags, and nothing that writes.
type DiffCmd struct {
	Release string `arg:"" optional:"" help:"Release name." env:"HOOKRUNNER_RELEASE"`
	ChartFlags
	Namespace string        `short:"n" help:"Release namespace." default:"default" env:"HOOKRUNNER_NAMESPACE"`
	Timeout   time.Duration `help:"Bound on the whole run." default:"5m" env:"HOOKRUNNER_TIMEOUT"`
	CacheDir  string        `help:"Writable directory for chart downloads." default:"${defaultCacheDir}" env:"HOOKRUNNER_CACHE_DIR"`
	ClusterFlags
	CRDs        string   `name:"crds" help:"As install's --crds: skip, create or create-replace." default:"create" env:"HOOKRUNNER_CRDS"`
	SkipCRDs    bool     `name:"skip-crds" help:"Alias of --crds skip." env:"HOOKRUNNER_SKIP_CRDS"`
	Drift       string   `help:"As install's --drift: off, or detect (correct only reports here)." default:"detect" env:"HOOKRUNNER_DRIFT"`
	DriftIgnore []string `help:"As install's --drift-ignore (repeatable)." sep:"none" env:"HOOKRUNNER_DRIFT_IGNORE"`
	OnFailed    string   `help:"As install's --on-failed." default:"auto" env:"HOOKRUNNER_ON_FAILED"`
	Output      string   `short:"o" help:"Output format: text (a unified diff per object) or json." default:"text" enum:"text,json"`
}

// Run prints what install would do.
func (c *DiffCmd) Run(ctx context.Context, o runner.IO) error {
	spec := runner.InstallSpec{
		Common: runner.Common{
			Release: c.Release, Namespace: c.Namespace, Timeout: c.Timeout, Wait: "watcher", CacheDir: c.CacheDir,
			Kube: c.ClusterFlags.options(),
		},
		Chart:       c.source(c.CacheDir),
		Values:      c.values(),
		PostRender:  c.postRender(),
		ServerSide:  "auto",
		OnFailed:    c.OnFailed,
		CRDs:        c.CRDs,
		SkipCRDs:    c.SkipCRDs,
		Drift:       c.Drift,
		DriftIgnore: nonEmpty(c.DriftIgnore),
	}
	return runner.Diff(ctx, spec, c.Output == "json", o)
}

// UninstallCmd is `hookrunner uninstall RELEASE`.
type UninstallCmd struct {
	Release string `arg:"" optional:"" help:"Release name." env:"HOOKRUNNER_RELEASE"`
	CommonFlags
	KeepHistory bool   `help:"Keep the release history (status uninstalled)." env:"HOOKRUNNER_KEEP_HISTORY"`
	OnError     string `help:"On failure: fail (exit with the failure's code) or ignore (report it, log a warning, exit 0, so a pre-delete hook never blocks deleting its wrapper)." default:"fail" enum:"fail,ignore" env:"HOOKRUNNER_ON_ERROR"`
	PlanFlags
}

// Run hands the typed spec to the runner.
func (c *UninstallCmd) Run(ctx context.Context, o runner.IO) error {
	spec := runner.UninstallSpec{Common: c.common(c.Release), KeepHistory: c.KeepHistory, IgnoreErrors: c.OnError == "ignore"}
	if c.Plan != "" {
		return runner.UninstallPlan(ctx, runner.PlanSpec{File: c.Plan, Uninstall: spec, Parallel: c.PlanParallel}, o)
	}
	return runner.Uninstall(ctx, spec, o)
}

// VersionCmd is `hookrunner version`.
type VersionCmd struct {
	Output string `short:"o" help:"Output format: text or json." default:"text" enum:"text,json"`
}

// Run prints the versions of hookrunner and what it is built with.
func (c *VersionCmd) Run(o runner.IO) error {
	v := map[string]string{
		"version":    runner.Version,
		"commit":     runner.Commit,
		"go":         runtime.Version(),
		"helm":       moduleVersion("helm.sh/helm/v4"),
		"kubernetes": moduleVersion("k8s.io/client-go"),
	}
	if c.Output == "json" {
		return json.NewEncoder(o.Stdout).Encode(v)
	}
	_, err := fmt.Fprintf(o.Stdout, "hookrunner %s (commit %s, %s, helm SDK %s, client-go %s)\n",
		v["version"], v["commit"], v["go"], v["helm"], v["kubernetes"])
	return err
}

// moduleVersion is the version of a module linked into this binary.
func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

// nonEmpty drops empty entries: an environment variable set to "" (as a
// chart template often leaves one) means no entry, not an empty one.
func nonEmpty(list []string) []string {
	out := list[:0:0]
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
