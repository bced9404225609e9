#!/usr/bin/env bash
# Creates .venv-test with the independent implementations the tests compare
# against (numpy, bm25s), scikit-image's sample images and the Hugging Face
# `datasets` library that writes the datasets the ingest tests read. Quick
# when it already exists; pip's cache is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-test
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import numpy, scipy, bm25s, skimage, datasets" 2>/dev/null; then
    exit 0
fi
if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian splits venv support out of the interpreter package.
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check numpy scipy "bm25s==0.3.16" scikit-image datasets
echo "python test environment ready: $("$venv/bin/python" -c 'import numpy, bm25s; print("numpy", numpy.__version__, "bm25s", bm25s.__version__)')"
