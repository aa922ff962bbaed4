#!/usr/bin/env bash
# Set up (with test tools) and run every check: ruff, mypy, the import contracts, pytest.
# Extra arguments go to pytest, e.g. bash scripts/test.sh -m "not integration".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
VENV=${FACEDESK_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
echo "== ruff"; ruff check facedesk tests benchmarks scripts
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"; QT_QPA_PLATFORM=offscreen pytest "$@"
