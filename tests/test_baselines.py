"""GP-DIP / SGLD and ES-WMV callbacks for fit, and the Deep Decoder baseline through the runs store."""
from __future__ import annotations

import copy
import json

import pytest
import torch

import oes.baselines as bl
from oes.baselines import ESWMV, SGLD
from oes.fit import FitConfig, fit
from conftest import tiny_problem
from oes.generators import GeneratorConfig, build_generator
from oes.metrics import psnr
from oes.pruners import random_pruning
from oes.experiments import FIT_METHODS, RunSpec, make_problem, run_one

CFG = GeneratorConfig("hourglass", (4, 8), 3, 3, 8)
SIZE = 16


@pytest.fixture(scope="module")
def setup():
    return tiny_problem(SIZE, CFG)


def _fit(setup, callbacks=(), steps=6, lr=1e-2, reg=1 / 30, seed=0, **kw):
    net, z, y, op, x = setup
    cfg = FitConfig(steps=steps, lr=lr, record_every=1, reg_noise_std=reg, keep_best=False)
    return fit(copy.deepcopy(net), z, y, op, cfg=cfg, x_true=x, callbacks=callbacks, seed=seed, **kw)


# ------------------------------------------------------------------ SGLD
def test_sgld_adds_langevin_noise_of_the_given_std(setup):
    net = setup[0]
    res = _fit(setup, [SGLD(langevin_std=0.05, average=False)], steps=1, lr=0.0, reg=0.0)
    delta = torch.cat([(a.detach() - b.detach()).flatten()
                       for a, b in zip(res.net.parameters(), net.parameters())])
    assert delta.abs().min() > 0            # every parameter moved (lr = 0: only the noise)
    assert delta.std().item() == pytest.approx(0.05, rel=0.08)
    assert delta.mean().abs().item() < 0.01


def test_sgld_changes_training_and_zero_noise_is_plain_fit(setup):
    plain = _fit(setup)
    zero = _fit(setup, [SGLD(langevin_std=0.0, average=False)])
    noisy = _fit(setup, [SGLD(langevin_std=1e-2, average=False)])
    assert plain.history["loss"].equals(zero.history["loss"])
    assert not plain.history["loss"].equals(noisy.history["loss"])
    assert not torch.equal(plain.x_hat, noisy.x_hat)


def test_sgld_deterministic_given_seed(setup):
    a = _fit(setup, [SGLD(1e-2, burn_in=0.5)], seed=3)
    b = _fit(setup, [SGLD(1e-2, burn_in=0.5)], seed=3)
    c = _fit(setup, [SGLD(1e-2, burn_in=0.5)], seed=4)
    assert a.history.equals(b.history) and torch.equal(a.x_hat, b.x_hat)
    assert not a.history["loss"].equals(c.history["loss"])


def test_sgld_posterior_average_after_burn_in(setup):
    x = setup[4]
    cb = SGLD(1e-2, burn_in=0.5, x_true=x)
    res = _fit(setup, [cb], steps=8)
    h = res.history
    assert h.loc[h["step"] < 4, "psnr_avg"].isna().all()
    assert h.loc[h["step"] >= 4, "psnr_avg"].notna().all()
    assert cb.count == 4
    # at the first averaged step the mean is that step's output itself
    first = h[h["step"] == 4].iloc[0]
    assert first["psnr_avg"] == pytest.approx(first["psnr"])
    assert res.extra["psnr_avg"] == pytest.approx(h["psnr_avg"].iloc[-1])
    assert psnr(cb.mean, x) == pytest.approx(res.extra["psnr_avg"], abs=1e-4)


def test_sgld_keeps_pruned_weights_zero(setup):
    net, z, y, op, x = setup
    mask = random_pruning(net, sparsity=0.3)
    res = fit(copy.deepcopy(net), z, y, op, cfg=FitConfig(steps=3, record_every=1), mask=mask,
              callbacks=[SGLD(0.1)], seed=0)
    p = dict(res.net.named_parameters())
    assert all(bool((p[n].detach()[~m] == 0).all()) for n, m in mask.items())


def test_sgld_resumes_exactly_from_checkpoint(setup, tmp_path):
    net, z, y, op, x = setup
    full = _fit(setup, [SGLD(1e-2, burn_in=0.0, x_true=x)], steps=6)
    ck = tmp_path / "ck.pt"
    work = copy.deepcopy(net)
    cfg = FitConfig(steps=6, lr=1e-2, record_every=1, reg_noise_std=1 / 30, keep_best=False, checkpoint_every=3)

    class Boom:
        def on_step(self, state):
            if state.step == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(work, z, y, op, cfg=cfg, x_true=x, callbacks=[SGLD(1e-2, burn_in=0.0, x_true=x), Boom()], checkpoint=ck)
    resumed = fit(copy.deepcopy(net), z, y, op, cfg=cfg, x_true=x, callbacks=[SGLD(1e-2, burn_in=0.0, x_true=x)],
                  checkpoint=ck)
    assert torch.equal(full.x_hat, resumed.x_hat)
    assert full.history["psnr_avg"].tolist() == pytest.approx(resumed.history["psnr_avg"].tolist())


