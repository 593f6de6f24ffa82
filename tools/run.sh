#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs `weir server` in the
# foreground — with no arguments the embedded one-node cluster (broker and controller)
# on 127.0.0.1:9092 with data under ./data. Arguments go to `weir server`
# (-c server.properties, --override key=value). SIGTERM or Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build >&2
exec build/src/cli/weir server "$@"
