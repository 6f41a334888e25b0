#!/usr/bin/env bash
# The main job: set up, execute the book's notebooks at the quick preset, build the book.
#
#   bash scripts/main.sh                 # preset quick: hours on a 2-core CPU from an empty run store
#   OES_PRESET=smoke bash scripts/main.sh   # seconds per notebook: every code path, meaningless numbers
#
# The book's runs are planned once and executed by a pool of worker processes, one per core
# (OES_WORKERS to change it), compatible runs trained together in batches of 8 (OES_BATCH): each
# run still uses one intra-op thread, and a batched run equals a solo one bitwise, so the numbers
# are those of a plain `oes book run` — about twice as fast on two cores. OES_EXECUTOR=local runs
# everything in this process instead. Notebooks whose source, parameters and oes code are unchanged
# are not executed again, and the runs they need are stored under runs/, so a second call is fast.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python || command -v python3)}
preset=${OES_PRESET:-quick}

[ "${OES_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
start=$(date +%s)
[ -d ../shared/reference/authors-oes-masks ] && "$PY" -m oes fetch --from ../shared/reference/authors-oes-masks || true   # the authors' published masks (chapter 08), when this machine has them
executor=${OES_EXECUTOR:-processes}
workers=()
[ -n "${OES_WORKERS:-}" ] && workers=(--workers "$OES_WORKERS")
"$PY" -m oes book run --preset "$preset" --executor "$executor" ${workers[@]+"${workers[@]}"} --batch "${OES_BATCH:-8}"
"$PY" -m oes book build
echo "== main: book run ($preset) + build in $(( $(date +%s) - start )) s"
echo "The book: $(pwd)/_build/html/index.html"
