"""Grids of chapters 03–06 (Findings 3 and 4; Appendices B, E, F, J.3): they build at every preset,
compare methods over ≥ 3 seeds at quick, follow the protocol (IMP past the peak, SynFlow 100 rounds,
the authors' variants present), and declare shared masks and runs with the same spec as the chapter
that owns them."""
from __future__ import annotations

from collections import Counter

import pytest

from oes.experiments import MaskSpec, RunSpec, canonical_json
from oes.grids import (AUTHORS_LABELS, early_stop_masks, imp_settings, inpainting, overfitting, pruners, task_name,
                       transfer)
from oes.imp import imp_densities
from oes.presets import CHAPTERS, PRESETS, get_preset

CHAPTER_GRIDS = {"03_pruners": pruners, "04_transfer": transfer, "05_inpainting": inpainting,
                 "06_early_stop_masks": early_stop_masks}
ALL_PRESETS = [p for p in ("smoke", "quick", "medium", "paper") if p in PRESETS]


def _key(spec) -> str:
    return canonical_json(spec)


def _masks(grid, **labels):
    return [s for lab, s in grid.items if isinstance(s, MaskSpec) and all(lab.get(k) == v for k, v in labels.items())]


def _runs(grid, **labels):
    return [s for lab, s in grid.items if isinstance(s, RunSpec) and all(lab.get(k) == v for k, v in labels.items())]


def _one(specs):
    assert len(specs) == 1, f"expected one spec, got {len(specs)}"
    return specs[0]


# ------------------------------------------------------------------ every grid builds, labels identify one item
@pytest.mark.parametrize("preset", ALL_PRESETS)
@pytest.mark.parametrize("name", list(CHAPTER_GRIDS))
def test_grid_builds_with_unique_labels(name, preset):
    g = CHAPTER_GRIDS[name](preset)
    assert g.chapter == name and g.preset == preset and len(g) > 0
    kinds = Counter((type(s).__name__, tuple(sorted(lab.items(), key=lambda kv: kv[0]))) for lab, s in g.items)
    dup = [k for k, n in kinds.items() if n > 1]
    assert not dup, f"{name} at {preset}: several items share labels {dup[:2]}"
    # every sparse run's mask is an item of the grid too (shown in the table, looked up by label)
    mask_keys = {_key(s) for s in g.specs() if isinstance(s, MaskSpec)}
    for s in g.specs():
        if isinstance(s, RunSpec) and s.method == "sparse":
            assert _key(s.mask) in mask_keys


@pytest.mark.parametrize("name", list(CHAPTER_GRIDS))
def test_every_chapter_has_settings_for_every_preset(name):
    assert {"smoke", "quick", "medium", "paper"} <= set(CHAPTERS[name])


# ------------------------------------------------------------------ the protocol (issue 10 parts 2–3)
@pytest.mark.parametrize("name", list(CHAPTER_GRIDS))
def test_quick_compares_methods_over_three_seeds(name):
    g = CHAPTER_GRIDS[name]("quick")
    assert len(set(g.params["seeds"])) >= 3
    seeds = {lab["seed"] for lab, s in g.items if isinstance(s, RunSpec)}
    assert len(seeds) >= 3


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_pruners_protocol(preset):
    P = get_preset(preset)
    g = pruners(preset)
    density = g.params["density"]
    # SynFlow: 100 rounds; the authors' variants present next to the reference algorithms
    for s in _masks(g, mask="SynFlow"):
        assert s.method == "synflow" and s.params["rounds"] == 100
    for method, label in AUTHORS_LABELS.items():
        assert {s.method for s in _masks(g, mask=label)} == {method}
        assert len(_runs(g, mask=label)) == len(g.params["images"]) * len(g.params["seeds"])
    # IMP: every round trains the horizon (past dense DIP's peak), both schedules land on the density
    assert len(g.params["imp_labels"]) == 2
    for (keep, rounds), label in zip(g.params["imp_schedules"], g.params["imp_labels"]):
        for s in _masks(g, mask=label):
            assert s.method == "imp" and s.params["train_steps"] == P.fit.steps == g.params["steps"]
            assert "stop_step" not in s.params
            assert imp_densities(s.params["rounds"], s.params["keep_per_round"], s.params["sparsity"])[-1] == density
    # every mask keeps the same fraction; every run trains the same horizon
    assert {s.params["sparsity"] for s in g.specs() if isinstance(s, MaskSpec)} == {density}
    assert {s.fit.steps for s in g.specs() if isinstance(s, RunSpec)} == {P.fit.steps}


