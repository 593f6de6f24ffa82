#!/usr/bin/env bash
# Installs what weir needs from Debian's archive (only what is missing) and builds it.
# Idempotent: a second run installs nothing and rebuilds only what changed.
#   tools/setup.sh [BUILD_DIR [meson options...]]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ meson ninja-build pkg-config cmake python3
  libboost-context-dev libabsl-dev libfmt-dev zlib1g-dev
  libzstd-dev liblz4-dev libsnappy-dev
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  clang libclang-rt-14-dev
  kcat librdkafka-dev python3-kafka python3-confluent-kafka
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

build_dir=${1:-build}
shift || true
if [ ! -f "$build_dir/build.ninja" ]; then
  meson setup "$build_dir" "$@" >/dev/null
fi
ninja -C "$build_dir"
