package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/kube"
	releaseplan "github.com/hookrunner/hookrunner/runner/plan"
	"github.com/hookrunner/hookrunner/runner/redact"
)

// DefaultPlanParallel is how many releases of a plan run at once, at most.
const DefaultPlanParallel = 4

// PlanSpec is `install --plan FILE` and `uninstall --plan FILE`: the plan,
// and the command line's settings, which are every release's defaults.
type PlanSpec struct {
	File string
	// Install holds install's flags (Common included: timeout, result
	// file, callback, cluster): defaults for each release, and the run's.
	Install InstallSpec
	// Uninstall holds uninstall's flags, for uninstall --plan.
	Uninstall UninstallSpec
	// Parallel bounds how many releases run at once (0: the default).
	Parallel int
}

// PlanRelease is one release of a plan in the result document.
type PlanRelease struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Action     string `json:"action"`
	Revision   int    `json:"revision,omitempty"`
	Status     string `json:"status"`
	Chart      string `json:"chart,omitempty"`
	Version    string `json:"version,omitempty"`
	AppVersion string `json:"appVersion,omitempty"`
	// Result is SUCCESS, FAILURE, or SKIPPED (a release it needs failed,
	// or for uninstall one that needs it was not removed).
	Result     string `json:"result"`
	Reason     string `json:"reason,omitempty"`
	ReasonCode string `json:"reasonCode,omitempty"`
	ExitCode   int    `json:"exitCode,omitempty"`
	// StartSeconds is when the release started, in seconds since the run
	// started: with DurationSeconds it shows the order the plan ran in.
	StartSeconds    float64         `json:"startSeconds"`
	DurationSeconds float64         `json:"durationSeconds"`
	Steps           []StepTiming    `json:"steps,omitempty"`
	Diagnosis       []kube.Finding  `json:"diagnosis,omitempty"`
	CRDs            *kube.CRDReport `json:"crds,omitempty"`
	Drift           []kube.Drift    `json:"drift,omitempty"`
}

// StatusSkipped marks a release of a plan that did not run.
const StatusSkipped = "SKIPPED"

// member is one release of a plan as it runs.
type member struct {
	index int
	rel   releaseplan.Release
	spec  InstallSpec
	un    UninstallSpec
	st    installState
	run   *run
	err   *Error
	out   PlanRelease
	done  chan struct{}
}

// InstallPlan installs every release of the plan in the order its needs
// give, independent ones in parallel, and reports once for all of them.
func InstallPlan(ctx context.Context, spec PlanSpec, o IO) (err error) {
	r := newRun(ctx, "install", planCommon(spec.Install.Common), o)
	defer r.recoverPanic(&err)
	return r.finish(r.installPlan(spec))
}

// UninstallPlan uninstalls every release of the plan, each after every
// release that needs it.
func UninstallPlan(ctx context.Context, spec PlanSpec, o IO) (err error) {
	r := newRun(ctx, "uninstall", planCommon(spec.Uninstall.Common), o)
	defer r.recoverPanic(&err)
	err = r.finish(r.uninstallPlan(spec))
	if err != nil && spec.Uninstall.IgnoreErrors {
		r.log.Warn("uninstall failed; exiting 0 because of --on-error=ignore: releases of the plan may be left behind", "error", err.Error())
		return nil
	}
	return err
}

// planCommon is the run's own settings: a plan has no one release name.
func planCommon(c Common) Common {
	if c.Release == "" {
		c.Release = "plan"
	}
	return c
}

// child is a run for one release of the plan: the plan's context,
// redactor and log (tagged with the release), a result of its own, and no
// callback or files.
func (r *run) child(c Common) *run {
	log := r.log.With("release", c.Namespace+"/"+c.Release)
	return &run{
		parent:  r.parent,
		ctx:     r.ctx,
		cancel:  func() {},
		io:      r.io,
		command: r.command,
		red:     r.red,
		log:     log,
		helm:    newHelmTail(log),
		start:   time.Now(),
		pod:     r.pod,
		member:  true,
		result: Result{
			Release: ReleaseInfo{Name: c.Release, Namespace: c.Namespace},
			Outputs: map[string]string{},
			Steps:   []StepTiming{},
		},
	}
}

