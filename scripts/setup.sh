#!/usr/bin/env bash
# Set up FaceDesk in ./.venv: the face engine (dlib), the model files and the app.
#   bash scripts/setup.sh          app only
#   bash scripts/setup.sh dev      app + test and lint tools
# FACEDESK_DLIB=source (default): dlib 20.0.1 built from source against OpenBLAS, for the
#   instruction sets of this processor (AVX2 and FMA when it has them, see dlib_flags);
#   about 6-9 minutes the first time on 2 cores, then the wheel kept in
#   ~/.cache/facedesk/ makes it instant. Encodes a face ~6x faster than the prebuilt
#   wheel, and with AVX2 detects faces as fast as it (see README, "The dlib build").
# FACEDESK_DLIB_CXXFLAGS: compiler flags for that build instead of the detected ones
#   ("" = dlib's own choice: AVX when the processor has it, no AVX2).
# FACEDESK_DLIB=bin: the prebuilt dlib-bin wheel: installs in seconds, slower import.
# System packages (Debian/Ubuntu): the libraries Qt's xcb platform plugin loads (the
#   desktop application), with `dev` also Xvfb for the GUI tests under a real X server;
#   installed with apt-get when run as root, otherwise the exact command is printed.
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

# apt-get install the given Debian packages (one `apt-get update` per run)
APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
# the packages of "$@" that are not installed (dpkg; none on a system without it)
missing_debs() {
  command -v dpkg >/dev/null 2>&1 || return 0
  local p; for p in "$@"; do
    # Ubuntu 24.04 renamed some libraries (libglib2.0-0 -> libglib2.0-0t64)
    dpkg-query -W -f='${Status}\n' "$p" "${p}t64" 2>/dev/null | grep -q 'ok installed' \
      || printf '%s\n' "$p"
  done
}

# What Qt's xcb platform plugin (PySide6/Qt/plugins/platforms/libqxcb.so, libQt6XcbQpa,
# libQt6Gui, libQt6DBus, the GLX/EGL integrations) links against beyond a minimal system:
# the NEEDED entries of those files (objdump -p), mapped to packages with dpkg -S on
# Debian 12. Without them `facedesk gui` stops with "Could not load the Qt platform plugin
# xcb". ICU comes with the PySide6 wheel. A font, or Qt draws no text.
GUI_DEBS=(libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0
  libxcb-xkb1 libxcb-glx0 libxkbcommon0 libxkbcommon-x11-0 libx11-6 libx11-xcb1 libegl1
  libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 fonts-dejavu-core)
# the GUI tests run once more under a real X server (scripts/test.sh); the store's tests
# run on a throwaway PostgreSQL server too (tests/pgserver.py: initdb and pg_ctl)
DEV_DEBS=(xvfb xauth postgresql)

system_packages() {
  local want=("${GUI_DEBS[@]}")
  [ "$EXTRAS" = dev ] && want+=("${DEV_DEBS[@]}")
  command -v dpkg >/dev/null 2>&1 || {
    say "not a Debian/Ubuntu system: install the X11 libraries Qt's xcb plugin needs (see README, \"Installing from the bundle\")"
    return 0; }
  local need; mapfile -t need < <(missing_debs "${want[@]}")
  [ ${#need[@]} -eq 0 ] && return 0
  if can_apt; then
    say "installing system packages for the desktop application: ${need[*]}"
    apt_install --no-install-recommends "${need[@]}"
  else
    say "the desktop application needs system packages that are not installed; install them with:"
    say "  sudo apt-get install -y --no-install-recommends ${need[*]}"
  fi
}
system_packages

# Compiler flags of the dlib build. dlib's own build turns on AVX (-mavx) when the processor
# has it, but not AVX2: without it, its HOG face detector emulates 8-wide integer vectors
# with 4-wide halves in its hottest loop, and detects ~1.7x slower than with it (measured
# here, benchmarks/stages.py). FMA lets the compiler fuse multiply-adds. The build is for
# this machine, like dlib's own AVX choice: a processor without AVX2 (before 2013) needs
# a build of its own (FACEDESK_DLIB_CXXFLAGS="").
dlib_flags() {
  if [ -n "${FACEDESK_DLIB_CXXFLAGS+set}" ]; then printf '%s' "$FACEDESK_DLIB_CXXFLAGS"; return; fi
  case "$(uname -m)" in
    x86_64|amd64)
      if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo 2>/dev/null; then
        printf '%s' "-mavx2 -mfma"
      fi ;;
  esac
}

case "$DLIB" in
  source)
    if installed dlib-bin; then "${PIP[@]}" uninstall -y dlib-bin; fi
    FLAGS=$(dlib_flags)
    # what the build in the venv was made with: a venv built otherwise is rebuilt
    BUILD_INFO="$VENV/facedesk-dlib-build.json"
    WANT_BUILD="{\"dlib\": \"$DLIB_VERSION\", \"blas\": true, \"flags\": \"$FLAGS\"}"
    if ! installed dlib || ! "$VENV/bin/python" -c 'import dlib, sys; sys.exit(0 if dlib.DLIB_USE_BLAS else 1)' 2>/dev/null \
        || [ "$(cat "$BUILD_INFO" 2>/dev/null)" != "$WANT_BUILD" ]; then
      need=()
      dpkg -s libopenblas-dev >/dev/null 2>&1 || need+=(libopenblas-dev)
      command -v cmake >/dev/null 2>&1 || need+=(cmake)
      command -v g++ >/dev/null 2>&1 || need+=(g++)
      if [ ${#need[@]} -gt 0 ]; then
        if can_apt; then
          say "installing system packages: ${need[*]}"
          apt_install "${need[@]}"
        else
          say "missing system packages: ${need[*]} (install them, e.g. sudo apt-get install ${need[*]}, or use FACEDESK_DLIB=bin)"
          exit 1
        fi
      fi
      # the wheel is kept per version and flags (pip's own cache would hand back a wheel
      # built with other flags: it does not know them)
      WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/facedesk/dlib-$DLIB_VERSION-$(printf '%s' "$FLAGS" | sha256sum | cut -c1-12)"
      if ! ls "$WHEELS"/dlib-"$DLIB_VERSION"-*.whl >/dev/null 2>&1; then
        say "building dlib $DLIB_VERSION from source against OpenBLAS, flags '${FLAGS:-dlib defaults}' (first time: several minutes)"
        mkdir -p "$WHEELS"
        CXXFLAGS="$FLAGS" CFLAGS="$FLAGS" "${PIP[@]}" wheel --no-cache-dir --no-deps \
          --no-binary dlib -w "$WHEELS" "dlib==$DLIB_VERSION"
      fi
      "${PIP[@]}" uninstall -y dlib >/dev/null 2>&1 || true
      "${PIP[@]}" install --no-deps "$WHEELS"/dlib-"$DLIB_VERSION"-*.whl
      printf '%s\n' "$WANT_BUILD" > "$BUILD_INFO"
    fi
    ;;
  bin)
    if installed dlib; then "${PIP[@]}" uninstall -y dlib; fi
    rm -f "$VENV/facedesk-dlib-build.json"
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
