r"""Helpers of the book's comparison chapters: Finding 3 (§4.3, Fig 7, Table 4) and Finding 4
(§4.4, Fig 8, Figs 13/20, Tables 5/6).

Nothing here trains: the notebooks declare their grids of runs with :mod:`oes.presets` and
:func:`oes.experiments.execute`; this module only

* builds the IMP mask spec both chapters use (:func:`imp_mask_spec`), so chapter 04's
  transferred IMP mask *is* chapter 03's IMP mask (same spec, same stored run);
* lays out tables as the paper does: mean ± std over seeds (:func:`mean_std`), Table 4's
  column groups PAI | PAT | Ours (:func:`table4`);
* measures overfitting without early stopping (:func:`overfit`: best − final PSNR);
* lists layer collapse per mask (:func:`collapse_table`);
* classifies a transfer as self / inter- / cross-dataset masking (:func:`transfer_kind`) and
  averages PSNR per kind, paired by target (:func:`kind_means`);
* draws the grey per-round IMP curves of Fig 7 (:func:`plot_imp_rounds`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from .masks import Mask
from .metrics import psnr

__all__ = ["KINDS", "imp_label", "imp_mask_spec", "mean_std", "paired_gap", "gap_text", "gap_exceeds", "gap_within",
           "table4", "overfit", "restores", "collapse_table",
           "group_of",
           "transfer_kind", "kind_means", "self_label", "plot_imp_rounds"]

#: the three transfer settings of §4.4, in the order the paper ranks them
KINDS = ("self", "inter", "cross")


# ---------------------------------------------------------------------------- IMP
def imp_label(keep_per_round: float, rounds: int) -> str:
    """Table 4's name of an IMP schedule: ``imp_label(0.8, 14) == "IMP-(0.8)^14"``."""
    return f"IMP-({keep_per_round:g})^{int(rounds)}"


def imp_mask_spec(preset, image: str, seed: int, density: float, keep_per_round: float, rounds: int,
                  train_steps: int, target: str = "noisy"):
    """The IMP :class:`~oes.experiments.MaskSpec` of chapters 03 and 04 (one function, so their specs match).

    IMP with rewinding to θ_in (``rewind_step = 0``): each round trains ``train_steps`` Adam steps at
    the preset's learning rate, prunes by magnitude among the surviving weights (global ranking)
    and rewinds; the last round lands exactly on ``density`` (:func:`oes.imp.imp_densities`).
    Rewinding to θ_in means a ``sparse`` run with this mask and the same seed trains θ_in ∘ m,
    exactly the subnetwork IMP returns.
    """
    return preset.mask_spec(image, seed, method="imp", target=target, sparsity=float(density),
                            keep_per_round=float(keep_per_round), rounds=int(rounds), train_steps=int(train_steps),
                            lr=float(preset.fit.lr))


# ---------------------------------------------------------------------------- tables
def mean_std(df: pd.DataFrame, index: str, columns: str, value: str = "final_psnr",
             order: Sequence[str] | None = None, fmt: str = "{:.2f}") -> pd.DataFrame:
    """``index × columns`` table of "mean ± std" strings of ``value`` over the remaining rows (seeds).

    The std is the population std (ddof = 0, so one seed shows ± 0.00, as in chapter 02).
    ``order`` fixes the column order (columns absent from ``df`` are skipped).
    """
    g = df.groupby([index, columns], sort=False)[value]
    m, s = g.mean(), g.std(ddof=0).fillna(0.0)
    out = (m.map(fmt.format) + " ± " + s.map(fmt.format)).unstack(columns)
    if order is not None:
        out = out[[c for c in order if c in out.columns]]
    out.index.name, out.columns.name = index, None
    return out


