r"""Measures for the sensitivity study of OES (Appendices G, H.1, I, J; book chapter 10).

* :func:`lambda_grid` — a λ sweep as decades around a centre value (the paper sweeps
  1e-3 … 1e-13 around its λ = 1e-9, App. G, Fig 18).
* :func:`lambda_by_size` — the 1/d rule that carries the paper's λ to a network of another
  size: the data term of eq. 2 is a mean over pixels, the regulariser a *sum* over the d
  masked parameters, so λ·Σ_i KL_i keeps its share of the loss when λ ∝ 1/d.
* :func:`p_bimodality` — is the histogram of p = sigmoid(v) bimodal in the sense of Fig 18
  (most weights at the prior p0, a separate mode at p ≈ 1, an empty valley between)?
* :func:`conv_layer_density` — the layer-wise kept fraction of the conv weights (Fig 27).
* :func:`masked_image` — G(θ_in ∘ m, z) for a mask spec's own generator and seed (Fig 18's
  images, Fig 29's "image representation"); :func:`mask_summary` puts these together per mask.

Nothing here trains a network; the runs come from :mod:`oes.experiments`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .generators import build_generator, make_input
from .learn import masked_output
from .masks import Mask

__all__ = ["PAPER_N_PARAMS", "PAPER_LAMBDA", "lambda_grid", "lambda_by_size", "p_bimodality",
           "conv_layer_density", "masked_image", "mask_summary"]

PAPER_N_PARAMS = 3_008_867   # the paper's 6-level hourglass (App. G: "3 million parameters")
PAPER_LAMBDA = 1e-9          # the paper's λ for that network (App. G.1)


def lambda_grid(center: float, decades: Sequence[float]) -> list[float]:
    """λ = center · 10^k for each k in ``decades``, rounded to 6 significant digits.

    Rounding keeps ``center · 10^0 == center`` and gives clean values (1e-3, not
    0.0010000000000000002), so mask specs built from the grid hash stably.

    >>> lambda_grid(1e-9, [6, 3, 0, -4])
    [0.001, 1e-06, 1e-09, 1e-13]
    """
    if not center > 0:
        raise ValueError(f"the centre of a λ grid must be > 0, got {center}")
    return [float(f"{center * 10.0 ** k:.6g}") for k in decades]


def lambda_by_size(n_params: int, lam_ref: float = PAPER_LAMBDA, n_ref: int = PAPER_N_PARAMS) -> float:
    r"""λ for a network of ``n_params`` masked parameters by the 1/d rule: λ = λ_ref · d_ref / d.

    Eq. 2's data term is a mean squared residual (independent of d) while the regulariser is
    summed over the d parameters; at initialisation (p = 1/2 everywhere) the penalty is
    λ·d·KL(Ber(1/2) ‖ Ber(p0)), so keeping it fixed needs λ ∝ 1/d.

    >>> lambda_by_size(PAPER_N_PARAMS)
    1e-09
    """
    if n_params <= 0:
        raise ValueError(f"n_params must be > 0, got {n_params}")
    return float(f"{lam_ref * n_ref / n_params:.6g}")


def p_bimodality(p: torch.Tensor | np.ndarray, p0: float, *, near: float = 0.1, high: float = 0.9,
                 min_high: float = 1e-3, bins: int = 20, valley_ratio: float = 0.5) -> dict:
    r"""Describe the histogram of p and decide whether it is bimodal as in Fig 18 (λ = 1e-9).

    The paper's description of a good p: "most of the distribution is centered around p0 with
    some values at 1" and "a clear distinction between the important and non-important
    parameters" (App. G, H.1).  Three conditions, all required:

    1. **mode at the prior**: at least half of the weights have ``|p − p0| < near``;
    2. **mode at one**: at least ``min_high`` of the weights have ``p > high``;
    3. **a valley between**: on a ``bins``-bin histogram of [0, 1], some bin lying wholly in
       (p0 + near, high) holds at most ``valley_ratio`` × the mean count of the bins above ``high``.

    p collapsed onto p0 (λ too large) fails 2; p left spread around 1/2 (λ too small) fails 1.

    :returns: dict with ``near_p0``, ``high`` (fractions), ``valley`` (emptiest gap bin ÷ mean
        top bin, ``nan`` without a gap or a top mode), ``mean_p``, ``median_p`` and ``bimodal``.
    """
    p = torch.as_tensor(p).detach().double().flatten().cpu()
    if p.numel() == 0:
        raise ValueError("p is empty")
    frac_near = float(((p - p0).abs() < near).double().mean())
    frac_high = float((p > high).double().mean())
    counts = torch.histc(p, bins=bins, min=0.0, max=1.0)
    edges = torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64)
    lo, hi = edges[:-1], edges[1:]
    gap = (lo >= p0 + near - 1e-12) & (hi <= high + 1e-12)
    top = lo >= high - 1e-12
    top_mean = float(counts[top].mean()) if bool(top.any()) else 0.0
    if bool(gap.any()) and top_mean > 0:
        valley = float(counts[gap].min()) / top_mean
    else:
        valley = math.nan
    bimodal = (frac_near >= 0.5 and frac_high >= min_high and not math.isnan(valley) and valley <= valley_ratio)
    return {"near_p0": frac_near, "high": frac_high, "valley": valley, "mean_p": float(p.mean()),
            "median_p": float(p.median()), "bimodal": bool(bimodal)}


def conv_layer_density(mask: Mask) -> pd.Series:
    """Kept fraction of each conv weight tensor (4-D), in network order (Fig 27's layer-wise view)."""
    return pd.Series({n: float(t.float().mean()) for n, t in mask.items() if t.dim() == 4}, dtype=float)


def masked_image(spec, mask: Mask) -> torch.Tensor:
    """G(θ_in ∘ m, z) with θ_in and z drawn from ``spec``'s generator config and seed — the
    weights the mask was learned on (a :class:`~oes.experiments.MaskSpec`)."""
    net = build_generator(spec.generator, spec.seed)
    z = make_input(spec.generator, spec.size, spec.seed)
    return masked_output(net, z, mask)


def mask_summary(spec, root=None) -> dict:
    """One row describing a stored mask (built if missing): kept / total weights, collapsed weight
    tensors, dead-path ``waste`` (:func:`oes.analysis.dead_paths`; 1.0 = severed, the network outputs a
    constant), PSNR of G(θ_in ∘ m, z) against the clean image, and — for OES masks — whether mask
    learning ``converged`` by the stopping rule (``docs/calibration.md`` §1, §13), its ``steps_run``
    and ``above_half`` (#{p > 1/2}/k), and the :func:`p_bimodality` measures of p = sigmoid(v) against
    the spec's prior p0 (or s/d when p0 is not set) and the final ``mean_p`` of the mask-learning history."""
    from .analysis import dead_paths
    from .metrics import psnr
    from .experiments import mask_record

    rec = mask_record(spec, root)
    mask = rec["mask"]
    row = {"kept": mask.n_kept, "total": mask.n_total, "collapsed": len(mask.collapsed()),
           "waste": float(dead_paths(mask, spec.generator)["waste"]),
           "masked PSNR": psnr(masked_image(spec, mask), spec.problem().x)}
    if spec.method == "oes":
        row.update(converged=bool(mask.meta.get("converged")), steps_run=mask.meta.get("steps_run"),
                   above_half=mask.meta.get("above_half"))
    if rec["logits"] is not None:
        p0 = spec.params.get("prior") or spec.params.get("sparsity")
        row.update(p_bimodality(torch.sigmoid(rec["logits"].float()), p0))
    return row
