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
# # Appendix J.3 — IMP masks taken at the early-stopping point match OES on their own image, not on another
#
# *Paper: Appendix J.3 and Figure 14 (a: the same image, b: a transferred mask); §3.1 (LTH masks at
# convergence); §2 on ES-WMV (Wang et al. 2021). The ES-WMV comparison at the end of this page is not in the
# paper.*
#
# Iterative magnitude pruning (the Lottery-Ticket recipe, §3.1) prunes by the weight magnitudes of a
# *trained* network. Trained to convergence on a noisy image, DIP has fitted the noise, and the mask
# inherits that (Figure 3, Table 4). Appendix J.3 grants IMP an oracle: magnitudes taken at the
# **early-stopping point**, the iteration where dense DIP's PSNR against the clean image peaks — a point
# no user knows, since it needs the clean image. Figure 14 compares three 5 %-dense masks, all learned
# on one image:
#
# 1. IMP at convergence, 2. OES at initialisation (eq. 2, no training), 3. IMP at the early-stopping point,
#
# (a) trained on the same image they were learned from, and (b) transferred to another image. The paper
# finds IMP-at-early-stop as good as OES on its own image, but worse once transferred.
#
# The page ends with what a user without the clean image could do instead: stop dense DIP with the ES-WMV
# detector (windowed moving variance of the outputs, Wang et al. 2021), and compare the PSNR there with
# Sparse-DIP trained to the end with no stopping rule at all.

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
source = None           # image the masks are learned on; default: the chapter's (paper: Pepper, Lena)
target = None           # image the masks are transferred to; default: the chapter's (paper: Flowers)
seeds = None            # default: the chapter's seeds
imp_stop = None         # IMP's early stop: "dense_best" | "best" | an int step; default: the chapter's
steps = None            # training iterations of every run; default: the preset's (paper: 40 000)
imp_train_steps = None  # Adam steps per IMP round at convergence; default: chapter 03's (the training horizon)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from oes.compare import gap_exceeds, gap_text, paired_gap
from oes.early_stop import stop_summary
from oes.grids import EARLY_STOP_MASKS as MASKS, early_stop_masks
from oes.plots import METHOD_COLORS, psnr_curves, show_images
from oes.presets import get_preset
from oes.scorecard import Scorecard

P = get_preset(preset)
G = early_stop_masks(preset, source=source, target=target, seeds=seeds, imp_stop=imp_stop, steps=steps,
                     imp_train_steps=imp_train_steps)
source, target, seeds, imp_stop, steps, sparsity = (G.params[k] for k in ("source", "target", "seeds", "imp_stop",
                                                                          "steps", "sparsity"))
IMP, imp_steps = G.params["imp_label"], G.params["imp_train_steps"]
window, patience, eswmv_images = (G.params[k] for k in ("eswmv_window", "eswmv_patience", "eswmv_images"))
print(f"preset {P.name}: {P.size}×{P.size}, σ = {P.sigma:g}/255, masks learned on '{source}', transferred to "
      f"'{target}', seeds {seeds}, all masks keep {sparsity:.1%}, {steps} training iterations (no early stopping)")
print(f"IMP: chapter 03's {IMP} schedule rewound to θ_in; at convergence every round trains {imp_steps} steps; at "
      f"early stop every round stops at {imp_stop!r}")
print(f"ES-WMV: window W = {window}, patience P = {patience} (Wang et al. 2021: W = 100, P = 1000 at 40 k steps)")
for d in P.deviations:
    print("  deviation from the paper:", d)
if len(seeds) < 3:
    print(f"  this chapter at '{P.name}': {len(seeds)} seed(s) — comparisons need 3 pairs and do not hold")

# %% [markdown]
# ## The grid
# Per seed: dense DIP on both images (the same runs as on the Finding 2 page), dense DIP with ES-WMV,
# the three masks learned on the source and the six sparse runs of Fig 14. *IMP at early stop* declares
# the dense run on the source as its `source_run`: the executor trains (or loads) that run first, and the
# IMP builder reads its oracle best-PSNR step t* from it — one grid, no second phase. Its `steps` column is
# an upper bound (rounds × the horizon): the real cost is rounds × t*. Declared in
# `oes.grids.early_stop_masks`.

# %%
G.table()

# %%
R = G.execute()
dense = {(im, sd): R.run(role="dense", image=im, seed=sd) for im in dict.fromkeys([source, target, *eswmv_images])
         for sd in seeds}
