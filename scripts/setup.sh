#!/usr/bin/env bash
# Install oes with the book's and the tests' tools into the current Python environment.
#
#   bash scripts/setup.sh                # the package, jupyter-book, papermill, pytest, the kernel "oes"
#   bash scripts/setup.sh --browser      # also Debian's chromium for scripts/check_html.py (root + apt only)
#   bash scripts/setup.sh --kernel-only  # only (re)install the kernel "oes"
#
# torch is pinned and installed first: pip keeps an installed torch that satisfies oes's range, while
# a torch installed as a dependency would be the newest, a multi-GB CUDA build on Linux. 2.13.0 is
# the CPU wheel this project is tested with.
#
# The kernel: `oes book run` and the notebooks' metadata use the Jupyter kernel named "oes". It is
# installed into this environment itself (--sys-prefix: <prefix>/share/jupyter/kernels/oes), never
# into the user's folder, so the user's own kernels (python3, ...) are left untouched and another
# environment set up the same way gets its own "oes" instead of taking this one over. Run setup in a
# virtual or conda environment (or a Python whose prefix you may write to).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-$(command -v python || command -v python3)}
browser=0
kernel_only=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    --kernel-only) kernel_only=1 ;;
    *) echo "setup.sh: unknown option $arg (expected --browser or --kernel-only)" >&2; exit 2 ;;
  esac
done

install_kernel() {   # the project's kernel "oes", inside this environment (see the top of this file)
  "$PY" -m ipykernel install --sys-prefix --name oes --display-name "Python 3 (oes)" >/dev/null
  echo "== setup: kernel oes -> $("$PY" -c 'import sys; print(sys.executable)') (in $("$PY" -c 'import sys; print(sys.prefix)')/share/jupyter/kernels)"
}

if [ "$kernel_only" = 1 ]; then
  install_kernel
  exit 0
fi

echo "== setup: $("$PY" --version) at $PY"
export PIP_ROOT_USER_ACTION=ignore   # CI runs as root, in its own clone
"$PY" -m pip install --quiet "torch==2.13.0"
"$PY" -m pip install --quiet -e ".[book,test,dask]"   # dask: the executor test runs on a 2-process LocalCluster
install_kernel
# a kernel "oes" of another environment in the user's folder would shadow this one: say so now
"$PY" -c 'from oes.book import check_kernel, BookError
try:
    check_kernel("oes")
except BookError as e:
    raise SystemExit(f"setup.sh: {e}")'
echo "== setup: oes $("$PY" -c 'import oes; print(oes.__version__)'), torch $("$PY" -c 'import torch; print(torch.__version__)')"

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
