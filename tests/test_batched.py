"""Batched training (oes.batched) against the same runs alone (oes.fit.fit, oes.learn.learn_mask).

Issue 11's criterion: every member's loss at every recorded step within 1e-5 relative of its solo
run and the same kept set; the module claims more on the CPU — bitwise equality — which the
``*_bitwise`` assertions check.
"""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from oes.batched import BatchError, StackedGenerator, fit_batch, learn_mask_batch
from oes.fit import FitConfig, fit
from oes.generators import GeneratorConfig, build_generator, make_input
from oes.learn import MaskConfig, learn_mask
from oes.masks import Mask
from oes.mri import magnitude, make_acquisition
from oes.operators import Denoising, Inpainting

from conftest import TINY, TINY_DD

S = 16


def _problem(i, size=S):
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(10 + i))
    op = Denoising(25) if i % 2 == 0 else Inpainting((size, size), keep=0.5, seed=i)
    return x, op, op.measure(x, torch.Generator().manual_seed(20 + i))


def _mask(cfg, i, density=0.5):
    net = build_generator(cfg, i)
    g = torch.Generator().manual_seed(30 + i)
    return Mask({n: torch.rand(p.shape, generator=g) < density for n, p in net.named_parameters()})


def _members(n, cfg=TINY):
    probs = [_problem(i) for i in range(n)]
    return dict(zs=[make_input(cfg, S, i) for i in range(n)], ys=[p[2] for p in probs],
                operators=[p[1] for p in probs], x_trues=[p[0] for p in probs], seeds=[i + 3 for i in range(n)])


def _assert_close_history(solo: pd.DataFrame, batched: pd.DataFrame, cols=("loss",)):
    assert list(solo.columns) == list(batched.columns)
    assert solo["step"].tolist() == batched["step"].tolist()
    for c in cols:
        np.testing.assert_allclose(batched[c].to_numpy(), solo[c].to_numpy(), rtol=1e-5, atol=0)


def _same_state(a, b):
    return all(torch.equal(u, w) for u, w in zip(a.state_dict().values(), b.state_dict().values()))


FIT_CFGS = [FitConfig(steps=24, record_every=3, lr=2e-2),
            FitConfig(steps=24, record_every=4, reg_noise_std=0.03),
            FitConfig(steps=9, record_every=3, reg_noise_std=0.05),      # leaves the batch early
            FitConfig(steps=24, record_every=5, keep_best=False)]


@pytest.fixture(scope="module")
def fit_pair():
    """Four members (seeds, images, operators, masks — one dense —, step counts, lrs differ), alone and batched."""
    n = len(FIT_CFGS)
    m = _members(n)
    masks = [_mask(TINY, i) if i != 1 else None for i in range(n)]
    solo = [fit(build_generator(TINY, i), m["zs"][i], m["ys"][i], m["operators"][i], cfg=FIT_CFGS[i], mask=masks[i],
                x_true=m["x_trues"][i], seed=m["seeds"][i], progress=False) for i in range(n)]
    nets = [build_generator(TINY, i) for i in range(n)]
    batched = fit_batch(nets, m["zs"], m["ys"], m["operators"], cfgs=FIT_CFGS, masks=masks, x_trues=m["x_trues"],
                        seeds=m["seeds"], progress=False)
    return solo, batched, masks, nets


def test_fit_batch_matches_solo_within_tolerance(fit_pair):
    solo, batched, masks, nets = fit_pair
    assert [r.steps for r in batched] == [24, 24, 9, 24]
    for a, b in zip(solo, batched):
        _assert_close_history(a.history, b.history, ("loss", "psnr"))
        assert math.isclose(a.best_psnr, b.best_psnr, rel_tol=1e-5) and a.best_step == b.best_step
        torch.testing.assert_close(b.x_hat, a.x_hat, rtol=1e-5, atol=1e-6)
    for mask, net, r in zip(masks, nets, batched):
        assert r.net is net
        if mask is not None:                                   # pruned weights exactly zero at the end
            params = dict(net.named_parameters())
            assert all(torch.all(params[k][~mk] == 0) for k, mk in mask.items())
    assert batched[3].best_x_hat is None and batched[0].best_x_hat is not None


