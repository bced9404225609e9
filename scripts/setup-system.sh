#!/usr/bin/env bash
# Installs the Debian packages file ingestion and its tests use: ffmpeg
# (video), mupdf-tools (PDF rendering and text), poppler-utils (an
# independent PDF reader the tests compare against), and the doc packages
# whose real PDFs and WebM the tests ingest, and make (the build of the
# binary's allocator, jemalloc, runs it). Quick when they are present.
set -euo pipefail
packages=(ffmpeg mupdf-tools poppler-utils gnuplot-doc asymptote-doc gnome-user-docs make)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing packages: ${missing[*]}; install them with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
