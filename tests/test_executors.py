"""Executors: one protocol, identical results (local, processes, dask), a DAG with a run → mask → run
chain, batching hooks, failures and the plan's progress line."""
from __future__ import annotations

import io
import sys
import types

import pandas as pd
import pytest
import torch

from oes.experiments import (MaskSpec, RunSpec, RunStore, batch_key, build_tasks, execute, execute_specs,
                             run_batch, spec_key)
from oes.experiments.executors import LocalExecutor, PlanProgress, TaskError, make_executor
from oes.fit import FitConfig
from oes.masks import Mask
from oes.learn import MaskConfig

from conftest import TINY

SIZE = 16
FCFG = FitConfig(steps=6, lr=1e-2, record_every=1)
MCFG = MaskConfig(sparsity=0.2, steps=5, lr=0.1, record_every=1).to_dict()


def _oes(image="astronaut", seed=0):
    return MaskSpec("oes", image, SIZE, TINY, params=MCFG, seed=seed)


def _run(method="dense", image="astronaut", seed=0, mask=None, steps=6):
    return RunSpec(image, SIZE, TINY, FitConfig(steps=steps, lr=1e-2, record_every=1), method=method, mask=mask,
                   seed=seed)


def _dag_specs():
    """dense → IMP at dense DIP's oracle stop (a mask that depends on a run) → sparse; plus an OES pair."""
    dense = _run("dense")
    imp = MaskSpec("imp", "astronaut", SIZE, TINY, source_run=dense,
                   params={"sparsity": 0.2, "rounds": 2, "keep_per_round": None, "train_steps": 6,
                           "stop_step": "dense_best", "record_every": 1})
    return [_run("sparse", mask=imp), _run("sparse", "chelsea", mask=_oes()), _run("dense", "chelsea")]


def _entries(root):
    """key → (history, mask flat or output) of every entry of a store."""
    store = RunStore(root)
    out = {}
    for e in store.entries():
        assert e.status == "done", e
        h = pd.read_csv(e.dir / "history.csv") if (e.dir / "history.csv").exists() else None
        if e.kind == "mask":
            out[e.key] = (h, Mask.load(e.dir / "mask.pt").flat())
        else:
            out[e.key] = (h, torch.load(e.dir / "output.pt", weights_only=True)["x_hat"])
    return out


def _assert_same_store(a, b):
    ea, eb = _entries(a), _entries(b)
    assert set(ea) == set(eb) and ea
    for k in ea:
        (ha, xa), (hb, xb) = ea[k], eb[k]
        if ha is not None:              # IMP's per-round summary has a wall-clock column: not a result
            pd.testing.assert_frame_equal(ha.drop(columns=["seconds"], errors="ignore"),
                                          hb.drop(columns=["seconds"], errors="ignore"), check_exact=True)
        assert torch.equal(xa, xb), k


def test_dag_runs_dependencies_first_and_resolves_dense_best(tmp_path):
    specs = _dag_specs()
    store = RunStore(tmp_path)
    tasks = build_tasks(specs, store)
    kinds = [(t.kind, t.specs[0].method) for t in tasks]
    pos = {spec_key(t.specs[0]): i for i, t in enumerate(tasks)}
    imp = specs[0].mask
    assert pos[spec_key(imp.source_run)] < pos[spec_key(imp)] < pos[spec_key(specs[0])]
    assert len(tasks) == 6 and kinds.count(("mask", "imp")) == 1
    for i, t in enumerate(tasks):
        assert all(d < i for d in t.deps)
    recs = execute(specs, root=tmp_path, progress=False)
    dense = store.run_one(imp.source_run)
    m = store.get_mask(imp)
    assert m.meta["stop_step"] == max(1, dense.result["best_step"]) and m.meta["stop_rule"] == "dense_best"
    assert m.meta["oracle"] is True
    assert recs[0].result["versions"] == {"fit:dense": 1, "fit:sparse": 1, "mask:imp": 1}
    assert build_tasks(specs, store) == []                           # everything stored: nothing to do


