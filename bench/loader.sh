#!/usr/bin/env bash
# Runs the training-loader benchmark (bench/loader.py) for this package (a
# release build), the reference package and plain PIL on the same images,
# and prints each figure with its baselines and the ratio.
#   usage: bash bench/loader.sh [IMAGES]   (default 10240)
# LOADER_PROFILE=dev measures the debug-profile build the tests use (its
# dependencies are optimized; the workspace's own crates are not) instead of
# a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10240}
bash scripts/setup-python.sh
[ -x .venv-reference/bin/python ] || bash bench/setup-reference.sh
.venv-reference/bin/python -c "import torch" 2>/dev/null || .venv-reference/bin/pip install --quiet torch
profile=release
[ "${LOADER_PROFILE:-release}" = dev ] && profile=dev
(cd python && VIRTUAL_ENV="$PWD/../.venv-test" ../.venv-test/bin/maturin develop --profile "$profile" --quiet)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
.venv-test/bin/python bench/loader.py prepare "$dir" "$n" >/dev/null
ours=$(.venv-test/bin/python bench/loader.py ours "$dir")
remote=$(.venv-test/bin/python bench/loader.py remote "$dir")
ref=$(.venv-reference/bin/python bench/loader.py reference "$dir")
pil=$(.venv-test/bin/python bench/loader.py pil "$dir")
python3 - "$n" "$ours" "$ref" "$pil" "$remote" <<'PY'
import json, sys
n = sys.argv[1]
ours, ref, pil, remote = (json.loads(a) for a in sys.argv[2:6])
import os
print(f"loader ({os.environ.get('LOADER_PROFILE', 'release')} build): {n} real 64x64 JPEG images, DataLoader(batch_size=64, shuffle=True, num_workers=2), best of 2 epochs")
print(f"pytorch images/s: ours {ours['pytorch']:.0f}  reference {ref['pytorch']:.0f} ({ours['pytorch'] / ref['pytorch']:.2f}x)  plain PIL files {pil['pytorch']:.0f} ({ours['pytorch'] / pil['pytorch']:.2f}x)")
print(f"batches(256) rows/s: ours {ours['batches']:.0f} (images as bytes), {ours['batches_decoded']:.0f} (decoded)  reference {ref['batches']:.0f} ({ours['batches_decoded'] / ref['batches']:.2f}x decoded vs reference)")
print(f"ingest images/s: ours {ours['ingest']:.0f}  reference {ref['ingest']:.0f} ({ours['ingest'] / ref['ingest']:.2f}x)")
print(f"remote (deeplake serve on loopback) pytorch images/s: {remote['pytorch']:.0f}  embedded {ours['pytorch']:.0f} ({remote['pytorch'] / ours['pytorch']:.2f}x)")
print(f"remote ingest images/s: {remote['ingest']:.0f}  embedded {ours['ingest']:.0f} ({remote['ingest'] / ours['ingest']:.2f}x)")
PY
