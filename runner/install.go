package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2util "helm.sh/helm/v4/pkg/chart/v2/util"
	ri "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner/postrender"
	"github.com/hookrunner/hookrunner/runner/retry"
)

// Install brings the release to the asked state: installed, upgraded, or
// left alone when it already is. It always writes a result document, and
// returns an *Error (with its exit code) on failure.
func Install(ctx context.Context, spec InstallSpec, o IO) (err error) {
	r := newRun(ctx, "install", spec.Common, o)
	defer r.recoverPanic(&err)
	return r.finish(r.install(spec))
}

// installState is what the install steps hand each other.
type installState struct {
	kc        *kube.Config
	vals      map[string]any
	loaded    *chart.Loaded
	hash      string
	cfg       *action.Configuration
	client    kubernetes.Interface
	createdNS bool
	// sharedNS: other releases of the plan use the namespace too, so a
	// failure here must not remove it under them.
	sharedNS bool
	plan     plan
	conds    []kube.Condition
	outputs  []outputTemplate
	observed []kube.Observed
	post     *postrender.Chain
	getter   *kube.Getter     // of the Helm action clients
	rel      *release.Release // after act, failed or not
	// identity is what, besides the values, makes a release what it is:
	// the chart digest and the post-render chain.
	identity string
}

func (r *run) install(spec InstallSpec) (err error) {
	var st installState
	r.result.Action = ActionNone
	if err := r.step("validate", ExitBadInput, func() error { return r.validateInstall(spec, &st) }); err != nil {
		return err
	}
	return r.installValidated(spec, &st)
}

// installValidated runs the install steps after validate, with what
// validate put in st.
func (r *run) installValidated(spec InstallSpec, st *installState) (err error) {
	if err := r.step("resolve-chart", ExitChart, func() error { return r.resolveChart(spec, st) }); err != nil {
		return err
	}
	if err := r.step("connect", ExitCluster, func() error { return r.connect(spec, st) }); err != nil {
		return err
	}
	defer func() {
		if err != nil && st.createdNS && !st.sharedNS {
			r.dropNamespace(spec.Namespace, st.cfg)
		}
	}()
	unlock, err := r.lock(st.client, spec.Common)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.step("inspect", ExitAction, func() error {
		return r.retryTransient("inspect", func() error { return r.inspect(spec, st) })
	}); err != nil {
		return err
	}
	if policy := spec.crdPolicy(); policy != kube.CRDSkip {
		if err := r.step("crds", ExitAction, func() error {
			return r.retryTransient("crds", func() error { return r.applyCRDs(spec, policy, st) })
		}); err != nil {
			return err
		}
	}
	// After a transient failure, inspect and act again: whatever the cut-off
	// attempt left (a pending or failed revision) is what the next
	// decision starts from.
	stopProgress := r.progressWhileActing(st.client, func() (*release.Release, error) {
		last, err := st.cfg.Releases.Last(spec.Release)
		if err != nil {
			return nil, err
		}
		return asRelease(last)
	}, spec.Namespace, spec.Progress)
	if err := r.step("act", ExitAction, func() error {
		defer stopProgress()
		first := true
		return r.retryTransient("act", func() error {
			if !first {
				if err := r.inspect(spec, st); err != nil {
					return err
				}
			}
			first = false
			// A hook's write may still be on its way; the action's
			// outcome is not known until it has landed.
			defer flushReleases(st.cfg)
			return r.act(spec, st)
		})
	}); err != nil {
		r.diagnoseFailure(err, st.client, r.releaseAfter(spec.Release, st), spec.Namespace)
		return err
	}
	if st.plan.kind == planNone && spec.Drift != kube.DriftOff && spec.Drift != "" {
		if err := r.step("drift", ExitAction, func() error {
			if !r.member {
				defer collectLess()()
			}
			return r.retryTransient("drift", func() error { return r.drift(spec, st) })
		}); err != nil {
			return err
		}
	}
	if len(st.conds) > 0 {
		if err := r.step("wait", ExitTimeout, func() error {
			return r.retryTransient("wait", func() error { return r.waitFor(spec, st) })
		}); err != nil {
			r.diagnoseFailure(err, st.client, st.rel, spec.Namespace)
			return err
		}
	}
	if len(st.outputs) > 0 {
		return r.step("outputs", ExitAction, func() error {
			return r.retryTransient("outputs", func() error { return r.renderOutputs(st) })
		})
	}
	return nil
}