// loadPlan reads the plan and checks the run's own settings; every
// release is checked by the caller.
func (r *run) loadPlan(spec PlanSpec, c Common) (*releaseplan.Plan, []int, [][]int, error) {
	if err := r.setupCallback(c.Callback, c); err != nil {
		return nil, nil, nil, err
	}
	if err := c.validate(); err != nil {
		return nil, nil, nil, err
	}
	if spec.Parallel < 0 {
		return nil, nil, nil, fmt.Errorf("%w: --plan-parallel %d: must not be negative", errInvalidSpec, spec.Parallel)
	}
	p, err := releaseplan.Load(spec.File, c.Namespace)
	if err != nil {
		return nil, nil, nil, err
	}
	order, err := p.Order()
	if err != nil {
		return nil, nil, nil, err
	}
	needs, err := p.Needs()
	if err != nil {
		return nil, nil, nil, err
	}
	return p, order, needs, nil
}

func (r *run) installPlan(spec PlanSpec) error {
	r.result.Action = ActionNone
	var (
		p       *releaseplan.Plan
		order   []int
		needs   [][]int
		members []*member
		outputs []outputTemplate
	)
	// Every release is validated (values merged, conditions parsed,
	// kubeconfig read) before any is touched.
	if err := r.step("validate", ExitBadInput, func() (err error) {
		if p, order, needs, err = r.loadPlan(spec, planCommon(spec.Install.Common)); err != nil {
			return err
		}
		if spec.Install.Chart.Ref != "" {
			return fmt.Errorf("%w: CHART %s given with --plan: each release of the plan names its chart", errInvalidSpec, redact.URL(spec.Install.Chart.Ref))
		}
		// Outputs of the command line and of the plan (which win) see
		// all the releases.
		sources, err := outputSources(spec.Install.Outputs, spec.Install.OutputsFile)
		if err != nil {
			return err
		}
		for name, text := range p.Outputs {
			sources[name] = text
		}
		if outputs, err = parseOutputSources(sources); err != nil {
			return err
		}
		for i, rel := range p.Releases {
			m := &member{index: i, rel: rel, done: make(chan struct{})}
			if m.spec, err = releaseSpec(spec.Install, rel, i); err != nil {
				return err
			}
			m.run = r.child(m.spec.Common)
			if err := m.run.validateInstall(m.spec, &m.st); err != nil {
				return fmt.Errorf("releases[%d] (%s): %w", i, rel.Name, err)
			}
			members = append(members, m)
		}
		perNamespace := map[string]int{}
		for _, m := range members {
			perNamespace[m.rel.Namespace]++
		}
		for _, m := range members {
			m.st.sharedNS = perNamespace[m.rel.Namespace] > 1
		}
		return nil
	}); err != nil {
		return err
	}
	err := r.step("releases", ExitAction, func() error {
		return r.runPlan(members, order, needs, spec.Parallel, false, func(m *member) error {
			return m.run.installValidated(m.spec, &m.st)
		})
	})
	if err != nil {
		return err // runPlan set the action of the release that failed
	}
	r.result.Action = planAction(members)
	if len(outputs) == 0 {
		return nil
	}
	return r.step("outputs", ExitAction, func() error {
		return r.retryTransient("outputs", func() error { return r.renderPlanOutputs(outputs, members) })
	})
}

func (r *run) uninstallPlan(spec PlanSpec) error {
	r.result.Action = ActionUninstall
	var (
		order   []int
		needs   [][]int
		members []*member
	)
	if err := r.step("validate", ExitBadInput, func() error {
		p, o, n, err := r.loadPlan(spec, planCommon(spec.Uninstall.Common))
		if err != nil {
			return err
		}
		order, needs = o, n
		for i, rel := range p.Releases {
			m := &member{index: i, rel: rel, done: make(chan struct{})}
			m.un = spec.Uninstall
			m.un.Common = releaseCommon(spec.Uninstall.Common, rel)
			m.un.Callback = callbackNone
			if err := m.un.Common.validate(); err != nil {
				return fmt.Errorf("releases[%d] (%s): %w", i, rel.Name, err)
			}
			m.run = r.child(m.un.Common)
			members = append(members, m)
		}
		return nil
	}); err != nil {
		return err
	}
	reverse, neededBy := reversed(order, needs)
	return r.step("releases", ExitAction, func() error {
		return r.runPlan(members, reverse, neededBy, spec.Parallel, true, func(m *member) error {
			return m.run.uninstall(m.un)
		})
	})
}

// reversed turns an install order and its needs around for uninstall: a
// release goes once everything that needs it is gone.
func reversed(order []int, needs [][]int) ([]int, [][]int) {
	neededBy := make([][]int, len(needs))
	for i, deps := range needs {
		for _, j := range deps {
			neededBy[j] = append(neededBy[j], i)
		}
	}
	reverse := make([]int, len(order))
	for k, i := range order {
		reverse[len(order)-1-k] = i
	}
	return reverse, neededBy
}

