#!/usr/bin/env bash
# Installs the reference `deeplake` package into .venv-reference (its module
# name clashes with ours, so it lives in a virtualenv of its own), with the
# optional packages its file and Hugging Face ingest use (PyMuPDF, datasets).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-reference
.venv-reference/bin/pip install --quiet "deeplake==4.7.4" numpy pymupdf datasets pillow torch
echo "reference: $(.venv-reference/bin/python -c 'import deeplake; print(deeplake.__version__)')"