// applyCRDs brings the chart's crds/ to the policy before the release's
// own objects are applied; whether existing CRDs would change is worth
// asking only when the chart may have changed (an install or upgrade).
func (r *run) applyCRDs(spec InstallSpec, policy string, st *installState) error {
	crds, err := st.loaded.CRDs(st.vals)
	if err != nil {
		return err
	}
	compare := st.plan.kind != planNone
	report, err := st.kc.ApplyCRDs(r.ctx, kubeCRDs(crds), kube.CRDOptions{Policy: policy, Compare: compare, Force: spec.ForceConflicts})
	if !report.Empty() {
		r.result.CRDs = &report
		r.log.Info("CRDs", "created", report.Created, "updated", report.Updated, "skipped", report.Skipped)
		if len(report.Skipped) > 0 {
			r.log.Warn("the chart changes CRDs that --crds create leaves as they are; pass --crds create-replace to update them", "crds", report.Skipped)
		}
	}
	return err
}

// kubeCRDs hands the chart's CRDs to kube, each parsed only if asked for.
func kubeCRDs(crds []*chart.CRD) []kube.CRD {
	out := make([]kube.CRD, len(crds))
	for i, c := range crds {
		out[i] = kube.CRD{Name: c.Name, Object: c.Object}
	}
	return out
}

// drift compares the release, at its config, with the live objects, and
// with --drift correct re-applies the ones that drifted.
func (r *run) drift(spec InstallSpec, st *installState) error {
	ignore, err := kube.ParseIgnoreRules(spec.DriftIgnore)
	if err != nil {
		return err
	}
	drifts, err := st.kc.DetectDrift(r.ctx, st.plan.current.Manifest, spec.Release, spec.Namespace, ignore)
	if apierrors.IsForbidden(err) {
		// Detecting drift is a courtesy of a run with nothing to do: it
		// must not fail one whose credentials may not dry-run a patch.
		r.log.Warn("drift not checked: these credentials may not dry-run a patch of the release's objects", "error", r.oneLine(err))
		return nil
	}
	if err != nil {
		return err
	}
	r.result.Drift = drifts
	if len(drifts) == 0 {
		r.log.Info("no drift: the live objects are as the release applied them")
		return nil
	}
	names := make([]string, len(drifts))
	for i, d := range drifts {
		names[i] = d.String()
	}
	if spec.Drift != kube.DriftCorrect {
		r.log.Warn("drift: live objects differ from the release (pass --drift correct to repair them)", "objects", names)
		return nil
	}
	if err := st.kc.CorrectDrift(r.ctx, drifts); err != nil {
		return err
	}
	r.result.Action = ActionRepair
	r.log.Info("drift corrected", "objects", names)
	return nil
}

// waitFor waits until the user's conditions hold.
func (r *run) waitFor(spec InstallSpec, st *installState) error {
	w, err := st.kc.NewWaiter(r.log)
	if err != nil {
		return err
	}
	w.Progress = spec.Progress
	st.observed, err = w.Wait(r.ctx, st.conds, spec.Namespace)
	return err
}

// renderOutputs renders the output templates now that the release is ready.
func (r *run) renderOutputs(st *installState) error {
	values, err := chartutil.CoalesceValues(st.loaded.Chart, st.vals)
	if err != nil {
		return err
	}
	out, err := renderOutputs(st.outputs, newOutputData(r.result.Release, values, st.observed), st.kc.REST())
	if err != nil {
		return err
	}
	r.result.Outputs = out
	return nil
}

