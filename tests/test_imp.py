"""IMP with rewinding: schedules, nesting, exact density, rewinding, the early-stop and oracle variants."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from oes.fit import FitConfig, fit
from conftest import tiny_problem
from oes.generators import GeneratorConfig
from oes.imp import imp_densities, iterative_magnitude_pruning, parse_schedule
from oes.learn import n_keep
from oes.masks import maskable_names

CFG = GeneratorConfig("hourglass", (4, 8), 3, 3, 8)
SIZE = 16


@pytest.fixture(scope="module")
def setup():
    return tiny_problem(SIZE, CFG)


def _imp(setup, **kw):
    net, z, y, op, x = setup
    args = dict(sparsity=0.05, rounds=3, keep_per_round=0.4, train_steps=4, lr=1e-2, x_true=x, record_every=1)
    args.update(kw)
    return iterative_magnitude_pruning(net, z, y, op, **args)


def test_schedules():
    assert parse_schedule("0.8^14") == (0.8, 14) and parse_schedule("(0.2)^3") == (0.2, 3)
    for bad in ("0.8", "1.2^3", "0.8^0", "x^2"):
        with pytest.raises(ValueError):
            parse_schedule(bad)
    d = imp_densities(14, 0.8, 0.05)
    assert len(d) == 14 and d[0] == 0.8 and d[-1] == 0.05
    assert d[12] == pytest.approx(0.8 ** 13)
    assert imp_densities(3, 0.2, 0.05) == [0.2, 0.05]          # 0.2² < 5 %: the no-op round is dropped
    assert imp_densities(3, 0.2, None) == pytest.approx([0.2, 0.04, 0.008])
    g = imp_densities(4, None, 0.05)
    assert g[-1] == 0.05 and g[0] == pytest.approx(0.05 ** 0.25)
    assert all(a > b for a, b in zip(d, d[1:]))


def test_nested_exact_density_and_rewound_to_init(setup):
    net, z, y, op, x = setup
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = _imp(setup)
    d = sum(p.numel() for p in net.parameters())
    assert res.densities == pytest.approx([0.4, 0.16, 0.05])
    for m, dens in zip(res.masks, res.densities):
        assert m.n_kept == n_keep(dens, d)
    for a, b in zip(res.masks, res.masks[1:]):  # nested: never revives a weight
        assert not (b.flat() & ~a.flat()).any()
    assert res.mask.n_kept == n_keep(0.05, d) and torch.equal(res.mask.flat(), res.masks[-1].flat())
    # survivors equal their rewound values (θ_in), pruned entries are zero
    p = dict(res.net.named_parameters())
    for n, m in res.mask.items():
        torch.testing.assert_close(p[n].detach(), before[n] * m)
    # θ_in untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # every round's history, with its density
    assert list(res.rounds["round"].unique()) == [1, 2, 3]
    assert res.rounds.groupby("round").size().tolist() == [4, 4, 4]
    assert res.rounds.groupby("round")["density"].first().tolist()[0] == 1.0
    assert len(res.summary) == 3 and {"final_psnr", "density_after", "best_psnr"} <= set(res.summary.columns)
    assert res.mask.meta["oracle"] is False and res.mask.meta["densities"] == res.densities


def test_prunes_smallest_trained_magnitudes(setup):
    """One round = dense fit for train_steps, then keep the largest |θ_trained| (not |θ_in|)."""
    net, z, y, op, x = setup
    res = _imp(setup, rounds=1, keep_per_round=None, sparsity=0.2)
    work = copy.deepcopy(net)
    fit(work, z, y, op, cfg=FitConfig(steps=4, lr=1e-2, record_every=1, keep_best=False), x_true=x, seed=0)
    p = dict(work.named_parameters())
    mags = torch.cat([p[n].detach().abs().flatten() for n in maskable_names(net)])
    keep = res.mask.flat()
    assert mags[keep].min() >= mags[~keep].max()
    init = torch.cat([q.detach().abs().flatten() for q in net.parameters()])
    assert not torch.equal(keep, torch.zeros_like(keep).index_fill_(0, torch.argsort(init, descending=True,
                                                                                      stable=True)[:keep.sum()], True))


def test_deterministic(setup):
    a, b = _imp(setup, rounds=2), _imp(setup, rounds=2)
    assert torch.equal(a.mask.flat(), b.mask.flat())
    assert a.rounds[["loss", "psnr"]].equals(b.rounds[["loss", "psnr"]])


def test_rewinding_to_step_k(setup):
    net, z, y, op, x = setup
    res = _imp(setup, rounds=2, keep_per_round=0.5, sparsity=0.25, rewind_step=2)
    ref = copy.deepcopy(net)
    fit(ref, z, y, op, cfg=FitConfig(steps=2, lr=1e-2, record_every=1, keep_best=False), x_true=x, seed=0)
    theta_k = dict(ref.named_parameters())
    p = dict(res.net.named_parameters())
    for n, m in res.mask.items():
        torch.testing.assert_close(p[n].detach(), theta_k[n].detach() * m)
    r2 = res.rounds[res.rounds["round"] == 2]
    assert r2["step"].tolist() == [2, 3]  # later rounds train the remaining steps, from step k
    assert res.mask.meta["rewind_step"] == 2


def test_early_stop_variant_is_oracle(setup):
    early = _imp(setup, rounds=2, stop_step=2)
    short = _imp(setup, rounds=2, train_steps=2)
    assert torch.equal(early.mask.flat(), short.mask.flat())
    assert early.summary["steps"].tolist() == [2, 2]
    assert early.mask.meta["oracle"] is True and "early-stopping" in early.mask.meta["oracle_reason"]
    assert short.mask.meta["oracle"] is False
    best = _imp(setup, rounds=2, stop_step="best")
    assert best.mask.meta["oracle"] is True
    assert (best.summary["magnitude_step"] == best.summary["best_step"]).all()
    with pytest.raises(ValueError, match="x_true"):
        _imp(setup, stop_step="best", x_true=None)
    with pytest.raises(ValueError, match="stop_step"):
        _imp(setup, stop_step=10)
    with pytest.raises(ValueError, match="rewind_step"):
        _imp(setup, rewind_step=4)


def test_mask_builder_and_oracle_target(tmp_path):
    from oes.experiments import MaskSpec, RunStore, get_mask

    spec = MaskSpec(method="imp", image="astronaut", size=SIZE, generator=CFG, target="clean",
                    params={"schedule": "0.5^2", "sparsity": 0.25, "train_steps": 3, "record_every": 1})
    m = get_mask(spec, tmp_path)
    assert m.meta["oracle"] is True and "clean" in m.meta["oracle_reason"]
    assert m.n_kept == n_keep(0.25, m.n_total) and m.meta["method"] == "imp"
    d = RunStore(tmp_path).entry_dir(spec)
    import pandas as pd
    rounds = pd.read_csv(d / "rounds.csv")
    assert set(rounds["round"]) == {1, 2} and "psnr" in rounds
    assert len(pd.read_csv(d / "history.csv")) == 2
    assert json.loads((d / "result.json").read_text())["n_kept"] == m.n_kept
    with pytest.raises(ValueError, match="unknown imp parameters"):
        get_mask(MaskSpec(method="imp", image="astronaut", size=SIZE, generator=CFG, params={"step": 3}), tmp_path)


def test_cli_imp(tmp_path):
    from oes.cli import main
    from oes.masks import Mask

    out = tmp_path / "imp.pt"
    assert main(["prune", "--method", "imp", "--preset", "smoke", "--steps", "2", "--imp-schedule", "0.5^2",
                 "--sparsity", "0.25", "--out", str(out)]) == 0
    m = Mask.load(out)
    assert m.meta["method"] == "imp" and m.meta["densities"] == [0.5, 0.25] and m.meta["train_steps"] == 2
    assert m.n_kept == n_keep(0.25, m.n_total)
    assert (tmp_path / "imp_rounds.csv").exists()
    assert main(["fit", "--mask", str(out), "--preset", "smoke", "--steps", "2", "--out-dir", str(tmp_path / "f")]) == 0
    assert main(["prune", "--method", "imp", "--preset", "smoke", "--stop-step", "soon", "--out", str(out)]) == 2
