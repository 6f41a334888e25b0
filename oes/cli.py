"""The ``oes`` command line: ``oes mask``, ``oes fit``, ``oes prune``, ``oes images``, ``oes fetch``, ``oes book``.

Every command fails with a one-line message (exit status 2) on bad input and leaves no
partial output behind.
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
    p.add_argument("--preset", default="quick", help="smoke | quick | paper: sizes, network, steps (default quick)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default: the preset's)")
    p.add_argument("--noise", type=float, default=None, help="Gaussian noise σ in /255 units (default: the preset's, 25)")
    p.add_argument("--operator", default="denoising", choices=["denoising", "inpainting"])
    p.add_argument("--keep", type=float, default=0.5, help="inpainting: fraction of pixels observed")
    p.add_argument("--steps", type=int, default=None, help="iterations (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="seeds θ_in, z and the noise draw")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")


def _setup(a):
    from .presets import get_preset
    from .runs import make_problem
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
    if col:
        print(f"warning: layer collapse — fully pruned tensors: {', '.join(col)}")
    return 0


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

    try:
        from .pruners import add_prune_parser
    except ImportError:
        add_prune_parser = None
    if add_prune_parser is not None:
        add_prune_parser(sub, _common)

    try:
        from .book import add_book_parser
    except ImportError:
        add_book_parser = None
    if add_book_parser is not None:
        add_book_parser(sub)
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
