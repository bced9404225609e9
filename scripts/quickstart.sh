#!/usr/bin/env bash
# Sets up and runs the quickstart: builds the `deeplake` CLI and ingests a
# small real sample (WordNet glosses with MiniLM embeddings) into the
# embedded default workspace, then searches it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the Rust toolchain (https://rustup.rs), then rerun." >&2
    exit 1
fi
for tool in cc make; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool not found: the build compiles C code (zstd, jemalloc); on Debian: sudo apt-get install build-essential" >&2
        exit 1
    fi
done
exec cargo run --quiet --locked -p deeplake-cli -- quickstart "$@"
