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
# # Finding 4 — OES masks transfer to other images
#
# *Paper: §4.4, Figure 8, Figure 13 and Tables 5/6 (Appendix E), Figure 20.*
#
# An OES mask $m^*(y_{source})$ is learned on one noisy image; the subnetwork
# $G(\theta_{in} \circ m^*(y_{source}), z)$ is then trained to denoise another image $y_{target}$ — same
# θ_in, same loop, no early stopping. §4.4 compares three settings:
#
# 1. **self-masking**: $y_{source} = y_{target}$;
# 2. **inter-dataset masking**: another image of the same dataset;
# 3. **cross-dataset masking**: an image of the other dataset.
#
# The paper uses the Face dataset (Bevilacqua et al. 2012) and the "standard" DIP images
# (Ulyanov et al. 2018); it finds self-masking best in most cases, with inter- and cross-dataset masks only
# slightly worse (Fig 8), and OES masks transferring better than IMP masks at the same density
# (Table 5, noisy source; Table 6, masks learned on the clean image). This page stands in two groups of the
# built-in images for the two datasets (named below; pass `groups=` to use other images, e.g. the paper's
# after `oes fetch`).

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
groups = None           # {"dataset name": [images]}: two stand-in datasets; default: the chapter's
sources = None          # extra mask sources (each target also gets its own mask); default: the chapter's
targets = None          # images to denoise; default: the chapter's
seeds = None            # default: the chapter's seeds
density = None          # fraction of weights kept by every mask; default: the chapter's (paper: 5 %)
imp_source = None       # Tables 5/6: the image whose OES and IMP masks are transferred (paper: Lena)
imp_targets = None      # Tables 5/6: their targets
oracle = None           # Table 6: also transfer masks learned on the clean image (oracle); default: the chapter's
steps = None            # training iterations of every run; default: the preset's (paper: 40 000)
imp_train_steps = None  # Adam steps per IMP round; default: chapter 03's (the training horizon)

# %%
import matplotlib.pyplot as plt
import pandas as pd

from oes.compare import KINDS, gap_exceeds, gap_text, group_of, kind_means, mean_std, overfit, paired_gap, self_label
from oes.generators import build_generator, make_input
from oes.grids import transfer
from oes.learn import masked_output
from oes.plots import show_images, zoom_crops
from oes.presets import chapter_settings, get_preset
from oes.scorecard import Scorecard

P = get_preset(preset)
G = transfer(preset, groups=groups, sources=sources, targets=targets, seeds=seeds, density=density,
             imp_source=imp_source, imp_targets=imp_targets, oracle=oracle, steps=steps,
             imp_train_steps=imp_train_steps)
groups, sources, targets, seeds, density, imp_source, imp_targets, oracle, steps = (
    G.params[k] for k in ("groups", "sources", "targets", "seeds", "density", "imp_source", "imp_targets", "oracle",
                          "steps"))
IMP, imp_steps = G.params["imp_label"], G.params["imp_train_steps"]
PAPER_S = chapter_settings("04_transfer", "paper")
names = list(groups)
print(f"preset {P.name}: {P.size}×{P.size}, σ = {P.sigma:g}/255, seeds {seeds}; every mask keeps {density:.1%} "
      f"of the hourglass's weights; {steps} training steps per run, no early stopping")
print(f"dataset A = '{names[0]}' (stands in for the paper's Face dataset): {groups[names[0]]}")
print(f"dataset B = '{names[1]}' (stands in for the paper's standard dataset): {groups[names[1]]}")
print(f"targets {targets}; mask sources {sources} plus each target's own; IMP = {IMP} "
      f"({imp_steps} steps per round: chapter 03's mask) learned on '{imp_source}'")
for d in P.deviations:
    print("  deviation from the paper:", d)
notes, short = [], []
if P.name != "paper":
    if density != PAPER_S["density"]:
        notes.append(f"density {density:.0%} kept (paper: {PAPER_S['density']:.0%}) — the preset's OES sparsity, "
                     f"so masks and self-masking runs are shared with chapters 02 and 03")
        short.append(f"{density:.0%} kept")
    notes.append(f"{len(targets)} targets × {len(sources)} extra sources × {len(seeds)} seed(s); Table 5 on "
                 f"{len(imp_targets)} targets")
    short.insert(0, f"{len(targets)} targets, {len(seeds)} seed(s)")
    if IMP != "IMP-(0.8)^14":
        notes.append(f"IMP mask = chapter 03's {IMP} (paper: IMP-(0.8)^14), {imp_steps} steps per round")
        short.append(IMP)
    if not oracle:
        notes.append("Table 6 (masks learned on the clean image) not run at this preset — set oracle=True")
