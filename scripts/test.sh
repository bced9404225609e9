#!/usr/bin/env bash
# Runs every test of the workspace (cargo-nextest) and of the Python package
# (pytest, against the package built by maturin into .venv-test), and closes
# with one summed line ("summary: N passed, N failed, N skipped"); ignored
# tests count as skipped. What fails without a failed test (a compile
# error, a test binary killed by a signal, a pytest collection error, a
# failed package build) is named above that line and counted in it; the
# exit status is non-zero exactly when the failed count is.
#
#   scripts/test.sh                  everything
#   scripts/test.sh --only rust      the Rust tests
#   scripts/test.sh --only python    the package build and the Python tests
#   scripts/test.sh --only CRATE     one crate's Rust tests (deeplake-sql, ...)
#
# Each phase's seconds are printed at the end, with the ten slowest tests.
set -uo pipefail
cd "$(dirname "$0")/.."
only=all
case "${1:-}" in
    "") ;;
    --only)
        only="${2:?--only needs rust, python or a crate name}" ;;
    *)
        echo "usage: scripts/test.sh [--only rust|python|CRATE]" >&2
        exit 2 ;;
esac
rust=1 python=1 crate=()
case "$only" in
    all) ;;
    rust) python=0 ;;
    python) rust=0 ;;
    *)
        python=0
        if ! [ -f "crates/$only/Cargo.toml" ]; then
            echo "no crate crates/$only" >&2
            exit 2
        fi
        crate=(-p "$only") ;;
esac
[ ${#crate[@]} -gt 0 ] || crate=(--workspace)

cargo_log=$(mktemp)
py_log=$(mktemp)
times=$(mktemp)
trap 'rm -f "$cargo_log" "$py_log" "$times"' EXIT
# Runs a phase and records its seconds; the status is the command's.
phase() {
    local name=$1 start=$SECONDS status
    shift
    "$@"
    status=$?
    printf '%-16s %5d s\n' "$name" $((SECONDS - start)) >>"$times"
    return $status
}

# Media tools and real test files (Debian packages), and the independent
# implementations some tests compare against (Python packages).
phase "system packages" bash scripts/setup-system.sh || exit 1
# The Rust tests of the client and the CLI read data the Python
# environment makes (scikit-image's images, Hugging Face datasets).
case "$only" in
    deeplake-types | deeplake-storage | deeplake-index | deeplake-ingest | deeplake-sql | deeplake-server) ;;
    *) phase "python packages" bash scripts/setup-python.sh || exit 1 ;;
esac
export VIRTUAL_ENV="$PWD/.venv-test"

status=0 build=0 pystatus=0
if [ "$python" -eq 1 ]; then
    # The Python package, built with the same (dev) profile and the same
    # features (crates/deeplake-hack) as the tests, so the engine is compiled
    # once.
    (cd python && phase "package build" "$VIRTUAL_ENV/bin/maturin" develop --quiet)
    build=$?
fi

if [ "$rust" -eq 1 ]; then
    # cargo-nextest runs each Rust test in its own process and ends one that
    # hangs (.config/nextest.toml); a machine without it builds it from
    # crates.io once.
    if ! cargo nextest --version >/dev/null 2>&1; then
        echo "installing cargo-nextest (once, a few minutes)"
        cargo install --locked cargo-nextest >/dev/null || exit 1
    fi
    # The build first, as a phase of its own, then every test even when one
    # fails, so each is counted.
    phase "rust build" cargo test "${crate[@]}" --locked --no-run 2>&1 | tee "$cargo_log"
    rm -f target/nextest/default/junit.xml "${CARGO_TARGET_DIR:-target}/nextest/default/junit.xml"
    phase "rust tests" cargo nextest run "${crate[@]}" --locked --no-fail-fast 2>&1 | tee -a "$cargo_log"
    status=${PIPESTATUS[0]}
fi

if [ "$python" -eq 1 ]; then
    # Without a fresh build the tests would run against a stale package.
    pystatus=1
    if [ "$build" -eq 0 ]; then
        # In an xdist worker: a test that passes its timeout ends the
        # worker, is reported failed with its stacks, and a new worker runs
        # the rest.
        (cd python && phase "python tests" "$VIRTUAL_ENV/bin/python" -m pytest -q -p no:cacheprovider \
            -n 1 --max-worker-restart 100 --durations=10 tests 2>&1) | tee "$py_log"
        pystatus=${PIPESTATUS[0]}
    fi
fi

# Where the time went: the phases, and the slowest Rust tests (nextest's
# JUnit report; pytest lists its own above).
echo "seconds per phase:"
cat "$times"
# (nextest keeps its reports under the clone's target/ even when the build
# is elsewhere.)
junit=target/nextest/default/junit.xml
[ -f "$junit" ] || junit="${CARGO_TARGET_DIR:-target}/nextest/default/junit.xml"
if [ "$rust" -eq 1 ] && [ -f "$junit" ]; then
    echo "slowest Rust tests:"
    awk -f scripts/slowest-tests.awk "$junit" | sort -rn | head -10
fi

# The closing line, and the exit status: non-zero when anything failed.
awk -v cargo="$status" -v maturin="$build" -v pytest="$pystatus" \
    -v rust="$rust" -v python="$python" \
    -f scripts/test-summary.awk "$cargo_log" "$py_log"