es = {(im, sd): R.run(role="es_wmv", image=im, seed=sd) for im in eswmv_images for sd in seeds}
masks = {(sd, k): R.mask(role="mask", mask=k, seed=sd) for sd in seeds for k in MASKS}
pd.DataFrame([{"image": im, "seed": sd, "oracle stop t*": r.result["best_step"],
               "PSNR at t* (dB)": r.result["best_psnr"], "final PSNR (dB)": r.result["final_psnr"],
               "ES-WMV stop (−1: none)": es[(im, sd)].result.get("detected_step") if (im, sd) in es else "not run"}
              for (im, sd), r in dense.items()]).round(2)

# %% [markdown]
# ## Step 2 — three masks learned on the source image
# *IMP at convergence* is chapter 03's gradual IMP mask: every round trains the full horizon, past the
# dense peak above, and prunes by the magnitudes at its end. *IMP at early stop* runs the same schedule but
# trains each round only up to the stopping point and prunes by the magnitudes there; with the default rule
# `dense_best` that point is dense DIP's oracle t* (the paper's "assuming the early stopping point is
# known"). The mask is stored with `oracle = True`.

# %%
pd.DataFrame([{"mask": MASKS[k], "seed": sd, "density": m.density, "kept weights": m.n_kept,
               "collapsed tensors": len(m.collapsed()), "oracle": bool(m.meta.get("oracle", False)),
               "magnitudes taken at step": "— (no training)" if k == "oes" else
               str(m.meta.get("stop_step") or f"{m.meta.get('train_steps')} (the end)")}
              for (sd, k), m in masks.items()])

# %% [markdown]
# Each IMP round, for the first seed: the PSNR the network reached while it was trained, and the step whose
# magnitudes decided the pruning.

# %%
sd0 = seeds[0]
rounds = []
for k in ("imp_conv", "imp_es"):
    h = R.mask_record(role="mask", mask=k, seed=sd0)["history"]
    rounds.append(h.assign(mask=MASKS[k])[["mask", "round", "density_trained", "density_after", "steps",
                                           "magnitude_step", "best_step", "best_psnr", "final_psnr"]])
pd.concat(rounds, ignore_index=True).round(3)

# %% [markdown]
# ## Step 3 — train each mask on the source image and on the transfer target (Fig 14)
# Every sparse network starts from the same θ_in the masks were learned on (the seed) and is trained to
# the end, with no early stopping. The table is the mean ± std over seeds; the claims below use **paired
# gaps** (the same seed: same θ_in and noise) as mean ± standard deviation over the seeds.

# %%
df = R.frame(role="sparse")
df = df[df["mask"].isin(list(MASKS))]
df["setting"] = np.where(df["image"] == source, "same image", "transferred")
g = df.groupby(["mask", "setting"])["final_psnr"]
table = (g.mean().map("{:.2f}".format) + " ± " + g.std(ddof=0).fillna(0).map("{:.2f}".format)).unstack("setting")
table = table.loc[list(MASKS), ["same image", "transferred"]]
for label, field in (("Dense DIP, final", "final_psnr"), ("Dense DIP at t* (oracle)", "best_psnr")):
    table.loc[label] = [f"{np.mean([dense[(im, sd)].result[field] for sd in seeds]):.2f}" for im in (source, target)]
shown = table.rename(index=MASKS)
shown.columns = [f"same image: '{source}' (Fig 14a)", f"transferred: '{source}' → '{target}' (Fig 14b)"]
same, trans = df[df.setting == "same image"], df[df.setting == "transferred"]
PAIR = ("seed",)
gaps = {"same": {k: paired_gap(same, "oes", k, column="mask", pair=PAIR) for k in ("imp_conv", "imp_es")},
        "transferred": {k: paired_gap(trans, "oes", k, column="mask", pair=PAIR) for k in ("imp_conv", "imp_es")}}
display(pd.DataFrame({s: {f"OES − {MASKS[k]}": gap_text(v) for k, v in gs.items()} for s, gs in gaps.items()}))
shown

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
COLORS = {"oes": METHOD_COLORS["oes"], "imp_conv": METHOD_COLORS["imp"], "imp_es": "tab:purple"}
by = {(k, im): R.run(role="sparse", mask=k, image=im, seed=sd0) for k in MASKS for im in (source, target)}
for ax, im, tag in zip(axes, (source, target), ("(a) same image", "(b) transferred")):
    psnr_curves({MASKS[k]: by[(k, im)].history for k in MASKS}, ax=ax, colors={MASKS[k]: COLORS[k] for k in MASKS},
                title=f"{tag}: masks from '{source}', trained on '{im}' (seed {sd0})")
    h = dense[(im, sd0)].history
    ax.plot(h["step"], h["psnr"], color="gray", ls="--", lw=1, label="Dense DIP (reference)")
    ax.axvline(dense[(source, sd0)].result["best_step"], color="tab:purple", ls=":", lw=1,
               label=f"IMP's stop on '{source}'" if imp_stop == "dense_best" else None)
