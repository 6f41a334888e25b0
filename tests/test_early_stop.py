"""Early-stopping readers (oes.early_stop): oracle stop, IMP stop parameter, PSNR at a step, summary."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from oes.early_stop import imp_stop_param, oracle_stop_step, psnr_at_step, stop_summary
from oes.fit import FitConfig
from oes.generators import GeneratorConfig
from oes.experiments import MaskSpec, RunSpec, execute, get_mask

CFG = GeneratorConfig("hourglass", (4, 8), 3, 3, 8)


def test_oracle_stop_step():
    assert oracle_stop_step({"best_step": 7}) == 7
    assert oracle_stop_step({"best_step": 0}) == 1          # a valid number of training steps
    assert oracle_stop_step({"best_step": 0}, minimum=0) == 0
    for bad in ({"best_step": -1}, {}, {"best_step": None}):
        with pytest.raises(ValueError):
            oracle_stop_step(bad)


def test_imp_stop_param():
    assert imp_stop_param(None) is None and imp_stop_param("best") == "best"
    assert imp_stop_param("dense_best", {"best_step": 12}) == 12
    assert imp_stop_param(5) == 5
    for bad in (0, -3, 2.5, "later", True):
        with pytest.raises(ValueError):
            imp_stop_param(bad)
    with pytest.raises(ValueError):
        imp_stop_param("dense_best")


def test_psnr_at_step():
    h = pd.DataFrame({"step": [0, 5, 10], "psnr": [1.0, 3.0, 2.0], "psnr_avg": [float("nan"), 4.0, 5.0]})
    assert psnr_at_step(h, 0) == 1.0 and psnr_at_step(h, 9) == 3.0 and psnr_at_step(h, 100) == 2.0
    assert math.isnan(psnr_at_step(h, 4, "psnr_avg"))         # NaN rows are skipped: none left
    assert psnr_at_step(h, 6, "psnr_avg") == 4.0
    assert math.isnan(psnr_at_step(h, -1)) and math.isnan(psnr_at_step(h, 3, "missing"))


def test_stop_summary_not_detected():
    s = stop_summary({"best_step": 3, "best_psnr": 20.0, "final_psnr": 15.0}, {"detected_step": -1,
                     "detected_psnr": 19.0}, {"final_psnr": 18.0})
    assert s["ES-WMV stop"] == -1 and math.isnan(s["dense PSNR at ES-WMV stop"])
    assert math.isnan(s["Sparse-DIP final − ES-WMV (dB)"])


def test_oracle_stop_feeds_imp_at_early_stop(tmp_path):
    """The dense run's oracle stop, as an IMP stop_step, makes a mask flagged as oracle at the target density."""
    torch.manual_seed(0)
    fcfg = FitConfig(steps=6, lr=1e-2, record_every=1)
    dense = execute([RunSpec("astronaut", 16, CFG, fcfg, seed=0)], root=tmp_path, progress=False)[0]
    stop = imp_stop_param("dense_best", dense.result)
    assert 1 <= stop <= 6 and stop == max(1, dense.result["best_step"])
    spec = MaskSpec("imp", "astronaut", 16, CFG, params={"sparsity": 0.2, "rounds": 2, "keep_per_round": None,
                                                        "train_steps": 6, "stop_step": stop, "record_every": 1})
    m = get_mask(spec, tmp_path, progress=False)
    assert m.meta["oracle"] and m.meta["stop_step"] == stop
    assert m.density == pytest.approx(0.2, abs=0.01)
    es = execute([RunSpec("astronaut", 16, CFG, fcfg, method="es_wmv", seed=0,
                          params={"window": 2, "patience": 1})], root=tmp_path, progress=False)[0]
    s = stop_summary(dense.result, es.result, dense.result)
    assert s["dense oracle stop"] == dense.result["best_step"]
    if s["ES-WMV stop"] >= 0:   # the same seed and loop: ES-WMV's PSNR is dense DIP's at that step
        assert s["dense PSNR at ES-WMV stop"] == pytest.approx(psnr_at_step(dense.history, s["ES-WMV stop"]),
                                                               abs=1e-5)
