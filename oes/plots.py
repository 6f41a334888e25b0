"""Plot helpers shared by the book's notebooks (one place, so no notebook grows its own copy)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .metrics import to_numpy_image

__all__ = ["show_images", "psnr_curves", "p_histogram", "zoom_crops", "METHOD_COLORS", "spectrum_energy_above"]

METHOD_COLORS = {"dense": "tab:red", "sgld": "tab:orange", "decoder": "tab:blue", "sparse": "tab:green",
                 "oes": "tab:green", "grasp": "tab:purple", "synflow": "tab:brown", "snip": "tab:pink",
                 "magnitude": "tab:gray", "random": "tab:olive", "imp": "black"}
METHOD_LABELS = {"dense": "Dense DIP", "sgld": "GP-DIP (SGLD)", "decoder": "Deep Decoder", "sparse": "Sparse-DIP (OES)"}


def _img(x) -> np.ndarray:
    return np.clip(to_numpy_image(x), 0, 1)


def show_images(images: Sequence, titles: Sequence[str], ncols: int | None = None, size: float = 2.4,
                suptitle: str | None = None):
    """A row (or grid) of images with titles; returns the figure."""
    n = len(images)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, im, t in zip(axes.flat, images, titles):
        a = _img(im)
        ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(t, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def psnr_curves(histories: dict[str, pd.DataFrame], ax=None, title: str = "", colors: dict | None = None,
                column: str = "psnr", **kw):
    """PSNR vs step for several runs (label → history with columns step, psnr)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    colors = colors or {}
    for label, h in histories.items():
        key = label.split(" ")[0]
        ax.plot(h["step"], h[column], label=METHOD_LABELS.get(label, label),
                color=colors.get(label, METHOD_COLORS.get(key)), **kw)
    ax.set_xlabel("iteration")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def p_histogram(logits: torch.Tensor, p0: float, ax=None, title: str = ""):
    """Histogram of p = sigmoid(v) on a log-count axis (Fig 18), with p0 marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    p = torch.sigmoid(logits.float()).numpy()
    ax.hist(p, bins=50, range=(0, 1), color="tab:green", log=True)
    ax.axvline(p0, color="k", ls="--", lw=1, label=f"p0 = {p0:g}")
    ax.set_xlabel("p (probability of keeping a weight)")
    ax.set_ylabel("count")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def zoom_crops(images: Sequence, titles: Sequence[str], box: tuple[int, int, int], size: float = 2.2):
    """Fig 5-style zoomed crops: ``box = (top, left, side)`` in pixels of each image."""
    top, left, side = box
    crops = [_img(im)[top:top + side, left:left + side] for im in images]
    return show_images(crops, titles, size=size)


def spectrum_energy_above(x, frac: float = 0.5) -> float:
    """Fraction of the (mean-removed) spectral energy at radial frequencies above ``frac`` × Nyquist.

    Used as a low-frequency measure: a smoother image has a smaller value.
    """
    a = to_numpy_image(x)
    if a.ndim == 3:
        a = a.mean(-1)
    a = a - a.mean()
    f = np.abs(np.fft.fftshift(np.fft.fft2(a))) ** 2
    h, w = a.shape
    yy, xx = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    r = np.sqrt((yy / (h / 2)) ** 2 + (xx / (w / 2)) ** 2)
    total = f.sum()
    return float(f[r > frac].sum() / total) if total > 0 else 0.0
