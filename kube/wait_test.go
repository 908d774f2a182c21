package kube_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"

	"github.com/hookrunner/hookrunner/kube"
	"github.com/hookrunner/hookrunner/test/cluster"
)

func TestParseCondition(t *testing.T) {
	cases := map[string]struct {
		in   string
		want string // String() of the parsed condition
		err  string
	}{
		"lb-ip":        {in: "Service/web jsonpath={.status.loadBalancer.ingress[0].ip}", want: "Service/web {.status.loadBalancer.ingress[0].ip} NotEmpty"},
		"ros-dollar":   {in: "Service/web jsonpath=$.status.loadBalancer.ingress[0].ip NotEmpty", want: "Service/web {.status.loadBalancer.ingress[0].ip} NotEmpty"},
		"equals":       {in: "apps/v1:Deployment/web namespace=app jsonpath=.status.readyReplicas Equals value=2", want: `Deployment.apps/app/web {.status.readyReplicas} Equals "2"`},
		"selector":     {in: "Pod selector=app=web jsonpath={.status.phase} Equals value=Running timeout=2m", want: `Pod -l app=web {.status.phase} Equals "Running"`},
		"exists":       {in: "ConfigMap/ready", want: "ConfigMap/ready Exists"},
		"matches":      {in: "Service/web jsonpath={.spec.clusterIP} Matches value=^10\\.", want: `Service/web {.spec.clusterIP} Matches "^10\\."`},
		"no-target":    {in: "Service jsonpath={.a}", err: "give a name or a selector"},
		"both":         {in: "Service/web selector=a=b", err: "not both"},
		"bad-op":       {in: "Service/web jsonpath={.a} Bigger", err: `operator "Bigger"`},
		"op-no-path":   {in: "Service/web Equals value=1", err: "operator Equals needs a jsonPath"},
		"bad-path":     {in: "Service/web jsonpath={.a[", err: "jsonPath"},
		"bad-regexp":   {in: "Service/web jsonpath={.a} Matches value=(", err: "not a regular expression"},
		"bad-timeout":  {in: "Service/web timeout=soon", err: `timeout "soon"`},
		"unknown-key":  {in: "Service/web colour=blue", err: `unknown key "colour"`},
		"bad-selector": {in: "Pod selector=a=b=c", err: "selector"},
		"empty":        {in: "  ", err: "empty"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := kube.ParseCondition(tc.in)
			if tc.err != "" {
				if !errors.Is(err, kube.ErrInvalidCondition) || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseConditionsFile(t *testing.T) {
	conds, err := kube.ParseConditions([]byte(`
- kind: Service
  name: web
  namespace: app
  jsonPath: "$.status.loadBalancer.ingress[0].ip"
  operator: NotEmpty
  timeout: 5m
- kind: Pod
  selector: app=web
  jsonPath: "{.status.phase}"
  operator: Equals
  value: Running
`), "waitfor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range conds {
		got = append(got, c.String())
	}
	want := []string{"Service/app/web {.status.loadBalancer.ingress[0].ip} NotEmpty", `Pod -l app=web {.status.phase} Equals "Running"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for name, tc := range map[string]struct{ data, err string }{
		"unknown-field": {"- kind: Pod\n  name: x\n  path: '{.a}'\n", `unknown field "path"`},
		"not-a-list":    {"kind: Pod\n", "not a YAML list"},
		"second-entry":  {"- kind: Pod\n  name: x\n- kind: Pod\n", "waitfor.yaml entry 2: invalid wait condition: Pod: give a name or a selector"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := kube.ParseConditions([]byte(tc.data), "waitfor.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func waiter(t *testing.T) *kube.Waiter {
	t.Helper()
	cfg, err := kube.Load(kube.Options{Kubeconfig: cluster.Get(t).Kubeconfig}, "default")
	if err != nil {
		t.Fatal(err)
	}
	w, err := cfg.NewWaiter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustParse(t *testing.T, s string) kube.Condition {
	t.Helper()
	c, err := kube.ParseCondition(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The wait ends when a watched status changes: a LoadBalancer IP patched
// in while it waits is seen, and the wait returns it.
func TestWaitSeesStatusChangeAtOnce(t *testing.T) {
	cs := setup(t, "wait-lb")
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := cs.CoreV1().Services("wait-lb").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The patch comes while Wait is waiting; a failed patch ends the wait
	// at once (and the test) instead of leaving it waiting forever.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	patched := make(chan time.Time, 1)
	patchErr := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		s, err := cs.CoreV1().Services("wait-lb").Get(ctx, "web", metav1.GetOptions{})
		if err == nil {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}
			patched <- time.Now()
			_, err = cs.CoreV1().Services("wait-lb").UpdateStatus(ctx, s, metav1.UpdateOptions{})
		}
		if err != nil {
			patchErr <- err
			cancel()
		}
	}()
	obs, err := waiter(t).Wait(waitCtx, []kube.Condition{mustParse(t, "Service/web jsonpath={.status.loadBalancer.ingress[0].ip}")}, "wait-lb")
	select {
	case perr := <-patchErr:
		t.Fatalf("patch the status: %v", perr)
	default:
	}
	if err != nil {
		t.Fatal(err)
	}
	if obs[0].Value != "203.0.113.7" || !obs[0].Met {
		t.Errorf("observed %+v", obs[0])
	}
	// How soon is logged, not asserted: the bench measures latency.
	t.Logf("wait ended %s after the patch", time.Since(<-patched).Round(time.Millisecond))
}

// A selector condition holds when every matching object satisfies it.
func TestWaitSelectorAndClusterScope(t *testing.T) {
	cs := setup(t, "wait-selector")
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		if _, err := cs.CoreV1().Pods("wait-selector").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	obs, err := waiter(t).Wait(wctx, []kube.Condition{
		mustParse(t, "Pod selector=app=web jsonpath={.status.phase} Equals value=Running"),
		mustParse(t, "Namespace/wait-selector jsonpath={.status.phase} Equals value=Active"),
	}, "wait-selector")
	if err != nil {
		t.Fatal(err)
	}
	if obs[0].Value != "Running,Running" || obs[1].Value != "Active" {
		t.Errorf("observed %q and %q", obs[0].Value, obs[1].Value)
	}
}

// A condition that never holds ends at its own timeout with an error that
// names it and its last value, and counts as a timeout.
func TestWaitTimeoutNamesConditionAndLastValue(t *testing.T) {
	cs := setup(t, "wait-timeout")
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "flag"}, Data: map[string]string{"state": "starting"}}
	if _, err := cs.CoreV1().ConfigMaps("wait-timeout").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := waiter(t).Wait(ctx, []kube.Condition{
		mustParse(t, "ConfigMap/flag jsonpath={.data.state} Equals value=ready timeout=1500ms"),
		mustParse(t, "ConfigMap/absent"),
	}, "wait-timeout")
	var werr *kube.WaitError
	if !errors.As(err, &werr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timed-out WaitError", err)
	}
	for _, want := range []string{`ConfigMap/wait-timeout/flag {.data.state} Equals "ready"`, `last value "starting"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if took := time.Since(start); took < 1500*time.Millisecond || took > 5*time.Second {
		t.Errorf("ended after %s with a 1.5 s timeout", took)
	}
}

// Kinds are resolved through discovery: a custom resource works, with or
// without its apiVersion.
func TestWaitCustomResource(t *testing.T) {
	c := cluster.Get(t)
	setup(t, "wait-crd")
	ctx := context.Background()
	ext, err := apiextensions.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: new(true)}}}},
		},
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1"}, "spec": map[string]any{"ready": true},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = dyn.Resource(gvr).Namespace("wait-crd").Create(ctx, widget, metav1.CreateOptions{})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the CRD is being established
	}
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	obs, err := waiter(t).Wait(wctx, []kube.Condition{
		mustParse(t, "example.com/v1:Widget/w1 jsonpath={.spec.ready} Equals value=true"),
		mustParse(t, "Widget/w1 jsonpath={.spec.ready} Equals value=true"),
	}, "wait-crd")
	if err != nil {
		t.Fatal(err)
	}
	if !obs[0].Met || !obs[1].Met {
		t.Errorf("observed %+v", obs)
	}
}
