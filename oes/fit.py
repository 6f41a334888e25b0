r"""The one training loop: ``fit`` minimises ‖A G(θ ∘ m, z) − y‖² over θ (Sparse-DIP step 2, §3.2).

Dense DIP (no mask), Sparse-DIP (a :class:`~oes.masks.Mask`), the Deep Decoder,
every IMP round and GP-DIP (SGLD, through a callback) all train through this
function.  It never looks at the clean image except to *record* PSNR.

Callbacks are objects with any of these methods (all optional):

* ``on_step(state)`` — after each optimiser step, *before* the mask is re-applied (so noise a
  callback adds to pruned weights is removed again); may set ``state.stop = True``;
* ``on_record(state, row)`` — when a history row is recorded; may add keys to ``row``;
* ``state_dict()`` / ``load_state_dict(d)`` — saved in checkpoints for exact resume.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from .masks import Mask, atomic_torch_save
from .metrics import psnr
from .operators import Operator

__all__ = ["FitConfig", "FitResult", "FitState", "fit", "progress_enabled"]


@dataclass(frozen=True)
class FitConfig:
    steps: int = 40_000            # paper: 40 k iterations, no early stopping (§4.2)
    lr: float = 1e-2               # Adam, as in Ulyanov et al. (2018)
    record_every: int = 10         # history row every N steps (and at the last step)
    reg_noise_std: float = 0.0     # DIP input-noise regularisation: z + N(0, std²) each step
    checkpoint_every: int = 0      # 0: only at the end (when a checkpoint path is given)
    keep_best: bool = True         # keep the output at the best recorded PSNR (needs x_true)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FitState:
    """What callbacks see: the network, optimiser, step, last output and loss."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    rng: torch.Generator
    cfg: FitConfig
    step: int = 0
    loss: float = float("nan")
    x_hat: torch.Tensor | None = None
    mask: Mask | None = None
    stop: bool = False
    extra: dict = field(default_factory=dict)


@dataclass
class FitResult:
    history: pd.DataFrame          # columns step, loss, psnr (+ callback columns)
    x_hat: torch.Tensor            # output at the last step
    net: nn.Module
    seconds: float
    steps: int                     # steps actually run (a callback may stop early)
    best_psnr: float = float("nan")
    best_step: int = -1
    best_x_hat: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)

    @property
    def final_psnr(self) -> float:
        return float(self.history["psnr"].iloc[-1]) if "psnr" in self.history and len(self.history) else float("nan")

    def summary(self) -> dict:
        return {"final_psnr": self.final_psnr, "best_psnr": self.best_psnr, "best_step": self.best_step,
                "steps": self.steps, "seconds": round(self.seconds, 3),
                "final_loss": float(self.history["loss"].iloc[-1]) if len(self.history) else float("nan"),
                **{k: v for k, v in self.extra.items() if isinstance(v, (int, float, str, bool))}}


def progress_enabled(progress: bool | None) -> bool:
    """``None`` → show a bar only when stderr is a terminal (not in CI logs or papermill)."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def _call(callbacks, method, *args):
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None:
            fn(*args)


# ---------------------------------------------------------------- shared with oes.batched.fit_batch
def fit_rng(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The loop's own random stream (input noise, callbacks' noise) for ``seed``."""
    return torch.Generator(device=device).manual_seed(int(seed) + 15485863)


def is_record_step(step: int, cfg: FitConfig) -> bool:
    """A history row every ``cfg.record_every`` steps and at the last step."""
    return step % cfg.record_every == 0 or step == cfg.steps - 1


def check_finite(loss_value: float, step: int, lr: float, who: str = "") -> None:
    """Raise ``FloatingPointError`` naming the step (and ``who``, e.g. a batch member) on NaN/inf."""
    if not math.isfinite(loss_value):
        raise FloatingPointError(f"{who}loss became {loss_value} at step {step}; "
                                 f"lower the learning rate (now {lr}) or check the input image")


def mask_values(net: nn.Module, mask: Mask, device: torch.device | str) -> dict[str, torch.Tensor]:
    """Check ``mask`` against ``net``, zero the pruned weights, return ``name → 0/1 tensor`` (param dtype)."""
    mask.check(net)
    mask.apply_(net)
    params = dict(net.named_parameters())
    return {n: m.to(device=device, dtype=params[n].dtype) for n, m in mask.items()}


def load_checkpoint(path: Path, device: torch.device | str) -> dict:
    return torch.load(path, weights_only=False, map_location=device)


