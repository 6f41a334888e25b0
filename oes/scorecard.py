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

**Layout: one file per notebook and preset**, ``<results>/NAME.PRESET.claims.json``, so the claims of
several presets (``smoke`` from the tests, ``quick`` for the book, ``paper`` later) live side by side.
Files of the earlier layout, ``NAME.claims.json`` (one preset, named inside the file), are still read;
a per-preset file of the same notebook and preset supersedes one, and ``oes book run`` removes the old
file when it writes the new one (:func:`migrate_legacy`).

:func:`collect` reads every claims file of a results folder into one table;
:func:`write_scorecard_page` renders it as the book's *Reproduction scorecard* page — a
findings × presets grid, one line per finding, then every claim — and writes the same claims as
``<results>/scorecard.csv``; :func:`print_scorecard` prints the summary in a terminal
(``oes scorecard``). The page is generated, never written by hand.
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

__all__ = ["Scorecard", "collect", "write_scorecard_page", "results_dir", "COLUMNS", "claims_file_name", "tally",
           "verdict", "render_scorecard", "render_terminal", "print_scorecard", "migrate_legacy", "PRESET_ORDER",
           "CSV_NAME"]

SCHEMA = 1
SUFFIX = ".claims.json"
COLUMNS = ["notebook", "id", "claim", "paper", "value", "preset", "holds", "details"]
PRESET_ORDER = ("smoke", "quick", "paper")      # grid columns, left to right; other names follow, sorted
CSV_NAME = "scorecard.csv"
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
        return results_dir(self._results) / claims_file_name(self.notebook, self.preset)

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
        """Write ``<results>/<notebook>.<preset>.claims.json`` atomically; return :meth:`frame`."""
        from . import __version__

        doc = {"schema": SCHEMA, "notebook": self.notebook, "preset": self.preset, "oes_version": __version__,
               "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "claims": list(self._claims.values())}
        _atomic_write_text(self.path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        return self.frame()


def claims_file_name(notebook: str, preset: str) -> str:
    """``NAME.PRESET.claims.json``: the file of one notebook's claims at one preset."""
    if not _ID.match(str(preset)):
        raise ValueError(f"preset name {preset!r} must be letters, digits, '_', '-' or '.'")
    return f"{notebook}.{preset}{SUFFIX}"


def _read_doc(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a claims file ({e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("claims"), list):
        raise ValueError(f"{path}: not a claims file of schema {SCHEMA}")
    return doc


def _claim_files(folder: Path) -> dict[tuple[str, str], Path]:
    """``(notebook, preset) → file``; a per-preset file wins over an old ``NAME.claims.json``."""
    chosen: dict[tuple[str, str], Path] = {}
    if not folder.is_dir():
        return chosen
    for f in sorted(folder.glob(f"*{SUFFIX}")):
        doc = _read_doc(f)
        nb = str(doc.get("notebook") or f.name[: -len(SUFFIX)])
        preset = str(doc.get("preset", ""))
        per_preset = f.name == f"{nb}.{preset}{SUFFIX}"
        key = (nb, preset)
        if key not in chosen or per_preset:
            chosen[key] = f
    return chosen


def migrate_legacy(folder: str | Path, notebook: str, preset: str) -> list[Path]:
    """Remove ``NAME.claims.json`` (the one-preset layout) when it holds ``preset``'s claims, which the
    per-preset file now carries. Returns the removed files."""
    old = Path(folder) / f"{notebook}{SUFFIX}"
    if old.is_file():
        try:
            doc = _read_doc(old)
        except ValueError:
            return []
        if str(doc.get("preset", "")) == str(preset):
            old.unlink()
            return [old]
    return []


def _read_claims(path: Path) -> list[dict]:
    doc = _read_doc(path)
    nb = doc.get("notebook") or path.name[: -len(SUFFIX)]
    out = []
    for c in doc["claims"]:
        out.append({"notebook": nb, "id": c.get("id", ""), "claim": c.get("claim", ""), "paper": c.get("paper", ""),
                    "value": c.get("value", ""), "preset": doc.get("preset", ""), "holds": c.get("holds"),
                    "details": c.get("details", "")})
    return out


def _preset_rank(p: str) -> tuple:
    return (PRESET_ORDER.index(p), "") if p in PRESET_ORDER else (len(PRESET_ORDER), p)


def collect(results: str | Path | None = None, order: Iterable[str] | None = None,
            presets: Iterable[str] | None = None) -> pd.DataFrame:
    """All claims of a results folder, one row per claim and preset (columns :data:`COLUMNS`).

    :param order: notebook names; their claims come first, in this order, and the
        claims of notebooks not named are left out. Default: every file, by name.
    :param presets: keep only these presets. Rows of one notebook are ordered by
        :data:`PRESET_ORDER`.
    """
    files = _claim_files(results_dir(results))
    names = list(order) if order is not None else sorted({nb for nb, _ in files})
    wanted = set(presets) if presets is not None else None
    rows: list[dict] = []
    for n in names:
        for (nb, preset) in sorted((k for k in files if k[0] == n), key=lambda k: _preset_rank(k[1])):
            if wanted is None or preset in wanted:
                rows.extend(_read_claims(files[(nb, preset)]))
    return pd.DataFrame(rows, columns=COLUMNS)


def _holds(h) -> bool | None:
    if h is None or (isinstance(h, float) and math.isnan(h)):
        return None
    return bool(h)


def tally(df: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int, int]]:
    """``(notebook, preset) → (held, tested, total)`` in the order of ``df``."""
    out: dict[tuple[str, str], list[int]] = {}
    for nb, preset, h in zip(df["notebook"], df["preset"], df["holds"]):
        t = out.setdefault((str(nb), str(preset)), [0, 0, 0])
        h = _holds(h)
        t[0] += h is True
        t[1] += h is not None
        t[2] += 1
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def verdict(held: int, tested: int) -> str:
    """``✓`` every tested claim holds, ``✗`` none does, ``~`` some do, ``–`` none tested."""
    if tested == 0:
        return "–"
    return "✓" if held == tested else ("✗" if held == 0 else "~")


def _cell(s) -> str:
    s = "" if s is None else str(s)
    return " ".join(s.split()).replace("|", "\\|")


def _mark(h) -> str:
    h = _holds(h)
    return "–" if h is None else ("✓" if h else "✗")


def _presets_of(df: pd.DataFrame) -> list[str]:
    return sorted({str(p) for p in df["preset"]}, key=_preset_rank)


def _short(title: str, nb: str) -> str:
    """The label of a finding in the grid: its chapter number and the part of its title before " — "
    (``"02 Finding 2"``, ``"10 Appendix"``)."""
    head = title.split(" — ")[0].strip() if title else ""
    num = re.match(r"^(\d+)_", nb)
    if not head or len(head) > 24:
        return nb
    return f"{num.group(1)} {head}" if num else head


def _main_preset(presets_present: list[str]) -> str:
    """The preset a finding's one-line summary speaks for: the largest present (paper > quick > smoke)."""
    return sorted(presets_present, key=_preset_rank)[-1]


_COLOURS = {"✓": ("#c8e6c9", "#1b5e20"), "~": ("#ffe0b2", "#7a4100"), "✗": ("#ffcdd2", "#8e0000"),
            "–": ("#eeeeee", "#444444")}
_WORDS = {"✓": "all hold", "~": "some hold", "✗": "none holds", "–": "not tested"}


def _grid_html(df: pd.DataFrame, titles: dict[str, str], link_dir: Path | None) -> list[str]:
    presets = _presets_of(df)
    counts = tally(df)
    nbs = list(dict.fromkeys(str(n) for n in df["notebook"]))
    th = "padding:2px 6px;text-align:center;white-space:nowrap"
    out = ['<table class="oes-grid" style="border-collapse:collapse;margin:0.5em 0 1em 0;font-size:0.9em">',
           "<thead><tr>" + f'<th style="padding:2px 6px;text-align:left">finding</th>'
           + "".join(f'<th style="{th}">{p}{"†" if p == "smoke" else ""}</th>' for p in presets) + "</tr></thead>",
           "<tbody>"]
    for nb in nbs:
        title = titles.get(nb, "")
        label = _short(title, nb)
        if link_dir is not None and (link_dir / f"{nb}.ipynb").exists():
            label = f'<a href="{nb}.html" title="{_html(title or nb)}">{_html(label)}</a>'
        else:
            label = _html(label)
        cells = []
        for p in presets:
            if (nb, p) not in counts:
                cells.append(f'<td style="{th};color:#888">·</td>')
                continue
            held, tested, total = counts[(nb, p)]
            v = verdict(held, tested)
            bg, fg = _COLOURS[v]
            tip = f"{held} of {tested} tested claims hold at {p}" + (f" ({total - tested} not tested)" if total > tested else "")
            cells.append(f'<td style="{th};background:{bg};color:{fg};border:1px solid #fff" title="{tip}">'
                         f"{v} {held}/{tested}</td>")
        out.append(f'<tr><td style="padding:2px 6px;white-space:nowrap">{label}</td>{"".join(cells)}</tr>')
    out += ["</tbody></table>"]
    return out


def _html(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_scorecard(df: pd.DataFrame, link_dir: Path | None = None, titles: dict[str, str] | None = None,
                     csv_link: str | None = None) -> str:
    """The scorecard page's MyST Markdown for a :func:`collect` table: the findings × presets grid,
    one line per finding, then every claim grouped by finding (a column per preset)."""
    titles = dict(titles or {})
    lines = ["# Reproduction scorecard", "",
             "```{note}",
             "This page is generated by `oes book run` / `oes book build` from the claims that each notebook",
             "saved with `oes.scorecard.Scorecard` (`book/_results/NAME.PRESET.claims.json`). Do not edit it by hand.",
             "```", ""]
    if df.empty:
        lines += ["No claims have been recorded yet: run `oes book run --preset quick` first.", ""]
        return "\n".join(lines)
    presets = _presets_of(df)
    counts = tally(df)
    for p in presets:
        sub = [v for (nb, pp), v in counts.items() if pp == p]
        held, tested, total = (sum(v[i] for v in sub) for i in range(3))
        lines.append(f"- At `{p}`: **{held} of {tested} tested claims hold**"
                     + (f" ({total - tested} not tested)" if total > tested else "") + ".")
    lines += ["", "Each cell: claims that hold / claims tested, for one finding at one preset (✓ all hold, "
              "~ some, ✗ none, – none tested; hover for details)."
              + (" † `smoke` runs only exercise the code: their verdicts mean nothing." if "smoke" in presets else "")
              + (" Runs at `quick` are scaled down from the paper (each page lists how); only `paper` uses the "
                 "paper's sizes." if any(p != "paper" for p in presets) else ""), ""]
    lines += _grid_html(df, titles, link_dir) + [""]
    if csv_link:
        lines += [f"All claims as a table: {{download}}`scorecard.csv <{csv_link}>` (one row per claim and preset; "
                  f"`oes scorecard` prints this page in a terminal).", ""]
    lines += ["## One line per finding", ""]
    nbs = list(dict.fromkeys(str(n) for n in df["notebook"]))
    for nb in nbs:
        have = [p for p in presets if (nb, p) in counts]
        main = _main_preset(have)
        held, tested, total = counts[(nb, main)]
        title = titles.get(nb) or nb
        link = f"[{_cell(title)}]({nb}.ipynb)" if link_dir is not None and (link_dir / f"{nb}.ipynb").exists() \
            else _cell(title)
        others = [f"{p} {counts[(nb, p)][0]}/{counts[(nb, p)][1]}" for p in have if p != main]
        lines.append(f"- {verdict(held, tested)} {link}: {held} of {tested} tested claims hold at `{main}`"
                     + (f" ({total - tested} not tested)" if total > tested else "")
                     + (f"; {', '.join(others)}" if others else "") + ".")
    lines += ["", "## Every claim", ""]
    for nb in nbs:
        sub = df[df["notebook"].astype(str) == nb]
        have = [p for p in presets if (nb, p) in counts]
        title = titles.get(nb) or nb
        lines += [f"### {_cell(title)}", ""]
        head = ["Claim", "Paper"] + [f"`{p}`" for p in have]
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
        notes = []
        for cid in dict.fromkeys(sub["id"]):
            rows = sub[sub["id"] == cid]
            first = rows.iloc[-1]
            by_p = {str(r["preset"]): r for _, r in rows.iterrows()}
            cells = [_cell(first["claim"]), _cell(first["paper"])]
            for p in have:
                r = by_p.get(p)
                cells.append(f"{_mark(r['holds'])} {_cell(r['value'])}" if r is not None else "·")
                if r is not None and str(r["details"] or "").strip():
                    notes.append(f"- *{_cell(first['claim'])}* (`{p}`): {_cell(r['details'])}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        if notes:
            lines += ["Notes:", ""] + notes + [""]
    return "\n".join(lines)


def write_scorecard_page(path: str | Path, results: str | Path | None = None,
                         order: Iterable[str] | None = None, titles: dict[str, str] | None = None) -> pd.DataFrame:
    """Write the scorecard page (Markdown) at ``path`` and ``<results>/scorecard.csv`` from
    :func:`collect`; return the table.

    Notebook names link to ``<name>.ipynb`` beside ``path`` when that page exists; the CSV is
    linked from the page (a Sphinx download) when ``results`` lies below the page's folder.
    """
    path = Path(path)
    folder = results_dir(results)
    df = collect(folder, order)
    csv_path = folder / CSV_NAME
    link = None
    if not df.empty:
        _atomic_write_text(csv_path, df.to_csv(index=False))
        try:
            link = csv_path.resolve().relative_to(path.parent.resolve()).as_posix()
        except ValueError:
            link = None
    _atomic_write_text(path, render_scorecard(df, link_dir=path.parent, titles=titles, csv_link=link))
    return df


# ------------------------------------------------------------------ terminal
def render_terminal(df: pd.DataFrame, titles: dict[str, str] | None = None, full: bool = False,
                    width: int = 100) -> str:
    """The summary for a terminal: the grid (one row per finding, one column per preset), one line per
    finding, and with ``full`` every claim."""
    titles = dict(titles or {})
    if df.empty:
        return "no claims recorded yet: run `oes book run --preset quick`, or a notebook by hand with papermill"
    presets = _presets_of(df)
    counts = tally(df)
    nbs = list(dict.fromkeys(str(n) for n in df["notebook"]))
    labels = {nb: _short(titles.get(nb, ""), nb) for nb in nbs}
    lw = max(len("finding"), *(len(v) for v in labels.values()))
    out = ["Reproduction scorecard: claims that hold / claims tested (✓ all, ~ some, ✗ none, – none tested)", ""]
    out.append(f"{'finding':<{lw}}  " + "  ".join(f"{p:>9}" for p in presets))
    for nb in nbs:
        cells = []
        for p in presets:
            if (nb, p) in counts:
                held, tested, _ = counts[(nb, p)]
                cells.append(f"{verdict(held, tested)} {held}/{tested}".rjust(9))
            else:
                cells.append(" " * 8 + "·")
        out.append(f"{labels[nb]:<{lw}}  " + "  ".join(cells))
    totals = []
    for p in presets:
        sub = [v for (nb, pp), v in counts.items() if pp == p]
        totals.append(f"{sum(v[0] for v in sub)}/{sum(v[1] for v in sub)}".rjust(9))
    out.append(f"{'all':<{lw}}  " + "  ".join(totals))
    if "smoke" in presets:
        out.append("(smoke runs only exercise the code: their verdicts mean nothing)")
    out.append("")
    for nb in nbs:
        have = [p for p in presets if (nb, p) in counts]
        main = _main_preset(have)
        held, tested, total = counts[(nb, main)]
        line = f"{verdict(held, tested)} {titles.get(nb) or nb}: {held} of {tested} hold at {main}"
        out.append(line if len(line) <= width else line[: width - 1] + "…")
    if full:
        out.append("")
        for (_, r) in df.iterrows():
            out.append(f"[{r['notebook']} @ {r['preset']}] {_mark(r['holds'])} {_cell(r['claim'])}")
            out.append(f"    paper: {_cell(r['paper'])}; this run: {_cell(r['value'])}"
                       + (f"; {_cell(r['details'])}" if str(r['details'] or '').strip() else ""))
    return "\n".join(out)


def print_scorecard(results: str | Path | None = None, full: bool = False, csv: str | Path | None = None,
                    out=None) -> pd.DataFrame:
    """``oes scorecard``: print :func:`render_terminal` for the claims in ``results``, in the order of
    ``_toc.yml`` and with the notebooks' titles when run inside the repository."""
    import sys

    folder = results_dir(results)
    order, titles = None, {}
    root = _find_root()
    if root is not None:
        try:
            from .book import book_notebooks, notebook_title

            nbs = book_notebooks(root)
            titles = {nb.name: notebook_title(nb) for nb in nbs}
            known = [nb.name for nb in nbs]
            extra = sorted({k[0] for k in _claim_files(folder)} - set(known))
            order = known + extra
        except Exception:        # outside a readable book: plain order, no titles
            order, titles = None, {}
    if results is not None and not Path(results).is_dir():
        raise ValueError(f"--results {str(results)!r} is not a folder")
    df = collect(folder, order)
    print(render_terminal(df, titles, full=full), file=out or sys.stdout)
    if csv is not None:
        _atomic_write_text(Path(csv), df.to_csv(index=False))
        print(f"wrote {csv}", file=out or sys.stdout)
    return df
