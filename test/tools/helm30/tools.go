//go:build tools
// +build tools

// The blank import keeps the command this module builds in go.mod and go.sum.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