def test_pruners_schedules_paper_and_quick():
    assert pruners("paper").params["imp_schedules"] == [(0.8, 14), (0.2, 3)]
    q = pruners("quick")
    (keep, rounds), aggressive = q.params["imp_schedules"]
    assert aggressive == (0.2, 3)
    # the gradual schedule lands on the density in a handful of rounds, each pruning something
    dens = imp_densities(rounds, keep, q.params["density"])
    assert 3 <= len(dens) <= 6 and dens[-1] == q.params["density"]
    assert keep ** rounds == pytest.approx(q.params["density"], rel=0.1)


def test_smoke_synflow_may_be_short_but_other_presets_not():
    for preset in ALL_PRESETS:
        rounds = {s.params["rounds"] for s in _masks(pruners(preset), mask="SynFlow")}
        assert rounds == ({5} if preset == "smoke" else {100})


# ------------------------------------------------------------------ shared specs: one stored task
@pytest.mark.parametrize("preset", ["smoke", "quick", "paper"])
def test_shared_masks_and_runs_have_the_same_spec(preset):
    P = get_preset(preset)
    g3, g4, g6 = pruners(preset), transfer(preset), early_stop_masks(preset)
    gradual = g3.params["imp_labels"][0]
    # chapter 04's IMP mask of imp_source is chapter 03's gradual IMP mask (when 03 runs that image and density)
    src = g4.params["imp_source"]
    for sd in set(g3.params["seeds"]) & set(g4.params["seeds"]):
        if src in g3.params["images"] and g3.params["density"] == g4.params["density"]:
            assert _key(_one(_masks(g4, mask="IMP", learned_on="noisy", source=src, seed=sd))) == \
                _key(_one(_masks(g3, image=src, seed=sd, mask=gradual)))
    # chapter 06's IMP at convergence is chapter 03's gradual mask; IMP at early stop differs only in its stop
    for sd in set(g3.params["seeds"]) & set(g6.params["seeds"]):
        if g6.params["source"] in g3.params["images"] and g3.params["density"] == g6.params["sparsity"]:
            conv = _one(_masks(g6, mask="imp_conv", seed=sd))
            assert _key(conv) == _key(_one(_masks(g3, image=g6.params["source"], seed=sd, mask=gradual)))
            es = _one(_masks(g6, mask="imp_es", seed=sd))
            assert {k: v for k, v in es.params.items() if k != "stop_step"} == conv.params
    # chapter 03's OES masks and Sparse-DIP runs are chapter 02's at the preset's density
    g2 = overfitting(preset, images=g3.params["images"], seeds=g3.params["seeds"])
    if g3.params["density"] == P.mask.sparsity:
        for im in g3.params["images"]:
            for sd in g3.params["seeds"]:
                assert _key(_one(_runs(g3, image=im, seed=sd, mask="OES"))) == \
                    _key(_one(_runs(g2, image=im, seed=sd, method="sparse")))
    # chapter 05's denoising runs at the preset's σ are chapter 02's
    g5 = inpainting(preset)
    g2 = overfitting(preset, images=g5.params["images"], seeds=g5.params["seeds"])
    den = task_name("denoising", P.sigma)
    if den in g5.params["tasks"]:
        for im in g5.params["images"]:
            for sd in g5.params["seeds"]:
                for net, m in (("dense", "dense"), ("decoder", "decoder"), ("sparse_den", "sparse")):
                    assert _key(_one(_runs(g5, image=im, seed=sd, task=den, network=net))) == \
                        _key(_one(_runs(g2, image=im, seed=sd, method=m)))


