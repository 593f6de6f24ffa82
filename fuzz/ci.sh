#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan, libraries instrumented for
# coverage) in build-fuzz/ and runs each for the given number of seconds, seeded with
# the golden captures in tests/data. Exits non-zero when a target crashes; the
# crashing input is left in build-fuzz/artifacts/.
#
#   fuzz/ci.sh <seconds per target>      (default 30)
set -eu
seconds=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"

if [ ! -f "$build/build.ninja" ]; then
  # The shim works around clang 14 + libstdc++ 12 lacking std::source_location.
  CC=clang CXX=clang++ \
  CXXFLAGS="-fsanitize=fuzzer-no-link -include $root/fuzz/source_location_shim.h" \
    meson setup "$build" "$root" -Dfuzz=true -Dtests=disabled -Dbenchmarks=disabled \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
fi
nice -n 10 ninja -C "$build" -j2 fuzz/protocol_request fuzz/record_batch fuzz/record_seeds

corpus="$build/corpus"
mkdir -p "$corpus/protocol_request" "$corpus/record_batch" "$build/artifacts"
cp "$root"/tests/data/golden/*.bin "$corpus/protocol_request/"
python3 "$root/fuzz/extract_batches.py" "$root/tests/data/golden" "$corpus/record_batch"
"$build/fuzz/record_seeds" "$corpus/record_batch"

status=0
for target in protocol_request record_batch; do
  echo "== $target: $seconds s"
  # A seed-only directory is copied so that the run's discoveries do not pollute it.
  if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      "$build/fuzz/$target" "$corpus/$target" \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$target-" 2>"$build/$target.log"; then
    echo "!! $target failed; see $build/$target.log and $build/artifacts/"
    tail -50 "$build/$target.log"
    status=1
  fi
  grep -E '^(#[0-9]+.*(DONE|INITED)|stat::)' "$build/$target.log" | tail -8 || true
done
exit $status
