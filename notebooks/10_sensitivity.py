# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (oes)
#     language: python
#     name: oes
# ---

# %% [markdown]
# # Appendix — With its KL prior at the kept fraction, OES is robust to λ, the image and the initialisation
#
# *Paper: Appendix G (Figure 18), Appendix H.1 (Figure 15), Appendix I (Figures 25–29),
# Appendix J (Figures 30, 31); the objective is eq. 2 (eq. 3 in Appendix C).*
#
# OES learns Bernoulli probabilities $p$ on the weights of a random network by minimising
# $\mathbb{E}_{m\sim Ber(p)}\|G(\theta_{in}\circ m, z) - y\|^2 + \lambda\,KL(Ber(p)\,\|\,Ber(p_0))$
# and keeps the fraction $s/d$ with the largest $p$ ($m^* = C(p^*)$). The appendices study the knobs
# of this objective:
#
# * **λ (App. G, Fig 18).** Too large and $p$ is pinned at $p_0$ (no image, then layer collapse);
#   too small and $p$ stays spread around its start 0.5; in between, $p$ is *bimodal* — most weights
#   at $p_0$, a separate group at $p \approx 1$ — and the paper finds one such λ works on every image.
# * **p0 (App. H.1, Fig 15).** At 95 % pruning, a prior far from the kept fraction (0.5, 0.8)
#   ranks $p$ badly and collapses layers; $p_0$ near it (0.03, 0.05) does not.
# * **KL vs ℓ1 vs centred mean (App. I, Figs 25–29).** ℓ1 ($\lambda\|p\|_1$) and the centred mean
#   ($\lambda|\sum_i p_i - s|$) squeeze $p$ together, prune middle layers hardest, and ℓ1's best λ
#   changes from image to image, while KL's does not.
# * **Initialisation (App. J, Figs 30, 31).** Kaiming-uniform or Xavier-normal $\theta_{in}$ makes
#   little difference; scaling $\theta_{in}$ by 5 overfits slightly more, by 0.1 slightly less.
#
# Every mask here prunes 95 % of the weights ($s/d = 0.05$, the setting of App. G and H.1). The sweeps
# read off masks alone use one seed (as the paper's figures show one run); every comparison of *trained*
# masks — λ, the prior when its masks are trained, the initialisations — runs several seeds and is
# judged on the paired gap and its spread.

# %% tags=["remove-cell"]
# On Colab: install oes at the commit of this book. Written by `oes book sync` from _config.yml; edit it there.
import os
import sys

