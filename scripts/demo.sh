#!/usr/bin/env bash
# Set everything up, then run memobserver on the bundled leaky demo server:
# it starts the demo, reports leaking stacks while it runs, and prints the
# final leak report when the demo exits (after about 8 seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh > /dev/null
exec ./build/memobserver --metrics off --min-age 2s --interval 500ms -- ./build/fixtures/demo_server "$@"
