r"""Restore one's own image at its own size: an OES mask, then Sparse-DIP (``oes denoise`` / ``oes inpaint``).

The two steps of the paper's method on a single photograph, with the library's own functions:

1. learn the mask :math:`m^*(y)` of a random network by Algorithm 1 (eq. 2; :func:`oes.learn.learn_mask`),
2. train the sparse subnetwork :math:`G(\theta \circ m^*(y), z)` from :math:`\theta_{in}` on ``y`` without
   early stopping (§3.2, Sparse-DIP; :func:`oes.fit.fit`),

at the preset's network, step counts and sparsity but at the **image's own size**. The hourglass only
produces sides that are multiples of ``2**depth`` and at least
:func:`oes.generators.smallest_valid_size`, so the observed image is padded by reflection (split
between both sides) to the next valid size; the loss is taken over the padded image, and the output is
cropped back to exactly the input's rows and columns. A gray image is restored by a one-channel
generator and written back as gray; a colour image as colour (an alpha channel is copied through).
A 16-bit gray image is written back with 16 bits; colour and alpha images with 8 bits per channel
(the PNG writer, Pillow, does not write 16-bit colour).

Inpainting (``oes inpaint IMAGE --mask-image M``): ``M`` is an image of the same size in which
**white marks the pixels to fill in** and black the pixels to keep (the convention of most
inpainting tools); the loss sees only the kept pixels (:class:`oes.operators.Inpainting`'s data term).

Before training, :func:`plan_restore` times a few steps of each phase on the chosen device and
extrapolates to the full step counts (``estimate``); :func:`run_restore` then runs both phases under
one progress bar and writes into ``out_dir``: ``restored.png``, ``figure.png`` (input, output, loss
curve), ``mask.pt`` (the OES mask, loadable by :meth:`oes.masks.Mask.load`), ``history.csv`` (both
phases, column ``phase``) and ``result.json`` (configuration, estimate and measured seconds). Files
are written to a temporary folder and moved into ``out_dir`` at the end, so a failure or an
interruption leaves no partial output.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .data import DataError
from .fit import FitConfig, fit, progress_enabled
from .generators import GeneratorConfig, build_generator, check_image_size, count_parameters, make_input, \
    smallest_valid_size
from .learn import MaskConfig, convergence_summary, learn_mask, n_keep
from .masks import Mask, maskable_names
from .metrics import psnr
from .operators import Denoising, Inpainting, Operator

__all__ = ["RestoreError", "read_image", "read_hole_mask", "padded_size", "pad_reflect", "pick_device",
           "RestorePlan", "RestoreResult", "plan_restore", "run_restore", "restore", "OUTPUT_FILES"]

OUTPUT_FILES = ("restored.png", "figure.png", "mask.pt", "history.csv", "result.json")


class RestoreError(ValueError):
    """A one-line, user-facing problem with the input (the CLI prints it and exits with status 2)."""


# ------------------------------------------------------------------ images in and out
@dataclass
class Picture:
    """An image as read from disk: the observed pixels plus what is needed to write it back alike."""

    x: torch.Tensor                  # (1, C, H, W) float32 in [0, 1], C = 1 (gray) or 3 (colour)
    alpha: np.ndarray | None         # (H, W) alpha channel of the input, copied through
    dtype: np.dtype                  # uint8 or uint16: the bit depth written back
    name: str

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.x.shape[-2]), int(self.x.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.x.shape[1])


def _as_float(a: np.ndarray, what: str) -> tuple[np.ndarray, np.dtype]:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0, np.dtype(np.uint8)
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0, np.dtype(np.uint16)
    if a.dtype == bool:
        return a.astype(np.float32), np.dtype(np.uint8)
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer):
        f = a.astype(np.float32)
        if not np.isfinite(f).all():
            raise RestoreError(f"{what} contains NaN or infinite values; give an 8- or 16-bit PNG/JPEG")
        if f.max() > 1.0:
            f = f / f.max()
        return np.clip(f, 0.0, 1.0), np.dtype(np.uint8)
    raise RestoreError(f"{what} has pixel type {a.dtype}; give an 8- or 16-bit PNG/JPEG")


def _imread(path: Path, what: str) -> np.ndarray:
    from skimage import io

    if not path.is_file():
        raise RestoreError(f"{what} {str(path)!r} does not exist; give the path of a PNG or JPEG file")
    try:
        return np.asarray(io.imread(path))
    except Exception as e:  # imageio raises many types for a file that is not an image
        raise RestoreError(f"cannot read {what} {str(path)!r} as an image ({type(e).__name__}); "
                           f"give a PNG or JPEG file") from None


def read_image(image: str | Path | np.ndarray, name: str | None = None) -> Picture:
    """Read a PNG/JPEG (or take an array) at its own size: gray stays gray, colour stays colour.

    Accepted layouts: ``(H, W)`` gray, ``(H, W, 2)`` gray + alpha, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA.
    """
    if isinstance(image, np.ndarray):
        a, label = image, name or "image"
    else:
        path = Path(image).expanduser()
        a, label = _imread(path, "image"), name or path.name
    what = f"image {label!r}"
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (2, 3, 4)):
        raise RestoreError(f"{what} has shape {tuple(a.shape)}; expected (H, W) gray, (H, W, 3) colour "
                           f"or (H, W, 4) with alpha (one frame, not an animation or a stack)")
    if min(a.shape[:2]) < 2:
        raise RestoreError(f"{what} is {a.shape[0]}×{a.shape[1]} pixels; give an image at least 2×2")
    f, dtype = _as_float(a, what)
    alpha = None
    if f.ndim == 3 and f.shape[-1] in (2, 4):
        alpha, f = a[..., -1], f[..., :-1]
    if f.ndim == 3 and f.shape[-1] == 1:
        f = f[..., 0]
    t = torch.from_numpy(np.ascontiguousarray(f[None] if f.ndim == 2 else f.transpose(2, 0, 1)))[None]
    return Picture(t.float(), alpha, dtype, label)


def read_hole_mask(mask_image: str | Path | np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """The pixels to keep, ``(1, 1, H, W)`` float 0/1, from a mask image where **white = fill in**.

    The mask image must have the image's rows and columns; colour masks are read by their mean
    over the colour channels (an alpha channel is ignored); a pixel is "fill in" when above 0.5.
    """
    if isinstance(mask_image, np.ndarray):
        a, label = mask_image, "mask image"
    else:
        path = Path(mask_image).expanduser()
        a, label = _imread(path, "mask image"), f"mask image {path.name!r}"
    if a.ndim == 3 and a.shape[-1] in (2, 4):
        a = a[..., :-1]
    f, _ = _as_float(a, label)
    if f.ndim == 3:
        f = f.mean(axis=-1)
    if f.ndim != 2:
        raise RestoreError(f"{label} has shape {tuple(a.shape)}; expected a gray or colour image")
    if tuple(f.shape) != tuple(shape):
        raise RestoreError(f"{label} is {f.shape[0]}×{f.shape[1]} pixels but the image is {shape[0]}×{shape[1]}; "
                           f"give a mask of the same size (white = pixels to fill in, black = pixels to keep)")
    hole = f > 0.5
    if not hole.any():
        raise RestoreError(f"{label} marks no pixel to fill in (white = fill in, black = keep); "
                           f"to remove noise use `oes denoise`")
    if hole.all():
        raise RestoreError(f"{label} marks every pixel to fill in, so nothing is observed; "
                           f"paint only the missing region white")
    return torch.from_numpy((~hole).astype(np.float32))[None, None]


def padded_size(shape: tuple[int, int], cfg: GeneratorConfig) -> tuple[int, int]:
    """The smallest ``(H', W') ≥ (H, W)`` that the generator ``cfg`` produces."""
    f = 2 ** cfg.depth if cfg.kind == "hourglass" else 2 ** (cfg.depth - 1)
    smallest = smallest_valid_size(cfg)
    out = tuple(max(smallest, f * math.ceil(s / f)) for s in shape)
    check_image_size(out, cfg)
    return out  # type: ignore[return-value]


def pad_reflect(x: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(1, C, H, W)`` to ``size`` by reflection, split between both sides (any pad width: the
    image is mirrored as often as needed); return the padded tensor and the ``(top, left)`` offset."""
    h, w = x.shape[-2:]
    ph, pw = size[0] - h, size[1] - w
    if ph < 0 or pw < 0:
        raise ValueError(f"cannot pad {h}×{w} to the smaller {size[0]}×{size[1]}")
    top, left = ph // 2, pw // 2
    a = np.pad(x.numpy(), ((0, 0), (0, 0), (top, ph - top), (left, pw - left)), mode="symmetric")
    return torch.from_numpy(np.ascontiguousarray(a)), (top, left)