for n in notes:
    print("  this chapter at this preset:", n)

# %% [markdown]
# ## The grid
# One OES mask per image and seed (learned on the noisy image, on θ_in of that seed). Each target is
# denoised by the subnetwork of its own mask (self), of the other sources (inter- or cross-dataset, by the
# source's group), and — for Table 5 — by the OES and the IMP masks of `imp_source`. A mask is always
# applied to the θ_in it was learned on (same seed), so only the measurement it was learned from changes.
# The IMP mask is declared by the same function as chapter 03's, so it is chapter 03's stored mask. The
# grid is declared in `oes.grids.transfer`.

# %%
G.table()

# %%
R = G.execute()
df = R.frame()
df["overfit (best − final)"] = overfit(df)
oes_noisy = df[(df["mask"] == "OES") & (df["learned_on"] == "noisy")]
print(f"{len(df)} runs: " + ", ".join(f"{k} {int((oes_noisy.transfer == k).sum())}" for k in KINDS) + " (OES, noisy "
      f"source), {int((df['mask'] == 'IMP').sum())} IMP")

# %% [markdown]
# ## Self, inter- and cross-dataset masking (Fig 8)
# PSNR while training each target's subnetworks (seed shown: the first), one curve per mask source.

# %%
KIND_COLOR = {"self": "tab:green", "inter": "tab:blue", "cross": "tab:red"}
fig, axes = plt.subplots(1, len(targets), figsize=(5.2 * len(targets), 3.5), squeeze=False)
for ax, t in zip(axes[0], targets):
    n_kind = dict.fromkeys(KINDS, 0)         # several sources of one kind: one line style each
    for lab in R.labels():
        if lab["target"] != t or lab["seed"] != seeds[0] or lab["learned_on"] != "noisy":
            continue
        if lab["mask"] == "IMP":
            color, ls = "black", "--"
        else:
            color, ls = KIND_COLOR[lab["transfer"]], ("-", "-.", ":")[n_kind[lab["transfer"]] % 3]
            n_kind[lab["transfer"]] += 1
        h = R.run(**lab).history
        ax.plot(h["step"], h["psnr"], color=color, ls=ls, lw=1.2, label=f"{lab['mask']} {lab['transfer']}: "
                                                                         f"m({lab['source']})")
    ax.set(xlabel="iteration", ylabel="PSNR (dB)", title=f"y_target = {t} ({group_of(t, groups)})")
    ax.grid(alpha=0.3); ax.legend(fontsize=7)
fig.tight_layout(); plt.show()

# %% [markdown]
# Final PSNR of every (source → target) pair with an OES mask learned on the noisy source (mean ± std over
# seeds), then the mean per target and kind. The claims compare kinds by **paired gaps**: on the same target
# and seed (same noise, same θ_in), the final PSNR with the target's own mask minus that with a transferred
# mask, as mean ± standard deviation over the (target, seed) pairs.

# %%
pairs = oes_noisy.assign(pair=oes_noisy.source + " → " + oes_noisy.target)
display(mean_std(pairs, "pair", "transfer", order=list(KINDS)).fillna(""))
per_target = kind_means(oes_noisy.rename(columns={"transfer": "kind"}), paired=False)
display(per_target.round(2))
PAIR = ("target", "seed")
gap_kind = {(a, b): paired_gap(oes_noisy, a, b, column="transfer", pair=PAIR)
            for a, b in (("self", "inter"), ("self", "cross"), ("inter", "cross"))}
pd.Series({f"{a} − {b}": g["text"] for (a, b), g in gap_kind.items()}, name="paired gap of final PSNR").to_frame()

# %% [markdown]
# ## OES vs IMP masks transferred (Table 5 layout)
# Both masks are learned on the noisy `imp_source` image at the same density; the IMP mask is chapter 03's
# (magnitudes after training for the full horizon, past dense DIP's peak, rewound to θ_in). The row of the
# source itself is marked *(self)*.