if "google.colab" in sys.modules:
    OES_INSTALL = os.environ.get("OES_INSTALL_SPEC", "oes @ git+https://github.com/oes-companion/oes@main")
    import importlib
    import tempfile
    from importlib.metadata import version

    # Colab's own torch (a CUDA build, used when a GPU is attached): pinned, so pip keeps it
    OES_KEEP = os.path.join(tempfile.gettempdir(), "oes-keep-torch.txt")
    with open(OES_KEEP, "w") as f:
        f.write(f"torch=={version('torch')}\n")
    # %pip install -q -c "$OES_KEEP" "$OES_INSTALL"
    importlib.invalidate_caches()
    import oes  # fails here, below pip's message, when the installation did
    import torch

    if torch.cuda.is_available():  # the page's runs then train on the GPU (the device is part of their keys)
        os.environ.setdefault("OES_DEVICE", "cuda")
    print(f"oes {oes.__version__} from {OES_INSTALL}; torch {torch.__version__} on "
          + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (Runtime > Change runtime type for a GPU)"))

# %% tags=["parameters"]
preset = "smoke"        # smoke | quick | paper
images = None           # images of the λ and regulariser sweeps; default: the chapter's setting
mask_steps = None       # OES iterations of every mask on this page; default: the chapter's setting
train_steps = None      # training iterations of the denoising runs; default: the chapter's setting
seeds = None            # θ_in, z and noise of the trained comparisons; the first also for the mask-only sweeps

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from oes.analysis import gap_text
from oes.compare import mean_std, paired_gap
from oes.experiments import RunSpec
from oes.generators import build_generator
from oes.grids import sensitivity
from oes.masks import maskable_names
from oes.metrics import to_numpy_image
from oes.plots import p_histogram, psnr_curves
from oes.presets import get_preset
from oes.scorecard import Scorecard
from oes.sensitivity import conv_layer_density, lambda_by_size, lambda_grid, mask_summary, masked_image

P = get_preset(preset)
G = sensitivity(preset, images=images, mask_steps=mask_steps, train_steps=train_steps, seeds=seeds)
S = G.params
images, seeds, mask_steps, train_steps, s, lam_c = (S[k] for k in ("images", "seeds", "mask_steps", "train_steps",
                                                                   "sparsity", "lam"))
reg_images = S["reg_images"]
sd0, im0 = seeds[0], images[0]
print(f"preset {P.name}: {P.size}×{P.size}, σ = {P.sigma:g}/255, hourglass {list(P.generator.channels)}, "
      f"masks keep {s:.0%}, learned for at most {mask_steps} OES steps (stopped once converged, λ fixed) at logit "
      f"lr {P.mask.lr:g}, T = {P.mask.temperature:g}; "
      f"denoising runs: {train_steps} steps; images {images}; seeds {seeds} (mask-only sweeps: seed {sd0})")
for d in P.deviations:
    print("  deviation from the paper:", d)
simplifications = []
if mask_steps != P.mask.steps:
    simplifications.append(f"every mask on this page is learned in {mask_steps} OES steps "
                           f"(the preset's other pages: {P.mask.steps}; the paper: 60,000)")
if train_steps != P.fit.steps:
    simplifications.append(f"denoising runs train {train_steps} steps (the preset's other pages: {P.fit.steps}; "
                           f"the paper: 40,000), so 'final' PSNR means after {train_steps} steps")
if not S["train_p0"]:
    simplifications.append("the p0 sweep is judged on the masks (layer collapse, masked image) without the "
                           "denoising runs of Fig 15")
simplifications.append(f"λ sweep on {len(images)} image(s); ℓ1 vs KL on {len(reg_images)}; "
                       f"centred mean on {len(S['centered_images'])}; Kaiming vs Xavier on "
                       f"{len(S['init_dist_images'])}; init scales on 1 (the paper: Fig 29 on 2, Fig 31 on 4, "
                       f"Fig 30 on 1); mask-only sweeps on seed {sd0}, trained comparisons on {len(seeds)} seed(s)")
for t in simplifications:
    print("  on this page:", t)

# %% [markdown]
# ## How λ is carried to this network
# The paper's λ = 1e-9 belongs to its 3,008,867-parameter hourglass ("the value of the KL would
# depend on the size of the network", App. G). The data term of eq. 2 is a mean over pixels while
# the KL is summed over the $d$ masked parameters, so the simplest transfer rule is $\lambda \propto 1/d$
# (same penalty share at initialisation). The book's presets use a better-founded rule
# (`docs/calibration.md`, `oes.learn.gradient_balance`): λ such that the prior's gradient at $p = 1/2$
# is a fixed fraction of the data gradient of the weight at the kept-set boundary — at `quick`, chosen
# per image. The paper's sweeps use *fixed* λ values for every image, and so does this page: **every
# sweep below is the paper's sweep shifted so that its 1e-9 lands on the preset's centre λ** (at
# `quick` the λ the rule gives on the calibration image), offsets in decades, e.g. the paper's 1e-3,
# 1e-6, 1e-9, 1e-13 are +6, +3, 0, −4 decades. The cell prints where the $1/d$ rule would have put it.

# %%
net0 = build_generator(P.generator, sd0)
d_masked = sum(dict(net0.named_parameters())[n].numel() for n in maskable_names(net0, P.mask.maskable))
lam_rule = lambda_by_size(d_masked)
lam_of = lambda k: lambda_grid(lam_c, [k])[0]                         # noqa: E731
print(f"d = {d_masked:,} masked parameters; centre λ = {lam_c:g} ({P.lam_text} elsewhere in the book); the 1/d rule from the paper's "
      f"(1e-9, 3,008,867) gives {lam_rule:.3g} ({np.log10(lam_rule / lam_c):+.1f} decades from the preset's)")
print("λ sweep (KL, Fig 18):", {k: lam_of(k) for k in S["lam_wide"]})
print("λ grid of the KL-vs-ℓ1 comparison (Fig 29):", {k: lam_of(k) for k in S["lam_fine"]})

# %% [markdown]
# ## The grid
# Every mask is labelled by its study (`lambda`, `l1`, `centered`, `p0`, `init`), image, seed and setting;
# a mask that belongs to several studies (the preset-λ KL mask is also the p0 = s/d mask and the
# Kaiming ×1 mask) is one task. The denoising runs train each mask's subnetwork from the same $\theta_{in}$
# it was learned on. The grid is declared in `oes.grids.sensitivity`.

# %%
G.table()

# %%
R = G.execute()
SETTINGS = ["study", "image", "seed", "decades", "p0", "init", "scale"]


def key_of(labels):
    return tuple(labels.get(k) for k in SETTINGS)


run_of = {key_of(lab): spec for lab, spec in G.items if isinstance(spec, RunSpec)}
summaries, rows = {}, []
for lab, spec in G.items:
    if isinstance(spec, RunSpec):
        continue
    k = R.store.key(spec)
    if k not in summaries:
        summaries[k] = mask_summary(spec)
    row = {**{c: lab.get(c) for c in SETTINGS}, "reg": spec.params["reg"], "lam": spec.params["lam"],
           "p0 used": spec.params.get("prior") or s, **summaries[k]}
    if key_of(lab) in run_of:
        r = R.store.run_one(run_of[key_of(lab)]).result
        row.update({"final PSNR": r["final_psnr"], "best PSNR": r["best_psnr"], "best step": r["best_step"],
                    "overfit (best − final)": r["best_psnr"] - r["final_psnr"]})
    rows.append(row)
M = pd.DataFrame(rows)
spec_of = {key_of(lab): spec for lab, spec in G.items if not isinstance(spec, RunSpec)}
print(f"{len(summaries)} masks, {len(run_of)} denoising runs ({len(set(map(R.store.key, run_of.values())))} distinct)")

# %% [markdown]
# ## Did the masks converge?
# The paper's sweeps fix λ (and p0, the regulariser, θ_in's distribution) and learn every mask for the
# same 60,000 steps. Here every mask learns until it has converged by the book's criteria
# (`docs/calibration.md` §1, §13: about k weights with p > ½, a kept set that no longer changes, at most
# 5 % of the kept conv weights on dead paths), or up to the preset's cap; λ stays fixed (no λ search:
# the sweep *is* over λ). A λ far from the preset's is not expected to converge — the prior pins p at
# p0, or is too weak to separate p — so those masks run to the cap. Dead-path waste 100 % means the mask
# is **severed**: no kept path from the input to the output, and its network outputs a constant
# whatever it is trained on. The first table counts the distinct masks of each study; the second lists
# every mask (a mask shared by studies appears once per study).

# %%
n_masks = len(summaries)
n_conv = sum(bool(v.get("converged")) for v in summaries.values())
n_severed = sum(v["waste"] >= 1 for v in summaries.values())
print(f"{n_conv} of {n_masks} distinct masks converged within {mask_steps} steps; {n_severed} severed "
      "(dead-path waste 100 %)")
simplifications.append(f"{n_conv} of {n_masks} masks converged within {mask_steps} OES steps at their fixed λ, "
                       f"{n_severed} severed")
(M.groupby("study")
 .agg(masks=("converged", "size"), converged=("converged", "sum"), severed=("waste", lambda w: int((w >= 1).sum())),
      **{"median steps": ("steps_run", "median"), "median #{p > ½}/k": ("above_half", "median"),
         "median waste": ("waste", "median")})
 .round(3))

# %%
conv_cols = ["study", "image", "seed", "decades", "p0", "init", "scale", "lam", "converged", "steps_run",
             "above_half", "waste", "collapsed", "masked PSNR"]
(M[conv_cols].assign(lam=M["lam"].map("{:.3g}".format))
 .rename(columns={"steps_run": "steps", "above_half": "#{p > ½}/k", "waste": "dead-path waste"})
 .round(3))

# %% [markdown]
# ## λ sweep with the KL regulariser (Fig 18)
# Top: the histogram of $p$ after mask learning (log counts, $p_0$ dashed). Bottom: the image the
# masked, untrained network makes, $G(\theta_{in}\circ C(p), z)$, with its PSNR against the clean image.

# %%
def mask_rec(**labels):
    return R.mask_record(**labels)


def show(ax, x, title):
    a = np.clip(to_numpy_image(x), 0, 1)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9); ax.axis("off")


