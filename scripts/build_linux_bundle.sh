#!/usr/bin/env bash
# Build the Linux bundle of FaceDesk: a one-folder application (PyInstaller), a tar.gz of
# it and a .deb, all in dist/. See README, "Building the bundle".
#
#   bash scripts/build_linux_bundle.sh            # everything
#   FACEDESK_NO_DEB=1 bash scripts/build_linux_bundle.sh   # no .deb
#
# Makes its own build environment (build/bundle-venv, by scripts/setup.sh: dlib built from
# source against OpenBLAS, or FACEDESK_DLIB=bin for the prebuilt wheel) and adds
# PyInstaller (pyproject's `bundle` extra). Then: installer/smoke_test.sh dist/*.tar.gz DATA
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export FACEDESK_VENV=${FACEDESK_BUNDLE_VENV:-build/bundle-venv}
# a bundle runs on other machines: dlib without this machine's AVX2/FMA flags (dlib's own
# build still uses AVX, which every x86-64 processor since 2011 has), unless asked for
export FACEDESK_DLIB_CXXFLAGS=${FACEDESK_DLIB_CXXFLAGS-}
BUILD=${FACEDESK_BUILD_DIR:-$ROOT/build}
DIST=${FACEDESK_DIST_DIR:-$ROOT/dist}
export FACEDESK_BUILD_DIR=$BUILD
PY="$ROOT/$FACEDESK_VENV/bin/python"

say() { printf 'build: %s\n' "$*" >&2; }
started=$(date +%s)

# -- 1. the build environment ------------------------------------------------------------
# PyInstaller reads shared libraries with ldd and objdump (binutils)
if ! command -v objdump >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing binutils (objdump, for PyInstaller)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils >/dev/null
  else
    say "PyInstaller needs objdump: install binutils (sudo apt-get install binutils)"; exit 1
  fi
fi
say "build environment $FACEDESK_VENV"
bash scripts/setup.sh
"$PY" -m pip --disable-pip-version-check -q install -e ".[bundle]"
eval "$("$PY" installer/appinfo.py)"
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
case "$ARCH" in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; esac
TARCH=$(uname -m)
say "$APP_NAME $APP_VERSION for $TARCH ($("$PY" -c 'import dlib; print("dlib", dlib.__version__, "BLAS" if dlib.DLIB_USE_BLAS else "no BLAS", "AVX" if dlib.USE_AVX_INSTRUCTIONS else "no AVX")'))"

# -- 2. icons from the SVG -------------------------------------------------------------------
"$PY" installer/render_icons.py "$BUILD/icons" >&2

# -- 3. the one-folder application ---------------------------------------------------------
say "PyInstaller (a few minutes)"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$BUILD/pyinstaller" installer/facedesk.spec
APPDIR="$DIST/$APP_EXECUTABLE"
[ -x "$APPDIR/$APP_EXECUTABLE" ] && [ -x "$APPDIR/$APP_CLI_EXECUTABLE" ] || {
  say "PyInstaller made no $APPDIR/$APP_EXECUTABLE"; exit 1; }

# desktop integration inside the folder (share/) and a per-user installer for it
mkdir -p "$APPDIR/share/applications" "$APPDIR/share/icons"
"$PY" installer/appinfo.py --render installer/linux/facedesk.desktop.in \
  "$APPDIR/share/applications/$APP_ID.desktop" EXEC="$APP_EXECUTABLE" ICON="$APP_ID"
cp "$BUILD/icons/facedesk.png" "$APPDIR/share/icons/$APP_ID.png"
cp "$BUILD/icons/facedesk.svg" "$APPDIR/share/icons/$APP_ID.svg"
"$PY" installer/appinfo.py --render installer/linux/install-desktop-entry.sh \
  "$APPDIR/install-desktop-entry.sh"
chmod +x "$APPDIR/install-desktop-entry.sh"

