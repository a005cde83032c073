#!/usr/bin/env bash
# Installs every build and test dependency of vigil with apt-get (Debian 12+).
# Idempotent.  --if-missing: do nothing when every package is already installed.
set -euo pipefail
PKGS=(
  build-essential make pkg-config clang llvm bpftool
  libbpf-dev libelf-dev zlib1g-dev libjansson-dev libssl-dev
  libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev sqlite3
  libcmocka-dev libclang-rt-14-dev
  python3 python3-jsonschema python3-yaml iproute2 procps util-linux attr acl kmod
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${1:-}" = "--if-missing" ] && [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root, e.g. sudo $0)" >&2
  exit 2
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
