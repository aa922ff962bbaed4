#!/usr/bin/env bash
# Run FaceDesk's performance benchmarks one after another (never two at once: they would
# measure each other), each with its own defaults, by name.
#
#   bash benchmarks/run_all.sh                        every benchmark below
#   bash benchmarks/run_all.sh search_scale gui_startup   only these
#
# Photo import: import_throughput, stages, import_recall (benchmarks/import_*.py, stages.py)
# Search and start-up: search_scale, filtered_search, gui_startup
# Sign-in: sign_in (Argon2id, the back-off and the lockout; about 30 s)
# PostgreSQL: postgres (a gallery on a server against the same gallery file: import, first
# search, search latency at 100,000 and 1,000,000 faces; about 25 minutes)
# CCTV clips: clips (speed of tracks on a 60-second 720p clip), clip_fusion (fused template
# against the best frame)
#
# A benchmark whose script is missing is reported and skipped; one that fails is
# reported and the others still run (the exit status is then 1). Each one's output is
# shown and kept in $FACEDESK_BENCH_OUT (default: $TMPDIR/facedesk-bench/results/DATE/).
# Needs the app set up (bash scripts/setup.sh); FAISS for search_scale is optional
# (.venv/bin/pip install -e '.[bench]'). Takes about 30 minutes on a busy 2-core machine,
# plus about 4 minutes once to build gui_startup's million-face gallery.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
DEFAULT=(import_throughput stages import_recall search_scale filtered_search gui_startup sign_in clips
         clip_fusion postgres)
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=("${DEFAULT[@]}")
OUT=${FACEDESK_BENCH_OUT:-${TMPDIR:-/tmp}/facedesk-bench/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

[ -x "$PY" ] || { echo "run_all: $PY not found: set up FaceDesk first (bash scripts/setup.sh)" >&2; exit 1; }

ran=() skipped=() failed=()
for name in "${NAMES[@]}"; do
  name=${name%.py}
  script=benchmarks/$name.py
  if [ ! -f "$script" ]; then
    echo "run_all: SKIPPED $name: $script does not exist (not written yet, or renamed)" >&2
    skipped+=("$name")
    continue
  fi
  echo "=== $name ($script) -> $OUT/$name.txt ==="
  start=$(date +%s)
  "$PY" "$script" 2>&1 | tee "$OUT/$name.txt"
  status=${PIPESTATUS[0]}
  echo "=== $name: exit $status after $(( $(date +%s) - start )) s ==="
  if [ "$status" -eq 0 ]; then ran+=("$name"); else failed+=("$name"); fi
done

echo
echo "run_all: ran ${#ran[@]} (${ran[*]:-none}); skipped ${#skipped[@]} (${skipped[*]:-none}); failed ${#failed[@]} (${failed[*]:-none})"
echo "run_all: outputs in $OUT"
[ ${#failed[@]} -eq 0 ]