lam_m = M[(M.study == "lambda") & (M.seed == sd0)]
at = lambda im, k: lam_m[(lam_m.image == im) & (lam_m.decades == k)].iloc[0]   # noqa: E731
wide = sorted(S["lam_wide"], reverse=True)
fig, axes = plt.subplots(2, len(wide), figsize=(3.2 * len(wide), 6.2), squeeze=False)
for j, k in enumerate(wide):
    r = mask_rec(study="lambda", image=im0, seed=sd0, decades=k)
    row = at(im0, k)
    p_histogram(r["logits"], s, ax=axes[0, j], title=f"λ = {row.lam:.3g} ({k:+d} dec.)"
                + ("  bimodal" if row.bimodal else ""))
    show(axes[1, j], masked_image(spec_of[("lambda", im0, sd0, k, None, None, None)], r["mask"]),
         f"masked at init: {row['masked PSNR']:.1f} dB\n{row.collapsed} collapsed tensors")
fig.suptitle(f"{im0} (seed {sd0}): p and G(θ_in ∘ m*, z) across λ (KL, p0 = {s:g}, {1 - s:.0%} pruned)", fontsize=11)
fig.tight_layout(); plt.show()

lam_table = (lam_m[lam_m.image == im0].sort_values("lam", ascending=False)
             [[c for c in ["decades", "lam", "bimodal", "near_p0", "high", "valley", "mean_p", "collapsed",
                           "masked PSNR", "final PSNR", "best PSNR"] if c in M]]
             .rename(columns={"near_p0": "|p − p0| < 0.1", "high": "p > 0.9"}))
