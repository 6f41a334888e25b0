"""oes against deepinv 0.5.0: the MRI and inpainting operators, their data terms, and PSNR.

Run by ``bash scripts/crosscheck.sh`` in its own venv (torch 2.14.1, torchvision 0.29.1, deepinv
0.5.0); the file name does not match ``test_*.py``, so the main ``pytest`` run never collects it.

Convention mapping between the two libraries (what each test converts, and why):

* **Complex images**: both use real tensors ``(B, 2, H, W)`` with (real, imaginary) channels.
* **Multi-coil k-space layout**: oes orders measurements ``(B, N_c, 2, H, W)`` (coil axis first);
  deepinv orders them ``(B, 2, N_c, H, W)``.  ``y.transpose(1, 2)`` maps one to the other.
* **FFT**: both use the centred orthonormal 2-D DFT (``ifftshift → fft2(norm="ortho") → fftshift``),
  so no scale factor is needed; the adjoint is the inverse transform in both.
* **Sampling mask**: oes takes a ``(W,)`` line mask (phase-encode lines are columns) or ``(H, W)``;
  deepinv takes ``(H, W)`` (broadcast to its ``(B, 2, H, W)``): the line mask is expanded over rows.
* **Coil maps**: the same complex ``(N_c, H, W)`` tensor is given to both.
* **Inpainting mask**: oes draws a ``(1, 1, H, W)`` pixel mask shared by the colour channels; deepinv's
  ``Inpainting(mask=...)`` broadcasts a ``(1, H, W)`` mask over channels: the same tensor is given.
* **Data terms**: oes's loss is a *mean* over measured entries (``Operator.data_fidelity``):
  ``‖M(A x − y)‖² / (#observed · C)`` for inpainting and ``Σ_c ‖M(A_c x − y_c)‖² / (B · N_c · #sampled)``
  for MRI, so the loss scale does not depend on the sampling rate; deepinv's ``L2`` data fidelity is
  ``½ ‖A x − y‖²`` per batch element.  The tests check oes = 2 · deepinv / (the count).
* **PSNR**: oes computes ``10 log10(1 / MSE)`` in float64 over the whole tensor (data range 1);
  deepinv's ``PSNR(max_pixel=1, min_pixel=0)`` returns one float32 value per batch element and adds
  1e-8 to the MSE inside the log (``−10 log10(MSE + 1e-8)``), which moves a 40 dB PSNR by 4e-4 dB.
  The tests undo that offset (``MSE = 10^(−PSNR/10) − 1e-8``) and compare per image to 1e-4 dB.  For MRI, oes compares magnitudes (``oes.mri.magnitude``), which is
  deepinv's ``PSNR(complex_abs=True)``.
"""
from __future__ import annotations

import math

import deepinv as dinv
import pytest
import torch

from oes.metrics import psnr
from oes.mri import MultiCoilMRI, birdcage_maps, cartesian_mask, magnitude
from oes.operators import Inpainting

torch.set_num_threads(1)


def _rand(*shape, seed=0, dtype=torch.float32):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_versions():
    """The environment is the one the cross-check claims to use."""
    import torchvision

    assert torch.__version__.split("+")[0] == "2.14.1"
    assert torchvision.__version__.split("+")[0] == "0.29.1"
    assert dinv.__version__ == "0.5.0"


