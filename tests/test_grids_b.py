"""The grids of chapters 07–11 (§5, Finding 5, App. K, Apps. G–J, App. H): they build at every preset,
compare methods over ≥ 3 seeds at quick, read OES settings and horizons from the preset, share specs
with the chapters whose runs they reuse, and keep IMP's rounds at the preset's horizon."""
from __future__ import annotations

import dataclasses
from collections import Counter

import pandas as pd
import pytest

from oes import presets as presets_mod
from oes.analysis import gap_text, layer_kept, layer_profile, relative_depth
from oes.compare import paired_gap
from oes.experiments import MaskSpec, RunSpec, RunStore, canonical_json
from oes.experiments.plan import book_plan
from oes.generators import GeneratorConfig, build_generator
from oes.grids import (GRIDS, architecture, deep_decoder_pruning, mri, noise_impedance, overfitting,
                       sensitivity)
from oes.masks import Mask
from oes.presets import get_preset

OURS = ["07_noise_impedance", "08_architecture", "09_deep_decoder_pruning", "10_sensitivity", "11_mri"]
PRESETS = ["smoke", "quick", "paper"] + (["medium"] if "medium" in presets_mod.PRESETS else [])


def _key(spec) -> str:
    return canonical_json(spec)


def _kind(spec) -> str:
    return "run" if isinstance(spec, RunSpec) else "mask"


def _oes_masks(grid):
    return [(lab, s) for lab, s in grid.items if isinstance(s, MaskSpec) and s.method == "oes"]


@pytest.fixture
def moved_quick(monkeypatch):
    """A `quick` preset whose OES settings, horizon and seeds were changed (as the lead's calibration may):
    the grids must follow it, not numbers of their own."""
    q = get_preset("quick")
    moved = dataclasses.replace(q, mask=dataclasses.replace(q.mask, steps=1234, lr=0.05, lam=4e-8, samples=2),
                                fit=dataclasses.replace(q.fit, steps=2500), seeds=(0, 1, 2))
    monkeypatch.setitem(presets_mod.PRESETS, "quick", moved)
    return moved


# ------------------------------------------------------------------ every grid builds, labels are unique
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", OURS)
def test_grids_build_with_unique_labels(name, preset):
    g = GRIDS[name](preset)
    assert g.chapter == name and g.preset == preset and len(g) > 0
    seen = Counter((_kind(s), tuple(sorted(lab.items(), key=lambda kv: kv[0]))) for lab, s in g.items)
    assert max(seen.values()) == 1, [k for k, n in seen.items() if n > 1][:3]      # GridResult lookups need this
    for lab, s in g.items:
        if isinstance(s, RunSpec) and s.method == "sparse":
            assert s.mask is not None and s.mask.seed == s.seed       # trained from the θ_in it was learned on


# ------------------------------------------------------------------ ≥ 3 seeds where methods are compared
def test_quick_compares_over_three_seeds():
    g = noise_impedance("quick")
    for task in ("noise", "chessboard"):
        for m in ("dense", "decoder", "sparse"):
            assert len({lab["seed"] for lab, s in g.items if _kind(s) == "run" and lab["task"] == task
                        and lab["method"] == m}) >= 3
    g = architecture("quick")
    for method in ("oes", "imp"):
        assert len({lab["seed"] for lab, _ in g.items if lab["network"] == "hourglass" and lab["method"] == method}) >= 3
    g = deep_decoder_pruning("quick")
    for net in ("decoder", "sparse_decoder", "sparse_dip", "sparse_dip_matched"):
        pairs = {(lab["image"], lab["seed"]) for lab, s in g.items if _kind(s) == "run" and lab["network"] == net}
        assert len(pairs) >= 3, net
    g = sensitivity("quick")
    trained = [lab for lab, s in g.items if _kind(s) == "run"]
    for study in ("init", "lambda"):
        assert len({lab["seed"] for lab in trained if lab["study"] == study}) >= 3, study
    g = mri("quick")
    per = Counter((lab["subject"], lab["acceleration"], lab["kept"]) for lab, s in g.items if _kind(s) == "run")
    assert per and min(per.values()) >= 3


