#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the default build with
# -Werror, the address+undefined sanitizer build, and a short run of each fuzzer.
# Long sweeps and benchmarks have their own commands (docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
# Runs one meson test suite set in a build dir and adds its counts to the totals.
run_meson_tests() {
  local build_dir=$1
  shift
  local status=0
  meson test -C "$build_dir" --print-errorlogs --num-processes 2 "$@" || status=$?
  local log="$build_dir/meson-logs/testlog.json"
  if [ -f "$log" ]; then
    passed=$((passed + $(grep -c '"result": "OK"' "$log" || true)))
    failed=$((failed + $(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR)"' "$log" || true)))
  fi
  return $status
}

status=0
echo "== build (warnings are errors)"
tools/setup.sh build -Dwerror=true
run_meson_tests build || status=1

echo "== address+undefined sanitizer build (runtime, simulator, storage)"
# gcc's instrumentation of the generated protocol code costs many minutes per file, and
# the fuzzers already run that code under clang's sanitizers, so this build covers the
# fiber, fault and storage code. The seed sweep runs uninstrumented above.
asan_targets=(tests/runtime/runtime_real_disk_test
  tests/runtime/runtime_real_network_test tests/runtime/runtime_real_runtime_test
  tests/runtime/runtime_scheduler_test tests/runtime/runtime_sync_test
  tests/sim/sim_disk_test tests/sim/sim_network_test tests/sim/sim_world_test
  tests/storage/storage_test)
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbenchmarks=disabled >/dev/null
fi
ninja -C build-asan "${asan_targets[@]}"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_meson_tests build-asan --no-rebuild runtime_sync runtime_scheduler runtime_real_disk \
  runtime_real_runtime runtime_real_network network_test disk_test world_test storage \
  || status=1

if [ -x fuzz/ci.sh ]; then
  echo "== fuzzers (short run)"
  if fuzz/ci.sh 20; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
fi

echo "${passed} passed, ${failed} failed"
exit $status
