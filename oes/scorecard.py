r"""Claims as data: what each notebook says the paper reports, and what this run shows.

A notebook records one row per claim and saves them next to its output::

    from oes.scorecard import Scorecard
    card = Scorecard("02_overfitting", preset=preset)
    card.claim("f2_sparse_beats_dense", text="Sparse-DIP's final PSNR exceeds dense DIP's",
               paper="Table 2: 27.45 vs 24.71 dB (pepper)", value="3.1 dB", holds=True)
    card.save()          # -> <results>/02_overfitting.claims.json, returns the DataFrame

``<results>`` is ``$OES_RESULTS_DIR`` when set (``oes book run`` sets it), else
``<root>/book/_results`` where ``<root>`` is the nearest folder above the working
directory that holds ``_toc.yml`` (the repository), else ``./book/_results``.

:func:`collect` reads every ``*.claims.json`` of a results folder into one table and
:func:`write_scorecard_page` renders it as the book's *Reproduction scorecard* page: that
page is generated, never written by hand.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd

__all__ = ["Scorecard", "collect", "write_scorecard_page", "results_dir", "COLUMNS"]

SCHEMA = 1
SUFFIX = ".claims.json"
COLUMNS = ["notebook", "id", "claim", "paper", "value", "preset", "holds", "details"]
_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _find_root(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_toc.yml").is_file():
            return d
    return None


def results_dir(path: str | Path | None = None) -> Path:
    """The folder claims are written to and read from (see the module docstring)."""
    if path is not None:
        return Path(path)
    env = os.environ.get("OES_RESULTS_DIR")
    if env:
        return Path(env)
    root = _find_root()
    return (root if root is not None else Path.cwd()) / "book" / "_results"


def _format_value(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(value)


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Scorecard:
    """The claims of one notebook at one preset.

    :param str notebook: the notebook's name (``"02_overfitting"``), also the file stem.
    :param str preset: the preset this run used (``smoke`` / ``quick`` / ``paper``).
    :param results: folder to write to; default :func:`results_dir`.
    """

    def __init__(self, notebook: str, preset: str, results: str | Path | None = None):
        if not notebook or not _ID.match(notebook):
            raise ValueError(f"notebook name {notebook!r} must be letters, digits, '_', '-' or '.'")
        self.notebook = notebook
        self.preset = str(preset)
        self._results = results
        self._claims: dict[str, dict] = {}

    @property
    def path(self) -> Path:
        return results_dir(self._results) / f"{self.notebook}{SUFFIX}"

    def claim(self, id: str, *, text: str, paper: str, value, holds: bool | None, details: str = "") -> dict:
        """Record (or replace) one claim.

        :param id: a stable key, e.g. ``"f2_sparse_beats_dense"``.
        :param text: the claim in one sentence, as the paper makes it.
        :param paper: where the paper shows it and its number (``"Table 2: 27.45 dB"``).
        :param value: this run's number; numbers are shown with 4 significant digits.
        :param holds: whether this run supports the claim; ``None`` when it could not be tested.
        :param details: optional: how ``holds`` was decided, caveats.
        """
        if not isinstance(id, str) or not _ID.match(id):
            raise ValueError(f"claim id {id!r} must be letters, digits, '_', '-' or '.'")
        if not text or not str(text).strip():
            raise ValueError(f"claim {id!r}: text is empty")
        if holds is not None:
            if not isinstance(holds, (bool, numbers.Integral)) and type(holds).__name__ not in ("bool_", "bool"):
                raise ValueError(f"claim {id!r}: holds must be True, False or None, not {holds!r}")
            holds = bool(holds)
        row = {"id": id, "claim": str(text).strip(), "paper": str(paper).strip(), "value": _format_value(value),
               "holds": holds, "details": str(details or "").strip()}
        self._claims[id] = row
        return row

    def frame(self) -> pd.DataFrame:
        """This notebook's claims as a table (for display in the notebook)."""
        rows = [{"notebook": self.notebook, "preset": self.preset, **r} for r in self._claims.values()]
        return pd.DataFrame(rows, columns=COLUMNS)

    def save(self) -> pd.DataFrame:
        """Write ``<results>/<notebook>.claims.json`` atomically; return :meth:`frame`."""
        from . import __version__

        doc = {"schema": SCHEMA, "notebook": self.notebook, "preset": self.preset, "oes_version": __version__,
               "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "claims": list(self._claims.values())}
        _atomic_write_text(self.path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        return self.frame()


def _read_claims(path: Path) -> list[dict]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a claims file ({e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("claims"), list):
        raise ValueError(f"{path}: not a claims file of schema {SCHEMA}")
    nb = doc.get("notebook") or path.name[: -len(SUFFIX)]
    out = []
    for c in doc["claims"]:
        out.append({"notebook": nb, "id": c.get("id", ""), "claim": c.get("claim", ""), "paper": c.get("paper", ""),
                    "value": c.get("value", ""), "preset": doc.get("preset", ""), "holds": c.get("holds"),
                    "details": c.get("details", "")})
    return out


def collect(results: str | Path | None = None, order: Iterable[str] | None = None) -> pd.DataFrame:
    """All claims of a results folder, one row per claim (columns :data:`COLUMNS`).

    :param order: notebook names; their claims come first, in this order, and the
        claims of notebooks not named are left out. Default: every file, by name.
    """
    folder = results_dir(results)
    files = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    by_name = {f.name[: -len(SUFFIX)]: f for f in files}
    names = list(order) if order is not None else sorted(by_name)
    rows: list[dict] = []
    for n in names:
        if n in by_name:
            rows.extend(_read_claims(by_name[n]))
    return pd.DataFrame(rows, columns=COLUMNS)


def _cell(s) -> str:
    s = "" if s is None else str(s)
    return " ".join(s.split()).replace("|", "\\|")


def _mark(h) -> str:
    if h is None or (isinstance(h, float) and math.isnan(h)):
        return "–"
    return "✓" if bool(h) else "✗"


def render_scorecard(df: pd.DataFrame, link_dir: Path | None = None) -> str:
    """The scorecard page's MyST Markdown for a :func:`collect` table."""
    lines = ["# Reproduction scorecard", "",
             "```{note}",
             "This page is generated by `oes book run` / `oes book build` from the claims that each notebook",
             "saved with `oes.scorecard.Scorecard` (`book/_results/*.claims.json`). Do not edit it by hand.",
             "```", ""]
    if df.empty:
        lines += ["No claims have been recorded yet: run `oes book run --preset quick` first.", ""]
        return "\n".join(lines)
    holds = df["holds"].map(lambda h: None if h is None or (isinstance(h, float) and math.isnan(h)) else bool(h))
    n_true = int(sum(h is True for h in holds))
    n_tested = int(sum(h is not None for h in holds))
    presets = sorted(set(df["preset"].astype(str)))
    lines += [f"**{n_true} of {n_tested} tested claims hold** at preset "
              f"{', '.join(f'`{p}`' for p in presets)}"
              + (f" ({len(df) - n_tested} not tested)" if n_tested < len(df) else "") + ".", ""]
    if any(p != "paper" for p in presets):
        lines += ["Runs at `smoke` exercise the code only: their numbers mean nothing. Runs at `quick` are scaled "
                  "down from the paper (each notebook lists how); only `paper` uses the paper's sizes.", ""]
    has_details = bool(df["details"].astype(str).str.strip().any())
    head = ["Claim", "Paper", "This run", "Preset", "Holds", "Notebook"] + (["Notes"] if has_details else [])
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for (_, r), h in zip(df.iterrows(), holds):
        nb = str(r["notebook"])
        nb_cell = f"[{nb}]({nb}.ipynb)" if link_dir is not None and (link_dir / f"{nb}.ipynb").exists() else f"`{nb}`"
        row = [_cell(r["claim"]), _cell(r["paper"]), _cell(r["value"]), f"`{_cell(r['preset'])}`", _mark(h), nb_cell]
        if has_details:
            row.append(_cell(r["details"]))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return "\n".join(lines)


def write_scorecard_page(path: str | Path, results: str | Path | None = None,
                         order: Iterable[str] | None = None) -> pd.DataFrame:
    """Write the scorecard page (Markdown) at ``path`` from :func:`collect`; return the table.

    Notebook names link to ``<name>.ipynb`` beside ``path`` when that page exists.
    """
    path = Path(path)
    df = collect(results, order)
    _atomic_write_text(path, render_scorecard(df, link_dir=path.parent))
    return df
