r"""Iterative magnitude pruning with rewinding — the Lottery-Ticket baseline (§3.1, §4.3, Table 4, App. E, J.3).

Frankle & Carbin (2018, "The lottery ticket hypothesis", Algorithm: identifying winning tickets,
§2) with weight rewinding (Frankle, Dziugaite, Roy & Carbin 2019, "Stabilizing the lottery
ticket hypothesis" / "Linear mode connectivity and the LTH", §3: rewind to iteration k):

1. θ ← θ_in, m ← 1.
2. Round r = 1..R: train G(θ ∘ m, z) on y for ``train_steps`` steps with :func:`oes.fit.fit`
   (the same loop as every other run; history recorded); among the weights still alive, keep
   the n_keep(d_r, d) largest |θ_trained| (global by default) — pruned weights never come back;
   rewind the survivors to θ_k, their values after ``rewind_step`` = k steps of the first
   (dense) round (k = 0: θ_in, the original LTH).  With k > 0, later rounds train the
   remaining ``train_steps − k`` steps (a fresh Adam state).
3. The result is m after round R and θ_k ∘ m (``IMPResult.net``).

Densities: the paper's schedules ``IMP-(0.8)^14`` and ``IMP-(0.2)^3`` keep 80 % / 20 % of the
remaining weights per round (App. B).  :func:`imp_densities` turns ``(keep_per_round, rounds,
sparsity)`` into the density after each round; when ``sparsity`` is given the last round lands
exactly on it (0.8^13 = 5.5 % → 5 %), earlier rounds are clipped at it and rounds that would
prune nothing are dropped (0.2^3 at 5 %: 20 %, 5 % — two rounds), as recorded in the mask's
meta (``densities``, ``rounds_run``).

Variants that use information a real user lacks (``meta["oracle"] = True``):

* *IMP at early stop* (App. J.3, Fig. 14): magnitudes taken at ``stop_step`` instead of at the
  end of training (an integer: rounds train ``stop_step`` steps; ``"best"``: the recorded step
  with the best PSNR against the clean image, each round);
* *oracle target* (App. E, Table 6): train on the clean image (``MaskSpec.target="clean"``
  makes ``MaskSpec.problem()`` return y = A x).
"""
from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from .fit import FitConfig, fit
from .learn import n_keep
from .masks import Mask, maskable_names
from .operators import Operator

__all__ = ["IMPResult", "imp_densities", "parse_schedule", "iterative_magnitude_pruning", "PAPER_SCHEDULES",
           "imp_builder"]

#: the two schedules of Table 4: (keep per round, rounds)
PAPER_SCHEDULES = {"0.8^14": (0.8, 14), "0.2^3": (0.2, 3)}


def parse_schedule(text: str) -> tuple[float, int]:
    """``"0.8^14"`` → (0.8, 14): keep 80 % of the remaining weights in each of 14 rounds."""
    m = re.fullmatch(r"\s*\(?\s*([0-9]*\.?[0-9]+)\s*\)?\s*(?:\^|\*\*)\s*([0-9]+)\s*", str(text))
    if not m:
        raise ValueError(f"IMP schedule {text!r} should look like KEEP^ROUNDS, e.g. 0.8^14 or 0.2^3")
    keep, rounds = float(m.group(1)), int(m.group(2))
    if not 0 < keep < 1 or rounds < 1:
        raise ValueError(f"IMP schedule {text!r}: keep per round must be in (0, 1) and rounds ≥ 1")
    return keep, rounds


def imp_densities(rounds: int, keep_per_round: float | None = None, sparsity: float | None = None) -> list[float]:
    """Density (fraction kept) after each IMP round.

    * only ``keep_per_round`` = p: p, p², …, p^R (the schedule's own final density);
    * only ``sparsity`` = s: s^(1/R), s^(2/R), …, s (geometric, exact);
    * both: max(p^r, s) for r < R, then s — consecutive repeats dropped, so the list may be
      shorter than R when the schedule passes s early.
    """
    rounds = int(rounds)
    if rounds < 1:
        raise ValueError(f"IMP needs at least 1 round, got {rounds}")
    if sparsity is not None and not 0 < sparsity <= 1:
        raise ValueError(f"sparsity (fraction of parameters KEPT) must be in (0, 1], got {sparsity}")
    if keep_per_round is None:
        if sparsity is None:
            raise ValueError("give keep_per_round, sparsity or both")
        return [sparsity ** (r / rounds) if r < rounds else float(sparsity) for r in range(1, rounds + 1)]
    if not 0 < keep_per_round < 1:
        raise ValueError(f"keep_per_round must be in (0, 1), got {keep_per_round}")
    geo = [keep_per_round ** r for r in range(1, rounds + 1)]
    if sparsity is None:
        return geo
    out: list[float] = []
    for dens in [max(g, sparsity) for g in geo[:-1]] + [float(sparsity)]:
        if not out or dens < out[-1]:
            out.append(dens)
    return out


