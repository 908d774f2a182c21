package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// steerPolicy sends every pod whose containers all run images imported into
// the real node there (node selector and toleration), so that the wrapper
// chart's hook pods run for real with no values of the test's, while kwok
// keeps every other pod: kwok would "complete" a hook Job without running
// it, and the real node cannot pull any other image. A cluster-side
// MutatingAdmissionPolicy (GA in Kubernetes 1.36) rather than chart values:
// a user's `helm install` of the wrapper chart must work unchanged.
const steerPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: hookrunner-real-node
spec:
  failurePolicy: Fail
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE"]
        resources: ["pods"]
  matchConditions:
    - name: only-local-images
      expression: >-
        object.spec.containers.all(c, c.image in %[1]s) &&
        (!has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image in %[1]s)) &&
        (!has(object.spec.nodeName) || object.spec.nodeName == "")
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: >-
          (has(object.spec.nodeSelector) ?
          [JSONPatch{op: "add", path: "/spec/nodeSelector/" + jsonpatch.escapeKey(%[2]q), value: %[3]q}] :
          [JSONPatch{op: "add", path: "/spec/nodeSelector", value: {%[2]q: %[3]q}}]) +
          (has(object.spec.tolerations) ?
          [JSONPatch{op: "add", path: "/spec/tolerations/-", value: Object.spec.tolerations{key: %[2]q, operator: "Equal", value: %[3]q, effect: "NoSchedule"}}] :
          [JSONPatch{op: "add", path: "/spec/tolerations", value: [Object.spec.tolerations{key: %[2]q, operator: "Equal", value: %[3]q, effect: "NoSchedule"}]}])
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata:
  name: hookrunner-real-node
spec:
  policyName: hookrunner-real-node
`

// imageRefs returns the ways a pod may name each image: containerd's full
// name, and for Docker Hub names the short forms ("hookrunner:0.1.0",
// "library/hookrunner:0.1.0").
func imageRefs(names []string) []string {
	var refs []string
	for _, n := range names {
		refs = append(refs, n)
		if rest, ok := strings.CutPrefix(n, "docker.io/"); ok {
			refs = append(refs, rest)
			if short, ok := strings.CutPrefix(rest, "library/"); ok {
				refs = append(refs, short)
			}
		}
	}
	return refs
}

func (c *Cluster) steerToNode(ctx context.Context) error {
	var list []string
	for _, r := range imageRefs(c.node.images) {
		list = append(list, strconv.Quote(r))
	}
	doc := fmt.Sprintf(steerPolicy, "["+strings.Join(list, ", ")+"]", NodeLabel, NodeLabelValue)
	client, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	for i, part := range strings.Split(doc, "\n---\n") {
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(part), &obj.Object); err != nil {
			return fmt.Errorf("steering policy %d: %w", i, err)
		}
		resource := map[string]string{
			"MutatingAdmissionPolicy":        "mutatingadmissionpolicies",
			"MutatingAdmissionPolicyBinding": "mutatingadmissionpolicybindings",
		}[obj.GetKind()]
		gvr := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: resource}
		if _, err := client.Resource(gvr).Create(ctx, &obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create %s: %w", obj.GetKind(), err)
		}
	}
	// Policies take effect once the API server has loaded them: probe with
	// a dry-run pod until it comes back steered.
	cs, err := c.Client()
	if err != nil {
		return err
	}
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "steer-probe", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: PauseImage}}},
	}
	var last string
	err = c.waitFor(ctx, "real-node scheduling policy", func() (bool, error) {
		got, err := cs.CoreV1().Pods("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("probe pod not steered: nodeSelector %v, tolerations %v", got.Spec.NodeSelector, got.Spec.Tolerations)
		return got.Spec.NodeSelector[NodeLabel] == NodeLabelValue && len(got.Spec.Tolerations) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w (%s)", err, last)
	}
	return nil
}