def test_processes_executor_matches_local_bit_for_bit(tmp_path):
    specs = _dag_specs()
    execute_specs(specs, tmp_path / "local", executor="local")
    info = execute_specs(specs, tmp_path / "proc", executor="processes", workers=2)
    assert info["computed"] == 6
    _assert_same_store(tmp_path / "local", tmp_path / "proc")


def test_dask_local_cluster_matches_local_on_the_smoke_plan(tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'oes[dask]')")
    from oes.experiments.executors import DaskExecutor
    from oes.experiments.plan import book_plan

    plan = book_plan("smoke")
    plan.execute("local", root=tmp_path / "local", progress=False, log_lines=False)
    ex = DaskExecutor(workers=2)
    try:
        assert ex.workers == 2
        info = plan.execute(ex, root=tmp_path / "dask", progress=False, log_lines=False)
    finally:
        ex.close()
    assert info["computed"] == len(plan.specs()) and info["computed"] > 5
    _assert_same_store(tmp_path / "local", tmp_path / "dask")


def test_failed_task_skips_its_dependents_and_reports(tmp_path):
    bad_mask = MaskSpec("snip", "astronaut", SIZE, TINY, params={"spars": 0.1})
    specs = [_run("sparse", mask=bad_mask), _run("dense")]
    with pytest.raises(TaskError, match=r"1 task\(s\) failed, 1 skipped; first: mask snip .*unknown snip parameters"):
        execute_specs(specs, tmp_path, executor="local")
    store = RunStore(tmp_path)
    assert store.is_done(specs[1]) and not store.is_done(specs[0])


def test_make_executor_names(monkeypatch):
    assert isinstance(make_executor(), LocalExecutor)
    monkeypatch.setenv("OES_EXECUTOR", "nope")
    with pytest.raises(ValueError, match="unknown executor 'nope'"):
        make_executor()
    monkeypatch.setenv("OES_BATCH", "0")
    with pytest.raises(ValueError, match="--batch"):
        execute_specs([], executor="local")


# ------------------------------------------------------------------ batching
def test_batch_key_and_deterministic_chunks(tmp_path):
    a, b = _run("dense", "astronaut"), _run("sparse", "chelsea", mask=_oes("chelsea"))
    assert batch_key(a) == batch_key(b)                               # dense and sparse train together
    assert batch_key(_run("dense", steps=9)) == batch_key(a)          # steps may differ
    assert batch_key(_run("sgld")) is None                            # callbacks: alone
    assert batch_key(RunSpec("astronaut", 32, TINY, FCFG)) != batch_key(a)
    assert batch_key(_oes()) == batch_key(_oes("chelsea", 1))
    assert batch_key(MaskSpec("random", "astronaut", SIZE, TINY, params={"sparsity": 0.2})) is None
    specs = [_run("dense", im, sd) for im in ("astronaut", "chelsea", "coffee") for sd in (0, 1)]
    store = RunStore(tmp_path)
    t1 = build_tasks(specs, store, batch=4)
    t2 = build_tasks(specs[::-1], store, batch=4)
    # which specs share a task does not depend on the input's order (the tasks' order may: it follows the input)
    assert sorted(sorted(t.keys) for t in t1) == sorted(sorted(t.keys) for t in t2)
    assert sorted(len(t.specs) for t in t1) == [2, 4]
    assert all(t.keys == sorted(t.keys) for t in t1)
    # a run, the mask that reads it and the run that uses the mask never share a batch
    dag = build_tasks(_dag_specs(), store, batch=8)
    for i, t in enumerate(dag):
        assert all(d < i for d in t.deps)