def test_sgld_fit_method_reuses_fit(setup, monkeypatch, tmp_path):
    calls = []
    real = bl.fit

    def spy(*a, **kw):
        calls.append(kw)
        return real(*a, **kw)

    monkeypatch.setattr(bl, "fit", spy)
    assert FIT_METHODS["sgld"] is bl.sgld_fit
    spec = RunSpec(image="astronaut", size=SIZE, generator=CFG, fit=FitConfig(steps=4, record_every=1),
                   method="sgld", params={"langevin_std": 1e-2, "burn_in": 0.5})
    rec = run_one(spec, tmp_path, progress=False)
    assert len(calls) == 1
    assert calls[0]["cfg"].reg_noise_std == pytest.approx(1 / 30)
    assert any(isinstance(c, SGLD) for c in calls[0]["callbacks"])
    assert "psnr_avg" in rec.result and "psnr_avg" in rec.history
    with pytest.raises(ValueError, match="unknown sgld parameters"):
        run_one(RunSpec(image="astronaut", size=SIZE, generator=CFG, fit=FitConfig(steps=2), method="sgld",
                        params={"noise": 1}), tmp_path)


# ------------------------------------------------------------------ ES-WMV
def test_eswmv_detects_the_variance_minimum_on_a_synthetic_sequence():
    """Outputs whose jitter shrinks until t = 60 and grows after: the variance of the last W
    outputs is smallest for a window around t = 60.  Detection sees only the outputs."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 8, 8, generator=g)
    cb = ESWMV(window=10, patience=20)

    def amp(t):
        return 0.001 + abs(t - 60) / 60

    detected_at = None
    for t in range(200):
        x = base + amp(t) * 0.1 * torch.randn(base.shape, generator=g)
        if cb.update(x, t):
            detected_at = t
            break
    assert cb.detected_step >= 0
    assert 55 <= cb.detected_step <= 75          # window [t-9, t] centred near the quietest step 60
    assert detected_at == cb.detected_step + 20  # stop when P steps brought no improvement
    assert cb.best_output is not None and cb.best_psnr != cb.best_psnr  # no x_true: PSNR not reported (nan)


def test_eswmv_in_fit_reports_step_and_psnr(setup):
    """lr = 0, no input noise: constant outputs, zero variance from the first full window (step W−1)
    that never improves, so the stop is detected at W−1 and training stops P steps later."""
    x = setup[4]
    cb = ESWMV(window=5, patience=7, x_true=x)
    res = _fit(setup, [cb], steps=50, lr=0.0, reg=0.0)
    assert res.extra["detected_step"] == 4
    assert res.steps == 4 + 7 + 1
    h = res.history.set_index("step")
    assert res.extra["detected_psnr"] == pytest.approx(h.loc[4, "psnr"])
    assert "wmv_var" in res.history and res.history["wmv_var"].iloc[:4].isna().all()
    assert res.summary()["detected_step"] == 4


def test_eswmv_without_stop_keeps_training_and_no_detection_is_reported(setup):
    cb = ESWMV(window=3, patience=100, stop=False, x_true=setup[4])
    res = _fit(setup, [cb], steps=8)
    assert res.steps == 8 and res.extra["detected_step"] == -1
    assert res.extra["detected_psnr"] != res.extra["detected_psnr"]  # nan
    assert res.extra["wmv_min_step"] >= 2
    with pytest.raises(ValueError):
        ESWMV(window=1)


def test_es_wmv_fit_method(tmp_path):
    spec = RunSpec(image="astronaut", size=SIZE, generator=CFG, fit=FitConfig(steps=30, lr=0.0, record_every=1),
                   method="es_wmv", params={"window": 4, "patience": 5})
    rec = run_one(spec, tmp_path, progress=False)
    assert rec.result["detected_step"] == 3 and rec.result["steps"] == 9


# ------------------------------------------------------------------ Deep Decoder
def test_deep_decoder_run(tmp_path):
    dd = GeneratorConfig("deep_decoder", (8, 8, 8))
    spec = RunSpec(image="astronaut", size=SIZE, generator=dd, fit=FitConfig(steps=5, record_every=1),
                   method="decoder")
    rec = run_one(spec, tmp_path, progress=False)
    res = json.loads((rec.dir / "result.json").read_text())
    assert res["n_params"] == sum(p.numel() for p in build_generator(dd).parameters())
    assert res["steps"] == 5 and len(rec.history) == 5 and rec.output.shape == (1, 3, SIZE, SIZE)
    assert rec.history["loss"].iloc[-1] < rec.history["loss"].iloc[0]
    assert make_problem("astronaut", SIZE).x.shape == rec.output.shape
