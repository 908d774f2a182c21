#!/usr/bin/env bash
# Starts (up) or stops (down) the local control plane in the background, with
# its state in .cluster/ of the work tree. Used by `make cluster-up`,
# `make cluster-down`, the demo and benchmarks. HOOKRUNNER_CLUSTER_DIR and
# HOOKRUNNER_TESTCLUSTER override the state directory and the binary (tests);
# HOOKRUNNER_CLUSTER_ARGS adds testcluster flags (--real-node --image FILE).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${HOOKRUNNER_CLUSTER_DIR:-$root/.cluster}
testcluster=${HOOKRUNNER_TESTCLUSTER:-$root/bin/testcluster}

running() { [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }

case ${1:-} in
up)
  if running && [[ -f $dir/kubeconfig ]]; then
    echo "cluster: already running (kubeconfig $dir/kubeconfig)"
    exit 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  start=$(date +%s%N)
  # shellcheck disable=SC2086 # flags split on purpose
  setsid "$testcluster" --dir "$dir" ${HOOKRUNNER_CLUSTER_ARGS:-} >"$dir/testcluster.log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 1200); do
    [[ -f $dir/kubeconfig ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "cluster: failed to start; last lines of its log:" >&2
      tail -n 40 "$dir/testcluster.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  [[ -f $dir/kubeconfig ]] || { echo "cluster: not ready after 120s" >&2; exit 1; }
  echo "cluster: ready in $(( ($(date +%s%N) - start) / 1000000 )) ms"
  cat <<MSG
  kubeconfig: $dir/kubeconfig
  try:        kubectl --kubeconfig $dir/kubeconfig get nodes
  or:         export KUBECONFIG=$dir/kubeconfig PATH=$root/.tools/bin:\$PATH
  logs:       $dir/logs/
  stop:       make cluster-down
MSG
  ;;
down)
  if running; then
    pid=$(cat "$dir/pid")
    kill -TERM "$pid"
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  echo "cluster: stopped"
  ;;
*)
  echo "usage: $0 up|down" >&2
  exit 2
  ;;
esac
