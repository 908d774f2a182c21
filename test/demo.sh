#!/usr/bin/env bash
# make demo: installs the wrapper chart (charts/hookrunner) into the local
# cluster with the real helm v4 CLI. Its post-install hook Job runs the
# hookrunner image on the cluster's real node (containerd + kubelet), which
# installs the example chart carried in the release (target.chartContent),
# waits on a condition, renders outputs and reports to a local callback
# receiver (ROS format). Then shows the callback, the releases, and an
# upgrade of the wrapper that changes nothing. Run by `make demo` after
# `make cluster-up`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export KUBECONFIG=$root/.cluster/kubeconfig
helm=$root/.tools/bin/helm4
kubectl=$root/.tools/bin/kubectl
out=$(mktemp -d)
receiver_pid=
cleanup() {
  [[ -n $receiver_pid ]] && kill "$receiver_pid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The receiver listens where the node's pods reach this machine: the host end
# of the node's veth pair (never an address outside this machine).
host_ip=$(cat .cluster/host-ip)
go build -o bin/receiver ./test/cmd/receiver
bin/receiver -listen "$host_ip:0" -url-file "$out/url" >"$out/callbacks" 2>&1 &
receiver_pid=$!
for _ in $(seq 1 50); do [[ -s $out/url ]] && break; sleep 0.1; done
callback=$(cat "$out/url")/waitcondition?stackid=demo\&signature=c2lnbmF0dXJlLW9mLXRoZS1kZW1v

"$helm" package test/testdata/charts/webapp -d "$out" >/dev/null
cat >"$out/values.yaml" <<YAML
target:
  chartContent: $(base64 -w0 "$out"/webapp-*.tgz)
  releaseName: demo
  namespace: demo
  values: {message: hello}
rbac: {clusterAdmin: true}
callback: {format: ros, url: "$callback"}
waitFor:
  - {kind: Deployment, name: demo, jsonPath: "{.status.readyReplicas}", operator: Equals, value: "2"}
outputs:
  endpoint: 'http://{{ (lookup "v1" "Service" .Release.Namespace "demo").spec.clusterIP }}:{{ .Values.service.port }}'
  ready: '{{ (index .Conditions 0).Value }} replicas ready'
YAML

say "helm install shop charts/hookrunner -n shop --create-namespace -f values.yaml  (target.chartContent, rbac.clusterAdmin, callback, waitFor, outputs)"
"$helm" install shop charts/hookrunner -n shop --create-namespace -f "$out/values.yaml" --timeout 5m

say "the hook pod ran the hookrunner image on the real node (kubectl get events -n shop)"
"$kubectl" get events -n shop --field-selector involvedObject.kind=Pod -o custom-columns=POD:.involvedObject.name,REASON:.reason,MESSAGE:.message | grep -E "POD|Scheduled|Pulled|Started" || true

say "callback received by the local receiver (ROS WaitConditionHandle format)"
cat "$out/callbacks"

say "helm list -A (the wrapper release and the target release it installed)"
"$helm" list -A

say "kubectl get deploy,svc,cm -n demo"
"$kubectl" get deploy,svc,cm -n demo

say "helm upgrade of the wrapper with the same values: hookrunner finds nothing to do (action none) and reports again"
seen=$(wc -l <"$out/callbacks")
"$helm" upgrade shop charts/hookrunner -n shop -f "$out/values.yaml" --timeout 5m >/dev/null
tail -n +"$((seen + 1))" "$out/callbacks"
"$helm" list -n demo

printf '\nThe cluster keeps running: KUBECONFIG=%s; helm uninstall shop -n shop removes the target too; stop it with make cluster-down.\n' "$KUBECONFIG"
