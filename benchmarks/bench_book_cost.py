"""What a preset's whole book costs on this machine: the plan's steps × measured seconds per step.

For each preset it takes the book's plan (every spec the declared chapters need, de-duplicated, with
dependencies — what ``oes book plan`` counts), sorts each spec's optimisation steps by kind, times one
step of each kind on each network the plan uses, and prints the core-hours and the wall time on
``--workers`` workers:

  oes      OES mask learning (``oes.learn.learn_mask``), each mask at its step cap
  sparse   training through a mask (Sparse-DIP runs, every IMP round)
  dense    training without a mask (dense DIP, Deep Decoder, GP-DIP)

Steps are timed at ``--threads`` intra-op threads (default 1: what each book run uses, ``$OES_THREADS``),
with ``benchmarks/bench_steps.py``'s timers (two run lengths, the difference, the smallest of three).
The estimate is an upper bound in one way and a lower bound in another: a mask that converges stops
before its cap, but a λ search runs up to four tries, and the estimate counts one try at the cap.
``--measured-hours PRESET=H`` prints the ratio of a measured wall time to the estimate, so the factor
that calibrates it on one preset can be carried to another (docs/calibration.md §16).

    python benchmarks/bench_book_cost.py                              # quick and medium on this CPU
    python benchmarks/bench_book_cost.py --presets medium --device cuda --threads 0
    python benchmarks/bench_book_cost.py --measured-hours quick=4.8
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import replace

import torch

from bench_steps import dense_step_time, oes_step_time, sparse_step_time   # same folder: the same timers
from oes.experiments import MaskSpec
from oes.experiments.executors import spec_steps
from oes.experiments.plan import book_plan
from oes.experiments.store import RunStore
from oes.generators import build_generator

TIMERS = {"oes": oes_step_time, "sparse": sparse_step_time, "dense": dense_step_time}


def step_kind(spec) -> str | None:
    """Which step a spec's steps cost: ``oes``, ``sparse`` or ``dense``; None for one-shot pruners."""
    if isinstance(spec, MaskSpec):
        if spec.method == "oes":
            return "oes"
        return "sparse" if spec.method == "imp" else None
    return "sparse" if spec.mask is not None or spec.method == "sparse" else "dense"


def plan_steps(preset: str) -> tuple[dict, int]:
    """{(kind, generator, size): steps} over every spec of the book's plan (dependencies included)."""
    nodes = book_plan(preset).nodes(RunStore())        # the store gives the keys: nothing is read or written
    steps: dict = defaultdict(int)
    for s in nodes.values():
        kind = step_kind(s)
        if kind:   # θ_in's distribution and scale do not change a step's cost
            gen = replace(s.generator, init="kaiming_uniform", init_scale=1.0)
            steps[(kind, gen, s.size)] += spec_steps(s)
    return dict(steps), len(nodes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["quick", "medium"])
    ap.add_argument("--workers", type=int, default=2, help="parallel runs for the wall-time column (default 2)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per run (default 1; 0: leave torch's)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default: by network size)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--measured-hours", nargs="*", default=[], metavar="PRESET=H",
                    help="a measured wall time (hours, on --workers workers) to compare with the estimate")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = ap.parse_args(argv)
    measured = {}
    for m in a.measured_hours:
        name, _, h = m.partition("=")
        try:
            measured[name] = float(h)
        except ValueError:
            raise SystemExit(f"--measured-hours {m!r}: expected PRESET=HOURS, e.g. quick=4.6") from None
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    print(f"device {device}, torch {torch.__version__}, threads per run {torch.get_num_threads()}, "
          f"wall time for {a.workers} worker(s)")
    out = []
    for preset in a.presets:
        steps, n_specs = plan_steps(preset)
        core_s, rows = 0.0, []
        for (kind, gen, size), n in sorted(steps.items(), key=lambda kv: -kv[1]):
            params = sum(p.numel() for p in build_generator(gen, 0).parameters())
            k = a.steps or (max(4, int(40 * (64 / size) ** 2)) if device.type == "cpu" else 50)
            ms = TIMERS[kind](gen, size, k, device) * 1e3
            core_s += n * ms / 1e3
            rows.append({"kind": kind, "network": f"{gen.kind} {list(gen.channels)} → {gen.out_channels}",
                         "params": params, "size": size, "steps": n, "ms_per_step": ms, "core_hours": n * ms / 3.6e6})
        total = {"preset": preset, "specs": n_specs, "steps": sum(steps.values()), "core_hours": core_s / 3600,
                 "wall_hours": core_s / 3600 / a.workers, "workers": a.workers,
                 "threads": torch.get_num_threads(), "device": str(device), "rows": rows}
        print(f"\n{preset}: {n_specs} specs, {total['steps']:,} steps (each mask counted once, at its cap)")
        print(f"  {'kind':7s} {'network':34s} {'size':>5s} {'steps':>11s} {'ms/step':>9s} {'core-h':>8s}")
        for r in rows:
            print(f"  {r['kind']:7s} {r['network'][:34]:34s} {r['size']:5d} {r['steps']:11,d} "
                  f"{r['ms_per_step']:9.1f} {r['core_hours']:8.2f}")
        print(f"  estimate: {total['core_hours']:.1f} core-hours = {total['wall_hours']:.1f} h on {a.workers} worker(s)")
        if preset in measured:
            total["measured_wall_hours"] = measured[preset]
            total["measured_over_estimate"] = measured[preset] / total["wall_hours"]
            print(f"  measured: {measured[preset]:.2f} h = {total['measured_over_estimate']:.2f} × the estimate")
        out.append(total)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