def test_mri_acquisition_fixed_network_seeds_vary():
    g = mri("quick")
    runs = [s for _, s in g.items if isinstance(s, RunSpec)]
    assert len({s.seed for s in runs}) >= 3
    assert {s.op_params["seed"] for s in runs} == {0}                     # one acquisition per subject
    a, b = (next(s for s in runs if s.seed == sd and s.method == "dense" and s.op_params["acceleration"] == 4)
            for sd in (0, 1))
    assert a.op_params == b.op_params                                     # same data, different networks
    assert all(s.generator.out_channels == 2 for s in runs)


# ------------------------------------------------------------------ settings come from the preset
def test_grids_follow_the_preset(moved_quick):
    P = moved_quick
    for name in OURS:
        g = GRIDS[name]("quick")
        own = presets_mod.chapter_settings(name, "quick")       # a chapter's declared override wins
        for lab, s in _oes_masks(g):
            assert s.params["steps"] == (own.get("mask_steps") or P.mask.steps), (name, lab)
            assert s.params["lr"] == P.mask.lr, (name, lab)
            assert s.params["samples"] == P.mask.samples and s.params["temperature"] == P.mask.temperature
            if name == "10_sensitivity":        # App. G/I's sweeps: fixed λ around the preset's centre
                assert s.params["lam"] == pytest.approx(P.lam_sweep * 10.0 ** lab.get("decades", 0), rel=1e-5)
                assert s.params.get("lam_ratio") is None, (name, lab)
            else:
                assert s.params["lam"] == P.mask.lam, (name, lab)
    # horizons: the preset's fit steps (07's pure noise: the chapter's factor × them; 11: at least 3 000)
    g = noise_impedance("quick")
    steps = {lab["task"]: s.fit.steps for lab, s in g.items if _kind(s) == "run"}
    factor = float(presets_mod.chapter_settings("07_noise_impedance", "quick").get("noise_factor") or 1)
    assert steps == {"noise": round(factor * P.fit.steps), "chessboard": P.fit.steps}
    for name in ("09_deep_decoder_pruning", "10_sensitivity"):
        assert {s.fit.steps for _, s in GRIDS[name]("quick").items if _kind(s) == "run"} == {P.fit.steps}
    assert {s.fit.steps for _, s in mri("quick").items if _kind(s) == "run"} == {max(P.fit.steps, 3000)}
    own10 = presets_mod.chapter_settings("10_sensitivity", "quick").get("mask_steps")
    assert sensitivity("quick").params["mask_steps"] == (own10 or P.mask.steps)


def test_mri_quick_horizon_passes_dense_peak():
    """The issue's measurement: dense DIP at 4× peaks near step 1 450 and falls by 2 900 — the quick horizon
    must be at least 3 000 steps (or the preset's, if longer)."""
    P = get_preset("quick")
    g = mri("quick")
    assert g.params["steps"] == max(3000, P.fit.steps)
    assert mri("quick", steps=50).params["steps"] == 50                   # the notebook parameter still wins


def test_imp_rounds_train_the_preset_horizon():
    for preset in PRESETS:
        P = get_preset(preset)
        imps = [s for lab, s in architecture(preset).items if lab["method"] == "imp"]
        assert imps
        for s in imps:
            assert s.params["train_steps"] == P.fit.steps and s.params["lr"] == P.fit.lr
            assert "stop_step" not in s.params                           # magnitudes at the end of training


# ------------------------------------------------------------------ shared with the chapters whose runs are reused
@pytest.mark.parametrize("preset", ["smoke", "quick"])
def test_specs_shared_across_chapters(preset, moved_quick):
    P = get_preset(preset)
    o2 = overfitting(preset, seeds=list(P.seeds))
    masks02 = {_key(s) for lab, s in o2.items if _kind(s) == "mask"}
    runs02 = {_key(s) for lab, s in o2.items if _kind(s) == "run"}
    g7 = noise_impedance(preset, seeds=list(P.seeds))
    assert {_key(s) for lab, s in g7.items if lab["task"] == "noise" and _kind(s) == "mask"} <= masks02
    g9 = deep_decoder_pruning(preset, images=[P.images[0]], seeds=list(P.seeds))
    shared = {_key(s) for lab, s in g9.items if _kind(s) == "run" and lab["network"] in ("decoder", "sparse_dip")}
    assert shared and shared <= runs02
    g8 = architecture(preset, seeds=list(P.seeds))
    dec8 = {_key(s) for lab, s in g8.items if lab["network"] == "deep_decoder"}
    dec9 = {_key(s) for lab, s in g9.items if lab["network"] == "sparse_decoder" and _kind(s) == "mask"}
    assert dec8 == dec9
    oes8 = {_key(s) for lab, s in g8.items if lab["method"] == "oes" and lab.get("sparsity") == P.mask.sparsity}
    assert oes8 <= masks02