def paired_gap(df: pd.DataFrame, a, b, value: str = "final_psnr", column: str = "method",
               pair: Sequence[str] = ("image", "seed")) -> dict:
    r"""Is ``a`` above ``b`` *beyond the spread*? The book's rule for every claim that compares methods.

    Rows of ``df`` with ``column == a`` and ``column == b`` are paired on ``pair`` (same image and seed:
    same noise draw and θ_in); d = value(a) − value(b) per pair. Returns ``n`` (pairs), ``mean``,
    ``std`` (sample std, ddof = 1; 0 for one pair), ``min``, ``max``, the means of ``a`` and ``b``,
    ``holds`` = mean(d) > std(d) with at least 3 pairs (the gap is larger than its own spread: with
    3 pairs about a one-sided 10 % test), and ``text``, e.g. "+1.20 ± 0.40 dB over 6 pairs".
    ``a``/``b`` may be lists of labels (their rows are averaged per pair first).
    """
    def side(labels):
        labels = [labels] if isinstance(labels, str) else list(labels)
        sub = df[df[column].isin(labels)]
        return sub.groupby(list(pair))[value].mean()

    va, vb = side(a), side(b)
    d = (va - vb).dropna()
    n = int(len(d))
    mean = float(d.mean()) if n else float("nan")
    std = float(d.std(ddof=1)) if n > 1 else 0.0
    holds = bool(n >= 3 and mean > std)
    text = f"{mean:+.2f} ± {std:.2f} dB over {n} pair{'s' if n != 1 else ''}"
    if n and not holds:
        text += " (fewer than 3 pairs)" if n < 3 else (" (within the spread)" if mean > 0 else "")
    return {"n": n, "mean": mean, "std": std, "min": float(d.min()) if n else float("nan"),
            "max": float(d.max()) if n else float("nan"), "a": float(va.loc[d.index].mean()) if n else float("nan"),
            "b": float(vb.loc[d.index].mean()) if n else float("nan"), "holds": holds, "text": text}


def gap_text(gap: Mapping, unit: str = "dB") -> str:
    """A paired gap as "+1.20 ± 0.40 dB over 6 pairs" (mean ± sample std), without a verdict."""
    n = gap["n"]
    return f"{gap['mean']:+.2f} ± {gap['std']:.2f} {unit} over {n} pair{'s' if n != 1 else ''}"


def gap_exceeds(gap: Mapping, threshold: float = 0.0) -> bool:
    r"""The book's rule against a threshold: mean(d) − threshold > std(d) over ≥ 3 pairs.

    ``threshold = 0`` is :func:`paired_gap`'s ``holds`` ("a beats b beyond the spread");
    ``threshold = −1`` reads "a is no more than 1 dB below b, beyond the spread".

    >>> gap_exceeds({"n": 3, "mean": -0.5, "std": 0.3}, -1.0), gap_exceeds({"n": 3, "mean": -0.5, "std": 0.6}, -1.0)
    (True, False)
    >>> gap_exceeds({"n": 2, "mean": 5.0, "std": 0.1})
    False
    """
    return bool(gap["n"] >= 3 and gap["mean"] - threshold > gap["std"])


def gap_within(gap: Mapping, tol: float) -> bool:
    r"""Equivalence by the same rule: |mean(d)| + std(d) < ``tol`` over ≥ 3 pairs (a and b agree within
    ``tol`` beyond the spread — a gap that is small only on average does not count).

    >>> gap_within({"n": 3, "mean": 0.1, "std": 0.2}, 0.5), gap_within({"n": 3, "mean": 0.1, "std": 0.5}, 0.5)
    (True, False)
    """
    return bool(gap["n"] >= 3 and abs(gap["mean"]) + gap["std"] < tol)


def table4(df: pd.DataFrame, groups: Mapping[str, Sequence[str]], column: str = "mask",
           value: str = "final_psnr", index: str = "image") -> pd.DataFrame:
    """Table 4's layout: one row per image, columns grouped as ``groups`` (e.g. ``{"PAI": [...],
    "PAT": [...], "Ours (PAI)": ["OES"]}``), cells "mean ± std" of ``value`` over seeds.

    Methods named in ``groups`` but absent from ``df`` are left out; a group left empty is dropped.
    """
    flat = mean_std(df, index, column, value)
    cols = [(g, m) for g, ms in groups.items() for m in ms if m in flat.columns]
    out = flat[[m for _, m in cols]]
    out.columns = pd.MultiIndex.from_tuples(cols)
    return out


