#!/usr/bin/env bash
# The main job: set up, execute the book's notebooks at the quick preset, build the book.
#
#   bash scripts/main.sh                 # preset quick: a 2-core laptop CPU, about 30 minutes
#   OES_PRESET=smoke bash scripts/main.sh
#
# Notebooks whose source, parameters and oes code are unchanged are not executed again, and
# the runs they need are stored under runs/, so a second call is fast.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python || command -v python3)}
preset=${OES_PRESET:-quick}

[ "${OES_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
start=$(date +%s)
[ -d ../shared/reference/authors-oes-masks ] && "$PY" -m oes fetch --from ../shared/reference/authors-oes-masks || true   # the authors' published masks (chapter 08), when this machine has them
"$PY" -m oes book run --preset "$preset"
"$PY" -m oes book build
echo "== main: book run ($preset) + build in $(( $(date +%s) - start )) s"
echo "The book: $(pwd)/_build/html/index.html"
