#!/usr/bin/env bash
# Builds the pinned control-plane binaries and helm CLIs that tests, the demo
# and benchmarks use, into a cache directory keyed by the pins (the tool
# modules' go.mod, go.sum and sources, and the build flags), then links them
# into .tools/bin of the work tree. A second run with unchanged pins builds
# nothing. Usage: test/tools/build.sh   (prints the bin directory last)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${HOOKRUNNER_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hookrunner/tools}
bin=$root/.tools/bin
mkdir -p "$cache" "$bin"

# Kubernetes version the control plane reports; it must match the pin of
# k8s.io/kubernetes in cluster/go.mod (checked below).
kube_version=v1.36.3

# build NAME MODULE_DIR LDFLAGS PACKAGE...: builds PACKAGEs of the module at
# MODULE_DIR into $cache/NAME-KEY unless that directory is complete already.
build() {
  local name=$1 dir=$2 ldflags=$3
  shift 3
  local key
  key=$(cd "$dir" && { cat go.mod go.sum; find . -name '*.go' -print0 | sort -z | xargs -0 cat; echo "$ldflags $*"; } | sha256sum | cut -c1-16)
  local out=$cache/$name-$key
  if [[ -f $out/.complete ]]; then
    echo "tools: $name up to date ($out)" >&2
  else
    echo "tools: building $name into $out (several minutes on a cold cache)" >&2
    local start=$SECONDS tmp
    tmp=$(mktemp -d "$cache/.$name-XXXXXX")
    # One package is built as NAME; several keep their own command names.
    local o=$tmp/
    [[ $# -eq 1 ]] && o=$tmp/$name
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$o" "$@")
    touch "$tmp/.complete"
    rm -rf "$out"
    mv "$tmp" "$out"
    echo "tools: built $name in $((SECONDS - start))s" >&2
  fi
  local f
  for f in "$out"/*; do ln -sfn "$f" "$bin/$(basename "$f")"; done
}

pinned=$(cd "$here/cluster" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
if [[ $pinned != "$kube_version" ]]; then
  echo "tools: cluster/go.mod pins k8s.io/kubernetes $pinned but build.sh stamps $kube_version" >&2
  exit 1
fi
minor=$(echo "$kube_version" | cut -d. -f2)
stamp="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
build cluster "$here/cluster" "$stamp" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  sigs.k8s.io/kwok/cmd/kwok \
  ./etcd

# The real node's kubelet and kube-proxy: same module and stamp, their own
# cache entry so that adding them did not rebuild the control plane.
build node "$here/cluster" "$stamp" \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy

# The two helm CLIs share a module; each is built alone as helm4 and helm3.
for major in 4 3; do
  v=$(cd "$here/helm" && go list -m -f '{{.Version}}' "helm.sh/helm/v$major")
  build "helm$major" "$here/helm" "-s -w -X helm.sh/helm/v$major/internal/version.version=$v" "helm.sh/helm/v$major/cmd/helm"
done

# Helm 3.0.3, the line ACK's managed Helm runs: the wrapper chart must render
# there. Its module is of that era (go 1.13) and keeps helm's replaces.
build helm30 "$here/helm30" "-s -w -X helm.sh/helm/v3/internal/version.version=v3.0.3" helm.sh/helm/v3/cmd/helm

echo "$bin"
