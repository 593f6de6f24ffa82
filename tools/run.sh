#!/usr/bin/env bash
# The main job. For now: the deterministic simulator's demo, a sweep of seeds of the
# replicated_log workload under every fault kind. Extra arguments go to weir-sim.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
if [ $# -eq 0 ]; then set -- --seeds 1..20; fi
exec build/sim/weir-sim "$@"