def test_plan_of_chapters_07_11_deduplicates(tmp_path):
    plan = book_plan("smoke", only=OURS)
    assert [g.chapter for g in plan.grids] == OURS
    s = plan.summary(root=tmp_path)
    assert s["unique"] < s["items"]                                       # e.g. 10's preset-λ mask = its p0 = s/d mask
    assert s["tasks"] == s["unique"] and s["steps"] > 0
    g10 = sensitivity("smoke")
    assert len({RunStore(tmp_path).key(x) for x in g10.specs()}) < len(g10)


def test_sensitivity_one_mask_several_labels():
    g = sensitivity("quick")
    s = g.params["sparsity"]
    im0, sd0 = g.params["images"][0], g.params["seeds"][0]
    kl0, = [x for lab, x in g.items if _kind(x) == "mask" and lab["study"] == "lambda" and lab["image"] == im0
            and lab["seed"] == sd0 and lab["decades"] == 0]
    p0s = [x for lab, x in g.items if lab["study"] == "p0" and lab["p0"] == s and _kind(x) == "mask"]
    k1 = [x for lab, x in g.items if lab["study"] == "init" and lab["scale"] == 1.0 and lab["init"] == "kaiming_uniform"
          and lab["seed"] == sd0 and lab["image"] == im0 and _kind(x) == "mask"]
    assert _key(kl0) == _key(p0s[0]) == _key(k1[0])
    with pytest.raises(ValueError, match="unknown preset"):
        sensitivity("nope")


# ------------------------------------------------------------------ the small analysis helpers
def test_relative_depth_puts_dec1_at_two_thirds():
    for channels in ((8, 16, 32, 64), (16, 32, 64, 128, 128, 128), (4, 8)):
        cfg = GeneratorConfig("hourglass", channels, 3, 3, 4)
        t = layer_kept(Mask.ones(build_generator(cfg)), cfg)
        d = relative_depth(t)
        assert d.iloc[0] == 0 and d.iloc[-1] == 1
        assert d[t["label"] == "dec1"].iloc[0] == pytest.approx(2 / 3)


def test_layer_profile_mean_min_max():
    cfg = GeneratorConfig("deep_decoder", (4, 4))
    net = build_generator(cfg)
    full, empty = Mask.ones(net), Mask({n: t.zero_() for n, t in Mask.ones(net).items()})
    prof = layer_profile([layer_kept(full, cfg), layer_kept(empty, cfg)])
    assert list(prof["mean"]) == [0.5] * 3 and list(prof["min"]) == [0.0] * 3 and list(prof["max"]) == [1.0] * 3
    assert list(prof["depth"]) == [0.0, 0.5, 1.0] and set(prof["n"]) == {2}
    other = GeneratorConfig("deep_decoder", (4, 4, 4))
    with pytest.raises(ValueError, match="different architectures"):
        layer_profile([layer_kept(full, cfg), layer_kept(Mask.ones(build_generator(other)), other)])
    with pytest.raises(ValueError, match="at least one"):
        layer_profile([])


def test_gap_text_matches_paired_gap():
    df = pd.DataFrame({"seed": [0, 1, 2] * 2, "image": "x", "method": ["a"] * 3 + ["b"] * 3,
                       "v": [1.0, 1.2, 1.1, 0.5, 0.5, 0.5]})
    g = paired_gap(df, "a", "b", value="v")
    assert gap_text(g) == g["text"]                                      # same text as paired_gap for dB
    assert gap_text(g, unit="", digits=3) == "+0.600 ± 0.100 over 3 pairs"
    g1 = paired_gap(df[df.seed == 0], "a", "b", value="v")
    assert gap_text(g1).endswith("(fewer than 3 pairs)") and "(" not in gap_text(g1, notes=False)