def test_small_groups_are_shared_by_the_workers(tmp_path):
    """With more workers than a group fills batches, the group is cut into one near-equal batch per
    worker (a lone batch of masks would keep the other workers waiting); large groups are cut by
    ``batch`` as before, and one worker gives the old cut."""
    store = RunStore(tmp_path)
    six = [_run("dense", im, sd) for im in ("astronaut", "chelsea", "coffee") for sd in (0, 1)]
    sizes = lambda tasks: sorted(len(t.specs) for t in tasks)
    assert sizes(build_tasks(six, store, batch=8)) == [6]
    assert sizes(build_tasks(six, store, batch=8, workers=2)) == [3, 3]
    assert sizes(build_tasks(six, store, batch=8, workers=4)) == [1, 1, 2, 2]
    assert sizes(build_tasks(six, store, batch=8, workers=16)) == [1] * 6
    assert sizes(build_tasks(six, store, batch=2, workers=2)) == [2, 2, 2]       # batch already gives ≥ workers
    assert sizes(build_tasks(six, store, batch=1, workers=2)) == [1] * 6
    cut = build_tasks(six, store, batch=8, workers=2)
    assert sorted(k for t in cut for k in t.keys) == sorted(store.key(s) for s in six)   # every spec once
    masks = [_oes(im, sd) for im in ("astronaut", "chelsea") for sd in (0, 1, 2)]
    assert sizes(build_tasks(masks, store, batch=8, workers=2)) == [3, 3]


@pytest.fixture
def fake_batched(monkeypatch):
    """A stand-in ``oes.batched`` that trains members one by one with the solo functions (tests the
    executor's batched path: locks, inputs, writing; not the vectorised compute)."""
    from oes.fit import fit
    from oes.learn import learn_mask

    calls = []

    def fit_batch(nets, zs, ys, operators, *, cfgs, masks, x_trues, seeds, checkpoints, to_images, progress=None,
                  desc=""):
        calls.append(("fit", len(nets)))
        return [fit(n, z, y, op, cfg=c, mask=m, x_true=x, seed=s, checkpoint=ck, to_image=ti, progress=False)
                for n, z, y, op, c, m, x, s, ck, ti in zip(nets, zs, ys, operators, cfgs, masks, x_trues, seeds,
                                                            checkpoints, to_images)]

    def learn_mask_batch(nets, zs, ys, operators, *, cfg, seeds, x_trues, to_images, progress=None, desc=""):
        calls.append(("mask", len(nets)))
        return [learn_mask(n, z, y, op, cfg=cfg, seed=s, x_true=x, to_image=ti, progress=False)
                for n, z, y, op, s, x, ti in zip(nets, zs, ys, operators, seeds, x_trues, to_images)]

    mod = types.ModuleType("oes.batched")
    mod.fit_batch, mod.learn_mask_batch = fit_batch, learn_mask_batch
    monkeypatch.setitem(sys.modules, "oes.batched", mod)
    return calls


def test_run_batch_writes_through_the_solo_store_functions(tmp_path, fake_batched):
    masks = [_oes("astronaut"), _oes("chelsea")]
    runs = [_run("sparse", "astronaut", mask=masks[0]), _run("sparse", "chelsea", mask=masks[1])]
    execute_specs(runs, tmp_path / "solo", executor="local", batch=1)
    assert fake_batched == []
    info = execute_specs(runs, tmp_path / "batched", executor="local", batch=2)
    assert fake_batched == [("mask", 2), ("fit", 2)] and info["tasks"] == 2
    _assert_same_store(tmp_path / "solo", tmp_path / "batched")
    rec = RunStore(tmp_path / "batched").run_one(runs[0])
    assert rec.result["batch"] == {"size": 2, "members": sorted(spec_key(r) for r in runs)}
    # members already stored are dropped from a batch
    assert run_batch(runs, RunStore(tmp_path / "batched")) == [spec_key(r) for r in runs]
    assert len(fake_batched) == 2


def test_plan_progress_prints_plain_lines_when_not_a_terminal():
    buf = io.StringIO()
    bar = PlanProgress(40, 40, "plan", progress=None, log_lines=True, interval=1e9, stream=buf)
    for _ in range(40):
        bar.update(1)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 20                                      # every 5 %
    assert lines[-1].startswith("plan: 40/40 runs (100 %), tasks 40/40,") and "runs/s" in lines[-1]
