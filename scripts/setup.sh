#!/usr/bin/env bash
# Install oes with the book's and the tests' tools into the current Python environment.
#
#   bash scripts/setup.sh              # the package, jupyter-book, papermill, pytest, a kernelspec
#   bash scripts/setup.sh --browser    # also Debian's chromium for scripts/check_html.py (root + apt only)
#
# torch is pinned and installed first: an unpinned torch (or a range that admits a newer
# release) makes pip fetch a multi-GB CUDA build. 2.13.0 is the CPU wheel this project is tested with.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-$(command -v python || command -v python3)}
browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    *) echo "setup.sh: unknown option $arg (expected --browser)" >&2; exit 2 ;;
  esac
done

echo "== setup: $("$PY" --version) at $PY"
export PIP_ROOT_USER_ACTION=ignore   # CI runs as root, in its own clone
"$PY" -m pip install --quiet "torch==2.13.0"
"$PY" -m pip install --quiet -e ".[book,test,dask]"   # dask: the executor test runs on a 2-process LocalCluster
# papermill and `oes book run` execute the notebooks on the kernel named python3: point it at this Python.
"$PY" -m ipykernel install --user --name python3 --display-name "Python 3" >/dev/null
echo "== setup: kernel python3 -> $("$PY" -c 'import sys; print(sys.executable)'); oes $("$PY" -c 'import oes; print(oes.__version__)'), torch $("$PY" -c 'import torch; print(torch.__version__)')"

if [ "$browser" = 1 ]; then
  if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
    echo "== setup: browser present ($(command -v chromium || command -v chromium-browser || command -v google-chrome))"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== setup: installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  else
    echo "setup.sh: no chromium, and cannot install it (needs root and apt-get): install chromium yourself" >&2
    exit 1
  fi
fi
