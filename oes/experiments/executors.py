r"""How and where runs are executed: tasks of a DAG handed to one of three executors.

A list of specs becomes **tasks** (:func:`build_tasks`): every spec not already stored, plus
what it needs (a run's mask, a mask's source run), each once.  A task depends on the tasks of
its specs' dependencies and is submitted as soon as they are done (futures, not a barrier).
Compatible specs (:func:`batch_key`) are grouped into one task of up to ``batch`` specs,
chunked deterministically (sorted by key; the grouping does not depend on the number of
workers or cores) and run by :func:`run_batch`.

Executors share one protocol (``submit(fn, *args) -> future``, ``wait(futures) -> done``,
``close()``):

* ``local`` — in this process, one task after another (:class:`LocalExecutor`);
* ``processes`` — a :class:`concurrent.futures.ProcessPoolExecutor` with the spawn context,
  ``workers`` processes (default: the number of cores) (:class:`ProcessExecutor`);
* ``dask`` — a :class:`distributed.Client`: a ``LocalCluster(n_workers, threads_per_worker=1,
  processes=True)`` by default, or a running scheduler at ``scheduler`` (:class:`DaskExecutor`;
  ``pip install 'oes[dask]'``; see ``docs/cluster.md`` for SLURM).

Every task fixes its intra-op threads (:func:`~oes.experiments.specs.fixed_threads`), so all
executors give the same numbers, bit for bit.  :func:`execute` is what notebooks call; it
takes the executor from ``$OES_EXECUTOR`` (with ``$OES_WORKERS``, ``$OES_SCHEDULER``,
``$OES_BATCH``) when none is given.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as _futures_wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import pandas as pd

from ..masks import Mask
from .specs import MaskSpec, RunSpec, canonical_json, fixed_threads, spec_dependencies, threads_setting
from .store import RunRecord, RunStore, build_problem_inputs

__all__ = ["Task", "Executor", "LocalExecutor", "ProcessExecutor", "DaskExecutor", "EXECUTORS", "make_executor",
           "batch_key", "build_tasks", "run_batch", "run_tasks", "execute", "execute_masks", "execute_specs",
           "get_mask", "mask_record", "run_one", "results_frame", "default_workers", "spec_steps", "TaskError"]

EXECUTORS = ("local", "processes", "dask")

#: fit methods that are plain :func:`oes.fit.fit` calls (no callbacks): batchable
BATCH_FIT_METHODS = ("dense", "sparse", "decoder")


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------ tasks
def batch_key(spec) -> tuple | None:
    """What must be equal for specs to train together in one batched task; ``None``: run alone.

    Fits: method dense / sparse / decoder (no callbacks), the same generator, size, operator kind
    (and MRI coil count) and the same :class:`~oes.fit.FitConfig` except ``steps``.  Masks: OES
    with the same generator, size, operator kind and the same :class:`~oes.learn.MaskConfig`
    (``learn_mask_batch`` takes one config).
    """
    if isinstance(spec, RunSpec):
        if spec.method not in BATCH_FIT_METHODS:
            return None
        fit_cfg = {k: v for k, v in json.loads(canonical_json(spec.fit)).items() if k != "steps"}
        return ("fit", canonical_json(spec.generator), spec.size, spec.operator, spec.op_params.get("n_coils"),
                json.dumps(fit_cfg, sort_keys=True))
    if isinstance(spec, MaskSpec):
        if spec.method != "oes" or spec.source_run is not None:
            return None
        return ("mask", canonical_json(spec.generator), spec.size, spec.operator, spec.op_params.get("n_coils"),
                json.dumps(spec.params, sort_keys=True, default=str))
    raise TypeError(f"expected a RunSpec or MaskSpec, got {type(spec).__name__}")


def spec_steps(spec) -> int:
    """Optimisation steps a spec costs (fit steps; OES steps; IMP rounds × steps; 0 for one-shot pruners)."""
    if isinstance(spec, RunSpec):
        return int(spec.fit.steps)
    p = spec.params
    if spec.method == "oes":
        from ..learn import MaskConfig

        return int(p.get("steps", MaskConfig().steps))
    if spec.method == "imp":
        from ..imp import imp_densities, parse_schedule

        keep, rounds = p.get("keep_per_round", 0.8), p.get("rounds", 14)
        if "schedule" in p:
            keep, rounds = parse_schedule(p["schedule"])
            rounds = p.get("rounds", rounds)
        stop = p.get("stop_step")
        per_round = int(stop) if isinstance(stop, int) and not isinstance(stop, bool) else int(p.get("train_steps", 40_000))
        try:
            n = len(imp_densities(rounds, keep, p.get("sparsity", 0.05)))
        except ValueError:
            n = int(rounds)
        return n * per_round
    return 0


@dataclass
class Task:
    """Specs executed together (one spec, or a batch of compatible ones) and the tasks they wait for."""

    kind: str                      # "mask" | "fit"
    specs: list
    keys: list[str]
    deps: set[int] = field(default_factory=set)

    @property
    def steps(self) -> int:
        return sum(spec_steps(s) for s in self.specs)

    def label(self) -> str:
        s = self.specs[0]
        more = f" +{len(self.specs) - 1}" if len(self.specs) > 1 else ""
        return f"{self.kind} {s.method} {s.image} seed {s.seed}{more}"


def build_tasks(specs: Iterable[Any], store: RunStore, batch: int = 1, workers: int = 1) -> list[Task]:
    """The tasks that store ``specs``: each spec not yet stored and its unstored dependencies, once
    each (by key), grouped into batches of ≤ ``batch`` compatible specs; in dependency order.

    A group of n compatible specs is cut into batches of ``batch`` (the last one smaller) or, when that
    makes fewer batches than ``min(workers, n)``, into that many batches of near-equal size: a small
    group is shared by the ``workers`` instead of filling one batch while the other workers wait for it
    (the masks every later run depends on, whose λ searches last as long as their slowest member). The
    numbers do not depend on the cut (a member's results are its solo results, ``oes.batched``)."""
    batch = max(1, int(batch or 1))
    workers = max(1, int(workers or 1))
    nodes: dict[str, Any] = {}
    deps: dict[str, list[str]] = {}
    order: list[str] = []

    def visit(s) -> None:
        k = store.key(s)
        if k in nodes:
            return
        if store.is_done(s) and not store.problems(store.entry_dir(s), full=False):
            return
        nodes[k] = s
        deps[k] = []
        for d in spec_dependencies(s):
            visit(d)
            dk = store.key(d)
            if dk in nodes:
                deps[k].append(dk)
        order.append(k)               # after its dependencies: a topological order

    for s in specs:
        visit(s)
    # level: how many run → mask hops lie below a spec (a mask read from a run is one level above it).
    # Batches hold specs of one kind and one level; tasks ordered by (level, masks before fits) respect
    # every dependency, so a batch never waits on a member of itself and dense and sparse runs still
    # share batches.
    level: dict[str, int] = {}
    for k in order:
        s = nodes[k]
        below = [level.get(store.key(d), 0) for d in spec_dependencies(s)]
        level[k] = (below[0] + 1 if below else 0) if isinstance(s, MaskSpec) else max(below, default=0)
    rank = {k: (level[k], isinstance(nodes[k], RunSpec)) for k in order}
    position = {k: i for i, k in enumerate(order)}
    groups: dict[tuple, list[str]] = defaultdict(list)
    singles: list[str] = []
    for k in order:
        bk = batch_key(nodes[k]) if batch > 1 else None
        if bk is None:
            singles.append(k)
        else:
            groups[(rank[k], bk)].append(k)
    chunks: list[list[str]] = [[k] for k in singles]
    for members in groups.values():
        members = sorted(members)
        if -(-len(members) // batch) >= min(workers, len(members)):      # enough batches of `batch`
            chunks += [members[i:i + batch] for i in range(0, len(members), batch)]
            continue
        parts = min(workers, len(members))
        size, extra = divmod(len(members), parts)
        start = 0
        for i in range(parts):              # one near-equal part per worker, the first `extra` one larger
            stop = start + size + (i < extra)
            chunks.append(members[start:stop])
            start = stop
    chunks.sort(key=lambda c: (rank[c[0]], min(position[k] for k in c)))
    task_of = {k: i for i, c in enumerate(chunks) for k in c}
    tasks = []
    for i, c in enumerate(chunks):
        specs_c = [nodes[k] for k in c]
        kind = "fit" if isinstance(specs_c[0], RunSpec) else "mask"
        tasks.append(Task(kind, specs_c, list(c), {task_of[d] for k in c for d in deps[k]} - {i}))
    return tasks


# ------------------------------------------------------------------ running one task
def _batched_module():
    """``oes.batched`` when it exists (the vectorised training of issue 11, part 3), else None."""
    try:
        return importlib.import_module("oes.batched")
    except ModuleNotFoundError as e:
        if e.name not in ("oes.batched",):
            raise
        return None


def run_batch(specs: Sequence[Any], store: RunStore, progress: bool | None = False) -> list[str]:
    """Store every spec of one task; returns their keys.

    One spec, or no :mod:`oes.batched`: the solo path (:meth:`RunStore.ensure`, one by one).
    Several compatible specs (same :func:`batch_key`): their dependencies are loaded, the
    members' locks taken (in key order, so two workers never deadlock), members already stored
    dropped, and the rest trained together by ``oes.batched.fit_batch`` /
    ``learn_mask_batch``; each result is written by the same store functions as a solo run
    (:meth:`RunStore.write_fit` / :meth:`RunStore.write_mask`), with the batch recorded.
    """
    specs = list(specs)
    batched = _batched_module() if len(specs) > 1 else None
    if batched is None:
        # TODO(issue 11, integration of oes/batched.py): once oes/batched.py is merged this branch is
        # taken only for single specs; until then a batch of several specs runs solo, one by one.
        for s in specs:
            store.ensure(s, progress)
        return [store.key(s) for s in specs]
    keys = {id(s): store.key(s) for s in specs}
    if len({batch_key(s) for s in specs}) != 1 or batch_key(specs[0]) is None:
        raise ValueError("run_batch: the specs of one batch must share one batch_key (see oes.experiments.executors)")
    is_fit = isinstance(specs[0], RunSpec)
    masks = {id(s): store.get_mask(s.mask, progress) for s in specs if is_fit and s.mask is not None}
    with contextlib.ExitStack() as stack:
        for s in sorted(specs, key=lambda s: keys[id(s)]):
            stack.enter_context(store.lock(s))
        todo = [s for s in specs if not store._intact(s)]
        if len(todo) <= 1:
            for s in todo:
                store.ensure(s, progress)
            return [keys[id(s)] for s in specs]
        members = [keys[id(s)] for s in todo]
        with fixed_threads(store.threads):
            inputs = [build_problem_inputs(s, store.device) for s in todo]
            problems = [p for p, _, _ in inputs]
            nets = [n for _, n, _ in inputs]
            zs = [z for _, _, z in inputs]
            common = dict(x_trues=[p.x for p in problems], seeds=[s.seed for s in todo],
                          to_images=[p.to_image for p in problems], progress=progress,
                          desc=f"{todo[0].method} ×{len(todo)}")
            if is_fit:
                results = batched.fit_batch(nets, zs, [p.y for p in problems], [p.operator for p in problems],
                                            cfgs=[s.fit for s in todo], masks=[masks.get(id(s)) for s in todo],
                                            checkpoints=[store.checkpoint(s) for s in todo], **common)
            else:
                from ..learn import MaskConfig

                results = batched.learn_mask_batch(nets, zs, [p.y for p in problems], [p.operator for p in problems],
                                                   cfg=MaskConfig(**todo[0].params), **common)
        if len(results) != len(todo):
            raise RuntimeError(f"oes.batched returned {len(results)} results for {len(todo)} specs")
        for s, res in zip(todo, results):
            if is_fit:
                store.write_fit(s, res, masks.get(id(s)), batch=members)
            else:
                store.write_mask(s, res.mask, {"history": res.history, "logits": res.logits, "seconds": res.seconds},
                                 batch=members)
    return [keys[id(s)] for s in specs]


def run_task(specs: Sequence[Any], root: str, threads: int, lock_timeout: float = -1, device: str = "cpu") -> dict:
    """The function executors run (top-level, so worker processes can unpickle it)."""
    t0 = time.perf_counter()
    store = RunStore(root, threads=threads, lock_timeout=lock_timeout, device=device)
    keys = run_batch(specs, store, progress=False)
    return {"keys": keys, "seconds": time.perf_counter() - t0, "pid": os.getpid()}


# ------------------------------------------------------------------ executors
class Executor(Protocol):
    """Runs functions somewhere: ``submit`` returns a future, ``wait`` returns the futures done."""

    name: str
    workers: int

    def submit(self, fn: Callable, *args) -> Any: ...

    def wait(self, futures: Sequence[Any]) -> set: ...

    def close(self) -> None: ...


class LocalExecutor:
    """In this process, one task at a time, in submission order."""

    name = "local"
    workers = 1

    def __init__(self, progress: bool | None = None):
        self.progress = progress
        self._queue: list[tuple[Future, Callable, tuple]] = []

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self._queue.append((fut, fn, args))
        return fut

    def wait(self, futures):
        wanted = set(futures)
        done = {f for f in wanted if f.done()}
        if done:
            return done
        for i, (fut, fn, args) in enumerate(self._queue):
            if fut in wanted:
                del self._queue[i]
                try:
                    fut.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    fut.set_exception(e)
                return {fut}
        raise RuntimeError("LocalExecutor.wait: none of these futures was submitted here")

    def close(self) -> None:
        self._queue.clear()


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessExecutor:
    """A pool of ``workers`` spawned processes (default: the number of cores), each fixing its threads."""

    name = "processes"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = int(workers or default_workers())
        if self.workers < 1:
            raise ValueError(f"--workers must be ≥ 1, got {workers}")
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(threads_setting(threads),))

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def wait(self, futures):
        done, _ = _futures_wait(list(futures), return_when=FIRST_COMPLETED)
        return done

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """A :mod:`distributed` client: a new ``LocalCluster`` of ``workers`` processes (one thread each),
    or the running scheduler at ``scheduler`` (e.g. ``tcp://10.0.0.5:8786`` or a scheduler file)."""

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        try:
            import distributed
        except ImportError:
            raise ValueError("--executor dask needs dask.distributed: pip install 'oes[dask]'") from None
        import logging

        self._distributed = distributed
        self.cluster = None
        if scheduler:
            if scheduler.endswith(".json") and Path(scheduler).is_file():
                self.client = distributed.Client(scheduler_file=scheduler)
            else:
                self.client = distributed.Client(scheduler)
            self.workers = len(self.client.scheduler_info().get("workers", {})) or 1
        else:
            self.workers = int(workers or default_workers())
            self.cluster = distributed.LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                    dashboard_address=None, silence_logs=logging.ERROR)
            self.client = distributed.Client(self.cluster)

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait(self, futures):
        done, _ = self._distributed.wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(name: str | None = None, workers: int | None = None, scheduler: str | None = None,
                  progress: bool | None = None) -> Executor:
    """``local`` | ``processes`` | ``dask``; ``None``: ``$OES_EXECUTOR`` (default ``local``).
    ``workers`` default ``$OES_WORKERS`` or the number of cores; ``scheduler`` default ``$OES_SCHEDULER``."""
    name = name or os.environ.get("OES_EXECUTOR") or "local"
    if workers is None and os.environ.get("OES_WORKERS"):
        workers = int(os.environ["OES_WORKERS"])
    scheduler = scheduler or os.environ.get("OES_SCHEDULER") or None
    if name == "local":
        return LocalExecutor(progress)
    if name == "processes":
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(workers, scheduler)
    raise ValueError(f"unknown executor {name!r}; use one of: {', '.join(EXECUTORS)} (--executor or $OES_EXECUTOR)")


