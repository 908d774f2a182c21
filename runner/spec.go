package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner/callback"
	"github.com/hookrunner/hookrunner/runner/postrender"
)

// Common are the settings every command shares.
type Common struct {
	Release   string
	Namespace string
	Kube      kube.Options
	// Timeout bounds the whole run, lock wait included.
	Timeout time.Duration
	// Wait is Helm's wait strategy: watcher, legacy, hookOnly, or none
	// (the same as hookOnly: wait for hooks only).
	Wait string
	// ResultFile receives the indented result document.
	ResultFile string
	// OutputsJSON receives the rendered outputs as one JSON object (name →
	// string), on every exit path ({} when there are none).
	OutputsJSON string
	// PodName and PodNamespace name the pod this run is in (downward API),
	// for an Event about it in in-cluster mode.
	PodName, PodNamespace string
	// CacheDir holds chart downloads; it must be writable.
	CacheDir string
	// Callback says where to report the result; zero means nowhere. An
	// empty ID becomes "<namespace>.<release>.<command>".
	Callback callback.Config
}

// InstallSpec is everything `hookrunner install` needs.
type InstallSpec struct {
	Common
	Chart  chart.Source
	Values chart.Values

	CreateNamespace   bool
	WaitForJobs       bool
	RollbackOnFailure bool
	// ServerSide is auto, true or false: server-side apply.
	ServerSide     string
	ForceConflicts bool
	TakeOwnership  bool
	// CRDs is the policy for the chart's crds/: skip, create (Helm's:
	// missing ones only) or create-replace (also update existing ones).
	CRDs string
	// SkipCRDs is --skip-crds, an alias of CRDs "skip".
	SkipCRDs bool
	// Drift says what a run that finds the release at its config does
	// about live objects that differ from it: off, detect or correct.
	Drift string
	// DriftIgnore are KIND[/NAME]:JSONPOINTER rules of drift not to count.
	DriftIgnore []string
	HistoryMax  int
	// OnFailed says what to do with a release whose every revision failed:
	// reinstall, upgrade, abort, or auto (reinstall a failed revision 1,
	// upgrade otherwise).
	OnFailed string

	// WaitFor are compact wait conditions; WaitForFile a YAML list of them.
	WaitFor     []string
	WaitForFile string
	// Conditions are wait conditions parsed already (a plan's waitFor).
	Conditions []kube.Condition
	// Progress is the interval of the waiting progress line.
	Progress time.Duration
	// Outputs are NAME=TEMPLATE entries; OutputsFile a YAML map of them.
	Outputs     []string
	OutputsFile string
	// PostRender says what to change in the rendered manifests: image
	// registries, pull secrets, labels, annotations, patches.
	PostRender postrender.Options
}

// UninstallSpec is everything `hookrunner uninstall` needs.
type UninstallSpec struct {
	Common
	KeepHistory bool
	// IgnoreErrors makes a failed uninstall exit 0 (after reporting it):
	// a pre-delete hook must never block deleting its wrapper forever.
	IgnoreErrors bool
}

// Wait strategies accepted by Common.Wait.
var waitStrategies = []string{"watcher", "legacy", "hookOnly", "none"}

func oneOf(flag, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return fmt.Errorf("%w: %s %q: want one of %v", errInvalidSpec, flag, value, allowed)
}

// validateNames checks a release name and namespace.
func validateNames(release, namespace string) error {
	if release == "" {
		return fmt.Errorf("%w: no release name given (RELEASE argument or HOOKRUNNER_RELEASE)", errInvalidSpec)
	}
	if err := chartutil.ValidateReleaseName(release); err != nil {
		return fmt.Errorf("%w: release name %q: %v", errInvalidSpec, release, err)
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return fmt.Errorf("%w: --namespace %q: %s", errInvalidSpec, namespace, errs[0])
	}
	return nil
}

func (c Common) validate() error {
	if err := validateNames(c.Release, c.Namespace); err != nil {
		return err
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("%w: --timeout %s: must be positive", errInvalidSpec, c.Timeout)
	}
	if err := oneOf("--wait", c.Wait, waitStrategies...); err != nil {
		return err
	}
	if c.Kube.QPS < 0 || c.Kube.Burst < 0 {
		return fmt.Errorf("%w: --qps and --burst-limit must not be negative", errInvalidSpec)
	}
	for flag, file := range map[string]string{"--result-file": c.ResultFile, "--outputs-json": c.OutputsJSON} {
		if file == "" {
			continue
		}
		if info, err := os.Stat(filepath.Dir(file)); err != nil || !info.IsDir() {
			return fmt.Errorf("%w: %s %s: directory %s does not exist", errInvalidSpec, flag, file, filepath.Dir(file))
		}
	}
	return nil
}

func (s InstallSpec) validate() error {
	if err := s.Common.validate(); err != nil {
		return err
	}
	if err := oneOf("--server-side", s.ServerSide, "auto", "true", "false"); err != nil {
		return err
	}
	if err := oneOf("--on-failed", s.OnFailed, "auto", "reinstall", "upgrade", "abort"); err != nil {
		return err
	}
	if s.CRDs != "" {
		if err := oneOf("--crds", s.CRDs, kube.CRDPolicies...); err != nil {
			return err
		}
	}
	if s.Drift != "" {
		if err := oneOf("--drift", s.Drift, kube.DriftPolicies...); err != nil {
			return err
		}
	}
	if _, err := kube.ParseIgnoreRules(s.DriftIgnore); err != nil {
		return err
	}
	if s.SkipCRDs && s.CRDs == kube.CRDCreateReplace {
		return fmt.Errorf("%w: --skip-crds and --crds create-replace contradict each other", errInvalidSpec)
	}
	if s.HistoryMax < 0 {
		return fmt.Errorf("%w: --history-max %d: must not be negative", errInvalidSpec, s.HistoryMax)
	}
	return s.Chart.Validate()
}

// conditions parses the wait conditions of the spec.
func (s InstallSpec) conditions() ([]kube.Condition, error) {
	conds := append([]kube.Condition(nil), s.Conditions...)
	if s.WaitForFile != "" {
		data, err := os.ReadFile(s.WaitForFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --wait-for-file %s: %v", errInvalidSpec, s.WaitForFile, errors.Unwrap(err))
		}
		fromFile, err := kube.ParseConditions(data, "--wait-for-file "+s.WaitForFile)
		if err != nil {
			return nil, err
		}
		conds = append(conds, fromFile...)
	}
	for _, w := range s.WaitFor {
		c, err := kube.ParseCondition(w)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	return conds, nil
}

// crdPolicy is the effective --crds policy (--skip-crds is "skip").
func (s InstallSpec) crdPolicy() string {
	switch {
	case s.SkipCRDs:
		return kube.CRDSkip
	case s.CRDs == "":
		return kube.CRDCreate
	}
	return s.CRDs
}