axes[0].legend(fontsize=8)
fig.tight_layout(); plt.show()

# %%
outs, titles = [], []
for im in (source, target):
    prob = by[("oes", im)].spec.problem()
    outs += [prob.y, prob.x] + [by[(k, im)].output for k in MASKS]
    titles += [f"noisy y '{im}'", "clean x"] + [f"{MASKS[k]}\n{by[(k, im)].result['final_psnr']:.1f} dB" for k in MASKS]
show_images(outs, titles, ncols=2 + len(MASKS), suptitle=f"masks learned on '{source}': after the last iteration")
plt.show()

# %% [markdown]
# ## ES-WMV: where a detector would stop dense DIP, and Sparse-DIP with no stop at all
# ES-WMV tracks the variance of the last W outputs and stops at its minimum once it has not improved for
# P iterations. Below, dense DIP's PSNR curve (the full run) with the oracle t* and the ES-WMV stop, the
# windowed variance, and the final PSNR of Sparse-DIP (an OES mask learned on the same image) trained to
# the end. Without a detection ES-WMV lets training run to the end, so dense DIP's final PSNR is counted.

# %%
rows = []
for (im, sd), r in es.items():
    own = R.run(role="sparse", mask="oes" if im == source else "own", image=im, seed=sd)
    row = stop_summary(dense[(im, sd)].result, r.result, own.result)
    if row["ES-WMV stop"] < 0:
        row["dense PSNR at ES-WMV stop"] = row["dense final PSNR"]
        row["ES-WMV − oracle (dB)"] = row["dense final PSNR"] - row["dense PSNR at oracle stop"]
        row["Sparse-DIP final − ES-WMV (dB)"] = row["Sparse-DIP final PSNR"] - row["dense final PSNR"]
    rows.append({"image": im, "seed": sd, **row})
stops = pd.DataFrame(rows)
display(stops.round(2))

