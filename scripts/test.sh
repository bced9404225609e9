#!/usr/bin/env bash
# Runs every test of the workspace and closes with one summed line
# ("summary: N passed, N failed, N skipped"); ignored tests count as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
# Media tools and real test files (Debian packages), and the independent
# implementations some tests compare against (Python packages).
bash scripts/setup-system.sh
bash scripts/setup-python.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^ignored/) s += $i
        }
     }
     END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
