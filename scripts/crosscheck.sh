#!/usr/bin/env bash
# The deepinv cross-check, in its own virtual environment.
#
#   bash scripts/crosscheck.sh            # build (or reuse) the venv, run tests/crosscheck/
#   bash scripts/crosscheck.sh --fresh    # delete the venv first (what CI does: a clean clone has none)
#
# deepinv needs torchvision, and PyPI's torchvision does not import beside the main environment's
# torch==2.13.0+cpu. So the cross-check runs in a separate venv with torch==2.14.1 and
# torchvision==0.29.1 (a CUDA build, about 5.5 GB installed; it imports and runs on a CPU) and
# deepinv==0.5.0, plus oes itself (editable, with its own dependencies; a constraints file keeps
# the venv's torch). It runs tests/crosscheck/crosscheck_deepinv.py (not collected by the main
# `pytest` run: its name does not match test_*.py) and then oes's core unit tests on torch 2.14.1.
# Venv location: $OES_CROSSCHECK_VENV (default build/crosscheck-venv, git-ignored).
# Prints the install time and the venv's size; exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python || command -v python3)}
VENV=${OES_CROSSCHECK_VENV:-build/crosscheck-venv}
fresh=0
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    *) echo "crosscheck.sh: unknown option $arg (expected --fresh)" >&2; exit 2 ;;
  esac
done
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

want='import torch, torchvision, deepinv; assert torch.__version__.split("+")[0] == "2.14.1" and torchvision.__version__.split("+")[0] == "0.29.1" and deepinv.__version__ == "0.5.0"'
pins="$(mktemp)"; trap 'rm -f "$pins"' EXIT
printf 'torch==2.14.1\ntorchvision==0.29.1\ndeepinv==0.5.0\n' > "$pins"
pip_quiet() {   # pip install, without this machine's "Location ... is ignored" index warnings
  "$VENV/bin/python" -m pip install --quiet "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
t0=$(date +%s)
if [ "$fresh" = 1 ] || ! "$VENV/bin/python" -c "$want" 2>/dev/null; then
  rm -rf "$VENV"
  echo "== crosscheck: creating $VENV (torch 2.14.1, torchvision 0.29.1, deepinv 0.5.0)"
  "$PY" -m venv "$VENV"
  pip_quiet -c "$pins" torch torchvision deepinv "pytest>=7"
else
  echo "== crosscheck: reusing $VENV (--fresh rebuilds it)"
fi
pip_quiet -c "$pins" -e .          # oes and its own dependencies; the constraints keep the venv's torch
"$VENV/bin/python" -c "$want"
t1=$(date +%s)
echo "== crosscheck: venv ready in $(( t1 - t0 )) s, $(du -sh "$VENV" | cut -f1) on disk;" \
     "$("$VENV/bin/python" -c 'import torch, torchvision, deepinv, oes; print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, deepinv {deepinv.__version__}, oes {oes.__version__}")')"
# 1. the cross-check against deepinv; 2. oes's own core unit tests on this torch (2.14.1)
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/crosscheck/crosscheck_deepinv.py
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_generators.py tests/test_masks.py tests/test_learn.py \
  tests/test_fit.py tests/test_mri.py tests/test_pruners.py tests/test_restore.py
echo "== crosscheck: tests in $(( $(date +%s) - t1 )) s"
