"""MRI runs through the store (Appendix H): ``operator="mri"`` specs, problems and transfer."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from oes.fit import FitConfig
from oes.generators import GeneratorConfig, build_generator, make_input
from oes.learn import MaskConfig, learn_mask
from oes.mri import magnitude, make_acquisition, synthetic_subjects
from oes.experiments import MaskSpec, RunSpec, execute, execute_masks, make_problem, mask_record, spec_key

TINY = GeneratorConfig("hourglass", (4, 8), 3, 3, 8)
TINY2 = replace(TINY, out_channels=2)
MRI4 = {"acceleration": 4, "n_coils": 2, "snr_db": 30.0}


def test_golden_keys_unchanged():
    """Adding fields with defaults (``op_params``, ``source_run``) must not move the keys of existing specs:
    the canonical JSON hashes as before the store's v2 layout, and the v2 keys (canonical JSON + the
    methods' algorithm versions) are pinned here."""
    import hashlib

    from oes.experiments import canonical_json

    m = MaskSpec("oes", "astronaut", 32, TINY, params={"sparsity": 0.2, "steps": 6})
    r = RunSpec("astronaut", 32, TINY, FitConfig(steps=8), method="sparse", mask=m, seed=1)
    d = RunSpec("astronaut", 32, TINY, FitConfig(steps=8))
    old = {id(m): "40262baccb24", id(r): "38cd22b13d67", id(d): "42a4ac16089a"}      # the v1 store's keys
    for s in (m, r, d):
        assert hashlib.md5(canonical_json(s).encode()).hexdigest()[:12] == old[id(s)]
    assert spec_key(m, isa="avx2", env={}) == "07e7118539cc"
    assert spec_key(r, isa="avx2", env={}) == "b03d7cb2c294"
    assert spec_key(d, isa="avx2", env={}) == "177293a9a819"
    assert spec_key(replace(m, op_params=MRI4)) != spec_key(m)


def test_make_problem_mri_matches_make_acquisition():
    p = make_problem("shepp_logan", 32, operator="mri", sigma=0, seed=3, op_params=MRI4)
    img = synthetic_subjects(32, names=["shepp_logan"])[0]
    op, y, x = make_acquisition(img, n_coils=2, acceleration=4, seed=3, snr_db=30.0)
    assert p.x.shape == (1, 1, 32, 32) and p.y.shape == (1, 2, 2, 32, 32)
    assert torch.allclose(p.x[0, 0], img, atol=1e-6)
    assert torch.equal(p.y, y) and torch.equal(p.operator.mask, op.mask)
    assert p.to_image is magnitude and p.image == "shepp_logan"
    assert p.operator.acceleration == pytest.approx(4)
    # the acquisition seed can be set apart from the network seed
    q = make_problem("shepp_logan", 32, operator="mri", sigma=0, seed=0, op_params={**MRI4, "seed": 3})
    assert torch.equal(q.y, y)
    # 8× samples half as many lines; another subject, same lines
    p8 = make_problem("shepp_logan", 32, operator="mri", sigma=0, seed=3, op_params={**MRI4, "acceleration": 8})
    assert p8.operator.n_sampled == 32 * 4
    pr = make_problem("retina", 32, operator="mri", sigma=0, seed=3, op_params=MRI4)
    assert torch.equal(pr.operator.mask, op.mask) and not torch.allclose(pr.x, p.x)


def test_make_problem_mri_clean_target_and_errors():
    p = make_problem("retina", 16, operator="mri", sigma=0, target="clean", op_params=MRI4)
    _, _, x = make_acquisition(synthetic_subjects(16, names=["retina"])[0], n_coils=2, acceleration=4)
    assert torch.allclose(p.y, p.operator.A(x))
    with pytest.raises(ValueError, match="unknown MRI op_params"):
        make_problem("retina", 16, operator="mri", sigma=0, op_params={"accel": 4})
    with pytest.raises(ValueError, match="unknown MRI subject"):
        make_problem("astronaut", 16, operator="mri", sigma=0)
    with pytest.raises(ValueError, match="not both"):
        make_problem("retina", 16, operator="mri", sigma=25, op_params={"snr_db": 20})
    with pytest.raises(ValueError, match="only used by operator='mri'"):
        make_problem("astronaut", 16, op_params={"acceleration": 4})
    # without snr_db, sigma (/255) is the k-space noise level
    a = make_problem("retina", 16, operator="mri", sigma=5, op_params={"n_coils": 2})
    assert a.operator.noise_sigma == pytest.approx(5 / 255)


def test_learn_mask_to_image_records_magnitude_psnr():
    p = make_problem("shepp_logan", 16, operator="mri", sigma=0, op_params=MRI4)
    net = build_generator(TINY2, 0)
    z = make_input(TINY2, 16, 0)
    res = learn_mask(net, z, p.y, p.operator, cfg=MaskConfig(sparsity=0.5, steps=4, lr=0.1, record_every=1),
                     x_true=p.x, to_image=magnitude, progress=False)
    assert np.isfinite(res.history["psnr"]).all() and len(res.history) == 4


def test_mri_runs_execute_and_transfer(tmp_path):
    mspec = MaskSpec("oes", "shepp_logan", 16, TINY2, params=MaskConfig(sparsity=0.2, steps=5, lr=0.1,
                                                                         record_every=1).to_dict(),
                     sigma=0, operator="mri", op_params=MRI4)
    (mask,) = execute_masks([mspec], root=tmp_path, progress=False)
    assert mask.density == pytest.approx(0.2, abs=1e-3)
    rec = mask_record(mspec, root=tmp_path)
    assert np.isfinite(rec["history"]["psnr"]).all()
    fitcfg = FitConfig(steps=6, lr=1e-2, record_every=2)
    specs = [RunSpec("shepp_logan", 16, TINY2, fitcfg, method="dense", sigma=0, operator="mri", op_params=MRI4),
             RunSpec("shepp_logan", 16, TINY2, fitcfg, method="sparse", mask=mspec, sigma=0, operator="mri",
                     op_params=MRI4),
             # cross + higher undersampling: another subject at 8×, the same mask
             RunSpec("retina", 16, TINY2, fitcfg, method="sparse", mask=mspec, sigma=0, operator="mri",
                     op_params={**MRI4, "acceleration": 8})]
    recs = execute(specs, root=tmp_path, progress=False)
    for r in recs:
        assert math.isfinite(r.result["final_psnr"]) and math.isfinite(r.result["best_psnr"])
        assert r.output.shape == (1, 2, 16, 16)          # raw generator output: real, imaginary
        assert r.best_output.shape == (1, 1, 16, 16)     # the best image is stored as a magnitude
        assert r.history["psnr"].notna().all()
    assert recs[0].result["density"] == 1.0
    assert recs[1].result["density"] == pytest.approx(0.2, abs=1e-3)
    # the final PSNR is the magnitude's
    p = specs[2].problem()
    from oes.metrics import psnr
    assert recs[2].result["final_psnr"] == pytest.approx(psnr(magnitude(recs[2].output), p.x), abs=1e-6)
    # stored: a second execute runs nothing
    again = execute(specs, root=tmp_path, progress=False)
    assert [a.dir for a in again] == [r.dir for r in recs]