# ------------------------------------------------------------------ the DAG driver and its progress bar
class TaskError(RuntimeError):
    """Some tasks failed (their dependents were skipped); the message names the first failure."""


class PlanProgress:
    """One progress bar for a whole plan: runs done / total, runs/s, ETA (tqdm on a terminal); when
    stderr is not a terminal and ``log_lines``, a plain line every ~30 s or every 5 %."""

    def __init__(self, total: int, n_tasks: int, desc: str, progress: bool | None = None, log_lines: bool = False,
                 interval: float = 30.0, stream=None):
        from tqdm import tqdm

        self.total, self.n_tasks, self.desc = total, n_tasks, desc
        self.done = self.tasks_done = 0
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr
        tty = getattr(self.stream, "isatty", lambda: False)()
        show = tty if progress is None else bool(progress)
        self.bar = tqdm(total=total, desc=desc, unit="run", dynamic_ncols=True, file=self.stream) \
            if (show and tty) else None
        self.lines = log_lines and self.bar is None
        self.interval, self._last_t, self._last_pct = interval, self.t0, 0

    def update(self, runs: int, tasks: int = 1) -> None:
        self.done += runs
        self.tasks_done += tasks
        if self.bar is not None:
            self.bar.set_postfix_str(f"tasks {self.tasks_done}/{self.n_tasks}", refresh=False)
            self.bar.update(runs)
        elif self.lines:
            now = time.perf_counter()
            pct = int(100 * self.done / max(1, self.total))
            if now - self._last_t >= self.interval or pct // 5 > self._last_pct // 5 or self.done == self.total:
                self._last_t, self._last_pct = now, pct
                print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        el = time.perf_counter() - self.t0
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (f"{self.desc}: {self.done}/{self.total} runs ({100 * self.done / max(1, self.total):.0f} %), "
                f"tasks {self.tasks_done}/{self.n_tasks}, {rate:.2f} runs/s, elapsed {_hms(el)}, ETA {_hms(eta)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _hms(s: float) -> str:
    if s != s:
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def run_tasks(tasks: Sequence[Task], executor: Executor, store: RunStore, progress: bool | None = None,
              desc: str = "runs", log_lines: bool = False) -> dict:
    """Run a DAG of tasks: each is submitted once all its dependencies are done. A failed task's
    dependents are skipped, the others still run; then :class:`TaskError` names the failure."""
    waiting = {i: set(t.deps) for i, t in enumerate(tasks)}
    dependents: dict[int, list[int]] = defaultdict(list)
    for i, t in enumerate(tasks):
        for d in t.deps:
            dependents[d].append(i)
    ready = [i for i, w in waiting.items() if not w]
    running: dict[Any, int] = {}
    failed: dict[int, BaseException] = {}
    skipped: set[int] = set()
    bar = PlanProgress(sum(len(t.specs) for t in tasks), len(tasks), desc, progress, log_lines)
    root = str(store.root)
    try:
        while ready or running:
            for i in ready:
                running[executor.submit(run_task, tasks[i].specs, root, store.threads, store.lock_timeout,
                                        store.device)] = i
            ready = []
            for fut in executor.wait(list(running)):
                i = running.pop(fut)
                try:
                    fut.result()
                except Exception as e:  # noqa: BLE001 - reported below, dependents skipped
                    failed[i] = e
                    stack = list(dependents[i])
                    while stack:
                        j = stack.pop()
                        if j not in skipped:
                            skipped.add(j)
                            stack.extend(dependents[j])
                    bar.update(0, 1)
                    continue
                bar.update(len(tasks[i].specs))
                for j in dependents[i]:
                    waiting[j].discard(i)
                    if not waiting[j] and j not in skipped:
                        ready.append(j)
    finally:
        bar.close()
    if failed:
        i, e = next(iter(failed.items()))
        raise TaskError(f"{len(failed)} task(s) failed, {len(skipped)} skipped; first: {tasks[i].label()}: "
                        f"{type(e).__name__}: {e}") from e
    return {"tasks": len(tasks), "runs": sum(len(t.specs) for t in tasks), "seconds": time.perf_counter() - bar.t0}


# ------------------------------------------------------------------ what notebooks call
def _batch_setting(batch: int | None) -> int:
    if batch is None:
        raw = os.environ.get("OES_BATCH", "1")
        try:
            batch = int(raw)
        except ValueError:
            raise ValueError(f"OES_BATCH={raw!r} is not an integer (the most specs trained together)") from None
    if int(batch) < 1:
        raise ValueError(f"--batch must be ≥ 1, got {batch}")
    return int(batch)


def execute_specs(specs: Sequence[Any], root: str | os.PathLike | None = None, executor: Executor | str | None = None,
                  progress: bool | None = None, desc: str = "runs", batch: int | None = None,
                  workers: int | None = None, log_lines: bool = False, quiet: bool = False) -> dict:
    """Store every spec (RunSpec or MaskSpec) and what it needs through ``executor``; returns counts."""
    store = RunStore(root)
    specs = list(specs)
    t0 = time.perf_counter()
    batch = _batch_setting(batch)
    own = not hasattr(executor, "submit")
    ex = make_executor(executor, workers, progress=progress) if own else executor
    try:
        tasks = build_tasks(specs, store, batch, getattr(ex, "workers", 1))
        if tasks:
            run_tasks(tasks, ex, store, progress, desc, log_lines)
    finally:
        if own:
            ex.close()
    return {"tasks": len(tasks), "computed": sum(len(t.specs) for t in tasks), "seconds": time.perf_counter() - t0,
            "store": store}


def _grid(specs, root, executor, progress, desc, noun, verb, batch):
    specs = list(specs)
    store = RunStore(root)
    done = sum(store.is_done(s) for s in specs)
    info = execute_specs(specs, root, executor, progress, desc, batch)
    print(f"{desc}: {len(specs)} {noun} ({done} already stored, {len(specs) - done} {verb}) "
          f"in {info['seconds']:.1f} s")
    return store


def execute(specs: Iterable[RunSpec], root: str | os.PathLike | None = None, executor: Executor | str | None = None,
            progress: bool | None = None, desc: str = "runs", batch: int | None = None) -> list[RunRecord]:
    """Run every spec not already stored (and the masks they need); return their records in order.

    ``executor``: an executor, a name (``local`` | ``processes`` | ``dask``) or ``None`` for
    ``$OES_EXECUTOR``.  Prints one line summarising how many runs were already stored.
    """
    store = _grid(specs := list(specs), root, executor, progress, desc, "runs", "executed", batch)
    return [store.run_one(s) for s in specs]


def execute_masks(specs: Iterable[MaskSpec], root: str | os.PathLike | None = None,
                  executor: Executor | str | None = None, progress: bool | None = None, desc: str = "masks",
                  batch: int | None = None) -> list[Mask]:
    """Build (or load) every mask spec through the executor; return the masks in order."""
    store = _grid(specs := list(specs), root, executor, progress, desc, "masks", "built", batch)
    return [store.get_mask(s) for s in specs]


def run_one(spec: RunSpec, root: str | os.PathLike | None = None, progress: bool | None = None) -> RunRecord:
    """Run (or load) one spec in this process; idempotent."""
    return RunStore(root).run_one(spec, progress)


def get_mask(spec: MaskSpec, root: str | os.PathLike | None = None, progress: bool | None = None) -> Mask:
    """The mask described by ``spec``: loaded from the store, or built and stored in this process."""
    return RunStore(root).get_mask(spec, progress)


def mask_record(spec: MaskSpec, root: str | os.PathLike | None = None) -> dict:
    """Stored extras of a mask: ``dir``, ``result``, ``mask``, ``history`` (DataFrame) and ``logits`` (if any)."""
    return RunStore(root).mask_record(spec)


def results_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in records])
