"""The run store under concurrency: real processes racing, a worker killed mid-fit, corrupted files,
fixed threads, keys with algorithm versions."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from oes.experiments import MaskSpec, RunSpec, RunStore, execute, fixed_threads, spec_key
from oes.experiments import methods as M
from oes.fit import FitConfig
from oes.learn import MaskConfig

from conftest import TINY

SIZE = 16
FIT = RunSpec("astronaut", SIZE, TINY, FitConfig(steps=30, lr=1e-2, record_every=1, checkpoint_every=5))
MASK = MaskSpec("oes", "astronaut", SIZE, TINY, params=MaskConfig(sparsity=0.2, steps=12, lr=0.1,
                                                                  record_every=1).to_dict())
SPAWN = multiprocessing.get_context("spawn")


# ------------------------------------------------------------------ children (module level: spawn imports them)
def _race_child(root: str, barrier, log_dir: str) -> None:
    F = sys.modules["oes.fit"]       # (the package attribute oes.fit is the function)

    real = F.fit

    def counting(*a, **k):
        (Path(log_dir) / f"compute-{os.getpid()}").write_text("1")
        time.sleep(0.3)                                   # widen the window in which a second writer could enter
        return real(*a, **k)

    F.fit = counting
    barrier.wait()
    rec = RunStore(root, lock_timeout=60).run_one(FIT)
    (Path(log_dir) / f"result-{os.getpid()}").write_text(json.dumps({"dir": str(rec.dir), "key": rec.result["key"]}))


class _Hang:
    def __init__(self, flag: str, at: int):
        self.flag, self.at = flag, at

    def on_step(self, state):
        if state.step + 1 == self.at:
            Path(self.flag).write_text("1")
            time.sleep(600)


def _killed_child(root: str, flag: str) -> None:
    F = sys.modules["oes.fit"]       # (the package attribute oes.fit is the function)

    real = F.fit
    F.fit = lambda *a, callbacks=(), **k: real(*a, callbacks=[*callbacks, _Hang(flag, 12)], **k)
    RunStore(root).run_one(FIT)


def _wait_for(path: Path, proc, timeout: float = 60) -> None:
    t0 = time.time()
    while not path.exists():
        assert proc.is_alive(), f"child exited early with status {proc.exitcode}"
        assert time.time() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.02)


# ------------------------------------------------------------------ concurrency
def test_two_processes_racing_for_one_key_compute_it_once(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    barrier = SPAWN.Barrier(2)
    procs = [SPAWN.Process(target=_race_child, args=(str(tmp_path / "runs"), barrier, str(logs))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert len(list(logs.glob("compute-*"))) == 1              # computed once
    results = [json.loads(f.read_text()) for f in logs.glob("result-*")]
    assert len(results) == 2 and results[0] == results[1]     # both got the same entry
    store = RunStore(tmp_path / "runs")
    assert store.problems(store.entry_dir(FIT)) == []
    assert not list(store.entry_dir(FIT).parent.glob(".tmp-*"))   # no temporary folder left behind


def test_killed_worker_is_resumed_from_its_checkpoint(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    flag = tmp_path / "at-step-12"
    p = SPAWN.Process(target=_killed_child, args=(str(root), str(flag)))
    p.start()
    _wait_for(flag, p)
    store = RunStore(root, lock_timeout=30)
    ck = store.work_dir(FIT) / "checkpoint.pt"
    assert torch.load(ck, weights_only=False)["step"] == 10        # checkpoint_every = 5: steps 5 and 10
    os.kill(p.pid, signal.SIGKILL)                                  # killed while holding the key's lock
    p.join(30)
    assert p.exitcode == -signal.SIGKILL
    assert not store.is_done(FIT)

    F = sys.modules["oes.fit"]       # (the package attribute oes.fit is the function)

    starts = []
    real = F.fit

    def spy(*a, checkpoint=None, **k):
        starts.append(torch.load(checkpoint, weights_only=False)["step"] if Path(checkpoint).exists() else 0)
        return real(*a, checkpoint=checkpoint, **k)

    monkeypatch.setattr(F, "fit", spy)
    resumed = store.run_one(FIT)                       # the OS released the dead process's lock
    assert starts == [10]
    assert resumed.result["steps"] == 30 and not ck.parent.exists()
    h = resumed.history
    assert h["step"].tolist() == list(range(30))       # continuous: one row per step, none twice
    monkeypatch.setattr(F, "fit", real)
    straight = RunStore(tmp_path / "other").run_one(FIT)
    pd.testing.assert_frame_equal(h, straight.history)           # resuming is exact
    assert torch.equal(resumed.output, straight.output)


# ------------------------------------------------------------------ corruption
def test_corrupted_entries_are_reported_and_recomputed(tmp_path, capsys):
    from oes.cli import main

    root = tmp_path / "runs"
    sparse = RunSpec("astronaut", SIZE, TINY, FitConfig(steps=4, record_every=1), method="sparse", mask=MASK)
    (rec,) = execute([sparse], root=root, progress=False)
    out0, hist0 = rec.output.clone(), rec.history
    store = RunStore(root)
    assert main(["runs", "verify", "--root", str(root)]) == 0
    capsys.readouterr()

    (rec.dir / "output.pt").write_bytes(b"not a torch file")          # truncated / overwritten
    mdir = store.entry_dir(MASK)
    raw = bytearray((mdir / "mask.pt").read_bytes())
    raw[len(raw) // 2] ^= 0xFF                                          # one flipped byte, same size
    (mdir / "mask.pt").write_bytes(bytes(raw))
    assert main(["runs", "verify", "--root", str(root)]) == 1
    out = capsys.readouterr()
    bad = [line for line in out.out.splitlines() if line.startswith("bad: ")]
    assert len(bad) == 2
    assert any("output.pt" in line and "bytes" in line for line in bad)
    assert any("mask.pt" in line and "md5" in line for line in bad)

    (again,) = execute([sparse], root=root, progress=False)             # recomputed, never trusted
    err = capsys.readouterr().err
    assert "corrupt" in err and "recomputing" in err
    assert store.problems(again.dir) == [] and store.problems(mdir) == []
    assert torch.equal(again.output, out0)
    pd.testing.assert_frame_equal(again.history, hist0)

    (again.dir / "result.json").write_text("{not json")
    assert main(["runs", "verify", "--root", str(root)]) == 1
    assert "result.json unreadable" in capsys.readouterr().out
    assert main(["runs", "verify", "--root", str(root), "--fix"]) == 0
    assert not again.dir.exists() and store.entry_dir(MASK).exists()
    assert main(["runs", "verify", "--root", str(root)]) == 0


def test_runs_ls_lists_entries(tmp_path, capsys):
    from oes.cli import main

    root = tmp_path / "runs"
    execute([FIT], root=root, progress=False)
    assert main(["runs", "ls", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("fit ")]
    assert len(row) == 1 and spec_key(FIT) in row[0] and "dense" in row[0] and "astronaut" in row[0]
    assert row[0].rstrip().endswith("done")


# ------------------------------------------------------------------ threads and keys
def test_results_do_not_depend_on_the_callers_thread_count(tmp_path, monkeypatch):
    import oes.learn as L

    seen = []
    real = L.learn_mask

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    monkeypatch.setattr(L, "learn_mask", spy)
    sparse = RunSpec("astronaut", SIZE, TINY, FitConfig(steps=6, record_every=1), method="sparse", mask=MASK)
    old = torch.get_num_threads()
    try:
        out = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            (rec,) = execute([sparse], root=tmp_path / f"t{n}", progress=False)
            out[n] = (RunStore(tmp_path / f"t{n}").get_mask(MASK), rec.history)
            assert torch.get_num_threads() == n                  # the caller's setting is restored
    finally:
        torch.set_num_threads(old)
    assert seen == [1, 1]                                         # every task ran at OES_THREADS = 1
    assert torch.equal(out[1][0].flat(), out[2][0].flat())
    pd.testing.assert_frame_equal(out[1][1], out[2][1])


def test_fixed_threads_and_thread_count_in_keys(monkeypatch):
    old = torch.get_num_threads()
    with fixed_threads(2) as n:
        assert n == 2 and torch.get_num_threads() == 2
    assert torch.get_num_threads() == old
    k1 = spec_key(FIT)
    monkeypatch.setenv("OES_THREADS", "2")
    assert spec_key(FIT) != k1 and spec_key(FIT, threads=1) == k1
    assert RunStore("x").threads == 2
    monkeypatch.setenv("OES_THREADS", "two")
    with pytest.raises(ValueError, match="OES_THREADS"):
        spec_key(FIT)


def test_instruction_set_is_part_of_a_cpu_key():
    """The same spec rounds differently under AVX2 and AVX-512 (docs/calibration.md §12): a CPU key names
    the instruction set unless it is AVX2 (the keys of AVX2 stores are unchanged); a GPU key does not."""
    from oes.experiments.specs import cpu_capability
    k = spec_key(FIT, isa="avx2")
    assert spec_key(FIT, isa="avx512") != k and spec_key(FIT, isa="default") != k
    assert spec_key(FIT) == spec_key(FIT, isa=cpu_capability())
    assert spec_key(FIT, device="cuda", isa="avx2") == spec_key(FIT, device="cuda", isa="avx512")


def test_kernel_environment_is_part_of_a_cpu_key(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 changes an AVX-512 CPU's convolutions, and so a run's numbers, while the
    instruction set that ATen reports stays the same (docs/calibration.md §14): a CPU key names such
    variables when they are set, and result.json records them; a plain environment keeps its keys."""
    from oes.experiments.specs import ROUNDING_ENV, rounding_env
    for var in ROUNDING_ENV:
        monkeypatch.delenv(var, raising=False)
    plain = spec_key(FIT)
    assert rounding_env() == {} and spec_key(FIT, env={}) == plain
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert rounding_env() == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    capped = spec_key(FIT)
    assert capped != plain and capped == spec_key(FIT, env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    assert spec_key(FIT) not in (plain, capped)
    assert spec_key(FIT, device="cuda") == spec_key(FIT, device="cuda", env={})   # a GPU key does not


def test_store_records_the_kernel_environment(monkeypatch, tmp_path):
    from oes.experiments.specs import ROUNDING_ENV
    for var in ROUNDING_ENV:
        monkeypatch.delenv(var, raising=False)
    (rec,) = execute([FIT], root=tmp_path / "plain", progress=False)
    assert "rounding_env" not in rec.result
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")      # MKL reads it at its first call: numbers may not follow
    (rec,) = execute([FIT], root=tmp_path / "set", progress=False)
    assert rec.result["rounding_env"] == {"MKL_CBWR": "COMPATIBLE"} and rec.result["key"] == spec_key(FIT)


def test_algorithm_versions_are_part_of_the_key(monkeypatch, tmp_path):
    sparse = RunSpec("astronaut", SIZE, TINY, FitConfig(steps=2), method="sparse", mask=MASK)
    before = spec_key(sparse), spec_key(MASK), spec_key(FIT)
    monkeypatch.setitem(M.MASK_METHODS, "oes", M.Method(M.MASK_METHODS["oes"].ref, 2))
    after = spec_key(sparse), spec_key(MASK), spec_key(FIT)
    assert after[0] != before[0] and after[1] != before[1]    # the mask's method, recursively
    assert after[2] == before[2]                               # a dense run does not involve OES
    store = RunStore(tmp_path)
    assert store.entry_dir(MASK).parent == tmp_path / "v2" / "masks"


def test_store_result_records_provenance(tmp_path):
    (rec,) = execute([FIT], root=tmp_path, progress=False)
    r = rec.result
    assert r["threads"] == 1 and r["versions"] == {"fit:dense": 1} and r["torch"] == torch.__version__
    assert r["cpu_capability"] == torch.backends.cpu.get_cpu_capability()      # e.g. "avx2", "avx512"
    assert r["key"] == spec_key(FIT) and "batch" not in r
    assert set(r["files"]) == {"spec.json", "history.csv", "output.pt"}