// validateInstall checks every input that can be checked without the
// network, and learns the secrets before anything could print them.
func (r *run) validateInstall(spec InstallSpec, st *installState) error {
	r.red.Add(spec.Chart.Password)
	if err := r.setupCallback(spec.Callback, spec.Common); err != nil {
		return err
	}
	if err := spec.validate(); err != nil {
		return err
	}
	conds, err := spec.conditions()
	if err != nil {
		return err
	}
	outputs, err := parseOutputs(spec.Outputs, spec.OutputsFile)
	if err != nil {
		return err
	}
	st.conds, st.outputs = conds, outputs
	if st.post, err = postrender.New(spec.PostRender); err != nil {
		return err
	}
	kc, err := r.loadKube(spec.Kube, spec.Namespace)
	if err != nil {
		return err
	}
	vals, secrets, err := spec.Values.Merge()
	r.red.Add(secrets...)
	if err != nil {
		return err
	}
	st.kc, st.vals = kc, vals
	return nil
}

// resolveChart fetches and verifies the chart, and checks the values
// against its schema before the cluster is touched.
func (r *run) resolveChart(spec InstallSpec, st *installState) error {
	loaded, err := chart.Load(spec.Chart)
	if err != nil {
		return err
	}
	if _, err := chartutil.ToRenderValuesWithSchemaValidation(loaded.Chart, st.vals, common.ReleaseOptions{Name: spec.Release, Namespace: spec.Namespace}, nil, false); err != nil {
		return fmt.Errorf("%w: values for chart %s: %v", errInvalidSpec, loaded.Chart.Name(), err)
	}
	st.identity = loaded.Digest
	if id := st.post.Identity(); id != "" {
		st.identity += " " + id
	}
	hash, err := chart.ConfigHash(st.identity, st.vals)
	if err != nil {
		return err
	}
	st.loaded, st.hash = loaded, hash
	r.result.Release.Chart = loaded.Chart.Metadata.Name
	r.result.Release.Version = loaded.Chart.Metadata.Version
	r.result.Release.AppVersion = loaded.Chart.Metadata.AppVersion
	r.log.Info("chart resolved", "chart", loaded.Chart.Metadata.Name, "version", loaded.Chart.Metadata.Version, "digest", loaded.Digest)
	return nil
}

// connect reaches the cluster, checks the chart's kubeVersion against it,
// and makes sure the release namespace exists.
func (r *run) connect(spec InstallSpec, st *installState) error {
	if err := r.reach(spec.Namespace, st); err != nil {
		return err
	}
	return r.retryTransient("connect", func() error { return r.ensureNamespace(spec, st) })
}

// reach builds the clients, reaches the cluster and checks the chart's
// kubeVersion against it: connect without writing anything.
func (r *run) reach(namespace string, st *installState) error {
	st.getter = st.kc.ForHelmActions()
	cfg, err := newHelmConfig(st.getter, namespace, r.helm)
	if err != nil {
		return err
	}
	client, gitVersion, err := r.dial(st.kc)
	st.cfg, st.client = cfg, client
	if err != nil {
		return err
	}
	if c := st.loaded.Chart.Metadata.KubeVersion; c != "" && !chartv2util.IsCompatibleRange(c, gitVersion) {
		return fmt.Errorf("%w: chart %s requires kubeVersion %s, the cluster runs %s", errInvalidSpec, st.loaded.Chart.Name(), c, gitVersion)
	}
	return nil
}

