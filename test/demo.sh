#!/usr/bin/env bash
# make demo: installs the example chart into the local control plane through
# the freshly built hookrunner, waits on a condition, and reports to a local
# callback receiver (ROS format); then shows the callback received, the
# result document with its outputs, and what the real helm CLI sees. Run by
# `make demo` after `make cluster-up build`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export KUBECONFIG=$root/.cluster/kubeconfig
out=$(mktemp -d)
receiver_pid=
cleanup() {
  [[ -n $receiver_pid ]] && kill "$receiver_pid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

go build -o bin/receiver ./test/cmd/receiver
bin/receiver -url-file "$out/url" >"$out/callbacks" 2>&1 &
receiver_pid=$!
for _ in $(seq 1 50); do [[ -s $out/url ]] && break; sleep 0.1; done
callback=$(cat "$out/url")/waitcondition?stackid=demo\&signature=c2lnbmF0dXJlLW9mLXRoZS1kZW1v

cmd=(bin/hookrunner install demo test/testdata/charts/webapp -n demo --create-namespace
  --set message=hello
  --wait-for 'Deployment/demo jsonpath={.status.readyReplicas} Equals value=2'
  --output 'endpoint=http://{{ (lookup "v1" "Service" .Release.Namespace "demo").spec.clusterIP }}:{{ .Values.service.port }}'
  --output 'ready={{ (index .Conditions 0).Value }} replicas ready'
  --callback-format ros --callback-url "$callback"
  --result-file "$out/result.json" --log-format text)

say "hookrunner install demo test/testdata/charts/webapp -n demo --create-namespace --wait-for … --output … --callback-url …"
"${cmd[@]}" >/dev/null

say "callback received by the local receiver (ROS WaitConditionHandle format)"
cat "$out/callbacks"

say "result document (--result-file; also the last line of stdout)"
cat "$out/result.json"

say "the same command again: nothing to do (action none), outputs and callback again"
"${cmd[@]}" 2>/dev/null | tail -n 1

say "helm list -n demo (the real helm v4 CLI)"
.tools/bin/helm4 list -n demo

say "kubectl get deploy,svc,cm -n demo"
.tools/bin/kubectl get deploy,svc,cm -n demo

printf '\nThe cluster keeps running: KUBECONFIG=%s; stop it with make cluster-down.\n' "$KUBECONFIG"
