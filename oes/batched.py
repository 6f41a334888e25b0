r"""Batched training: N runs of one architecture and image size trained together in one process.

:func:`fit_batch` is :func:`oes.fit.fit` (Sparse-DIP step 2 of §3.2: min_θ ‖A G(θ ∘ m, z) − y‖²)
and :func:`learn_mask_batch` is :func:`oes.learn.learn_mask` (Algorithm 1, eq. 2) for N problems at
once. Each member keeps its own mask, Adam state, random stream, history, best-PSNR output,
checkpoint and stopping point; the N networks' parameters are stacked along a new leading axis
and one forward/backward pass serves them all. The per-run bookkeeping is the solo functions' own
(:class:`oes.fit.RunLog`, :func:`oes.fit.check_finite`, :func:`oes.learn._record_row`,
:class:`oes.learn._Convergence`, …), so the two paths cannot drift apart.

**How the N networks run as one.** The members' feature maps are stacked along the *channel* axis:
member i owns channels [i·C, (i+1)·C) of every activation, shape ``(1, N·C, H, W)``. Every layer of
the generators (:mod:`oes.generators`) then acts member by member:

* a convolution becomes one *grouped* convolution (``groups = N``) over the stacked weights;
* BatchNorm2d over N·C channels normalises each channel with its own batch statistics — exactly
  the statistics of the member's own activations — and updates each member's running statistics;
* padding, pooling, up-sampling and the activations are per channel anyway.

This was measured against ``torch.func.vmap`` over ``functional_call`` (``benchmarks/bench_batched.py``,
section "forward+backward"): vmap also lowers the convolutions to grouped ones, but its batching rules
for convolution and BatchNorm do not give the solo run's numbers, and it was not faster.

**Exactly the solo numbers (CPU).** A grouped convolution is not always computed by the same kernel
as the member's own convolution would be (PyTorch sends a small 3×3 convolution of one image to its
im2col path and a grouped one to oneDNN; a grouped 1×1 convolution at 2 threads reduces in another
order). So on the CPU each convolution layer checks once per input shape, thread count and N — on
the actual activations, forward *and* backward — whether the grouped call returns bit for bit what
the N separate calls return, and otherwise makes the N separate calls (the member's own call, as in
``fit``). Adam on stacked tensors is elementwise and was checked bit-equal to N separate Adams; the
Concrete sampler's sigmoid and the KL gradient, whose vectorised and scalar code paths differ in the
last bit, run row by row. The result: at 1 and 2 threads on this CPU every member's history, output,
weights, mask and logits are **bitwise equal** to the same run alone (``tests/test_batched.py``).
On a GPU the layers are always grouped (cuDNN's own algorithm choice is not bitwise reproducible
anyway); results then agree to float rounding, not bitwise.

Why bitwise matters: training amplifies rounding. With plain grouped convolutions (``exact=False``,
differences of ~1e-7 in a forward pass) two quick-preset runs ended 0.05 and 0.28 dB apart in final
PSNR after 2,000 steps, and two OES masks learned over 1,500 steps kept only 17–20 % of the same
weights (chance: 3 %) — see the ``agreement`` section of ``benchmarks/bench_batched.py``. Anything
else that changes rounding does the same: a solo quick run's losses at 1 and 2 threads already differ
from step 1 on (0.3 % by step 20; PyTorch picks another kernel for the 1×1 output convolution at 2
threads). A stored result is therefore reproducible bit for bit only on the same kind of machine at
the same thread count — batched or not.

Restrictions (checked, with a one-line error): the N networks must have one architecture (same
:class:`~oes.generators.GeneratorConfig`, built by :func:`~oes.generators.build_generator`), the
inputs and measurements one shape, all tensors one device; callbacks (SGLD, IMP hooks) act on one
network per step and are rejected — run such specs with :func:`oes.fit.fit`. Operators are applied
member by member, so denoising, inpainting and multi-coil MRI all batch.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.adam import adam as _adam_functional
from torch.optim.optimizer import _get_scalar_dtype
from tqdm import tqdm

from .fit import (FitConfig, FitResult, RunLog, check_finite, fit, fit_rng, is_record_step, load_checkpoint,
                  mask_values, progress_enabled)
from .generators import DeepDecoder, Hourglass
from .learn import (MaskConfig, MaskResult, buffers_of, resolve_lambda, restore_buffers, search_lambda, _check_loss, _ConcreteFn, _Convergence, _kl_grad_, _logistic,
                    kept_waste, _mask_result, _record_row, mask_rng, regulariser)
from .masks import Mask, atomic_torch_save, maskable_names
from .operators import Operator

__all__ = ["fit_batch", "learn_mask_batch", "StackedGenerator", "BatchError"]


class BatchError(ValueError):
    """Runs that cannot train in one batch (different architectures, sizes, devices, callbacks)."""


# ------------------------------------------------------------------ the N networks as one module
#: modules that act on each channel separately (so on each member's channels separately)
_PER_CHANNEL = (nn.Sequential, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.ZeroPad2d, nn.ConstantPad2d,
                nn.AvgPool2d, nn.MaxPool2d, nn.Upsample, nn.LeakyReLU, nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Identity)
#: generators whose forward only chains their children and applies an elementwise sigmoid
_TOP = (Hourglass, DeepDecoder)


class _StackedConv2d(nn.Module):
    """N convolutions of one shape: ``weight`` (N, C_out, C_in/g, k, k) and ``bias`` (N, C_out) are bound
    by :meth:`StackedGenerator.bind`; input and output carry member i in channels [i·C, (i+1)·C)."""

    def __init__(self, conv: nn.Conv2d, exact: bool):
        super().__init__()
        self.cin, self.stride, self.padding = conv.in_channels, conv.stride, conv.padding
        self.dilation, self.groups, self.exact = conv.dilation, conv.groups, exact
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.plan: dict[tuple, bool] = {}       # (N, input shape, dtype, device, threads) → grouped?

    def _grouped(self, x, w, b):
        return F.conv2d(x, w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1), self.stride,
                        self.padding, self.dilation, self.groups * w.shape[0])

    def _each(self, x, w, b):
        xs = x.split(self.cin, dim=1)
        return torch.cat([F.conv2d(xs[i], w[i], None if b is None else b[i], self.stride, self.padding,
                                   self.dilation, self.groups) for i in range(w.shape[0])], dim=1)

    def _grouped_is_exact(self, x: torch.Tensor) -> bool:
        """Does one grouped call give bit for bit the N separate calls (output and all gradients)?"""
        g = torch.Generator(device=x.device).manual_seed(0)
        with torch.enable_grad():
            results = []
            cot = None
            for fn in (self._grouped, self._each):
                xi = x.detach().clone().requires_grad_()
                wi = self.weight.detach().clone().requires_grad_()
                bi = None if self.bias is None else self.bias.detach().clone().requires_grad_()
                out = fn(xi, wi, bi)
                if cot is None:
                    cot = torch.rand(out.shape, generator=g, device=out.device, dtype=out.dtype)
                inputs = [t for t in (xi, wi, bi) if t is not None]
                results.append([out.detach(), *torch.autograd.grad(out, inputs, cot)])
        return all(torch.equal(a, b) for a, b in zip(*results))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.weight.shape[0]
        if n == 1:
            return F.conv2d(x, self.weight[0], None if self.bias is None else self.bias[0], self.stride,
                            self.padding, self.dilation, self.groups)
        if not self.exact or x.device.type != "cpu":
            return self._grouped(x, self.weight, self.bias)
        key = (n, tuple(x.shape), x.dtype, torch.get_num_threads())
        grouped = self.plan.get(key)
        if grouped is None:
            grouped = self.plan[key] = self._grouped_is_exact(x)
        return (self._grouped if grouped else self._each)(x, self.weight, self.bias)


class _StackedBatchNorm2d(nn.Module):
    """N BatchNorm2d layers in train mode: one call over N·C channels (statistics are per channel,
    hence per member); running statistics (N, C) are updated in place."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.eps, self.momentum = bn.eps, bn.momentum
        self.weight = self.bias = self.running_mean = self.running_var = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = [None if t is None else t.reshape(-1)
                for t in (self.running_mean, self.running_var, self.weight, self.bias)]
        return F.batch_norm(x, *flat, True, self.momentum, self.eps)


