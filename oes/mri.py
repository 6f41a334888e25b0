r"""Multi-coil MRI for OES (Appendix H): forward operator, k-space masks, coil maps and data.

Appendix H reconstructs an image from undersampled multi-coil k-space with

    A^{(c)} x = M F S_c x,   c = 1..N_c,   loss  Σ_c ‖A^{(c)} G(θ, z) − y^{(c)}‖²,

where ``S_c`` are complex coil sensitivity maps, ``F`` the centred orthonormal 2-D DFT and
``M`` a Cartesian line mask (the paper's M_{4×} and M_{8×}).  The generator produces the
complex image as two real channels, so every image here is a **real tensor**:

* image ``x``: ``(B, 2, H, W)`` — channel 0 = real part, channel 1 = imaginary part;
* measurements ``y``: ``(B, N_c, 2, H, W)`` — coil axis first, then (real, imag); the full
  k-space grid is kept and unsampled entries are exactly zero;
* sampling mask: a ``(W,)`` line mask (phase-encode lines are **columns**, broadcast over
  rows) or any ``(H, W)`` 0/1 mask;
* coil maps: complex ``(N_c, H, W)``.

(deepinv's ``MultiCoilMRI`` orders measurements ``(B, 2, N_c, H, W)``;
``y.transpose(1, 2)`` converts between the two.)

The generator ends in a sigmoid, so both channels are in [0, 1]: it can only represent
images whose phase lies in [0, π/2].  :func:`make_acquisition` therefore keeps its
synthetic smooth phase inside that quadrant.  PSNR is computed on the magnitude image,
``fit(..., x_true=magnitude(x), to_image=magnitude)``.

Nothing here touches the global RNG: masks, phases and noise come from seeded
``torch.Generator`` objects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from .operators import Operator

__all__ = [
    "MultiCoilMRI",
    "fft2c",
    "ifft2c",
    "complex_to_channels",
    "channels_to_complex",
    "magnitude",
    "rss",
    "default_center_fraction",
    "cartesian_mask",
    "birdcage_maps",
    "load_coil_maps",
    "SUBJECTS",
    "synthetic_subjects",
    "Acquisition",
    "smooth_phase",
    "make_acquisition",
    "FastMRISlice",
    "load_fastmri_h5",
]

_DIMS = (-2, -1)


# --------------------------------------------------------------------------- complex helpers
def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D DFT over the last two axes of a complex tensor (DC at index n // 2)."""
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=_DIMS), norm="ortho"), dim=_DIMS)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft2c` (and its adjoint: the transform is unitary)."""
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=_DIMS), norm="ortho"), dim=_DIMS)


def complex_to_channels(z: torch.Tensor) -> torch.Tensor:
    """Complex ``(..., H, W)`` → real ``(..., 2, H, W)`` with (real, imaginary) channels."""
    if not torch.is_complex(z):
        raise ValueError(f"complex_to_channels expects a complex tensor, got dtype {z.dtype}")
    return torch.stack((z.real, z.imag), dim=-3)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``(..., 2, H, W)`` (real, imaginary channels) → complex ``(..., H, W)``."""
    if x.ndim < 3 or x.shape[-3] != 2:
        raise ValueError(f"expected real/imaginary channels in axis -3 (shape (..., 2, H, W)), got {tuple(x.shape)}")
    if torch.is_complex(x):
        raise ValueError("channels_to_complex expects a real tensor with 2 channels, got a complex one")
    return torch.complex(x[..., 0, :, :], x[..., 1, :, :])


def magnitude(x: torch.Tensor) -> torch.Tensor:
    """|x| of a 2-channel image: ``(B, 2, H, W)`` → ``(B, 1, H, W)`` (the ``to_image`` for PSNR)."""
    if x.ndim < 3 or x.shape[-3] != 2:
        raise ValueError(f"magnitude expects (..., 2, H, W) real/imaginary channels, got {tuple(x.shape)}")
    return torch.hypot(x[..., 0:1, :, :], x[..., 1:2, :, :])


def rss(kspace: torch.Tensor) -> torch.Tensor:
    """Root-sum-of-squares image of complex multi-coil k-space ``(..., N_c, H, W)`` → ``(..., H, W)``.

    This is fastMRI's ``reconstruction_rss`` before its centre crop.
    """
    if not torch.is_complex(kspace):
        raise ValueError(f"rss expects complex k-space (..., N_c, H, W), got dtype {kspace.dtype}")
    return torch.sqrt((ifft2c(kspace).abs() ** 2).sum(dim=-3))


# --------------------------------------------------------------------------- operator
class MultiCoilMRI(Operator):
    r"""y_c = M F S_c x for c = 1..N_c (Appendix H), on real/imaginary channel tensors.

    :param mask: ``(W,)`` line mask (columns = phase-encode lines, broadcast over rows) or a
        ``(H, W)`` mask; any 0/1 values (bool or float).
    :param coil_maps: complex ``(N_c, H, W)`` sensitivities (a complex ``(H, W)`` map means one
        coil).  :func:`birdcage_maps` returns maps with Σ_c |S_c|² = 1, for which
        ``A_adjoint(y)`` is the coil-combined zero-filled reconstruction and AᴴA = I when fully
        sampled.
    :param sigma: standard deviation of the complex noise ε added by :meth:`measure`, with
        E|ε|² = σ² per k-space coefficient (σ/√2 on each of the real and imaginary parts).
    :param snr_db: alternatively, the measurement SNR
        10·log10(mean_{sampled}|A x|² / σ²); σ is then set from the clean measurements of each
        call to :meth:`measure` (and stored in ``noise_sigma``).  Give at most one of the two.
    :param info: extra JSON-able facts reported by :meth:`describe` (e.g. mask kind and seed).

    Shapes: ``A``: ``(B, 2, H, W)`` → ``(B, N_c, 2, H, W)``; ``A_adjoint``: the reverse.  The
    mask and the maps are buffers (the maps stored as a real ``(N_c, H, W, 2)`` tensor, so
    ``.to(device)``, ``.double()`` and ``state_dict`` all work).
    """

    name = "mri"

    def __init__(self, mask: torch.Tensor, coil_maps: torch.Tensor, *, sigma: float = 0.0,
                 snr_db: float | None = None, info: dict | None = None):
        super().__init__()
        maps = torch.as_tensor(coil_maps)
        if not torch.is_complex(maps):
            raise ValueError(f"coil_maps must be a complex tensor (N_c, H, W), got dtype {maps.dtype}")
        if maps.ndim == 2:
            maps = maps[None]
        if maps.ndim != 3:
            raise ValueError(f"coil_maps must have shape (N_c, H, W), got {tuple(maps.shape)}")
        n_coils, h, w = maps.shape
        m = torch.as_tensor(mask)
        if m.ndim == 1:
            if m.shape[0] != w:
                raise ValueError(f"line mask has {m.shape[0]} entries but the image width is {w}")
            m = m[None, :].expand(h, w)
        elif m.ndim != 2 or tuple(m.shape) != (h, w):
            raise ValueError(f"mask must have shape (W,) = ({w},) or (H, W) = ({h}, {w}), got {tuple(m.shape)}")
        m = m.to(torch.float32)
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError("mask entries must be 0 or 1")
        if m.sum() == 0:
            raise ValueError("the sampling mask samples nothing")
        if sigma < 0:
            raise ValueError(f"noise sigma must be ≥ 0, got {sigma}")
        if snr_db is not None and sigma:
            raise ValueError("give either sigma or snr_db, not both")
        self.register_buffer("mask", m.contiguous())
        self.register_buffer("coil_maps_ri", torch.view_as_real(maps.to(torch.complex64)).contiguous())
        self.sigma = float(sigma)
        self.snr_db = None if snr_db is None else float(snr_db)
        self.noise_sigma = self.sigma          # σ used by the last call to measure
        self.info = dict(info or {})

    # -- properties
    @property
    def coil_maps(self) -> torch.Tensor:
        """Complex ``(N_c, H, W)`` sensitivities."""
        return torch.view_as_complex(self.coil_maps_ri)

    @property
    def n_coils(self) -> int:
        return int(self.coil_maps_ri.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.mask.shape[0]), int(self.mask.shape[1])

    @property
    def n_sampled(self) -> int:
        """Number of sampled k-space locations per coil."""
        return int(self.mask.sum().item())

    @property
    def acceleration(self) -> float:
        """Effective acceleration H·W / (number of sampled locations)."""
        h, w = self.shape
        return h * w / self.n_sampled

    def _check_x(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 2 or tuple(x.shape[-2:]) != self.shape:
            raise ValueError(f"MRI image must have shape (B, 2, {self.shape[0]}, {self.shape[1]}) "
                             f"(real, imaginary channels), got {tuple(x.shape)}")

    def _check_y(self, y: torch.Tensor) -> None:
        if y.ndim != 5 or tuple(y.shape[1:3]) != (self.n_coils, 2) or tuple(y.shape[-2:]) != self.shape:
            raise ValueError(f"MRI measurements must have shape (B, {self.n_coils}, 2, {self.shape[0]}, "
                             f"{self.shape[1]}) (coils, real/imaginary), got {tuple(y.shape)}")

    # -- linear maps
    def A(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2, H, W)`` image → ``(B, N_c, 2, H, W)`` masked coil k-space."""
        self._check_x(x)
        coil_images = self.coil_maps * channels_to_complex(x)[:, None]       # (B, N_c, H, W)
        k = fft2c(coil_images) * self.mask
        return complex_to_channels(k)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, N_c, 2, H, W)`` → ``(B, 2, H, W)``: Σ_c conj(S_c) Fᴴ M y_c."""
        self._check_y(y)
        coil_images = ifft2c(channels_to_complex(y) * self.mask)             # (B, N_c, H, W)
        return complex_to_channels((self.coil_maps.conj() * coil_images).sum(dim=1))

    def measure(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """y = M (F S x + ε): complex Gaussian noise on the sampled entries only."""
        y = self.A(x)
        sigma = self.sigma
        if self.snr_db is not None:
            power = (y.detach() ** 2).sum() / (self.n_sampled * self.n_coils * y.shape[0])
            sigma = math.sqrt(power.item() / 10 ** (self.snr_db / 10))
        self.noise_sigma = float(sigma)
        if sigma > 0:
            noise = torch.randn(y.shape, generator=rng, device=rng.device, dtype=y.dtype).to(y.device)
            y = y + noise * (sigma / math.sqrt(2)) * self.mask
        return y

    def data_fidelity(self, x_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Σ_c ‖M (A_c x̂ − y_c)‖² / (B · N_c · n_sampled): mean |residual|² per sampled coefficient.

        (Squared real and imaginary parts are summed per coefficient; entries of ``y`` outside the
        mask are ignored.)
        """
        r = (self.A(x_hat) - y) * self.mask
        return (r ** 2).sum() / (x_hat.shape[0] * self.n_coils * self.n_sampled)

    def zero_filled(self, y: torch.Tensor) -> torch.Tensor:
        """Aᴴ y (aliased zero-filled reconstruction, the paper's Aᴴ(M) y), ``(B, 2, H, W)``."""
        return self.A_adjoint(y)

    def kspace_to_measurements(self, kspace: torch.Tensor) -> torch.Tensor:
        """Fully sampled complex k-space ``(N_c, H, W)`` or ``(B, N_c, H, W)`` (e.g. fastMRI) → masked ``y``."""
        if not torch.is_complex(kspace):
            raise ValueError(f"k-space must be complex (N_c, H, W), got dtype {kspace.dtype}")
        k = kspace[None] if kspace.ndim == 3 else kspace
        if k.ndim != 4 or tuple(k.shape[1:]) != (self.n_coils, *self.shape):
            raise ValueError(f"k-space must have shape ({self.n_coils}, {self.shape[0]}, {self.shape[1]}), "
                             f"got {tuple(kspace.shape)}")
        k = k.to(device=self.mask.device, dtype=self.coil_maps.dtype)
        return complex_to_channels(k * self.mask)

    def describe(self) -> dict:
        h, w = self.shape
        return {"name": self.name, "n_coils": self.n_coils, "shape": [h, w],
                "acceleration": round(self.acceleration, 4), "n_sampled": self.n_sampled,
                "sigma": self.sigma, "snr_db": self.snr_db, "noise_sigma": self.noise_sigma, **self.info}


# --------------------------------------------------------------------------- masks
def default_center_fraction(acceleration: float) -> float:
    """fastMRI's pairs: 0.08 at 4×, 0.04 at 8×; other factors keep the product 0.32 (capped at 1)."""
    return min(1.0, 0.32 / float(acceleration))


def cartesian_mask(width: int, acceleration: float, center_fraction: float | None = None,
                   kind: str = "random", seed: int = 0) -> torch.Tensor:
    r"""Cartesian k-space line mask (bool, shape ``(width,)``), fastMRI-style.

    ``round(width · center_fraction)`` contiguous centre lines are always sampled (placed as in
    fastMRI, containing the DC line ``width // 2`` of the centred FFT).  The remaining lines are
    chosen among the outer ones so that the **total is exactly** ``round(width / acceleration)``
    (fastMRI's RandomMaskFunc only matches it in expectation):

    * ``kind="random"``: uniformly without replacement;
    * ``kind="equispaced"``: evenly spaced over the outer lines with a random offset.

    :param center_fraction: default :func:`default_center_fraction` (0.08 at 4×, 0.04 at 8×).
    :param seed: seeds a private ``torch.Generator`` (same seed → same mask).
    """
    width = int(width)
    if width < 2:
        raise ValueError(f"mask width must be ≥ 2, got {width}")
    if not acceleration >= 1:
        raise ValueError(f"acceleration must be ≥ 1, got {acceleration}")
    if kind not in ("random", "equispaced"):
        raise ValueError(f"unknown mask kind {kind!r}; use 'random' or 'equispaced'")
    cf = default_center_fraction(acceleration) if center_fraction is None else float(center_fraction)
    if not 0 <= cf <= 1:
        raise ValueError(f"center_fraction must be in [0, 1], got {cf}")
    n_total = max(1, int(math.floor(width / acceleration + 0.5)))
    n_low = int(math.floor(width * cf + 0.5))
    if cf > 0:
        n_low = max(n_low, 1)
    if n_low > n_total:
        raise ValueError(f"centre fraction {cf} keeps {n_low} lines, more than the {n_total} lines "
                         f"allowed at {acceleration}× on width {width}; lower center_fraction")
    mask = torch.zeros(width, dtype=torch.bool)
    pad = (width - n_low + 1) // 2
    mask[pad:pad + n_low] = True
    outer = torch.nonzero(~mask).flatten()
    n_outer = n_total - n_low
    if n_outer > 0:
        g = torch.Generator().manual_seed(int(seed))
        if kind == "random":
            pick = torch.randperm(outer.numel(), generator=g)[:n_outer]
        else:
            step = outer.numel() / n_outer
            offset = torch.rand((), generator=g, dtype=torch.float64).item() * step
            pick = torch.tensor([int(math.floor(offset + i * step)) for i in range(n_outer)])
        mask[outer[pick]] = True
    return mask


# --------------------------------------------------------------------------- coil maps
def birdcage_maps(n_coils: int, shape: int | tuple[int, int], radius: float = 1.5,
                  dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    r"""Simulated smooth coil sensitivities, complex ``(n_coils, H, W)`` with Σ_c |S_c|² = 1.

    The field of view is [−1, 1]² (normalised per axis); coil c sits on a circle of radius
    ``radius`` (> √2, i.e. outside the FOV) at angle 2πc/N_c.  Its raw map is
    (1 / d_c) · exp(i(φ_c − 2πc/N_c)), with d_c the distance from the coil and φ_c the angle of the
    pixel seen from the coil (a birdcage-like model, cf. sigpy's ``birdcage_maps``); the maps are
    then divided by their root-sum-of-squares so that the coil combination is unitary.
    """
    n_coils = int(n_coils)
    if n_coils < 1:
        raise ValueError(f"n_coils must be ≥ 1, got {n_coils}")
    h, w = (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))
    if radius <= math.sqrt(2):
        raise ValueError(f"radius must exceed √2 so the coils lie outside the FOV, got {radius}")
    v = torch.linspace(-1, 1, h, dtype=torch.float64)[:, None]    # rows (top → bottom)
    u = torch.linspace(-1, 1, w, dtype=torch.float64)[None, :]    # columns
    maps = []
    for c in range(n_coils):
        alpha = 2 * math.pi * c / n_coils
        dx, dy = u - radius * math.cos(alpha), v - radius * math.sin(alpha)
        dist = torch.sqrt(dx ** 2 + dy ** 2)
        phase = torch.atan2(dy, dx) - alpha
        maps.append(torch.polar(1.0 / dist, phase))
    s = torch.stack(maps)
    s = s / torch.sqrt((s.abs() ** 2).sum(dim=0, keepdim=True))
    return s.to(dtype)


def load_coil_maps(path: str | Path, shape: tuple[int, int] | None = None,
                   normalize: bool = False) -> torch.Tensor:
    """User-supplied sensitivities (e.g. from BART's ESPIRiT) from ``.npy`` or ``.pt``/``.pth``.

    The file must hold a complex array/tensor ``(N_c, H, W)``.  Returns complex64.

    :param shape: if given, the expected ``(H, W)``.
    :param normalize: divide by the root-sum-of-squares where it is non-zero (Σ_c |S_c|² = 1 there).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"coil-map file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"could not read {path} as a plain .npy array ({e})") from None
    elif suffix in (".pt", ".pth"):
        data = torch.load(path, map_location="cpu", weights_only=True)
    else:
        raise ValueError(f"coil maps must be a .npy or .pt file, got {path.name!r}")
    if isinstance(data, np.ndarray):
        if not np.iscomplexobj(data):
            raise ValueError(f"coil maps in {path.name} must be complex (N_c, H, W); got dtype {data.dtype}")
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not isinstance(data, torch.Tensor):
        raise ValueError(f"{path.name} must contain a single complex tensor (N_c, H, W), got {type(data).__name__}")
    if not torch.is_complex(data):
        raise ValueError(f"coil maps in {path.name} must be complex (N_c, H, W); got dtype {data.dtype}")
    if data.ndim != 3:
        raise ValueError(f"coil maps in {path.name} must have shape (N_c, H, W), got {tuple(data.shape)}")
    if shape is not None and tuple(data.shape[1:]) != tuple(shape):
        raise ValueError(f"coil maps in {path.name} are {tuple(data.shape[1:])} but the image is {tuple(shape)}")
    data = data.to(torch.complex64)
    if not bool(torch.isfinite(torch.view_as_real(data)).all()):
        raise ValueError(f"coil maps in {path.name} contain NaN or inf")
    if normalize:
        r = torch.sqrt((data.abs() ** 2).sum(dim=0, keepdim=True))
        data = torch.where(r > 0, data / torch.where(r > 0, r, torch.ones_like(r)), torch.zeros_like(data))
    return data


# --------------------------------------------------------------------------- data
#: Names of the subjects returned by :func:`synthetic_subjects`, in order.
SUBJECTS = ("shepp_logan", "retina", "shepp_logan_deformed", "retina_disc", "camera", "moon")


def _square_resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize

    h, w = a.shape
    s = min(h, w)
    a = a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    a = resize(a, size, order=3, anti_aliasing=True, mode="reflect")
    a = a - a.min()
    return a / a.max() if a.max() > 0 else a


def _subject(name: str) -> np.ndarray:
    import skimage.data as skd
    from skimage.transform import AffineTransform, warp

    if name == "shepp_logan":
        return skd.shepp_logan_phantom()
    if name == "shepp_logan_deformed":
        a = skd.shepp_logan_phantom()
        n = a.shape[0]
        c = (n - 1) / 2
        # rotate 25°, squeeze to 85 % width and stretch to 105 % height about the centre
        t = (AffineTransform(translation=(-c, -c)) + AffineTransform(scale=(0.85, 1.05), rotation=math.radians(25))
             + AffineTransform(translation=(c, c)))
        a = warp(a, t.inverse, order=1, mode="constant", cval=0.0)
        return np.clip(a, 0, 1) ** 0.6          # different tissue contrast
    if name == "retina":
        return skd.retina()[..., 1].astype(np.float64) / 255.0        # green channel: best vessel contrast
    if name == "retina_disc":
        return skd.retina()[350:1050, 60:760, 1].astype(np.float64) / 255.0   # optic-disc region
    if name == "camera":
        return skd.camera().astype(np.float64) / 255.0
    if name == "moon":
        return skd.moon().astype(np.float64) / 255.0
    raise ValueError(f"unknown subject {name!r}; choose from {SUBJECTS}")


def synthetic_subjects(size: int | tuple[int, int], n: int = 4,
                       names: Sequence[str] | None = None) -> list[torch.Tensor]:
    r"""Stand-ins for the paper's 4 fastMRI scans (Figure 23), available offline.

    Returns ``n`` float32 tensors ``(H, W)`` in [0, 1] (min–max normalised after a square centre
    crop and an anti-aliased resize), in the order of :data:`SUBJECTS`:

    1. ``shepp_logan`` — the Shepp–Logan head phantom, the standard MRI test object (piecewise
       constant "tissues" on a zero background, like a brain slice);
    2. ``retina`` — green channel of scikit-image's fundus photograph: real anatomy (vessels give
       thin, curved edges and a circular FOV on a dark background);
    3. ``shepp_logan_deformed`` — the phantom rotated by 25°, anisotropically rescaled and with a
       gamma 0.6 contrast change: "another subject" with the same statistics, for near transfer;
    4. ``retina_disc`` — a crop of the fundus around the optic disc (different anatomy and
       no background), for far transfer;
    5.–6. ``camera``, ``moon`` — non-anatomical extras, only when ``n > 4``.

    ``skimage.data.brain()`` would be the natural choice but is not in the wheel (it needs a
    download); every image above ships with scikit-image.  Subject 1 plays the role of y₁ on
    which the OES mask is learnt, subjects 2–4 the cross-transfer targets.

    :param names: pick subjects by name instead of the first ``n``.
    """
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if names is None:
        if not 1 <= n <= len(SUBJECTS):
            raise ValueError(f"n must be between 1 and {len(SUBJECTS)}, got {n}")
        names = SUBJECTS[:n]
    return [torch.from_numpy(_square_resize(_subject(s), hw).astype(np.float32)) for s in names]


class Acquisition(NamedTuple):
    """What :func:`make_acquisition` returns: ``operator, y, x = make_acquisition(...)``."""

    operator: MultiCoilMRI
    y: torch.Tensor          # (1, N_c, 2, H, W) noisy masked k-space
    x: torch.Tensor          # (1, 2, H, W) ground-truth complex image (real, imaginary); |x| = image


def smooth_phase(shape: tuple[int, int], seed: int = 0, low: float = math.pi / 8,
                 high: float = 3 * math.pi / 8) -> torch.Tensor:
    """A seeded smooth phase map (second-order polynomial) rescaled to [low, high] (float64, (H, W))."""
    h, w = shape
    g = torch.Generator().manual_seed(int(seed) + 7907)  # own stream, distinct from the mask's
    a = torch.randn(5, generator=g, dtype=torch.float64)
    v = torch.linspace(-1, 1, h, dtype=torch.float64)[:, None]
    u = torch.linspace(-1, 1, w, dtype=torch.float64)[None, :]
    p = a[0] * u + a[1] * v + a[2] * u * v + a[3] * u ** 2 + a[4] * v ** 2
    p = (p - p.min()) / (p.max() - p.min()).clamp_min(1e-12)
    return low + (high - low) * p


def make_acquisition(image: torch.Tensor | np.ndarray, n_coils: int = 8, acceleration: float = 4,
                     kind: str = "random", seed: int = 0, snr_db: float | None = None, *,
                     center_fraction: float | None = None, phase: bool = True,
                     coil_maps: torch.Tensor | None = None, sigma: float = 0.0) -> Acquisition:
    r"""Simulate a multi-coil acquisition of a real image in [0, 1]: ``(operator, y, x)``.

    * ``x = image · exp(iφ)`` as ``(1, 2, H, W)``; with ``phase=True`` φ is a seeded smooth field in
      [π/8, 3π/8] (inside [0, π/2] so a sigmoid generator can represent it), else φ = 0.
    * Coil maps: :func:`birdcage_maps` (``n_coils``) unless ``coil_maps`` is given.
    * Mask: ``cartesian_mask(W, acceleration, center_fraction, kind, seed)``.
    * ``y = operator.measure(x, rng)``, complex Gaussian noise at ``snr_db`` (or ``sigma``), drawn
      from a generator seeded by ``seed``; noiseless when both are unset.
    """
    img = torch.as_tensor(np.asarray(image) if isinstance(image, np.ndarray) else image)
    while img.ndim > 2 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValueError(f"image must be (H, W) (or with leading singleton axes), got {tuple(img.shape)}")
    img = img.to(torch.float64)
    if not bool(torch.isfinite(img).all()):
        raise ValueError("image contains NaN or inf")
    h, w = img.shape
    phi = smooth_phase((h, w), seed) if phase else torch.zeros(h, w, dtype=torch.float64)
    x = complex_to_channels(torch.polar(img, phi))[None].to(torch.float32)
    maps = birdcage_maps(n_coils, (h, w)) if coil_maps is None else coil_maps
    cf = default_center_fraction(acceleration) if center_fraction is None else center_fraction
    mask = cartesian_mask(w, acceleration, cf, kind=kind, seed=seed)
    info = {"mask_kind": kind, "mask_seed": int(seed), "center_fraction": float(cf),
            "nominal_acceleration": float(acceleration), "phase": bool(phase),
            "coil_maps": "birdcage" if coil_maps is None else "given"}
    op = MultiCoilMRI(mask, maps, sigma=sigma, snr_db=snr_db, info=info)
    rng = torch.Generator().manual_seed(int(seed) + 1_000_003)
    with torch.no_grad():
        y = op.measure(x, rng)
    return Acquisition(op, y, x)


# --------------------------------------------------------------------------- fastMRI
@dataclass(frozen=True)
class FastMRISlice:
    """One slice of a fastMRI multi-coil file; unpacks as ``kspace, rss = load_fastmri_h5(...)``.

    ``kspace``: complex64 ``(N_c, H, W)`` (centred, as stored by fastMRI, so ``ifft2c`` gives the
    coil images); ``rss``: float32 ``(H', W')`` reference (``reconstruction_rss``) or ``None``;
    ``attrs``: the file's attributes (e.g. ``acquisition``, ``max``, ``norm``).
    """

    kspace: torch.Tensor
    rss: torch.Tensor | None
    attrs: dict = field(default_factory=dict)
    slice_idx: int = 0

    def __iter__(self):
        return iter((self.kspace, self.rss))


def _plain(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def load_fastmri_h5(path: str | Path, slice_idx: int | None = None) -> FastMRISlice:
    r"""Read one slice of a fastMRI ``.h5`` file (multi-coil layout).

    Expected content: dataset ``kspace`` complex ``(slices, coils, H, W)`` (a 3-D
    ``(slices, H, W)`` single-coil file gives one coil), optional ``reconstruction_rss``
    ``(slices, H', W')`` and file attributes (``acquisition``, ``max``, …).

    :param slice_idx: slice to read (negative counts from the end); default the middle slice.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError("reading fastMRI files needs h5py: pip install h5py") from None
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"fastMRI file not found: {path}")
    with h5py.File(path, "r") as f:
        if "kspace" not in f:
            raise ValueError(f"{path.name} has no 'kspace' dataset (keys: {sorted(f.keys())}); "
                             "is it a fastMRI file?")
        ds = f["kspace"]
        if ds.ndim not in (3, 4):
            raise ValueError(f"'kspace' in {path.name} must be (slices, coils, H, W), got shape {ds.shape}")
        n = ds.shape[0]
        idx = n // 2 if slice_idx is None else int(slice_idx)
        if not -n <= idx < n:
            raise IndexError(f"slice {idx} out of range: {path.name} has {n} slices")
        idx %= n
        k = np.asarray(ds[idx])
        if not np.iscomplexobj(k):
            raise ValueError(f"'kspace' in {path.name} must be complex, got dtype {k.dtype}")
        if k.ndim == 2:
            k = k[None]
        ref = None
        if "reconstruction_rss" in f:
            ref = torch.from_numpy(np.asarray(f["reconstruction_rss"][idx], dtype=np.float32))
        attrs = {key: _plain(val) for key, val in f.attrs.items()}
    return FastMRISlice(torch.from_numpy(k.astype(np.complex64)), ref, attrs, idx)