@dataclass
class IMPResult:
    mask: Mask                     # the final mask (density = the last of ``densities``)
    masks: list[Mask]              # the mask after each round (nested)
    rounds: pd.DataFrame           # every round's fit history, with columns round, density (+ step, loss, psnr)
    summary: pd.DataFrame          # one row per round
    net: nn.Module                 # θ_rewind ∘ m: the rewound sparse network, ready for the final training
    rewind_state: dict             # state_dict rewound to (θ_in for rewind_step = 0)
    densities: list[float]
    seconds: float
    meta: dict = field(default_factory=dict)


class _Snapshot:
    """fit callback: copy the network's state after ``after_steps`` optimiser steps, or at the best PSNR."""

    def __init__(self, after_steps: int | None = None, best: bool = False):
        self.after_steps, self.best = after_steps, best
        self.state: dict | None = None
        self.step: int | None = None
        self._best = float("-inf")

    def on_step(self, state):
        if self.after_steps is not None and state.step + 1 == self.after_steps:
            self.state = _clone_state(state.net, state.mask)
            self.step = self.after_steps

    def on_record(self, state, row):
        # before this step's update: the weights that produced row["psnr"]
        if self.best and row.get("psnr", float("-inf")) > self._best:
            self._best = row["psnr"]
            self.state = _clone_state(state.net, state.mask)
            self.step = state.step


def _clone_state(net: nn.Module, mask: Mask | None) -> dict:
    sd = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if mask is not None:  # on_step runs before fit re-applies the mask
        for n, m in mask.items():
            sd[n].mul_(m.to(sd[n].device, sd[n].dtype))
    return sd