def _crop(t: torch.Tensor, offset: tuple[int, int], shape: tuple[int, int]) -> torch.Tensor:
    return t[..., offset[0]:offset[0] + shape[0], offset[1]:offset[1] + shape[1]]


def _to_array(x: torch.Tensor, pic: Picture) -> np.ndarray:
    """``(1, C, H, W)`` in [0, 1] → the input's layout and bit depth (alpha re-attached)."""
    a = x.detach().cpu().clamp(0, 1)[0].numpy()
    a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    dtype = pic.dtype if (a.ndim == 2 and pic.alpha is None) else np.dtype(np.uint8)   # see the module docstring
    scale = 65535.0 if dtype == np.uint16 else 255.0
    out = np.round(a * scale).astype(dtype)
    if pic.alpha is not None:
        alpha = pic.alpha if pic.alpha.dtype == dtype else \
            np.round(_as_float(pic.alpha, "alpha")[0] * scale).astype(dtype)
        out = np.concatenate([out if out.ndim == 3 else out[..., None], alpha[..., None]], axis=-1)
    return out


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else Apple's MPS, else the CPU; or exactly ``cpu | cuda | mps``."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RestoreError("--device cuda: this torch sees no CUDA GPU; use --device auto or cpu")
    if name == "mps" and not has_mps:
        raise RestoreError("--device mps: Apple's MPS is not available here; use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise RestoreError(f"--device {name!r}: expected auto, cpu, cuda or mps")
    return torch.device(name)


# ------------------------------------------------------------------ plan: sizes, network, estimate
class _Ticking(Operator):
    """Wraps an operator and calls ``tick()`` after every ``per_step``-th data-term evaluation.

    :func:`oes.learn.learn_mask` evaluates the data term K times per step and has no callback, so
    this is how its steps reach the shared progress bar; everything else is delegated unchanged.
    """

    def __init__(self, inner: Operator, per_step: int, tick: Callable[[], None]):
        super().__init__()
        self.inner, self.per_step, self.tick, self.calls = inner, max(1, per_step), tick, 0
        self.name = inner.name

    def A(self, x):
        return self.inner.A(x)

    def A_adjoint(self, y):
        return self.inner.A_adjoint(y)

    def data_fidelity(self, x_hat, y):
        out = self.inner.data_fidelity(x_hat, y)
        self.calls += 1
        if self.calls % self.per_step == 0:
            self.tick()
        return out

    def describe(self):
        return self.inner.describe()


class _Tick:
    """A ``fit`` callback: one progress-bar step per optimiser step."""

    def __init__(self, tick: Callable[[], None]):
        self.on_step = lambda state: tick()


@dataclass
class RestorePlan:
    """Everything decided before training; :func:`run_restore` executes it."""

    picture: Picture
    operator_name: str               # "denoising" | "inpainting"
    y: torch.Tensor                  # observed image, padded, (1, C, H', W') on ``device``
    x_true: torch.Tensor | None      # clean image (only with ``add_noise``), unpadded, on ``device``
    operator: Operator
    offset: tuple[int, int]
    padded: tuple[int, int]
    generator: GeneratorConfig
    mask_cfg: MaskConfig
    fit_cfg: FitConfig
    device: torch.device
    seed: int
    preset: str
    n_params: int
    n_maskable: int
    n_kept: int
    estimate: dict = field(default_factory=dict)      # seconds: mask, fit, total; probe steps
    add_noise: float | None = None

    def summary_lines(self) -> list[str]:
        h, w = self.picture.shape
        kind = "gray" if self.picture.channels == 1 else "colour"
        g = self.generator
        lines = [f"image: {self.picture.name}, {h}×{w} {kind}"
                 + (f" (padded by reflection to {self.padded[0]}×{self.padded[1]}, cropped back)"
                    if self.padded != (h, w) else ""),
                 f"task: {self.operator_name}" + (f", Gaussian noise σ = {self.add_noise:g}/255 added (PSNR is "
                                                  f"measured against the original)" if self.add_noise else ""),
                 f"network: {g.kind} {list(g.channels)} ({self.preset} preset), {self.n_params:,} parameters; "
                 f"OES keeps {self.mask_cfg.sparsity:.1%} = {self.n_kept:,} of {self.n_maskable:,}",
                 f"steps: {self.mask_cfg.steps:,} mask-learning (Algorithm 1) + {self.fit_cfg.steps:,} Sparse-DIP "
                 f"training, on {self.device.type}"]
        e = self.estimate
        if e:
            lines.append(f"estimated time on this device: {_duration(e['total'])} (mask {_duration(e['mask'])}, "
                         f"training {_duration(e['fit'])}; extrapolated from {e['probe_steps']} timed steps of each)")
        return lines


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _fresh_net(plan_gen: GeneratorConfig, seed: int, device: torch.device):
    return build_generator(plan_gen, seed, device)


def _time_steps(plan: RestorePlan, z: torch.Tensor, phase: str, steps: int) -> float:
    net = _fresh_net(plan.generator, plan.seed, plan.device)
    to_image = (lambda out: _crop(out, plan.offset, plan.picture.shape)) if plan.x_true is not None else None
    t0 = time.perf_counter()
    if phase == "mask":
        learn_mask(net, z, plan.y, plan.operator, cfg=replace(plan.mask_cfg, steps=steps), seed=plan.seed,
                   x_true=plan.x_true, to_image=to_image, progress=False)
    else:
        fit(net, z, plan.y, plan.operator, cfg=replace(plan.fit_cfg, steps=steps, checkpoint_every=0),
            mask=Mask.ones(net, plan.mask_cfg.maskable), x_true=plan.x_true, to_image=to_image, seed=plan.seed,
            progress=False)
    if plan.device.type == "cuda":
        torch.cuda.synchronize(plan.device)
    return time.perf_counter() - t0


def estimate_seconds(plan: RestorePlan, probe: int = 4) -> dict:
    """Time ``2`` and ``2 + probe`` steps of each phase on the plan's device (after one untimed warm-up
    step); extrapolate linearly.

    The per-step time is the difference of the two probes divided by ``probe`` (which cancels the
    fixed cost of a call); the fixed cost is added once. Returns seconds for ``mask``, ``fit``, ``total``.
    """
    z = make_input(plan.generator, plan.padded, plan.seed, plan.device)
    out = {"probe_steps": 2 + probe}
    for phase, steps in (("mask", plan.mask_cfg.steps), ("fit", plan.fit_cfg.steps)):
        _time_steps(plan, z, phase, 1)         # warm-up: one-time costs (allocator, kernels) are not per run
        t_short = _time_steps(plan, z, phase, 2)
        t_long = _time_steps(plan, z, phase, 2 + probe)
        per_step = (t_long - t_short) / probe
        if per_step <= 0:                      # timer noise: fall back to the plain average
            per_step = t_long / (2 + probe)
        fixed = max(0.0, t_short - 2 * per_step)
        out[phase] = fixed + per_step * steps
        out[f"{phase}_per_step"] = per_step
    out["total"] = out["mask"] + out["fit"]
    return out


def plan_restore(image: str | Path | np.ndarray, *, operator: str = "denoising",
                 mask_image: str | Path | np.ndarray | None = None, preset: str = "quick", device: str = "auto",
                 seed: int = 0, sparsity: float | None = None, mask_steps: int | None = None,
                 steps: int | None = None, add_noise: float | None = None, estimate: bool = True,
                 name: str | None = None) -> RestorePlan:
    """Read and check the inputs, size the network, and (``estimate=True``) time a few steps."""
    from .presets import get_preset

    if operator not in ("denoising", "inpainting"):
        raise RestoreError(f"unknown task {operator!r}; use 'denoising' or 'inpainting'")
    if operator == "inpainting" and mask_image is None:
        raise RestoreError("inpainting needs --mask-image M (white = pixels to fill in, black = pixels to keep)")
    if operator == "denoising" and mask_image is not None:
        raise RestoreError("--mask-image is for `oes inpaint`; `oes denoise` uses every pixel")
    if add_noise is not None and add_noise < 0:
        raise RestoreError(f"--add-noise must be ≥ 0 (σ in /255 units), got {add_noise}")
    P = get_preset(preset)
    pic = read_image(image, name=name)
    keep = read_hole_mask(mask_image, pic.shape) if mask_image is not None else None
    dev = pick_device(device)
    gcfg = replace(P.generator, out_channels=pic.channels)
    mcfg = replace(P.mask, **{k: v for k, v in {"sparsity": sparsity, "steps": mask_steps}.items() if v is not None})
    fcfg = replace(P.fit, checkpoint_every=0, **({"steps": steps} if steps is not None else {}))
    if mcfg.steps < 1 or fcfg.steps < 1:
        raise RestoreError("--mask-steps and --steps must be at least 1")
    size = padded_size(pic.shape, gcfg)

    x = pic.x
    x_true = None
    if add_noise:
        rng = torch.Generator().manual_seed(int(seed) + 1000003)
        x_true, x = x, Denoising(add_noise).measure(x, rng)
    y, offset = pad_reflect(x, size)
    if keep is not None:
        keep_padded, _ = pad_reflect(keep, size)
        op: Operator = Inpainting(size, keep=1.0)
        op.pixel_mask.copy_(keep_padded)
        op.keep = float(keep.mean())
        y = op.A(y)
    else:
        op = Operator()
        op.name = "denoising"
    net = build_generator(gcfg, seed)
    names = maskable_names(net, mcfg.maskable)
    params = dict(net.named_parameters())
    n_maskable = sum(params[n].numel() for n in names)
    plan = RestorePlan(picture=pic, operator_name=operator, y=y.to(dev),
                       x_true=None if x_true is None else x_true.to(dev), operator=op.to(dev), offset=offset,
                       padded=size, generator=gcfg, mask_cfg=mcfg, fit_cfg=fcfg, device=dev, seed=int(seed),
                       preset=P.name, n_params=count_parameters(net), n_maskable=n_maskable,
                       n_kept=n_keep(mcfg.sparsity, n_maskable), add_noise=add_noise)
    if estimate:
        plan.estimate = estimate_seconds(plan)
    return plan


# ------------------------------------------------------------------ run
@dataclass
class RestoreResult:
    output: np.ndarray               # the restored image, the input's shape and bit depth
    out_dir: Path
    files: dict[str, Path]
    history: pd.DataFrame            # phase, step, loss (+ psnr, reg, mean_p)
    seconds: dict                    # measured: mask, fit, total
    estimate: dict
    summary: dict


def _figure(plan: RestorePlan, observed: torch.Tensor, restored: torch.Tensor, history: pd.DataFrame, path: Path):
    import matplotlib.pyplot as plt

    from .metrics import to_numpy_image

    h, w = plan.picture.shape
    aspect = w / h
    fig, axes = plt.subplots(1, 3, figsize=(3.2 * aspect * 2 + 4.2, 3.6),
                             gridspec_kw={"width_ratios": [aspect, aspect, 1.3]})
    titles = {"denoising": "input", "inpainting": "input (black: to fill in)"}
    for ax, img, t in zip(axes[:2], (observed, restored),
                          (titles[plan.operator_name], f"OES + Sparse-DIP ({h}×{w})")):
        a = np.clip(to_numpy_image(img), 0, 1)
        ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        if plan.x_true is not None and "psnr" in history:
            t += f"\nPSNR {psnr(img, plan.x_true):.2f} dB"
        ax.set_title(t, fontsize=9)
        ax.axis("off")
    ax = axes[2]
    n_mask = int(history.loc[history.phase == "mask", "step"].max()) + 1 if (history.phase == "mask").any() else 0
    for phase, label, color, offset in (("mask", "OES mask learning", "tab:purple", 0),
                                        ("fit", "Sparse-DIP training", "tab:green", n_mask)):
        hh = history[history.phase == phase]
        ax.plot(hh["step"] + offset, hh["loss"], color=color, label=label, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step (both phases)")
    ax.set_ylabel("data loss ‖A G − y‖² / n")
    ax.axvline(n_mask, color="gray", lw=0.6, ls=":")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title("loss", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_restore(plan: RestorePlan, out_dir: str | Path, *, overwrite: bool = False,
                progress: bool | None = None) -> RestoreResult:
    """Learn the mask, train Sparse-DIP, write the files of :data:`OUTPUT_FILES` into ``out_dir``."""
    from skimage import io
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RestoreError(f"--out-dir {str(out_dir)!r} is a file; give a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise RestoreError(f"--out-dir {str(out_dir)!r} is not empty; choose another folder or pass --overwrite")
    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    shape, dev = plan.picture.shape, plan.device
    to_image = (lambda out: _crop(out, plan.offset, shape)) if plan.x_true is not None else None
    total = plan.mask_cfg.steps + plan.fit_cfg.steps
    bar = tqdm(total=total, desc="OES mask", disable=not progress_enabled(progress), dynamic_ncols=True)
    try:
        z = make_input(plan.generator, plan.padded, plan.seed, dev)
        net = _fresh_net(plan.generator, plan.seed, dev)
        ticking = _Ticking(plan.operator, plan.mask_cfg.samples, lambda: bar.update(1))
        m = learn_mask(net, z, plan.y, ticking, cfg=plan.mask_cfg, seed=plan.seed, x_true=plan.x_true,
                       to_image=to_image, progress=False,
                       meta={"generator": plan.generator.to_dict(), "source_image": plan.picture.name,
                             "size": list(plan.padded), "image_shape": list(shape), "preset": plan.preset,
                             "command": f"oes {'denoise' if plan.operator_name == 'denoising' else 'inpaint'}"})
        bar.set_description("Sparse-DIP")
        net = _fresh_net(plan.generator, plan.seed, dev)       # θ_in again, exactly as the mask saw it
        res = fit(net, z, plan.y, plan.operator, cfg=plan.fit_cfg, mask=m.mask, x_true=plan.x_true,
                  to_image=to_image, seed=plan.seed, progress=False, callbacks=[_Tick(lambda: bar.update(1))])
        bar.close()
        restored = _crop(res.x_hat, plan.offset, shape).clamp(0, 1)
        observed = _crop(plan.y, plan.offset, shape)
        out = _to_array(restored, plan.picture)
        io.imsave(tmp / "restored.png", out, check_contrast=False)
        Mask({n: t.cpu() for n, t in m.mask.items()}, m.mask.meta).save(tmp / "mask.pt")
        hist = pd.concat([m.history.assign(phase="mask"), res.history.assign(phase="fit")], ignore_index=True)
        hist = hist[["phase"] + [c for c in hist.columns if c != "phase"]]
        hist.to_csv(tmp / "history.csv", index=False)
        _figure(plan, observed, restored, hist, tmp / "figure.png")
        seconds = {"mask": round(m.seconds, 3), "fit": round(res.seconds, 3), "total": round(m.seconds + res.seconds, 3)}
        summary = {"image": plan.picture.name, "shape": list(out.shape), "task": plan.operator_name,
                   "preset": plan.preset, "device": dev.type, "seed": plan.seed, "padded": list(plan.padded),
                   "offset": list(plan.offset), "generator": plan.generator.to_dict(),
                   "mask_config": plan.mask_cfg.to_dict(), "fit_config": plan.fit_cfg.to_dict(),
                   "parameters": plan.n_params, "kept": m.mask.n_kept, "density": m.mask.density,
                   "collapsed": m.mask.collapsed(), "add_noise": plan.add_noise,
                   "final_loss": float(res.history["loss"].iloc[-1]),
                   "final_psnr": res.final_psnr if plan.x_true is not None else None,
                   "input_psnr": psnr(observed, plan.x_true) if plan.x_true is not None else None,
                   "seconds": seconds, "estimate": {k: round(v, 3) for k, v in plan.estimate.items()},
                   "mask_convergence": {k: m.mask.meta.get(k) for k in ("converged", "steps_run", "above_half",
                                                                         "kept_stable", "waste")}}
        from . import __version__
        summary["oes_version"] = __version__
        (tmp / "result.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in OUTPUT_FILES:
            os.replace(tmp / f, out_dir / f)
    finally:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return RestoreResult(output=out, out_dir=out_dir, files={f: out_dir / f for f in OUTPUT_FILES}, history=hist,
                         seconds=seconds, estimate=dict(plan.estimate), summary=summary)


def restore(image: str | Path | np.ndarray, out_dir: str | Path, *, operator: str = "denoising",
            mask_image: str | Path | np.ndarray | None = None, preset: str = "quick", device: str = "auto",
            seed: int = 0, sparsity: float | None = None, mask_steps: int | None = None, steps: int | None = None,
            add_noise: float | None = None, overwrite: bool = False, estimate_only: bool = False,
            progress: bool | None = None, name: str | None = None,
            log: Callable[[str], None] = print) -> RestoreResult | RestorePlan:
    """Plan (print size, parameters and the time estimate), then run; see the module docstring.

    With ``estimate_only=True`` return the :class:`RestorePlan` after printing, and write nothing.
    """
    out_dir = Path(out_dir)
    if not estimate_only and out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise RestoreError(f"--out-dir {str(out_dir)!r} is not empty; choose another folder or pass --overwrite")
    plan = plan_restore(image, operator=operator, mask_image=mask_image, preset=preset, device=device, seed=seed,
                        sparsity=sparsity, mask_steps=mask_steps, steps=steps, add_noise=add_noise, name=name)
    for line in plan.summary_lines():
        log(line)
    if estimate_only:
        return plan
    res = run_restore(plan, out_dir, overwrite=overwrite, progress=progress)
    s = res.summary
    conv = s["mask_convergence"]
    log("OES mask " + convergence_summary(conv) + ("" if conv["converged"] else "; more --mask-steps may help"))
    quality = (f"; PSNR {s['input_psnr']:.2f} → {s['final_psnr']:.2f} dB against the original"
               if s.get("final_psnr") is not None else "")
    log(f"done in {_duration(res.seconds['total'])} (estimated {_duration(res.estimate.get('total', float('nan')))})"
        f"{quality} → {out_dir}/restored.png, figure.png, mask.pt, history.csv, result.json")
    return res