// runPlan runs fn for every member once all of after[i] succeeded, at most
// parallel at once. A member after one that failed or was skipped is
// skipped. It returns the first failure in plan order, naming the release.
func (r *run) runPlan(members []*member, order []int, after [][]int, parallel int, uninstall bool, fn func(*member) error) error {
	if parallel <= 0 {
		parallel = DefaultPlanParallel
	}
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, i := range order {
		m := members[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(m.done)
			for _, j := range after[i] {
				<-members[j].done
			}
			for _, j := range after[i] {
				if dep := members[j]; dep.out.Result != StatusSuccess {
					m.skip(r, dep, uninstall)
					return
				}
			}
			select {
			case slots <- struct{}{}:
			case <-r.ctx.Done():
				m.skipInterrupted(r)
				return
			}
			defer func() { <-slots }()
			m.runOne(r, fn)
		}()
	}
	wg.Wait()
	r.result.Releases = make([]PlanRelease, len(members))
	var first *member
	for k, i := range order {
		m := members[i]
		r.result.Releases[k] = m.out
		if m.err != nil && (first == nil || m.index < first.index) {
			first = m
		}
	}
	if first == nil {
		return nil
	}
	// The release's own reason already leads with its diagnosis.
	r.hookFailed = first.run.hookFailed
	r.result.Action = first.out.Action
	return &Error{Step: first.err.Step, Code: first.err.Code, Err: first.err,
		msg: fmt.Sprintf("release %s/%s: %s", first.rel.Namespace, first.rel.Name, first.run.result.Reason)}
}

// runOne runs one member's steps and records its outcome.
func (m *member) runOne(r *run, fn func(*member) error) {
	started := time.Now()
	m.run.start = started
	m.run.log.Info("release started")
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v (a bug: please report it)", p)
			}
		}()
		err = fn(m)
	}()
	m.err = m.run.conclude(err)
	m.run.recordOutcome()
	res := m.run.result
	m.out = PlanRelease{
		Name: m.rel.Name, Namespace: m.rel.Namespace, Action: res.Action,
		Revision: res.Release.Revision, Status: res.Release.Status,
		Chart: res.Release.Chart, Version: res.Release.Version, AppVersion: res.Release.AppVersion,
		Result: res.Status, ReasonCode: res.ReasonCode, ExitCode: res.ExitCode,
		StartSeconds:    seconds(started.Sub(r.start)),
		DurationSeconds: res.DurationSeconds,
		Steps:           res.Steps, Diagnosis: res.Diagnosis, CRDs: res.CRDs, Drift: res.Drift,
	}
	if m.err != nil {
		m.out.Reason = res.Reason
	}
	m.run.log.Info("release finished", "result", res.Status, "action", res.Action, "seconds", res.DurationSeconds)
}

// skip records that the member did not run because dep did not succeed.
func (m *member) skip(r *run, dep *member, uninstall bool) {
	why := fmt.Sprintf("not installed: it needs %s/%s, which %s", dep.rel.Namespace, dep.rel.Name, pastTense(dep.out.Result))
	if uninstall {
		why = fmt.Sprintf("not uninstalled: %s/%s needs it and %s", dep.rel.Namespace, dep.rel.Name, pastTense(dep.out.Result))
	}
	m.out = PlanRelease{Name: m.rel.Name, Namespace: m.rel.Namespace, Action: ActionNone, Result: StatusSkipped, Reason: why,
		StartSeconds: seconds(time.Since(r.start))}
	r.log.Warn("release skipped", "release", m.rel.Namespace+"/"+m.rel.Name, "reason", why)
}

func (m *member) skipInterrupted(r *run) {
	m.out = PlanRelease{Name: m.rel.Name, Namespace: m.rel.Namespace, Action: ActionNone, Result: StatusSkipped,
		Reason: "not started: the run ended first", StartSeconds: seconds(time.Since(r.start))}
}

func pastTense(result string) string {
	if result == StatusSkipped {
		return "was skipped"
	}
	return "failed"
}

// planAction is the run's action: the strongest of its releases'
// (install, upgrade, repair, none).
func planAction(members []*member) string {
	rank := map[string]int{ActionNone: 0, ActionRepair: 1, ActionUpgrade: 2, ActionInstall: 3}
	action := ActionNone
	for _, m := range members {
		if a := m.out.Action; rank[a] > rank[action] {
			action = a
		}
	}
	return action
}