lam_table.round(4).assign(lam=lam_table["lam"].map("{:.3g}".format))

# %% [markdown]
# *Bimodal* (see `oes.sensitivity.p_bimodality`): at least half of $p$ within 0.1 of $p_0$, at
# least 0.1 % of $p$ above 0.9, and an emptier valley between (a 0.05-wide bin between
# $p_0 + 0.1$ and 0.9 holding at most half the mean count of the bins above 0.9).
#
# ### Denoising with the masks of the λ sweep
# Curves: the first seed; table: final PSNR, mean ± std over the seeds.

# %%
trained_lam = M[(M.study == "lambda") & (M.image == im0) & M.decades.isin(S["train_lam"])].dropna(subset=["final PSNR"])
fig, ax = plt.subplots(figsize=(6, 3.4))
psnr_curves({f"λ = {lam_of(k):.3g}": R.run(study="lambda", image=im0, seed=sd0, decades=k).history
             for k in sorted(S["train_lam"], reverse=True)}, ax=ax,
            title=f"{im0} (seed {sd0}): Sparse-DIP ({s:.0%} kept) from OES masks at several λ")
ax.legend(fontsize=8); fig.tight_layout(); plt.show()
trained_lam = trained_lam.assign(λ=trained_lam["lam"].map("{:.3g}".format))
pd.concat([mean_std(trained_lam.assign(row=v), "row", "λ", v) for v in ["final PSNR", "overfit (best − final)"]])

# %% [markdown]
# ### Is the bimodal λ the same on every image?

# %%
fine = lam_m[lam_m.decades.isin(S["lam_fine"])]
fine_table = fine.pivot(index="decades", columns="image", values=["bimodal", "masked PSNR", "collapsed"])
fine_table.index.name = "λ (decades from the preset's)"
fine_table.sort_index(ascending=False).round(2)

# %% [markdown]
# ## The prior p0 at 95 % pruning (App. H.1, Fig 15)
# Same λ, same 5 % kept, four priors. A prior far from the kept fraction centres $p$ far from the
# threshold, so ranking $p$ decides by noise and can prune whole layers.

# %%
p0s = list(S["p0s"])
p0_m = M[M.study == "p0"]
fig, axes = plt.subplots(2, len(p0s), figsize=(3.2 * len(p0s), 6.2), squeeze=False)
for j, p0 in enumerate(p0s):
    r = mask_rec(study="p0", image=im0, seed=sd0, p0=p0)
    row = p0_m[(p0_m.p0 == p0) & (p0_m.seed == sd0)].iloc[0]
    p_histogram(r["logits"], p0, ax=axes[0, j], title=f"p0 = {p0:g}")
    show(axes[1, j], masked_image(spec_of[("p0", im0, sd0, None, p0, None, None)], r["mask"]),
         f"masked at init: {row['masked PSNR']:.1f} dB\n{row.collapsed} collapsed tensors")
fig.suptitle(f"{im0} (seed {sd0}): OES with prior p0, then {1 - s:.0%} pruned by ranking p", fontsize=11)
fig.tight_layout(); plt.show()
if S["train_p0"]:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    psnr_curves({f"p0 = {p0:g}": R.run(study="p0", image=im0, seed=sd0, p0=p0).history for p0 in p0s}, ax=ax,
                title=f"{im0} (seed {sd0}): denoising with the masks learned at each p0 (Fig 15)")
    ax.legend(fontsize=8); fig.tight_layout(); plt.show()
p0_table = p0_m.groupby("p0")[["near_p0", "high", "collapsed", "masked PSNR"]
                              + (["final PSNR"] if S["train_p0"] else [])].mean()
p0_table.round(3)

# %% [markdown]
# ## KL vs ℓ1 vs centred mean (App. I)
# The three regularisers at the preset's λ on the first image: $\mathrm{mean}(p)$ during mask learning
# (Fig 25), the histograms of $p$ (Fig 28) and the kept fraction of every conv layer, log scale (Fig 27).
# Here ℓ1 is $\sum_i p_i$ and the centred mean is $|\sum_i p_i - s|$ — summed like the KL, so one λ
# puts the three on the same scale (Fig 28's caption).