# %%
def table5(learned_on: str) -> tuple[pd.DataFrame, dict, dict]:
    d = df[(df.source == imp_source) & (df["learned_on"] == learned_on) & df.target.isin(imp_targets)]
    d = d.assign(row=[self_label(t, imp_source) for t in d.target], col=[f"m({m})" for m in d["mask"]])
    t = mean_std(d, "row", "col", order=["m(IMP)", "m(OES)"])
    t.index.name = f"y_target (σ = {P.sigma:g}, masks from {learned_on} {imp_source})"
    t = t.reindex([self_label(t_, imp_source) for t_ in imp_targets])
    g_all = paired_gap(d, "OES", "IMP", column="mask", pair=PAIR)
    g_moved = paired_gap(d[d.target != imp_source], "OES", "IMP", column="mask", pair=PAIR)
    return t, g_all, g_moved


t5, g5, g5_moved = table5("noisy")
print(f"OES − IMP, all targets: {g5['text']}; transferred targets only: {g5_moved['text']}")
t5

# %% [markdown]
# ### Masks learned on the clean image — oracle (Table 6 layout)
# Table 6 repeats the comparison with both masks learned on the **clean** source image, information a real
# denoising user does not have (Wu et al. 2023 train their IMP masks this way).

# %%
if oracle:
    t6, g6, g6_moved = table5("clean")
    print(f"OES − IMP, all targets: {g6['text']}; transferred targets only: {g6_moved['text']}")
    display(t6)
else:
    print("Not run at this preset (oracle=False): it adds two masks and "
          f"{2 * len(imp_targets) * len(seeds)} runs. Run this page with oracle=True to add Table 6.")

# %% [markdown]
# ## Transferred OES vs IMP subnetworks after the last iteration (Fig 13)

# %%
sd = seeds[0]
outs, titles = [], []
for t in imp_targets:
    lab = dict(learned_on="noisy", source=imp_source, target=t, seed=sd)
    o, i = R.run(mask="OES", **lab), R.run(mask="IMP", **lab)
    prob = o.spec.problem()
    outs += [prob.y, o.output, i.output]
    titles += [f"noisy {t}", f"m(OES) of {imp_source}\n{o.result['final_psnr']:.1f} dB",
               f"m(IMP) of {imp_source}\n{i.result['final_psnr']:.1f} dB"]
