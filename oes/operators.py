r"""Forward operators A and measurements y = A(x) + ε (§2).

An :class:`Operator` has ``A`` (the linear map applied to the generator output in the
loss ‖A G(θ, z) − y‖²), ``A_adjoint`` and ``measure(x, rng)`` which draws the seeded
corruption.  Names follow deepinv so its operators could drop in.  Complex operators
(multi-coil MRI) act on real tensors with real/imaginary channels, so the same
interface fits them.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["Operator", "Denoising", "Inpainting", "build_operator"]


class Operator(nn.Module):
    """Base class: identity A, no noise. Subclasses override ``A``, ``A_adjoint`` and ``measure``."""

    name = "identity"

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def measure(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return self.A(x)

    def data_fidelity(self, x_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared residual ‖A x̂ − y‖² / n (the loss minimised in eq. 2 and by ``fit``)."""
        return torch.mean((self.A(x_hat) - y) ** 2)

    def describe(self) -> dict:
        return {"name": self.name}

    def forward(self, x):  # pragma: no cover - convenience
        return self.A(x)


class Denoising(Operator):
    """y = clip(x + ε, 0, 1), ε ~ N(0, σ²), σ given in the paper's /255 units (DIP's convention)."""

    name = "denoising"

    def __init__(self, sigma: float = 25.0, clip: bool = True):
        super().__init__()
        if sigma < 0:
            raise ValueError(f"noise level must be ≥ 0 (in /255 units), got {sigma}")
        self.sigma = float(sigma)
        self.clip = clip

    def measure(self, x, rng):
        noise = torch.randn(x.shape, generator=rng, dtype=x.dtype).to(x.device) * (self.sigma / 255.0)
        y = x + noise
        return y.clamp(0, 1) if self.clip else y

    def describe(self):
        return {"name": self.name, "sigma": self.sigma}


class Inpainting(Operator):
    """y = M ∘ x with M a Bernoulli(keep) pixel mask shared across colour channels (Appendix F)."""

    name = "inpainting"

    def __init__(self, shape: tuple[int, int], keep: float = 0.5, seed: int = 0, sigma: float = 0.0):
        super().__init__()
        if not 0 < keep <= 1:
            raise ValueError(f"inpainting keep probability must be in (0, 1], got {keep}")
        rng = torch.Generator().manual_seed(int(seed) + 104729)
        m = (torch.rand((1, 1, *shape), generator=rng) < keep).float()
        self.register_buffer("pixel_mask", m)
        self.keep, self.seed, self.sigma = float(keep), int(seed), float(sigma)

    def A(self, x):
        return self.pixel_mask * x

    def A_adjoint(self, y):
        return self.pixel_mask * y  # diagonal, hence self-adjoint

    def measure(self, x, rng):
        y = self.A(x)
        if self.sigma:
            y = self.A(y + torch.randn(x.shape, generator=rng).to(x.device) * (self.sigma / 255.0))
        return y

    def data_fidelity(self, x_hat, y):
        # mean over observed entries, so the loss scale does not depend on `keep`
        r = self.pixel_mask * (x_hat - y)
        return (r ** 2).sum() / (self.pixel_mask.sum() * x_hat.shape[1])

    def describe(self):
        return {"name": self.name, "keep": self.keep, "seed": self.seed, "sigma": self.sigma}


def build_operator(name: str, shape: tuple[int, int], sigma: float = 25.0, keep: float = 0.5,
                   seed: int = 0) -> Operator:
    """Operator by name: ``denoising`` (σ in /255) or ``inpainting`` (keep probability)."""
    if name == "denoising":
        return Denoising(sigma)
    if name == "inpainting":
        return Inpainting(shape, keep=keep, seed=seed)
    raise ValueError(f"unknown operator {name!r}; use 'denoising' or 'inpainting'")