class StackedGenerator:
    """N generators of one architecture evaluated as one network on channel-stacked tensors.

    ``params`` / ``buffers`` (``name → (N, *shape)`` tensors, the names of ``template``'s parameters
    and BatchNorm running statistics) are bound with :meth:`bind`; ``__call__(z)`` takes the members'
    inputs concatenated along channels, ``(B, N·C_in, H, W)``, and returns ``(B, N, C_out, H, W)``.
    BatchNorm always uses batch statistics (train mode, as in ``fit`` and ``learn_mask``);
    ``num_batches_tracked`` is left to the caller (it does not enter the computation: momentum is set).
    """

    def __init__(self, template: nn.Module, exact: bool = True):
        _check_architecture(template)
        self.module = copy.deepcopy(template)
        self.convs: dict[str, _StackedConv2d] = {}
        self.norms: dict[str, _StackedBatchNorm2d] = {}
        self._replace(self.module, "", exact)
        self.module.train()
        self.n = 0

    def _replace(self, module: nn.Module, prefix: str, exact: bool) -> None:
        for name, child in list(module.named_children()):
            full = prefix + name
            if isinstance(child, nn.Conv2d):
                setattr(module, name, s := _StackedConv2d(child, exact))
                self.convs[full] = s
            elif isinstance(child, nn.BatchNorm2d):
                setattr(module, name, s := _StackedBatchNorm2d(child))
                self.norms[full] = s
            else:
                self._replace(child, full + ".", exact)

    def bind(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor]) -> None:
        for name, m in self.convs.items():
            m.weight, m.bias = params[f"{name}.weight"], params.get(f"{name}.bias")
        for name, m in self.norms.items():
            m.weight, m.bias = params.get(f"{name}.weight"), params.get(f"{name}.bias")
            m.running_mean, m.running_var = buffers[f"{name}.running_mean"], buffers[f"{name}.running_var"]
        self.n = next(iter(params.values())).shape[0]

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        out = self.module(z)
        return out.unflatten(1, (self.n, out.shape[1] // self.n))


def _check_architecture(net: nn.Module) -> None:
    if not isinstance(net, _TOP):
        raise BatchError(f"batched training supports the generators of oes.generators (hourglass, deep decoder), "
                         f"not {type(net).__name__}; train it with oes.fit.fit")
    for name, m in net.named_modules():
        if m is net:
            continue
        if isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise BatchError(f"layer {name!r}: only explicit zero padding batches (use a padding layer); "
                                 f"train this network with oes.fit.fit")
        elif isinstance(m, nn.BatchNorm2d):
            if m.momentum is None or not m.track_running_stats:
                raise BatchError(f"layer {name!r}: BatchNorm with momentum=None or without running statistics "
                                 f"does not batch; train this network with oes.fit.fit")
        elif not isinstance(m, _PER_CHANNEL):
            raise BatchError(f"layer {name!r} ({type(m).__name__}) may mix channels, so it cannot batch; "
                             f"train this network with oes.fit.fit")


def _running_names(net: nn.Module) -> list[str]:
    return [n for n, _ in net.named_buffers() if n.endswith(("running_mean", "running_var"))]


# ------------------------------------------------------------------ argument checks
def _as_list(x, n: int, what: str, default=None) -> list:
    if x is None:
        return [default] * n
    if isinstance(x, (FitConfig, MaskConfig)):
        return [x] * n
    x = list(x)
    if len(x) != n:
        raise BatchError(f"{what} has {len(x)} entries for {n} networks; give one per network")
    return x


def _check_batch(nets, zs, ys) -> torch.device:
    n = len(nets)
    if n == 0:
        raise BatchError("no networks to train: give at least one")
    for what, seq in (("zs", zs), ("ys", ys)):
        if len(seq) != n:
            raise BatchError(f"{what} has {len(seq)} entries for {n} networks; give one per network")
    first = nets[0]
    cfg0 = getattr(first, "cfg", None)
    shapes0 = [(k, tuple(p.shape)) for k, p in first.named_parameters()]
    for i, net in enumerate(nets[1:], 1):
        if type(net) is not type(first) or getattr(net, "cfg", None) != cfg0:
            raise BatchError(f"network {i} has another architecture than network 0 ({getattr(net, 'cfg', type(net))} "
                             f"vs {cfg0}); batch only runs of one GeneratorConfig")
        if [(k, tuple(p.shape)) for k, p in net.named_parameters()] != shapes0:
            raise BatchError(f"network {i}'s parameters differ in name or shape from network 0's; "
                             f"batch only runs of one GeneratorConfig")
    for i in range(1, n):
        if zs[i].shape != zs[0].shape:
            raise BatchError(f"input {i} has shape {tuple(zs[i].shape)} but input 0 has {tuple(zs[0].shape)}; "
                             f"batch only runs of one image size")
        if ys[i].shape != ys[0].shape:
            raise BatchError(f"measurement {i} has shape {tuple(ys[i].shape)} but measurement 0 has "
                             f"{tuple(ys[0].shape)}; batch only runs of one size and operator kind")
    device = zs[0].device
    for i in range(n):
        devs = {zs[i].device, ys[i].device} | {p.device for p in nets[i].parameters()}
        if devs != {device}:
            raise BatchError(f"member {i} has tensors on {sorted(map(str, devs))} but the batch runs on {device}; "
                             f"move every network, input and measurement to one device")
    return device


def _who(i: int, seed: int) -> str:
    return f"batch member {i} (seed {seed}): "


def _adam_groups(steps: Sequence[int], hyper: Sequence[tuple]) -> list[list[int]]:
    """Members that share (Adam step count, lr, betas, eps), each group in order."""
    groups: dict[tuple, list[int]] = {}
    for j, (s, h) in enumerate(zip(steps, hyper)):
        groups.setdefault((s, h), []).append(j)
    return list(groups.values())


@torch.no_grad()
def _adam_step(params: list[torch.Tensor], exp_avgs: list[torch.Tensor], exp_avg_sqs: list[torch.Tensor],
               steps: list[int], hyper: list[tuple]) -> None:
    """One ``torch.optim.Adam`` step of every member (its defaults: no weight decay, no AMSGrad) on the
    stacked tensors, by torch's own functional Adam, so each member gets exactly its solo update.
    Members at different step counts or learning rates (resumed runs) are updated group by group."""
    n = params[0].shape[0]
    for group in _adam_groups(steps, hyper):
        lr, (beta1, beta2), eps = hyper[group[0]]
        if len(group) == n:
            sel = slice(None)
        elif group == list(range(group[0], group[-1] + 1)):
            sel = slice(group[0], group[-1] + 1)
        else:
            sel = torch.tensor(group, device=params[0].device)
        ps = [p[sel] for p in params]
        ms = [m[sel] for m in exp_avgs]
        vs = [v[sel] for v in exp_avg_sqs]
        gs = [p.grad[sel] for p in params]
        step_ts = [torch.tensor(float(steps[group[0]]), dtype=_get_scalar_dtype()) for _ in params]
        _adam_functional(ps, gs, ms, vs, [], step_ts, foreach=None, capturable=False, differentiable=False,
                         fused=None, grad_scale=None, found_inf=None, has_complex=False, amsgrad=False,
                         beta1=beta1, beta2=beta2, lr=lr, weight_decay=0.0, eps=eps, maximize=False)
        if isinstance(sel, torch.Tensor):   # gathered copies: write them back
            for dst, src in zip((*params, *exp_avgs, *exp_avg_sqs), (*ps, *ms, *vs)):
                dst[sel] = src


# ------------------------------------------------------------------ fit_batch
@dataclass
class _FitMember:
    i: int
    net: nn.Module
    z: torch.Tensor
    y: torch.Tensor
    op: Operator
    cfg: FitConfig
    mask: dict
    x_true: torch.Tensor | None
    to_image: Callable | None
    seed: int
    ckpt: Path | None
    opt: torch.optim.Adam            # the member's own Adam: reads and writes checkpoints in fit's format
    rng: torch.Generator
    log: RunLog
    extra: dict
    step: int = 0                    # next step to run (= steps done)
    adam_step: int = 0
    hyper: tuple = ()
    seconds: float = 0.0
    forwards: int = 0                # forward passes not yet counted in the net's BatchNorm num_batches_tracked
    state: dict = field(default_factory=dict)


def fit_batch(nets: Sequence[nn.Module], zs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor],
              operators: Sequence[Operator | None] | None = None, *,
              cfgs: FitConfig | Sequence[FitConfig] = FitConfig(), masks: Sequence[Mask | None] | None = None,
              x_trues: Sequence[torch.Tensor | None] | None = None, seeds: Sequence[int],
              checkpoints: Sequence[str | Path | None] | None = None,
              to_images: Sequence[Callable | None] | None = None, callbacks: Sequence[Any] = (),
              progress: bool | None = None, desc: str = "batch", exact: bool = True) -> list[FitResult]:
    r""":func:`oes.fit.fit` for N networks of one architecture at once; returns one
    :class:`~oes.fit.FitResult` per network, in order, each what ``fit`` returns for that network alone.

    Every argument but ``progress`` and ``desc`` is per member (a sequence of N; ``cfgs`` may be one
    FitConfig for all; ``operators``, ``masks``, ``x_trues``, ``checkpoints``, ``to_images`` may be None
    for all). Members may differ in everything but architecture and tensor shapes: seeds, images, masks,
    operators, step counts, learning rates, record and checkpoint intervals.

    * A member's random draws (input noise) come from its own generator, seeded as in ``fit``.
    * Checkpoints are ``fit``'s files: a member whose checkpoint exists resumes from it, a batch
      interrupted can be finished by ``fit`` alone and the other way round.
    * A member that reaches its ``cfg.steps`` leaves the batch (its parameters and Adam state are
      sliced out) and the others continue.
    * ``FitResult.seconds`` is the member's share of the batch's wall time (each step's time split
      evenly among the members in it), plus the seconds of a checkpoint it resumed from.
    * A NaN/inf loss raises ``FloatingPointError`` naming the member and the step; the other members
      keep their last periodic checkpoint.
    * ``exact=False`` makes every convolution one grouped call (no per-layer check, see the module
      docstring): numbers then agree with the solo run to float rounding only.
    """
    n = len(nets)
    device = _check_batch(nets, zs, ys)
    if callbacks:
        raise BatchError("fit_batch takes no callbacks (they act on one network per step, e.g. SGLD or IMP); "
                         "run such specs with oes.fit.fit")
    operators = [op or Operator() for op in _as_list(operators, n, "operators")]
    cfgs = _as_list(cfgs, n, "cfgs")
    masks = _as_list(masks, n, "masks")
    x_trues = _as_list(x_trues, n, "x_trues")
    seeds = _as_list(seeds, n, "seeds")
    checkpoints = [Path(c) if c else None for c in _as_list(checkpoints, n, "checkpoints")]
    to_images = _as_list(to_images, n, "to_images")
    paths = [str(c.resolve()) for c in checkpoints if c is not None]
    if len(set(paths)) != len(paths):
        raise BatchError("two members share one checkpoint path; give each run its own file")
    for i, c in enumerate(cfgs):
        if not isinstance(c, FitConfig):
            raise BatchError(f"cfgs[{i}] is a {type(c).__name__}, expected an oes.fit.FitConfig")

    # per-member set-up, as fit does it (mask applied, checkpoint loaded, own Adam and RNG)
    members: list[_FitMember] = []
    results: list[FitResult | None] = [None] * n
    for i, net in enumerate(nets):
        net.train()
        mvals = mask_values(net, masks[i], device) if masks[i] is not None else {}
        for p in net.parameters():
            p.requires_grad_(True)
        m = _FitMember(i, net, zs[i], ys[i], operators[i], cfgs[i], mvals, x_trues[i], to_images[i], int(seeds[i]),
                       checkpoints[i], torch.optim.Adam(net.parameters(), lr=cfgs[i].lr), fit_rng(seeds[i], device),
                       RunLog(), {})
        if m.ckpt is not None and m.ckpt.exists():
            ck = load_checkpoint(m.ckpt, device)
            if ck.get("callbacks"):
                raise BatchError(f"{_who(i, m.seed)}checkpoint {m.ckpt} holds callback state; resume it with oes.fit.fit")
            net.load_state_dict(ck["net"])
            m.opt.load_state_dict(ck["optimizer"])
            m.rng.set_state(ck["rng"])
            m.log = RunLog.from_checkpoint(ck)
            m.extra = ck.get("extra", {})
        m.step = m.log.start
        m.seconds = m.log.elapsed
        if m.step >= m.cfg.steps:   # nothing left to train: fit itself rewrites the checkpoint and the output
            results[i] = fit(net, m.z, m.y, m.op, cfg=m.cfg, mask=masks[i], x_true=m.x_true, to_image=m.to_image,
                             checkpoint=m.ckpt, seed=m.seed, progress=False)
            continue
        m.adam_step, m.hyper = _adam_state(m)
        members.append(m)
    if not members:
        return results

    names = [k for k, _ in nets[0].named_parameters()]
    running = _running_names(nets[0])
    masked_names = [k for k in names if any(k in m.mask for m in members)]
    net_g = StackedGenerator(nets[0], exact=exact)

    def stack(fn) -> torch.Tensor:
        return torch.stack([fn(m) for m in members])

    with torch.no_grad():
        P = {k: stack(lambda m: dict(m.net.named_parameters())[k].detach()).requires_grad_() for k in names}
        B = {k: stack(lambda m: dict(m.net.named_buffers())[k].detach()) for k in running}
        M = {k: stack(lambda m: m.mask.get(k, torch.ones_like(P[k][0]))) for k in masked_names}
        EA = {k: stack(lambda m: m.state[k][0]) for k in names}
        ES = {k: stack(lambda m: m.state[k][1]) for k in names}
    for m in members:
        m.state = {}
    net_g.bind(P, B)

    def write_back(m: _FitMember, j: int) -> None:
        with torch.no_grad():
            for k, p in m.net.named_parameters():
                p.copy_(P[k][j])
            for k, b in m.net.named_buffers():
                if k in B:
                    b.copy_(B[k][j])
                elif k.endswith("num_batches_tracked"):
                    b.add_(m.forwards)
        m.forwards = 0

    def save(m: _FitMember, j: int, step_done: int) -> None:
        if m.ckpt is None:
            return
        write_back(m, j)
        params = dict(m.net.named_parameters())
        m.opt.state.clear()
        if m.adam_step:
            for k in names:
                m.opt.state[params[k]] = {"step": torch.tensor(float(m.adam_step), dtype=_get_scalar_dtype()),
                                          "exp_avg": EA[k][j].clone(), "exp_avg_sq": ES[k][j].clone()}
        atomic_torch_save(m.log.checkpoint(m.net.state_dict(), m.opt.state_dict(), m.rng.get_state(), step_done,
                                           m.seconds, m.extra, []), m.ckpt)

    total = sum(m.cfg.steps - m.step for m in members)
    bar = tqdm(total=total, desc=desc, disable=not progress_enabled(progress), leave=False, dynamic_ncols=True)
    t_last = time.perf_counter()
    try:
        while members:
            z_in = [m.z + torch.randn(m.z.shape, generator=m.rng, device=device) * m.cfg.reg_noise_std
                    if m.cfg.reg_noise_std > 0 else m.z for m in members]
            out = net_g(torch.cat(z_in, dim=1))
            losses = [m.op.data_fidelity(out[:, j], m.y) for j, m in enumerate(members)]
            values = torch.stack([l.detach() for l in losses]).tolist()
            for j, m in enumerate(members):
                check_finite(values[j], m.step, m.cfg.lr, who=_who(m.i, m.seed))
            for j, m in enumerate(members):
                if is_record_step(m.step, m.cfg):
                    m.log.record(m.step, values[j], out[:, j].detach(), m.x_true, m.to_image, m.cfg.keep_best)
            for p in P.values():
                p.grad = None
            torch.stack(losses).sum().backward()
            if M:
                torch._foreach_mul_([P[k].grad for k in M], list(M.values()))
            _adam_step([P[k] for k in names], [EA[k] for k in names], [ES[k] for k in names],
                       [m.adam_step for m in members], [m.hyper for m in members])
            if M:
                with torch.no_grad():
                    torch._foreach_mul_([P[k] for k in M], list(M.values()))
            now = time.perf_counter()
            share = (now - t_last) / len(members)
            t_last = now
            done = []
            for j, m in enumerate(members):
                m.step += 1
                m.adam_step += 1
                m.forwards += 1
                m.seconds += share
                if m.step >= m.cfg.steps:
                    done.append(j)
                elif m.cfg.checkpoint_every and m.step % m.cfg.checkpoint_every == 0:
                    save(m, j, m.step)
            bar.update(len(members))
            if done:
                for j in done:
                    m = members[j]
                    save(m, j, m.step)
                    write_back(m, j)
                    x_hat = out[:, j].detach().clone()
                    results[m.i] = m.log.result(x_hat, m.net, m.seconds, m.step, m.extra)
                keep = [j for j in range(len(members)) if j not in done]
                members = [members[j] for j in keep]
                if members:
                    idx = torch.tensor(keep, device=device)
                    with torch.no_grad():
                        P = {k: v.detach()[idx].requires_grad_() for k, v in P.items()}
                        for d in (B, M, EA, ES):
                            for k in d:
                                d[k] = d[k][idx]
                    net_g.bind(P, B)
                t_last = time.perf_counter()
    finally:
        bar.close()
    return results


def _adam_state(m: _FitMember) -> tuple[int, tuple]:
    """The member's Adam step count, hyper-parameters and moments (from its loaded state, as fit would use)."""
    group = m.opt.param_groups[0]
    if group["amsgrad"] or group["weight_decay"] or group["maximize"] or group.get("decoupled_weight_decay"):
        raise BatchError(f"{_who(m.i, m.seed)}the checkpoint's Adam uses options fit does not set; resume it with oes.fit.fit")
    params = dict(m.net.named_parameters())
    steps = set()
    for k, p in params.items():
        st = m.opt.state.get(p)
        if st:
            steps.add(int(st["step"]))
            m.state[k] = (st["exp_avg"].detach().clone(), st["exp_avg_sq"].detach().clone())
        else:
            steps.add(0)
            m.state[k] = (torch.zeros_like(p.detach()), torch.zeros_like(p.detach()))
    if len(steps) != 1:
        raise BatchError(f"{_who(m.i, m.seed)}the checkpoint's Adam state has different step counts per parameter; "
                         f"resume it with oes.fit.fit")
    m.opt.state.clear()
    return steps.pop(), (float(group["lr"]), tuple(float(b) for b in group["betas"]), float(group["eps"]))


# ------------------------------------------------------------------ learn_mask_batch
class _ConcreteRowsFn(_ConcreteFn):
    """:class:`oes.learn._ConcreteFn` on stacked logits (N, d): the sigmoid runs row by row, so each
    member's m̂ is bit for bit its solo draw (the vectorised and scalar sigmoid differ in the last bit);
    the backward is the solo one."""

    @staticmethod
    def forward(ctx, v, logistic, inv_t):
        m = logistic.add_(v).mul_(inv_t)
        for row in m:
            row.sigmoid_()
        ctx.save_for_backward(m)
        ctx.inv_t = inv_t
        return m


def learn_mask_batch(nets: Sequence[nn.Module], zs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor],
                     operators: Sequence[Operator | None] | None = None, *, cfg: MaskConfig = MaskConfig(),
                     seeds: Sequence[int], x_trues: Sequence[torch.Tensor | None] | None = None,
                     to_images: Sequence[Callable | None] | None = None, metas: Sequence[dict | None] | None = None,
                     on_checks: Sequence[Callable[[int, torch.Tensor], None] | None] | None = None,
                     progress: bool | None = None, desc: str = "OES masks", exact: bool = True) -> list[MaskResult]:
    r""":func:`oes.learn.learn_mask` (Algorithm 1) for N problems at once, one :class:`~oes.learn.MaskResult`
    per network, each what ``learn_mask`` returns for that problem alone.

    The logits v of the N problems are stacked (N, d); each member's Concrete uniforms come from its own
    generator seeded as in ``learn_mask`` (K draws per step, in the same order), the KL gradient is added
    in closed form, and the convergence checks and the optional stopping rule are ``learn_mask``'s own: a
    member whose rule fires leaves the batch and the others continue. ``net`` weights θ_in are not
    changed (BatchNorm running statistics aside, as in ``learn_mask``). ``MaskResult.seconds`` is the
    member's share of the batch's wall time. ``metas`` and ``on_checks`` are ``learn_mask``'s ``meta`` and
    ``on_check`` per member (``on_check(step, v)`` gets the member's logits, a detached view: copy to keep).
    ``exact``: as in :func:`fit_batch`. With ``cfg.lam_search`` every member searches its λ rule's ratio
    (:func:`oes.learn.search_lambda`, the solo function's own moves); each round of tries is one batch.
    """
    n = len(nets)
    device = _check_batch(nets, zs, ys)
    operators = [op or Operator() for op in _as_list(operators, n, "operators")]
    seeds = [int(s) for s in _as_list(seeds, n, "seeds")]
    x_trues = _as_list(x_trues, n, "x_trues")
    to_images = _as_list(to_images, n, "to_images")
    metas = _as_list(metas, n, "metas")
    on_checks = _as_list(on_checks, n, "on_checks")
    if not isinstance(cfg, MaskConfig):
        raise BatchError(f"cfg is a {type(cfg).__name__}, expected one oes.learn.MaskConfig for the whole batch")

    saved = buffers_of(list(nets)) if cfg.lam_search else None

    def learn_round(idx: list[int], cfgs: list[MaskConfig], attempt: int) -> list[MaskResult]:
        pick = lambda seq: [seq[i] for i in idx]
        if saved is not None:
            restore_buffers(pick(nets), pick(saved))
        return _learn_mask_batch_once(pick(nets), pick(zs), pick(ys), pick(operators), cfgs, pick(seeds),
                                      pick(x_trues), pick(to_images), pick(metas), pick(on_checks), progress,
                                      desc if not attempt else f"{desc} (λ try {attempt + 1})", exact)

    return search_lambda(cfg, learn_round, n)


