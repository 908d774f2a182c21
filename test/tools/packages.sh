#!/usr/bin/env bash
# Installs the Debian packages that the test cluster's real node and the
# image build need, when any is missing: containerd and runc (the runtime),
# the CNI plugins, iptables (kube-proxy), util-linux (unshare, nsenter),
# iproute2, and ca-certificates and tzdata (the image's runtime files).
# Needs root; runs `apt-get update` first, as on a fresh machine.
set -euo pipefail

missing=()
need() { # need PACKAGE PATH...: PACKAGE is missing when any PATH is
  local pkg=$1 p
  shift
  for p in "$@"; do
    if [[ ! -e $p ]]; then missing+=("$pkg"); return; fi
  done
}
need containerd /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2
need runc /usr/sbin/runc
need containernetworking-plugins /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback
need iptables /usr/sbin/iptables /usr/sbin/iptables-restore
need util-linux /usr/bin/unshare /usr/bin/nsenter
need iproute2 /usr/sbin/ip
need ca-certificates /etc/ssl/certs/ca-certificates.crt
need tzdata /usr/share/zoneinfo/UTC

if ((${#missing[@]} == 0)); then
  echo "packages: all present" >&2
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "packages: missing ${missing[*]}; run as root or install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# containerd's package would start the daemon where systemd runs; the node
# runs its own containerd, so keep the package's service from starting.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d.hookrunner
chmod +x /usr/sbin/policy-rc.d.hookrunner
created=
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  cp /usr/sbin/policy-rc.d.hookrunner /usr/sbin/policy-rc.d
  created=1
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[[ -n $created ]] && rm -f /usr/sbin/policy-rc.d
rm -f /usr/sbin/policy-rc.d.hookrunner
echo "packages: installed ${missing[*]}" >&2
