package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	helmkube "helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/runner/postrender"
)

// Thin glue between our specs and the Helm SDK: one mapper per action, so
// every Helm option we set is in one place and unit-tested on its own.

// The Helm SDK's one process-wide setting hookrunner changes: the field
// manager of everything Helm applies, so that server-side apply, drift and
// CRD updates all speak as one manager.
func init() { helmkube.ManagedFieldsManager = kube.FieldManager }

// newHelmConfig returns a Helm action configuration on the release
// namespace, storing releases in Secrets as the helm CLI does, logging
// through log, with clients from getter.
func newHelmConfig(getter *kube.Getter, namespace string, log slog.Handler) (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(log))
	if err := cfg.Init(getter, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	// Release records travel as protobuf: a Secret's data is then raw
	// bytes, not base64 inside JSON (argo-cd's record is 0.6 MB, read on
	// every run and written after hooks).
	rc, err := getter.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	rc = rest.CopyConfig(rc)
	// And uncompressed: the record is already gzip (then base64), so the
	// API server's gzip of a large response (argo-cd's list of records)
	// cost both ends CPU to save a quarter of the bytes.
	rc.DisableCompression = true
	rc.ContentType = runtime.ContentTypeProtobuf
	rc.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	cfg.Releases.Driver = newReleaseStore(cs.CoreV1().Secrets(namespace), slog.New(log))
	if kc, ok := cfg.KubeClient.(*helmkube.Client); ok {
		hc := kube.NewHelmClient(kc)
		hc.Workers = getter.MaxInFlight()
		cfg.KubeClient = hc
	}
	return cfg, nil
}

// appliesServerSide reports whether the action will use server-side apply,
// by Helm's own rule: always with "true", never with "false", and with
// "auto" on an install, or on an upgrade of a release last applied
// server-side.
func appliesServerSide(serverSide string, kind planKind, current *release.Release) bool {
	switch {
	case serverSide != "auto":
		return serverSide == "true"
	case kind == planUpgrade:
		return current != nil && current.ApplyMethod == string(release.ApplyMethodServerSideApply)
	}
	return true
}

// waitStrategy maps --wait to Helm's strategy; "none" still waits for
// hooks, as Helm always does.
func waitStrategy(wait string) helmkube.WaitStrategy {
	switch wait {
	case "legacy":
		return helmkube.LegacyStrategy
	case "hookOnly", "none":
		return helmkube.HookOnlyStrategy
	default:
		return helmkube.StatusWatcherStrategy
	}
}

// waitOptions make every Helm wait end when ctx does.
func waitOptions(ctx context.Context) []helmkube.WaitOption {
	return []helmkube.WaitOption{helmkube.WithWaitContext(ctx)}
}

func newInstall(ctx context.Context, cfg *action.Configuration, s InstallSpec, hash string, timeout time.Duration, replace bool) *action.Install {
	in := action.NewInstall(cfg)
	in.ReleaseName = s.Release
	in.Namespace = s.Namespace
	in.CreateNamespace = false // the connect step owns the namespace
	in.Timeout = timeout
	in.WaitStrategy = waitStrategy(s.Wait)
	in.WaitOptions = waitOptions(ctx)
	in.WaitForJobs = s.WaitForJobs
	in.RollbackOnFailure = s.RollbackOnFailure
	in.ServerSideApply = s.ServerSide != "false"
	in.ForceConflicts = s.ForceConflicts && in.ServerSideApply
	in.TakeOwnership = s.TakeOwnership
	in.SkipCRDs = true // the crds step applies crds/ by the --crds policy
	in.Replace = replace
	in.Labels = map[string]string{ConfigHashLabel: hash}
	in.Description = "Install complete (hookrunner)"
	// With server-side apply the API server validates every field
	// (fieldValidation=Strict); fetching and parsing the cluster's whole
	// OpenAPI schema to validate on the client as well costs time and
	// tens of megabytes for nothing.
	in.DisableOpenAPIValidation = in.ServerSideApply
	return in
}

