r"""The book runner: ``oes book run | build | sync``, also importable.

The book's notebooks are jupytext ``py:percent`` sources ``notebooks/NAME.py``; the
pages are the executed notebooks ``book/NAME.ipynb``; ``_toc.yml`` (at the repository
root) says which notebooks there are and in what order.

* :func:`run_book` executes each notebook with papermill (the kernel named explicitly,
  working directory the repository root) with ``preset=<name>`` and any overrides
  injected after the cell tagged ``parameters``. Each notebook executes into a temporary
  file that replaces ``book/NAME.ipynb`` only on success, so a failure leaves the
  previous good page in place. The notebook's claims (:mod:`oes.scorecard`) are written
  to a staging folder and moved into ``book/_results/`` on success too. A notebook
  whose source text, parameters and ``oes`` code are unchanged is not executed again:
  the *cache key* (a sha256 of the three, ``oes`` code meaning ``oes.__version__`` plus a
  digest of the package's ``.py`` files) is stored in the page's metadata
  (``metadata.oes_book.cache_key``). ``force=True`` re-executes.
* :func:`write_scorecard` renders ``book/scorecard.md`` from the claims files.
* :func:`build_book` runs ``jupyter-book build .`` with execution off and warnings as
  errors. Equations are rendered by the copy of MathJax in ``book/_static/mathjax`` (see
  its ``PROVENANCE.txt``); launch buttons are pointed at the clean paired notebooks
  ``notebooks/NAME.ipynb`` by the Sphinx extension ``book/_ext/oes_launch.py``.
* :func:`sync_notebooks` regenerates ``notebooks/NAME.ipynb`` from ``notebooks/NAME.py``
  (no outputs) — the files that Colab and Binder open. ``oes book sync`` (``sources=True``) first
  writes, into every ``notebooks/NAME.py``, the kernelspec header and the Colab install cell, and into
  ``README.md`` the block of links, all from the one repository URL of ``_config.yml``
  (``repository.url``; see :func:`install_cell` for the pinning design).
* The kernel: notebooks run on the Jupyter kernel named :data:`DEFAULT_KERNEL` (``oes``), which
  ``scripts/setup.sh`` installs into the environment itself (``ipykernel install --sys-prefix``), so
  another environment cannot take it over; :func:`check_kernel` refuses a kernel of that name that
  runs another environment's Python.
* Each executed page's title gets the verdict of its claims at the preset it ran with
  (:func:`stamp_verdict`: ✓ all tested claims hold, ~ some, ✗ none), so the sidebar says it too.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["BookError", "Notebook", "find_root", "toc_files", "book_notebooks", "parse_param", "cache_key",
           "run_book", "RunRecord", "write_scorecard", "build_book", "sync_notebooks", "notebook_in_sync",
           "add_book_parser", "MATHJAX_FILE", "DEFAULT_KERNEL", "KERNELSPECS", "check_kernel", "repository",
           "install_cell", "readme_links", "notebook_title", "stamp_verdict", "stamp_pages"]

DEFAULT_KERNEL = "oes"       # installed by scripts/setup.sh into the environment (--sys-prefix), never --user
KERNELSPECS = {              # the notebooks' metadata.kernelspec for a kernel name
    "oes": {"display_name": "Python 3 (oes)", "language": "python", "name": "oes"},
    "python3": {"display_name": "Python 3", "language": "python", "name": "python3"},   # what Colab knows
}
PRESETS = ("smoke", "quick", "medium", "paper")
MATHJAX_FILE = Path("book/_static/mathjax/tex-svg-full.js")   # relative to the root; see PROVENANCE.txt
META_KEY = "oes_book"


class BookError(ValueError):
    """A one-line failure of ``oes book``; the CLI prints it and exits with status 2."""


@dataclass(frozen=True)
class Notebook:
    name: str            # "01_masking_prior"
    source: Path         # notebooks/NAME.py  (jupytext py:percent)
    paired: Path         # notebooks/NAME.ipynb (clean, committed; what Colab/Binder open)
    page: Path           # book/NAME.ipynb     (executed, not committed)


# ------------------------------------------------------------------ the book's layout
def find_root(start: str | Path | None = None) -> Path:
    """The repository root: the nearest folder at or above ``start`` (default: the working
    directory, then this package's parent) holding ``_toc.yml``."""
    starts = [Path(start)] if start is not None else [Path.cwd(), Path(__file__).resolve().parent.parent]
    for s in starts:
        s = s.resolve()
        for d in (s, *s.parents):
            if (d / "_toc.yml").is_file():
                return d
    raise BookError(f"no _toc.yml at or above {starts[0]}: run oes book from the repository")


def toc_files(root: str | Path) -> list[str]:
    """The ``file`` entries of ``_toc.yml`` (root first), in reading order, without suffix."""
    import yaml

    path = Path(root) / "_toc.yml"
    try:
        toc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise BookError(f"cannot read {path}: {e}") from None
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    out.append(re.sub(r"\.(md|ipynb|py)$", "", node[key]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return out


def book_notebooks(root: str | Path) -> list[Notebook]:
    """The notebook pages of ``_toc.yml``: entries ``book/NAME`` with a source ``notebooks/NAME.py``."""
    root = Path(root)
    nbs = []
    for entry in toc_files(root):
        parts = entry.split("/")
        if len(parts) == 2 and parts[0] == "book" and (root / "notebooks" / f"{parts[1]}.py").is_file():
            name = parts[1]
            nbs.append(Notebook(name, root / "notebooks" / f"{name}.py", root / "notebooks" / f"{name}.ipynb",
                                root / "book" / f"{name}.ipynb"))
    return nbs


def _select(root: Path, only: Sequence[str] | None) -> list[Notebook]:
    nbs = book_notebooks(root)
    if not only:
        return nbs
    known = {nb.name: nb for nb in nbs}
    wanted = [re.sub(r"\.(py|ipynb)$", "", Path(o).name) for o in only]
    bad = [w for w in wanted if w not in known]
    if bad:
        raise BookError(f"--only {', '.join(bad)}: not a notebook of _toc.yml (known: {', '.join(known) or 'none'})")
    return [nb for nb in nbs if nb.name in wanted]


# ------------------------------------------------------------------ parameters and cache
def parse_param(text: str) -> tuple[str, Any]:
    """``"steps=40000"`` -> ``("steps", 40000)``: the value is read as JSON, then as a Python
    literal (``None``, ``True``, ``(1, 2)``), else kept as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise BookError(f"-p {text!r}: expected NAME=VALUE")
    raw = raw.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            return key, parse(raw)
        except (ValueError, SyntaxError, TypeError, RecursionError):
            pass
    return key, raw


def _parameter_names(nb) -> set[str] | None:
    """Names assigned in the cell tagged ``parameters``; None when there is no such cell."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            names: set[str] = set()
            try:
                tree = ast.parse(cell.source)
            except SyntaxError as e:
                raise BookError(f"the parameters cell does not parse: {e}") from None
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, ast.AnnAssign) else [])
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            names.add(n.id)
            return names
    return None


def _package_digest() -> str:
    """sha256 over the ``oes`` package's ``.py`` files: a code change invalidates the cache
    even when ``oes.__version__`` is not bumped."""
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(pkg.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(source_text: str, parameters: dict, oes_version: str | None = None,
              code_digest: str | None = None) -> str:
    """The cache key of one execution: sha256 of the source text, the parameters and the oes code."""
    from . import __version__

    doc = {"source": source_text, "parameters": parameters,
           "oes_version": __version__ if oes_version is None else oes_version,
           "oes_code": _package_digest() if code_digest is None else code_digest}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=repr).encode()).hexdigest()