@pytest.mark.parametrize("h, w, n_coils, accel", [(16, 12, 3, 3), (32, 32, 8, 4), (20, 24, 1, 2)])
def test_multicoil_mri_forward_and_adjoint(h, w, n_coils, accel):
    maps = birdcage_maps(n_coils, (h, w))
    line_mask = cartesian_mask(w, accel, seed=0)
    ours = MultiCoilMRI(line_mask, maps)
    mask2d = line_mask.float()[None, :].expand(h, w).contiguous()
    theirs = dinv.physics.MultiCoilMRI(mask=mask2d, coil_maps=maps, img_size=(1, 2, h, w))

    x = torch.randn((2, 2, h, w), generator=torch.Generator().manual_seed(1))
    y_ours, y_theirs = ours.A(x), theirs.A(x)
    assert y_ours.shape == (2, n_coils, 2, h, w) and y_theirs.shape == (2, 2, n_coils, h, w)
    scale = y_theirs.abs().max()
    torch.testing.assert_close(y_ours, y_theirs.transpose(1, 2), atol=1e-5 * scale, rtol=1e-5)

    # adjoint on the same (random, not only in-range) measurements
    yy = torch.randn((2, n_coils, 2, h, w), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(ours.A_adjoint(yy), theirs.A_adjoint(yy.transpose(1, 2)), atol=1e-5, rtol=1e-5)

    # the adjoint identity <A x, y> = <x, Aᴴ y> holds for both
    lhs = (ours.A(x) * yy).sum()
    rhs = (x * ours.A_adjoint(yy)).sum()
    torch.testing.assert_close(lhs, rhs, atol=1e-3, rtol=1e-4)


def test_multicoil_mri_data_term():
    h, w, n_coils = 24, 24, 4
    maps = birdcage_maps(n_coils, (h, w))
    line_mask = cartesian_mask(w, 4, seed=3)
    ours = MultiCoilMRI(line_mask, maps)
    theirs = dinv.physics.MultiCoilMRI(mask=line_mask.float()[None, :].expand(h, w).contiguous(),
                                       coil_maps=maps, img_size=(1, 2, h, w))
    x, x2 = torch.randn(1, 2, h, w), torch.randn(1, 2, h, w)
    y = ours.A(x2)
    l2 = dinv.optim.data_fidelity.L2()(x, y.transpose(1, 2), theirs)        # ½‖A x − y‖² per batch element
    count = n_coils * ours.n_sampled
    torch.testing.assert_close(ours.data_fidelity(x, y), 2 * l2[0] / count, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("channels, keep", [(3, 0.5), (1, 0.2)])
def test_inpainting_forward_adjoint_and_data_term(channels, keep):
    h, w = 20, 28
    ours = Inpainting((h, w), keep=keep, seed=4)
    theirs = dinv.physics.Inpainting(img_size=(channels, h, w), mask=ours.pixel_mask[0])
    x = _rand(2, channels, h, w, seed=5)
    torch.testing.assert_close(ours.A(x), theirs.A(x), atol=0, rtol=0)
    torch.testing.assert_close(ours.A_adjoint(x), theirs.A_adjoint(x), atol=0, rtol=0)

    x_hat, y = _rand(1, channels, h, w, seed=6), theirs.A(_rand(1, channels, h, w, seed=7))
    l2 = dinv.optim.data_fidelity.L2()(x_hat, y, theirs)
    count = ours.pixel_mask.sum() * channels
    torch.testing.assert_close(ours.data_fidelity(x_hat, y), 2 * l2[0] / count, rtol=1e-5, atol=1e-8)


def _without_eps(psnr_db: float) -> float:
    """deepinv's PSNR with its 1e-8 MSE offset removed."""
    return -10.0 * math.log10(10.0 ** (-psnr_db / 10.0) - 1e-8)


@pytest.mark.parametrize("shape", [(1, 3, 16, 16), (1, 1, 33, 17)])
def test_psnr_matches_deepinv(shape):
    metric = dinv.loss.metric.PSNR(max_pixel=1.0, min_pixel=0.0)
    x = _rand(*shape, seed=8)
    for sigma in (0.01, 0.1, 0.3):
        x_hat = (x + sigma * torch.randn(shape, generator=torch.Generator().manual_seed(9))).clamp(0, 1)
        theirs = float(metric(x_hat, x)[0])
        assert psnr(x_hat, x) == pytest.approx(_without_eps(theirs), abs=1e-4)
        assert abs(psnr(x_hat, x) - theirs) < 1e-2          # and the offset itself is small


def test_mri_magnitude_psnr_matches_deepinv_complex_abs():
    x = _rand(1, 2, 16, 16, seed=10) * 0.7
    x_hat = x + 0.05 * torch.randn((1, 2, 16, 16), generator=torch.Generator().manual_seed(11))
    theirs = dinv.loss.metric.PSNR(max_pixel=1.0, min_pixel=0.0, complex_abs=True)(x_hat, x)
    assert psnr(magnitude(x_hat), magnitude(x)) == pytest.approx(_without_eps(float(theirs[0])), abs=1e-4)


def test_oes_trains_on_this_torch():
    """oes itself on torch 2.14.1: OES mask learning then Sparse-DIP on the MRI operator, a few steps."""
    from oes.fit import FitConfig, fit
    from oes.generators import GeneratorConfig, build_generator, make_input
    from oes.learn import MaskConfig, learn_mask
    from oes.mri import make_acquisition, synthetic_subjects

    img = synthetic_subjects(32, n=1)[0]
    op, y, x = make_acquisition(img, n_coils=4, acceleration=4, seed=0, snr_db=30.0)
    cfg = GeneratorConfig("hourglass", (4, 8), 3, 3, 8, out_channels=2)
    z = make_input(cfg, 32, seed=0)
    m = learn_mask(build_generator(cfg, 0), z, y, op, cfg=MaskConfig(sparsity=0.3, steps=5, lr=0.1),
                   x_true=magnitude(x), to_image=magnitude, progress=False)
    res = fit(build_generator(cfg, 0), z, y, op, cfg=FitConfig(steps=30, lr=1e-2, record_every=5), mask=m.mask,
              x_true=magnitude(x), to_image=magnitude, progress=False)
    losses = res.history["loss"].to_numpy()
    assert abs(m.mask.density - 0.3) < 1e-3
    assert losses[-1] < losses[0] and torch.isfinite(res.x_hat).all()