@pytest.mark.parametrize("preset", ["smoke", "quick"])
def test_imp_at_early_stop_reads_the_dense_run_of_chapter_02(preset):
    P = get_preset(preset)
    g = early_stop_masks(preset)
    for sd in g.params["seeds"]:
        es = _one(_masks(g, mask="imp_es", seed=sd))
        assert es.params["stop_step"] == "dense_best"
        assert _key(es.source_run) == _key(P.run_spec(g.params["source"], "dense", sd, mask=None, steps=P.fit.steps))
        assert _key(es.source_run) == _key(_one(_runs(g, role="dense", image=g.params["source"], seed=sd)))
    # an integer stop or each round's own peak needs no source run
    assert all(s.source_run is None for s in _masks(early_stop_masks(preset, imp_stop=50), mask="imp_es"))
    best = _masks(early_stop_masks(preset, imp_stop="best"), mask="imp_es")
    assert best and all(s.params["stop_step"] == "best" and s.source_run is None for s in best)


def test_overrides_reach_every_grid_consistently():
    gs = {n: fn("quick", steps=7) for n, fn in CHAPTER_GRIDS.items()}
    for n, g in gs.items():
        assert {s.fit.steps for s in g.specs() if isinstance(s, RunSpec)} == {7}, n
    imp_steps = {s.params["train_steps"] for g in gs.values() for s in g.specs()
                 if isinstance(s, MaskSpec) and s.method == "imp"}
    assert imp_steps == {7}                       # IMP rounds follow the horizon, in 03, 04 and 06 alike
    gs = [fn("quick", imp_train_steps=9) for n, fn in CHAPTER_GRIDS.items() if n != "05_inpainting"]
    assert {s.params["train_steps"] for g in gs for s in g.specs() if isinstance(s, MaskSpec) and s.method == "imp"} \
        == {9}
    assert imp_settings("quick", steps=7, imp_train_steps=9)["train_steps"] == 9


# ------------------------------------------------------------------ bad input: one clear error
def test_bad_input_is_refused_with_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="both 'astronaut'"):
        early_stop_masks("smoke", source="astronaut", target="astronaut")
    with pytest.raises(ValueError, match="imp_stop='soon'"):
        early_stop_masks("smoke", imp_stop="soon")
    with pytest.raises(ValueError, match="image 'rocket' is in no group"):
        transfer("smoke", targets=["rocket"])
    with pytest.raises(ValueError, match="two stand-in datasets"):
        transfer("smoke", groups={"all": ["astronaut", "chelsea", "camera", "coffee"]})
    monkeypatch.delitem(CHAPTERS["05_inpainting"], "smoke")
    with pytest.raises(ValueError, match="05_inpainting has no settings for preset 'smoke'"):
        inpainting("smoke")


# ------------------------------------------------------------------ one grid executed: the source_run dependency
def test_early_stop_grid_runs_imp_at_the_dense_peak(tmp_path):
    g = early_stop_masks("smoke", steps=4)
    r = g.execute(executor="local", root=tmp_path, progress=False)
    sd = g.params["seeds"][0]
    dense = r.run(role="dense", image=g.params["source"], seed=sd)
    es, conv = r.mask(role="mask", mask="imp_es", seed=sd), r.mask(role="mask", mask="imp_conv", seed=sd)
    assert es.meta["stop_step"] == max(1, dense.result["best_step"]) and es.meta["stop_rule"] == "dense_best"
    assert es.meta["oracle"] and not conv.meta["oracle"] and conv.meta["stop_step"] is None
    assert es.n_kept == conv.n_kept
    rounds = r.mask_record(role="mask", mask="imp_es", seed=sd)["history"]
    assert (rounds["steps"] == es.meta["stop_step"]).all()
    assert g.table(root=tmp_path)["stored"].all()