# %%
regs = [("lambda", "KL"), ("l1", "ℓ1"), ("centered", "centred mean")]
reg_rec = {r: mask_rec(study=r, image=im0, seed=sd0, decades=0) for r, _ in regs}
fig, axes = plt.subplots(1, 4, figsize=(17, 3.4))
for (r, label), c in zip(regs, ("tab:green", "tab:red", "tab:purple")):
    h = reg_rec[r]["history"]
    axes[0].plot(h["step"], h["mean_p"], label=label, color=c)
axes[0].axhline(s, color="k", ls="--", lw=1, label=f"s/d = {s:g}")
axes[0].set_xlabel("OES iteration"); axes[0].set_ylabel("mean p"); axes[0].legend(fontsize=8)
axes[0].set_title("mean(p) during mask learning (Fig 25)", fontsize=10); axes[0].grid(alpha=0.3)
for ax, (r, label) in zip(axes[1:], regs):
    p_histogram(reg_rec[r]["logits"], s, ax=ax, title=f"p with {label} (Fig 28)")
fig.tight_layout(); plt.show()

layers = pd.DataFrame({label: conv_layer_density(reg_rec[r]["mask"]) for r, label in regs})
fig, ax = plt.subplots(figsize=(8, 3.4))
for (r, label), c in zip(regs, ("tab:green", "tab:red", "tab:purple")):
    ax.semilogy(range(len(layers)), layers[label].clip(lower=1e-5), "o-", label=label, color=c, ms=4)
ax.set_xticks(range(len(layers)))
ax.set_xticklabels([n.removesuffix(".weight") for n in layers.index], rotation=60, fontsize=7, ha="right")
ax.set_ylabel("kept fraction (log; 1e-5 = none)"); ax.legend(fontsize=8); ax.grid(alpha=0.3, which="both")
ax.set_title(f"{im0}: layer-wise kept fraction of the conv weights (Fig 27)", fontsize=10)
fig.tight_layout(); plt.show()
layers.T.round(4)

# %% [markdown]
# ### The best λ for ℓ1 and for KL on two images (Fig 29)
# "Best" is the λ whose mask gives the highest PSNR of $G(\theta_{in}\circ m^*, z)$ — the image
# representation Fig 29 compares — on the same λ grid for both regularisers.

# %%
grid = M[M.study.isin(["lambda", "l1"]) & M.image.isin(reg_images) & M.decades.isin(S["lam_fine"]) & (M.seed == sd0)]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
best = {}
for ax, (r, label) in zip(axes, [("kl", "KL"), ("l1", "ℓ1")]):
    for im in reg_images:
        g = grid[(grid.reg == r) & (grid.image == im)].sort_values("lam")
        line, = ax.semilogx(g["lam"], g["masked PSNR"], "o-", label=im)
        b = g.loc[g["masked PSNR"].idxmax()]
        best[(r, im)] = b["lam"]
        ax.plot(b["lam"], b["masked PSNR"], "*", ms=14, color=line.get_color())
        for _, row in g[g.collapsed > 0].iterrows():
            ax.annotate("collapse", (row["lam"], row["masked PSNR"]), fontsize=7, xytext=(3, -10),
                        textcoords="offset points")
    ax.set_xlabel("λ"); ax.set_title(f"{label}: masked-at-init PSNR (★ = best λ)", fontsize=10)
    ax.grid(alpha=0.3); ax.legend(fontsize=8)
axes[0].set_ylabel("PSNR of G(θ_in ∘ m*, z) (dB)")
fig.tight_layout(); plt.show()
pd.DataFrame({label: {im: best[(r, im)] for im in reg_images} for r, label in [("kl", "KL"), ("l1", "ℓ1")]}
             ).rename_axis("best λ")

# %% [markdown]
# ## Initialisation of θ_in (App. J, Figs 30 and 31)
# A mask is learned on each initialisation and its subnetwork trained from those same weights, for every
# seed. Curves: the first seed; table: mean ± std over the seeds.

# %%
NAMES = {"kaiming_uniform": "Kaiming-uniform", "xavier_normal": "Xavier-normal"}
it = M[M.study == "init"].copy()
it["θ_in"] = [f"{NAMES.get(i, i)} ×{c:g}" for i, c in zip(it["init"], it["scale"])]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
psnr_curves({f"{NAMES[i]} ({im})": R.run(study="init", image=im, seed=sd0, init=i, scale=1.0).history
             for im in S["init_dist_images"] for i in NAMES}, ax=axes[0], title=f"initial distribution (Fig 31), seed {sd0}")
