//go:build tools

// The blank imports keep the commands this module builds in go.mod and go.sum.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
	_ "helm.sh/helm/v4/cmd/helm"
)
