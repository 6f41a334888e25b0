"""Multi-coil MRI operator, masks, coil maps and data (Appendix H)."""
import math
import sys

import numpy as np
import pytest
import torch

from oes.mri import (MultiCoilMRI, birdcage_maps, cartesian_mask, channels_to_complex,
                     complex_to_channels, default_center_fraction, fft2c, ifft2c, load_coil_maps,
                     load_fastmri_h5, magnitude, make_acquisition, rss, synthetic_subjects)


def _rand_op(h=16, w=12, n_coils=3, acc=3, seed=0, dtype=torch.float64):
    maps = birdcage_maps(n_coils, (h, w))
    mask = cartesian_mask(w, acc, kind="random", seed=seed)
    op = MultiCoilMRI(mask, maps)
    return op.to(dtype)


# --------------------------------------------------------------------------- FFT / helpers
def test_fft_orthonormal_and_inverse():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 10, 14, generator=g, dtype=torch.complex128)
    k = fft2c(x)
    assert torch.allclose(k.abs().pow(2).sum(), x.abs().pow(2).sum(), rtol=1e-12)
    assert torch.allclose(ifft2c(k), x, atol=1e-12)
    # adjoint of F is F^{-1}: <F x, v> = <x, F^H v>
    v = torch.randn(3, 10, 14, generator=g, dtype=torch.complex128)
    assert torch.allclose(torch.vdot(k.flatten(), v.flatten()), torch.vdot(x.flatten(), ifft2c(v).flatten()))
    # centred: a constant image has all its energy at (H//2, W//2)
    kc = fft2c(torch.ones(8, 6, dtype=torch.complex128))
    assert kc.abs().argmax().item() == 4 * 6 + 3


def test_channel_conversions():
    z = torch.randn(2, 5, 7, dtype=torch.complex64)
    x = complex_to_channels(z)
    assert x.shape == (2, 2, 5, 7)
    assert torch.equal(channels_to_complex(x), z)
    assert torch.allclose(magnitude(x), z.abs()[:, None])
    with pytest.raises(ValueError):
        channels_to_complex(torch.zeros(1, 3, 4, 4))


# --------------------------------------------------------------------------- operator
def test_shapes_and_adjoint_exact():
    op = _rand_op()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 16, 12, generator=g, dtype=torch.float64)
    y = torch.randn(2, 3, 2, 16, 12, generator=g, dtype=torch.float64)
    ax = op.A(x)
    assert ax.shape == (2, 3, 2, 16, 12)
    aty = op.A_adjoint(y)
    assert aty.shape == x.shape
    lhs, rhs = (ax * y).sum(), (x * aty).sum()
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))
    # float32 too, to float tolerance
    op32 = op.float()
    lhs32, rhs32 = (op32.A(x.float()) * y.float()).sum(), (x.float() * op32.A_adjoint(y.float())).sum()
    assert abs(lhs32 - rhs32) <= 1e-4 * abs(lhs32)


def test_unsampled_entries_are_zero():
    op = _rand_op()
    y = op.A(torch.rand(1, 2, 16, 12, dtype=torch.float64))
    assert torch.all(y[..., op.mask == 0] == 0)
    assert torch.any(y[..., op.mask == 1] != 0)


def test_full_sampling_single_coil_is_unitary():
    h, w = 12, 10
    op = MultiCoilMRI(torch.ones(w), torch.ones(1, h, w, dtype=torch.complex64)).double()
    x = torch.randn(2, 2, h, w, dtype=torch.float64)
    assert torch.allclose(op.A_adjoint(op.A(x)), x, atol=1e-12)
    assert torch.allclose(op.A(x).pow(2).sum(), x.pow(2).sum())
    # with birdcage maps (Σ|S|² = 1) full sampling also gives AᴴA = I
    op8 = MultiCoilMRI(torch.ones(w), birdcage_maps(8, (h, w), dtype=torch.complex128)).double()
    assert torch.allclose(op8.A_adjoint(op8.A(x)), x, atol=1e-6)


def test_data_fidelity_scale():
    op = _rand_op()
    x = torch.rand(1, 2, 16, 12, dtype=torch.float64)
    y = op.A(x)
    assert op.data_fidelity(x, y).item() == 0.0
    # constant complex residual 1 on every sampled coefficient → loss 1
    d = complex_to_channels(torch.ones(1, 3, 16, 12, dtype=torch.complex128)) * op.mask
    assert op.data_fidelity(x, y - d).item() == pytest.approx(1.0)
    # entries of y outside the mask are ignored
    assert op.data_fidelity(x, y + (1 - op.mask)).item() == 0.0


