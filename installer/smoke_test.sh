#!/usr/bin/env bash
# Smoke test of a built Linux bundle, as a person would use it on a clean machine:
#
#   bash installer/smoke_test.sh BUNDLE DATA_DIR [OUT_DIR]
#
# BUNDLE    dist/FaceDesk-<version>-linux-<arch>.tar.gz, or the .deb (unpacked with
#           dpkg-deb -x, not installed), or an unpacked bundle folder
# DATA_DIR  photos in one sub-folder per person, e.g. ../shared/data/orl or
#           ../shared/data/lfw/images: 4 persons with at least 6 photos each are taken,
#           5 photos each (20) go into the gallery, the 6th of the first person is the probe
# OUT_DIR   where the screenshots and the report go (default: ./smoke-out)
#
# The bundle is unpacked to a new temporary folder and run with an empty environment
# (a fresh HOME: no settings, no virtualenv, no PYTHONPATH) and, where the kernel allows
# it, without a network (unshare -rn): nothing may be downloaded at run time. Checks:
#   1. `facedesk-cli --version` and `FaceDesk --help`
#   2. `FaceDesk import` (the GUI executable with arguments runs the command line) of the
#      20 photos with 2 worker processes (multiprocessing "spawn" in the frozen app)
#   3. an administrator and an analyst (`users init`, `users add`), a case (`case open`),
#      `facedesk-cli search --case` of the probe: the probe's person is candidate 1, and the
#      output says candidates are investigative leads only; the analyst's possible lead,
#      a supervisor's confirmation, the lead sheet PDF; `audit verify` passes
#   4. `FaceDesk gui --db` and `FaceDesk` without arguments, offscreen: the main window
#      is shown with the gallery open and saved as a PNG (FACEDESK_SCREENSHOT); the time
#      from start to the window shown is the start-up time
#   5. with xvfb-run installed (Debian: apt-get install xvfb): the same on a real X
#      server, after checking that the system has the libraries Qt's xcb plugin needs
#      (FACEDESK_SMOKE_NO_X11=1 skips this step)
# Prints the bundle size and the timings, writes them to OUT_DIR/smoke-report.txt and
# exits non-zero at the first failure. LOOK at the screenshots.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
BUNDLE=$(realpath "$1")
DATA=$(realpath "$2")
OUT=$(realpath -m "${3:-smoke-out}")
mkdir -p "$OUT"
REPORT="$OUT/smoke-report.txt"
: > "$REPORT"

say() { printf 'smoke: %s\n' "$*" | tee -a "$REPORT" >&2; }
fail() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

WORK=$(mktemp -d /tmp/facedesk-smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
say "bundle $BUNDLE"
say "working in $WORK"

# -- unpack on a clean path ------------------------------------------------------------------
case "$BUNDLE" in
  *.tar.gz|*.tgz)
    tar -C "$WORK" -xzf "$BUNDLE"
    APPDIR=$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -print -quit) ;;
  *.deb)
    dpkg-deb -x "$BUNDLE" "$WORK/deb"
    APPDIR=$(find "$WORK/deb/opt" -mindepth 1 -maxdepth 1 -type d -print -quit) ;;
  *)
    [ -d "$BUNDLE" ] || fail "$BUNDLE is neither a .tar.gz, a .deb nor a folder"
    cp -a "$BUNDLE" "$WORK/"
    APPDIR="$WORK/$(basename "$BUNDLE")" ;;
esac
GUI_EXE=$(find "$APPDIR" -maxdepth 1 -type f -executable ! -name '*-cli' ! -name '*.sh' -print -quit)
CLI_EXE=$(find "$APPDIR" -maxdepth 1 -type f -executable -name '*-cli' -print -quit)
[ -x "$GUI_EXE" ] && [ -x "$CLI_EXE" ] || fail "no executables in $APPDIR"
say "size: folder $(du -sh "$APPDIR" | cut -f1) ($(du -sb "$APPDIR" | cut -f1) bytes), $(find "$APPDIR" -type f | wc -l) files; download $(du -h "$BUNDLE" | cut -f1)"
say "largest parts: $(du -sh "$APPDIR"/_internal/* 2>/dev/null | sort -rh | sed -n 1,5p | awk '{printf "%s %s, ", $2, $1}' | sed "s|$APPDIR/_internal/||g; s/, $//")"

# -- a clean environment, no network -----------------------------------------------------------
mkdir -p "$WORK/home" "$WORK/run"
chmod 700 "$WORK/run"
ENV=(env -i HOME="$WORK/home" XDG_RUNTIME_DIR="$WORK/run" PATH=/usr/bin:/bin LANG=C.UTF-8
     ${OPENBLAS_CORETYPE:+OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE}
     ${OPENBLAS_L2_SIZE:+OPENBLAS_L2_SIZE=$OPENBLAS_L2_SIZE})
