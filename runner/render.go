package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/hookrunner/hookrunner/chart"
	"github.com/hookrunner/hookrunner/images"
	"github.com/hookrunner/hookrunner/kube"
	releaseplan "github.com/hookrunner/hookrunner/runner/plan"
	"github.com/hookrunner/hookrunner/runner/postrender"
	"github.com/hookrunner/hookrunner/runner/redact"
)

// RenderSpec is everything `hookrunner render` and `hookrunner images` need.
type RenderSpec struct {
	Release    string
	Namespace  string
	Chart      chart.Source
	Values     chart.Values
	PostRender postrender.Options
	// UseCluster takes capabilities (and lookup) from the cluster of Kube;
	// otherwise rendering is client-only, as `helm template` is.
	UseCluster bool
	Kube       kube.Options
	// Plan renders every release of this plan file, in the order of
	// their needs, instead of one chart.
	Plan string
	// IncludeCRDs puts the chart's crds/ files (of enabled subcharts too)
	// first, as helm template --include-crds.
	IncludeCRDs bool
}

// Render writes the chart's manifests to stdout exactly as `helm template`
// prints them: the manifest, then every hook under its # Source line.
func Render(ctx context.Context, spec RenderSpec, o IO) error {
	out, err := render(ctx, spec, o)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(o.Stdout, out)
	return err
}

// Image list formats of `hookrunner images`.
const (
	ImagesText = "text" // one normalized image per line, sorted, unique
	ImagesJSON = "json" // the same as a JSON array
	ImagesWide = "wide" // every image field: image, object, path
)

// Images writes the images the chart would run, after the post-render
// chain (rewrite rules included), in format: see ImagesText and the
// others.
func Images(ctx context.Context, spec RenderSpec, format string, o IO) error {
	out, err := render(ctx, spec, o)
	if err != nil {
		return err
	}
	if format == ImagesWide {
		found, err := images.Find(out)
		if err != nil {
			return &Error{Step: "images", Code: ExitBadInput, Err: err}
		}
		tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "IMAGE\tOBJECT\tPATH")
		for _, f := range found {
			ref, err := images.Normalize(f.Image)
			if err != nil {
				return &Error{Step: "images", Code: ExitBadInput, Err: fmt.Errorf("%s %s %s: %w", f.Kind, f.Name, f.Path, err)}
			}
			obj := f.Kind + "/" + f.Name
			if f.Namespace != "" {
				obj = f.Kind + "/" + f.Namespace + "/" + f.Name
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ref, obj, f.Path)
		}
		return tw.Flush()
	}
	list, err := images.List(out)
	if err != nil {
		return &Error{Step: "images", Code: ExitBadInput, Err: err}
	}
	if format == ImagesJSON {
		return json.NewEncoder(o.Stdout).Encode(list)
	}
	for _, ref := range list {
		if _, err := fmt.Fprintln(o.Stdout, ref); err != nil {
			return err
		}
	}
	return nil
}

// render returns what `helm template` prints: of the chart, or of every
// release of the plan, each under a "# Release: NAMESPACE/NAME" line.
func render(ctx context.Context, spec RenderSpec, o IO) (string, error) {
	if spec.Plan == "" {
		return renderOne(ctx, spec, o)
	}
	if spec.Chart.Ref != "" {
		return "", &Error{Step: "validate", Code: ExitBadInput, Err: errInvalidSpec,
			msg: fmt.Sprintf("CHART %s given with --plan: each release of the plan names its chart", redact.URL(spec.Chart.Ref))}
	}
	p, err := releaseplan.Load(spec.Plan, spec.Namespace)
	if err != nil {
		return "", &Error{Step: "validate", Code: ExitBadInput, Err: err}
	}
	order, err := p.Order()
	if err != nil {
		return "", &Error{Step: "validate", Code: ExitBadInput, Err: err}
	}
	var b strings.Builder
	for _, i := range order {
		rel := p.Releases[i]
		one := spec
		one.Plan, one.Release, one.Namespace = "", rel.Name, rel.Namespace
		one.Chart, one.Values = releaseSource(spec.Chart, rel), releaseValues(spec.Values, rel)
		out, err := renderOne(ctx, one, o)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "# Release: %s\n---\n%s", rel.Key(), out)
	}
	return b.String(), nil
}

// renderOne runs a dry-run install and returns what `helm template` prints.
func renderOne(ctx context.Context, spec RenderSpec, o IO) (string, error) {
	r := newRun(ctx, "render", Common{Release: spec.Release, Namespace: spec.Namespace}, o)
	defer r.cancel()
	var (
		vals   map[string]any
		post   *postrender.Chain
		kc     *kube.Config
		loaded *chart.Loaded
	)
	if err := r.step("validate", ExitBadInput, func() (err error) {
		r.red.Add(spec.Chart.Password)
		if err := validateNames(spec.Release, spec.Namespace); err != nil {
			return err
		}
		if err := spec.Chart.Validate(); err != nil {
			return err
		}
		if post, err = postrender.New(spec.PostRender); err != nil {
			return err
		}
		var secrets []string
		vals, secrets, err = spec.Values.Merge()
		r.red.Add(secrets...)
		if err != nil || !spec.UseCluster {
			return err
		}
		kc, err = r.loadKube(spec.Kube, spec.Namespace)
		return err
	}); err != nil {
		return "", err
	}
	if err := r.step("resolve-chart", ExitChart, func() (err error) {
		loaded, err = chart.Load(spec.Chart)
		return err
	}); err != nil {
		return "", err
	}
	var out string
	err := r.step("render", ExitAction, func() error {
		cfg, upgrade := action.NewConfiguration(action.ConfigurationSetLogger(r.helm)), false
		if kc != nil {
			var err error
			if cfg, err = newHelmConfig(kc.Getter(), spec.Namespace, r.helm); err != nil {
				return err
			}
			if hist, err := cfg.Releases.History(spec.Release); err == nil && len(hist) > 0 {
				upgrade = true
			} else if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
				return err
			}
		}
		v1, err := dryRun(r.ctx, cfg, spec.Release, spec.Namespace, loaded.Chart, vals, post, dryRunOptions{server: kc != nil, upgrade: upgrade, includeCRDs: spec.IncludeCRDs})
		if err != nil {
			return err
		}
		var b bytes.Buffer
		fmt.Fprintln(&b, strings.TrimSpace(v1.Manifest))
		for _, h := range v1.Hooks {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
		}
		out = b.String()
		return nil
	})
	return out, err
}
