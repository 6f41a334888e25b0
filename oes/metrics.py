"""Image quality metrics with data range 1 (scikit-image conventions)."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["psnr", "ssim", "to_numpy_image"]


def to_numpy_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) tensor → (H, W, C) float64 array (squeezed to (H, W) for C = 1)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 4:
        x = x[0]
    if x.ndim == 3 and x.shape[0] in (1, 2, 3) and x.shape[-1] not in (1, 3):
        x = np.moveaxis(x, 0, -1)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    return x


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """PSNR in dB, data range 1, computed in float64: 10·log10(1 / MSE).

    Equal to ``skimage.metrics.peak_signal_noise_ratio(x, x_hat, data_range=1)``.
    """
    mse = torch.mean((x_hat.detach().double() - x.detach().double()) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(x_hat, x) -> float:
    """SSIM (scikit-image, data range 1, channel axis last for colour images)."""
    from skimage.metrics import structural_similarity

    a, b = to_numpy_image(x_hat), to_numpy_image(x)
    kw = {"channel_axis": -1} if a.ndim == 3 else {}
    return float(structural_similarity(b, a, data_range=1.0, **kw))
