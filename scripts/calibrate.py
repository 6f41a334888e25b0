"""Calibration of OES mask learning by criteria intrinsic to the method (docs/calibration.md).

Nothing here looks at which method wins a chapter. For each OES configuration it learns masks on
*calibration* images (not the book's claim images) from the same θ_in and noisy image with several
Concrete sampler seeds, and records what says whether the mask is learned:

* separation — #{p > 1/2} / k (k = kept count) at every check, and mean p vs p0;
* stability — the fraction of the kept set unchanged since the previous check;
* uniqueness — the agreement of the kept sets of two sampler seeds (``oes.masks.mask_agreement``),
  at every check, against the chance level k/d;
* waste — kept weights on dead paths (``oes.analysis.dead_paths``) and the encoder/decoder profile;
* optionally, Sparse-DIP trained on each mask (``train``) — to show the PSNR spread that non-unique
  masks leave, never to choose settings.

    python scripts/calibrate.py oes --preset quick --image rocket --lam 1e-8 3e-8 --lr 0.1 --steps 6000 \\
        --sampler-seeds 0 1 --out calib/
    python scripts/calibrate.py train --out calib/ --steps 4000
    python scripts/calibrate.py report --out calib/ [--markdown]
    python scripts/calibrate.py balance --out calib/        # the λ rule's gradient measurements

Jobs run in worker processes with one intra-op thread each (results do not depend on the number of
workers); a finished job is skipped when rerun.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path


def _job_id(job: dict) -> str:
    return hashlib.md5(json.dumps(job, sort_keys=True).encode()).hexdigest()[:10]


def _problem(job):
    from oes.generators import GeneratorConfig, build_generator, make_input
    from oes.experiments import make_problem

    gen = GeneratorConfig.from_dict(job["generator"])
    pr = make_problem(job["image"], job["size"], "denoising", job["sigma"], seed=job["seed"])
    return gen, pr, build_generator(gen, job["seed"]), make_input(gen, job["size"], job["seed"])


def run_oes(job: dict, out: Path) -> str:
    import torch

    torch.set_num_threads(1)
    from oes.analysis import dead_paths, layer_kept, part_kept
    from oes.learn import MaskConfig, learn_mask

    d = out / "oes" / _job_id(job)
    if (d / "summary.json").exists():
        return f"{d.name} stored"
    d.mkdir(parents=True, exist_ok=True)
    gen, pr, net, z = _problem(job)
    cfg = MaskConfig(**job["mask"])
    snaps = {}

    def snap(step, v):
        if snaps and step <= max(snaps):     # a new try of a λ search: keep the snapshots of the last try
            snaps.clear()
        k = int(round(cfg.sparsity * v.numel()))
        snaps[step] = torch.topk(v, k).indices.sort().values.to(torch.int32).clone()

    res = learn_mask(net, z, pr.y, pr.operator, cfg=cfg, seed=job["seed"], x_true=pr.x, progress=False, on_check=snap)
    res.mask.meta["generator"] = gen.to_dict()
    torch.save({"logits": res.logits, "snaps": snaps}, d / "logits.pt")
    res.mask.save(d / "mask.pt")
    res.history.to_csv(d / "history.csv", index=False)
    table = layer_kept(res.mask, gen)
    side = part_kept(table, "side")
    summary = {"job": job, "seconds": res.seconds, "steps": res.steps, "converged": res.converged,
               **{k: res.mask.meta[k] for k in ("above_half", "mean_p", "kept_stable")},
               "dead": dead_paths(res.mask, gen), "encoder": float(side["encoder"]), "decoder": float(side["decoder"]),
               "layers": table[["label", "kept"]].to_dict("list"),
               "lam_used": res.mask.meta.get("lam_used"), "lam_ratio": res.mask.meta.get("lam_ratio"),
               "lam_search": res.mask.meta.get("lam_search"), "lam_search_chosen": res.mask.meta.get("lam_search_chosen")}
    (d / "summary.json").write_text(json.dumps(summary, indent=1))
    tries = summary["lam_search"] or []
    path = " → ".join(f"{t['lam_ratio']:.2g}:{t['above_half']:.2f}@{t['steps_run']}" for t in tries)
    return (f"{d.name} {job['image']} {res.seconds:.0f} s above_half {summary['above_half']:.2f} "
            f"stable {summary['kept_stable']:.3f} converged {res.converged} waste {summary['dead']['waste']:.3f}"
            + (f" tries {path}" if path else ""))


def run_train(job_dir: Path, steps: int, lr: float) -> str:
    import torch

    torch.set_num_threads(1)
    from oes.fit import FitConfig, fit
    from oes.masks import Mask

    target = job_dir / f"train_{steps}.json"
    if target.exists():
        return f"{job_dir.name} trained"
    job = json.loads((job_dir / "summary.json").read_text())["job"]
    gen, pr, net, z = _problem(job)
    mask = Mask.load(job_dir / "mask.pt")
    r = fit(net, z, pr.y, pr.operator, cfg=FitConfig(steps=steps, lr=lr, record_every=20), mask=mask, x_true=pr.x,
            seed=job["seed"], progress=False)
    h = r.history
    target.write_text(json.dumps({"final_psnr": r.final_psnr, "best_psnr": r.best_psnr, "best_step": r.best_step,
                                  "final_loss": float(h["loss"].iloc[-1]), "seconds": r.seconds,
                                  "psnr_every_500": h[h.step % 500 == 0]["psnr"].round(2).tolist()}))
    return f"{job_dir.name} sparse final {r.final_psnr:.2f} best {r.best_psnr:.2f}@{r.best_step}"


def _pool(fn, args_list, workers):
    if workers <= 1:
        for a in args_list:
            print(fn(*a), flush=True)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as ex:
        futs = [ex.submit(fn, *a) for a in args_list]
        for f in as_completed(futs):
            print(f.result(), flush=True)


def cmd_oes(a):
    from oes.presets import get_preset

    P = get_preset(a.preset)
    out = Path(a.out)
    jobs = []
    for image, seed, lam, lr, k, steps, ss, maskable in itertools.product(
            a.image, a.seeds, a.lam, a.lr, a.samples, a.steps, a.sampler_seeds, a.maskable):
        mask = replace(P.mask, lam=lam, lr=lr, samples=k, steps=steps, sampler_seed=ss, maskable=maskable,
                       sparsity=a.sparsity or P.mask.sparsity, record_every=a.check_every,
                       check_every=a.check_every, stop_stable=a.stop_stable, stop_patience=a.patience,
                       lam_ratio=a.lam_ratio, lam_adapt=a.lam_adapt, lam_search=a.lam_search,
                       max_waste=a.max_waste).to_dict()
        jobs.append({"preset": P.name, "image": image, "size": a.size or P.size, "sigma": P.sigma, "seed": seed,
                     "generator": P.generator.to_dict(), "mask": mask})
    print(f"{len(jobs)} OES jobs → {out}/oes", flush=True)
    _pool(run_oes, [(j, out) for j in jobs], a.workers)


def cmd_train(a):
    out = Path(a.out)
    dirs = sorted(p.parent for p in (out / "oes").glob("*/summary.json"))
    _pool(run_train, [(d, a.steps, a.lr) for d in dirs], a.workers)


def _load(out: Path):
    import pandas as pd
    import torch

    rows = []
    for f in sorted((out / "oes").glob("*/summary.json")):
        s = json.loads(f.read_text())
        j, m = s["job"], s["job"]["mask"]
        r = {"dir": f.parent, "image": j["image"], "seed": j["seed"], "size": j["size"], "lam": m["lam"], "lr": m["lr"],
             "K": m["samples"], "steps": m["steps"], "maskable": m["maskable"], "sampler": m["sampler_seed"],
             "above_half": s["above_half"], "mean_p": s["mean_p"], "stable": s["kept_stable"],
             "waste": s["dead"]["waste"], "dead_ch": s["dead"]["dead_channels"], "enc": s["encoder"], "dec": s["decoder"],
             "first": s["layers"]["kept"][0], "last_conv": s["layers"]["kept"][-2], "out": s["layers"]["kept"][-1],
             "seconds": s["seconds"]}
        for t in sorted(f.parent.glob("train_*.json")):
            tr = json.loads(t.read_text())
            r.update(sparse_final=tr["final_psnr"], sparse_best=tr["best_psnr"], sparse_best_step=tr["best_step"])
        rows.append(r)
    return pd.DataFrame(rows)


def cmd_report(a):
    import pandas as pd
    import torch

    out = Path(a.out)
    df = _load(out)
    if df.empty:
        sys.exit(f"no OES jobs under {out}/oes: run `calibrate.py oes` first")
    cfg_cols = ["image", "seed", "size", "lam", "lr", "K", "steps", "maskable"]
    rows = []
    for key, g in df.groupby(cfg_cols):
        g = g.sort_values("sampler")
        row = dict(zip(cfg_cols, key))
        row.update({c: g[c].mean() for c in ("above_half", "mean_p", "stable", "waste", "enc", "dec", "first",
                                             "last_conv", "seconds")})
        if "sparse_final" in g:
            row["sparse_final"] = f"{g['sparse_final'].mean():.2f} ± {g['sparse_final'].std(ddof=0):.2f}"
            row["best−final"] = (g["sparse_best"] - g["sparse_final"]).max()
        if len(g) >= 2:
            a0 = torch.load(g["dir"].iloc[0] / "logits.pt")
            a1 = torch.load(g["dir"].iloc[1] / "logits.pt")
            d = a0["logits"].numel()
            common = sorted(set(a0["snaps"]) & set(a1["snaps"]))
            curve = []
            for s in common:
                x, y = a0["snaps"][s], a1["snaps"][s]
                k = x.numel()
                inter = len(set(x.tolist()) & set(y.tolist()))
                curve.append((s, inter / k))
            k = a0["snaps"][common[-1]].numel() if common else 1
            row["agree"] = curve[-1][1] if curve else float("nan")
            row["chance"] = k / d
            row["agree_curve"] = " ".join(f"{v:.2f}" for _, v in curve[:: max(1, len(curve) // 6)])
        rows.append(row)
    rep = pd.DataFrame(rows)
    rep["lam"] = rep["lam"].map("{:.0e}".format)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 60):
        print(rep.to_markdown(index=False, floatfmt=".3g") if a.markdown else rep.round(4).to_string(index=False))
    rep.to_csv(out / "report.csv", index=False)


def cmd_balance(a):
    import torch

    torch.set_num_threads(2)
    from oes.generators import build_generator, make_input
    from oes.learn import MaskConfig, gradient_balance
    from oes.presets import get_preset
    from oes.experiments import make_problem

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for preset, size in [(p.split(":")[0], int(p.split(":")[1])) for p in a.points]:
        P = get_preset(preset)
        for image in a.image:
            pr = make_problem(image, size, "denoising", P.sigma, seed=0)
            net = build_generator(P.generator, 0)
            z = make_input(P.generator, size, 0)
            b = gradient_balance(net, z, pr.y, pr.operator, cfg=replace(P.mask, lam=1e-9), samples=a.samples)
            b.update(preset=preset, size=size, image=image, params=sum(p.numel() for p in net.parameters()))
            print(json.dumps(b), flush=True)
            rows.append(b)
    (out / "balance.json").write_text(json.dumps(rows, indent=1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("oes")
    o.add_argument("--preset", default="quick")
    o.add_argument("--size", type=int, default=None)
    o.add_argument("--image", nargs="+", default=["rocket"])
    o.add_argument("--seeds", nargs="+", type=int, default=[0])
    o.add_argument("--sparsity", type=float, default=None)
    o.add_argument("--lam", nargs="+", type=float, default=[1e-9], help="fixed λ (ignored with --lam-ratio)")
    o.add_argument("--lam-ratio", type=float, default=None, help="the λ rule: prior/data gradient ratio")
    o.add_argument("--lam-search", type=int, default=0, help="λ search: extra tries (MaskConfig.lam_search)")
    o.add_argument("--lam-adapt", type=float, default=None, help="adaptive λ exponent (MaskConfig.lam_adapt)")
    o.add_argument("--lr", nargs="+", type=float, required=True)
    o.add_argument("--samples", nargs="+", type=int, default=[1])
    o.add_argument("--steps", nargs="+", type=int, required=True)
    o.add_argument("--sampler-seeds", nargs="+", type=int, default=[0, 1])
    o.add_argument("--maskable", nargs="+", default=["all"])
    o.add_argument("--check-every", type=int, default=250)
    o.add_argument("--stop-stable", type=float, default=None, help="the stopping rule's stability threshold")
    o.add_argument("--patience", type=int, default=2, help="consecutive checks meeting the rule")
    o.add_argument("--max-waste", type=float, default=None, help="dead-path waste criterion (MaskConfig.max_waste)")
    t = sub.add_parser("train")
    t.add_argument("--steps", type=int, default=4000)
    t.add_argument("--lr", type=float, default=1e-2)
    r = sub.add_parser("report")
    r.add_argument("--markdown", action="store_true")
    b = sub.add_parser("balance")
    b.add_argument("--points", nargs="+", default=["quick:64", "paper:256", "paper:512"])
    b.add_argument("--image", nargs="+", default=["rocket", "motorcycle"])
    b.add_argument("--samples", type=int, default=16)
    for p in (o, t, r, b):
        p.add_argument("--out", default="calib")
        p.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    {"oes": cmd_oes, "train": cmd_train, "report": cmd_report, "balance": cmd_balance}[a.cmd](a)


if __name__ == "__main__":
    main()