def overfit(df: pd.DataFrame) -> pd.Series:
    """Overfitting without early stopping: best − final PSNR (dB) of each run (≥ 0)."""
    return df["best_psnr"] - df["final_psnr"]


def restores(record) -> bool:
    """Whether a run restores its image at all: its best PSNR is above its measurement's (the noisy
    input y against the clean x). "It does not overfit" means something only for such a run: a
    severed mask's near-constant output cannot overfit and must not count as evidence."""
    prob = record.spec.problem()
    return bool(record.result["best_psnr"] > psnr(prob.y, prob.x))


def collapse_table(masks: Mapping[str, Mask]) -> pd.DataFrame:
    """One row per mask: density, weights kept, and the weight tensors it prunes entirely (*layer
    collapse*, §4.3 — :meth:`oes.masks.Mask.collapsed`)."""
    rows = []
    for label, m in masks.items():
        col = m.collapsed()
        rows.append({"mask": label, "density": m.density, "kept": m.n_kept, "collapsed tensors": len(col),
                     "layer collapse": bool(col),
                     "collapsed": ", ".join(col[:4]) + (f", … (+{len(col) - 4})" if len(col) > 4 else "")})
    return pd.DataFrame(rows).set_index("mask")


# ---------------------------------------------------------------------------- transfer (Finding 4)
def group_of(image: str, groups: Mapping[str, Sequence[str]]) -> str:
    """The name of the one group (stand-in "dataset") that holds ``image``."""
    hits = [g for g, ims in groups.items() if image in ims]
    if len(hits) != 1:
        where = "no group" if not hits else f"several groups ({', '.join(hits)})"
        raise ValueError(f"image {image!r} is in {where}; each image must belong to exactly one of "
                         f"{', '.join(groups)}")
    return hits[0]


def transfer_kind(source: str, target: str, groups: Mapping[str, Sequence[str]]) -> str:
    """§4.4's three settings: ``"self"`` (y_source = y_target), ``"inter"`` (another image of the same
    dataset) or ``"cross"`` (an image of the other dataset)."""
    if source == target:
        return "self"
    return "inter" if group_of(source, groups) == group_of(target, groups) else "cross"


def kind_means(df: pd.DataFrame, value: str = "final_psnr", paired: bool = True) -> pd.DataFrame:
    """Mean ``value`` per target (rows) and transfer kind (columns ``self, inter, cross``), averaged
    over sources and seeds; ``df`` needs columns ``target``, ``kind`` and ``value``.

    ``paired=True`` keeps only the targets that have all three kinds, so the kinds are compared on
    the same targets (a kind's mean is then not confounded by which targets it was measured on).
    """
    t = df.groupby(["target", "kind"])[value].mean().unstack("kind")
    t = t.reindex(columns=[k for k in KINDS if k in t.columns])
    if paired:
        t = t.dropna() if set(KINDS) <= set(t.columns) else t.iloc[0:0]
    return t


def self_label(target: str, source: str) -> str:
    """Row label of Tables 5/6: the source's own row is marked ``(self)``."""
    return f"{target} (self)" if target == source else target


# ---------------------------------------------------------------------------- figures
def plot_imp_rounds(rounds: pd.DataFrame, ax=None, column: str = "psnr", label: str = "IMP round"):
    """Fig 7's grey curves: PSNR vs step of every IMP round (``rounds.csv`` of an IMP mask: columns
    ``round, density, step, psnr``), darker for later rounds; the legend names first and last."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    rs = sorted(rounds["round"].unique())
    n = len(rs)
    for i, r in enumerate(rs):
        h = rounds[rounds["round"] == r]
        shade = 0.3 + 0.6 * (i / (n - 1) if n > 1 else 1.0)
        lab = f"{label} {r} ({h['density'].iloc[0]:.1%} kept)" if i in (0, n - 1) else None
        ax.plot(h["step"], h[column], color=plt.cm.Greys(shade), lw=0.9, label=lab)
    ax.set_xlabel("iteration")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    return ax
