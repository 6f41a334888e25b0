r"""Early-stopping points of a DIP run, for the book's early-stopping pages (App. J.3, Fig. 14; ES-WMV).

Dense DIP trained on a noisy y peaks and then fits the noise, so *when to stop* matters.
Two stopping points are used by the book:

* the **oracle** stop t* = argmax_t PSNR(G(θ_t, z), x) — known only with the clean image x.
  :func:`oracle_stop_step` reads it from a stored run; IMP "at early stop" (App. J.3)
  takes its magnitudes there (``MaskSpec(method="imp", params={"stop_step": t*})``), which is
  why such a mask is flagged as an oracle;
* the **ES-WMV** stop (Wang et al. 2021, Algorithm 1), detected from the outputs alone by
  :class:`oes.baselines.ESWMV` (``RunSpec(method="es_wmv")``; its result holds
  ``detected_step`` and ``detected_psnr``).

Nothing here trains a network; these are small readers of stored runs.
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

__all__ = ["oracle_stop_step", "imp_stop_param", "psnr_at_step", "stop_summary"]


def oracle_stop_step(result: Mapping, minimum: int = 1) -> int:
    r"""The step t* at which a run's recorded PSNR against the clean image peaked.

    A history row at step t holds the output of the weights after t Adam updates, so t* is
    also the number of updates to train to reach those weights (the ``stop_step`` of IMP at
    early stop). ``minimum`` keeps it a valid number of steps (t* = 0 would train nothing).

    >>> oracle_stop_step({"best_step": 350, "best_psnr": 27.1})
    350
    >>> oracle_stop_step({"best_step": 0})
    1
    """
    step = result.get("best_step", -1)
    if step is None or int(step) < 0:
        raise ValueError("the run recorded no best step: it was trained without the clean image (x_true)")
    return max(int(minimum), int(step))


def imp_stop_param(stop, dense_result: Mapping | None = None) -> int | str | None:
    r"""The IMP ``stop_step`` parameter for a stopping rule of the book's settings.

    * ``"dense_best"`` — the dense run's oracle stop t* (:func:`oracle_stop_step`), used for
      every IMP round (the paper's "early stopping point is known");
    * ``"best"`` — each IMP round takes its magnitudes at its own best-PSNR step;
    * an int — that step; ``None`` — no early stop (IMP at convergence).

    >>> imp_stop_param("dense_best", {"best_step": 420})
    420
    >>> imp_stop_param("best"), imp_stop_param(None), imp_stop_param(300)
    ('best', None, 300)
    """
    if stop is None or stop == "best":
        return stop
    if stop == "dense_best":
        if dense_result is None:
            raise ValueError("stop 'dense_best' needs the dense run's result")
        return oracle_stop_step(dense_result)
    if isinstance(stop, bool) or not isinstance(stop, int) or stop < 1:
        raise ValueError(f"IMP stop must be None, 'best', 'dense_best' or an int ≥ 1, got {stop!r}")
    return stop


def psnr_at_step(history: pd.DataFrame, step: int, column: str = "psnr") -> float:
    r"""The PSNR recorded at the last history row at or before ``step`` (NaN if none).

    >>> h = pd.DataFrame({"step": [0, 10, 20], "psnr": [10.0, 20.0, 18.0]})
    >>> psnr_at_step(h, 15), psnr_at_step(h, 20)
    (20.0, 18.0)
    """
    if step is None or step < 0 or column not in history:
        return float("nan")
    rows = history[history["step"] <= step].dropna(subset=[column])
    return float(rows[column].iloc[-1]) if len(rows) else float("nan")


def stop_summary(dense_result: Mapping, es_result: Mapping, sparse_result: Mapping) -> dict:
    r"""One row comparing stopping points: dense DIP at the oracle stop, at the ES-WMV stop and at
    the end, against Sparse-DIP at the end (no stopping).

    ``es_result`` is the result of an ``es_wmv`` run (``detected_step`` −1 when ES-WMV did not
    fire within the steps); its PSNR is then NaN.

    >>> s = stop_summary({"best_step": 300, "best_psnr": 28.0, "final_psnr": 22.0, "steps": 2000},
    ...                  {"detected_step": 350, "detected_psnr": 27.5},
    ...                  {"final_psnr": 27.8})
    >>> s["ES-WMV − oracle (dB)"], s["Sparse-DIP final − ES-WMV (dB)"]
    (-0.5, 0.3)
    """
    detected = int(es_result.get("detected_step", -1))
    es_psnr = float(es_result.get("detected_psnr", float("nan"))) if detected >= 0 else float("nan")
    out = {"dense oracle stop": int(dense_result.get("best_step", -1)),
           "dense PSNR at oracle stop": float(dense_result.get("best_psnr", float("nan"))),
           "ES-WMV stop": detected,
           "dense PSNR at ES-WMV stop": es_psnr,
           "dense final PSNR": float(dense_result.get("final_psnr", float("nan"))),
           "Sparse-DIP final PSNR": float(sparse_result.get("final_psnr", float("nan")))}
    out["ES-WMV − oracle (dB)"] = _round(es_psnr - out["dense PSNR at oracle stop"])
    out["Sparse-DIP final − ES-WMV (dB)"] = _round(out["Sparse-DIP final PSNR"] - es_psnr)
    return out


def _round(v: float) -> float:
    return v if math.isnan(v) else round(v, 6)