// ensureNamespace makes sure the release namespace exists, creating it when
// asked to.
func (r *run) ensureNamespace(spec InstallSpec, st *installState) error {
	client := st.client
	_, err := client.CoreV1().Namespaces().Get(r.ctx, spec.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err) && !spec.CreateNamespace:
		return fmt.Errorf("%w: namespace %q does not exist (pass --create-namespace)", errInvalidSpec, spec.Namespace)
	case apierrors.IsNotFound(err):
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: spec.Namespace, Labels: map[string]string{"name": spec.Namespace}}}
		_, err = client.CoreV1().Namespaces().Create(r.ctx, ns, metav1.CreateOptions{FieldManager: kube.FieldManager})
		if err == nil {
			st.createdNS = true
			r.log.Info("namespace created", "namespace", spec.Namespace)
		}
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	case apierrors.IsForbidden(err):
		// May not read namespaces: fine, as long as it may work in this one.
		return nil
	default:
		return err
	}
}

// dropNamespace removes the namespace this run created when the run failed
// before any release was recorded in it: a bad input leaves nothing behind.
func (r *run) dropNamespace(namespace string, cfg *action.Configuration) {
	if hist, err := cfg.Releases.History(r.result.Release.Name); err == nil && len(hist) > 0 {
		return
	}
	ctx, cancel := r.cleanupContext()
	defer cancel()
	client, err := cfg.KubernetesClientSet()
	if err == nil {
		err = client.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{})
	}
	if err != nil {
		r.log.Warn("could not remove the namespace this run created", "namespace", namespace, "error", err)
		return
	}
	r.log.Info("removed the namespace this run created", "namespace", namespace)
}

// inspect reads the release history and decides what to do; a revision
// left pending by a killed runner is marked failed first.
func (r *run) inspect(spec InstallSpec, st *installState) error {
	if err := r.decide(spec, st); err != nil {
		return err
	}
	if p := st.plan.recover; p != nil {
		was := p.Info.Status
		p.SetStatus(rcommon.StatusFailed, fmt.Sprintf("hookrunner: marked failed: the run that left it %s was interrupted", was))
		if err := st.cfg.Releases.Update(p); err != nil {
			return fmt.Errorf("mark revision %d (%s) failed: %w", p.Version, was, err)
		}
		r.log.Warn("marked an interrupted revision failed", "revision", p.Version, "was", string(was))
	}
	return nil
}

// decide reads the release history and decides what to do, writing
// nothing.
func (r *run) decide(spec InstallSpec, st *installState) error {
	history, err := readHistory(st.cfg, spec.Release)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("read release history: %w", err)
	}
	meta := st.loaded.Chart.Metadata
	st.plan, err = decide(history, want{hash: st.hash, digest: st.identity, chartName: meta.Name, chartVersion: meta.Version, onFailed: spec.OnFailed})
	if err != nil {
		return err
	}
	r.log.Info("release inspected", "plan", string(st.plan.kind), "why", st.plan.why)
	return nil
}

// readHistory reads a release's revisions for decide: through the release
// store, only the latest decoded in full (see releaseStore.history);
// through another driver (tests), Helm's History.
func readHistory(cfg *action.Configuration, name string) ([]*release.Release, error) {
	if s, ok := cfg.Releases.Driver.(releaseStore); ok {
		return s.history(name)
	}
	list, err := cfg.Releases.History(name)
	if err != nil {
		return nil, err
	}
	return asReleases(list)
}

