#!/usr/bin/env bash
# make demo: installs the example chart into the local control plane through
# the freshly built hookrunner, then shows the result document and what the
# real helm CLI sees. Run by `make demo` after `make cluster-up build`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export KUBECONFIG=$root/.cluster/kubeconfig
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "hookrunner install demo test/testdata/charts/webapp -n demo --create-namespace --set message=hello"
bin/hookrunner install demo test/testdata/charts/webapp -n demo --create-namespace \
  --set message=hello --result-file "$out/result.json" --log-format text >/dev/null

say "result document (--result-file; also the last line of stdout)"
cat "$out/result.json"

say "the same command again: nothing to do"
bin/hookrunner install demo test/testdata/charts/webapp -n demo --create-namespace \
  --set message=hello --log-format text 2>/dev/null | tail -n 1

say "helm list -n demo (the real helm v4 CLI)"
.tools/bin/helm4 list -n demo

say "kubectl get deploy,svc,cm -n demo"
.tools/bin/kubectl get deploy,svc,cm -n demo

printf '\nThe cluster keeps running: KUBECONFIG=%s; stop it with make cluster-down.\n' "$KUBECONFIG"