def test_measure_noise_seeded_and_snr():
    img = synthetic_subjects(64, n=1)[0]
    op, y, x = make_acquisition(img, n_coils=4, acceleration=4, seed=3, snr_db=20.0)
    _, y2, _ = make_acquisition(img, n_coils=4, acceleration=4, seed=3, snr_db=20.0)
    assert torch.equal(y, y2)
    clean = op.A(x)
    noise = y - clean
    assert torch.all(noise[..., op.mask == 0] == 0)
    snr = 10 * math.log10(clean.pow(2).sum().item() / noise.pow(2).sum().item())
    assert snr == pytest.approx(20.0, abs=0.5)
    assert op.describe()["noise_sigma"] > 0
    _, y0, x0 = make_acquisition(img, n_coils=4, acceleration=4, seed=3)
    assert torch.equal(y0, op.A(x0))


def test_operator_moves_with_to_and_validates():
    op = _rand_op(dtype=torch.float32)
    assert set(dict(op.named_buffers())) == {"mask", "coil_maps_ri"}
    assert op.double().coil_maps.dtype == torch.complex128
    if torch.cuda.is_available():  # pragma: no cover - device only
        opc = _rand_op().cuda()
        assert opc.A(torch.rand(1, 2, 16, 12, dtype=torch.float64, device="cuda")).is_cuda
    with pytest.raises(ValueError, match="shape"):
        op.A(torch.zeros(1, 3, 16, 12))
    with pytest.raises(ValueError, match="complex"):
        MultiCoilMRI(torch.ones(12), torch.ones(2, 16, 12))
    with pytest.raises(ValueError, match="width"):
        MultiCoilMRI(torch.ones(11), torch.ones(2, 16, 12, dtype=torch.complex64))
    d = op.describe()
    assert d["name"] == "mri" and d["n_coils"] == 3 and d["shape"] == [16, 12]


# --------------------------------------------------------------------------- masks
@pytest.mark.parametrize("kind", ["random", "equispaced"])
@pytest.mark.parametrize("width,acc", [(320, 4), (320, 8), (368, 4), (64, 8), (33, 4), (128, 6)])
def test_cartesian_mask_acceleration_and_centre(kind, width, acc):
    m = cartesian_mask(width, acc, kind=kind, seed=5)
    assert m.dtype == torch.bool and m.shape == (width,)
    assert abs(int(m.sum()) - round(width / acc)) <= 1
    n_low = round(width * default_center_fraction(acc))
    pad = (width - n_low + 1) // 2
    assert m[pad:pad + n_low].all()
    assert m[width // 2]  # DC line of the centred FFT
    assert torch.equal(m, cartesian_mask(width, acc, kind=kind, seed=5))


def test_cartesian_mask_defaults_and_seeds():
    assert default_center_fraction(4) == pytest.approx(0.08)
    assert default_center_fraction(8) == pytest.approx(0.04)
    a, b = cartesian_mask(320, 4, seed=0), cartesian_mask(320, 4, seed=1)
    assert not torch.equal(a, b)
    state = torch.random.get_rng_state()
    cartesian_mask(320, 8, kind="equispaced", seed=2)
    assert torch.equal(state, torch.random.get_rng_state())  # no global RNG
    e = torch.nonzero(cartesian_mask(320, 4, center_fraction=0.0, kind="equispaced")).flatten()
    assert set(torch.diff(e).tolist()) <= {3, 4, 5}
    with pytest.raises(ValueError):
        cartesian_mask(64, 8, center_fraction=0.5)
    with pytest.raises(ValueError):
        cartesian_mask(64, 4, kind="radial")


# --------------------------------------------------------------------------- coil maps
def test_birdcage_maps_normalised_and_distinct():
    s = birdcage_maps(8, (24, 20))
    assert s.shape == (8, 24, 20) and s.dtype == torch.complex64
    assert torch.allclose((s.abs() ** 2).sum(0), torch.ones(24, 20), atol=1e-5)
    # coil 0 sits at angle 0 (right of the FOV): strongest on the right edge
    assert s[0, :, -1].abs().mean() > s[0, :, 0].abs().mean()
    assert not torch.allclose(s[0], s[1])
    assert torch.allclose(birdcage_maps(1, 6).abs(), torch.ones(1, 6, 6))


def test_load_coil_maps(tmp_path):
    s = birdcage_maps(4, (8, 8))
    np.save(tmp_path / "m.npy", s.numpy())
    torch.save(s, tmp_path / "m.pt")
    assert torch.equal(load_coil_maps(tmp_path / "m.npy"), s)
    assert torch.equal(load_coil_maps(tmp_path / "m.pt", shape=(8, 8)), s)
    assert torch.allclose(load_coil_maps(tmp_path / "m.npy", normalize=True), s, atol=1e-6)
    np.save(tmp_path / "real.npy", np.ones((4, 8, 8), np.float32))
    with pytest.raises(ValueError, match="complex"):
        load_coil_maps(tmp_path / "real.npy")
    np.save(tmp_path / "flat.npy", np.ones((8, 8), np.complex64))
    with pytest.raises(ValueError, match=r"\(N_c, H, W\)"):
        load_coil_maps(tmp_path / "flat.npy")
    with pytest.raises(ValueError, match="image is"):
        load_coil_maps(tmp_path / "m.npy", shape=(16, 16))
    with pytest.raises(FileNotFoundError):
        load_coil_maps(tmp_path / "missing.npy")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ValueError, match=".npy or .pt"):
        load_coil_maps(tmp_path / "m.txt")