def _stored_meta(page: Path) -> dict:
    try:
        meta = json.loads(page.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}
    m = meta.get(META_KEY)
    return m if isinstance(m, dict) else {}


# ------------------------------------------------------------------ running
def _cell_lines(text: str) -> list[int]:
    """1-based line of each ``# %%`` cell marker of a py:percent file (the cell's code starts below)."""
    return [i for i, line in enumerate(text.splitlines(), 1) if re.match(r"#\s*%%(?!%)", line)]


def _failure_message(nb: Notebook, err, executed, source_text: str, n_source_cells: int) -> str:
    idx = err.cell_index
    injected = next((i for i, c in enumerate(executed.cells)
                     if "injected-parameters" in c.get("metadata", {}).get("tags", [])), None) if executed else None
    if injected is not None and idx > injected:
        idx -= 1
    where = f"cell {idx + 1}"
    lines = _cell_lines(source_text)
    if len(lines) == n_source_cells and 0 <= idx < len(lines):
        where += f" (line {lines[idx] + 1} of {nb.source.parent.name}/{nb.source.name})"
    first = next((ln.strip() for ln in (err.source or "").splitlines() if ln.strip()), "")
    if len(first) > 70:
        first = first[:67] + "..."
    evalue = " ".join(str(err.evalue or "").split())
    if len(evalue) > 200:
        evalue = evalue[:197] + "..."
    return (f"notebook {nb.name} failed in {where}: `{first}`: {err.ename}: {evalue} "
            f"[previous book/{nb.page.name} kept; the failed run is in book/_results/{nb.name}.failed.ipynb]")


