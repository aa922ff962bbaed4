#!/usr/bin/env bash
# A demonstration gallery, ready to search from the command line and the desktop app:
#
#   bash scripts/demo.sh [GALLERY.db] [PHOTOS_DIR]      (default: demo.db, ../shared/data/orl)
#
# 1. imports PHOTOS_DIR (one sub-folder per person) into GALLERY.db;
# 2. creates its users: the administrator `admin` (password from FACEDESK_DEMO_PASSWORD,
#    default "Quartz-Lantern-6150-pier") and the analyst `analyst`, mapped to your OS account
#    ($(id -un)) so that you are signed in as the analyst without a password;
# 3. opens the case DEMO-1 and searches the first photo of the first person in it.
# Run again, it resumes the import and reuses the users and the case. Then:
#   .venv/bin/facedesk gui --db GALLERY.db
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:-demo.db}
PHOTOS=${2:-../shared/data/orl}
FD=${FACEDESK:-.venv/bin/facedesk}
ADMIN_PW=${FACEDESK_DEMO_PASSWORD:-Quartz-Lantern-6150-pier}
ME=$(id -un)

[ -d "$PHOTOS" ] || { echo "demo: $PHOTOS not found (pass a folder of photos, one sub-folder per person)" >&2; exit 1; }
"$FD" import "$PHOTOS" --db "$DB" 2> /dev/null
if ! FACEDESK_USER=admin FACEDESK_PASSWORD=$ADMIN_PW "$FD" users list --db "$DB" > /dev/null 2>&1; then
  FACEDESK_NEW_PASSWORD=$ADMIN_PW "$FD" users init --db "$DB" --user admin \
    --name "Demo Administrator" --password-prompt
  FACEDESK_USER=admin FACEDESK_PASSWORD=$ADMIN_PW "$FD" users add analyst --db "$DB" \
    --name "Demo Analyst ($ME)" --role analyst --os-account "$ME"
fi
if ! "$FD" case show DEMO-1 --db "$DB" > /dev/null 2>&1; then
  "$FD" case open DEMO-1 --db "$DB" --purpose Other --detail "FaceDesk demonstration"
fi
# (awk reads to the end: `head -1` could end the pipe early and, with pipefail, the script)
probe=$(find "$PHOTOS" -mindepth 2 -maxdepth 2 -type f | sort | awk "NR == 1")
"$FD" search "$probe" --db "$DB" --case DEMO-1 --top 5
echo
echo "demo: signed in as 'analyst' through your OS account ($ME); the administrator is"
echo "demo: 'admin' (password: FACEDESK_DEMO_PASSWORD or Quartz-Lantern-6150-pier)."
echo "demo: open the desktop app with: .venv/bin/facedesk gui --db $DB"