# --------------------------------------------------------------------------- data
def test_synthetic_subjects():
    subs = synthetic_subjects(32)
    assert len(subs) == 4
    for s in subs:
        assert s.shape == (32, 32) and s.dtype == torch.float32
        assert s.min() >= 0 and s.max() <= 1 and s.max() > 0.99
    for i in range(4):
        for j in range(i + 1, 4):
            assert (subs[i] - subs[j]).abs().mean() > 0.05
    assert len(synthetic_subjects((16, 24), n=6)) == 6


def test_make_acquisition_phase_in_sigmoid_range():
    img = synthetic_subjects(32, n=1)[0]
    op, y, x = make_acquisition(img, n_coils=4, acceleration=8, kind="equispaced", seed=0)
    assert x.shape == (1, 2, 32, 32) and y.shape == (1, 4, 2, 32, 32)
    assert x.min() >= 0 and x.max() <= 1
    assert torch.allclose(magnitude(x)[0, 0], img, atol=1e-6)
    assert op.describe()["mask_kind"] == "equispaced"
    assert op.n_sampled == 32 * round(32 / 8)
    _, _, xr = make_acquisition(img, n_coils=2, phase=False)
    assert torch.all(xr[:, 1] == 0)


def _write_fastmri(path, n_slices=3, n_coils=4, h=16, w=12, with_rss=True):
    import h5py

    g = np.random.default_rng(0)
    k = (g.standard_normal((n_slices, n_coils, h, w)) + 1j * g.standard_normal((n_slices, n_coils, h, w)))
    k = k.astype(np.complex64)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=k)
        if with_rss:
            ref = np.stack([rss(torch.from_numpy(k[i])).numpy()[4:12, 2:10] for i in range(n_slices)])
            f.create_dataset("reconstruction_rss", data=ref.astype(np.float32))
        f.attrs["acquisition"] = "CORPD_FBK"
        f.attrs["max"] = np.float64(1.5)
    return k


def test_load_fastmri_h5(tmp_path):
    pytest.importorskip("h5py")
    k = _write_fastmri(tmp_path / "file.h5")
    sl = load_fastmri_h5(tmp_path / "file.h5", slice_idx=2)
    kspace, ref = sl
    assert kspace.dtype == torch.complex64 and kspace.shape == (4, 16, 12)
    assert np.array_equal(kspace.numpy(), k[2])
    assert ref.shape == (8, 8)
    assert torch.allclose(ref, rss(kspace)[4:12, 2:10], atol=1e-5)
    assert sl.attrs == {"acquisition": "CORPD_FBK", "max": 1.5}
    assert load_fastmri_h5(tmp_path / "file.h5").slice_idx == 1
    assert load_fastmri_h5(tmp_path / "file.h5", -1).slice_idx == 2
    with pytest.raises(IndexError):
        load_fastmri_h5(tmp_path / "file.h5", 3)
    # the masked k-space plugs into the operator
    op = MultiCoilMRI(cartesian_mask(12, 4), torch.ones(4, 16, 12, dtype=torch.complex64))
    y = op.kspace_to_measurements(kspace)
    assert y.shape == (1, 4, 2, 16, 12)
    _write_fastmri(tmp_path / "norss.h5", with_rss=False)
    assert load_fastmri_h5(tmp_path / "norss.h5").rss is None


def test_load_fastmri_h5_errors(tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.create_dataset("image", data=np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="no 'kspace'"):
        load_fastmri_h5(tmp_path / "bad.h5")
    with pytest.raises(FileNotFoundError):
        load_fastmri_h5(tmp_path / "missing.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        load_fastmri_h5(tmp_path / "bad.h5")


# --------------------------------------------------------------------------- training
def test_operator_plugs_into_fit():
    from oes.fit import FitConfig, fit
    from oes.generators import GeneratorConfig, build_generator, make_input

    img = synthetic_subjects(32, n=1)[0]
    op, y, x = make_acquisition(img, n_coils=4, acceleration=4, seed=0, snr_db=30.0)
    cfg = GeneratorConfig("hourglass", (4, 8), 3, 3, 8, out_channels=2)
    net = build_generator(cfg, seed=0)
    z = make_input(cfg, 32, seed=0)
    res = fit(net, z, y, op, cfg=FitConfig(steps=40, lr=1e-2, record_every=5), x_true=magnitude(x),
              to_image=magnitude, progress=False)
    losses = res.history["loss"].to_numpy()
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]
    assert np.isfinite(res.history["psnr"]).all()
    assert res.x_hat.shape == (1, 2, 32, 32)

# The cross-check against deepinv.physics.MultiCoilMRI lives in tests/crosscheck/crosscheck_deepinv.py:
# it needs torchvision, so scripts/crosscheck.sh runs it in its own venv (torch 2.14.1).