if unshare -rn true 2>/dev/null; then
  ENV=(unshare -rn "${ENV[@]}")
  say "running without a network (unshare -rn)"
else
  say "unshare -rn is not allowed here: running with the network (nothing should use it)"
fi
run() { "${ENV[@]}" "$@"; }

# -- 1. it starts ------------------------------------------------------------------------------
version=$(run "$CLI_EXE" --version) || fail "facedesk-cli --version"
say "version: $version"
run "$GUI_EXE" --help > "$WORK/help.txt" || fail "FaceDesk --help"
grep -q "import" "$WORK/help.txt" || fail "FaceDesk --help lists no import command"

# -- 2. import 20 photos with 2 worker processes --------------------------------------------
PHOTOS="$WORK/photos"
persons=()
probe=""
for dir in "$DATA"/*/; do
  mapfile -t files < <(find "$dir" -maxdepth 1 -type f \
    \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.pgm' \) | sort -V)
  [ "${#files[@]}" -ge 6 ] || continue
  person=$(basename "$dir")
  mkdir -p "$PHOTOS/$person"
  cp "${files[@]:0:5}" "$PHOTOS/$person/"
  [ -n "$probe" ] || { probe="$WORK/probe-$(basename "${files[5]}")"; cp "${files[5]}" "$probe"; probe_person=$person; }
  persons+=("$person")
  [ "${#persons[@]}" -lt 4 ] || break
done
[ "${#persons[@]}" -eq 4 ] || fail "$DATA has fewer than 4 sub-folders with 6 photos"
say "gallery: 20 photos of ${persons[*]}; probe: another photo of $probe_person"
DB="$WORK/smoke.db"
t0=$(now)
run "$GUI_EXE" import "$PHOTOS" --db "$DB" --workers 2 > "$WORK/import.txt" 2> "$WORK/import.err" ||
  { cat "$WORK/import.txt" "$WORK/import.err" >&2; fail "FaceDesk import"; }
t1=$(now)
grep -qE "newly stored +20" "$WORK/import.txt" ||
  { cat "$WORK/import.txt" >&2; fail "import did not store the 20 photos"; }
say "import: 20 photos, 2 workers, $(elapsed "$t0" "$t1") s ($(grep -m1 'gallery now' "$WORK/import.txt"))"

# -- 3. users, a case, and a search in it ------------------------------------------------------
ADMIN=(FACEDESK_USER=admin FACEDESK_PASSWORD=lagoon-Vortex-3318)
ANALYST=(FACEDESK_USER=ann FACEDESK_PASSWORD=prairie-Nickel-5527)
run FACEDESK_NEW_PASSWORD=lagoon-Vortex-3318 "$CLI_EXE" users init --db "$DB" --user admin \
  --name "Smoke Administrator" --password-prompt >> "$REPORT" || fail "users init"
run "${ADMIN[@]}" FACEDESK_NEW_PASSWORD=prairie-Nickel-5527 "$CLI_EXE" users add ann --db "$DB" \
  --name "Smoke Analyst" --role analyst --password-prompt >> "$REPORT" || fail "users add"
run "${ANALYST[@]}" "$CLI_EXE" case open SMOKE-1 --db "$DB" --purpose 1 \
  --detail "bundle smoke test" >> "$REPORT" || fail "case open"
t0=$(now)
run "${ANALYST[@]}" "$CLI_EXE" search "$probe" --db "$DB" --case SMOKE-1 > "$WORK/search.txt" ||
  { cat "$WORK/search.txt" >&2; fail "facedesk-cli search"; }
t1=$(now)
cat "$WORK/search.txt" >> "$REPORT"
grep -qE "^ +1 +[0-9.]+ +[0-9.]+ +[^ ]+ +[^ ]+ +$probe_person " "$WORK/search.txt" ||
  { cat "$WORK/search.txt" >&2; fail "the probe's person $probe_person is not candidate 1"; }
grep -q "investigative leads only" "$WORK/search.txt" || fail "search output lacks the lead notice"
wording=$(grep -iE "\b(match(ed|es)?|identified)\b" "$WORK/search.txt" | grep -viE "false match" || true)
[ -z "$wording" ] || fail "search output says match/identified: $wording"
say "search: $probe_person is candidate 1 ($(elapsed "$t0" "$t1") s including start-up)"

# the possible lead, its second review by a supervisor, and the lead sheet (PDF and HTML)
SUPERVISOR=(FACEDESK_USER=sam FACEDESK_PASSWORD=harpoon-Tulip-7402)
search_id=$(sed -n 's/^search \([0-9]*\) recorded.*/\1/p' "$WORK/search.txt")
[ -n "$search_id" ] || fail "the search output names no recorded search"
run "${ADMIN[@]}" FACEDESK_NEW_PASSWORD=harpoon-Tulip-7402 "$CLI_EXE" users add sam --db "$DB" \
  --name "Smoke Supervisor" --role supervisor --password-prompt >> "$REPORT" || fail "users add sam"