# -- 4. the archive --------------------------------------------------------------------------
TARBALL="$DIST/$APP_EXECUTABLE-$APP_VERSION-linux-$TARCH.tar.gz"
say "archive $TARBALL"
tar -C "$DIST" -czf "$TARBALL" "$APP_EXECUTABLE"
(cd "$DIST" && sha256sum "$(basename "$TARBALL")" > "$(basename "$TARBALL").sha256")

# -- 5. the .deb (dpkg-deb: no FUSE, no extra tools) ------------------------------------------
if [ -z "${FACEDESK_NO_DEB:-}" ] && command -v dpkg-deb >/dev/null 2>&1; then
  DEB_ROOT="$BUILD/deb/${APP_ID}_${APP_VERSION}_$ARCH"
  rm -rf "$DEB_ROOT"
  mkdir -p "$DEB_ROOT/opt" "$DEB_ROOT/usr/bin" "$DEB_ROOT/usr/share/applications" \
           "$DEB_ROOT/usr/share/icons/hicolor/scalable/apps" "$DEB_ROOT/DEBIAN"
  cp -a "$APPDIR" "$DEB_ROOT/opt/$APP_ID"
  rm -f "$DEB_ROOT/opt/$APP_ID/install-desktop-entry.sh"  # the package installs the entry
  ln -s "/opt/$APP_ID/$APP_EXECUTABLE" "$DEB_ROOT/usr/bin/$APP_ID"
  ln -s "/opt/$APP_ID/$APP_CLI_EXECUTABLE" "$DEB_ROOT/usr/bin/$APP_CLI_EXECUTABLE"
  "$PY" installer/appinfo.py --render installer/linux/facedesk.desktop.in \
    "$DEB_ROOT/usr/share/applications/$APP_ID.desktop" \
    EXEC="/opt/$APP_ID/$APP_EXECUTABLE" ICON="$APP_ID"
  for size in 16 24 32 48 64 128 256; do
    mkdir -p "$DEB_ROOT/usr/share/icons/hicolor/${size}x${size}/apps"
    cp "$BUILD/icons/facedesk-$size.png" \
       "$DEB_ROOT/usr/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
  done
  cp "$BUILD/icons/facedesk.svg" "$DEB_ROOT/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
  # the libraries the bundle leaves to the system (libc, the X11/Wayland and GL stack Qt
  # loads) and xcb-cursor, which Qt 6.5+ needs for its xcb (X11) plugin
  DEPENDS="libc6 (>= $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)), libgl1, libegl1, libfontconfig1, libfreetype6, libx11-6, libx11-xcb1, libxkbcommon0, libxkbcommon-x11-0, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, libxcb-shape0, libxcb-xinerama0, libxcb-xkb1, libdbus-1-3"
  DEB_DESCRIPTION=$(printf '%s\n' "$APP_DESCRIPTION" | sed 's/^/ /')
  "$PY" installer/appinfo.py --render installer/linux/control.in "$DEB_ROOT/DEBIAN/control" \
    ARCH="$ARCH" INSTALLED_SIZE="$(du -sk --exclude=DEBIAN "$DEB_ROOT" | cut -f1)" \
    DEPENDS="$DEPENDS" MAINTAINER_EMAIL="${FACEDESK_MAINTAINER_EMAIL:-it@example.org}" \
    DEB_DESCRIPTION="$DEB_DESCRIPTION"
  DEB="$DIST/${APP_ID}_${APP_VERSION}_$ARCH.deb"
  say "package $DEB"
  dpkg-deb --root-owner-group -Zgzip --build "$DEB_ROOT" "$DEB" >&2
  (cd "$DIST" && sha256sum "$(basename "$DEB")" > "$(basename "$DEB").sha256")
fi

say "done in $(( $(date +%s) - started )) s:"
say "  folder  $APPDIR ($(du -sh "$APPDIR" | cut -f1))"
say "  archive $TARBALL ($(du -h "$TARBALL" | cut -f1))"
[ -n "${DEB:-}" ] && say "  package $DEB ($(du -h "$DEB" | cut -f1))"
say "check it: bash installer/smoke_test.sh $TARBALL ../shared/data/orl"