// act runs the planned Helm action.
func (r *run) act(spec InstallSpec, st *installState) error {
	remaining := func() time.Duration {
		d, _ := r.ctx.Deadline()
		return time.Until(d)
	}
	var (
		rel *release.Release
		err error
	)
	// Answer the existence checks from snapshots only when the action
	// applies server-side; client-side apply merges with live objects
	// (an install's checks may, see below).
	serverSide := appliesServerSide(spec.ServerSide, st.plan.kind, st.plan.current)
	st.getter.UseSnapshots(serverSide)
	defer st.getter.UseSnapshots(false)
	// And leave field validation to the API server, which then checks
	// every object strictly, hooks included.
	if hc, ok := st.cfg.KubeClient.(*kube.HelmClient); ok {
		hc.ServerValidates(serverSide)
		defer hc.ServerValidates(false)
	}
	switch st.plan.kind {
	case planNone:
		r.result.Action = ActionNone
		rel = st.plan.current
	case planReinstall:
		r.log.Info("uninstalling the failed release before installing it again")
		un := newUninstall(r.ctx, st.cfg, spec.Wait, remaining(), false)
		if err := runUninstall(r.ctx, un, spec.Release); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
			return fmt.Errorf("uninstall failed release: %w", err)
		}
		fallthrough
	case planInstall:
		r.result.Action = ActionInstall
		if !serverSide {
			// A client-side install still checks existence before its
			// first write, then reads live; its creates go concurrently.
			st.getter.UseSnapshotsUntilWrite()
			if hc, ok := st.cfg.KubeClient.(*kube.HelmClient); ok {
				hc.CreateClientSide(true)
				defer hc.CreateClientSide(false)
			}
		}
		in := newInstall(r.ctx, st.cfg, spec, st.hash, remaining(), st.plan.replace)
		if !st.post.Empty() {
			in.PostRenderer = st.post
		}
		var out ri.Releaser
		out, err = in.RunWithContext(r.ctx, st.loaded.Chart, st.vals)
		rel, _ = asRelease(out)
	case planUpgrade:
		r.result.Action = ActionUpgrade
		if !serverSide {
			// A client-side upgrade checks each object's existence, then
			// reads it live to merge with.
			st.getter.UseSnapshotsFirstLook()
		}
		up := newUpgrade(r.ctx, st.cfg, spec, st.hash, remaining(), serverSide)
		if !st.post.Empty() {
			up.PostRenderer = st.post
		}
		var out ri.Releaser
		out, err = up.RunWithContext(r.ctx, spec.Release, st.loaded.Chart, st.vals)
		rel, _ = asRelease(out)
	}
	if rel != nil {
		r.result.Release = releaseInfo(rel)
	}
	st.rel = rel
	if err != nil {
		if r.ctx.Err() != nil {
			r.settleInterrupted(spec.Release, st.cfg)
			if rel != nil {
				r.result.Release.Status = string(rcommon.StatusFailed)
			}
		}
		return fmt.Errorf("%s: %w", r.result.Action, err)
	}
	return nil
}

// releaseAfter is the release act left: the one Helm returned, else the
// last recorded revision (Helm returns none for some failures).
func (r *run) releaseAfter(name string, st *installState) *release.Release {
	if st.rel != nil || st.cfg == nil {
		return st.rel
	}
	last, err := st.cfg.Releases.Last(name)
	if err != nil {
		return nil
	}
	rel, _ := asRelease(last)
	return rel
}

// diagnoseFailure diagnoses a failed act or wait step (not bad input or an
// unreachable cluster: nothing there to look at).
func (r *run) diagnoseFailure(err error, client kubernetes.Interface, rel *release.Release, namespace string) {
	var e *Error
	if errors.As(err, &e) && (e.Code == ExitAction || e.Code == ExitTimeout) {
		r.diagnose(client, rel, namespace)
	}
}

// settleInterrupted makes sure an action cut short by a signal or the
// timeout leaves its revision failed, never pending: Helm marks it failed
// when its context ends, and this checks, in case Helm's own write was lost.
func (r *run) settleInterrupted(name string, cfg *action.Configuration) {
	ctx, cancel := r.cleanupContext()
	defer cancel()
	_ = retry.Do(ctx, retry.Settle, func(int) (bool, error) {
		last, err := cfg.Releases.Last(name)
		if err != nil {
			return false, nil // nothing recorded: nothing pending
		}
		rel, err := asRelease(last)
		if err != nil || rel == nil || !rel.Info.Status.IsPending() {
			return false, nil
		}
		rel.SetStatus(rcommon.StatusFailed, "hookrunner: marked failed: the run was interrupted")
		if err := cfg.Releases.Update(rel); err != nil {
			return true, err
		}
		r.log.Warn("marked the interrupted revision failed", "revision", rel.Version)
		return false, nil
	})
}
