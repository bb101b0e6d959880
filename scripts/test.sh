#!/usr/bin/env bash
# Set everything up, then run the whole test suite (unit, sanitizers, fuzz,
# BPF integration). Ends with "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)" all unit asan tsan fuzz
exec bash tests/run.sh