def _execute(nb: Notebook, root: Path, parameters: dict, kernel: str, results: Path, key: str,
             source_text: str, source_nb) -> float:
    """Execute one notebook into ``nb.page`` atomically; return the seconds it took."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from . import __version__

    nb.page.parent.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{nb.name}-", dir=results))
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"oes-book-{nb.name}-"))
    tmp_in = tmp_dir / f"{nb.name}.ipynb"
    tmp_out = nb.page.parent / f".{nb.name}.partial.ipynb"    # same folder as the page: atomic rename
    failed = results / f"{nb.name}.failed.ipynb"
    old_env = os.environ.get("OES_RESULTS_DIR")
    os.environ["OES_RESULTS_DIR"] = str(staging)
    t0 = time.perf_counter()
    try:
        nbformat.write(source_nb, str(tmp_in))
        try:
            papermill.execute_notebook(str(tmp_in), str(tmp_out), parameters=parameters, kernel_name=kernel,
                                       cwd=str(root), progress_bar=False, log_output=False,
                                       request_save_on_cell_execute=False)
        except PapermillExecutionError as err:
            executed = nbformat.read(str(tmp_out), as_version=4) if tmp_out.exists() else None
            if tmp_out.exists():
                os.replace(tmp_out, failed)
            raise BookError(_failure_message(nb, err, executed, source_text, len(source_nb.cells))) from None
        except Exception as err:  # kernel death, missing kernelspec, ...
            msg = " ".join(str(err).split())[:300]
            raise BookError(f"notebook {nb.name} could not be executed with kernel {kernel!r}: "
                            f"{type(err).__name__}: {msg} [previous book/{nb.page.name} kept]") from None
        seconds = time.perf_counter() - t0
        out = nbformat.read(str(tmp_out), as_version=4)
        _fold_parameters_cell(out)
        _stamp_from_folder(out, nb.name, str(parameters.get("preset", "")), staging)
        produced = sorted(p.name for p in staging.iterdir() if p.is_file())
        out.metadata[META_KEY] = {"cache_key": key, "parameters": parameters, "kernel": kernel,
                                  "oes_version": __version__, "seconds": round(seconds, 1), "results": produced}
        nbformat.write(out, str(tmp_out))
        for name in produced:                       # claims first, then the page: both or neither
            os.replace(staging / name, results / name)
        _migrate_claims(results, nb.name, str(parameters.get("preset", "")), produced)
        os.replace(tmp_out, nb.page)
        failed.unlink(missing_ok=True)
        return seconds
    finally:
        if old_env is None:
            os.environ.pop("OES_RESULTS_DIR", None)
        else:
            os.environ["OES_RESULTS_DIR"] = old_env
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_out.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def _fold_parameters_cell(nb) -> None:
    """On the page, fold the notebook's default parameters (``hide-input``) when papermill
    injected the values actually used right below them."""
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    if any("injected-parameters" in t for t in tags):
        for cell, t in zip(nb.cells, tags):
            if "parameters" in t and not {"hide-input", "remove-input", "remove-cell"} & set(t):
                cell.setdefault("metadata", {}).setdefault("tags", []).append("hide-input")


@dataclass
class RunRecord:
    name: str
    status: str          # "executed" | "cached"
    seconds: float
    page: Path


def run_book(root: str | Path | None = None, preset: str = "quick", only: Sequence[str] | None = None,
             params: dict | None = None, force: bool = False, kernel: str | None = None,
             results: str | Path | None = None, log: Callable[[str], None] = print) -> list[RunRecord]:
    """Execute the book's notebooks (see the module docstring); then write the scorecard page.

    Also regenerates ``notebooks/NAME.ipynb`` of the notebooks it runs when out of sync.

    :param preset: injected as ``preset``; must be one of ``oes.presets.PRESETS`` when that exists.
    :param params: overrides, injected into each notebook whose parameters cell defines the name.
    :param kernel: the Jupyter kernel (default ``$OES_KERNEL`` or :data:`DEFAULT_KERNEL`, which must
        run this environment's Python: see :func:`check_kernel`).
    :param results: where claims go (default ``<root>/book/_results``).
    """
    import jupytext

    root = find_root(root) if root is None else Path(root).resolve()
    explicit = bool(kernel or os.environ.get("OES_KERNEL"))
    kernel = kernel or os.environ.get("OES_KERNEL") or DEFAULT_KERNEL
    check_kernel(kernel, same_environment=not explicit)
    results = Path(results) if results is not None else root / "book" / "_results"
    _check_preset(preset)
    params = dict(params or {})
    if "preset" in params:
        raise BookError("give the preset with --preset, not -p preset=...")
    nbs = _select(root, only)
    if not nbs:
        raise BookError("_toc.yml lists no notebook page book/NAME with a source notebooks/NAME.py")

    plans = []
    used: set[str] = set()
    for nb in nbs:
        text = nb.source.read_text(encoding="utf-8")
        try:
            source_nb = jupytext.reads(text, fmt="py:percent")
        except Exception as e:  # jupytext raises several types
            raise BookError(f"notebook {nb.name}: cannot read {nb.source}: {e}") from None
        names = _parameter_names(source_nb)
        if names is None:
            raise BookError(f"notebook {nb.name} has no code cell tagged 'parameters' "
                            f"(add `# %% tags=[\"parameters\"]` above `preset = \"smoke\"`)")
        if "preset" not in names:
            raise BookError(f"notebook {nb.name}: its parameters cell does not define `preset`")
        p = {"preset": preset, **{k: v for k, v in params.items() if k in names}}
        used |= set(p)
        plans.append((nb, text, source_nb, p))
    unknown = sorted(set(params) - used)
    if unknown:
        raise BookError(f"-p {', '.join(unknown)}: no selected notebook's parameters cell defines "
                        f"{'it' if len(unknown) == 1 else 'them'}")

    sync_notebooks(root, only=[nb.name for nb, *_ in plans], log=log, quiet=True)
    out: list[RunRecord] = []
    digest = _package_digest()
    n = len(plans)
    for i, (nb, text, source_nb, p) in enumerate(plans, 1):
        key = cache_key(text, p, code_digest=digest)
        stored = _stored_meta(nb.page)
        fresh = (stored.get("cache_key") == key and nb.page.is_file()
                 and all((results / f).is_file() for f in stored.get("results", [])))
        if fresh and not force:
            log(f"[{i}/{n}] {nb.name}: cached (source, parameters and oes unchanged; "
                f"executed in {stored.get('seconds', '?')} s) -> {_rel(nb.page, root)}")
            out.append(RunRecord(nb.name, "cached", 0.0, nb.page))
            continue
        shown = " ".join(f"{k}={v!r}" for k, v in p.items())
        log(f"[{i}/{n}] {nb.name}: running ({shown}) ...")
        seconds = _execute(nb, root, p, kernel, results, key, text, source_nb)
        log(f"[{i}/{n}] {nb.name}: executed in {seconds:.1f} s -> {_rel(nb.page, root)}")
        out.append(RunRecord(nb.name, "executed", seconds, nb.page))
    df = write_scorecard(root, results)
    log(f"scorecard: {len(df)} claims -> {_rel(root / 'book' / 'scorecard.md', root)}")
    return out


def _check_preset(preset: str) -> None:
    try:
        from .presets import PRESETS as known
    except ImportError:      # pragma: no cover - presets is the lead's module
        known = PRESETS
    if preset not in known:
        raise BookError(f"--preset {preset!r}: expected one of {', '.join(known)}")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def write_scorecard(root: str | Path | None = None, results: str | Path | None = None):
    """Regenerate ``book/scorecard.md`` from the claims files, in ``_toc.yml`` order."""
    from .scorecard import write_scorecard_page

    root = find_root(root) if root is None else Path(root)
    results = Path(results) if results is not None else root / "book" / "_results"
    nbs = book_notebooks(root)
    return write_scorecard_page(root / "book" / "scorecard.md", results, order=[nb.name for nb in nbs],
                                titles={nb.name: notebook_title(nb) for nb in nbs})


# ------------------------------------------------------------------ paired notebooks
def _clean_notebook(py: Path):
    """The clean ``.ipynb`` form of a py:percent source: no outputs, deterministic cell ids."""
    import jupytext

    nb = jupytext.read(str(py), fmt="py:percent")
    nb.metadata.pop("jupytext", None)
    nb.metadata.setdefault("kernelspec", dict(KERNELSPECS[DEFAULT_KERNEL]))
    for i, cell in enumerate(nb.cells):
        cell["id"] = hashlib.sha1(f"{i}:{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def _comparable(nb) -> list:
    return [(c.cell_type, c.source, json.dumps(c.get("metadata", {}), sort_keys=True),
             len(c.get("outputs", []) or []), c.get("execution_count")) for c in nb.cells] + [
        json.dumps(nb.metadata.get("kernelspec", {}), sort_keys=True)]


def notebook_in_sync(nb: Notebook) -> bool:
    """Whether ``notebooks/NAME.ipynb`` has the cells of ``notebooks/NAME.py`` and no outputs
    (cell ids are ignored)."""
    import nbformat

    if not nb.paired.is_file():
        return False
    try:
        have = nbformat.read(str(nb.paired), as_version=4)
    except Exception:
        return False
    return _comparable(have) == _comparable(_clean_notebook(nb.source))


def sync_notebooks(root: str | Path | None = None, check: bool = False, log: Callable[[str], None] = print,
                   only: Sequence[str] | None = None, quiet: bool = False, sources: bool = False,
                   ref: str | None = None, kernelspec: str | None = None) -> list[str]:
    """Regenerate each ``notebooks/NAME.ipynb`` from ``notebooks/NAME.py`` (outputs stripped).

    With ``sources=True`` (``oes book sync``) first rewrite, in each ``notebooks/NAME.py``, the
    kernelspec header (``kernelspec``, default :data:`DEFAULT_KERNEL`) and the Colab install cell
    (:func:`install_cell` for ``_config.yml``'s repository URL and ``ref``, default its branch), and
    the links block of ``README.md`` (:func:`readme_links`).

    With ``check=True`` write nothing and raise :class:`BookError` when a file is out of sync.
    Returns the names that were (or would be) rewritten. ``oes book run`` calls it (without
    ``sources``) for the notebooks it runs, so the paired notebooks follow the sources.
    """
    import jupytext

    root = find_root(root) if root is None else Path(root)
    selected = _select(root, only)
    changed: list[tuple[Path, str]] = []          # (file, new text) of the sources and README
    if sources:
        url, branch = repository(root)
        ks = kernelspec or DEFAULT_KERNEL
        if ks not in KERNELSPECS:
            raise BookError(f"--kernelspec {ks!r}: expected one of {', '.join(KERNELSPECS)}")
        cell = install_cell(url, ref or branch)
        for nb in selected:
            text = nb.source.read_text(encoding="utf-8")
            new = _with_install_cell(_with_kernelspec(text, KERNELSPECS[ks], nb), cell, nb)
            if new != text:
                changed.append((nb.source, new))
        readme = root / "README.md"
        if readme.is_file():
            text = readme.read_text(encoding="utf-8")
            new = _with_readme_links(text, readme_links(url, branch, [nb.name for nb in book_notebooks(root)]))
            if new != text:
                changed.append((readme, new))
    if check:
        stale = [str(_rel(f, root)) for f, _ in changed]
        stale += [str(_rel(nb.paired, root)) for nb in selected if not notebook_in_sync(nb)]
        if stale:
            raise BookError(f"out of sync: {', '.join(dict.fromkeys(stale))} (run `oes book sync`)")
        log("notebooks, install cells and README links in sync" if sources else "paired notebooks in sync")
        return []
    for f, text in changed:
        _write_atomic(f, text)
        log(f"wrote {_rel(f, root)}")
    stale = [nb for nb in selected if not notebook_in_sync(nb)]
    for nb in stale:
        _write_atomic(nb.paired, jupytext.writes(_clean_notebook(nb.source), fmt="ipynb"))
        log(f"wrote {_rel(nb.paired, root)}")
    if not stale and not changed and not quiet:
        log("paired notebooks already in sync")
    names = {f.stem for f, _ in changed if f.suffix == ".py"} | {nb.name for nb in stale}
    return [nb.name for nb in selected if nb.name in names]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------ one repository URL
_REPO_URL = re.compile(r"^https://github\.com/(?P<owner>[A-Za-z0-9_.\-]+)/(?P<repo>[A-Za-z0-9_.\-]+)$")


def repository(root: str | Path) -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``'s ``repository`` section: the one place the URL is set."""
    import yaml

    path = Path(root) / "_config.yml"
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise BookError(f"cannot read {path}: {e}") from None
    repo = cfg.get("repository") or {}
    url, branch = str(repo.get("url", "")).rstrip("/"), str(repo.get("branch", "main"))
    if not _REPO_URL.match(url) or url.endswith(".git"):
        raise BookError(f"_config.yml: repository.url {url!r} should look like https://github.com/OWNER/REPO")
    return url, branch


def install_cell(url: str, ref: str) -> str:
    """The Colab install cell (py:percent text, first line ``# %% tags=["remove-cell"]``).

    **Pinning.** It installs ``oes @ git+URL@REF``. In the repository REF is the branch of
    ``_config.yml`` (``main``): a notebook opened from GitHub's ``main`` installs ``main``'s code. A
    committed notebook cannot name its own commit, so the publishing workflow
    (``.github/workflows/book.yml``) runs ``oes book sync --ref <the commit it publishes>
    --kernelspec python3``, commits the result on top of that commit, pushes it to the branch ``book``,
    and builds the book with ``OES_LAUNCH_REF`` set to that new commit, so that every launch button
    opens a notebook whose cells are the page's cells and whose install cell installs the page's code
    (the new commit changes nothing but these cells).

    **Torch.** Colab ships torch (a CUDA build, which also runs on CPU runtimes); the cell pins the
    installed version with a constraints file, so pip never replaces it, and says whether a GPU is
    attached. torch is imported only after pip has run (its version is read from the package
    metadata), so a NumPy that pip installs is one torch sees. With a GPU attached it sets
    ``OES_DEVICE=cuda``, so the page's runs train on it. oes itself installs without extras: ``[book]`` would pull Jupyter Book and Sphinx into
    Colab's environment, which the notebooks do not need.

    **Testing.** ``$OES_INSTALL_SPEC`` replaces the pip requirement (and only that), so a test can
    install from a local clone with the very same pip command (``tests/test_paths.py``).
    """
    if not re.match(r"^[A-Za-z0-9_.\-/]+$", ref):
        raise BookError(f"--ref {ref!r} is not a git ref or commit")
    spec = f"oes @ git+{url}@{ref}"
    return "\n".join([
        '# %% tags=["remove-cell"]',
        "# On Colab: install oes at the commit of this book. Written by `oes book sync` from _config.yml; edit it there.",
        "import os",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    OES_INSTALL = os.environ.get("OES_INSTALL_SPEC", "{spec}")',
        "    import importlib",
        "    import tempfile",
        "    from importlib.metadata import version",
        "",
        "    # Colab's own torch (a CUDA build, used when a GPU is attached): pinned, so pip keeps it",
        '    OES_KEEP = os.path.join(tempfile.gettempdir(), "oes-keep-torch.txt")',
        '    with open(OES_KEEP, "w") as f:',
        '        f.write(f"torch=={version(\'torch\')}\\n")',
        '    # %pip install -q -c "$OES_KEEP" "$OES_INSTALL"',
        "    importlib.invalidate_caches()",
        "    import oes  # fails here, below pip's message, when the installation did",
        "    import torch",
        "",
        "    if torch.cuda.is_available():  # the page's runs then train on the GPU (the device is part of their keys)",
        '        os.environ.setdefault("OES_DEVICE", "cuda")',
        '    print(f"oes {oes.__version__} from {OES_INSTALL}; torch {torch.__version__} on "',
        '          + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (Runtime > Change runtime type for a GPU)"))',
        ""])


def _cells(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` line ranges of the ``# %%`` cells of a py:percent text."""
    lines = text.split("\n")
    marks = [i for i, ln in enumerate(lines) if re.match(r"#\s*%%(?!%)", ln)]
    return [(a, b) for a, b in zip(marks, marks[1:] + [len(lines)])]


def _with_install_cell(text: str, cell: str, nb: Notebook) -> str:
    """Replace the notebook's install cell (the code cell testing ``google.colab``) with ``cell``;
    insert it before the parameters cell when there is none."""
    lines = text.split("\n")
    ranges = _cells(text)
    for a, b in ranges:
        body = "\n".join(lines[a:b])
        if lines[a].startswith("# %%") and "[markdown]" not in lines[a] and '"google.colab" in sys.modules' in body:
            return "\n".join(lines[:a] + cell.split("\n") + lines[b:])
    for a, b in ranges:
        if "parameters" in lines[a]:
            return "\n".join(lines[:a] + cell.split("\n") + lines[a:])
    raise BookError(f"notebook {nb.name}: no install cell and no parameters cell to put one before")


def _with_kernelspec(text: str, spec: dict, nb: Notebook) -> str:
    """Set the ``kernelspec`` of the jupytext YAML header (``# ---`` ... ``# ---``) to ``spec``."""
    lines = text.split("\n")
    if not lines or lines[0] != "# ---" or "# ---" not in lines[1:]:
        raise BookError(f"notebook {nb.name}: {nb.source.name} has no jupytext header (# --- ... # ---); "
                        f"create it with `jupytext --set-formats ipynb,py:percent`")
    end = lines.index("# ---", 1)
    head = lines[1:end]
    block = ["#   kernelspec:", f"#     display_name: {spec['display_name']}", f"#     language: {spec['language']}",
             f"#     name: {spec['name']}"]
    if "#   kernelspec:" in head:
        i = head.index("#   kernelspec:")
        j = i + 1
        while j < len(head) and head[j].startswith("#     "):
            j += 1
        head = head[:i] + block + head[j:]
    else:
        head = head + block
    return "\n".join(lines[:1] + head + lines[end:])


README_BEGIN = "<!-- oes:links — written by `oes book sync` from _config.yml (repository.url); edit it there -->"
README_END = "<!-- /oes:links -->"


def readme_links(url: str, branch: str, notebooks: Sequence[str]) -> str:
    """The README's links block: the repository, and each chapter on Colab and Binder (the notebooks of
    the published book, branch ``book``; see :func:`install_cell`)."""
    m = _REPO_URL.match(url)
    owner, repo = m["owner"], m["repo"]
    lines = [README_BEGIN, f"Repository: <{url}> (branch `{branch}`). Each chapter on Colab or Binder, as published "
             f"(branch `book`: the notebooks pinned to the published commit, made by `.github/workflows/book.yml`):", ""]
    for name in notebooks:
        colab = f"https://colab.research.google.com/github/{owner}/{repo}/blob/book/notebooks/{name}.ipynb"
        binder = f"https://mybinder.org/v2/gh/{owner}/{repo}/book?urlpath=lab/tree/notebooks/{name}.ipynb"
        lines.append(f"- `{name}`: [Colab]({colab}) · [Binder]({binder})")
    lines += ["", README_END]
    return "\n".join(lines)


def _with_readme_links(text: str, block: str) -> str:
    if README_BEGIN not in text or README_END not in text:
        raise BookError(f"README.md has no links block: add the two lines {README_BEGIN!r} and {README_END!r} "
                        f"where the links belong, then run `oes book sync`")
    a = text.index(README_BEGIN)
    b = text.index(README_END, a) + len(README_END)
    return text[:a] + block + text[b:]


# ------------------------------------------------------------------ the kernel
def check_kernel(name: str, same_environment: bool = True) -> str:
    """Return the Python that kernel ``name`` runs; raise :class:`BookError` when there is no such
    kernel or (``same_environment``) when it runs another environment's Python than this one's.

    A ``--user`` kernel of the same name can shadow the environment's own (Jupyter searches the
    user's folder first unless it runs in a virtual or conda environment), so this is what catches
    a kernel that another set-up took over.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise BookError(f"no Jupyter kernel named {name!r}: run `bash scripts/setup.sh` (it installs the kernel "
                        f"{DEFAULT_KERNEL!r} into this environment), or `{Path(sys.executable).name} -m ipykernel "
                        f"install --sys-prefix --name {name}`, or pass --kernel NAME") from None
    argv = list(spec.argv or [])
    exe = argv[0] if argv else ""
    if exe in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        return sys.executable       # jupyter_client runs the current Python for these
    if same_environment and exe:
        ours = Path(sys.prefix).resolve()
        try:
            theirs = Path(subprocess.run([exe, "-c", "import sys; print(sys.prefix)"], capture_output=True,
                                         text=True, timeout=60).stdout.strip() or "/nonexistent").resolve()
        except (OSError, subprocess.TimeoutExpired):
            theirs = Path("/nonexistent")
        if theirs != ours:
            raise BookError(f"kernel {name!r} ({spec.resource_dir}) runs {exe}, not this environment's Python "
                            f"({sys.executable}): run `bash scripts/setup.sh` here, remove that kernelspec, or "
                            f"pass --kernel NAME")
    return exe


# ------------------------------------------------------------------ titles and verdicts
def notebook_title(nb: Notebook) -> str:
    """The page title: the first ``# # Title`` line of ``notebooks/NAME.py`` (else the name)."""
    try:
        for line in nb.source.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^#\s+#\s+(.+?)\s*$", line)
            if m:
                return m.group(1)
    except OSError:
        pass
    return nb.name


_MARK_SUFFIX = re.compile(r"\s+[✓✗~]$")
VERDICT_TAG = "oes-verdict"


def stamp_verdict(page_nb, notebook: str, preset: str, claims) -> bool:
    """Append the verdict mark to the page's title and put a one-line verdict under it.

    ``claims``: a :func:`oes.scorecard.collect` table. ✓ every tested claim of this notebook at
    ``preset`` holds, ~ some do, ✗ none; no mark when none was tested (or there are none).
    Idempotent (an earlier mark and verdict line are replaced). Returns whether the page changed.
    """
    import nbformat

    from .scorecard import tally, verdict

    counts = tally(claims[(claims["notebook"] == notebook) & (claims["preset"] == preset)]) if len(claims) else {}
    held, tested, total = counts.get((notebook, preset), (0, 0, 0))
    before = json.dumps([c.get("source") for c in page_nb.cells])
    page_nb.cells = [c for c in page_nb.cells if VERDICT_TAG not in c.get("metadata", {}).get("tags", [])]
    for i, cell in enumerate(page_nb.cells):
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        j = next((k for k, ln in enumerate(lines) if ln.startswith("# ")), None)
        if j is None:
            continue
        title = _MARK_SUFFIX.sub("", lines[j].rstrip())
        mark = verdict(held, tested)
        lines[j] = title + (f" {mark}" if tested else "")
        cell.source = "\n".join(lines)
        if total:
            words = {"✓": "every claim tested here holds", "~": "some claims tested here hold, some do not",
                     "✗": "none of the claims tested here holds", "–": "no claim could be tested"}[mark]
            text = (f"**Verdict at the `{preset}` preset: {words}** ({held} of {tested} tested"
                    + (f", {total - tested} not tested" if total > tested else "") + "). The claims are listed at "
                    "the end of this page and on the [scorecard](scorecard.md)"
                    + ("; `smoke` runs only exercise the code, so this verdict means nothing." if preset == "smoke"
                       else "; a verdict is about this preset, not the paper's sizes." if preset != "paper" else "."))
            page_nb.cells.insert(i + 1, nbformat.v4.new_markdown_cell(text, metadata={"tags": [VERDICT_TAG]}))
        break
    return json.dumps([c.get("source") for c in page_nb.cells]) != before


def _stamp_from_folder(page_nb, notebook: str, preset: str, folder: Path) -> None:
    from .scorecard import collect

    try:
        claims = collect(folder, [notebook], presets=[preset])
    except ValueError:
        return
    stamp_verdict(page_nb, notebook, preset, claims)


def _migrate_claims(results: Path, notebook: str, preset: str, produced: Sequence[str]) -> None:
    from .scorecard import claims_file_name, migrate_legacy

    if claims_file_name(notebook, preset) in produced:
        migrate_legacy(results, notebook, preset)


def stamp_pages(root: str | Path | None = None, results: str | Path | None = None) -> list[str]:
    """Re-stamp the verdict of every executed page from the claims of the preset it ran with."""
    import nbformat

    from .scorecard import collect

    root = find_root(root) if root is None else Path(root)
    results = Path(results) if results is not None else root / "book" / "_results"
    claims = collect(results)
    done = []
    for nb in book_notebooks(root):
        if not nb.page.is_file():
            continue
        preset = str(_stored_meta(nb.page).get("parameters", {}).get("preset", ""))
        page = nbformat.read(str(nb.page), as_version=4)
        if preset and stamp_verdict(page, nb.name, preset, claims):
            tmp = nb.page.with_name(f".{nb.page.name}.stamp.tmp")
            nbformat.write(page, str(tmp))
            os.replace(tmp, nb.page)
            done.append(nb.name)
    return done


# ------------------------------------------------------------------ building
def build_book(root: str | Path | None = None, all_pages: bool = True, strict: bool = True,
               log: Callable[[str], None] = print) -> Path:
    """``jupyter-book build .`` (execution off, ``-W -n --keep-going``); return ``index.html``."""
    root = find_root(root) if root is None else Path(root).resolve()
    missing = [nb for nb in book_notebooks(root) if not nb.page.is_file()]
    if missing:
        raise BookError(f"not executed yet: {', '.join(_rel(nb.page, root) for nb in missing)} "
                        f"(run `oes book run --preset quick` first)")
    stale = [nb.name for nb in book_notebooks(root) if not notebook_in_sync(nb)]
    if stale:
        raise BookError(f"notebooks/{{{','.join(stale)}}}.ipynb out of sync with the .py sources: run `oes book sync`")
    if not (root / MATHJAX_FILE).is_file():
        raise BookError(f"{MATHJAX_FILE} is missing: the book renders equations with this local copy of MathJax")
    write_scorecard(root)
    stamp_pages(root)
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(root), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    if all_pages:
        cmd += ["--all"]
    log("$ jupyter-book " + " ".join(cmd[3:]))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root)
    if proc.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit status {proc.returncode}); see the warnings above")
    index = root / "_build" / "html" / "index.html"
    if not index.is_file():
        raise BookError(f"jupyter-book build did not write {index}")
    log(f"built in {time.perf_counter() - t0:.1f} s: {index}")
    return index


