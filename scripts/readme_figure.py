"""Draw the README's figure (docs/figure.png) from chapter 02's stored runs.

    python scripts/readme_figure.py [--preset quick] [--image astronaut] [--seed 0] [--out docs/figure.png]

PSNR against the clean image while each network fits the noisy one (no early stopping): dense DIP,
GP-DIP (SGLD), the Deep Decoder and Sparse-DIP (OES), for one image and seed of chapter 02's grid
(``oes.grids.overfitting``). The runs must be stored (``oes book run --only 02_overfitting``); the
script refuses to compute them.
"""
from __future__ import annotations

import argparse
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--image", default="astronaut")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/figure.png")
    a = ap.parse_args(argv)

    from oes.grids import overfitting
    from oes.plots import psnr_curves

    from oes.experiments.store import RunStore

    G = overfitting(a.preset, twins=0)
    store = RunStore()
    missing = [s for s in G.specs() if not store.is_done(s)]
    if missing:
        sys.exit(f"readme_figure: {len(missing)} of chapter 02's runs at {a.preset} are not stored; "
                 f"run `oes book run --preset {a.preset} --only 02_overfitting` first")
    R = G.execute()
    hist = {m: R.run(image=a.image, seed=a.seed, method=m).history for m in ("dense", "sgld", "decoder", "sparse")}
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    psnr_curves(hist, ax=ax, title=f"{a.image} 64×64, σ = 25, seed {a.seed}, preset {a.preset}: no early stopping")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    for m, h in hist.items():
        print(f"{m:8s} best {h['psnr'].max():.2f} dB at step {int(h.loc[h['psnr'].idxmax(), 'step'])}, "
              f"final {h['psnr'].iloc[-1]:.2f} dB")
    print(f"→ {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
