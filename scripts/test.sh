#!/usr/bin/env bash
# The tests, each phase timed: unit tests; the Colab and Binder paths in fresh virtual environments;
# the deepinv cross-check in its own venv; every notebook at the smoke preset; the book build; a
# check of the built pages in headless Chromium. Prints the time of each phase; exits non-zero if any fails.
#
#   bash scripts/test.sh        (after bash scripts/setup.sh --browser)
#   OES_SKIP_CROSSCHECK=1 bash scripts/test.sh   # without the deepinv phase (its venv takes 5.6 GB)
#
# Note: this replaces the executed pages book/*.ipynb by smoke ones; `bash scripts/main.sh`
# brings the quick book back (its runs are stored under runs/, so it is fast the second time).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python || command -v python3)}

names=(); secs=(); codes=()
phase() {   # phase NAME COMMAND...: run, time and record it
  local name=$1; shift
  echo; echo "== $name: $*"
  local t0=$(date +%s)
  "$@"; local rc=$?
  names+=("$name"); secs+=($(( $(date +%s) - t0 ))); codes+=("$rc")
  echo "== $name: exit status $rc in ${secs[-1]} s"
  return $rc
}

total0=$(date +%s)
failed=0
phase "unit tests" "$PY" -m pytest -q || failed=1
# Colab (stand-in google.colab, install cell pointed at a snapshot of this checkout) and Binder
# (environment.yml's pip lines + postBuild), each a fresh venv executing a notebook at smoke
phase "colab+binder" "$PY" -m pytest -q -m venv tests/test_paths.py || failed=1
if [ "${OES_SKIP_CROSSCHECK:-0}" = 1 ]; then
  echo; echo "== deepinv: skipped (OES_SKIP_CROSSCHECK=1)"
else
  phase "deepinv" bash scripts/crosscheck.sh || failed=1
fi
[ -d ../shared/reference/authors-oes-masks ] && "$PY" -m oes fetch --from ../shared/reference/authors-oes-masks || true   # the authors' published masks (chapter 08), when this machine has them
if phase "smoke run" "$PY" -m oes book run --preset smoke --force \
   && phase "book build" "$PY" -m oes book build \
   && phase "browser check" "$PY" scripts/check_html.py --root .; then
  :
else
  failed=1
fi

echo; echo "== phases"
for i in "${!names[@]}"; do
  printf '   %-14s %5d s   %s\n' "${names[$i]}" "${secs[$i]}" "$([ "${codes[$i]}" = 0 ] && echo ok || echo "FAILED (${codes[$i]})")"
done
printf '   %-14s %5d s\n' "total" "$(( $(date +%s) - total0 ))"
[ "$failed" = 0 ]
