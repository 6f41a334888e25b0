"""The paths around the book: one repository URL, the kernel, Colab and Binder.

The tests marked ``venv`` build fresh virtual environments and take minutes; the main ``pytest`` run
leaves them out and ``scripts/test.sh`` runs them as their own timed phase (``pytest -m venv``).
Both simulated paths install ``oes`` from a snapshot of this checkout (a throw-away git repository
holding the working tree's files), never from the checkout itself:

* **Colab**: a venv with only what a Colab runtime brings that matters here (torch, ipykernel;
  papermill to drive it), a stand-in ``google.colab`` module imported at kernel start (as Colab's
  kernel does), the install spec redirected by ``$OES_INSTALL_SPEC`` to ``git+file://localhost<snapshot>@<commit>``
  (the cell runs the same ``%pip install -q -c <torch pin> "<spec>"`` as on Colab), the kernel
  ``python3`` (what Colab runs whatever the notebook's kernelspec says), working directory an empty
  folder (Colab's ``/content`` has no repository), preset ``smoke``.
* **Binder**: repo2docker builds a conda environment from ``environment.yml``, then runs ``postBuild``.
  Conda is not available here, so a venv gets ``environment.yml``'s pip lines instead (without its
  ``--extra-index-url`` of download.pytorch.org, which this machine cannot reach: torch==2.13.0 comes
  from the local wheel), then ``postBuild`` runs with the venv first on ``PATH``; papermill then
  executes a notebook at ``smoke`` on the kernel its metadata names (``oes``, installed by postBuild).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from oes import book

REPO = Path(__file__).resolve().parents[1]
SIM_NOTEBOOK = "01_masking_prior"          # the notebook both simulations execute (fast at smoke)
THIRD_PARTY_REPOS = {"Avra98/Optimal-Eye-Surgeon"}   # the authors' code, cited; not this project


# ------------------------------------------------------------------ one repository URL
def test_one_repository_url_everywhere():
    url, branch = book.repository(REPO)
    book.sync_notebooks(REPO, sources=True, check=True, log=lambda s: None)   # install cells, headers, README
    cell = book.install_cell(url, branch)
    for nb in book.book_notebooks(REPO):
        text = nb.source.read_text()
        assert cell in text, f"{nb.source.name}: install cell differs from _config.yml's URL (run `oes book sync`)"
        code = "".join(next(c for c in json.loads(nb.paired.read_text())["cells"]
                            if "google.colab" in "".join(c["source"]))["source"])
        assert f"oes @ git+{url}@{branch}" in code and '%pip install -q -c "$OES_KEEP" "$OES_INSTALL"' in code
    owner_repo = url.removeprefix("https://github.com/")
    files = [REPO / "README.md", REPO / "_config.yml", REPO / "environment.yml", REPO / "postBuild",
             *REPO.glob("book/*.md"), *REPO.glob("docs/*.md"), *REPO.glob("notebooks/*.py"),
             *REPO.glob("notebooks/*.ipynb"), *REPO.glob(".github/workflows/*.yml")]
    seen = 0
    for f in files:
        for m in re.finditer(r"github\.com/([A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+)", f.read_text()):
            found = m.group(1).removesuffix(".git")
            assert found == owner_repo or found in THIRD_PARTY_REPOS, \
                f"{f.relative_to(REPO)}: {found} is neither _config.yml's repository ({owner_repo}) nor a cited one"
            seen += found == owner_repo
    assert seen >= 2 * len(book.book_notebooks(REPO))      # the install cells and the README's links use it


# ------------------------------------------------------------------ the kernel
def _kernelspecs(python: Path, env: dict) -> dict:
    # `jupyter kernelspec list --json`, run by this environment's Python (the `jupyter` launcher would
    # dispatch to whichever `jupyter-kernelspec` comes first on PATH)
    out = subprocess.run([str(python), "-m", "jupyter_client.kernelspecapp", "list", "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    return {k: v["resource_dir"] for k, v in json.loads(out)["kernelspecs"].items()}


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_setup_installs_only_the_project_kernel(tmp_path):
    """``scripts/setup.sh``'s kernel step adds ``oes`` inside the environment and changes nothing else:
    ``jupyter kernelspec list`` is the same plus ``oes``, and the user's folder is untouched."""
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    home = tmp_path / "home"
    user_kernel = home / ".local" / "share" / "jupyter" / "kernels" / "python3"
    user_kernel.mkdir(parents=True)
    (user_kernel / "kernel.json").write_text(json.dumps({"argv": ["/the/users/own/python", "-m", "ipykernel_launcher",
                                                                  "-f", "{connection_file}"],
                                                         "display_name": "Python 3", "language": "python"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON", "XDG_"))}
    env.update(HOME=str(home), PYTHON=str(py))
    before, home_before = _kernelspecs(py, env), _tree(home)
    subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--kernel-only"], env=env, check=True,
                   capture_output=True)
    after = _kernelspecs(py, env)
    assert after == {**before, "oes": str(venv / "share" / "jupyter" / "kernels" / "oes")}
    home_after = _tree(home)
    assert {k: v for k, v in home_after.items() if k.startswith(".local")} == home_before  # user kernels untouched
    # the only other trace: Jupyter's own one-time marker, written by any Jupyter app on first start
    assert set(home_after) - set(home_before) <= {".jupyter/migrated"}
    spec = json.loads((venv / "share" / "jupyter" / "kernels" / "oes" / "kernel.json").read_text())
    assert spec["argv"][0] == str(py) and spec["display_name"] == "Python 3 (oes)"
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert "--sys-prefix --name oes" in setup and "--user" not in setup.replace("user's", "")
    assert "--sys-prefix --name oes" in (REPO / "postBuild").read_text()


# ------------------------------------------------------------------ Colab and Binder (slow: fresh venvs)
def _snapshot(tmp_path: Path) -> tuple[Path, str]:
    """A git repository holding this checkout's files (tracked and untracked, not ignored), committed."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    src = tmp_path / "repo"
    for f in filter(None, files):
        if (REPO / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(src)], check=True)
    subprocess.run([*git, "add", "-A"], cwd=src, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=src, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, check=True, capture_output=True, text=True).stdout
    return src, sha.strip()


def _clean_env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "IPYTHON", "XDG_", "OES_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(HOME=str(home), PIP_ROOT_USER_ACTION="ignore", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).splitlines()[-25:])
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{tail}")
    return r


def _venv(path: Path, env: dict, *requirements: str) -> Path:
    _run([sys.executable, "-m", "venv", path], env=env)
    py = path / "bin" / "python"
    if requirements:
        _run([py, "-m", "pip", "install", "-q", *requirements], env=env)
    return py


@pytest.mark.venv
def test_colab_runs_a_notebook(tmp_path):
    t0 = time.perf_counter()
    src, sha = _snapshot(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    py = _venv(tmp_path / "colab", env, "torch==2.13.0", "ipykernel", "papermill")
    torch_before = _run([py, "-c", "import torch; print(torch.__version__)"], env=env).stdout.strip()
    assert subprocess.run([py, "-c", "import oes"], env=env, capture_output=True).returncode != 0
    # what Colab's kernel has and this venv lacks: the google.colab module, imported at kernel start
    stub = tmp_path / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""Stand-in for Colab\'s own module (tests/test_paths.py)."""\n')
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # noqa: F401  (Colab's kernel imports it)\n")
    content = tmp_path / "content"                                   # Colab's working directory: no repository
    content.mkdir()
    run_env = {**env, "PYTHONPATH": str(tmp_path / "stub"), "IPYTHONDIR": str(tmp_path / "ipython"),
               # file://localhost/...: a PEP 508 URL needs a host (pip rejects "git+file:///path")
               "OES_INSTALL_SPEC": f"oes @ git+file://localhost{src}@{sha}", "MPLBACKEND": "agg"}
    out = tmp_path / "out.ipynb"
    _run([py, "-m", "papermill", src / "notebooks" / f"{SIM_NOTEBOOK}.ipynb", out, "-k", "python3",
          "-p", "preset", "smoke", "--cwd", content], env=run_env, timeout=1200)
    nb = json.loads(out.read_text())
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert f"from oes @ git+file://localhost{src}@{sha}; torch {torch_before} on CPU" in printed
    assert any("Scorecard" in "".join(c["source"]) for c in nb["cells"])
    where = _run([py, "-c", "import oes, torch; print(oes.__file__); print(torch.__version__)"], env=env,
                 cwd=tmp_path).stdout.split()
    assert str(tmp_path / "colab") in where[0] and str(REPO) not in where[0]    # installed, not the checkout
    assert where[1] == torch_before                                            # torch was not reinstalled
    assert list((content / "book" / "_results").glob(f"{SIM_NOTEBOOK}.smoke.claims.json"))
    print(f"colab simulation: {time.perf_counter() - t0:.0f} s")


@pytest.mark.venv
def test_binder_build_runs_a_notebook(tmp_path):
    t0 = time.perf_counter()
    src, _ = _snapshot(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    deps = yaml.safe_load((src / "environment.yml").read_text())["dependencies"]
    pip_lines = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    reqs = [ln for ln in pip_lines if not ln.startswith("--extra-index-url https://download.pytorch.org")]
    assert reqs == ["torch==2.13.0", "-e .[book,test]"], f"environment.yml's pip lines changed: {pip_lines}"
    (tmp_path / "requirements.txt").write_text("\n".join(reqs) + "\n")
    py = _venv(tmp_path / "binder", env)
    _run([py, "-m", "pip", "install", "-q", "-r", tmp_path / "requirements.txt"], env=env, cwd=src)
    active = {**env, "PATH": f"{tmp_path / 'binder' / 'bin'}:{env['PATH']}", "VIRTUAL_ENV": str(tmp_path / "binder")}
    _run(["bash", "postBuild"], env=active, cwd=src)
    specs = _kernelspecs(py, active)
    assert specs["oes"] == str(tmp_path / "binder" / "share" / "jupyter" / "kernels" / "oes")
    out = tmp_path / "out.ipynb"
    _run([py, "-m", "papermill", f"notebooks/{SIM_NOTEBOOK}.ipynb", out, "-p", "preset", "smoke"],  # its kernel: oes
         env={**active, "MPLBACKEND": "agg"}, cwd=src, timeout=1200)
    nb = json.loads(out.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "oes" and nb["metadata"]["papermill"]["exception"] is None
    assert (src / "book" / "_results" / f"{SIM_NOTEBOOK}.smoke.claims.json").is_file()
    print(f"binder simulation: {time.perf_counter() - t0:.0f} s")


@pytest.mark.venv
def test_installing_oes_keeps_the_environments_torch():
    """``pip install -e .`` in the main environment resolves without touching its torch."""
    r = _run([sys.executable, "-m", "pip", "install", "--dry-run", "-e", str(REPO)], cwd=REPO)
    would = [ln for ln in r.stdout.splitlines() if ln.startswith("Would install")]
    assert would and "torch" not in " ".join(would).replace("oes", ""), would
