package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/hookrunner/hookrunner/kube"
)

// diagnoseBudget bounds the diagnosis after a failure: it must not delay
// the report.
const diagnoseBudget = 5 * time.Second

// maxFindings is how many findings the result document carries.
const maxFindings = 3

// releaseRefs returns the objects of rel's manifest and of its hooks,
// namespaced objects defaulting to namespace, and which of them are hooks.
func releaseRefs(rel *release.Release, namespace string) (refs []kube.Ref, hooks map[kube.Ref]bool) {
	hooks = map[kube.Ref]bool{}
	if rel == nil {
		return nil, hooks
	}
	parse := func(doc string) (kube.Ref, bool) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil || head.Kind == "" || head.Metadata.Name == "" {
			return kube.Ref{}, false
		}
		ns := head.Metadata.Namespace
		if ns == "" {
			ns = namespace
		}
		return kube.Ref{APIVersion: head.APIVersion, Kind: head.Kind, Namespace: ns, Name: head.Metadata.Name}, true
	}
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		if ref, ok := parse(doc); ok {
			refs = append(refs, ref)
		}
	}
	for _, h := range rel.Hooks {
		if ref, ok := parse(h.Manifest); ok {
			refs = append(refs, ref)
			hooks[ref] = true
		}
	}
	return refs, hooks
}

// diagnose records in the result why the release's objects are not ready,
// after a failed act or wait. An interrupted run reports at once instead.
func (r *run) diagnose(client kubernetes.Interface, rel *release.Release, namespace string) {
	custom := r.custom
	if client == nil || rel == nil || r.parent.Err() != nil {
		return
	}
	refs, hooks := releaseRefs(rel, namespace)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.parent), diagnoseBudget)
	defer cancel()
	found := kube.Diagnose(ctx, client, refs, maxFindings, custom)
	for i := range found {
		found[i].Message = r.red.String(found[i].Message)
	}
	r.result.Diagnosis = found
	if len(found) > 0 {
		for ref := range hooks {
			if ref.Kind == found[0].Kind && ref.Namespace == found[0].Namespace && ref.Name == found[0].Name {
				r.hookFailed = true
			}
		}
		r.log.Warn("diagnosis", "findings", len(found), "first", found[0].String())
	}
}

// progressWhileActing logs one line every interval while Helm acts and
// waits: how many of the release's resources are ready, and the first few
// that are not, read from the revision Helm is writing. The returned
// function stops it.
func (r *run) progressWhileActing(client kubernetes.Interface, releases func() (*release.Release, error), namespace string, interval time.Duration) (stop func()) {
	if client == nil || interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rel, err := releases()
			if err != nil || rel == nil {
				continue
			}
			refs, _ := releaseRefs(rel, namespace)
			ready, total, waiting := kube.Readiness(ctx, client, refs)
			if ctx.Err() != nil {
				return
			}
			r.log.Info("waiting", "step", "act", "ready", ready, "total", total, "notReady", strings.Join(waiting, "; "), "seconds", int(time.Since(start).Seconds()))
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// dial builds the typed client of kc, starts recording Events with it, and
// reaches the cluster (retrying an outage): the one connect of every
// command. It returns the server's version.
func (r *run) dial(kc *kube.Config) (kubernetes.Interface, string, error) {
	client, err := kubernetes.NewForConfig(kc.REST())
	if err != nil {
		return nil, "", fmt.Errorf("%w: kubeconfig %s: %v", kube.ErrInvalidKubeconfig, kc.Source, err)
	}
	r.connected(client, kc)
	var gitVersion string
	err = r.retryTransient("connect", func() error {
		version, err := client.Discovery().ServerVersion()
		if err != nil {
			return fmt.Errorf("reach the cluster of %s: %w", kc.Source, err)
		}
		gitVersion = version.GitVersion
		return nil
	})
	return client, gitVersion, err
}

// connected starts recording Events with client once the cluster is reached.
func (r *run) connected(client kubernetes.Interface, kc *kube.Config) {
	r.events = kube.NewRecorder(client, r.log)
	r.inCluster = kc.InCluster
	// Custom resources are diagnosed through discovery and the dynamic client.
	if dyn, err := dynamic.NewForConfig(kc.REST()); err == nil {
		if mapper, err := kc.ForHelmActions().ToRESTMapper(); err == nil {
			r.custom = kube.CustomReader{Dynamic: dyn, Mapper: mapper}
		}
	}
}

// eventBudget bounds recording the outcome: it must not delay the report.
const eventBudget = 3 * time.Second

// recordOutcome records the run's outcome as an Event about the release
// (its storage Secret) and, in-cluster, about this run's pod, so that
// `kubectl describe pod` of the hook Job shows it.
func (r *run) recordOutcome() {
	if r.events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.parent), eventBudget)
	defer cancel()
	rel := r.result.Release
	var about []kube.Object
	if rel.Revision > 0 && r.result.Action != ActionUninstall {
		about = append(about, kube.Object{Kind: "Secret", Namespace: rel.Namespace, Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", rel.Name, rel.Revision)})
	}
	if r.inCluster && r.pod.Name != "" && r.pod.Namespace != "" {
		about = append(about, r.pod)
	}
	eventType, message := corev1.EventTypeNormal, fmt.Sprintf("%s %s/%s", r.result.Action, rel.Namespace, rel.Name)
	if rel.Revision > 0 {
		message += fmt.Sprintf(": revision %d (%s %s) %s", rel.Revision, rel.Chart, rel.Version, rel.Status)
	}
	if len(r.result.Drift) > 0 {
		var drifted []string
		for _, d := range r.result.Drift {
			drifted = append(drifted, d.String())
		}
		if r.result.Action == ActionRepair {
			message += ": drift corrected: " + strings.Join(drifted, "; ")
		} else {
			eventType, message = corev1.EventTypeWarning, message+": drift detected (not corrected): "+strings.Join(drifted, "; ")
		}
	}
	if r.result.Status == StatusFailure {
		eventType, message = corev1.EventTypeWarning, r.result.Reason
	}
	r.events.Record(ctx, about, eventType, r.result.ReasonCode, r.red.String(message))
}