def test_fit_batch_is_bitwise_solo_on_cpu(fit_pair):
    """Stronger than the issue's tolerance: on the CPU a member's numbers are its solo numbers bit for bit
    (histories, outputs, weights, BatchNorm running statistics and counters)."""
    solo, batched, _, _ = fit_pair
    for a, b in zip(solo, batched):
        pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
        assert torch.equal(a.x_hat, b.x_hat) and a.best_psnr == b.best_psnr
        assert _same_state(a.net, b.net)


def test_checkpoints_resume_across_batched_and_solo(tmp_path):
    """A batch interrupted at step 10 finishes alone with fit, a solo run interrupted finishes in a batch
    (beside a fresh member: two Adam step counts in one batch), and both equal the uninterrupted runs."""
    m = _members(2)
    mask = _mask(TINY, 0)
    # record every step: a run stopped at step 10 records its last step 9, which the full run only
    # records if 9 is on its grid (as with fit alone)
    full = FitConfig(steps=20, record_every=1, reg_noise_std=0.03, checkpoint_every=5)
    half = FitConfig(steps=10, record_every=1, reg_noise_std=0.03, checkpoint_every=5)
    ref = [fit(build_generator(TINY, i), m["zs"][i], m["ys"][i], m["operators"][i], cfg=full, mask=mask,
               x_true=m["x_trues"][i], seed=m["seeds"][i], progress=False) for i in range(2)]
    cks = [tmp_path / "a.pt", tmp_path / "b.pt"]
    # batched, interrupted at 10 → each member resumed alone
    fit_batch([build_generator(TINY, i) for i in range(2)], m["zs"], m["ys"], m["operators"], cfgs=half,
              masks=[mask, mask], x_trues=m["x_trues"], seeds=m["seeds"], checkpoints=cks, progress=False)
    assert torch.load(cks[0], weights_only=False)["step"] == 10
    for i in range(2):
        r = fit(build_generator(TINY, i), m["zs"][i], m["ys"][i], m["operators"][i], cfg=full, mask=mask,
                x_true=m["x_trues"][i], seed=m["seeds"][i], checkpoint=cks[i], progress=False)
        pd.testing.assert_frame_equal(r.history, ref[i].history, check_exact=True)
        assert torch.equal(r.x_hat, ref[i].x_hat) and _same_state(r.net, ref[i].net)
    # member 0 interrupted alone at 10, then batched with a fresh member 1
    for c in cks:
        c.unlink()
    fit(build_generator(TINY, 0), m["zs"][0], m["ys"][0], m["operators"][0], cfg=half, mask=mask,
        x_true=m["x_trues"][0], seed=m["seeds"][0], checkpoint=cks[0], progress=False)
    out = fit_batch([build_generator(TINY, i) for i in range(2)], m["zs"], m["ys"], m["operators"], cfgs=full,
                    masks=[mask, mask], x_trues=m["x_trues"], seeds=m["seeds"], checkpoints=cks, progress=False)
    for r, want in zip(out, ref):
        pd.testing.assert_frame_equal(r.history, want.history, check_exact=True)
        assert torch.equal(r.x_hat, want.x_hat) and _same_state(r.net, want.net) and r.steps == 20
    # the batch wrote fit's file format: the solo run resumed at its end returns the same result
    again = fit(build_generator(TINY, 1), m["zs"][1], m["ys"][1], m["operators"][1], cfg=full, mask=mask,
                x_true=m["x_trues"][1], seed=m["seeds"][1], checkpoint=cks[1], progress=False)
    assert again.steps == 20 and again.history.equals(ref[1].history)


def test_periodic_checkpoints_per_member(tmp_path, monkeypatch):
    import oes.batched as b

    saved = []
    real = b.atomic_torch_save
    monkeypatch.setattr(b, "atomic_torch_save", lambda obj, path: (saved.append((path.name, obj["step"])),
                                                                   real(obj, path)))
    m = _members(2)
    cfgs = [FitConfig(steps=8, checkpoint_every=3), FitConfig(steps=5, checkpoint_every=2)]
    fit_batch([build_generator(TINY, i) for i in range(2)], m["zs"], m["ys"], cfgs=cfgs, seeds=[0, 1],
              checkpoints=[tmp_path / "a.pt", tmp_path / "b.pt"], progress=False)
    assert sorted(saved) == sorted([("a.pt", 3), ("a.pt", 6), ("a.pt", 8), ("b.pt", 2), ("b.pt", 4), ("b.pt", 5)])