psnr_curves({f"Kaiming ×{c:g}": R.run(study="init", image=im0, seed=sd0, init="kaiming_uniform", scale=c).history
             for c in S["init_scales"]}, ax=axes[1], title=f"{im0}: initial scale (Fig 30), seed {sd0}")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout(); plt.show()
pd.concat({v: mean_std(it, "image", "θ_in", v) for v in ["final PSNR", "best PSNR", "overfit (best − final)",
                                                          "masked PSNR"]})

# %% [markdown]
# ## What the paper reports vs what this run shows

# %%
card = Scorecard("10_sensitivity", preset=P.name)
scope = "; ".join(simplifications)

# 1. one bimodal λ works on every image (masks of seed sd0)
fine_kl = fine
bimodal_everywhere = [k for k in S["lam_fine"] if fine_kl[fine_kl.decades == k].bimodal.all()]
gaps = {k: {im: fine_kl[fine_kl.image == im]["masked PSNR"].max() - at(im, k)["masked PSNR"] for im in images}
        for k in S["lam_fine"]}
works = [k for k in bimodal_everywhere if max(gaps[k].values()) <= 1.0]
card.claim("g_bimodal_lambda_all_images",
           text=f"One λ gives a bimodal p on every image ({', '.join(images)}) and its masks are within 1 dB of the "
                f"best λ's masked-at-init PSNR on each (KL, λ grid {[lam_of(k) for k in S['lam_fine']]}, seed {sd0})",
           paper="App. G / Fig 18, App. I: λ = 1e-9 works for all images",
           value=(f"bimodal on all images at λ = {[lam_of(k) for k in bimodal_everywhere] or 'none'}; "
                  + "; ".join(f"λ = {lam_of(k):.3g}: " + ", ".join(f"{im} {'bimodal' if at(im, k).bimodal else 'not'}"
                                                                    f" −{gaps[k][im]:.2f} dB" for im in images)
                              for k in S["lam_fine"])),
           holds=bool(works), details=scope)

hi, lo = max(S["lam_wide"]), min(S["lam_wide"])
r_hi, r_c, r_lo = at(im0, hi), at(im0, 0), at(im0, lo)
card.claim("g_large_lambda_pins_p0",
           text=f"λ ×10^{hi} (paper: 1e-3) pins p at p0: ≥ 99 % of p within 0.1 of p0, no mode at 1 (< 0.1 % "
                f"above 0.9), and the masked image is ≥ 3 dB worse than at the preset λ ({im0}, seed {sd0})",
           paper="App. G / Fig 18: 'no image generation', p collapses to p0",
           value=f"{r_hi.near_p0:.2%} near p0, {r_hi.high:.3%} above 0.9; masked PSNR {r_hi['masked PSNR']:.2f} vs "
                 f"{r_c['masked PSNR']:.2f} dB",
           holds=bool(r_hi.near_p0 >= 0.99 and r_hi.high < 1e-3 and r_c["masked PSNR"] - r_hi["masked PSNR"] >= 3),
           details=scope)
mid = sorted(k for k in S["lam_wide"] if 0 < k < hi)
if mid:
    r_mid = at(im0, mid[-1])
    card.claim("g_large_lambda_collapses",
               text=f"λ ×10^{mid[-1]} (paper: 1e-6): ranking p prunes at least one weight tensor entirely "
                    f"(layer collapse), {im0}, seed {sd0}",
               paper="App. G: 'even in this case, ranking the values of p leads to layer collapse'",
               value=f"{r_mid.collapsed} collapsed tensors (preset λ: {r_c.collapsed}); masked PSNR "
                     f"{r_mid['masked PSNR']:.2f} dB", holds=bool(r_mid.collapsed > 0), details=scope)
card.claim("g_small_lambda_spread",
           text=f"λ ×10^{lo} (paper: 1e-13): p is not bimodal and most of it stays away from p0 "
                f"(< 50 % within 0.1 of p0), {im0}, seed {sd0}",
           paper="App. G / Fig 18: 'the distribution p is uniform around the initialization p = 0.5'",
           value=f"{r_lo.near_p0:.2%} within 0.1 of p0, median p {r_lo.median_p:.3f}, bimodal: {r_lo.bimodal}",
           holds=bool(not r_lo.bimodal and r_lo.near_p0 < 0.5), details=scope)
