import json

import pandas as pd
import pytest
import torch

from oes.cli import main
from oes.masks import Mask
from oes.metrics import psnr, ssim


def test_psnr_matches_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 3, 8, 8, generator=g), torch.rand(1, 3, 8, 8, generator=g)
    ref = peak_signal_noise_ratio(a[0].numpy().astype("float64"), b[0].numpy().astype("float64"), data_range=1)
    assert psnr(b, a) == pytest.approx(ref, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)


def test_mask_then_fit_smoke(tmp_path, capsys):
    m = tmp_path / "m.pt"
    assert main(["mask", "--preset", "smoke", "--image", "coffee", "--sparsity", "0.1", "--steps", "3",
                 "--out", str(m)]) == 0
    mask = Mask.load(m)
    assert mask.meta["source_image"] == "coffee" and mask.meta["generator"]["kind"] == "hourglass"
    assert abs(mask.density - 0.1) < 1e-3
    said = capsys.readouterr().out                      # 3 steps, no check: the user is told it is not learned
    assert "convergence: not converged after 3 steps (#{p > 1/2}/k = " in said and "--steps" in said
    out = tmp_path / "out"
    assert main(["fit", "--preset", "smoke", "--image", "coffee", "--mask", str(m), "--steps", "4",
                 "--out-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "output.png", "result.json"]
    h = pd.read_csv(out / "history.csv")
    assert list(h.columns) == ["step", "loss", "psnr"]
    r = json.loads((out / "result.json").read_text())
    assert {"final_psnr", "best_psnr", "best_step", "steps", "seconds", "config"} <= set(r)
    assert r["method"] == "sparse" and r["config"]["image"] == "coffee"
    assert main(["fit", "--preset", "smoke", "--dense", "--steps", "2", "--out-dir", str(tmp_path / "d")]) == 0
    assert main(["fit", "--preset", "smoke", "--decoder", "--steps", "2", "--out-dir", str(tmp_path / "dd")]) == 0


def test_convergence_line_names_every_criterion():
    from oes.cli import _convergence_line
    meta = {"above_half": 1.05, "kept_stable": 0.977, "waste": 0.038, "converged": True, "steps_run": 6001,
            "lam_search": [{}, {}], "lam_search_chosen": 1}
    assert _convergence_line(meta) == ("convergence: converged after 6001 steps (#{p > 1/2}/k = 1.05, kept set 98% "
                                       "stable since the last check, dead-path waste 3.8%, λ try 2 of 2)")


@pytest.mark.parametrize("argv, message", [
    (["fit", "--preset", "smoke", "--dense", "--image", "nosuch"], "unknown image 'nosuch'"),
    (["fit", "--preset", "smoke", "--dense", "--size", "30"], "smallest valid"),
    (["fit", "--preset", "smoke", "--dense", "--decoder"], "exactly one of"),
    (["fit", "--preset", "smoke", "--mask", "MISSING.pt"], "does not exist"),
    (["fit", "--preset", "nosuch", "--dense"], "unknown preset"),
    (["mask", "--preset", "smoke", "--sparsity", "5"], "fraction of parameters kept"),
])
def test_bad_input_is_one_line_error_and_leaves_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    argv = [a.replace("MISSING.pt", str(tmp_path / "missing.pt")) for a in argv]
    argv += ["--out-dir", str(out)] if argv[0] == "fit" else ["--out", str(tmp_path / "m.pt")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists() and not (tmp_path / "m.pt").exists()


def test_foreign_mask_file_and_architecture_mismatch(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(2)}, bad)
    assert main(["fit", "--preset", "smoke", "--mask", str(bad), "--out-dir", str(tmp_path / "o")]) == 2
    assert "not an oes mask" in capsys.readouterr().err
    m = tmp_path / "m.pt"
    assert main(["mask", "--preset", "smoke", "--steps", "2", "--out", str(m)]) == 0
    mask = Mask.load(m)
    mask.meta["generator"]["channels"] = [4, 16]      # pretend it came from another architecture
    mask.save(m)
    assert main(["fit", "--preset", "smoke", "--mask", str(m), "--out-dir", str(tmp_path / "o2")]) == 2
    assert "does not fit this generator" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_images_lists_names(capsys):
    assert main(["images"]) == 0
    out = capsys.readouterr().out
    assert "astronaut" in out and "camera" in out


def test_every_cli_line_in_the_readme_runs(tmp_path, monkeypatch):
    """The README's `oes mask/fit/prune/images/denoise/inpaint/scorecard` examples, at the smoke preset
    with 2 steps."""
    import re
    import shlex
    from pathlib import Path

    import numpy as np
    from skimage import io

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    lines = [ln.split("#")[0].strip() for ln in readme.splitlines()]
    cmds = [ln for ln in lines if re.match(r"^oes (mask|fit|prune|images|denoise|inpaint|scorecard)\b", ln)]
    assert any(c.startswith("oes denoise") for c in cmds) and any(c.startswith("oes inpaint") for c in cmds)
    assert any(c.startswith("oes mask") for c in cmds) and any(c.startswith("oes fit") for c in cmds)
    monkeypatch.chdir(tmp_path)
    io.imsave("my_photo.png", (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8),
              check_contrast=False)
    holes = np.zeros((40, 48), np.uint8)
    holes[10:20, 5:30] = 255
    io.imsave("holes.png", holes, check_contrast=False)
    for c in cmds:
        argv = shlex.split(c)[1:]
        if argv[0] in ("denoise", "inpaint"):
            argv = [("smoke" if a == "quick" else a) for a in argv] + ["--mask-steps", "2", "--steps", "2"]
        elif argv[0] not in ("images", "scorecard"):
            argv = [("smoke" if a == "quick" else a) for a in argv]
            if argv[0] == "prune":
                argv += ["--rounds", "2"] if "synflow" in argv else (["--steps", "2"] if "imp" in argv else [])
            else:
                argv += ["--steps", "2"]
        assert main(argv) == 0, c
