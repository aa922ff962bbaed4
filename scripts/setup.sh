#!/usr/bin/env bash
# Set up FaceDesk in ./.venv: the face engine (dlib), the model files and the app.
#   bash scripts/setup.sh          app only
#   bash scripts/setup.sh dev      app + test and lint tools
# FACEDESK_DLIB=source (default): dlib 20.0.1 built from source against OpenBLAS;
#   about 6-9 minutes the first time on 2 cores, then pip's wheel cache makes it instant.
#   Encodes a face ~6x faster than the prebuilt wheel (see README, "The dlib build").
# FACEDESK_DLIB=bin: the prebuilt dlib-bin wheel: installs in seconds, slower import.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${FACEDESK_VENV:-.venv}
DLIB=${FACEDESK_DLIB:-source}
DLIB_VERSION=20.0.1
DLIB_BIN_VERSION=20.0.1.post1
EXTRAS=${1:-}

say() { printf 'setup: %s\n' "$*" >&2; }

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  say "FaceDesk needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))"; exit 1; }

[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

installed() { "$VENV/bin/python" -m pip show -q "$1" >/dev/null 2>&1; }

case "$DLIB" in
  source)
    if installed dlib-bin; then "${PIP[@]}" uninstall -y dlib-bin; fi
    if ! installed dlib || ! "$VENV/bin/python" -c 'import dlib, sys; sys.exit(0 if dlib.DLIB_USE_BLAS else 1)' 2>/dev/null; then
      need=()
      dpkg -s libopenblas-dev >/dev/null 2>&1 || need+=(libopenblas-dev)
      command -v cmake >/dev/null 2>&1 || need+=(cmake)
      command -v g++ >/dev/null 2>&1 || need+=(g++)
      if [ ${#need[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
          say "installing system packages: ${need[*]}"
          apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
        else
          say "missing system packages: ${need[*]} (install them, e.g. sudo apt-get install ${need[*]}, or use FACEDESK_DLIB=bin)"
          exit 1
        fi
      fi
      say "building dlib $DLIB_VERSION from source against OpenBLAS (first time: several minutes)"
      "${PIP[@]}" uninstall -y dlib >/dev/null 2>&1 || true
      "${PIP[@]}" install --no-binary dlib "dlib==$DLIB_VERSION"
    fi
    ;;
  bin)
    if installed dlib; then "${PIP[@]}" uninstall -y dlib; fi
    installed dlib-bin || "${PIP[@]}" install "dlib-bin==$DLIB_BIN_VERSION"
    ;;
  *) say "FACEDESK_DLIB must be 'source' or 'bin', not '$DLIB'"; exit 1 ;;
esac

if [ "$EXTRAS" = dev ]; then
  "${PIP[@]}" install -e ".[dev]"
else
  "${PIP[@]}" install -e .
fi
"$VENV/bin/python" -c 'import dlib, facedesk; print("setup: ready: dlib", dlib.__version__, "BLAS" if dlib.DLIB_USE_BLAS else "no BLAS", "| facedesk", facedesk.__version__)' >&2
