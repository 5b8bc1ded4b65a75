#!/usr/bin/env bash
# Installs the Debian packages Pangaea builds and tests with, if any is missing.
# Safe to run again: it only calls apt-get when something is absent.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libfabric-dev libfabric-bin
  capnproto libcapnp-dev
  libjemalloc-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libext2fs-dev libseccomp-dev libsodium-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  busybox-static iproute2 gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages and not root; run as root or: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
