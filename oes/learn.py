r"""Optimal Eye Surgeon: learning the mask at initialisation (eq. 2, Appendix C, Algorithm 1).

.. math::

    m^*(y) = C(p^*),\quad p^* = \arg\min_p\; \mathbb{E}_{m\sim Ber(p)}\|A\,G(\theta_{in}\circ m, z) - y\|^2
             + \lambda\, KL(Ber(p)\,\|\,Ber(p_0))

* p = sigmoid(v); v starts at 0 (p = 0.5, Algorithm 1 line 3) and Adam updates v.
* Each step draws K relaxed masks m̂ ~ :func:`Concrete` (temperature T = 0.2). The paper's
  two-Gumbel form  exp((log p + G_l)/T) / (exp((log p + G_l)/T) + exp((log(1-p) + G_k)/T))
  equals sigmoid((v + L)/T) with L = G_l − G_k ~ Logistic(0, 1) = log u − log(1 − u):
  one uniform per weight, no softmax over a 2-vector.
* The data term is the mean squared residual (``Operator.data_fidelity``); the
  regulariser is summed over the d masked parameters and scaled by λ.
* :func:`rank_mask` is C(·): keep exactly round(s·d) entries with the largest p.

The network weights θ_in are never changed; the masked parameters are passed to the
network with ``torch.func.functional_call`` (no copy of the network per step).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, replace, dataclass, field
from typing import Callable, Literal

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

from .fit import progress_enabled
from .masks import Mask, maskable_names
from .metrics import psnr
from .operators import Operator

__all__ = ["MaskConfig", "MaskResult", "Concrete", "kl_bernoulli", "regulariser", "rank_mask", "convergence", "gradient_balance", "lambda_for_ratio", "lam_rule_prior", "resolve_lambda", "search_lambda", "next_lam_ratio",
           "learn_mask", "masked_output"]


@dataclass(frozen=True)
class MaskConfig:
    sparsity: float = 0.05         # s/d: fraction of parameters KEPT (the paper's "5 %-sparse")
    steps: int = 60_000            # paper's mask-learning iterations
    lr: float = 1e-2               # Adam on the logits v
    temperature: float = 0.2       # T of the Concrete relaxation (App. C)
    samples: int = 1               # K relaxed masks per step (Algorithm 1)
    reg: Literal["kl", "l1", "centered"] = "kl"   # App. I compares the three
    lam: float = 1e-9              # λ (App. G: 1e-9 at the paper's 3 M parameters)
    # The λ rule (docs/calibration.md): when set, λ is chosen per problem so that the prior's gradient
    # at p = 1/2 is ``lam_ratio`` times the data gradient of the weight at the kept-set boundary
    # (:func:`gradient_balance` with ``ratio_samples`` Concrete draws); ``lam`` is then ignored and
    # the λ used is recorded in the mask's meta (``lam_used``). KL regulariser only.
    lam_ratio: float | None = None
    ratio_samples: int = 32
    # Adaptive λ (a Lagrange multiplier for eq. 1's constraint ‖m‖₀ ≤ s, which eq. 2 relaxes into the
    # KL penalty): at every check λ ← λ · clip((#{p > 1/2} / k) ** lam_adapt, 1/2, 2), so the Bernoulli's
    # own kept count is driven to the target k. None: λ fixed (the paper). KL regulariser only.
    lam_adapt: float | None = None
    # λ search (needs ``lam_ratio``): the ratio that makes *this* problem's mask converge is found by the
    # convergence criteria alone (docs/calibration.md §9). A try whose kept set has settled (stable at
    # ``stop_patience`` checks) with #{p > 1/2}/k outside [0.9, 1.1] and drifting too slowly to enter it
    # within ``steps`` ends early; then up to ``lam_search`` more tries learn from scratch (same θ_in, z
    # and sampler stream) with the ratio moved towards the band (:func:`next_lam_ratio`). The first
    # converged try is the mask; if none converges, the try whose above_half is nearest 1. Every try is
    # recorded in the meta (``lam_search``). 0: one try, λ as the rule gives it. Priors p0 ≥ 1/2 are never
    # searched (the KL then cannot lower #{p > 1/2}; see :func:`search_lambda`).
    lam_search: int = 0
    prior: float | None = None     # p0; None → p0 = sparsity (§3.2, App. H.1)
    maskable: Literal["all", "weights"] = "all"   # which parameters m covers
    record_every: int = 50
    # Convergence (not a step count) decides when the mask is learned: every ``check_every`` steps the
    # history records how stable the kept set C(p) is since the previous check and how many weights
    # have p > 1/2 (see :func:`convergence`). ``stop_stable``: stop once the kept set is at least this
    # stable *and* separated (0.9 k ≤ #{p > 1/2} ≤ 1.1 k) at ``stop_patience`` consecutive checks;
    # None: run all ``steps`` (then ``steps`` is the horizon, not a budget).
    check_every: int = 250
    stop_stable: float | None = None
    stop_patience: int = 3
    # Dead-path waste (``oes.analysis.dead_paths``): kept conv weights that cannot affect the output
    # because their channel is cut (no kept path from z or to the output, or its BatchNorm scale γ
    # pruned). When set, a check counts as converged only if the kept set's waste is at most this
    # fraction as well (recorded as ``waste`` at every check): the channel decisions are part of the
    # mask, and a kept set whose γ and weights disagree is not yet learned (docs/calibration.md §13).
    # None: waste is not a criterion (not computed during learning).
    max_waste: float | None = None
    sampler_seed: int | None = None  # seeds the Concrete draws; None: the run's seed (θ_in, z, noise)

    def __post_init__(self):
        if not 0 < self.sparsity <= 1:
            raise ValueError(f"sparsity (fraction of parameters kept) must be in (0, 1], got {self.sparsity}; "
                             f"e.g. 0.05 keeps 5 %")
        p0 = self.p0
        if not 0 < p0 < 1:
            raise ValueError(f"prior p0 must be in (0, 1), got {p0}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.samples < 1 or self.steps < 0:
            raise ValueError("samples must be ≥ 1 and steps ≥ 0")
        if self.check_every < 1 or self.record_every < 1:
            raise ValueError(f"check_every and record_every must be ≥ 1, got {self.check_every}, {self.record_every}")
        if self.stop_stable is not None and not 0 < self.stop_stable <= 1:
            raise ValueError(f"stop_stable must be in (0, 1] (fraction of the kept set unchanged), got {self.stop_stable}")
        if self.lam_adapt is not None and (self.lam_adapt <= 0 or self.reg != "kl"):
            raise ValueError(f"lam_adapt must be > 0 and needs reg='kl' (got {self.lam_adapt}, reg={self.reg!r})")
        if self.lam_ratio is not None and (self.lam_ratio <= 0 or self.reg != "kl"):
            raise ValueError(f"lam_ratio must be > 0 and needs reg='kl' (got {self.lam_ratio}, reg={self.reg!r}); "
                             f"give lam instead")
        if self.lam_search < 0 or (self.lam_search and self.lam_ratio is None):
            raise ValueError(f"lam_search must be ≥ 0 and needs lam_ratio (the λ rule's ratio is what it searches); "
                             f"got lam_search={self.lam_search}, lam_ratio={self.lam_ratio}")
        if self.stop_patience < 1:
            raise ValueError(f"stop_patience must be ≥ 1, got {self.stop_patience}")
        if self.max_waste is not None and not 0 <= self.max_waste < 1:
            raise ValueError(f"max_waste must be in [0, 1) (fraction of kept conv weights on dead paths), "
                             f"got {self.max_waste}; e.g. 0.05")

    @property
    def p0(self) -> float:
        return self.sparsity if self.prior is None else self.prior

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MaskResult:
    mask: Mask
    logits: torch.Tensor          # flat v (concatenated over the maskable names, in order)
    history: pd.DataFrame          # step, loss, reg, mean_p (+ psnr; + kept_stable, above_half at checks)
    seconds: float
    names: list[str] = field(default_factory=list)
    steps: int = 0                 # steps actually run (the stopping rule may end early)
    converged: bool = False        # the last check met the convergence criteria (:func:`convergence`)

    @property
    def probabilities(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @property
    def collapsed(self) -> list[str]:
        return self.mask.collapsed()

    @property
    def layer_density(self) -> dict[str, float]:
        return self.mask.layer_density()


class _ConcreteFn(torch.autograd.Function):
    """m̂ = sigmoid((v + L) / T) with the backward written out: ∂m̂/∂v = m̂ (1 − m̂) / T."""

    @staticmethod
    def forward(ctx, v, logistic, inv_t):
        m = logistic.add_(v).mul_(inv_t).sigmoid_()     # reuses the noise buffer: no extra allocation
        ctx.save_for_backward(m)
        ctx.inv_t = inv_t
        return m

    @staticmethod
    def backward(ctx, grad):
        (m,) = ctx.saved_tensors
        return torch.ops.aten.sigmoid_backward(grad, m).mul_(ctx.inv_t), None, None


def Concrete(v: torch.Tensor, temperature: float, rng: torch.Generator) -> torch.Tensor:
    r"""One draw of the binary Concrete relaxation m̂ ~ Concrete(p, 1 − p), p = sigmoid(v) (App. C).

    m̂ = sigmoid((v + L) / T) with L = logit(u) = log u − log(1 − u), u ~ U(0, 1): a Logistic
    draw, which is what the difference of the paper's two Gumbels G_l − G_k is, so one uniform per
    weight suffices.  As T → 0, m̂ → Bernoulli(p).  Differentiable in v.
    """
    return _ConcreteFn.apply(v, _logistic(v.shape, rng, v.device, v.dtype), 1.0 / temperature)


def _logistic(shape, rng: torch.Generator, device, dtype) -> torch.Tensor:
    """L = logit(u), u ~ U(0, 1) from ``rng``: the Logistic noise of one Concrete draw."""
    return torch.rand(shape, generator=rng, device=device, dtype=dtype).logit_(eps=1e-7)


def _kl_grad_(v: torch.Tensor, p0: float, scale: float, grad: torch.Tensor | None = None) -> None:
    """v.grad (or ``grad``) += scale · ∂KL(Ber(p) ‖ Ber(p0))/∂v = scale · p (1 − p)(v − logit p0), in place.

    (∂KL/∂p = log(p/p0) − log((1−p)/(1−p0)) = v − logit(p0) and ∂p/∂v = p(1 − p).)
    """
    p = torch.sigmoid(v.detach())
    g = torch.ops.aten.sigmoid_backward(v.detach() - math.log(p0 / (1 - p0)), p)
    (v.grad if grad is None else grad).add_(g, alpha=scale)


def kl_bernoulli(v: torch.Tensor, p0: float) -> torch.Tensor:
    r"""Elementwise KL(Ber(p) ‖ Ber(p0)) with p = sigmoid(v) (§3.2, closed form).

    KL = p (log p − log p0) + (1 − p)(log(1 − p) − log(1 − p0)), with log p = logsigmoid(v)
    and log(1 − p) = logsigmoid(−v), finite for every real v.
    """
    p = torch.sigmoid(v)
    return p * (F.logsigmoid(v) - math.log(p0)) + (1 - p) * (F.logsigmoid(-v) - math.log1p(-p0))


def regulariser(v: torch.Tensor, kind: str, p0: float, sparsity: float) -> torch.Tensor:
    """The penalty of eq. 2 (``kl``) or of Appendix I (``l1``: ‖p‖₁; ``centered``: |Σp − s·d|)."""
    if kind == "kl":
        return kl_bernoulli(v, p0).sum()
    p = torch.sigmoid(v)
    if kind == "l1":
        return p.sum()
    if kind == "centered":
        return (p.sum() - sparsity * p.numel()).abs()
    raise ValueError(f"unknown regulariser {kind!r}; use 'kl', 'l1' or 'centered'")


def n_keep(sparsity: float, d: int) -> int:
    """round(s·d), halves rounded up (not Python's banker's rounding); at least 1."""
    return max(1, min(d, int(math.floor(sparsity * d + 0.5))))


def rank_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """C(·): a flat bool mask keeping exactly round(s·d) entries with the largest ``scores``.

    Ties are broken deterministically: among equal scores the lower flat index is kept
    (stable sort).  Ranking logits v instead of p = sigmoid(v) gives the same order with
    fewer float32 ties (p saturates at 1.0 for v > 17).
    """
    flat = scores.detach().flatten()
    k = n_keep(sparsity, flat.numel())
    order = torch.argsort(flat, descending=True, stable=True)
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    keep[order[:k]] = True
    return keep


def _finite_or_none(x) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _split(flat: torch.Tensor, names: list[str], shapes: list[torch.Size]) -> dict[str, torch.Tensor]:
    sizes = [math.prod(s) for s in shapes]
    return {n: c.view(s) for n, c, s in zip(names, flat.split(sizes), shapes)}


STABLE = 0.98      # kept set unchanged between checks, for :func:`convergence`'s verdict
SEPARATED = (0.9, 1.1)   # #{p > 1/2} / k: the Bernoulli's own kept count matches the target


def convergence(v: torch.Tensor, sparsity: float, previous: torch.Tensor | None = None,
                stable: float = STABLE) -> dict:
    r"""How far mask learning has come, from the logits v alone (no clean image).

    * ``kept_stable`` — the fraction of the kept set C(p) (the k = round(s·d) largest v) that was
      also kept at the ``previous`` check (a bool mask); NaN without one. 1.0: ranking settled.
    * ``above_half`` — #{p > 1/2} / k. At convergence the Bernoulli ``Ber(p)`` itself should keep
      about k weights, i.e. p separated into ≈ k weights near 1 and the rest near p0 (App. G's
      bimodal p); ≪ 1 means the prior still dominates (or λ is too strong), ≫ 1 that λ is too weak.
    * ``mean_p`` vs the prior p0 (reported by the caller).
    * ``converged`` — ``kept_stable ≥ stable`` (default :data:`STABLE`) and ``above_half`` within
      :data:`SEPARATED`.

    Returns the dict and, under ``"kept"``, the current kept set for the next check.
    """
    kept = rank_mask(v, sparsity)
    k = int(kept.sum())
    kept_stable = float((kept & previous).sum()) / k if previous is not None else float("nan")
    above = float((v > 0).sum()) / k
    ok = (kept_stable >= stable) and (SEPARATED[0] <= above <= SEPARATED[1])
    return {"kept_stable": kept_stable, "above_half": above, "converged": bool(ok), "kept": kept}


def gradient_balance(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None, *,
                     cfg: MaskConfig = MaskConfig(), samples: int = 16, seed: int = 0) -> dict:
    r"""Prior vs data at the start of mask learning (p = 1/2, v = 0): the λ rule of ``docs/calibration.md``.

    The data gradient ∂R/∂v_i is measured through ``samples`` Concrete draws as its per-weight RMS.
    Its distribution over the d logits is heavy-tailed (the Concrete factor m̂(1 − m̂)/T is large only
    when the logistic noise lands near −v), so its median keeps growing with the number of samples;
    its upper quantiles do not. The statistic used is the quantile at 1 − p0 — the gradient of the
    weight at the boundary of the kept set (the k-th largest, k = p0·d): the weights OES must
    separate from the prior are those above it. The prior's gradient at v = 0 is the same for every
    weight: λ · ∂KL/∂v = λ · p(1 − p)(v − logit p0) = λ · |logit p0| / 4.

    Returns ``data_boundary`` (that quantile), ``data_median``, ``data_p97``, ``kl`` and the ratios
    ``ratio`` = kl / data_boundary, ``ratio_median``. The data term is a *mean* over pixel values and
    the KL a *sum* over weights, so the paper's λ = 1e-9 (3.0 M weights, 786 k pixel values) does not
    carry over to another network or image size; keeping ``ratio`` does (:func:`lambda_for_ratio`).
    """
    operator = operator or Operator()
    names = maskable_names(net, cfg.maskable)
    params = dict(net.named_parameters())
    theta = [params[n].detach() for n in names]
    sizes = [t.numel() for t in theta]
    v = torch.zeros(sum(sizes), device=z.device, requires_grad=True)
    rng = torch.Generator(device=z.device).manual_seed(int(seed) + 32452843)
    req = {n: p.requires_grad for n, p in net.named_parameters()}
    for p in net.parameters():
        p.requires_grad_(False)
    net.train()
    sq = torch.zeros_like(v)
    try:
        for _ in range(samples):
            m_hat = Concrete(v, cfg.temperature, rng)
            masked = {n: th * m.view(th.shape) for n, th, m in zip(names, theta, m_hat.split(sizes))}
            g, = torch.autograd.grad(operator.data_fidelity(functional_call(net, masked, (z,), strict=False), y), v)
            sq += g.pow(2)
    finally:
        for n, p in net.named_parameters():
            p.requires_grad_(req[n])
    rms = (sq / samples).sqrt().double().cpu().numpy()
    import numpy as np

    kl = cfg.lam * abs(math.log(cfg.p0 / (1 - cfg.p0))) / 4
    boundary, med, p97 = (float(np.quantile(rms, q)) for q in (1 - cfg.p0, 0.5, 0.97))
    return {"d": v.numel(), "pixels": int(y.numel()), "p0": cfg.p0, "samples": samples, "data_boundary": boundary,
            "data_median": med, "data_p97": p97, "kl": kl, "ratio": kl / boundary if boundary else float("inf"),
            "ratio_median": kl / med if med else float("inf")}


def lambda_for_ratio(balance: dict, ratio: float, p0: float | None = None) -> float:
    """The λ that makes the prior's gradient at v = 0 ``ratio`` times the boundary data gradient of
    ``balance`` (:func:`gradient_balance`): λ = ratio · data_boundary / (|logit p0| / 4)."""
    p0 = balance["p0"] if p0 is None else p0
    pull = abs(math.log(p0 / (1 - p0))) / 4
    if pull == 0:
        raise ValueError("the λ rule is undefined at p0 = 1/2 (the KL has no pull at v = 0); "
                         "evaluate it at another prior (lam_rule_prior) or give λ itself (lam)")
    return ratio * balance["data_boundary"] / pull


# ---------------------------------------------------------------- shared with oes.batched.learn_mask_batch
def mask_rng(seed: int, cfg: MaskConfig, device: torch.device | str = "cpu") -> torch.Generator:
    """The Concrete sampler's random stream: ``cfg.sampler_seed``, or the run's ``seed`` when None."""
    return torch.Generator(device=device).manual_seed(int(seed if cfg.sampler_seed is None else cfg.sampler_seed)
                                                      + 32452843)


def _check_loss(loss: torch.Tensor, step: int, lr: float, who: str = "") -> None:
    if not math.isfinite(loss.item()):
        raise FloatingPointError(f"{who}mask-learning loss became {loss.item()} at step {step}; "
                                 f"lower the logit learning rate (now {lr})")


def _record_row(step: int, data: torch.Tensor, v: torch.Tensor, cfg: MaskConfig, out: torch.Tensor,
                x_true: torch.Tensor | None, to_image) -> dict:
    """The history row of ``step`` (``v``: this problem's flat logits, ``out``: its last relaxed output)."""
    with torch.no_grad():
        reg = regulariser(v, cfg.reg, cfg.p0, cfg.sparsity)
    row = {"step": step, "loss": float(data.detach()), "reg": float(reg),
           "mean_p": float(torch.sigmoid(v.detach()).mean())}
    if x_true is not None:
        img = to_image(out.detach()) if to_image is not None else out.detach()
        row["psnr"] = psnr(img, x_true)
    return row


class _Convergence:
    """The convergence checks of one problem: the previous kept set, consecutive converged checks
    and the last verdict; :meth:`stop` is the optional stopping rule of :class:`MaskConfig`, and — with
    ``lam_search`` — also fires when the try has *settled outside the band* (:meth:`_settled_outside`)."""

    def __init__(self, cfg: MaskConfig, waste_of: Callable[[torch.Tensor], float] | None = None):
        self.cfg, self.previous, self.calm, self.last = cfg, None, 0, {"converged": False}
        if cfg.max_waste is not None and waste_of is None:
            raise ValueError("max_waste needs the network's structure: pass waste_of (see kept_waste)")
        self.waste_of = waste_of if cfg.max_waste is not None else None   # computed only as a criterion
        self.lam = cfg.lam                     # the λ in use (changes only with cfg.lam_adapt)
        self.prev_above: float | None = None
        self.outside = 0                       # consecutive checks settled outside the band
        self.settled_step: int | None = None   # the step at which a try was ended as settled outside

    def due(self, step: int) -> bool:
        return bool(step) and step % self.cfg.check_every == 0

    def check(self, v: torch.Tensor, row: dict) -> None:
        self.last = convergence(v.detach(), self.cfg.sparsity, self.previous, self.cfg.stop_stable or STABLE)
        self.previous = self.last.pop("kept")
        row.update(kept_stable=self.last["kept_stable"], above_half=self.last["above_half"], lam=self.lam)
        if self.waste_of is not None:
            waste = self.last["waste"] = float(self.waste_of(self.previous))
            self.last["converged"] = self.last["converged"] and waste <= self.cfg.max_waste
            row["waste"] = waste
        self.calm = self.calm + 1 if self.last["converged"] else 0
        if self.cfg.lam_search:
            self.outside = self.outside + 1 if self._settled_outside(int(row["step"])) else 0
            if self.outside >= self.cfg.stop_patience and self.settled_step is None:
                self.settled_step = int(row["step"])
        self.prev_above = self.last["above_half"]
        if self.cfg.lam_adapt is not None:
            self.lam *= min(2.0, max(0.5, max(self.last["above_half"], 1e-12) ** self.cfg.lam_adapt))

    def _settled_outside(self, step: int) -> bool:
        """The kept set is stable (≥ ``stop_stable``) but #{p > 1/2}/k is outside :data:`SEPARATED` and,
        at its drift since the previous check (in log, per check), would not enter it before ``steps``."""
        a, prev = self.last["above_half"], self.prev_above
        if prev is None or not self.last["kept_stable"] >= (self.cfg.stop_stable or STABLE):
            return False
        lo, hi = SEPARATED
        if lo <= a <= hi:
            return False
        a, prev = max(a, 1e-12), max(prev, 1e-12)
        rate = math.log(a / prev)                        # per check
        checks_left = max(self.cfg.steps - step, 0) / self.cfg.check_every
        gap = math.log(a / hi) if a > hi else math.log(a / lo)   # > 0 above the band, < 0 below
        return not (rate * gap < 0 and abs(rate) * checks_left >= abs(gap))

    @property
    def stop(self) -> bool:
        converged = self.cfg.stop_stable is not None and self.calm >= self.cfg.stop_patience
        return converged or self.settled_step is not None


def _mask_result(flat: torch.Tensor, names: list[str], shapes: list, cfg: MaskConfig, seed: int, operator: Operator,
                 meta: dict | None, conv: _Convergence, steps_run: int, rows: list, seconds: float) -> MaskResult:
    """m* = C(p*) with its meta (convergence fields included) as a :class:`MaskResult`."""
    final = convergence(flat, cfg.sparsity, conv.previous)
    keep = final.pop("kept")
    mask_dict = _split(keep, names, shapes)
    from . import __version__
    last = conv.last
    info = {"method": "oes", "sparsity": cfg.sparsity, "seed": int(seed), "steps": cfg.steps,
            "steps_run": steps_run, "mask_config": cfg.to_dict(), "operator": operator.describe(),
            "version": __version__, "above_half": final["above_half"], "mean_p": float(torch.sigmoid(flat).mean()),
            "kept_stable": _finite_or_none(last.get("kept_stable")), "converged": bool(last["converged"]),
            "lam_final": conv.lam}
    if conv.waste_of is not None:
        info["waste"] = float(conv.waste_of(keep))
    if conv.settled_step is not None:
        info["settled_outside_at"] = conv.settled_step
    info.update(meta or {})
    mask = Mask(mask_dict, info)
    mask.meta["collapsed"] = mask.collapsed()
    return MaskResult(mask=mask, logits=flat.cpu(), history=pd.DataFrame(rows), seconds=seconds, names=names,
                      steps=steps_run, converged=bool(last["converged"]))


def kept_waste(net: nn.Module, names: list[str], shapes: list) -> Callable[[torch.Tensor], float]:
    """The dead-path waste (:func:`oes.analysis.dead_paths`) of a flat kept set over ``names`` of
    ``net``, as a function — what :class:`MaskConfig`'s ``max_waste`` checks at every convergence check."""
    from .analysis import dead_paths
    sizes = [math.prod(s) for s in shapes]

    def waste(kept: torch.Tensor) -> float:
        parts = kept.detach().cpu().split(sizes)
        return dead_paths({n: t.view(s) for n, t, s in zip(names, parts, shapes)}, net=net)["waste"]
    return waste


def convergence_summary(meta: dict) -> str:
    """One line from a learned mask's meta: whether it converged, after how many steps, and the criteria
    (#{p > 1/2}/k, stability, dead-path waste, the λ try; docs/calibration.md §1, §13) — what the CLI prints."""
    parts = [f"#{{p > 1/2}}/k = {meta['above_half']:.2f}"]
    if meta.get("kept_stable") is not None:
        parts.append(f"kept set {meta['kept_stable']:.0%} stable since the last check")
    if meta.get("waste") is not None:
        parts.append(f"dead-path waste {meta['waste']:.1%}")
    tries = meta.get("lam_search") or []
    if len(tries) > 1:
        parts.append(f"λ try {meta.get('lam_search_chosen', 0) + 1} of {len(tries)}")
    return f"{'converged' if meta.get('converged') else 'not converged'} after {meta['steps_run']} steps " \
           f"({', '.join(parts)})"


def resolve_lambda(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None, cfg: MaskConfig,
                   seed: int = 0) -> tuple[MaskConfig, dict]:
    """The config a run learns with: ``cfg`` itself, or — with ``cfg.lam_ratio`` — ``cfg`` with the λ of
    the λ rule for this problem (:func:`gradient_balance`, :func:`lambda_for_ratio`). Returns it and the
    meta fields to record (``lam_used``, and with the rule ``lam_ratio`` and the boundary data gradient).
    """
    if cfg.lam_ratio is None:
        return cfg, {"lam_used": cfg.lam}
    p_rule = lam_rule_prior(cfg.p0)
    b = gradient_balance(net, z, y, operator, cfg=replace(cfg, prior=p_rule), samples=cfg.ratio_samples, seed=seed)
    lam = lambda_for_ratio(b, cfg.lam_ratio, p_rule)
    meta = {"lam_used": lam, "lam_ratio": cfg.lam_ratio, "data_boundary": b["data_boundary"]}
    if p_rule != cfg.p0:
        meta["lam_rule_p0"] = p_rule
    return replace(cfg, lam=lam), meta


#: The prior the λ rule was calibrated with (``docs/calibration.md``: 3 % kept, p0 = 0.03).
LAM_RULE_REF_P0 = 0.03


def lam_rule_prior(p0: float) -> float:
    """The prior at which the λ rule is evaluated for a run with prior ``p0``: ``p0`` itself, except at
    p0 = 1/2, where the KL's pull at v = 0, λ·|logit p0|/4, vanishes (App. K's Deep Decoder masks and
    chapter 01's 50 % masks use p0 = 1/2): there the rule would need λ → ∞, so it gives the λ that a
    prior at ``LAM_RULE_REF_P0`` gets on the same network and image — the size scaling the rule exists
    for, with the calibration's prior strength. (Only p0 = 1/2 exactly: it used to divide by zero, so
    no stored mask of any other prior changes.)"""
    return LAM_RULE_REF_P0 if p0 == 0.5 else p0


# ---------------------------------------------------------------- λ search (MaskConfig.lam_search)
#: d log(above_half) / d log(lam_ratio) on the calibration images (docs/calibration.md §9: between
#: −0.37 and −0.84); the first move of a search assumes this slope.
SEARCH_SLOPE = -0.7
#: the most one move of the search changes the ratio (×8 or ÷8)
SEARCH_MAX_FACTOR = 8.0


def next_lam_ratio(tries: list[dict]) -> float | None:
    r"""The ratio of the next try of a λ search, or None to stop (the last try converged; its
    above_half is inside :data:`SEPARATED`, so λ is not what keeps it from converging; or the move
    would repeat a tried ratio). ``tries``: ``{"lam_ratio", "above_half", "converged"}`` per try.

    #{p > 1/2}/k falls as the prior's weight grows. The move is ``a ** (−1 / slope)`` (a: the last
    try's above_half; slope: :data:`SEARCH_SLOPE` for the first move, then the secant slope of the last
    two tries when it is negative, kept in [−2, −0.25]; the factor clipped to ×/÷ :data:`SEARCH_MAX_FACTOR`);
    once tries lie on both sides of the band, the next ratio stays strictly between the nearest two (geometric midpoint if the move would
    leave the bracket)."""
    last = tries[-1]
    lo_band, hi_band = SEPARATED
    a = last["above_half"]
    if last["converged"] or lo_band <= a <= hi_band:
        return None
    weak = [t["lam_ratio"] for t in tries if t["above_half"] > hi_band]     # prior too weak: ratio must rise
    strong = [t["lam_ratio"] for t in tries if t["above_half"] < lo_band]   # prior too strong: must fall
    lo, hi = (max(weak) if weak else 0.0), (min(strong) if strong else math.inf)
    slope = SEARCH_SLOPE
    if len(tries) >= 2:                              # secant: the slope of the last two tries, if it falls
        prev = tries[-2]
        if prev["lam_ratio"] != last["lam_ratio"] and prev["above_half"] > 0 and a > 0:
            measured = math.log(a / prev["above_half"]) / math.log(last["lam_ratio"] / prev["lam_ratio"])
            if measured < 0:
                slope = max(-2.0, min(-0.25, measured))
    factor = min(SEARCH_MAX_FACTOR, max(1 / SEARCH_MAX_FACTOR, max(a, 1e-12) ** (-1 / slope)))
    cand = last["lam_ratio"] * factor
    if not lo < cand < hi and lo > 0 and hi < math.inf:
        cand = math.sqrt(lo * hi)
    if any(abs(math.log(cand / t["lam_ratio"])) < 0.01 for t in tries):
        return None
    return cand


def _try_record(res: MaskResult, cfg: MaskConfig) -> dict:
    m = res.mask.meta
    return {"lam_ratio": cfg.lam_ratio, "lam_used": m.get("lam_used"), "steps_run": res.steps,
            "above_half": m["above_half"], "kept_stable": m.get("kept_stable"), "converged": res.converged,
            "settled_outside_at": m.get("settled_outside_at"), "seconds": res.seconds}


def search_lambda(cfg: MaskConfig, learn_round: Callable[[list[int], list[MaskConfig], int], list[MaskResult]],
                  n: int) -> list[MaskResult]:
    """The λ search of :class:`MaskConfig` (``lam_search``) for ``n`` problems learned together.

    ``learn_round(indices, cfgs, attempt)`` learns problems ``indices`` from scratch, problem
    ``indices[j]`` with ``cfgs[j]`` (they differ only in ``lam_ratio``), and returns their results in
    that order; :func:`learn_mask` passes one problem, :func:`oes.batched.learn_mask_batch` N, so the
    solo and batched searches make the same moves. Without ``lam_search`` this is one round. The
    returned result of each problem is its first converged try, else the one with above_half nearest 1
    (the later on a tie); its meta gains ``lam_search`` (every try) and ``lam_search_chosen``, and its
    ``seconds`` count every try.

    Only a prior p0 < 1/2 is searched: the KL pulls each p towards p0, so only then does a stronger prior
    lower #{p > 1/2}. At p0 = 1/2 (App. K's Deep Decoder masks, chapter 01's 50 % masks) it has no pull
    at p = 1/2 and the count is the data's alone (at `quick`, Deep Decoder masks kept 1.8 k at every
    ratio from 4.3e-4 to 2e-2): one try, as without the search."""
    first = learn_round(list(range(n)), [cfg] * n, 0)
    if not cfg.lam_search or cfg.p0 >= 0.5:
        return first
    results = [[r] for r in first]
    tries = [[_try_record(r, cfg)] for r in first]
    for attempt in range(1, cfg.lam_search + 1):
        todo, cfgs = [], []
        for i in range(n):
            ratio = next_lam_ratio(tries[i])
            if ratio is not None:
                todo.append(i)
                cfgs.append(replace(cfg, lam_ratio=ratio))
        if not todo:
            break
        for i, c, res in zip(todo, cfgs, learn_round(todo, cfgs, attempt)):
            results[i].append(res)
            tries[i].append(_try_record(res, c))
    out = []
    for res_i, tries_i in zip(results, tries):
        done = [j for j, t in enumerate(tries_i) if t["converged"]]
        chosen = done[0] if done else min(range(len(tries_i)),
                                          key=lambda j: (abs(math.log(max(tries_i[j]["above_half"], 1e-12))), -j))
        res = res_i[chosen]
        res.mask.meta["lam_search"] = tries_i
        res.mask.meta["lam_search_chosen"] = chosen
        res.seconds = sum(t["seconds"] for t in tries_i)
        out.append(res)
    return out


def buffers_of(nets: list[nn.Module]) -> list[dict[str, torch.Tensor]]:
    """Copies of the networks' buffers (BatchNorm running statistics), for :func:`restore_buffers`."""
    return [{k: b.detach().clone() for k, b in net.named_buffers()} for net in nets]


def restore_buffers(nets: list[nn.Module], saved: list[dict[str, torch.Tensor]]) -> None:
    """Put back what :func:`buffers_of` copied: every try of a λ search starts from the same network."""
    with torch.no_grad():
        for net, buf in zip(nets, saved):
            for k, b in net.named_buffers():
                b.copy_(buf[k])


def masked_output(net: nn.Module, z: torch.Tensor, mask: Mask) -> torch.Tensor:
    """G(θ_in ∘ m, z) without changing ``net`` (Finding 1: the image made by masking alone).

    BatchNorm uses the batch statistics of this forward pass, as during mask learning.
    """
    mask.check(net)
    params = dict(net.named_parameters())
    masked = {n: params[n].detach() * m.to(params[n].device, params[n].dtype) for n, m in mask.items()}
    was_training = net.training
    net.train()
    with torch.no_grad():
        out = functional_call(net, masked, (z,), strict=False)
    net.train(was_training)
    return out


def learn_mask(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None, *,
               cfg: MaskConfig = MaskConfig(), seed: int = 0, x_true: torch.Tensor | None = None,
               meta: dict | None = None, progress: bool | None = None, desc: str = "OES mask",
               to_image: Callable[[torch.Tensor], torch.Tensor] | None = None,
               on_check: Callable[[int, torch.Tensor], None] | None = None) -> MaskResult:
    r"""Algorithm 1: learn p by Adam on v through Concrete samples, then m* = C(p*).

    ``net`` holds θ_in and is not modified (BN running statistics aside).  ``x_true``
    (optional) is used only to record the PSNR of the relaxed output, after ``to_image``
    (e.g. the complex magnitude for MRI; identity by default). ``on_check(step, v)`` (optional) is
    called at every convergence check with the current logits (a detached view: copy to keep).
    With ``cfg.lam_search`` the λ rule's ratio is searched by the convergence criteria
    (:func:`search_lambda`); ``MaskResult.seconds`` then counts every try.
    """
    saved = buffers_of([net]) if cfg.lam_search else None

    def learn_round(idx: list[int], cfgs: list[MaskConfig], attempt: int) -> list[MaskResult]:
        if saved is not None:
            restore_buffers([net], saved)
        return [_learn_mask_once(net, z, y, operator, cfg=cfgs[0], seed=seed, x_true=x_true, meta=meta,
                                 progress=progress, desc=desc if not attempt else f"{desc} (λ try {attempt + 1})",
                                 to_image=to_image, on_check=on_check)]

    return search_lambda(cfg, learn_round, 1)[0]


def _learn_mask_once(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None, *,
                     cfg: MaskConfig, seed: int, x_true: torch.Tensor | None, meta: dict | None,
                     progress: bool | None, desc: str, to_image: Callable[[torch.Tensor], torch.Tensor] | None,
                     on_check: Callable[[int, torch.Tensor], None] | None) -> MaskResult:
    """One try of :func:`learn_mask` with the λ that ``cfg`` gives (no search)."""
    operator = operator or Operator()
    device = z.device
    cfg, lam_info = resolve_lambda(net, z, y, operator, cfg, seed)
    meta = {**lam_info, **(meta or {})}
    names = maskable_names(net, cfg.maskable)
    params = dict(net.named_parameters())
    theta = [params[n].detach() for n in names]
    shapes = [t.shape for t in theta]
    sizes = [t.numel() for t in theta]
    d = sum(sizes)
    v = torch.zeros(d, device=device, requires_grad=True)
    opt = torch.optim.Adam([v], lr=cfg.lr)
    rng = mask_rng(seed, cfg, device)
    req = {n: p.requires_grad for n, p in net.named_parameters()}
    for p in net.parameters():
        p.requires_grad_(False)
    net.train()
    rows = []
    conv = _Convergence(cfg, kept_waste(net, names, shapes))
    steps_run = 0
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=desc, disable=not progress_enabled(progress), leave=False,
               dynamic_ncols=True)
    try:
        for step in bar:
            data = 0.0
            for _ in range(cfg.samples):
                m_hat = Concrete(v, cfg.temperature, rng)
                masked = {n: th * m.view(th.shape) for n, th, m in zip(names, theta, m_hat.split(sizes))}
                out = functional_call(net, masked, (z,), strict=False)
                data = data + operator.data_fidelity(out, y) / cfg.samples
            # the KL gradient is added in closed form after backward (cheaper than autograd on d terms)
            analytic_kl = cfg.reg == "kl"
            loss = data if analytic_kl else data + cfg.lam * regulariser(v, cfg.reg, cfg.p0, cfg.sparsity)
            _check_loss(loss, step, cfg.lr)
            check = conv.due(step)
            if step % cfg.record_every == 0 or step == cfg.steps - 1 or check:
                row = _record_row(step, data, v, cfg, out, x_true, to_image)
                if check:
                    conv.check(v, row)
                    if on_check is not None:
                        on_check(step, v.detach())
                    bar.set_postfix(stable=f"{row['kept_stable']:.3f}", above=f"{row['above_half']:.2f}",
                                    refresh=False)
                rows.append(row)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if analytic_kl and conv.lam:
                _kl_grad_(v, cfg.p0, conv.lam)
            opt.step()
            steps_run = step + 1
            if conv.stop:
                break
    finally:
        bar.close()
        for n, p in net.named_parameters():
            p.requires_grad_(req[n])
    seconds = time.perf_counter() - t0
    return _mask_result(v.detach(), names, shapes, cfg, seed, operator, meta, conv, steps_run, rows, seconds)