# ------------------------------------------------------------------ command line
def _cmd_run(a) -> int:
    params = dict(parse_param(p) for p in a.param)
    _execute_plan(a, params)
    env = _executor_env(a)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)          # chapters that still run their own grids use the same executor
    try:
        run_book(preset=a.preset, only=a.only, params=params, force=a.force, kernel=a.kernel)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return 0


def _cmd_build(a) -> int:
    index = build_book(all_pages=not a.incremental)
    print(f"open {index}")
    return 0


def _cmd_sync(a) -> int:
    sync_notebooks(check=a.check, sources=True, ref=a.ref, kernelspec=a.kernelspec)
    return 0


def _cmd_scorecard(a) -> int:
    df = write_scorecard()
    print(f"scorecard: {len(df)} claims -> book/scorecard.md")
    return 0


def add_book_parser(sub) -> None:
    """Add ``oes book run | build | sync | scorecard`` to the ``oes`` command line."""
    book = sub.add_parser("book", help="execute the book's notebooks and build the Jupyter Book",
                          description="Run from the repository (the folder with _toc.yml).")
    bsub = book.add_subparsers(dest="book_command", required=True)

    p = bsub.add_parser("run", help="execute the notebooks of _toc.yml into book/ (cached by source, parameters, oes)")
    p.add_argument("--preset", default="quick", help="smoke | quick | medium | paper (default quick)")
    p.add_argument("--only", nargs="+", metavar="NAME", default=None, help="run only these notebooks")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a name of the notebooks' parameters cell, e.g. -p steps=40000 (repeatable)")
    p.add_argument("--force", action="store_true", help="re-execute even when the cache says unchanged")
    p.add_argument("--kernel", default=None,
                   help=f"Jupyter kernel name (default $OES_KERNEL or {DEFAULT_KERNEL}, installed by scripts/setup.sh)")
    _add_plan_options(p)
    p.set_defaults(fn=_cmd_run)
    _add_plan_parser(bsub)

    p = bsub.add_parser("build", help="jupyter-book build . (execution off, warnings are errors)")
    p.add_argument("--incremental", action="store_true", help="rebuild changed pages only (default: all pages)")
    p.set_defaults(fn=_cmd_build)

    p = bsub.add_parser("sync", help="write the notebooks' install cell, kernelspec and README links from _config.yml, "
                                     "then notebooks/NAME.ipynb from notebooks/NAME.py (no outputs)")
    p.add_argument("--check", action="store_true", help="write nothing; fail when one is out of sync")
    p.add_argument("--ref", default=None,
                   help="git ref the Colab install cell installs (default: _config.yml's repository.branch); "
                        "the publishing workflow gives the commit it publishes")
    p.add_argument("--kernelspec", default=None, choices=sorted(KERNELSPECS),
                   help=f"the notebooks' kernelspec (default {DEFAULT_KERNEL}; the publishing workflow writes python3 "
                        f"into the copy that Colab opens, the runtime name Colab knows)")
    p.set_defaults(fn=_cmd_sync)

    p = bsub.add_parser("scorecard", help="regenerate book/scorecard.md from book/_results/*.claims.json")
    p.set_defaults(fn=_cmd_scorecard)


