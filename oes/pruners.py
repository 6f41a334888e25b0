r"""Baseline pruners at initialisation (Finding 3, §4.3, Table 4) and the ``oes prune`` command.

Every pruner here returns the same :class:`~oes.masks.Mask` as OES, over the same maskable
set (:func:`~oes.masks.maskable_names`, default ``"all"`` = every parameter), keeping
**exactly** ``n_keep(sparsity, d)`` entries — *sparsity* is the fraction of parameters
KEPT, the one meaning used everywhere in :mod:`oes` (``0.05`` keeps 5 %).

=============  ==========================================================  ===================
name           score (higher = keep)                                       paper
=============  ==========================================================  ===================
``random``     seeded U(0, 1)                                              —
``magnitude``  |θ_in|                                                      —
``snip``       |∂L/∂θ ⊙ θ|, L = ‖A G(θ_in, z) − y‖² / n                    Lee et al. 2018, eq. 6
``grasp``      θ ⊙ H g  (= −S(−θ); the top S are removed)                  Wang et al. 2020, eq. 8
``synflow``    |θ ⊙ ∂R/∂θ| on |θ|, all-ones input; 100 rounds, s^(k/n)     Tanaka et al. 2020, Alg. 1
``imp``        |θ_trained| with rewinding (:mod:`oes.imp`)                 Frankle & Carbin 2018
=============  ==========================================================  ===================

The authors' baseline scripts (``utils/imp.py`` of ``Avra98/Optimal-Eye-Surgeon``, read at commit
0449497a) differ from these reference algorithms. So that the book can tell whether the paper's margin
over the baselines comes from OES or from weaker baselines, their variants are extra, clearly named
methods (our code, written from a reading of theirs; each keeps exactly n_keep(s, d) like every pruner):

===================  ===============================================================================
``snip_authors``     |∂L/∂θ| — the gradient alone, not the connection sensitivity |θ ⊙ ∂L/∂θ|
``grasp_authors``    keeps the *smallest* ∂(gᵀθ)/∂θ = H θ + g (a Hessian–weight product plus the
                     gradient, not θ ⊙ H g); as written, their ``grasp_prune`` keeps the fraction 1 − s
                     (scores ≤ the int(s·d)-th largest) where their SNIP/SynFlow keep s — here: s
``synflow_authors``  |∂(Σ G(θ_in, z))/∂θ|: one shot (no rounds), the signed θ_in (not |θ|), the real
                     input z (not ones), BN in training mode, the sum taken after the sigmoid, and no
                     θ factor
===================  ===============================================================================

Scope:

* ``global`` — one ranking over all maskable parameters (:func:`~oes.learn.rank_mask`, ties
  broken by the lower flat index).  At 5 % this may empty whole tensors (*layer collapse*,
  §4.3): reported in ``mask.collapsed()`` / ``meta["collapsed"]``, never hidden.
* ``local`` (layer-wise) — each tensor keeps its proportional share K·nᵢ/d of the exact total
  K = n_keep(s, d), rounded by largest remainders (Hamilton's method), **at least one entry per
  tensor** (:func:`local_quotas`).  The total is still exactly K, so global and local masks have
  equal density; a tensor's own density can differ from s by < 1/nᵢ (more for tiny tensors,
  which get their 1 entry: a 3-element bias at 5 % keeps 1 of 3).

Each pruner registers itself in :data:`oes.runs.MASK_BUILDERS` under its name, with
``MaskSpec.params`` keys ``sparsity`` (default 0.05), ``scope``, ``maskable`` (and ``rounds``
for SynFlow); importing this module also registers ``imp`` (:mod:`oes.imp`).
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from torch import nn
from tqdm import tqdm

from .fit import progress_enabled
from .learn import n_keep, rank_mask
from .masks import Mask, maskable_names
from .operators import Operator

__all__ = ["PRUNERS", "random_pruning", "magnitude_pruning", "snip", "grasp", "synflow",
           "snip_authors", "grasp_authors", "synflow_authors",
           "random_scores", "magnitude_scores", "snip_scores", "grasp_scores", "synflow_scores",
           "hessian_gradient_product", "select", "local_quotas", "check_sparsity", "add_prune_parser"]

SCOPES = ("global", "local")


# ---------------------------------------------------------------------------- selection
def check_sparsity(sparsity: float) -> float:
    if not (isinstance(sparsity, (int, float)) and 0 < sparsity <= 1):
        raise ValueError(f"sparsity (fraction of parameters KEPT) must be in (0, 1], got {sparsity!r}; "
                         f"e.g. 0.05 keeps 5 %")
    return float(sparsity)


def local_quotas(sizes: Sequence[int], total: int, caps: Sequence[int] | None = None,
                 minimum: int = 1) -> list[int]:
    """Split ``total`` kept entries over tensors of ``sizes`` in proportion to their size.

    Tensor i's share is qᵢ = total·nᵢ/Σn; it gets ⌊qᵢ⌋ clipped to [min(minimum, capᵢ), capᵢ],
    then single entries are added to the tensors furthest below their share (removed from
    those furthest above it) until the sum is exactly ``total`` — Hamilton's largest-remainder
    method with a floor of ``minimum`` per tensor.  Ties go to the earlier tensor.

    ``caps`` (default ``sizes``) bounds each tensor's count, e.g. by what an iterative pruner
    still has alive, so masks stay nested.
    """
    sizes = [int(n) for n in sizes]
    caps = list(sizes) if caps is None else [int(c) for c in caps]
    if total > sum(caps):
        raise ValueError(f"cannot keep {total} entries: only {sum(caps)} are available")
    lo = [min(minimum, c) for c in caps]
    if total < sum(lo):
        raise ValueError(f"layer-wise pruning keeps at least {minimum} entry per tensor, i.e. {sum(lo)} entries, "
                         f"but the requested density keeps only {total}; raise --sparsity or use --scope global")
    d = sum(sizes)
    share = [total * n / d for n in sizes]
    alloc = [min(c, max(l, math.floor(q))) for q, l, c in zip(share, lo, caps)]
    diff = total - sum(alloc)
    while diff > 0:
        i = max((j for j in range(len(alloc)) if alloc[j] < caps[j]), key=lambda j: (share[j] - alloc[j], -j))
        alloc[i] += 1
        diff -= 1
    while diff < 0:
        i = min((j for j in range(len(alloc)) if alloc[j] > lo[j]), key=lambda j: (share[j] - alloc[j], j))
        alloc[i] -= 1
        diff += 1
    return alloc


def _top_k(flat: torch.Tensor, k: int) -> torch.Tensor:
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if k:
        keep[torch.argsort(flat, descending=True, stable=True)[:k]] = True
    return keep


def select(scores: Mapping[str, torch.Tensor], sparsity: float, scope: str = "global",
           alive: Mapping[str, torch.Tensor] | None = None, meta: dict | None = None) -> Mask:
    """Keep exactly ``n_keep(sparsity, d)`` entries with the highest ``scores``.

    :param scores: ``name → tensor`` (higher = more important), over the maskable set.
    :param scope: ``"global"`` (one ranking, :func:`~oes.learn.rank_mask`) or ``"local"``
        (per-tensor counts from :func:`local_quotas`).
    :param alive: entries still unpruned (iterative pruners); the others can never come back.
    """
    sparsity = check_sparsity(sparsity)
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use 'global' or 'local'")
    names = list(scores)
    shapes = [scores[n].shape for n in names]
    flat = [scores[n].detach().flatten().double().cpu() for n in names]
    for n, f in zip(names, flat):
        if torch.isnan(f).any():
            raise ValueError(f"pruning scores of {n!r} contain NaN")
    if alive is not None:
        flat = [f.masked_fill(~alive[n].flatten().cpu(), float("-inf")) for n, f in zip(names, flat)]
    sizes = [f.numel() for f in flat]
    d = sum(sizes)
    k = n_keep(sparsity, d)
    n_alive = d if alive is None else sum(int(alive[n].sum()) for n in names)
    if k > n_alive:
        raise ValueError(f"cannot keep {k} entries: only {n_alive} are still unpruned")
    if scope == "global":
        keep = rank_mask(torch.cat(flat), sparsity)
        parts = keep.split(sizes)
    else:
        caps = None if alive is None else [int(alive[n].sum()) for n in names]
        quotas = local_quotas(sizes, k, caps)
        parts = [_top_k(f, q) for f, q in zip(flat, quotas)]
    masks = {n: p.view(s) for n, p, s in zip(names, parts, shapes)}
    info = {"sparsity": sparsity, "scope": scope}
    info.update(meta or {})
    mask = Mask(masks, info)
    mask.meta["collapsed"] = mask.collapsed()  # layer collapse (§4.3) is reported, not hidden
    return mask


# ---------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _scoring(net: nn.Module):
    """Score ``net`` without side effects: buffers (BN running stats), mode and requires_grad restored."""
    buffers = {n: b.detach().clone() for n, b in net.named_buffers()}
    mode = net.training
    req = {n: p.requires_grad for n, p in net.named_parameters()}
    for p in net.parameters():
        p.requires_grad_(True)
    try:
        with torch.enable_grad():
            yield
    finally:
        with torch.no_grad():
            for n, b in net.named_buffers():
                b.copy_(buffers[n])
        net.train(mode)
        for n, p in net.named_parameters():
            p.requires_grad_(req[n])


def _grads(out: torch.Tensor, params: list[torch.Tensor], create_graph: bool = False) -> list[torch.Tensor]:
    gs = torch.autograd.grad(out, params, allow_unused=True, create_graph=create_graph)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params)]


def _data_loss(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None) -> torch.Tensor:
    """The fit loss ‖A G(θ, z) − y‖²/n with BN in training mode, as :func:`oes.fit.fit` computes it."""
    if y is None:
        raise ValueError("this pruner scores against the measurement y; pass y")
    net.train()
    return (operator or Operator()).data_fidelity(net(z), y)


# ---------------------------------------------------------------------------- scores
def random_scores(net: nn.Module, maskable: str = "all", seed: int = 0) -> dict[str, torch.Tensor]:
    """U(0, 1) per entry from a ``torch.Generator`` seeded with ``seed`` (same seed → same mask)."""
    rng = torch.Generator().manual_seed(int(seed) + 7368787)
    params = dict(net.named_parameters())
    return {n: torch.rand(params[n].shape, generator=rng, dtype=torch.float64) for n in maskable_names(net, maskable)}


def magnitude_scores(net: nn.Module, maskable: str = "all") -> dict[str, torch.Tensor]:
    """|θ_in| (magnitude pruning at initialisation, the PAI baseline of Table 4)."""
    params = dict(net.named_parameters())
    return {n: params[n].detach().abs().double().cpu() for n in maskable_names(net, maskable)}


def snip_scores(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None,
                maskable: str = "all") -> dict[str, torch.Tensor]:
    r"""SNIP connection sensitivity (Lee et al. 2018, "SNIP: single-shot network pruning based on
    connection sensitivity", eq. 6): s_j = |∂L/∂c_j| at c = 1 = |g_j θ_j|, one shot at θ_in.

    L is the fit's data loss against the *corrupted* y (the only data a DIP user has).  The
    normalisation by Σ|g θ| of eq. 6 does not change the ranking and is left out.
    """
    names = maskable_names(net, maskable)
    params = dict(net.named_parameters())
    ps = [params[n] for n in names]
    with _scoring(net):
        g = _grads(_data_loss(net, z, y, operator), ps)
    return {n: (gi * p.detach()).abs().double().cpu() for n, gi, p in zip(names, g, ps)}


def hessian_gradient_product(loss: torch.Tensor, params: Sequence[torch.Tensor]
                             ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    r"""(g, H g) for a scalar ``loss`` (built with grad enabled) by double backprop.

    g = ∇L with ``create_graph=True``; then H g = ∇_θ (g_const · g(θ)), the gradient of the
    inner product with a detached copy of g (Pearlmutter's trick; H symmetric).
    """
    params = list(params)
    g = _grads(loss, params, create_graph=True)
    inner = sum((gi * gi.detach()).sum() for gi in g if gi.requires_grad)
    if not isinstance(inner, torch.Tensor):  # no parameter is in the graph
        return [gi.detach() for gi in g], [torch.zeros_like(p) for p in params]
    hg = _grads(inner, params)
    return [gi.detach() for gi in g], [h.detach() for h in hg]


def grasp_scores(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None,
                 maskable: str = "all") -> dict[str, torch.Tensor]:
    r"""GraSP importance (Wang, Zhang & Grosse 2020, "Picking winning tickets before training by
    preserving gradient flow", §4, eq. 8), with the *sign convention of the paper*:

    S(−θ) = −θ ⊙ H g  is the first-order change of the gradient norm ‖g‖² when a weight is
    removed (δ = −θ).  GraSP **removes the weights with the largest S** — their removal reduces
    gradient flow the least (or increases it) — i.e. it keeps the smallest S.  This function
    returns the importance  θ ⊙ H g = −S(−θ)  so that, like every score in this module,
    *higher = keep*.  H g is a Hessian-gradient product computed by double backprop
    (:func:`hessian_gradient_product`) on the fit's data loss against y at θ_in; it is not
    the first-order H θ + g.  (Their temperature T = 200 is a softmax-classifier detail with
    no counterpart in the squared loss.)
    """
    names = maskable_names(net, maskable)
    params = dict(net.named_parameters())
    ps = [params[n] for n in names]
    with _scoring(net):
        _, hg = hessian_gradient_product(_data_loss(net, z, y, operator), ps)
    return {n: (p.detach() * h).double().cpu() for n, p, h in zip(names, ps, hg)}


def _pre_sigmoid_sum(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """R = Σ of the generator's output *before* its final sigmoid (the ``head`` conv's output)."""
    head = getattr(net, "head", None)
    if not isinstance(head, nn.Module):
        raise ValueError(f"SynFlow needs the generator's pre-sigmoid output; {type(net).__name__} has no `head` module")
    captured = []
    h = head.register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        net(x)
    finally:
        h.remove()
    return captured[-1].sum()


class _SynFlowNet:
    """A float64 copy of ``net`` in eval mode holding |θ| (built once, re-masked every round)."""

    def __init__(self, net: nn.Module, z: torch.Tensor, maskable: str):
        self.names = maskable_names(net, maskable)
        self.work = copy.deepcopy(net).double().eval()
        self.params = dict(self.work.named_parameters())
        self.abs = {n: p.detach().abs().clone() for n, p in self.params.items()}
        self.ones = torch.ones(z.shape, dtype=torch.float64, device=z.device)

    def scores(self, keep: Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            for n, p in self.params.items():
                p.copy_(self.abs[n])
                if keep is not None and n in keep:
                    p.mul_(keep[n].to(p.device, p.dtype))
        ps = [self.params[n] for n in self.names]
        for p in self.params.values():
            p.requires_grad_(True)
        with torch.enable_grad():
            g = _grads(_pre_sigmoid_sum(self.work, self.ones), ps)
        return {n: (p.detach() * gi).abs().cpu() for n, p, gi in zip(self.names, ps, g)}


def synflow_scores(net: nn.Module, z: torch.Tensor, keep: Mapping[str, torch.Tensor] | None = None,
                   maskable: str = "all") -> dict[str, torch.Tensor]:
    r"""One SynFlow scoring pass (Tanaka et al. 2020, "Pruning neural networks without any data by
    iteratively conserving synaptic flow", eq. 2 and Algorithm 1): S = |θ ⊙ ∂R/∂θ| with
    R = 1ᵀ G_{|θ| ∘ m}(1) — every parameter replaced by its absolute value (on a float64 copy,
    so ``net`` is never changed), an all-ones input shaped like ``z``, BatchNorm in eval mode,
    and R summed over the output of the last conv, *before* the final sigmoid (whose saturation
    would zero every score).  Data-free: no y.  ``keep`` masks the copy (pruned entries score 0).
    """
    return _SynFlowNet(net, z, maskable).scores(keep)


# ---------------------------------------------------------------------------- pruners
def _meta(method: str, maskable: str, seed: int, **kw) -> dict:
    return {"method": method, "maskable": maskable, "seed": int(seed), **kw}


def random_pruning(net: nn.Module, z: torch.Tensor | None = None, y: torch.Tensor | None = None,
                   operator: Operator | None = None, *, sparsity: float = 0.05, scope: str = "global",
                   maskable: str = "all", seed: int = 0) -> Mask:
    """Random pruning at initialisation (Table 4's "random" PAI baseline): a uniformly random subset."""
    return select(random_scores(net, maskable, seed), sparsity, scope, meta=_meta("random", maskable, seed))


def magnitude_pruning(net: nn.Module, z: torch.Tensor | None = None, y: torch.Tensor | None = None,
                      operator: Operator | None = None, *, sparsity: float = 0.05, scope: str = "global",
                      maskable: str = "all", seed: int = 0) -> Mask:
    """Magnitude pruning at initialisation (Table 4): keep the largest |θ_in|.

    Global at 5 % keeps every BN weight (= 1, larger than any conv weight) and empties whole
    tensors (BN biases are 0): the layer collapse of §4.3, listed in ``mask.collapsed()``.
    """
    return select(magnitude_scores(net, maskable), sparsity, scope, meta=_meta("magnitude", maskable, seed))


def snip(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None, *,
         sparsity: float = 0.05, scope: str = "global", maskable: str = "all", seed: int = 0) -> Mask:
    """SNIP (Lee et al. 2018): keep the largest connection sensitivities |g ⊙ θ_in| (:func:`snip_scores`)."""
    return select(snip_scores(net, z, y, operator, maskable), sparsity, scope, meta=_meta("snip", maskable, seed))


def grasp(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None, *,
          sparsity: float = 0.05, scope: str = "global", maskable: str = "all", seed: int = 0) -> Mask:
    """GraSP (Wang et al. 2020): remove the weights with the largest S(−θ) = −θ ⊙ Hg, i.e. keep the
    largest θ ⊙ Hg (:func:`grasp_scores`)."""
    return select(grasp_scores(net, z, y, operator, maskable), sparsity, scope,
                  meta=_meta("grasp", maskable, seed))


def synflow(net: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, operator: Operator | None = None, *,
            sparsity: float = 0.05, scope: str = "global", maskable: str = "all", seed: int = 0,
            rounds: int = 100, progress: bool | None = False) -> Mask:
    r"""SynFlow (Tanaka et al. 2020, Algorithm 1): iterative, data-free (``y`` and ``operator`` are ignored).

    Round k = 1..n rescores the surviving weights with :func:`synflow_scores` and keeps density
    s^(k/n) (exponential schedule, n = ``rounds`` = 100 in the paper); pruned weights stay
    pruned.  The last round keeps exactly n_keep(s, d).  ``net`` is unchanged (scores are
    computed on a float64 copy with |θ|), so the signed θ_in is what the mask is applied to.
    """
    sparsity = check_sparsity(sparsity)
    if int(rounds) < 1:
        raise ValueError(f"SynFlow needs at least 1 round, got {rounds}")
    rounds = int(rounds)
    flow = _SynFlowNet(net, z, maskable)
    mask = None
    for k in tqdm(range(1, rounds + 1), desc="SynFlow", disable=not progress_enabled(progress), leave=False):
        scores = flow.scores(mask)
        mask = select(scores, sparsity ** (k / rounds) if k < rounds else sparsity, scope, alive=mask)
    mask.meta.update(_meta("synflow", maskable, seed, rounds=rounds))
    return mask


# ---------------------------------------------------------------------------- the authors' variants
def _authors_scores(net: nn.Module, z: torch.Tensor, y: torch.Tensor | None, operator: Operator | None,
                    maskable: str, kind: str) -> dict[str, torch.Tensor]:
    names = maskable_names(net, maskable)
    params = dict(net.named_parameters())
    ps = [params[n] for n in names]
    with _scoring(net):
        net.train()
        if kind == "synflow":                      # Σ of the output (after the sigmoid), real input, signed θ
            g = _grads(net(z).sum(), ps)
            return {n: gi.abs().double().cpu() for n, gi in zip(names, g)}
        loss = _data_loss(net, z, y, operator)
        if kind == "snip":                         # |∂L/∂θ|, no θ factor
            g = _grads(loss, ps)
            return {n: gi.abs().double().cpu() for n, gi in zip(names, g)}
        g = _grads(loss, ps, create_graph=True)    # grasp: ∂(gᵀθ)/∂θ = H θ + g, smallest kept
        inner = sum((gi * p).sum() for gi, p in zip(g, ps) if gi.requires_grad)
        h = _grads(inner, ps) if isinstance(inner, torch.Tensor) else [gi.detach() for gi in g]
        return {n: (-hi.detach()).double().cpu() for n, hi in zip(names, h)}


def snip_authors(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None, *,
                 sparsity: float = 0.05, scope: str = "global", maskable: str = "all", seed: int = 0) -> Mask:
    """The authors' SNIP: keep the largest |∂L/∂θ| at θ_in (gradient magnitude only; module docstring)."""
    return select(_authors_scores(net, z, y, operator, maskable, "snip"), sparsity, scope,
                  meta=_meta("snip_authors", maskable, seed))


def grasp_authors(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None, *,
                  sparsity: float = 0.05, scope: str = "global", maskable: str = "all", seed: int = 0) -> Mask:
    """The authors' GraSP score H θ + g, keeping its smallest values, at density ``sparsity`` (module docstring)."""
    return select(_authors_scores(net, z, y, operator, maskable, "grasp"), sparsity, scope,
                  meta=_meta("grasp_authors", maskable, seed))


def synflow_authors(net: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, operator: Operator | None = None,
                    *, sparsity: float = 0.05, scope: str = "global", maskable: str = "all", seed: int = 0) -> Mask:
    """The authors' SynFlow: one shot, |∂ΣG(θ_in, z)/∂θ| with the signed weights and the real input
    (``y`` is ignored; module docstring)."""
    return select(_authors_scores(net, z, None, operator, maskable, "synflow"), sparsity, scope,
                  meta=_meta("synflow_authors", maskable, seed))


#: method name → pruner(net, z, y, operator=None, *, sparsity, scope, maskable, seed) -> Mask.
#: Pruning-at-initialisation methods only; IMP (which trains) is :func:`oes.imp.iterative_magnitude_pruning`.
PRUNERS: dict[str, Callable[..., Mask]] = {
    "random": random_pruning, "magnitude": magnitude_pruning, "snip": snip, "grasp": grasp, "synflow": synflow,
    "snip_authors": snip_authors, "grasp_authors": grasp_authors, "synflow_authors": synflow_authors,
}


# ---------------------------------------------------------------------------- registry (oes.runs)
def _make_builder(method: str):
    def build(spec, net, z, problem, progress):
        p = dict(spec.params)
        kw = {"sparsity": p.pop("sparsity", 0.05), "scope": p.pop("scope", "global"),
              "maskable": p.pop("maskable", "all")}
        if method == "synflow":
            kw["rounds"] = p.pop("rounds", 100)
            kw["progress"] = progress
        if p:
            raise ValueError(f"unknown {method} parameters: {', '.join(sorted(p))}; "
                             f"known: sparsity, scope, maskable{', rounds' if method == 'synflow' else ''}")
        t0 = time.perf_counter()
        mask = PRUNERS[method](net, z, problem.y, problem.operator, seed=spec.seed, **kw)
        seconds = time.perf_counter() - t0
        oracle = spec.target == "clean"
        mask.meta.update({"seconds": seconds, "oracle": oracle})
        if oracle:
            mask.meta["oracle_reason"] = "scored against the clean image (MaskSpec.target='clean')"
        return mask, {"seconds": seconds}
    build.__name__ = f"build_{method}"
    return build


def _register() -> None:
    from . import runs

    for name in PRUNERS:
        runs.MASK_BUILDERS.setdefault(name, _make_builder(name))


_register()
from . import imp as _imp  # noqa: E402,F401  (registers MASK_BUILDERS["imp"])


# ---------------------------------------------------------------------------- CLI
def add_prune_parser(sub, common: Callable) -> None:
    """Add ``oes prune`` to the ``oes`` command's subparsers."""
    p = sub.add_parser("prune", help="baseline masks at one density: random, magnitude, SNIP, GraSP, SynFlow, IMP")
    common(p)
    p.add_argument("--method", required=True, choices=[*PRUNERS, "imp"])
    p.add_argument("--scope", choices=SCOPES, default="global",
                   help="global ranking, or layer-wise with the same exact total (default global)")
    p.add_argument("--sparsity", type=float, default=0.05, help="fraction of parameters KEPT (default 0.05)")
    p.add_argument("--maskable", choices=["all", "weights"], default="all")
    p.add_argument("--rounds", type=int, default=None,
                   help="SynFlow iterations (default 100); IMP rounds (default: from --imp-schedule)")
    p.add_argument("--imp-schedule", default="0.8^14",
                   help="IMP keep-per-round^rounds, e.g. 0.8^14 or 0.2^3; the last round lands on --sparsity")
    p.add_argument("--rewind-step", type=int, default=0, help="IMP: rewind survivors to this step (0 = θ_in)")
    p.add_argument("--stop-step", default=None,
                   help="IMP at early stop (oracle): magnitudes at this step, or 'best' (best-PSNR step)")
    p.add_argument("--target", choices=["noisy", "clean"], default="noisy",
                   help="'clean' prunes against the clean image (oracle, App. E)")
    p.add_argument("--lr", type=float, default=None, help="IMP training learning rate (default: the preset's)")
    p.add_argument("--out", required=True, help="mask file to write (.pt)")
    p.set_defaults(fn=_cmd_prune)


def _cmd_prune(a) -> int:
    from .cli import _setup
    from .generators import build_generator, make_input

    out = Path(a.out)
    if out.suffix != ".pt":
        raise ValueError(f"--out {a.out!r} should end in .pt (the mask file)")
    check_sparsity(a.sparsity)
    if a.method != "imp":
        for opt, val, default in (("--rewind-step", a.rewind_step, 0), ("--stop-step", a.stop_step, None),
                                  ("--steps", a.steps, None), ("--lr", a.lr, None)):
            if val != default:
                raise ValueError(f"{opt} is only used by --method imp")
        if a.rounds is not None and a.method != "synflow":
            raise ValueError("--rounds is only used by --method synflow and --method imp")
    preset, size, sigma, problem = _setup(a)
    y = problem.operator.A(problem.x) if a.target == "clean" else problem.y
    gcfg = preset.generator
    net = build_generator(gcfg, a.seed)
    z = make_input(gcfg, size, a.seed)
    progress = True if a.progress else None
    t0 = time.perf_counter()
    rounds_table = None
    if a.method == "imp":
        from .imp import iterative_magnitude_pruning, parse_schedule

        keep, rounds = parse_schedule(a.imp_schedule)
        stop = a.stop_step
        if stop is not None and stop != "best":
            try:
                stop = int(stop)
            except ValueError:
                raise ValueError(f"--stop-step must be an integer or 'best', got {a.stop_step!r}") from None
        res = iterative_magnitude_pruning(
            net, z, y, problem.operator, sparsity=a.sparsity, rounds=a.rounds or rounds, keep_per_round=keep,
            train_steps=a.steps or preset.fit.steps, lr=a.lr or preset.fit.lr, rewind_step=a.rewind_step,
            stop_step=stop, scope=a.scope, maskable=a.maskable, x_true=problem.x, seed=a.seed, progress=progress,
            target=a.target)
        mask, rounds_table = res.mask, res.rounds
    else:
        kw = {"rounds": a.rounds or 100, "progress": progress} if a.method == "synflow" else {}
        mask = PRUNERS[a.method](net, z, y, problem.operator, sparsity=a.sparsity, scope=a.scope,
                                 maskable=a.maskable, seed=a.seed, **kw)
        mask.meta["oracle"] = a.target == "clean"
    seconds = time.perf_counter() - t0
    from . import __version__
    mask.meta.update({"method": a.method, "sparsity": a.sparsity, "scope": a.scope, "maskable": a.maskable,
                      "seed": a.seed, "generator": gcfg.to_dict(), "source_image": a.image, "size": size,
                      "sigma": sigma, "operator": a.operator, "preset": preset.name, "target": a.target,
                      "seconds": round(seconds, 3), "collapsed": mask.collapsed(), "version": __version__})
    mask.save(out)
    print(f"{a.method}: kept {mask.n_kept}/{mask.n_total} ({mask.density:.4%}) in {seconds:.1f} s → {out}")
    if rounds_table is not None:
        csv = out.with_name(out.stem + "_rounds.csv")
        rounds_table.to_csv(csv, index=False)
        print(f"IMP per-round training histories → {csv}")
    col = mask.collapsed()
    if col:
        print(f"warning: layer collapse — fully pruned tensors: {', '.join(col)}")
    return 0