// renderPlanOutputs renders the plan's outputs; each template sees
// .Releases, keyed by release name (when unique in the plan) and by
// "namespace/name".
func (r *run) renderPlanOutputs(outputs []outputTemplate, members []*member) error {
	releases := map[string]outputData{}
	count := map[string]int{}
	for _, m := range members {
		count[m.rel.Name]++
	}
	var config *rest.Config
	for _, m := range members {
		values, err := chartutil.CoalesceValues(m.st.loaded.Chart, m.st.vals)
		if err != nil {
			return err
		}
		d := newOutputData(m.run.result.Release, values, m.st.observed)
		releases[m.rel.Key()] = d
		if count[m.rel.Name] == 1 {
			releases[m.rel.Name] = d
		}
		if config == nil {
			config = m.st.kc.REST()
		}
	}
	out, err := renderOutputs(outputs, planOutputData{Releases: releases}, config)
	if err != nil {
		return err
	}
	r.result.Outputs = out
	return nil
}

// planOutputData is what a plan's output template sees.
type planOutputData struct {
	Releases map[string]outputData
}

// callbackNone: a release of a plan never reports on its own.
var callbackNone = Common{}.Callback

// releaseCommon is the run's Common for one release.
func releaseCommon(c Common, rel releaseplan.Release) Common {
	c.Release, c.Namespace = rel.Name, rel.Namespace
	c.ResultFile, c.OutputsJSON = "", ""
	c.Callback = callbackNone
	if rel.Wait != "" {
		c.Wait = rel.Wait
	}
	return c
}

// releaseSpec is the install spec of release i of the plan: the command
// line's, with the release's own keys winning.
func releaseSpec(base InstallSpec, rel releaseplan.Release, i int) (InstallSpec, error) {
	s := base
	s.Common = releaseCommon(base.Common, rel)
	s.Chart = releaseSource(base.Chart, rel)
	s.Values = releaseValues(base.Values, rel)
	setBool(&s.CreateNamespace, rel.CreateNamespace)
	setBool(&s.WaitForJobs, rel.WaitForJobs)
	setBool(&s.ForceConflicts, rel.ForceConflicts)
	setBool(&s.TakeOwnership, rel.TakeOwnership)
	setBool(&s.RollbackOnFailure, rel.RollbackOnFailure)
	if rel.HistoryMax != nil {
		s.HistoryMax = *rel.HistoryMax
	}
	for _, kv := range []struct {
		to   *string
		from string
	}{{&s.CRDs, rel.CRDs}, {&s.Drift, rel.Drift}, {&s.OnFailed, rel.OnFailed}, {&s.ServerSide, rel.ServerSide}} {
		if kv.from != "" {
			*kv.to = kv.from
		}
	}
	if rel.CRDs != "" {
		s.SkipCRDs = false
	}
	s.DriftIgnore = pick(rel.DriftIgnore, base.DriftIgnore)
	// Outputs belong to the plan, not to a release.
	s.Outputs, s.OutputsFile = nil, ""
	if rel.WaitFor != nil {
		data, err := yaml.Marshal(rel.WaitFor)
		if err != nil {
			return s, fmt.Errorf("%w: releases[%d] (%s): waitFor: %v", errInvalidSpec, i, rel.Name, err)
		}
		conds, err := kube.ParseConditions(data, fmt.Sprintf("releases[%d] (%s) waitFor", i, rel.Name))
		if err != nil {
			return s, err
		}
		s.WaitFor, s.WaitForFile, s.Conditions = nil, "", conds
	}
	return s, nil
}

// releaseSource is the chart of a release: the command line's source
// settings (credentials, verification) with the release's chart.
func releaseSource(base chart.Source, rel releaseplan.Release) chart.Source {
	base.Ref, base.RepoURL, base.Version, base.Digest = rel.Chart, rel.Repo, rel.Version, rel.ChartDigest
	return base
}

// releaseValues are the values of a release: its own inputs, each
// replacing the command line's.
func releaseValues(base chart.Values, rel releaseplan.Release) chart.Values {
	return chart.Values{
		Files:       pick(rel.ValuesFiles, base.Files),
		Inline:      rel.Values,
		SecretFiles: pick(rel.SecretValuesFiles, base.SecretFiles),
		Set:         pick(rel.Set, base.Set),
		SetString:   pick(rel.SetString, base.SetString),
		SetFile:     pick(rel.SetFile, base.SetFile),
		SetJSON:     pick(rel.SetJSON, base.SetJSON),
	}
}

// pick is the release's list when it gave one, else the command line's.
func pick(own, base []string) []string {
	if own != nil {
		return own
	}
	return base
}

func setBool(to *bool, from *bool) {
	if from != nil {
		*to = *from
	}
}