others = [k for k in S["train_lam"] if k != 0]
if 0 in S["train_lam"] and others:
    tl = trained_lam.assign(setting=trained_lam["decades"].map("{:+g}".format))   # paired_gap takes string labels
    lg = {k: paired_gap(tl, "+0", f"{k:+g}", value="final PSNR", column="setting") for k in others}
    card.claim("g_preset_lambda_denoises_best",
               text=f"Denoising {im0} ({train_steps} steps): the preset λ's mask gives a higher final PSNR than the "
                    f"masks at λ ×10^{sorted(others, reverse=True)}, paired by seed, beyond the spread",
               paper="App. G: 1e-9 works best among the logarithmic grid",
               value="; ".join(f"λ = {lam_c:.3g} − λ = {lam_of(k):.3g}: {g['text']}" for k, g in lg.items())
                     + " (means: " + ", ".join(f"{lam_of(k):.3g}: {v:.2f} dB" for k, v in
                                               trained_lam.groupby("decades")["final PSNR"].mean()
                                               .sort_index(ascending=False).items()) + ")",
               holds=bool(all(g["holds"] for g in lg.values())), details=scope)

# 2. p0
p0r = p0_m[p0_m.seed == sd0].set_index("p0")
near = [p0 for p0 in p0s if p0 <= 2 * s]
far = [p0 for p0 in p0s if p0 >= 10 * s]
card.claim("h1_far_prior_collapses",
           text=f"At {1 - s:.0%} pruning, p0 far from the kept fraction ({far}) collapses layers; p0 near it ({near}) "
                f"does not ({im0}, preset λ, seed {sd0})",
           paper="App. H.1 / Fig 15: p0 = 0.5, 0.8 collapse and break down; 0.03, 0.05 work",
           value=", ".join(f"p0 = {p0:g}: {int(p0r.loc[p0, 'collapsed'])} collapsed, masked "
                           f"{p0r.loc[p0, 'masked PSNR']:.1f} dB" for p0 in p0s),
           holds=bool(far and near and (p0r.loc[far, "collapsed"] > 0).all() and (p0r.loc[near, "collapsed"] == 0).all()),
           details=scope)
if S["train_p0"] and far and near:
    p0_named = p0_m.assign(prior=p0_m["p0"].map("{:g}".format))
    pg = {(a, b): paired_gap(p0_named, f"{a:g}", f"{b:g}", value="final PSNR", column="prior")
          for a in near for b in far}
    card.claim("h1_near_prior_denoises",
               text=f"Denoising {im0}: every p0 near the kept fraction ends above every far p0 (final PSNR), paired by "
                    f"seed, beyond the spread",
               paper="Fig 15: far priors 'completely break down'",
               value="; ".join(f"p0 {a:g} − {b:g}: {g['text']}" for (a, b), g in pg.items()),
               holds=bool(all(g["holds"] for g in pg.values())), details=scope)

# 3. regularisers (masks of seed sd0)
kl_best = {im: best[("kl", im)] for im in reg_images}
l1_best = {im: best[("l1", im)] for im in reg_images}
card.claim("i_l1_best_lambda_differs",
           text=f"With ℓ1, the best λ (masked-at-init PSNR) differs between images ({', '.join(reg_images)}; seed {sd0})",
           paper="App. I / Fig 29: 1e-9 for Pepper, 1e-8 for Flowers",
           value=", ".join(f"{im}: {v:.3g}" for im, v in l1_best.items()),
           holds=bool(len(set(l1_best.values())) > 1), details=scope)
card.claim("i_kl_best_lambda_same",
           text=f"With KL, the best λ on the same grid is the same for every image ({', '.join(reg_images)}; seed {sd0})",
           paper="App. I: 'λ_KL = 1e-9 works for all the images unlike for L1'",
           value=", ".join(f"{im}: {v:.3g}" for im, v in kl_best.items()),
           holds=bool(len(set(kl_best.values())) == 1), details=scope)
h_c = reg_rec["centered"]["history"]
end_mean = float(h_c["mean_p"].iloc[-1])
card.claim("i_centered_mean_stalls",
           text=f"Under the centred-mean regulariser mean(p) falls from 0.5 to s/d = {s:g} and stays there "
                f"(ends within ±{0.2 * s:g}), {im0}, seed {sd0}",
           paper="App. I.1 / Fig 25: mean(p) decreases to 0.05 and becomes stationary",
           value=f"mean p: {h_c['mean_p'].iloc[0]:.3f} → {end_mean:.4f} (min {h_c['mean_p'].min():.4f})",
           holds=bool(abs(end_mean - s) <= 0.2 * s), details=scope)
min_layer = layers.min()
card.claim("i_l1_prunes_layers_harder",
           text=f"ℓ1 and the centred mean prune their most-pruned conv layer harder than KL does ({im0}, preset λ, "
                f"seed {sd0})",
           paper="App. I.1 / Fig 27: middle layers severely pruned by ℓ1 and centred mean",
           value=", ".join(f"{k}: min kept {v:.2%}" for k, v in min_layer.items()),
           holds=bool(min_layer["ℓ1"] < min_layer["KL"] and min_layer["centred mean"] < min_layer["KL"]),
           details=scope)

