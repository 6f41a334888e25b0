"""Chapter helpers of Findings 3/4: table layouts, transfer kinds, collapse table, shared IMP specs."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
import torch

from oes.compare import (collapse_table, group_of, imp_label, imp_mask_spec, kind_means, mean_std, overfit,
                         plot_imp_rounds, self_label, table4, transfer_kind)
from oes.masks import Mask
from oes.presets import get_preset
from oes.experiments import spec_key

GROUPS = {"people": ["astronaut", "camera"], "other": ["chelsea", "coffee"]}


def test_imp_label_and_shared_spec():
    assert imp_label(0.8, 14) == "IMP-(0.8)^14" and imp_label(0.2, 3) == "IMP-(0.2)^3"
    P = get_preset("smoke")
    a = imp_mask_spec(P, "astronaut", 0, 0.2, 0.5, 3, 4)
    b = imp_mask_spec(P, "astronaut", 0, 0.2, 0.5, 3.0, 4.0)       # numbers normalised: same key
    assert spec_key(a) == spec_key(b)
    assert a.method == "imp" and a.params["sparsity"] == 0.2 and a.params["rounds"] == 3
    assert a.params["lr"] == P.fit.lr and a.target == "noisy"
    oracle = imp_mask_spec(P, "astronaut", 0, 0.2, 0.5, 3, 4, target="clean")
    assert oracle.target == "clean" and spec_key(oracle) != spec_key(a)


def _runs():
    # two images × two methods × two seeds
    rows = []
    for im, base in (("a", 20.0), ("b", 25.0)):
        for m, off in (("OES", 2.0), ("GraSP", 0.0)):
            for sd, jit in ((0, -0.5), (1, 0.5)):
                rows.append({"image": im, "mask": m, "seed": sd, "final_psnr": base + off + jit,
                             "best_psnr": base + off + 1.0})
    return pd.DataFrame(rows)


def test_mean_std_and_table4_layout():
    df = _runs()
    t = mean_std(df, "image", "mask", order=["OES", "GraSP", "missing"])
    assert list(t.columns) == ["OES", "GraSP"] and list(t.index) == ["a", "b"]
    assert t.loc["a", "OES"] == "22.00 ± 0.50" and t.loc["b", "GraSP"] == "25.00 ± 0.50"
    t4 = table4(df, {"PAI": ["GraSP", "SynFlow"], "PAT": ["IMP"], "Ours (PAI)": ["OES"]})
    assert list(t4.columns) == [("PAI", "GraSP"), ("Ours (PAI)", "OES")]     # absent methods/groups dropped
    assert t4.loc["b", ("Ours (PAI)", "OES")] == "27.00 ± 0.50"
    one_seed = mean_std(df[df.seed == 0], "image", "mask")
    assert one_seed.loc["a", "OES"] == "21.50 ± 0.00"


def test_overfit_is_best_minus_final():
    df = _runs()
    d = overfit(df)
    assert (d >= 0).all() and d.iloc[0] == pytest.approx(1.5)


def test_transfer_kinds_and_paired_means():
    assert transfer_kind("astronaut", "astronaut", GROUPS) == "self"
    assert transfer_kind("camera", "astronaut", GROUPS) == "inter"
    assert transfer_kind("coffee", "astronaut", GROUPS) == "cross"
    assert group_of("chelsea", GROUPS) == "other"
    with pytest.raises(ValueError, match="no group"):
        group_of("rocket", GROUPS)
    with pytest.raises(ValueError, match="several groups"):
        group_of("x", {"g1": ["x"], "g2": ["x"]})
    df = pd.DataFrame([
        {"target": "astronaut", "kind": "self", "final_psnr": 26.0},
        {"target": "astronaut", "kind": "inter", "final_psnr": 25.0},
        {"target": "astronaut", "kind": "cross", "final_psnr": 24.0},
        {"target": "astronaut", "kind": "cross", "final_psnr": 22.0},   # two cross sources: averaged
        {"target": "chelsea", "kind": "self", "final_psnr": 30.0},       # no inter/cross: dropped when paired
    ])
    k = kind_means(df)
    assert list(k.columns) == ["self", "inter", "cross"] and list(k.index) == ["astronaut"]
    assert k.loc["astronaut", "cross"] == pytest.approx(23.0)
    assert len(kind_means(df, paired=False)) == 2
    assert kind_means(df[df.kind != "inter"]).empty                      # a kind missing everywhere
    assert self_label("lena", "lena") == "lena (self)" and self_label("zebra", "lena") == "zebra"


def test_collapse_table():
    full = Mask({"conv.weight": torch.tensor([1, 0, 1]), "conv.bias": torch.tensor([0, 0])})
    dead = Mask({"conv.weight": torch.tensor([0, 0, 0]), "bn.weight": torch.tensor([0, 0]),
                 "conv.bias": torch.tensor([1, 1])})
    t = collapse_table({"ok": full, "collapsed": dead})
    assert not t.loc["ok", "layer collapse"] and t.loc["ok", "collapsed tensors"] == 0   # biases don't count
    assert t.loc["collapsed", "collapsed tensors"] == 2 and "conv.weight" in t.loc["collapsed", "collapsed"]
    assert t.loc["collapsed", "density"] == pytest.approx(2 / 7)


def test_plot_imp_rounds():
    rounds = pd.DataFrame({"round": [1, 1, 2, 2, 3, 3], "density": [1, 1, .5, .5, .25, .25],
                           "step": [0, 5] * 3, "psnr": [10, 20, 11, 21, 12, 22]})
    ax = plot_imp_rounds(rounds)
    assert len(ax.lines) == 3
    labels = [l.get_label() for l in ax.lines]
    assert labels[0].startswith("IMP round 1 (100.0% kept)") and labels[2].startswith("IMP round 3")
    assert labels[1].startswith("_")                                    # middle rounds: no legend entry


def test_paired_gap_holds_only_beyond_the_spread():
    from oes.compare import paired_gap
    rows = []
    for sd, (a, b) in enumerate([(25.0, 23.0), (24.5, 23.5), (26.0, 24.0)]):
        rows += [{"image": "x", "seed": sd, "method": "sparse", "final_psnr": a},
                 {"image": "x", "seed": sd, "method": "dense", "final_psnr": b}]
    df = pd.DataFrame(rows)
    g = paired_gap(df, "sparse", "dense")
    assert g["n"] == 3 and abs(g["mean"] - 5 / 3) < 1e-12 and g["holds"]
    assert abs(g["std"] - pd.Series([2.0, 1.0, 2.0]).std()) < 1e-12 and g["min"] == 1.0
    # a gap smaller than its spread does not hold, nor does one measured on fewer than 3 pairs
    df.loc[(df.seed == 1) & (df.method == "sparse"), "final_psnr"] = 22.0   # d = 2, −1.5, 2
    g = paired_gap(df, "sparse", "dense")
    assert not g["holds"] and "within the spread" in g["text"]
    assert not paired_gap(df[df.seed < 1], "sparse", "dense")["holds"]
    assert not paired_gap(df, "dense", "sparse")["holds"]


def test_restores_compares_the_best_psnr_with_the_noisy_input():
    from types import SimpleNamespace

    from oes.compare import restores
    from oes.metrics import psnr

    spec = get_preset("smoke").run_spec("astronaut", "dense", 0)
    prob = spec.problem()
    noisy = psnr(prob.y, prob.x)
    assert 15 < noisy < 25                                           # σ = 25/255 gives ≈ 20 dB
    assert restores(SimpleNamespace(spec=spec, result={"best_psnr": noisy + 0.5}))
    assert not restores(SimpleNamespace(spec=spec, result={"best_psnr": noisy - 0.5}))
