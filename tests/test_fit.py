import pandas as pd
import pytest
import torch

from oes.fit import FitConfig, fit
from oes.generators import build_generator, make_input
from oes.masks import Mask
from oes.operators import Denoising, Inpainting


def _data():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    return x, Denoising(25).measure(x, torch.Generator().manual_seed(0))


def _random_mask(net, density=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Mask({n: torch.rand(p.shape, generator=g) < density for n, p in net.named_parameters()})


def test_history_columns_and_psnr_tracking(tiny):
    x, y = _data()
    net = build_generator(tiny, 0)
    r = fit(net, make_input(tiny, 16, 0), y, Denoising(25), cfg=FitConfig(steps=7, record_every=3), x_true=x,
            progress=False)
    assert isinstance(r.history, pd.DataFrame)
    assert list(r.history.columns) == ["step", "loss", "psnr"]
    assert r.history.step.tolist() == [0, 3, 6]                 # every 3 steps and the last
    assert r.steps == 7 and r.best_step in (0, 3, 6)
    assert r.final_psnr == r.history.psnr.iloc[-1]


def test_loss_decreases(tiny):
    x, y = _data()
    r = fit(build_generator(tiny, 0), make_input(tiny, 16, 0), y, cfg=FitConfig(steps=60, record_every=10),
            progress=False)
    assert r.history.loss.iloc[-1] < r.history.loss.iloc[0]


def test_masked_weights_stay_exactly_zero_every_step(tiny):
    x, y = _data()
    net = build_generator(tiny, 0)
    mask = _random_mask(net, 0.6)
    assert not mask.collapsed()
    params = dict(net.named_parameters())
    init = {n: p.detach().clone() for n, p in params.items()}

    class CheckAfter:
        """Runs at record time, i.e. before the next update: weights must be zero there."""
        seen = 0

        def on_record(self, state, row):
            for n, m in mask.items():
                assert torch.all(params[n][~m] == 0), n
            CheckAfter.seen += 1

    fit(net, make_input(tiny, 16, 0), y, cfg=FitConfig(steps=12, record_every=1), mask=mask,
            callbacks=[CheckAfter()], progress=False)
    assert CheckAfter.seen == 12
    changed = 0
    for n, m in mask.items():
        assert torch.all(params[n][~m] == 0)
        changed += int((params[n][m] != init[n][m]).sum())
    assert changed > 0.25 * mask.n_kept    # kept weights train (some have zero gradient: dead channels, biases before BN)


def test_same_seed_same_numbers(tiny):
    x, y = _data()
    runs = [fit(build_generator(tiny, 0), make_input(tiny, 16, 0), y, cfg=FitConfig(steps=10, record_every=1,
                reg_noise_std=0.05), x_true=x, seed=1, progress=False).history for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0], runs[1])


def test_resume_is_bitwise_identical(tiny, tmp_path):
    x, y = _data()
    z = make_input(tiny, 16, 0)
    net = build_generator(tiny, 0)
    mask = _random_mask(net, 0.5)
    cfg = FitConfig(steps=20, record_every=1, reg_noise_std=1 / 30)
    full = fit(build_generator(tiny, 0), z, y, cfg=cfg, mask=mask, x_true=x, seed=3, progress=False)
    ck = tmp_path / "ck.pt"
    half = fit(build_generator(tiny, 0), z, y, cfg=FitConfig(steps=10, record_every=1, reg_noise_std=1 / 30),
               mask=mask, x_true=x, seed=3, checkpoint=ck, progress=False)
    assert ck.exists() and half.steps == 10
    resumed = fit(build_generator(tiny, 0), z, y, cfg=cfg, mask=mask, x_true=x, seed=3, checkpoint=ck,
                  progress=False)
    pd.testing.assert_frame_equal(full.history, resumed.history, check_exact=True)
    assert torch.equal(full.x_hat, resumed.x_hat)
    assert resumed.best_psnr == full.best_psnr


def test_nan_loss_stops_with_step(tiny):
    x, y = _data()
    y = y.clone()
    y[0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="at step 0"):
        fit(build_generator(tiny, 0), make_input(tiny, 16, 0), y, cfg=FitConfig(steps=3), progress=False)


def test_callback_can_stop_and_inpainting_operator(tiny):
    x, _ = _data()
    op = Inpainting((16, 16), keep=0.5, seed=0)
    y = op.measure(x, torch.Generator().manual_seed(0))
    assert 0.35 < float(op.pixel_mask.mean()) < 0.65
    assert torch.all(y[:, :, op.pixel_mask[0, 0] == 0] == 0)

    class StopAt5:
        def on_step(self, state):
            state.stop = state.step >= 4

    r = fit(build_generator(tiny, 0), make_input(tiny, 16, 0), y, op, cfg=FitConfig(steps=50, record_every=1),
            callbacks=[StopAt5()], progress=False)
    assert r.steps == 5
