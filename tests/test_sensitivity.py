import math

import numpy as np
import pytest
import torch

from oes.generators import build_generator, make_input
from oes.learn import kl_bernoulli, masked_output
from oes.masks import Mask
from oes.experiments import MaskSpec
from oes.sensitivity import (PAPER_LAMBDA, PAPER_N_PARAMS, conv_layer_density, lambda_by_size, lambda_grid,
                             masked_image, p_bimodality)


def test_lambda_grid_is_clean_and_keeps_the_centre():
    assert lambda_grid(1e-9, [6, 3, 0, -4]) == [1e-3, 1e-6, 1e-9, 1e-13]      # the paper's Fig 18 values
    for c in (3e-7, 1.1e-8, 2.5e-6):
        assert lambda_grid(c, [0])[0] == c                                      # shares the preset's mask spec
    g = lambda_grid(2e-7, [1, 0, -1])
    assert g == sorted(g, reverse=True) and math.isclose(g[0] / g[1], 10) and math.isclose(g[1] / g[2], 10)
    with pytest.raises(ValueError):
        lambda_grid(0.0, [0])


def test_lambda_by_size_keeps_the_penalty_share():
    assert lambda_by_size(PAPER_N_PARAMS) == PAPER_LAMBDA
    d = 272_115
    lam = lambda_by_size(d)
    assert lam > PAPER_LAMBDA
    # λ·d·KL(Ber(1/2) ‖ Ber(p0)) — the penalty at initialisation — is the same for both sizes
    kl0 = float(kl_bernoulli(torch.zeros(1), 0.05))
    assert math.isclose(lam * d * kl0, PAPER_LAMBDA * PAPER_N_PARAMS * kl0, rel_tol=1e-5)
    with pytest.raises(ValueError):
        lambda_by_size(0)


def _mix(rng, n, parts):
    """Sample n values from a mixture: parts = [(weight, low, high)] uniform components."""
    out = []
    for w, lo, hi in parts:
        k = int(round(w * n))
        out.append(lo + (hi - lo) * torch.rand(k, generator=rng, dtype=torch.float64))
    return torch.cat(out)


def test_bimodality_recognises_the_three_regimes_of_fig18(rng):
    p0 = 0.05
    good = _mix(rng, 100_000, [(0.95, 0.02, 0.09), (0.01, 0.3, 0.6), (0.04, 0.97, 1.0)])
    r = p_bimodality(good, p0)
    assert r["bimodal"] and r["near_p0"] > 0.9 and 0.03 < r["high"] < 0.05 and r["valley"] < 0.5
    at_prior = _mix(rng, 100_000, [(1.0, 0.049, 0.051)])                        # λ too large: p = p0
    r = p_bimodality(at_prior, p0)
    assert not r["bimodal"] and r["high"] == 0 and math.isnan(r["valley"])
    spread = _mix(rng, 100_000, [(1.0, 0.0, 1.0)])                              # λ too small: uniform
    r = p_bimodality(spread, p0)
    assert not r["bimodal"] and r["near_p0"] < 0.5
    around_half = _mix(rng, 100_000, [(0.9, 0.4, 0.6), (0.1, 0.95, 1.0)])
    assert not p_bimodality(around_half, p0)["bimodal"]
    no_valley = _mix(rng, 100_000, [(0.6, 0.0, 0.15), (0.4, 0.15, 1.0)])        # a tail, not a second mode
    r = p_bimodality(no_valley, p0)
    assert r["near_p0"] >= 0.5 and r["high"] > 1e-3 and not r["bimodal"]
    few_at_one = _mix(rng, 100_000, [(0.99995, 0.02, 0.09), (0.00005, 0.97, 1.0)])   # 5 weights: not a mode
    assert not p_bimodality(few_at_one, p0)["bimodal"]


def test_bimodality_accepts_numpy_and_rejects_empty():
    r = p_bimodality(np.full(10, 0.05), 0.05)
    assert r["near_p0"] == 1.0 and r["mean_p"] == pytest.approx(0.05)
    with pytest.raises(ValueError):
        p_bimodality(torch.zeros(0), 0.05)


def test_conv_layer_density_lists_conv_weights_in_order(tiny):
    net = build_generator(tiny, 0)
    ones = Mask.ones(net)
    conv = [n for n, p in net.named_parameters() if p.dim() == 4]
    head = dict(ones)
    head["head.weight"] = torch.zeros_like(ones["head.weight"])
    d = conv_layer_density(Mask(head))
    assert list(d.index) == conv
    assert d["head.weight"] == 0 and (d.drop("head.weight") == 1).all()


def test_masked_image_uses_the_specs_initial_weights(tiny):
    spec = MaskSpec("oes", "astronaut", 16, tiny, seed=3)
    net = build_generator(tiny, 3)
    mask = Mask({n: torch.rand(p.shape, generator=torch.Generator().manual_seed(1)) < 0.5
                 for n, p in net.named_parameters()})
    expected = masked_output(net, make_input(tiny, 16, 3), mask)
    assert torch.allclose(masked_image(spec, mask), expected)
    other = masked_output(build_generator(tiny, 4), make_input(tiny, 16, 4), mask)
    assert not torch.allclose(masked_image(spec, mask), other)


def test_mask_summary_of_a_stored_oes_mask(tiny, tmp_path):
    from oes.learn import MaskConfig
    from oes.experiments import get_mask
    from oes.analysis import dead_paths
    from oes.sensitivity import mask_summary

    spec = MaskSpec("oes", "astronaut", 16, tiny, params=MaskConfig(sparsity=0.05, steps=3, lr=0.1).to_dict())
    row = mask_summary(spec, tmp_path)
    mask = get_mask(spec, tmp_path)
    assert row["kept"] == mask.n_kept and row["total"] == mask.n_total
    assert row["collapsed"] == len(mask.collapsed())
    assert math.isfinite(row["masked PSNR"]) and 0 <= row["near_p0"] <= 1 and isinstance(row["bimodal"], bool)
    # convergence fields are the mask's own record (3 steps: the stopping rule never ran), waste is dead_paths'
    assert row["converged"] is False and row["steps_run"] == 3
    assert row["above_half"] == mask.meta["above_half"]
    assert row["waste"] == dead_paths(mask, tiny)["waste"] and 0 <= row["waste"] <= 1
    rand = MaskSpec("random", "astronaut", 16, tiny, params={"sparsity": 0.5})
    row = mask_summary(rand, tmp_path)
    assert "bimodal" not in row and "converged" not in row and row["kept"] > 0 and 0 <= row["waste"] <= 1