@dataclass
class RunLog:
    """What a run records: history rows and the best recorded PSNR (with its image), plus where
    it starts (step, seconds) when resumed from a checkpoint."""

    rows: list = field(default_factory=list)
    best_psnr: float = float("-inf")
    best_step: int = -1
    best_x: torch.Tensor | None = None
    start: int = 0
    elapsed: float = 0.0

    @classmethod
    def from_checkpoint(cls, ck: dict) -> "RunLog":
        return cls(ck["history"], ck["best_psnr"], ck["best_step"], ck["best_x_hat"], ck["step"], ck["seconds"])

    def record(self, step: int, loss_value: float, out: torch.Tensor, x_true: torch.Tensor | None,
               to_image: Callable[[torch.Tensor], torch.Tensor] | None, keep_best: bool) -> dict:
        """Append (and return) the history row of ``step``; ``out`` is the detached generator output."""
        row = {"step": step, "loss": loss_value}
        if x_true is not None:
            img = to_image(out) if to_image else out
            row["psnr"] = psnr(img, x_true)
            if row["psnr"] > self.best_psnr:
                self.best_psnr, self.best_step = row["psnr"], step
                self.best_x = img.clone() if keep_best else None
        self.rows.append(row)
        return row

    def checkpoint(self, net_state: dict, opt_state: dict, rng_state: torch.Tensor, step_done: int, seconds: float,
                   extra: dict, callbacks_state: list) -> dict:
        """The checkpoint file's content (one format for ``fit`` and ``fit_batch``)."""
        return {"net": net_state, "optimizer": opt_state, "rng": rng_state, "history": self.rows, "step": step_done,
                "seconds": seconds, "best_psnr": self.best_psnr, "best_step": self.best_step,
                "best_x_hat": self.best_x, "extra": extra, "callbacks": callbacks_state}

    def result(self, x_hat: torch.Tensor, net: nn.Module, seconds: float, steps: int, extra: dict) -> FitResult:
        return FitResult(history=pd.DataFrame(self.rows), x_hat=x_hat, net=net, seconds=seconds, steps=steps,
                         best_psnr=self.best_psnr if self.best_step >= 0 else float("nan"),
                         best_step=self.best_step, best_x_hat=self.best_x, extra=dict(extra))


def fit(net: nn.Module, z: torch.Tensor, y: torch.Tensor, operator: Operator | None = None, *,
        cfg: FitConfig = FitConfig(), mask: Mask | None = None, x_true: torch.Tensor | None = None,
        to_image: Callable[[torch.Tensor], torch.Tensor] | None = None,
        callbacks: Sequence[Any] = (), checkpoint: str | Path | None = None, seed: int = 0,
        progress: bool | None = None, desc: str = "fit") -> FitResult:
    r"""Train ``net`` on ``y`` for ``cfg.steps`` Adam steps: min_θ ‖A G(θ ∘ m, z) − y‖².

    :param mask: pruned entries are zeroed before the first step and stay exactly zero
        (their gradients are masked and the parameters re-masked after every step).
    :param x_true: clean image, used **only** to record PSNR (an oracle metric, never in the loss).
    :param to_image: maps the generator output to the image compared with ``x_true``
        (e.g. complex magnitude for MRI); identity by default.
    :param checkpoint: file path; if it exists the run resumes from it, and it is
        (atomically) rewritten every ``cfg.checkpoint_every`` steps and at the end.
    :param seed: seeds the loop's own random draws (input noise, callbacks' noise).
    """
    operator = operator or Operator()
    device = z.device
    net.train()
    masks = mask_values(net, mask, device) if mask is not None else {}
    params = dict(net.named_parameters())
    masked_params = [params[n] for n in masks]
    mask_tensors = list(masks.values())
    for p in net.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = fit_rng(seed, device)
    state = FitState(net, opt, rng, cfg, mask=mask)
    log = RunLog()

    ckpt_path = Path(checkpoint) if checkpoint else None
    if ckpt_path is not None and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, device)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["optimizer"])
        rng.set_state(ck["rng"])
        log = RunLog.from_checkpoint(ck)
        state.extra = ck.get("extra", {})
        for cb, sd in zip(callbacks, ck.get("callbacks", [])):
            if sd is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(sd)
    start = log.start

    def save_checkpoint(step_done: int, secs: float) -> None:
        if ckpt_path is None:
            return
        atomic_torch_save(log.checkpoint(
            net.state_dict(), opt.state_dict(), rng.get_state(), step_done, secs, state.extra,
            [cb.state_dict() if hasattr(cb, "state_dict") else None for cb in callbacks]), ckpt_path)

    t0 = time.perf_counter()
    x_hat = None
    step = start
    bar = tqdm(total=cfg.steps, initial=start, desc=desc, disable=not progress_enabled(progress),
               leave=False, dynamic_ncols=True)
    try:
        for step in range(start, cfg.steps):
            z_in = z
            if cfg.reg_noise_std > 0:
                z_in = z + torch.randn(z.shape, generator=rng, device=device) * cfg.reg_noise_std
            out = net(z_in)
            loss = operator.data_fidelity(out, y)
            loss_value = loss.item()
            check_finite(loss_value, step, cfg.lr)
            state.step, state.loss, state.x_hat = step, loss_value, out.detach()
            if is_record_step(step, cfg):
                row = log.record(step, loss_value, out.detach(), x_true, to_image, cfg.keep_best)
                _call(callbacks, "on_record", state, row)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if masks:  # one fused call per list instead of a Python loop over tensors
                torch._foreach_mul_([p.grad for p in masked_params], mask_tensors)
            opt.step()
            _call(callbacks, "on_step", state)
            if masks:
                with torch.no_grad():
                    torch._foreach_mul_(masked_params, mask_tensors)
            x_hat = out.detach()
            bar.update(1)
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
                save_checkpoint(step + 1, log.elapsed + time.perf_counter() - t0)
            if state.stop:
                break
    finally:
        bar.close()
    steps_done = (step + 1) if cfg.steps > start else start
    seconds = log.elapsed + time.perf_counter() - t0
    save_checkpoint(steps_done, seconds)
    if x_hat is None:  # resumed at the end: recompute the output without updating anything
        with torch.no_grad():
            x_hat = net(z)
    return log.result(x_hat, net, seconds, steps_done, state.extra)