MASK_CFG = MaskConfig(sparsity=0.2, steps=60, lr=2.0, lam=1e-7, samples=2, record_every=7, check_every=10,
                      stop_stable=0.9, stop_patience=2)


def test_learn_mask_batch_matches_solo_and_stops_members_early():
    m = _members(3)
    seen = {"solo": [[] for _ in range(3)], "batched": [[] for _ in range(3)]}

    def on_check(kind, i):
        return lambda step, v: seen[kind][i].append((step, v.clone()))

    solo_nets = [build_generator(TINY, i) for i in range(3)]
    solo = [learn_mask(solo_nets[i], m["zs"][i], m["ys"][i], m["operators"][i], cfg=MASK_CFG,
                       seed=m["seeds"][i], x_true=m["x_trues"][i], progress=False, on_check=on_check("solo", i))
            for i in range(3)]
    nets = [build_generator(TINY, i) for i in range(3)]
    before = [{k: v.clone() for k, v in net.named_parameters()} for net in nets]
    batched = learn_mask_batch(nets, m["zs"], m["ys"], m["operators"], cfg=MASK_CFG, seeds=m["seeds"],
                               x_trues=m["x_trues"], on_checks=[on_check("batched", i) for i in range(3)],
                               progress=False)
    steps = [r.steps for r in solo]
    assert min(steps) < 60 and max(steps) == 60, steps     # the stopping rule fires for some members only
    for a, b in zip(solo, batched):
        assert b.steps == a.steps and b.converged == a.converged
        _assert_close_history(a.history, b.history, ("loss", "reg", "mean_p", "psnr"))
        assert torch.equal(a.mask.flat(), b.mask.flat())                  # the same kept set
        assert a.mask.meta == b.mask.meta                                 # steps_run, converged, kept_stable, ...
        pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)   # bitwise on the CPU
        assert torch.equal(a.logits, b.logits)
    for a, b in zip(seen["solo"], seen["batched"]):                     # on_check: same steps, same logits
        assert [s for s, _ in a] == [s for s, _ in b] and all(torch.equal(u, w) for (_, u), (_, w) in zip(a, b))
    for net, b0, ref in zip(nets, before, solo_nets):                     # θ_in untouched, grads restored,
        assert all(torch.equal(p, b0[k]) and p.requires_grad for k, p in net.named_parameters())
        assert _same_state(net, ref)                                      # BN running statistics as solo


def test_learn_mask_batch_other_regulariser_and_weights_only():
    m = _members(2)
    cfg = MaskConfig(sparsity=0.3, steps=6, lr=0.5, reg="l1", lam=1e-4, maskable="weights", record_every=2,
                     check_every=3, sampler_seed=7)
    solo = [learn_mask(build_generator(TINY, i), m["zs"][i], m["ys"][i], cfg=cfg, seed=i, progress=False)
            for i in range(2)]
    batched = learn_mask_batch([build_generator(TINY, i) for i in range(2)], m["zs"], m["ys"], cfg=cfg,
                               seeds=[0, 1], progress=False)
    for a, b in zip(solo, batched):
        pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
        assert list(b.mask) == list(a.mask) and torch.equal(a.mask.flat(), b.mask.flat())


