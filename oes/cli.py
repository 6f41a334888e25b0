"""The ``oes`` command line: ``oes mask``, ``oes fit``, ``oes prune``, ``oes images``, ``oes fetch``,
``oes runs``, ``oes book``, ``oes denoise``, ``oes inpaint``, ``oes scorecard``.

Every command fails with a one-line message (exit status 2) on bad input and leaves no
partial output behind.  The CLI imports the library; the library never imports this module.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    pass


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", default="astronaut", help="scikit-image name, the paper's name, or a PNG/JPEG path")
    p.add_argument("--preset", default="quick", help="smoke | quick | medium | paper: sizes, network, steps (default quick)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default: the preset's)")
    p.add_argument("--noise", type=float, default=None, help="Gaussian noise σ in /255 units (default: the preset's, 25)")
    p.add_argument("--operator", default="denoising", choices=["denoising", "inpainting"])
    p.add_argument("--keep", type=float, default=0.5, help="inpainting: fraction of pixels observed")
    p.add_argument("--steps", type=int, default=None, help="iterations (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="seeds θ_in, z and the noise draw")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")


def _setup(a):
    from .presets import get_preset
    from .experiments.specs import make_problem
    from .generators import check_image_size

    preset = get_preset(a.preset)
    size = a.size or preset.size
    sigma = preset.sigma if a.noise is None else a.noise
    check_image_size(size, preset.generator)
    problem = make_problem(a.image, size, a.operator, sigma, a.keep, a.seed)
    return preset, size, sigma, problem


def _cmd_mask(a) -> int:
    from .generators import build_generator, make_input
    from .learn import learn_mask

    preset, size, sigma, problem = _setup(a)
    out = Path(a.out)
    if out.suffix != ".pt":
        raise CLIError(f"--out {a.out!r} should end in .pt (the mask file)")
    cfg = preset.mask
    kw = {k: v for k, v in {"sparsity": a.sparsity, "steps": a.steps, "lr": a.lr, "reg": a.reg, "lam": a.lam,
                            "maskable": a.maskable, "samples": a.samples}.items() if v is not None}
    cfg = replace(cfg, **kw)
    gcfg = preset.generator
    net = build_generator(gcfg, a.seed)
    z = make_input(gcfg, size, a.seed)
    res = learn_mask(net, z, problem.y, problem.operator, cfg=cfg, seed=a.seed, x_true=problem.x,
                     progress=True if a.progress else None,
                     meta={"generator": gcfg.to_dict(), "source_image": a.image, "size": size, "sigma": sigma,
                           "preset": preset.name})
    res.mask.save(out)
    col = res.collapsed
    print(f"mask: kept {res.mask.n_kept}/{res.mask.n_total} ({res.mask.density:.4%}) in {res.seconds:.1f} s → {out}")
    print(_convergence_line(res.mask.meta))
    if col:
        print(f"warning: layer collapse — fully pruned tensors: {', '.join(col)}")
    return 0


def _convergence_line(meta: dict) -> str:
    from .learn import convergence_summary
    line = "convergence: " + convergence_summary(meta)
    return line if meta.get("converged") else line + "; give more --steps, or see docs/calibration.md §1"


def _cmd_fit(a) -> int:
    import torch
    from skimage import io

    from .fit import fit
    from .generators import build_generator, make_input, check_image_size
    from .masks import Mask
    from .metrics import psnr, to_numpy_image

    preset, size, sigma, problem = _setup(a)
    modes = [bool(a.mask), a.dense, a.decoder]
    if sum(modes) != 1:
        raise CLIError("give exactly one of --mask FILE, --dense or --decoder")
    mask = None
    if a.decoder:
        gcfg = preset.decoder
        check_image_size(size, gcfg)
    elif a.mask:
        mask = Mask.load(a.mask)
        from .generators import GeneratorConfig
        gcfg = GeneratorConfig.from_dict(mask.meta["generator"]) if "generator" in mask.meta else preset.generator
        check_image_size(size, gcfg)
    else:
        gcfg = preset.generator
    net = build_generator(gcfg, a.seed)
    if mask is not None:
        mask.check(net)
    z = make_input(gcfg, size, a.seed)
    cfg = replace(preset.fit, **{k: v for k, v in {"steps": a.steps, "lr": a.lr}.items() if v is not None},
                  checkpoint_every=0)
    out_dir = Path(a.out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not a.overwrite:
        raise CLIError(f"--out-dir {str(out_dir)!r} is not empty; choose another folder or pass --overwrite")
    tmp = Path(tempfile.mkdtemp(prefix=".oes-fit-", dir=out_dir.parent if out_dir.parent.exists() else None))
    try:
        res = fit(net, z, problem.y, problem.operator, cfg=cfg, mask=mask, x_true=problem.x, seed=a.seed,
                  progress=True if a.progress else None)
        res.history.to_csv(tmp / "history.csv", index=False)
        img = (to_numpy_image(res.x_hat.clamp(0, 1)) * 255).round().astype("uint8")
        io.imsave(tmp / "output.png", img, check_contrast=False)
        method = "sparse" if mask is not None else ("decoder" if a.decoder else "dense")
        result = {**res.summary(), "method": method, "density": mask.density if mask else 1.0,
                  "config": {"image": a.image, "size": size, "sigma": sigma, "operator": a.operator,
                             "seed": a.seed, "preset": preset.name, "generator": gcfg.to_dict(),
                             "fit": cfg.to_dict(), "mask": a.mask, "mask_meta": mask.meta if mask else None}}
        (tmp / "result.json").write_text(json.dumps(result, indent=1))
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in tmp.iterdir():
            os.replace(f, out_dir / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{method}: final PSNR {res.final_psnr:.2f} dB, best {res.best_psnr:.2f} dB at step {res.best_step}, "
          f"{res.seconds:.1f} s → {out_dir}")
    return 0


def _cmd_images(a) -> int:
    from .data import BUILTIN_IMAGES, load_manifest

    print("built-in (scikit-image, offline):")
    for n in sorted(BUILTIN_IMAGES):
        print(f"  {n}")
    m = load_manifest()
    if m:
        print("the paper's images (`oes fetch NAME`, needs network):")
        for n in sorted(m):
            print(f"  {n}")
    return 0


def _cmd_fetch(a) -> int:
    from .data import fetch, load_manifest

    known = load_manifest(section=None)
    if a.source is not None and not Path(a.source).is_dir():
        raise CLIError(f"--from {a.source!r} is not a folder; give the folder that holds the files")
    names = a.names or sorted(n for n, e in known.items()
                              if a.source is None or (Path(a.source) / e["file"]).is_file())
    if not names:
        raise CLIError(f"--from {a.source!r} holds none of the manifest's files ({', '.join(sorted(known))})")
    for n in names:
        print(f"{n}: {fetch(n, source=a.source)}")
    return 0


# ------------------------------------------------------------------ oes prune
def _add_prune_parser(sub) -> None:
    """``oes prune``: a baseline mask (pruning at initialisation, or IMP) written to a file."""
    from .pruners import PRUNERS, SCOPES

    p = sub.add_parser("prune", help="baseline masks at one density: random, magnitude, SNIP, GraSP, SynFlow, IMP")
    _common(p)
    p.add_argument("--method", required=True, choices=[*PRUNERS, "imp"])
    p.add_argument("--scope", choices=SCOPES, default="global",
                   help="global ranking, or layer-wise with the same exact total (default global)")
    p.add_argument("--sparsity", type=float, default=0.05, help="fraction of parameters KEPT (default 0.05)")
    p.add_argument("--maskable", choices=["all", "weights"], default="all")
    p.add_argument("--rounds", type=int, default=None,
                   help="SynFlow iterations (default 100); IMP rounds (default: from --imp-schedule)")
    p.add_argument("--imp-schedule", default="0.8^14",
                   help="IMP keep-per-round^rounds, e.g. 0.8^14 or 0.2^3; the last round lands on --sparsity")
    p.add_argument("--rewind-step", type=int, default=0, help="IMP: rewind survivors to this step (0 = θ_in)")
    p.add_argument("--stop-step", default=None,
                   help="IMP at early stop (oracle): magnitudes at this step, or 'best' (best-PSNR step)")
    p.add_argument("--target", choices=["noisy", "clean"], default="noisy",
                   help="'clean' prunes against the clean image (oracle, App. E)")
    p.add_argument("--lr", type=float, default=None, help="IMP training learning rate (default: the preset's)")
    p.add_argument("--out", required=True, help="mask file to write (.pt)")
    p.set_defaults(fn=_cmd_prune)


def _cmd_prune(a) -> int:
    import time

    from .generators import build_generator, make_input
    from .pruners import PRUNERS, check_sparsity

    out = Path(a.out)
    if out.suffix != ".pt":
        raise ValueError(f"--out {a.out!r} should end in .pt (the mask file)")
    check_sparsity(a.sparsity)
    if a.method != "imp":
        for opt, val, default in (("--rewind-step", a.rewind_step, 0), ("--stop-step", a.stop_step, None),
                                  ("--steps", a.steps, None), ("--lr", a.lr, None)):
            if val != default:
                raise ValueError(f"{opt} is only used by --method imp")
        if a.rounds is not None and a.method != "synflow":
            raise ValueError("--rounds is only used by --method synflow and --method imp")
    preset, size, sigma, problem = _setup(a)
    y = problem.operator.A(problem.x) if a.target == "clean" else problem.y
    gcfg = preset.generator
    net = build_generator(gcfg, a.seed)
    z = make_input(gcfg, size, a.seed)
    progress = True if a.progress else None
    t0 = time.perf_counter()
    rounds_table = None
    if a.method == "imp":
        from .imp import iterative_magnitude_pruning, parse_schedule

        keep, rounds = parse_schedule(a.imp_schedule)
        stop = a.stop_step
        if stop is not None and stop != "best":
            try:
                stop = int(stop)
            except ValueError:
                raise ValueError(f"--stop-step must be an integer or 'best', got {a.stop_step!r}") from None
        res = iterative_magnitude_pruning(
            net, z, y, problem.operator, sparsity=a.sparsity, rounds=a.rounds or rounds, keep_per_round=keep,
            train_steps=a.steps or preset.fit.steps, lr=a.lr or preset.fit.lr, rewind_step=a.rewind_step,
            stop_step=stop, scope=a.scope, maskable=a.maskable, x_true=problem.x, seed=a.seed, progress=progress,
            target=a.target)
        mask, rounds_table = res.mask, res.rounds
    else:
        kw = {"rounds": a.rounds or 100, "progress": progress} if a.method == "synflow" else {}
        mask = PRUNERS[a.method](net, z, y, problem.operator, sparsity=a.sparsity, scope=a.scope,
                                 maskable=a.maskable, seed=a.seed, **kw)
        mask.meta["oracle"] = a.target == "clean"
    seconds = time.perf_counter() - t0
    from . import __version__
    mask.meta.update({"method": a.method, "sparsity": a.sparsity, "scope": a.scope, "maskable": a.maskable,
                      "seed": a.seed, "generator": gcfg.to_dict(), "source_image": a.image, "size": size,
                      "sigma": sigma, "operator": a.operator, "preset": preset.name, "target": a.target,
                      "seconds": round(seconds, 3), "collapsed": mask.collapsed(), "version": __version__})
    mask.save(out)
    print(f"{a.method}: kept {mask.n_kept}/{mask.n_total} ({mask.density:.4%}) in {seconds:.1f} s → {out}")
    if rounds_table is not None:
        csv = out.with_name(out.stem + "_rounds.csv")
        rounds_table.to_csv(csv, index=False)
        print(f"IMP per-round training histories → {csv}")
    col = mask.collapsed()
    if col:
        print(f"warning: layer collapse — fully pruned tensors: {', '.join(col)}")
    return 0


# ------------------------------------------------------------------ oes runs
def _store(a):
    from .experiments.store import RunStore

    return RunStore(a.root)


def _cmd_runs_ls(a) -> int:
    store = _store(a)
    entries = store.entries()
    if not entries:
        print(f"run store {store.base}: empty")
        return 0
    print(f"{'kind':<5} {'key':<12} {'method':<10} {'image':<22} {'seed':>4} {'seconds':>8}  status")
    for e in entries:
        secs = f"{e.seconds:.1f}" if isinstance(e.seconds, (int, float)) else "-"
        print(f"{e.kind:<5} {e.key or '-':<12} {e.method or '-':<10} {str(e.image or '-'):<22} "
              f"{'-' if e.seed is None else e.seed:>4} {secs:>8}  {e.status}")
    done = sum(e.status == "done" for e in entries)
    print(f"{len(entries)} folder(s) in {store.base}: {done} done")
    return 0


def _cmd_runs_verify(a) -> int:
    store = _store(a)
    bad = store.verify()
    n = sum(e.kind in ("mask", "fit") for e in store.entries())
    for e in bad:
        print(f"bad: {e.dir.relative_to(store.root)}: {e.status}" + (" (removed)" if a.fix else ""))
        if a.fix:
            store.remove(e)
    if not bad:
        print(f"run store {store.base}: {n} entries, all intact")
        return 0
    print(f"{len(bad)} bad entr{'y' if len(bad) == 1 else 'ies'} of {n}"
          + ("; removed: the next execute recomputes them" if a.fix else "; `oes runs verify --fix` removes them"),
          file=sys.stderr)
    return 0 if a.fix else 1


def _cmd_runs_gc(a) -> int:
    from .book import parse_param
    from .experiments.plan import book_plan

    store = _store(a)
    params = dict(parse_param(p) for p in a.param)
    keep: set[str] = set()
    undeclared: set[str] = set()
    for preset in a.preset:
        plan = book_plan(preset, params)
        keep |= plan.needed_keys(store)
        undeclared |= set(plan.undeclared)
    if undeclared and not (a.dry_run or a.force):
        raise CLIError(f"chapters {', '.join(sorted(undeclared))} do not declare their grids yet, so gc cannot tell "
                       f"which runs they need and would remove them; use --dry-run to see, --force to remove anyway")
    drop = [e for e in store.entries() if e.kind in ("mask", "fit", "work") and e.key not in keep]
    drop += [e for e in store.entries() if e.kind == "tmp"]
    for e in drop:
        print(f"{'would remove' if a.dry_run else 'remove'}: {e.dir.relative_to(store.root)} ({e.status})")
        if not a.dry_run:
            store.remove(e)
    print(f"{len(drop)} folder(s) {'to remove' if a.dry_run else 'removed'}; {len(keep)} key(s) needed by "
          f"the plan of {', '.join(a.preset)}")
    return 0


def _add_runs_parser(sub) -> None:
    runs = sub.add_parser("runs", help="the run store: list, verify, garbage-collect",
                          description="The run store at --root (default $OES_RUNS_DIR or ./runs).")
    rsub = runs.add_subparsers(dest="runs_command", required=True)

    def root(p):
        p.add_argument("--root", default=None, help="run store folder (default $OES_RUNS_DIR or ./runs)")

    p = rsub.add_parser("ls", help="list entries: kind, key, method, image, seed, seconds, status")
    root(p)
    p.set_defaults(fn=_cmd_runs_ls)
    p = rsub.add_parser("verify", help="check every entry's files (present, sizes, md5, loadable); exit 1 if any is bad")
    root(p)
    p.add_argument("--fix", action="store_true", help="remove bad entries (the next execute recomputes them)")
    p.set_defaults(fn=_cmd_runs_verify)
    p = rsub.add_parser("gc", help="remove entries that no current plan needs")
    root(p)
    p.add_argument("--preset", nargs="+", required=True, help="keep what the plans of these presets need")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="notebook-parameter override of the plan (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.add_argument("--force", action="store_true", help="remove even while some chapters have undeclared grids")
    p.set_defaults(fn=_cmd_runs_gc)


# ------------------------------------------------------------------ oes denoise | inpaint | scorecard
# (the practitioner's and the by-hand reader's commands; the library parts are oes.restore and oes.scorecard)
def _cmd_restore(a) -> int:
    import signal

    from .restore import restore

    # a `kill` then unwinds like Ctrl-C: the temporary folder is removed, nothing partial is left
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    inpaint = a.command == "inpaint"
    out_dir = a.out_dir or f"{Path(a.image).stem}-oes-{a.command}"
    restore(a.image, out_dir, operator="inpainting" if inpaint else "denoising",
            mask_image=a.mask_image if inpaint else None, preset=a.preset, device=a.device, seed=a.seed,
            sparsity=a.sparsity, mask_steps=a.mask_steps, steps=a.steps, add_noise=a.add_noise,
            overwrite=a.overwrite, estimate_only=a.estimate_only, progress=True if a.progress else None)
    return 0


def _cmd_scorecard(a) -> int:
    from .scorecard import print_scorecard

    print_scorecard(results=a.results, full=a.full, csv=a.csv)
    return 0


def add_paths_parsers(sub) -> None:
    """``oes denoise IMAGE``, ``oes inpaint IMAGE --mask-image M`` and ``oes scorecard``."""
    for name in ("denoise", "inpaint"):
        what = "remove noise from" if name == "denoise" else "fill in the white pixels of --mask-image in"
        p = sub.add_parser(name, help=f"learn an OES mask and train Sparse-DIP to {what} your own image, at its size",
                           description=f"Learn the OES mask of a random network (Algorithm 1) on IMAGE, then train "
                                       f"the sparse network (Sparse-DIP) to {what} it, at the image's own size. "
                                       f"Prints the size, the parameter counts and an estimate of the time on this "
                                       f"device before it starts.")
        p.add_argument("image", help="a PNG or JPEG file (gray or colour; written back the same)")
        if name == "inpaint":
            p.add_argument("--mask-image", required=True, metavar="M",
                           help="an image of the same size: white = pixels to fill in, black = pixels to keep")
        p.add_argument("--out-dir", default=None,
                       help=f"folder for restored.png, figure.png, mask.pt, history.csv, result.json "
                            f"(default IMAGE-oes-{name})")
        p.add_argument("--preset", default="quick", help="smoke | quick | medium | paper: network, steps, sparsity (default quick)")
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                       help="auto: CUDA or Apple MPS when present, else the CPU")
        p.add_argument("--sparsity", type=float, default=None, help="fraction of weights KEPT (default: the preset's)")
        p.add_argument("--mask-steps", type=int, default=None, help="mask-learning steps (default: the preset's)")
        p.add_argument("--steps", type=int, default=None, help="Sparse-DIP training steps (default: the preset's)")
        p.add_argument("--add-noise", type=float, default=None, metavar="SIGMA",
                       help="first add Gaussian noise of σ/255 (a demo on a clean image; PSNR is then reported)")
        p.add_argument("--seed", type=int, default=0, help="seeds θ_in, z and any added noise")
        p.add_argument("--estimate-only", action="store_true", help="print the plan and the time estimate, run nothing")
        p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out-dir")
        p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
        p.set_defaults(fn=_cmd_restore)

    p = sub.add_parser("scorecard", help="print the reproduction scorecard (claims held per finding and preset)",
                       description="Read the claims that the notebooks saved (book/_results, or $OES_RESULTS_DIR) "
                                   "and print the findings × presets summary, one line per finding; --full adds "
                                   "every claim. Works after `oes book run` or after running notebooks by hand "
                                   "with papermill.")
    p.add_argument("--results", default=None, help="claims folder (default: $OES_RESULTS_DIR or book/_results)")
    p.add_argument("--full", action="store_true", help="also print every claim")
    p.add_argument("--csv", default=None, metavar="FILE", help="also write the claims as CSV")
    p.set_defaults(fn=_cmd_scorecard)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    ap = argparse.ArgumentParser(prog="oes", description="Optimal Eye Surgeon: sparse image priors at initialisation")
    ap.add_argument("--version", action="version", version=f"oes {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("mask", help="learn an OES mask (Algorithm 1) from a corrupted image")
    _common(p)
    p.add_argument("--sparsity", type=float, default=None, help="fraction of parameters KEPT (paper's s/d), e.g. 0.05")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate on the logits")
    p.add_argument("--reg", choices=["kl", "l1", "centered"], default=None)
    p.add_argument("--lam", type=float, default=None, help="regulariser weight λ")
    p.add_argument("--maskable", choices=["all", "weights"], default=None)
    p.add_argument("--samples", type=int, default=None, help="K Concrete samples per step")
    p.add_argument("--out", required=True, help="mask file to write (.pt)")
    p.set_defaults(fn=_cmd_mask)

    p = sub.add_parser("fit", help="train dense DIP, Sparse-DIP (--mask) or the Deep Decoder on a corrupted image")
    _common(p)
    p.add_argument("--mask", default=None, help="mask file from `oes mask` or `oes prune`")
    p.add_argument("--dense", action="store_true", help="train the dense hourglass (Dense DIP)")
    p.add_argument("--decoder", action="store_true", help="train the Deep Decoder")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--out-dir", required=True, help="folder for history.csv, output.png, result.json")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out-dir")
    p.set_defaults(fn=_cmd_fit)

    p = sub.add_parser("images", help="list the available image names")
    p.set_defaults(fn=_cmd_images)

    p = sub.add_parser("fetch", help="download the paper's images or the authors' masks into the cache (checks sha256)")
    p.add_argument("names", nargs="*", help="names from data/manifest.json (default: all; with --from, all found there)")
    p.add_argument("--from", dest="source", default=None, metavar="DIR",
                   help="import the files from this local folder instead of downloading (same sha256 check)")
    p.set_defaults(fn=_cmd_fetch)

    _add_prune_parser(sub)
    _add_runs_parser(sub)

    try:
        from .book import add_book_parser
    except ImportError:
        add_book_parser = None
    if add_book_parser is not None:
        add_book_parser(sub)
    add_paths_parsers(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    try:
        return int(a.fn(a) or 0)
    except (CLIError, ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"oes {a.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