# ------------------------------------------------------------------ the plan (oes.experiments.plan): run before the notebooks
def _add_plan_options(p) -> None:
    """Executor options of ``oes book run`` and ``oes book plan --run``."""
    from .experiments.executors import EXECUTORS

    p.add_argument("--executor", choices=EXECUTORS, default=None,
                   help="where the plan's runs execute (default $OES_EXECUTOR or local)")
    p.add_argument("--workers", type=int, default=None, help="processes / dask workers (default: the number of cores)")
    p.add_argument("--scheduler", default=None, help="dask: address or scheduler file of a running cluster")
    p.add_argument("--batch", type=int, default=None,
                   help="train up to N compatible runs together (default 1); a group too small to give every "
                        "worker a batch is shared by the workers")


def _executor_env(a) -> dict:
    """``OES_EXECUTOR`` & co. for the notebooks' kernels: ``processes``, or ``dask`` on a running scheduler
    (a LocalCluster started by every notebook call would cost more than it saves)."""
    env = {}
    if a.executor == "processes" or (a.executor == "dask" and a.scheduler):
        env["OES_EXECUTOR"] = a.executor
        if a.workers:
            env["OES_WORKERS"] = str(a.workers)
        if a.scheduler:
            env["OES_SCHEDULER"] = a.scheduler
    if a.batch:
        env["OES_BATCH"] = str(a.batch)
    return env