run "${ANALYST[@]}" "$CLI_EXE" decide --db "$DB" --search "$search_id" --rank 1 \
  --decision possible_lead --rationale "smoke test: same person by construction" >> "$REPORT" ||
  fail "decide"
run "${SUPERVISOR[@]}" "$CLI_EXE" leads review 1 --db "$DB" --verdict confirmed \
  --rationale "smoke test: compared" >> "$REPORT" || fail "leads review"
run "${ANALYST[@]}" "$CLI_EXE" lead-sheet 1 --db "$DB" --out "$OUT" >> "$REPORT" || fail "lead-sheet"
sheet=$(ls "$OUT"/lead-sheet-case-SMOKE-1-decision-1.pdf 2>/dev/null || true)
[ -n "$sheet" ] && head -c 5 "$sheet" | grep -q "%PDF" || fail "no lead sheet PDF in $OUT"
run "$CLI_EXE" audit verify --db "$DB" >> "$REPORT" || fail "audit verify: the log does not verify"
say "case SMOKE-1: search $search_id, possible lead confirmed by a second user, lead sheet $sheet, audit log verified"

# -- 4. the GUI, offscreen --------------------------------------------------------------------
# prints the seconds from start to the window shown; saves the screenshot to $2
gui_run() {
  local label=$1 shot=$2; shift 2
  local start shown
  start=$(now)
  run QT_QPA_PLATFORM="${PLATFORM:-offscreen}" FACEDESK_SCREENSHOT="$shot" \
    FACEDESK_SCREENSHOT_DELAY_MS=2500 "$@" > "$WORK/$label.out" 2> "$WORK/$label.err" ||
    { cat "$WORK/$label.err" >&2; fail "$label: the GUI exited with an error"; }
  shown=$(sed -n 's/^facedesk: main window shown at //p' "$WORK/$label.err")
  [ -n "$shown" ] || { cat "$WORK/$label.err" >&2; fail "$label: no main window shown"; }
  [ -s "$shot" ] || fail "$label: no screenshot"
  elapsed "$start" "$shown"
}
secs=$(gui_run gui-db "$OUT/bundle-gui-db.png" "$GUI_EXE" gui --db "$DB")
say "GUI (FaceDesk gui --db, first start): main window shown after $secs s -> $OUT/bundle-gui-db.png"
secs=$(gui_run gui-bare "$OUT/bundle-main-window.png" "$GUI_EXE")
say "GUI (FaceDesk without arguments, last gallery): main window shown after $secs s -> $OUT/bundle-main-window.png"
grep -q "smoke.db" "$WORK/home/.config/FaceDesk/FaceDesk.conf" ||
  fail "the GUI did not remember the gallery in ~/.config/FaceDesk/FaceDesk.conf"

# -- 5. a real X server, when xvfb-run is there ----------------------------------------------
XCB_DEBIAN="libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1"
if [ -n "${FACEDESK_SMOKE_NO_X11:-}" ]; then
  say "FACEDESK_SMOKE_NO_X11 is set: the X11 (xcb) start is not checked"
elif command -v xvfb-run >/dev/null 2>&1; then
  missing=$(LD_LIBRARY_PATH="$APPDIR/_internal" ldd \
    "$APPDIR/_internal/PySide6/Qt/plugins/platforms/libqxcb.so" 2>/dev/null |
    awk '/not found/ { print $1 }' | sort -u | tr '\n' ' ')
  [ -z "$missing" ] || fail "the X11 (xcb) plugin needs system libraries this machine lacks: \
$missing- the .deb depends on them; for the tar.gz install them (Debian/Ubuntu: sudo apt-get \
install $XCB_DEBIAN), or set FACEDESK_SMOKE_NO_X11=1 to skip this check"
  secs=$(PLATFORM=xcb gui_run gui-xcb "$OUT/bundle-xcb.png" \
    xvfb-run -a -s "-screen 0 1600x1000x24" "$GUI_EXE" gui --db "$DB")
  say "GUI on Xvfb (xcb plugin): main window shown after $secs s (with Xvfb's start) -> $OUT/bundle-xcb.png"
else
  say "xvfb-run not installed: the X11 (xcb) start is not checked"
fi

say "PASSED"
say "report: $REPORT"