def _learn_mask_batch_once(nets, zs, ys, operators, cfgs: list[MaskConfig], seeds, x_trues, to_images, metas,
                           on_checks, progress, desc, exact) -> list[MaskResult]:
    """One round of :func:`learn_mask_batch`: member i learns with ``cfgs[i]`` (configs that differ at most
    in ``lam_ratio``), each with the λ its config gives."""
    n = len(nets)
    cfg = cfgs[0]
    device = zs[0].device
    resolved = [resolve_lambda(nets[i], zs[i], ys[i], operators[i], cfgs[i], seeds[i]) for i in range(n)]
    metas = [{**info, **(m or {})} for (_, info), m in zip(resolved, metas)]
    names = maskable_names(nets[0], cfg.maskable)
    all_names = [k for k, _ in nets[0].named_parameters()]
    running = _running_names(nets[0])
    shapes = [dict(nets[0].named_parameters())[k].shape for k in names]
    sizes = [s.numel() for s in shapes]
    d = sum(sizes)
    net_g = StackedGenerator(nets[0], exact=exact)
    theta = {k: torch.stack([dict(net.named_parameters())[k].detach() for net in nets]) for k in all_names}
    B = {k: torch.stack([dict(net.named_buffers())[k].detach() for net in nets]) for k in running}
    v = torch.zeros(n, d, device=device, requires_grad=True)
    EA, ES = torch.zeros_like(v), torch.zeros_like(v)
    hyper = (float(cfg.lr), (0.9, 0.999), 1e-8)       # torch.optim.Adam's defaults, as learn_mask uses them
    rngs = [mask_rng(s, cfg, device) for s in seeds]
    req = [{k: p.requires_grad for k, p in net.named_parameters()} for net in nets]
    for net in nets:
        net.train()
        for p in net.parameters():
            p.requires_grad_(False)
    active = list(range(n))                 # original indices of the members still learning
    waste_of = kept_waste(nets[0], names, shapes)
    convs = [_Convergence(c, waste_of) for c, _ in resolved]
    rows: list[list[dict]] = [[] for _ in range(n)]
    seconds = [0.0] * n
    steps_run = [0] * n
    forwards = [0] * n
    flats: list[torch.Tensor | None] = [None] * n
    analytic_kl = cfg.reg == "kl"
    inv_t = 1.0 / cfg.temperature

    def write_back_buffers(j: int, i: int) -> None:
        with torch.no_grad():
            for k, b in nets[i].named_buffers():
                if k in B:
                    b.copy_(B[k][j])
                elif k.endswith("num_batches_tracked"):
                    b.add_(forwards[i])
        forwards[i] = 0

    bar = tqdm(total=n * cfg.steps, desc=desc, disable=not progress_enabled(progress), leave=False,
               dynamic_ncols=True)
    t_last = time.perf_counter()
    try:
        for step in range(cfg.steps):
            data: list = [0.0] * len(active)
            for _ in range(cfg.samples):
                noise = torch.stack([_logistic((d,), rngs[i], device, v.dtype) for i in active])
                m_hat = _ConcreteRowsFn.apply(v, noise, inv_t)
                params = dict(theta)
                for k, m in zip(names, m_hat.split(sizes, dim=1)):
                    params[k] = theta[k] * m.view(theta[k].shape)
                net_g.bind(params, B)
                out = net_g(torch.cat([zs[i] for i in active], dim=1))
                data = [data[j] + operators[i].data_fidelity(out[:, j], ys[i]) / cfg.samples
                        for j, i in enumerate(active)]
            if analytic_kl:
                losses = data
            else:   # unbind: one backward node for all rows (indexing v[j] would make N full-size gradients)
                rows_v = v.unbind(0)
                losses = [data[j] + convs[i].lam * regulariser(rows_v[j], cfg.reg, cfg.p0, cfg.sparsity)
                          for j, i in enumerate(active)]
            finite = torch.isfinite(torch.stack([l.detach() for l in losses])).tolist()   # one sync, not N
            for j, i in enumerate(active):
                if not finite[j]:
                    _check_loss(losses[j], step, cfg.lr, who=_who(i, seeds[i]))
            check = convs[active[0]].due(step)
            if step % cfg.record_every == 0 or step == cfg.steps - 1 or check:
                for j, i in enumerate(active):
                    row = _record_row(step, data[j], v[j], cfg, out[:, j], x_trues[i], to_images[i])
                    if check:
                        convs[i].check(v[j], row)
                        if on_checks[i] is not None:
                            on_checks[i](step, v[j].detach())
                    rows[i].append(row)
            v.grad = None
            torch.stack(losses).sum().backward()
            if analytic_kl:
                for j, i in enumerate(active):
                    if convs[i].lam:
                        _kl_grad_(v[j], cfg.p0, convs[i].lam, grad=v.grad[j])
            _adam_step([v], [EA], [ES], [step] * len(active), [hyper] * len(active))
            now = time.perf_counter()
            share = (now - t_last) / len(active)
            t_last = now
            for i in active:
                steps_run[i] = step + 1
                forwards[i] += cfg.samples
                seconds[i] += share
            bar.update(len(active))
            stop = [j for j, i in enumerate(active) if convs[i].stop]
            if stop:
                for j in stop:
                    flats[active[j]] = v[j].detach().clone()
                    write_back_buffers(j, active[j])
                keep = [j for j in range(len(active)) if j not in stop]
                active = [active[j] for j in keep]
                if not active:
                    break
                idx = torch.tensor(keep, device=device)
                with torch.no_grad():
                    v = v.detach()[idx].requires_grad_()
                    EA, ES = EA[idx], ES[idx]
                    theta = {k: t[idx] for k, t in theta.items()}
                    B = {k: t[idx] for k, t in B.items()}
                t_last = time.perf_counter()
        for j, i in enumerate(active):
            flats[i] = v[j].detach().clone()
            write_back_buffers(j, i)
    finally:
        bar.close()
        for net, r in zip(nets, req):
            for k, p in net.named_parameters():
                p.requires_grad_(r[k])
    return [_mask_result(flats[i], names, shapes, resolved[i][0], seeds[i], operators[i], metas[i], convs[i],
                         steps_run[i], rows[i], seconds[i]) for i in range(n)]
