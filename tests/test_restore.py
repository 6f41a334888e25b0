"""oes denoise / oes inpaint (oes.restore): own size in and out, one progress bar, clean failures."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from skimage import io

from oes.cli import main
from oes.generators import GeneratorConfig, check_image_size
from oes.masks import Mask
from oes.restore import OUTPUT_FILES, RestoreError, pad_reflect, padded_size, read_hole_mask, restore


def _png(path, shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    hi = 65535 if dtype == np.uint16 else 255
    a = (rng.random(shape) * hi).astype(dtype)
    io.imsave(path, a, check_contrast=False)
    return a


@pytest.mark.parametrize("shape", [(100, 150, 3), (97, 131)])
def test_denoise_returns_the_exact_shape(tmp_path, capsys, shape):
    img = tmp_path / "in.png"
    _png(img, shape)
    out = tmp_path / "out"
    assert main(["denoise", str(img), "--preset", "smoke", "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert f"{shape[0]}×{shape[1]} {'colour' if len(shape) == 3 else 'gray'}" in lines[0]
    est = next(i for i, ln in enumerate(lines) if ln.startswith("estimated time on this device"))
    done = next(i for i, ln in enumerate(lines) if ln.startswith("done in"))
    assert est < done and "parameters" in printed                       # estimate printed before the run
    conv = next(ln for ln in lines if ln.startswith("OES mask "))           # smoke: 6 steps, no check
    assert conv.startswith("OES mask not converged after 6 steps (#{p > 1/2}/k = ") and "--mask-steps" in conv
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    restored = io.imread(out / "restored.png")
    assert restored.shape == shape and restored.dtype == np.uint8
    hist = pd.read_csv(out / "history.csv")
    assert set(hist["phase"]) == {"mask", "fit"} and {"step", "loss"} <= set(hist.columns)
    mask = Mask.load(out / "mask.pt")
    assert abs(mask.density - 0.2) < 0.01 and mask.meta["image_shape"] == list(shape[:2])
    r = json.loads((out / "result.json").read_text())
    assert r["shape"] == list(shape) and r["seconds"]["total"] > 0 and r["estimate"]["total"] > 0
    assert r["mask_convergence"]["converged"] is False and r["mask_convergence"]["steps_run"] == 6
    check_image_size(tuple(r["padded"]), GeneratorConfig.from_dict(r["generator"]))
    assert r["generator"]["out_channels"] == (3 if len(shape) == 3 else 1)
    assert (out / "figure.png").stat().st_size > 1000


def test_alpha_and_16_bit_are_written_back(tmp_path):
    a = _png(tmp_path / "rgba.png", (20, 30, 4))
    res = restore(tmp_path / "rgba.png", tmp_path / "o", preset="smoke", mask_steps=2, steps=2, log=lambda s: None)
    back = io.imread(tmp_path / "o" / "restored.png")
    assert back.shape == (20, 30, 4) and back.dtype == np.uint8
    assert np.array_equal(back[..., 3], a[..., 3])                    # alpha copied through
    assert res.output.shape == back.shape
    _png(tmp_path / "g16.png", (18, 22), dtype=np.uint16)
    restore(tmp_path / "g16.png", tmp_path / "o16", preset="smoke", mask_steps=2, steps=2, log=lambda s: None)
    back = io.imread(tmp_path / "o16" / "restored.png")
    assert back.shape == (18, 22) and back.dtype == np.uint16


def test_one_progress_bar_over_both_phases(tmp_path, capsys):
    _png(tmp_path / "in.png", (40, 40, 3))
    restore(tmp_path / "in.png", tmp_path / "o", preset="smoke", mask_steps=5, steps=7, progress=True,
            log=lambda s: None)
    err = capsys.readouterr().err
    assert "12/12" in err and "/5" not in err and "/7" not in err     # one bar, total = 5 + 7 steps


def test_inpaint_sees_only_the_kept_pixels(tmp_path):
    """White in the mask image = fill in: what the holes contain must not change the result."""
    a = _png(tmp_path / "a.png", (24, 40, 3), seed=1)
    hole = np.zeros((24, 40), np.uint8)
    hole[8:16, 10:25] = 255
    io.imsave(tmp_path / "m.png", hole, check_contrast=False)
    b = a.copy()
    b[hole > 0] = 0                                                   # other content in the holes
    io.imsave(tmp_path / "b.png", b, check_contrast=False)
    outs = []
    for name in ("a", "b"):
        assert main(["inpaint", str(tmp_path / f"{name}.png"), "--mask-image", str(tmp_path / "m.png"),
                     "--preset", "smoke", "--out-dir", str(tmp_path / f"out_{name}")]) == 0
        outs.append(io.imread(tmp_path / f"out_{name}" / "restored.png"))
    assert outs[0].shape == (24, 40, 3)
    assert np.array_equal(outs[0], outs[1])
    keep = read_hole_mask(tmp_path / "m.png", (24, 40))
    assert keep.shape == (1, 1, 24, 40) and keep[0, 0, 10, 12] == 0 and keep[0, 0, 0, 0] == 1


@pytest.mark.parametrize("mask_kind, message", [
    ("wrong_size", "is 10×12 pixels but the image is 24×40"),
    ("not_an_image", "cannot read mask image"),
    ("all_black", "marks no pixel to fill in"),
    ("all_white", "marks every pixel to fill in"),
    ("missing", "does not exist"),
])
def test_bad_mask_image_is_one_line_error_and_leaves_nothing(tmp_path, capsys, mask_kind, message):
    _png(tmp_path / "in.png", (24, 40, 3))
    m = tmp_path / "m.png"
    if mask_kind == "wrong_size":
        _png(m, (10, 12))
    elif mask_kind == "not_an_image":
        m.write_text("not a png")
    elif mask_kind in ("all_black", "all_white"):
        io.imsave(m, np.full((24, 40), 0 if mask_kind == "all_black" else 255, np.uint8), check_contrast=False)
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["inpaint", str(tmp_path / "in.png"), "--mask-image", str(m), "--preset", "smoke",
                 "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("oes inpaint: error:") and message in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before        # no out dir, no temporary folder


@pytest.mark.parametrize("argv, message", [
    (["denoise", "MISSING.png"], "does not exist"),
    (["denoise", "IN", "--preset", "nosuch"], "unknown preset"),
    (["inpaint", "IN"], "--mask-image"),
    (["denoise", "IN", "--mask-steps", "0"], "at least 1"),
])
def test_bad_arguments(tmp_path, capsys, argv, message):
    _png(tmp_path / "in.png", (16, 16, 3))
    argv = [a.replace("IN", str(tmp_path / "in.png")).replace("MISSING.png", str(tmp_path / "nope.png"))
            for a in argv]
    code = None
    try:
        code = main(argv + ["--out-dir", str(tmp_path / "out")])
    except SystemExit as e:                      # argparse: a required option is missing
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_refuses_a_non_empty_out_dir_and_a_missing_gpu(tmp_path, capsys):
    _png(tmp_path / "in.png", (16, 16, 3))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["denoise", str(tmp_path / "in.png"), "--preset", "smoke", "--out-dir", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    if not torch.cuda.is_available():
        assert main(["denoise", str(tmp_path / "in.png"), "--preset", "smoke", "--device", "cuda",
                     "--out-dir", str(tmp_path / "o2")]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err and not (tmp_path / "o2").exists()


def test_estimate_only_writes_nothing(tmp_path, capsys):
    _png(tmp_path / "in.png", (16, 16, 3))
    assert main(["denoise", str(tmp_path / "in.png"), "--preset", "smoke", "--estimate-only",
                 "--out-dir", str(tmp_path / "out")]) == 0
    assert "estimated time on this device" in capsys.readouterr().out and not (tmp_path / "out").exists()


def test_padding_is_minimal_reflective_and_cropped_back_exactly():
    cfg = GeneratorConfig("hourglass", (8, 16, 32, 64), 5, 3, 32)      # quick: multiples of 16, at least 48
    assert padded_size((97, 131), cfg) == (112, 144)
    assert padded_size((10, 300), cfg) == (48, 304)
    g = torch.Generator().manual_seed(0)
    for h, w in [(97, 131), (3, 5), (48, 48)]:
        x = torch.rand((1, 3, h, w), generator=g)
        size = padded_size((h, w), cfg)
        p, (top, left) = pad_reflect(x, size)
        assert p.shape[-2:] == size
        assert torch.equal(p[..., top:top + h, left:left + w], x)
        if left >= 2 and w >= 2:                                       # mirrored (symmetric), not edge-repeated
            assert torch.equal(p[..., top:top + h, left - 1], x[..., :, 0])
            assert torch.equal(p[..., top:top + h, left - 2], x[..., :, 1])
    with pytest.raises(RestoreError):
        read_hole_mask(np.zeros((4, 4), np.uint8), (4, 5))
