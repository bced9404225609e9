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
exec cargo run --quiet --locked -p deeplake-cli -- quickstart "$@"
