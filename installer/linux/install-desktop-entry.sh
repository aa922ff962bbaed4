#!/bin/sh
# Add FaceDesk to this user's application menu (from an unpacked tar.gz bundle; the .deb
# does this for every user). Run it from the bundle folder, or give the folder:
#   ./install-desktop-entry.sh [BUNDLE_DIR]        remove with: --remove
set -eu
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
if [ "${1:-}" = "--remove" ]; then
  rm -f "$DATA/applications/@ID@.desktop" "$DATA/icons/hicolor/256x256/apps/@ID@.png" \
        "$DATA/icons/hicolor/scalable/apps/@ID@.svg"
  echo "removed the @NAME@ menu entry"
  exit 0
fi
DIR=$(cd "${1:-$(dirname "$0")}" && pwd)
[ -x "$DIR/@EXECUTABLE@" ] || { echo "no $DIR/@EXECUTABLE@: give the bundle folder" >&2; exit 1; }
mkdir -p "$DATA/applications" "$DATA/icons/hicolor/256x256/apps" "$DATA/icons/hicolor/scalable/apps"
cp "$DIR/share/icons/@ID@.png" "$DATA/icons/hicolor/256x256/apps/@ID@.png"
cp "$DIR/share/icons/@ID@.svg" "$DATA/icons/hicolor/scalable/apps/@ID@.svg"
sed "s|^Exec=.*|Exec=\"$DIR/@EXECUTABLE@\"|" "$DIR/share/applications/@ID@.desktop" \
  > "$DATA/applications/@ID@.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$DATA/applications" || true
echo "added @NAME@ to the application menu ($DATA/applications/@ID@.desktop)"