ims = list(dict.fromkeys(eswmv_images))
fig, axes = plt.subplots(1, len(ims), figsize=(5.5 * len(ims), 3.6), squeeze=False)
for ax, im in zip(axes[0], ims):
    h, he, s = dense[(im, sd0)].history, es[(im, sd0)].history, stops[(stops.image == im) & (stops.seed == sd0)].iloc[0]
    ax.plot(h["step"], h["psnr"], color=METHOD_COLORS["dense"], label="Dense DIP")
    ax.axhline(s["Sparse-DIP final PSNR"], color=METHOD_COLORS["sparse"], ls="--",
               label=f"Sparse-DIP, final ({s['Sparse-DIP final PSNR']:.1f} dB)")
    ax.axvline(s["dense oracle stop"], color="k", ls=":", lw=1,
               label=f"oracle t* ({s['dense PSNR at oracle stop']:.1f} dB)")
    if s["ES-WMV stop"] >= 0:
        ax.axvline(s["ES-WMV stop"], color="tab:orange", lw=1.5,
                   label=f"ES-WMV stop ({s['dense PSNR at ES-WMV stop']:.1f} dB)")
    ax.set_xlabel("iteration"); ax.set_ylabel("PSNR (dB)"); ax.grid(alpha=0.3)
    ax.set_title(f"'{im}' (seed {sd0})", fontsize=10)
    if "wmv_var" in he and he["wmv_var"].notna().any():
        ax2 = ax.twinx()
        ax2.plot(he["step"], he["wmv_var"], color="tab:orange", alpha=0.5, lw=1)
        ax2.set_yscale("log"); ax2.set_ylabel("windowed variance (ES-WMV)", color="tab:orange", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
fig.tight_layout(); plt.show()

# %% [markdown]
# ## What the paper reports vs what this run shows
# Figure 14 shows curves, not numbers: the claims below use paired gaps of final PSNR over the seeds.
# "Does as well as" holds when the gap minus its spread stays above −1 dB; "above" when the gap exceeds its
# spread — each over at least 3 seeds.

# %%
card = Scorecard("06_early_stop_masks", preset=P.name)
scope = f"{len(seeds)} seed(s), masks keep {sparsity:.0%}, IMP {IMP} with {imp_steps} steps per round at convergence"
g_es_same = paired_gap(same, "imp_es", "oes", column="mask", pair=PAIR)
card.claim("j3_imp_es_matches_oes_same_image",
           text=f"On the image the masks were learned from, IMP at the (oracle) early-stopping point does as well as "
                f"OES: final PSNR no more than 1 dB below OES, beyond the spread ('{source}', {scope})",
           paper="Fig 14a: 'IMP obtained at early-stopping point performs as well as OES'",
           value=f"IMP-ES − OES {gap_text(g_es_same)}", holds=gap_exceeds(g_es_same, -1.0))
g = gaps["same"]["imp_conv"]
card.claim("j3_imp_convergence_below_oes",
           text=f"IMP at convergence ends below OES on the image the masks were learned from, beyond the spread "
                f"('{source}', {scope})",
           paper="Fig 14a; §3.1: LTH masks at convergence perform poorly on denoising",
           value=f"OES − IMP-conv {g['text']}", holds=g["holds"])
g = gaps["transferred"]["imp_es"]
card.claim("j3_oes_beats_imp_es_transferred",
           text=f"Transferred to another image ('{source}' → '{target}'), the OES mask ends above IMP at early stop, "
                f"beyond the spread ({scope})",
           paper="Fig 14b: IMP at early stop 'degrades with respect to the OES mask' (Lena → Flowers)",
           value=f"OES − IMP-ES {g['text']}", holds=g["holds"])
lead = df.pivot_table(index=["seed", "setting"], columns="mask", values="final_psnr").reset_index()
lead["OES − IMP-ES"] = lead["oes"] - lead["imp_es"]
g_more = paired_gap(lead, "transferred", "same image", value="OES − IMP-ES", column="setting", pair=PAIR)
card.claim("j3_transfer_hurts_imp_es_more",
           text=f"OES's lead over IMP at early stop is larger on the transferred image than on the source image, "
                f"beyond the spread ({scope})",
           paper="Fig 14a vs 14b",
           value=f"(OES − IMP-ES) transferred − same {g_more['text']}", holds=g_more["holds"],
           details=f"OES − IMP-ES: same image {gap_text(gaps['same']['imp_es'])}; transferred "
                   f"{gap_text(gaps['transferred']['imp_es'])}")
n_det = int((stops["ES-WMV stop"] >= 0).sum())
d_es = stops["ES-WMV − oracle (dB)"]
g_es = {"n": len(d_es), "mean": float(d_es.mean()), "std": float(d_es.std(ddof=1)) if len(d_es) > 1 else 0.0}
card.claim("eswmv_near_oracle",
           text=f"ES-WMV (W = {window}, P = {patience}) detects a stop of dense DIP in every run, at a PSNR no more "
                f"than 1 dB below the oracle peak, beyond the spread over {len(stops)} run(s)",
           paper="not in the paper (ES-WMV: Wang et al. 2021; §2 notes its detection 'is sometimes off')",
           value=f"{n_det}/{len(stops)} detected; ES-WMV − oracle {gap_text(g_es, 'dB')}",
           holds=bool(n_det == len(stops)) and gap_exceeds(g_es, -1.0))
d_sp = stops["Sparse-DIP final − ES-WMV (dB)"]
g_sp = {"n": len(d_sp), "mean": float(d_sp.mean()), "std": float(d_sp.std(ddof=1)) if len(d_sp) > 1 else 0.0}
card.claim("eswmv_vs_sparse_no_stop",
           text="Sparse-DIP trained to the end with no stopping rule is no more than 1 dB below dense DIP stopped by "
                "ES-WMV, beyond the spread over the ES-WMV runs (same image and seed)",
           paper="not in the paper (its §4.2 argument: Sparse-DIP needs no early stopping)",
           value=f"Sparse-DIP − ES-WMV {gap_text(g_sp)} (Sparse-DIP {stops['Sparse-DIP final PSNR'].mean():.2f} vs "
                 f"ES-WMV {stops['dense PSNR at ES-WMV stop'].mean():.2f} dB)",
           holds=gap_exceeds(g_sp, -1.0))
card.save()
card.frame()

# %% [markdown]
# **Reading the table.** Each row is one claim checked by the code above at this page's preset;
# ✗ means the claim did not hold in this run (the numbers say by how much). Comparisons are paired over seeds
# and need at least 3: the `smoke` preset has one, so they never hold, and its numbers are meaningless anyway.
# At `quick` the network, image size and step counts are scaled down (see the deviations printed at the top and
# `docs/calibration.md`); IMP uses chapter 03's gradual schedule of a few rounds (every round at convergence
# trains the whole horizon, past dense DIP's peak) instead of 14 rounds of 40 k steps, and ES-WMV's patience
# is shortened to fit the horizon. IMP at early stop uses the clean image to find its stopping point (an
# oracle), which neither OES nor ES-WMV does.
