package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	release "helm.sh/helm/v4/pkg/release/v1"

	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hookrunner/hookrunner/kube"
)

// Uninstall removes the release and its resources. A release that does not
// exist is a success: the asked state is reached.
func Uninstall(ctx context.Context, spec UninstallSpec, o IO) (err error) {
	r := newRun(ctx, "uninstall", spec.Common, o)
	defer r.recoverPanic(&err)
	err = r.finish(r.uninstall(spec))
	if err != nil && spec.IgnoreErrors {
		r.log.Warn("uninstall failed; exiting 0 because of --on-error=ignore: the target release may be left behind", "error", err.Error())
		return nil
	}
	return err
}

func (r *run) uninstall(spec UninstallSpec) error {
	r.result.Action = ActionUninstall
	var kc *kube.Config
	if err := r.step("validate", ExitBadInput, func() (err error) {
		if err := r.setupCallback(spec.Callback, spec.Common); err != nil {
			return err
		}
		if err := spec.Common.validate(); err != nil {
			return err
		}
		kc, err = r.loadKube(spec.Kube, spec.Namespace)
		return err
	}); err != nil {
		return err
	}
	var client kubernetes.Interface
	if err := r.step("connect", ExitCluster, func() (err error) {
		client, _, err = r.dial(kc)
		return err
	}); err != nil {
		return err
	}
	// Without the namespace there is no release and nothing to lock.
	if _, err := client.CoreV1().Namespaces().Get(r.ctx, spec.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		r.result.Reason = fmt.Sprintf("release %s not found: namespace %s does not exist", spec.Release, spec.Namespace)
		r.log.Info("nothing to uninstall", "reason", r.result.Reason)
		return nil
	}
	unlock, err := r.lock(client, spec.Common)
	if err != nil {
		return err
	}
	defer unlock()
	var before *release.Release // the release as it was, for a diagnosis
	err = r.step("act", ExitAction, func() error {
		// Before deleting, Helm GETs every resource of the release, one
		// at a time, to check that the release owns it: 3000 ConfigMaps
		// took 9.6 s of sequential requests. Snapshots answer those GETs
		// from one LIST per collection, taken moments before (the same race
		// the GETs have); the first delete in a collection drops its
		// snapshot.
		getter := kc.ForHelmActions()
		getter.UseSnapshots(true)
		cfg, err := newHelmConfig(getter, spec.Namespace, r.helm)
		if err != nil {
			return err
		}
		// Helm applies delete hooks server-side, always: the API server
		// validates their fields.
		if hc, ok := cfg.KubeClient.(*kube.HelmClient); ok {
			hc.ServerValidates(true)
		}
		if last, err := cfg.Releases.Last(spec.Release); err == nil {
			if rel, err := asRelease(last); err == nil && rel != nil {
				r.result.Release = releaseInfo(rel)
				before = rel
			}
		}
		err = r.retryTransient("act", func() error {
			d, _ := r.ctx.Deadline()
			// A failed pre-delete hook's write is Helm's last.
			defer flushReleases(cfg)
			return runUninstall(r.ctx, newUninstall(r.ctx, cfg, spec.Wait, time.Until(d), spec.KeepHistory), spec.Release)
		})
		if errors.Is(err, driver.ErrReleaseNotFound) {
			r.result.Reason = fmt.Sprintf("release %s not found in namespace %s", spec.Release, spec.Namespace)
			r.log.Info("nothing to uninstall", "reason", r.result.Reason)
			return nil
		}
		if err != nil {
			return fmt.Errorf("uninstall: %w", err)
		}
		r.result.Release.Status = "uninstalled"
		return nil
	})
	// A pre-delete hook that failed, a wait for deletion that timed out:
	// say why, as for an install.
	r.diagnoseFailure(err, client, before, spec.Namespace)
	return err
}