def iterative_magnitude_pruning(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None,
                                *, sparsity: float | None = 0.05, rounds: int = 14,
                                keep_per_round: float | None = 0.8, train_steps: int = 40_000, lr: float = 1e-2,
                                rewind_step: int = 0, stop_step: int | str | None = None, scope: str = "global",
                                maskable: str = "all", record_every: int | None = None,
                                x_true: torch.Tensor | None = None, seed: int = 0, progress: bool | None = None,
                                target: str = "noisy", meta: dict | None = None,
                                to_image=None) -> IMPResult:
    r"""IMP with rewinding (see the module docstring); ``net`` holds θ_in and is not modified.

    :param train_steps: Adam steps per round (paper: to convergence, 40 k).
    :param rewind_step: k — survivors are reset to their value after k steps of round 1 (0 = θ_in).
    :param stop_step: *IMP at early stop* (oracle): an int s (each round trains s steps and
        prunes by the magnitudes there) or ``"best"`` (magnitudes at the best-PSNR recorded step;
        needs ``x_true``).
    :param scope: ``"global"`` (Frankle & Carbin's choice for deep conv nets) or ``"local"``.
    :param x_true: clean image, to record PSNR (and for ``stop_step="best"``) only.
    :param target: ``"clean"`` marks that ``y`` is the clean image (oracle), for the meta only.
    """
    from .pruners import check_sparsity, select

    if sparsity is not None:
        check_sparsity(sparsity)
    densities = imp_densities(rounds, keep_per_round, sparsity)
    if stop_step == "best":
        if x_true is None:
            raise ValueError("stop_step='best' picks the best-PSNR step and needs the clean image (x_true)")
        steps = int(train_steps)
    elif stop_step is not None:
        steps = int(stop_step)
        if not 0 < steps <= train_steps:
            raise ValueError(f"stop_step must be in [1, train_steps={train_steps}], got {stop_step}")
    else:
        steps = int(train_steps)
    if steps < 1:
        raise ValueError(f"train_steps must be ≥ 1, got {train_steps}")
    rewind_step = int(rewind_step)
    if not 0 <= rewind_step < steps:
        raise ValueError(f"rewind_step must be in [0, {steps}) (the steps trained per round), got {rewind_step}")
    record_every = int(record_every or max(1, steps // 100))

    work = copy.deepcopy(net)
    names = maskable_names(work, maskable)
    d = sum(dict(work.named_parameters())[n].numel() for n in names)
    theta_in = {k: v.detach().clone() for k, v in work.state_dict().items()}
    rewind_state = theta_in if rewind_step == 0 else None
    mask: Mask | None = None
    masks: list[Mask] = []
    histories, summary = [], []
    t0 = time.perf_counter()
    for r, dens in enumerate(densities, start=1):
        snap = _Snapshot(after_steps=rewind_step if (r == 1 and rewind_step) else None)
        mag = _Snapshot(best=True) if stop_step == "best" else None
        round_steps = steps if (r == 1 or rewind_step == 0) else steps - rewind_step
        cfg = FitConfig(steps=round_steps, lr=lr, record_every=record_every, keep_best=False)
        tr = time.perf_counter()
        res = fit(work, z, y, operator, cfg=cfg, mask=mask, x_true=x_true, to_image=to_image,
                  callbacks=[c for c in (snap, mag) if c is not None], seed=seed, progress=progress,
                  desc=f"IMP round {r}/{len(densities)}")
        if r == 1 and rewind_step:
            rewind_state = snap.state
        trained = mag.state if mag is not None else {k: v.detach() for k, v in work.state_dict().items()}
        alive = None if mask is None else dict(mask)
        scores = {n: trained[n].abs().double() for n in names}
        new = select(scores, dens, scope, alive=alive)
        h = res.history.copy()
        offset = rewind_step if (r > 1 and rewind_step) else 0
        h["step"] = h["step"] + offset
        h.insert(0, "round", r)
        h.insert(1, "density", 1.0 if mask is None else mask.density)
        histories.append(h)
        summary.append({"round": r, "density_trained": 1.0 if mask is None else mask.density,
                        "density_after": new.density, "n_kept": new.n_kept, "steps": res.steps,
                        "final_psnr": res.final_psnr, "best_psnr": res.best_psnr,
                        "best_step": res.best_step + offset if res.best_step >= 0 else -1,
                        "magnitude_step": (mag.step + offset) if mag is not None else offset + res.steps,
                        "final_loss": float(res.history["loss"].iloc[-1]), "collapsed": len(new.collapsed()),
                        "seconds": time.perf_counter() - tr})
        mask = new
        masks.append(new)
        work.load_state_dict(rewind_state)
    mask.apply_(work)
    seconds = time.perf_counter() - t0
    oracle_reasons = []
    if stop_step is not None:
        oracle_reasons.append(f"magnitudes at the early-stopping step ({stop_step}), known only from the clean image")
    if target == "clean":
        oracle_reasons.append("trained on the clean image")
    from . import __version__
    info = {"method": "imp", "sparsity": densities[-1], "requested_sparsity": sparsity, "scope": scope,
            "maskable": maskable, "seed": int(seed), "rounds": int(rounds), "rounds_run": len(densities),
            "keep_per_round": keep_per_round, "densities": densities, "train_steps": int(train_steps),
            "rewind_step": rewind_step, "stop_step": stop_step, "lr": lr, "record_every": record_every,
            "n_target": n_keep(densities[-1], d), "oracle": bool(oracle_reasons),
            "operator": (operator or Operator()).describe(), "version": __version__}
    if oracle_reasons:
        info["oracle_reason"] = "; ".join(oracle_reasons)
    info.update(meta or {})
    final = Mask(dict(mask), info)
    return IMPResult(mask=final, masks=masks, rounds=pd.concat(histories, ignore_index=True),
                     summary=pd.DataFrame(summary), net=work, rewind_state=rewind_state, densities=densities,
                     seconds=seconds, meta=info)


# ---------------------------------------------------------------------------- method table (oes.experiments)
_IMP_PARAMS = ("sparsity", "rounds", "keep_per_round", "schedule", "train_steps", "rewind_step", "stop_step", "lr",
               "scope", "maskable", "record_every")


def imp_builder(spec, net, z, problem, progress, deps=None):
    """MASK_METHODS["imp"]: params sparsity (0.05), rounds (14), keep_per_round (0.8) or schedule
    ("0.8^14"), train_steps (40000), rewind_step (0), stop_step (None | int | "best" | "dense_best"),
    lr (1e-2), scope, maskable, record_every.

    ``stop_step="dense_best"`` (IMP at dense DIP's early stop, App. J.3) reads the oracle stop t*
    of the run ``spec.source_run`` (a dense run, stored first by the executors and handed in as
    ``deps["source_run"]``; :func:`oes.early_stop.imp_stop_param`); the mask's meta records the
    step used as ``stop_step`` and the rule as ``stop_rule``.
    """
    from .early_stop import imp_stop_param

    p = dict(spec.params)
    unknown = set(p) - set(_IMP_PARAMS)
    if unknown:
        raise ValueError(f"unknown imp parameters: {', '.join(sorted(unknown))}; known: {', '.join(_IMP_PARAMS)}")
    keep, rounds = p.get("keep_per_round", 0.8), p.get("rounds", 14)
    if "schedule" in p:
        keep, rounds = parse_schedule(p["schedule"])
        rounds = p.get("rounds", rounds)
    stop = p.get("stop_step")
    if stop == "dense_best":
        run = (deps or {}).get("source_run")
        if run is None:
            raise ValueError("imp stop_step='dense_best' reads the dense run's oracle stop: give the dense "
                             "RunSpec as MaskSpec.source_run")
        stop = imp_stop_param("dense_best", run.result)
    res = iterative_magnitude_pruning(
        net, z, problem.y, problem.operator, sparsity=p.get("sparsity", 0.05), rounds=rounds, keep_per_round=keep,
        train_steps=p.get("train_steps", 40_000), lr=p.get("lr", 1e-2), rewind_step=p.get("rewind_step", 0),
        stop_step=stop, scope=p.get("scope", "global"), maskable=p.get("maskable", "all"),
        record_every=p.get("record_every"), x_true=problem.x, seed=spec.seed, progress=progress, target=spec.target,
        to_image=getattr(problem, "to_image", None))
    if p.get("stop_step") == "dense_best":
        res.mask.meta["stop_rule"] = "dense_best"
    return res.mask, {"history": res.summary, "seconds": res.seconds, "tables": {"rounds": res.rounds}}