show_images(outs, titles, ncols=6 if len(outs) % 6 == 0 else 3); plt.show()
side = max(8, P.size // 3)
zoom_crops(outs[:6], titles[:6], box=(P.size // 3, P.size // 3, side)); plt.show()

fig, axes = plt.subplots(1, len(imp_targets), figsize=(4.6 * len(imp_targets), 3.2), squeeze=False)
for ax, t in zip(axes[0], imp_targets):
    for m, color in (("OES", "tab:green"), ("IMP", "black")):
        h = R.run(mask=m, learned_on="noisy", source=imp_source, target=t, seed=sd).history
        ax.plot(h["step"], h["psnr"], color=color, label=f"m({m}) of {imp_source}")
    ax.set(xlabel="iteration", ylabel="PSNR (dB)", title=self_label(t, imp_source)); ax.grid(alpha=0.3)
axes[0][0].legend(fontsize=8)
fig.tight_layout(); plt.show()

# %% [markdown]
# ## At T = 0 the transferred subnetwork draws the *source* image (Fig 20)
# $G(\theta_{in} \circ m^*(y_1), z)$ before any training is the masked-network image of the source $y_1$
# (Finding 1); training it on $y_2$ turns it into a denoised $y_2$.

# %%
panel, ptitles = [], []
for t in targets[:2]:
    cross = [s for s in sources if s != t and group_of(s, groups) != group_of(t, groups)]
    s = cross[0] if cross else next(s for s in sources if s != t)
    rec = R.run(mask="OES", learned_on="noisy", source=s, target=t, seed=sd)
    mask = R.mask(mask="OES", learned_on="noisy", source=s, seed=sd)
    net, z = build_generator(P.generator, sd), make_input(P.generator, P.size, sd)
    src, tgt = rec.spec.mask.problem(), rec.spec.problem()
    panel += [src.y, masked_output(net, z, mask), tgt.y, rec.output, tgt.x]
    ptitles += [f"y1 = noisy {s}", "T = 0: G(θ_in ∘ m*(y1), z)", f"y2 = noisy {t}",
                f"T = {steps}: {rec.result['final_psnr']:.1f} dB", f"clean {t}"]
show_images(panel, ptitles, ncols=5); plt.show()

# %% [markdown]
# ## What the paper reports vs what this run shows

# %%
card = Scorecard("04_transfer", preset=P.name)
scaled = f" [{P.name}: " + "; ".join(short) + "]" if short else ""
g_si, g_sc = gap_kind["self", "inter"], gap_kind["self", "cross"]
card.claim("f4_self_best",
           text="Self-masking is best: a target's own OES mask ends above inter- and cross-dataset masks, beyond the "
                "spread of the paired gap over targets × seeds" + scaled,
           paper="Fig 8 / §4.4: 'in most cases, self-masking by OES provides the best performance'",
           value=f"self − inter {g_si['text']}; self − cross {g_sc['text']}",
           holds=bool(g_si["holds"] and g_sc["holds"]),
           details="mean final PSNR per target and kind: " + "; ".join(
               f"{t}: " + ", ".join(f"{k} {per_target.loc[t, k]:.2f}" for k in per_target.columns)
               for t in per_target.index))
g_is, g_cs = (paired_gap(oes_noisy, k, "self", column="transfer", pair=PAIR) for k in ("inter", "cross"))
card.claim("f4_transfer_small_loss",
           text="OES masks transfer with a small loss: inter- and cross-dataset masks end no more than 1 dB below "
                "self-masking, beyond the spread of the paired gap" + scaled,
           paper="§4.4: inter- and cross-dataset masking 'also gives good PSNR at convergence but the performance "
                 "slightly degrades when compared to self-masking' (Fig 8)",
           value=f"inter − self {gap_text(g_is)}; cross − self {gap_text(g_cs)}",
           holds=gap_exceeds(g_is, -1.0) and gap_exceeds(g_cs, -1.0))
card.claim("f4_oes_transfers_better_than_imp",
           text=f"OES masks of noisy {imp_source} transfer better than IMP masks ({IMP}) at the same density: OES "
                f"ends above IMP beyond the spread of the paired gap over targets × seeds (the source's own row "
                f"included, as in Table 5)" + scaled,
           paper="Table 5, σ = 25 (source: noisy Lena): OES above IMP on 10 of 10 targets (+0.5 to +1.1 dB)",
           value=f"OES − IMP {g5['text']}", holds=g5["holds"],
           details=f"transferred targets only (source's row left out): {g5_moved['text']}")
if oracle:
    card.claim("f4_oracle_oes_vs_imp",
               text=f"With both masks learned on the clean {imp_source} (oracle), OES ends above IMP beyond the spread "
                    f"of the paired gap" + scaled,
               paper="Table 6b (clean Lena): OES above IMP on 8 of 8 targets; Table 6a (clean Pepper): 10 of 10",
               value=f"OES − IMP {g6['text']}", holds=g6["holds"],
               details=f"transferred targets only: {g6_moved['text']}")
else:
    card.claim("f4_oracle_oes_vs_imp",
               text=f"With both masks learned on the clean {imp_source} (oracle), OES ends above IMP beyond the spread",
               paper="Table 6b (clean Lena): OES above IMP on 8 of 8 targets; Table 6a (clean Pepper): 10 of 10",
               value="not run at this preset (oracle=False)", holds=None)
card.save()
card.frame()

# %% [markdown]
# **Reading the table.** Each row is one claim checked by the code above at this page's preset; ✗ means it
# did not hold in this run, and the numbers say by how much; – means it was not tested at this preset. A
# comparison holds only when the paired gap exceeds its own spread over at least 3 (target, seed) pairs; the
# `smoke` preset has too few pairs, and its numbers are meaningless anyway. At `quick` the image, network and
# step counts are scaled down (the deviations printed at the top); this chapter also uses few targets and three
# seeds, the preset's density instead of 5 %, chapter 03's gradual IMP schedule (every round trained for the
# full horizon, past dense DIP's peak), and leaves Table 6 out — all printed under the deviations and repeated
# in the claims' text. The two "datasets" are groups of built-in images, not the paper's Face and standard
# datasets, so "cross-dataset" here means "a visually different kind of image", which is what §4.4 uses the two
# datasets for.
