#!/bin/sh
# End-to-end perf of weir on loopback, side by side in one run (docs/perf.md):
#   (a) the ceiling: raw loopback TCP carrying the same payload bytes in batch-sized frames
#   (b) weir perf produce, 100-byte records, acks=1
#   (c) weir perf produce, acks=all (idempotent)
#   (d) weir perf consume of (b)'s records
#   (e,f) librdkafka's rdkperf against the same server, when cc and librdkafka exist
# It builds nothing: pass a build directory where `weir` (and bench/perf/tcp_ceiling,
# built when benchmarks are enabled) exist.
#
#   bench/perf/run.sh BUILD_DIR [--records N] [--record-size B] [--partitions P]
#                     [--tcp-ceiling PATH] [--no-rdkafka]
set -eu

usage() { echo "usage: $0 BUILD_DIR [--records N] [--record-size B] [--partitions P]" \
  "[--tcp-ceiling PATH] [--no-rdkafka]" >&2; exit 2; }
[ $# -ge 1 ] || usage
build=$(cd "$1" && pwd); shift
records=1000000; size=100; partitions=1; ceiling=""; rdkafka=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --records) records=$2; shift 2 ;;
    --record-size) size=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --tcp-ceiling) ceiling=$2; shift 2 ;;
    --no-rdkafka) rdkafka=no; shift ;;
    *) usage ;;
  esac
done
weir=$build/src/cli/weir
[ -x "$weir" ] || { echo "no $weir: build the weir target first" >&2; exit 1; }
[ -n "$ceiling" ] || ceiling=$build/bench/perf/tcp_ceiling
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$weir" server --override listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0 \
  --override "log.dirs=$work/data" \
  > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
bootstrap=""
for _ in $(seq 1 100); do
  bootstrap=$(sed -n 's/.*serving on \([^ ,]*\).*/\1/p' "$work/server.out" | head -1)
  [ -n "$bootstrap" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/server.err" >&2; exit 1; fi
  sleep 0.1
done
[ -n "$bootstrap" ] || { echo "weir server did not start" >&2; cat "$work/server.err" >&2; exit 1; }
echo "weir server on $bootstrap; $records records of $size bytes, $partitions partition(s)"

b="--bootstrap-server $bootstrap"
for topic in perf-acks1 perf-big perf-all rdk-acks1; do
  "$weir" topic create --topic $topic --partitions "$partitions" $b > /dev/null
done

results=$work/results
: > "$results"
if [ -x "$ceiling" ]; then
  echo "(a) loopback TCP ceiling"
  line=$("$ceiling" --bytes $((records * size)) --frame-bytes 16384)
  echo "ceiling $line" >> "$results"
else
  echo "(a) skipped: no $ceiling (configure with -Dbenchmarks=enabled, or pass --tcp-ceiling)"
fi
echo "(b) weir perf produce acks=1"
"$weir" perf produce --topic perf-acks1 --num-records "$records" --record-size "$size" \
  --throughput -1 --producer-props acks=1 linger.ms=5 batch.size=16384 --json $b \
  | tee "$work/b.out" | grep -v '^{'
echo "produce_acks1 $(grep '^{' "$work/b.out")" >> "$results"
echo "(b') weir perf produce acks=1, batch.size=1MiB (librdkafka's default batch size)"
"$weir" perf produce --topic perf-big --num-records "$records" --record-size "$size" \
  --throughput -1 --producer-props acks=1 linger.ms=5 batch.size=1048576 --json $b \
  | tee "$work/b2.out" | grep -v '^{'
echo "produce_acks1_big $(grep '^{' "$work/b2.out")" >> "$results"
echo "(c) weir perf produce acks=all"
"$weir" perf produce --topic perf-all --num-records "$records" --record-size "$size" \
  --throughput -1 --producer-props acks=all linger.ms=5 batch.size=16384 --json $b \
  | tee "$work/c.out" | grep -v '^{'
echo "produce_all $(grep '^{' "$work/c.out")" >> "$results"
echo "(d) weir perf consume"
"$weir" perf consume --topic perf-acks1 --messages "$records" --json $b \
  | tee "$work/d.out" | grep -v '^{'
echo "consume $(grep '^{' "$work/d.out")" >> "$results"

if [ "$rdkafka" = yes ] && command -v cc > /dev/null &&
   cc -O2 -o "$work/rdkperf" /work/shared/tools/rdkperf.c -lrdkafka 2> /dev/null; then
  echo "(e) librdkafka rdkperf produce acks=1 against weir"
  out=$("$work/rdkperf" produce "$bootstrap" rdk-acks1 "$records" "$size" 1 2>/dev/null | tail -1)
  echo "$out"
  echo "rdk_produce $out" >> "$results"
  echo "(f) librdkafka rdkperf consume against weir"
  out=$("$work/rdkperf" consume "$bootstrap" rdk-acks1 "$records" 2>/dev/null | tail -1)
  echo "$out"
  echo "rdk_consume $out" >> "$results"
fi

python3 "$here/table.py" "$results" "$records" "$size"
