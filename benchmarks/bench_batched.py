"""Batched training benchmark (issue 11, part 5): N runs one after another vs N runs in one batch.

Prints tables and writes the figures as JSON (default ``docs/benchmark_batched.json``). Every figure
is a time per *run-step* (one training or mask-learning step of one run; throughput = 1000 / ms) and
every ratio compares against a reference measured in the same run:

* ``fit`` and ``mask`` at the ``quick`` preset (64², hourglass [8, 16, 32, 64]), N = 1, 4, 16:
  ``sequential`` — ``oes.fit.fit`` / ``oes.learn.learn_mask`` once per run, one after another, at 2
  threads (today's in-process executor; its rate does not depend on N, so it is measured on
  min(N, 4) runs) — the reference; ``batched@1`` and ``batched@2`` — ``oes.batched.fit_batch`` /
  ``learn_mask_batch`` of the N runs at 1 and 2 threads. Issue 11's goal: batched@2 ≥ 1.5 ×
  sequential at N = 16 on 2 CPU cores (≥ 10 × on a GPU).
* the paper's network (hourglass [16 … 128], 3.0 M parameters) at 256², N = 1, 4, both loops.
* ``fwd+bwd``: one forward and backward of N = 16 quick networks — N separate networks, ``torch.func.vmap``
  over ``functional_call``, one grouped call per layer (``exact=False``), and the exact mode (each
  layer grouped only where that is bit-identical to the separate calls) — at 1 and 2 threads: the
  choice between vmap and grouped convolutions.
* ``--agreement``: how far a batched run ends from the same run alone after the quick preset's full
  horizons (2,000 training steps, 1,500 mask steps), in the exact mode and with plain grouped
  convolutions, and — for scale — how far the solo run itself moves between 1 and 2 threads.

Set-up costs (building networks, the exact mode's per-layer check) cancel: each figure is
(t(k₂ steps) − t(k₁ steps)) / (k₂ − k₁), the smallest of ``--repeat`` measurements. Times on a
machine shared with other jobs are noisy; compare the ratios, and rerun alone for claimed numbers.

    python benchmarks/bench_batched.py                       # CPU, all timing sections
    python benchmarks/bench_batched.py --sections fit --ns 1 4
    python benchmarks/bench_batched.py --agreement --sections  # only the long-horizon agreement
    python benchmarks/bench_batched.py --device cuda           # on a GPU (threads do not apply)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # measure the oes of this checkout

import numpy as np
import torch
from torch.func import functional_call, vmap

from oes.batched import StackedGenerator, fit_batch, learn_mask_batch
from oes.fit import FitConfig, fit
from oes.generators import build_generator, make_input
from oes.learn import MaskConfig, learn_mask
from oes.masks import mask_agreement
from oes.presets import get_preset
from oes.experiments import make_problem

QUICK, PAPER = get_preset("quick"), get_preset("paper")
IMAGES = ("astronaut", "chelsea", "camera", "coffee")
NO_RECORD = 10 ** 9


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


class Members:
    """N denoising problems at one size (images and seeds cycle), their inputs and network seeds."""

    def __init__(self, gcfg, size, n, device):
        self.gcfg, self.size, self.n, self.device = gcfg, size, n, device
        probs = [make_problem(IMAGES[i % len(IMAGES)], size, "denoising", QUICK.sigma, seed=i) for i in range(n)]
        self.ys = [p.y.to(device) for p in probs]
        self.xs = [p.x.to(device) for p in probs]
        self.ops = [p.operator.to(device) for p in probs]
        self.zs = [make_input(gcfg, size, i, device) for i in range(n)]

    def nets(self, n=None):
        return [build_generator(self.gcfg, i, self.device) for i in range(n or self.n)]


def _timed(fn, k, device):
    _sync(device)
    t = time.perf_counter()
    fn(k)
    _sync(device)
    return time.perf_counter() - t


def per_step(fns, k1, k2, repeat, device):
    """Seconds per call-step of each ``(fn, threads)`` in ``fns``: (t(k2) − t(k1)) / (k2 − k1), best of
    ``repeat`` rounds. The candidates are measured in turn within each round, so a burst of load from
    another process hits all of them alike. NaN when no round gave t(k2) > t(k1) (too busy to measure)."""
    old = torch.get_num_threads()

    def timed(fn, threads, k):
        if threads and device.type == "cpu":
            torch.set_num_threads(threads)
        try:
            return _timed(fn, k, device)
        finally:
            torch.set_num_threads(old)

    for fn, threads in fns:
        timed(fn, threads, 1)                      # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for j, (fn, threads) in enumerate(fns):
            t1, t2 = timed(fn, threads, k1), timed(fn, threads, k2)
            if t2 > t1:
                best[j] = min(best[j], (t2 - t1) / (k2 - k1))
    return [b if b < float("inf") else float("nan") for b in best]


def fit_runners(m: Members, n):
    def sequential(k):
        for i in range(min(n, 4)):
            fit(build_generator(m.gcfg, i, m.device), m.zs[i], m.ys[i], m.ops[i],
                cfg=replace(QUICK.fit, steps=k, record_every=NO_RECORD, checkpoint_every=0), seed=i, progress=False)

    def batched(k):
        fit_batch(m.nets(n), m.zs[:n], m.ys[:n], m.ops[:n], cfgs=replace(QUICK.fit, steps=k, record_every=NO_RECORD,
                  checkpoint_every=0), seeds=list(range(n)), progress=False)
    return sequential, batched, min(n, 4)


def mask_runners(m: Members, n):
    cfg = replace(QUICK.mask, record_every=NO_RECORD, check_every=NO_RECORD, stop_stable=None)

    def sequential(k):
        for i in range(min(n, 4)):
            learn_mask(build_generator(m.gcfg, i, m.device), m.zs[i], m.ys[i], m.ops[i], cfg=replace(cfg, steps=k),
                       seed=i, progress=False)

    def batched(k):
        learn_mask_batch(m.nets(n), m.zs[:n], m.ys[:n], m.ops[:n], cfg=replace(cfg, steps=k), seeds=list(range(n)),
                         progress=False)
    return sequential, batched, min(n, 4)


def throughput(section, gcfg, size, ns, steps, repeat, device, batched_threads):
    rows = []
    members = Members(gcfg, size, max(ns), device)
    k1, k2 = steps
    for n in ns:
        seq, bat, n_seq = (fit_runners if section.startswith("fit") else mask_runners)(members, n)
        times = per_step([(seq, 2)] + [(bat, th) for th in batched_threads], k1, k2, repeat, device)
        row = {"section": section, "size": size, "N": n, "sequential_ms": 1e3 * times[0] / n_seq}
        for th, t in zip(batched_threads, times[1:]):
            label = f"@{th}" if th else ""
            row[f"batched{label}_ms"] = 1e3 * t / n
            row[f"speedup{label}"] = row["sequential_ms"] / row[f"batched{label}_ms"]
        rows.append(row)
        cells = " ".join(f"{row[f'batched{lb}_ms']:9.2f} {row[f'speedup{lb}']:6.2f}×"
                         for lb in (f"@{th}" if th else "" for th in batched_threads))
        print(f"{section:11s} {n:3d} {row['sequential_ms']:12.2f} {cells}", flush=True)
    return rows


# ------------------------------------------------------------------ the processes executor: W workers × 1 thread
_WORKER: dict = {}


def _worker_steps(args):
    """In a worker process (1 intra-op thread): ``per`` quick runs of ``kind`` for ``k`` steps, one after
    another (``batch`` False) or as one batch (``batch`` True). Returns nothing: the parent times the wall."""
    kind, per, offset, k, batch = args
    torch.set_num_threads(1)
    key = (kind, per, offset)
    if key not in _WORKER:
        _WORKER[key] = Members(QUICK.generator, QUICK.size, offset + per, torch.device("cpu"))
    m = _WORKER[key]
    idx = list(range(offset, offset + per))
    sub = type("Sub", (), {})()
    sub.gcfg, sub.device = m.gcfg, m.device
    sub.zs, sub.ys, sub.ops = [m.zs[i] for i in idx], [m.ys[i] for i in idx], [m.ops[i] for i in idx]
    sub.nets = lambda n=None: [build_generator(m.gcfg, i, m.device) for i in idx[:n or per]]
    seq, bat, _ = (fit_runners if kind == "fit" else mask_runners)(sub, per)
    if batch:
        bat(k)
    else:
        for i in range(per):          # sequential: every run of this worker (fit_runners caps at 4)
            s1, _, _ = (fit_runners if kind == "fit" else mask_runners)(_one(sub, i), 1)
            s1(k)


def _one(sub, i):
    one = type("One", (), {})()
    one.gcfg, one.device = sub.gcfg, sub.device
    one.zs, one.ys, one.ops = sub.zs[i:i + 1], sub.ys[i:i + 1], sub.ops[i:i + 1]
    one.nets = lambda n=None: sub.nets()[i:i + 1]
    return one


def processes(kind, n, workers, steps, repeat):
    """ms per run-step of N quick runs spread over ``workers`` processes at 1 thread each — the
    ``processes`` executor — each worker running its share one by one, or as one batch (``--batch``)."""
    import multiprocessing as mp

    k1, k2 = steps
    per = max(1, n // workers)
    out = {}
    with mp.get_context("spawn").Pool(workers) as pool:
        for batch in (False, True):
            jobs = lambda k: [(kind, per, w * per, k, batch) for w in range(workers)]   # noqa: E731
            pool.map(_worker_steps, jobs(1))                       # warm-up: build the members
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter(); pool.map(_worker_steps, jobs(k1)); t1 = time.perf_counter() - t
                t = time.perf_counter(); pool.map(_worker_steps, jobs(k2)); t2 = time.perf_counter() - t
                if t2 > t1:
                    best = min(best, (t2 - t1) / (k2 - k1))
            out["batched" if batch else "sequential"] = 1e3 * best / (per * workers)
    return out


def forward_backward(n, repeat, device, threads_list):
    """One forward+backward of N quick networks: separate, vmap, grouped, exact (ms per run)."""
    m = Members(QUICK.generator, QUICK.size, n, device)
    nets = m.nets()
    names = [k for k, _ in nets[0].named_parameters()]
    running = [k for k, _ in nets[0].named_buffers() if "running" in k]
    params = {k: torch.stack([dict(t.named_parameters())[k].detach() for t in nets]).requires_grad_() for k in names}
    bufs = {k: torch.stack([dict(t.named_buffers())[k] for t in nets]) for k, _ in nets[0].named_buffers()}
    zcat, zst = torch.cat(m.zs, 1), torch.stack(m.zs)

    def separate(k):
        for _ in range(k):
            sum(m.ops[i].data_fidelity(nets[i](m.zs[i]), m.ys[i]) for i in range(n)).backward()

    def vmapped(k):
        f = vmap(lambda p, b, z: functional_call(nets[0], (p, b), (z,)))
        for _ in range(k):
            out = f(params, bufs, zst)
            sum(m.ops[i].data_fidelity(out[i], m.ys[i]) for i in range(n)).backward()

    def stacked(exact):
        g = StackedGenerator(nets[0], exact=exact)
        g.bind(params, {k: bufs[k] for k in running})

        def run(k):
            for _ in range(k):
                out = g(zcat)
                sum(m.ops[i].data_fidelity(out[:, i], m.ys[i]) for i in range(n)).backward()
        return run

    rows = []
    for th in threads_list:
        row = {"section": "fwd+bwd", "N": n, "threads": th}
        variants = (("separate", separate), ("vmap", vmapped), ("grouped", stacked(False)), ("exact", stacked(True)))
        times = per_step([(fn, th) for _, fn in variants], 2, 6, repeat, device)
        for (name, _), t in zip(variants, times):
            row[f"{name}_ms"] = 1e3 * t / n
        rows.append(row)
        print(f"fwd+bwd N={n} threads={th}: " + "  ".join(f"{k[:-3]} {row[k]:.2f}" for k in row if k.endswith("_ms"))
              + " ms/run", flush=True)
    return rows


def agreement(device, n=2, threads2=True):
    """Long horizon: batched (exact / grouped) vs solo, and solo at 2 vs 1 threads, at the quick preset."""
    m = Members(QUICK.generator, QUICK.size, n, device)
    fcfg = replace(QUICK.fit, checkpoint_every=0)
    mcfg = QUICK.mask
    out = {"fit_steps": fcfg.steps, "mask_steps": mcfg.steps, "members": n}

    def solo_fit(threads):
        torch.set_num_threads(threads)
        return [fit(build_generator(m.gcfg, i, device), m.zs[i], m.ys[i], m.ops[i], cfg=fcfg, x_true=m.xs[i], seed=i,
                    progress=False) for i in range(n)]

    def solo_mask(threads):
        torch.set_num_threads(threads)
        return [learn_mask(build_generator(m.gcfg, i, device), m.zs[i], m.ys[i], m.ops[i], cfg=mcfg, seed=i,
                           x_true=m.xs[i], progress=False) for i in range(n)]

    def fit_cmp(a, b):
        la, lb = a.history["loss"].to_numpy(), b.history["loss"].to_numpy()
        rel = np.abs(la - lb) / np.abs(la)
        differ = np.nonzero(rel > 0)[0]
        return {"final_psnr_diff": abs(a.final_psnr - b.final_psnr), "best_psnr_diff": abs(a.best_psnr - b.best_psnr),
                "max_rel_loss_diff": float(rel.max()),
                "first_differing_step": int(a.history["step"].iloc[differ[0]]) if len(differ) else None}

    def mask_cmp(a, b):
        agr = mask_agreement(a.mask, b.mask)
        return {"kept_overlap": agr["overlap"], "chance": agr["chance"], "same_kept_set": bool(torch.equal(
            a.mask.flat(), b.mask.flat())), "final_loss_rel_diff": abs(a.history["loss"].iloc[-1]
                                                                         - b.history["loss"].iloc[-1])
                / abs(a.history["loss"].iloc[-1])}

    torch.set_num_threads(1)
    ref = solo_fit(1)
    comparisons = {
        "batched exact @1": fit_batch(m.nets(), m.zs, m.ys, m.ops, cfgs=fcfg, x_trues=m.xs, seeds=list(range(n)),
                                      progress=False),
        "batched grouped @1": fit_batch(m.nets(), m.zs, m.ys, m.ops, cfgs=fcfg, x_trues=m.xs, seeds=list(range(n)),
                                        progress=False, exact=False),
    }
    if threads2:
        comparisons["solo @2 threads"] = solo_fit(2)
    for name, res in comparisons.items():
        out[f"fit: {name} vs solo @1"] = [fit_cmp(a, b) for a, b in zip(ref, res)]
        print(f"fit  {name:20s} vs solo@1:", out[f"fit: {name} vs solo @1"], flush=True)
    torch.set_num_threads(1)
    ref = solo_mask(1)
    comparisons = {
        "batched exact @1": learn_mask_batch(m.nets(), m.zs, m.ys, m.ops, cfg=mcfg, seeds=list(range(n)),
                                             x_trues=m.xs, progress=False),
        "batched grouped @1": learn_mask_batch(m.nets(), m.zs, m.ys, m.ops, cfg=mcfg, seeds=list(range(n)),
                                               x_trues=m.xs, progress=False, exact=False),
    }
    if threads2:
        comparisons["solo @2 threads"] = solo_mask(2)
    for name, res in comparisons.items():
        out[f"mask: {name} vs solo @1"] = [mask_cmp(a, b) for a, b in zip(ref, res)]
        print(f"mask {name:20s} vs solo@1:", out[f"mask: {name} vs solo @1"], flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", nargs="*", default=["fit", "mask", "procs", "paper", "fwd"],
                    choices=["fit", "mask", "procs", "paper", "fwd"])
    ap.add_argument("--ns", nargs="+", type=int, default=[1, 4, 16], help="batch sizes at quick")
    ap.add_argument("--steps", nargs=2, type=int, default=None, metavar=("K1", "K2"),
                    help="step counts whose time difference is measured (default: 4 12 at quick, 1 3 for paper)")
    ap.add_argument("--repeat", type=int, default=2, help="measurements per figure; the smallest is kept")
    ap.add_argument("--agreement", action="store_true", help="also measure long-horizon agreement (minutes)")
    ap.add_argument("--no-agreement-2threads", dest="threads2", action="store_false",
                    help="leave out the solo run at 2 threads from the agreement section")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default="docs/benchmark_batched.json")
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    gpu = device.type == "cuda"
    batched_threads = [None] if gpu else [1, 2]
    info = {"device": torch.cuda.get_device_name(device) if gpu else platform.processor() or platform.machine(),
            "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "note": "times per run-step in ms; sequential = today's in-process loop at 2 threads",
            "loadavg_start": os.getloadavg()}
    print(f"device {info['device']}, torch {torch.__version__}")
    head = " ".join(f"{'batched@' + str(t) if t else 'batched':>9s} {'ratio':>7s}" for t in batched_threads)
    print(f"{'section':11s} {'N':>3s} {'sequential':>12s} {head}")
    rows = []
    result = {"info": info, "rows": rows}
    path = None
    if a.json:
        path = Path(a.json)
        if gpu and path.name == "benchmark_batched.json":
            path = path.with_name("benchmark_batched_cuda.json")
        path.parent.mkdir(parents=True, exist_ok=True)

    def save():   # after every section: a run cut short keeps what it measured
        info["loadavg_end"] = os.getloadavg()   # 1/5/15-min load: above the core count, the times are not clean
        if path is not None:
            path.write_text(json.dumps(result, indent=1, default=float))

    quick_steps = a.steps or ((10, 30) if gpu else (4, 12))
    paper_steps = a.steps or ((5, 15) if gpu else (1, 3))
    if "fit" in a.sections:
        rows += throughput("fit@quick", QUICK.generator, QUICK.size, a.ns, quick_steps, a.repeat, device, batched_threads)
        save()
    if "mask" in a.sections:
        rows += throughput("mask@quick", QUICK.generator, QUICK.size, a.ns, quick_steps, a.repeat, device,
                           batched_threads)
        save()
    if "paper" in a.sections:
        pt = [None] if gpu else [2]
        rows += throughput("fit@paper", PAPER.generator, 256, [1, 4], paper_steps, 1, device, pt)
        rows += throughput("mask@paper", PAPER.generator, 256, [1, 4], paper_steps, 1, device, pt)
        save()
    if "procs" in a.sections:
        workers = 2
        print(f"processes executor: {workers} workers × 1 thread (ms per run-step; ratio vs sequential in-process @2)")
        for kind in ("fit", "mask"):
            ref = {r["N"]: r["sequential_ms"] for r in rows if r["section"] == f"{kind}@quick"}
            for n in [x for x in a.ns if x >= workers]:
                t = processes(kind, n, workers, quick_steps, a.repeat)
                row = {"section": f"{kind}@quick processes", "size": QUICK.size, "N": n, "workers": workers,
                       "processes_ms": t["sequential"], "processes_batched_ms": t["batched"],
                       "sequential_ms": ref.get(n)}
                if ref.get(n):
                    row["speedup_processes"] = ref[n] / t["sequential"]
                    row["speedup_processes_batched"] = ref[n] / t["batched"]
                rows.append(row)
                r = f" {row['speedup_processes']:.2f}× / {row['speedup_processes_batched']:.2f}×" if ref.get(n) else ""
                print(f"{kind}@quick   {n:3d}  processes {t['sequential']:8.2f}  processes+batch {t['batched']:8.2f}{r}",
                      flush=True)
        save()
    if "fwd" in a.sections:
        rows += forward_backward(16, a.repeat, device, [None] if gpu else [1, 2])
        save()
    goal = [r for r in rows if r["section"] == "fit@quick" and r["N"] == 16]
    if goal:
        key = "speedup" if gpu else "speedup@2"
        target = 10.0 if gpu else 1.5
        result["goal"] = {"fit@quick N=16 batched/sequential": goal[0][key], "target": target,
                          "met": goal[0][key] >= target}
        print(f"goal: batched throughput at quick, N = 16 = {goal[0][key]:.2f} × sequential (target ≥ {target})")
    if a.agreement:
        result["agreement"] = agreement(device, threads2=a.threads2 and not gpu)
    save()
    print(f"load average at start {info['loadavg_start']}, at end {info['loadavg_end']} ({os.cpu_count()} cores)")
    if path is not None:
        print(f"wrote {path}")

if __name__ == "__main__":
    main()
