#!/usr/bin/env bash
# Runs every test of the workspace (cargo) and of the Python package
# (pytest, against the package built by maturin into .venv-test), and closes
# with one summed line ("summary: N passed, N failed, N skipped"); ignored
# tests count as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
# Media tools and real test files (Debian packages), and the independent
# implementations some tests compare against (Python packages).
bash scripts/setup-system.sh || exit 1
bash scripts/setup-python.sh || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The Python package, built with the same (dev) profile as the tests so the
# workspace is compiled once.
export VIRTUAL_ENV="$PWD/.venv-test"
(cd python && "$VIRTUAL_ENV/bin/maturin" develop --quiet)
build=$?

cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

(cd python && "$VIRTUAL_ENV/bin/python" -m pytest -q -p no:cacheprovider tests 2>&1) | tee -a "$log"
pystatus=${PIPESTATUS[0]}

awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^ignored/) s += $i
        }
     }
     /^[0-9]+ (passed|failed)/ || /^=+ .*(passed|failed).* =+$/ {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^skipped/) s += $i
            if ($(i+1) ~ /^error/) f += $i
        }
     }
     END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
[ "$build" -eq 0 ] && [ "$status" -eq 0 ] && [ "$pystatus" -eq 0 ]