def _execute_plan(a, params: dict) -> None:
    """``oes book run``: store every run the declared chapters need, then the notebooks render from the store."""
    from .experiments.executors import TaskError, make_executor
    from .experiments.plan import book_plan

    plan = book_plan(a.preset, params, a.only)
    if not plan.grids:
        return
    ex = make_executor(a.executor, a.workers, a.scheduler)
    try:
        print(plan.describe(batch=a.batch or 1, workers=ex.workers))
        info = plan.execute(ex, workers=a.workers, batch=a.batch)
    except TaskError as e:
        raise BookError(f"the plan failed: {e}") from None
    finally:
        ex.close()
    print(f"plan {a.preset}: {info['computed']} specs computed in {info['tasks']} task(s) on the {ex.name} "
          f"executor ({ex.workers} worker(s)) in {info['seconds']:.1f} s")


def _cmd_plan(a) -> int:
    from .experiments.plan import book_plan

    params = dict(parse_param(p) for p in a.param)
    if "preset" in params:
        raise BookError("give the preset with --preset, not -p preset=...")
    if a.run:
        _execute_plan(a, params)         # prints the plan, then executes it
    else:
        print(book_plan(a.preset, params, a.only).describe(batch=a.batch or 1, workers=a.workers or 1))
    return 0


def _add_plan_parser(bsub) -> None:
    p = bsub.add_parser("plan", help="the runs every declared chapter needs, de-duplicated; --run executes them")
    p.add_argument("--preset", default="quick", help="smoke | quick | medium | paper (default quick)")
    p.add_argument("--only", nargs="+", metavar="NAME", default=None, help="plan only these chapters")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a notebook parameter, as for `oes book run` (repeatable)")
    p.add_argument("--run", action="store_true", help="execute the plan (no notebooks rendered)")
    _add_plan_options(p)
    p.set_defaults(fn=_cmd_plan)
