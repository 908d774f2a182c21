package kube

import helmkube "helm.sh/helm/v4/pkg/kube"

// NotReady exposes the filter of HelmClient's wait to tests.
func (c *HelmClient) NotReady(resources helmkube.ResourceList) helmkube.ResourceList {
	return c.notReady(resources)
}

// HookPending exposes the filter of HelmClient's hook wait to tests.
func (c *HelmClient) HookPending(resources helmkube.ResourceList) helmkube.ResourceList {
	return c.hookPending(resources)
}