# 4. initialisation (every seed, paired by (image, seed))
dist = it[it.scale == 1.0]
g_dist = paired_gap(dist, "xavier_normal", "kaiming_uniform", value="final PSNR", column="init")
card.claim("j_init_distribution_barely_matters",
           text=f"Masks learned on Xavier-normal vs Kaiming-uniform θ_in denoise within 1 dB of each other: the paired "
                f"gap in final PSNR ({train_steps} steps), mean ± std over ≥ 3 (image, seed) pairs, lies within ±1 dB",
           paper="App. J.1 / Fig 31: 'does not seem to play a big role'",
           value=f"Xavier − Kaiming: {gap_text(g_dist, notes=False)} (per pair {g_dist['min']:+.2f} … "
                 f"{g_dist['max']:+.2f} dB)" + (" (fewer than 3 pairs)" if g_dist["n"] < 3 else ""),
           holds=bool(g_dist["n"] >= 3 and abs(g_dist["mean"]) + g_dist["std"] <= 1), details=scope)
sc = it[(it.image == im0) & (it.init == "kaiming_uniform")]
sc = sc.assign(times=sc["scale"].map("×{:g}".format))
scales = set(sc["scale"])
if {1.0, 5.0} <= scales:
    g5 = paired_gap(sc, "×5", "×1", value="overfit (best − final)", column="times")
    card.claim("j_scale5_overfits_more",
               text=f"θ_in scaled ×5 overfits more than ×1 (larger best − final PSNR drop, {im0}, {train_steps} steps), "
                    f"paired by seed, beyond the spread",
               paper="App. J.2 / Fig 30: 'masks learned at 5× initialization seem to overfit slightly'",
               value=f"drop ×5 − ×1: {g5['text']} (means {g5['a']:.2f} vs {g5['b']:.2f} dB)",
               holds=g5["holds"], details=scope)
if {0.1, 1.0} <= scales:
    g01 = paired_gap(sc, "×0.1", "×1", value="final PSNR", column="times")
    card.claim("j_scale01_not_worse",
               text=f"θ_in scaled ×0.1 denoises at least as well as ×1 (final PSNR, {im0}, {train_steps} steps): the "
                    f"paired gap ×0.1 − ×1 over ≥ 3 seeds is not below zero by more than its spread",
               paper="App. J.2 / Fig 30: 'with a smaller scale ... seems to perform better'",
               value=f"×0.1 − ×1: {gap_text(g01, notes=False)} (means {g01['a']:.2f} vs {g01['b']:.2f} dB)"
                     + (" (fewer than 3 pairs)" if g01["n"] < 3 else ""),
               holds=bool(g01["n"] >= 3 and g01["mean"] >= -g01["std"]), details=scope)
card.save()
card.frame()

# %% [markdown]
# **Reading the table.** Each row is one claim checked by the code above at this page's preset; ✗ means
# the claim did not hold in this run (the numbers say by how much). Claims read off one mask's $p$ or its
# masked image use the first seed, as the paper's figures show one run; every claim that compares trained
# masks uses all seeds and holds only when the mean paired gap exceeds its spread over ≥ 3 pairs (the
# "within" claims: the whole band mean ± std inside the tolerance), so at `smoke` (one seed) those
# cannot hold. Every claim's details end with how many of the page's masks converged and how many are
# severed: a comparison between masks of which some output a constant measures the severing, not λ,
# p0 or θ_in. The `smoke` preset only exercises the code: its numbers are meaningless. At `quick` the
# image, network and step counts are scaled down (the deviations printed at the top), λ is the preset's
# own (its sweeps are the paper's decades shifted onto it), and this page runs fewer images than the
# paper — the lines "on this page" printed at the top, repeated in every claim's details.
#
# **At `quick`, a fixed λ does not give converged masks.** The convergence tables above show it: at
# 64² no λ of the sweep brings a mask into the band within the step cap, and where the prior is too weak
# for the mask to separate (#{p > ½}/k well above 1) ranking p tends to cut every path from the input to
# the output. The λ at which a mask does converge differs between images and between seeds — which is
# why the rest of the book searches it per mask (chapter 02, `docs/calibration.md` §9–10) instead of
# fixing it as the paper does. The trained comparisons on this page (λ, θ_in's distribution and scale)
# are therefore decided largely by which of their masks sever, and their ✓ and ✗ at `quick` say little
# about the paper's App. G and J; only the mask-level claims (bimodality, spread, layer profile) read
# the prior itself.