func newUpgrade(ctx context.Context, cfg *action.Configuration, s InstallSpec, hash string, timeout time.Duration, serverSide bool) *action.Upgrade {
	up := action.NewUpgrade(cfg)
	up.Namespace = s.Namespace
	up.Timeout = timeout
	up.WaitStrategy = waitStrategy(s.Wait)
	up.WaitOptions = waitOptions(ctx)
	up.WaitForJobs = s.WaitForJobs
	up.RollbackOnFailure = s.RollbackOnFailure
	up.ServerSideApply = s.ServerSide
	// Helm refuses ForceConflicts on a client-side apply: with --server-side
	// auto, an upgrade of a release last applied client-side (by helm 3)
	// is one, and conflicts do not arise there.
	up.ForceConflicts = s.ForceConflicts && serverSide
	up.TakeOwnership = s.TakeOwnership
	up.SkipCRDs = true // see newInstall
	up.MaxHistory = s.HistoryMax
	// The release gets exactly the values asked for: never the previous
	// revision's (Helm reuses them when none are given).
	up.ResetValues = true
	up.Labels = map[string]string{ConfigHashLabel: hash}
	up.Description = "Upgrade complete (hookrunner)"
	up.DisableOpenAPIValidation = serverSide // see newInstall
	return up
}

func newUninstall(ctx context.Context, cfg *action.Configuration, wait string, timeout time.Duration, keepHistory bool) *action.Uninstall {
	un := action.NewUninstall(cfg)
	un.Timeout = timeout
	un.WaitStrategy = waitStrategy(wait)
	un.WaitOptions = waitOptions(ctx)
	un.KeepHistory = keepHistory
	un.IgnoreNotFound = false // not found is reported, not hidden
	un.DeletionPropagation = "background"
	return un
}

// runUninstall runs un, which takes no context, and returns early (leaving
// Helm to finish or fail in the background) when ctx ends.
func runUninstall(ctx context.Context, un *action.Uninstall, name string) error {
	done := make(chan error, 1)
	go func() {
		_, err := un.Run(name)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// asRelease converts what the SDK returns into a v1 release.
func asRelease(r ri.Releaser) (*release.Release, error) {
	switch rel := r.(type) {
	case *release.Release:
		return rel, nil
	case release.Release:
		return &rel, nil
	case nil:
		return nil, nil
	}
	return nil, errors.New("unsupported release type")
}

// asReleases converts a release list.
func asReleases(list []ri.Releaser) ([]*release.Release, error) {
	out := make([]*release.Release, 0, len(list))
	for _, r := range list {
		rel, err := asRelease(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, nil
}

// releaseInfo summarises rel for the result document.
func releaseInfo(rel *release.Release) ReleaseInfo {
	info := ReleaseInfo{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version}
	if rel.Info != nil {
		info.Status = string(rel.Info.Status)
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		info.Chart = rel.Chart.Metadata.Name
		info.Version = rel.Chart.Metadata.Version
		info.AppVersion = rel.Chart.Metadata.AppVersion
	}
	return info
}

// dryRunOptions say how dryRun renders.
type dryRunOptions struct {
	// server takes lookup and capabilities from the cluster of cfg;
	// otherwise rendering is client-only, as helm template.
	server bool
	// upgrade renders as the upgrade of an existing release would, which
	// also skips the check for resources that already exist.
	upgrade bool
	// includeCRDs puts the chart's crds/ files first in the manifest, as
	// helm template --include-crds.
	includeCRDs bool
}

// dryRun renders the release as an install (or upgrade) would, applying
// nothing.
func dryRun(ctx context.Context, cfg *action.Configuration, name, namespace string, ch *chartv2.Chart, vals map[string]any, post *postrender.Chain, o dryRunOptions) (*release.Release, error) {
	in := action.NewInstall(cfg)
	in.DryRunStrategy = action.DryRunClient
	if o.server {
		in.DryRunStrategy = action.DryRunServer
	}
	in.IsUpgrade, in.IncludeCRDs = o.upgrade, o.includeCRDs
	in.ReleaseName = name
	in.Namespace = namespace
	in.Replace = true // never check the name, as helm template does not
	if !post.Empty() {
		in.PostRenderer = post
	}
	rel, err := in.RunWithContext(ctx, ch, vals)
	if err != nil {
		return nil, err
	}
	return asRelease(rel)
}
