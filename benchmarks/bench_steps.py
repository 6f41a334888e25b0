"""Step-time benchmark: OES mask learning and sparse training vs a plain dense step.

Prints ms/step for, at each configuration:
  dense      a plain DIP training step (Adam, no mask) of the same network — the reference;
  sparse     a Sparse-DIP step through ``oes.fit.fit`` with a 5 % mask;
  oes        an OES mask-learning step through ``oes.learn.learn_mask`` (K = 1);
  published  a re-implementation of the published loop's *pattern* (a deep copy of the network
             every step, a 2-way Gumbel-softmax per weight with two Gumbel draws, a per-tensor
             Python loop) — written from the description, not copied.
and the ratios oes/dense, sparse/dense, published/oes.  The library paths are timed through
their real entry points; fixed set-up costs cancel by timing two run lengths and taking the
difference.  All numbers in one run, on one machine (machines here are noisy: compare ratios).

    python benchmarks/bench_steps.py                 # quick size, paper net at 256² and 512²
    python benchmarks/bench_steps.py --configs quick --steps 20
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call

from oes.fit import FitConfig, fit
from oes.generators import GeneratorConfig, build_generator, make_input
from oes.learn import MaskConfig, learn_mask, rank_mask, _split
from oes.masks import Mask, maskable_names
from oes.presets import PRESETS

CONFIGS = {
    "quick": (PRESETS["quick"].generator, PRESETS["quick"].size),
    "paper256": (PRESETS["paper"].generator, 256),
    "paper512": (PRESETS["paper"].generator, 512),
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


REPEAT = 3


def _diff_time(run, n1, n2, device):
    """Seconds per step from run(n): (t(n2) − t(n1)) / (n2 − n1), after one warm-up; the
    smallest of ``REPEAT`` measurements (the least disturbed by other processes)."""
    run(2)
    _sync(device)
    best = float("inf")
    for _ in range(REPEAT):
        t = time.perf_counter(); run(n1); _sync(device); t1 = time.perf_counter() - t
        t = time.perf_counter(); run(n2); _sync(device); t2 = time.perf_counter() - t
        best = min(best, max(t2 - t1, 1e-9) / (n2 - n1))
    return best


def dense_step_time(gcfg, size, n, device):
    net = build_generator(gcfg, 0, device)
    z = make_input(gcfg, size, 0, device)
    y = torch.rand(1, gcfg.out_channels, size, size, device=device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    def run(k):
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((net(z) - y) ** 2)
            loss.backward()
            opt.step()
        loss.item()
    return _diff_time(run, n, 2 * n, device)


def sparse_step_time(gcfg, size, n, device):
    net = build_generator(gcfg, 0, device)
    z = make_input(gcfg, size, 0, device)
    y = torch.rand(1, gcfg.out_channels, size, size, device=device)
    names = maskable_names(net, "all")
    params = dict(net.named_parameters())
    g = torch.Generator().manual_seed(0)
    flat = torch.rand(sum(params[k].numel() for k in names), generator=g)
    mask = Mask(_split(rank_mask(flat, 0.05), names, [params[k].shape for k in names]))
    return _diff_time(lambda k: fit(build_generator(gcfg, 0, device), z, y, cfg=FitConfig(steps=k, record_every=10 ** 9),
                                    mask=mask, progress=False), n, 2 * n, device)


def oes_step_time(gcfg, size, n, device):
    net = build_generator(gcfg, 0, device)
    z = make_input(gcfg, size, 0, device)
    y = torch.rand(1, gcfg.out_channels, size, size, device=device)
    return _diff_time(lambda k: learn_mask(net, z, y, cfg=MaskConfig(steps=k, record_every=10 ** 9), progress=False),
                      n, 2 * n, device)


def published_step_time(gcfg, size, n, device):
    """The published loop's pattern: deepcopy + two-Gumbel 2-way softmax + per-tensor loop."""
    net = build_generator(gcfg, 0, device)
    z = make_input(gcfg, size, 0, device)
    y = torch.rand(1, gcfg.out_channels, size, size, device=device)
    names = [k for k, _ in net.named_parameters()]
    logits = {k: torch.zeros(p.shape, device=device, requires_grad=True) for k, p in net.named_parameters()}
    opt = torch.optim.Adam(list(logits.values()), lr=1e-2)
    T = 0.2

    def run(k):
        for _ in range(k):
            model = copy.deepcopy(net)                       # a fresh copy of the network every step
            masked = {}
            for name, p in model.named_parameters():         # per-tensor Python loop
                v = logits[name]
                logp = torch.stack([F.logsigmoid(v), F.logsigmoid(-v)], dim=-1)   # [log p, log(1 − p)]
                g = -torch.log(-torch.log(torch.rand(logp.shape, device=device).clamp_(1e-10, 1)))  # two Gumbels
                m = torch.softmax((logp + g) / T, dim=-1)[..., 0]                     # 2-way softmax
                masked[name] = p.detach() * m
            out = functional_call(model, masked, (z,))
            loss = torch.mean((out - y) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        loss.item()
    return _diff_time(run, n, 2 * n, device)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default: by size)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per figure; the smallest is kept")
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    global REPEAT
    REPEAT = a.repeat
    torch.manual_seed(0)
    rows = []
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'config':10s} {'params':>9s} {'dense':>9s} {'sparse':>9s} {'oes':>9s} {'published':>10s} "
          f"{'oes/dense':>10s} {'sparse/dense':>13s} {'published/oes':>14s}")
    for name in a.configs:
        gcfg, size = CONFIGS[name]
        n = a.steps or {"quick": 40, "paper256": 8, "paper512": 4}[name]
        if device.type == "cuda":
            n = a.steps or 50
        d = dense_step_time(gcfg, size, n, device)
        s = sparse_step_time(gcfg, size, n, device)
        o = oes_step_time(gcfg, size, n, device)
        p = published_step_time(gcfg, size, n, device)
        n_params = sum(q.numel() for q in build_generator(gcfg, 0).parameters())
        row = {"config": name, "size": size, "params": n_params, "dense_ms": d * 1e3, "sparse_ms": s * 1e3,
               "oes_ms": o * 1e3, "published_ms": p * 1e3, "oes_over_dense": o / d, "sparse_over_dense": s / d,
               "published_over_oes": p / o}
        rows.append(row)
        print(f"{name:10s} {n_params:9d} {d*1e3:8.1f}ms {s*1e3:8.1f}ms {o*1e3:8.1f}ms {p*1e3:9.1f}ms "
              f"{o/d:10.2f} {s/d:13.2f} {p/o:14.2f}", flush=True)
    print("goals: oes/dense ≤ 1.15, sparse/dense ≤ 1.05, published/oes ≥ 2 at 256²")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