def test_deep_decoder_and_mri_batch():
    # deep decoder: every convolution 1×1 (run member by member), bilinear up-sampling
    m = _members(2, TINY_DD)
    cfg = FitConfig(steps=6, record_every=1)
    solo = [fit(build_generator(TINY_DD, i), m["zs"][i], m["ys"][i], cfg=cfg, seed=i, progress=False) for i in range(2)]
    batched = fit_batch([build_generator(TINY_DD, i) for i in range(2)], m["zs"], m["ys"], cfgs=cfg, seeds=[0, 1],
                        progress=False)
    for a, b in zip(solo, batched):
        pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
    # multi-coil MRI: each member's operator on its own output; PSNR on the magnitude
    gcfg = GeneratorConfig("hourglass", (4, 8), 3, 3, 8, out_channels=2)
    probs = []
    for i in range(2):
        img = torch.rand(S, S, generator=torch.Generator().manual_seed(i))
        probs.append(make_acquisition(img, n_coils=2, acceleration=2, seed=i, snr_db=30.0))
    zs = [make_input(gcfg, S, i) for i in range(2)]
    cfg = FitConfig(steps=5, record_every=1)
    solo = [fit(build_generator(gcfg, i), zs[i], probs[i][1], probs[i][0], cfg=cfg, x_true=magnitude(probs[i][2]),
                to_image=magnitude, seed=i, progress=False) for i in range(2)]
    batched = fit_batch([build_generator(gcfg, i) for i in range(2)], zs, [p[1] for p in probs], [p[0] for p in probs],
                        cfgs=cfg, x_trues=[magnitude(p[2]) for p in probs], to_images=[magnitude] * 2, seeds=[0, 1],
                        progress=False)
    for a, b in zip(solo, batched):
        _assert_close_history(a.history, b.history, ("loss", "psnr"))
    mcfg = MaskConfig(sparsity=0.2, steps=4, lr=0.5, record_every=1, check_every=2)
    solo = [learn_mask(build_generator(gcfg, i), zs[i], probs[i][1], probs[i][0], cfg=mcfg, seed=i,
                       x_true=magnitude(probs[i][2]), to_image=magnitude, progress=False) for i in range(2)]
    batched = learn_mask_batch([build_generator(gcfg, i) for i in range(2)], zs, [p[1] for p in probs],
                               [p[0] for p in probs], cfg=mcfg, seeds=[0, 1], x_trues=[magnitude(p[2]) for p in probs],
                               to_images=[magnitude] * 2, progress=False)
    for a, b in zip(solo, batched):
        _assert_close_history(a.history, b.history, ("loss", "psnr"))
        assert torch.equal(a.mask.flat(), b.mask.flat())


def test_stacked_generator_member_outputs_are_solo_outputs():
    nets = [build_generator(TINY, i) for i in range(3)]
    zs = [make_input(TINY, S, i) for i in range(3)]
    g = StackedGenerator(nets[0])
    params = {k: torch.stack([dict(n.named_parameters())[k].detach() for n in nets]) for k, _ in nets[0].named_parameters()}
    bufs = {k: torch.stack([dict(n.named_buffers())[k] for n in nets]) for k, _ in nets[0].named_buffers()
            if "running" in k}
    g.bind(params, bufs)
    out = g(torch.cat(zs, dim=1))
    assert out.shape == (1, 3, 3, S, S)
    for i, net in enumerate(nets):
        assert torch.equal(out[:, i], net.train()(zs[i]))
        assert torch.equal(bufs["encoder.0.2.running_mean"][i], net.encoder[0][2].running_mean)


def test_batch_rejects_what_cannot_batch():
    m = _members(2)
    nets = [build_generator(TINY, 0), build_generator(GeneratorConfig("hourglass", (4, 4), 3, 3, 8), 1)]
    with pytest.raises(BatchError, match="another architecture"):
        fit_batch(nets, m["zs"], m["ys"], seeds=[0, 1])
    with pytest.raises(BatchError, match="one image size"):
        fit_batch([build_generator(TINY, i) for i in range(2)], [m["zs"][0], make_input(TINY, 32, 1)], m["ys"],
                  seeds=[0, 1])
    with pytest.raises(BatchError, match="callbacks"):
        fit_batch([build_generator(TINY, i) for i in range(2)], m["zs"], m["ys"], seeds=[0, 1], callbacks=[object()])
    with pytest.raises(BatchError, match="2 networks"):
        fit_batch([build_generator(TINY, i) for i in range(2)], m["zs"], m["ys"], seeds=[0])
    with pytest.raises(BatchError, match="checkpoint path"):
        fit_batch([build_generator(TINY, i) for i in range(2)], m["zs"], m["ys"], seeds=[0, 1],
                  checkpoints=["x.pt", "x.pt"])
    with pytest.raises(BatchError, match="not Sequential"):
        StackedGenerator(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1)))
    net = build_generator(TINY, 0)
    net.head = torch.nn.Sequential(net.head, torch.nn.Linear(S, S))
    with pytest.raises(BatchError, match=r"layer 'head.1' \(Linear\) may mix channels"):
        StackedGenerator(net)


