#!/usr/bin/env bash
# Runs every test of the workspace (cargo-nextest) and of the Python package
# (pytest, against the package built by maturin into .venv-test), and closes
# with one summed line ("summary: N passed, N failed, N skipped"); ignored
# tests count as skipped. What fails without a failed test (a compile
# error, a test binary killed by a signal, a pytest collection error, a
# failed package build) is named above that line and counted in it; the
# exit status is non-zero exactly when the failed count is.
set -uo pipefail
cd "$(dirname "$0")/.."
# Media tools and real test files (Debian packages), and the independent
# implementations some tests compare against (Python packages).
bash scripts/setup-system.sh || exit 1
bash scripts/setup-python.sh || exit 1
cargo_log=$(mktemp)
py_log=$(mktemp)
trap 'rm -f "$cargo_log" "$py_log"' EXIT

# The Python package, built with the same (dev) profile as the tests so the
# workspace is compiled once.
export VIRTUAL_ENV="$PWD/.venv-test"
(cd python && "$VIRTUAL_ENV/bin/maturin" develop --quiet)
build=$?

# cargo-nextest runs each Rust test in its own process and ends one that
# hangs (.config/nextest.toml); a machine without it builds it from
# crates.io once.
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest (once, a few minutes)"
    cargo install --locked cargo-nextest >/dev/null || exit 1
fi
# Every test runs even when one fails, so each is counted; nextest runs no
# doctests, so cargo test runs those.
cargo nextest run --workspace --locked --no-fail-fast 2>&1 | tee "$cargo_log"
status=${PIPESTATUS[0]}
cargo test --workspace --locked --doc --no-fail-fast 2>&1 | tee -a "$cargo_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# Without a fresh build the tests would run against a stale package.
pystatus=1
if [ "$build" -eq 0 ]; then
    # In an xdist worker: a test that passes its timeout ends the worker,
    # is reported failed with its stacks, and a new worker runs the rest.
    (cd python && "$VIRTUAL_ENV/bin/python" -m pytest -q -p no:cacheprovider -n 1 \
        --max-worker-restart 100 tests 2>&1) | tee "$py_log"
    pystatus=${PIPESTATUS[0]}
fi

# The closing line, and the exit status: non-zero when anything failed.
awk -v cargo="$status" -v maturin="$build" -v pytest="$pystatus" \
    -f scripts/test-summary.awk "$cargo_log" "$py_log"