def test_nan_names_member_and_step():
    m = _members(2)
    ys = [m["ys"][0], m["ys"][1].clone()]
    ys[1][0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match=r"batch member 1 \(seed 4\): loss became nan at step 0"):
        fit_batch([build_generator(TINY, i) for i in range(2)], m["zs"], ys, cfgs=FitConfig(steps=3),
                  seeds=m["seeds"][:2], progress=False)
    with pytest.raises(FloatingPointError, match=r"batch member 1 \(seed 4\): mask-learning loss became nan at step 0"):
        learn_mask_batch([build_generator(TINY, i) for i in range(2)], m["zs"], ys, cfg=MaskConfig(steps=2),
                         seeds=m["seeds"][:2], progress=False)


def test_lambda_rule_per_member_matches_solo():
    """With ``lam_ratio`` each member gets the λ of its own problem (the λ rule), batched as alone."""
    m = _members(3)
    cfg = MaskConfig(sparsity=0.2, steps=12, lr=0.2, lam_ratio=4e-4, ratio_samples=4, record_every=3, check_every=4,
                     lam_adapt=0.5)
    solo = [learn_mask(build_generator(TINY, i), m["zs"][i], m["ys"][i], m["operators"][i], cfg=cfg,
                       seed=m["seeds"][i], progress=False) for i in range(3)]
    batched = learn_mask_batch([build_generator(TINY, i) for i in range(3)], m["zs"], m["ys"], m["operators"],
                               cfg=cfg, seeds=m["seeds"], progress=False)
    lams = [r.mask.meta["lam_used"] for r in solo]
    assert len(set(lams)) == 3 and all(r.mask.meta["lam_ratio"] == 4e-4 for r in solo)
    for a, b in zip(solo, batched):
        assert a.mask.meta == b.mask.meta and torch.equal(a.logits, b.logits)
        lam = a.history.dropna(subset=["lam"])["lam"].tolist()        # adapted at every check: λ moves
        assert lam[0] == a.mask.meta["lam_used"] and a.mask.meta["lam_final"] != lam[0]


def test_lambda_search_batched_matches_solo():
    """With ``lam_search`` every round of tries is one batch, and each member makes the solo search's moves."""
    m = _members(3)
    cfg = MaskConfig(sparsity=0.2, steps=120, lr=0.3, lam_ratio=1e-4, ratio_samples=4, record_every=10,
                     check_every=10, stop_stable=0.9, stop_patience=2, lam_search=2)
    solo_nets = [build_generator(TINY, i) for i in range(3)]
    solo = [learn_mask(solo_nets[i], m["zs"][i], m["ys"][i], m["operators"][i], cfg=cfg, seed=m["seeds"][i],
                       progress=False) for i in range(3)]
    nets = [build_generator(TINY, i) for i in range(3)]
    batched = learn_mask_batch(nets, m["zs"], m["ys"], m["operators"], cfg=cfg, seeds=m["seeds"], progress=False)
    assert max(len(r.mask.meta["lam_search"]) for r in solo) > 1          # some member searched
    for a, b, na, nb in zip(solo, batched, solo_nets, nets):
        ta, tb = a.mask.meta.pop("lam_search"), b.mask.meta.pop("lam_search")
        assert [{k: v for k, v in t.items() if k != "seconds"} for t in ta] == \
               [{k: v for k, v in t.items() if k != "seconds"} for t in tb]
        assert a.mask.meta == b.mask.meta and torch.equal(a.logits, b.logits)
        pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
        assert _same_state(na, nb)                                          # buffers as the solo search left them


def test_waste_criterion_batched_matches_solo():
    """``max_waste`` in the batched stopping rule makes the solo rule's decisions (same steps, masks, meta)."""
    m = _members(3)
    cfg = MaskConfig(**{**MASK_CFG.to_dict(), "max_waste": 0.68})
    solo = [learn_mask(build_generator(TINY, i), m["zs"][i], m["ys"][i], m["operators"][i], cfg=cfg,
                       seed=m["seeds"][i], progress=False) for i in range(3)]
    batched = learn_mask_batch([build_generator(TINY, i) for i in range(3)], m["zs"], m["ys"], m["operators"],
                               cfg=cfg, seeds=m["seeds"], progress=False)
    for a, b in zip(solo, batched):
        assert b.steps == a.steps and a.mask.meta == b.mask.meta and torch.equal(a.logits, b.logits)
        pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
        assert "waste" in a.history and a.mask.meta["waste"] >= 0
