r"""Analyses of pruned generators and of their outputs (§5 Fig 9, §6 Fig 10, App. K Fig 33).

* **Where a mask keeps its weights** — :func:`network_layers` lists a generator's convolution
  layers in the order the signal flows through them and names the part of the network each
  belongs to: for the hourglass, *encoder levels → junction → decoder levels → output*
  (Fig 10, Fig 27); for the Deep Decoder, *first → middle → last* (Fig 33).
  :func:`layer_kept` turns a :class:`~oes.masks.Mask` into one row per layer (kept fraction
  ‖m_ℓ‖₀ / d_ℓ), :func:`part_kept` aggregates it (parameter-weighted) by part, and
  :func:`w_shape` / :func:`u_shape` test the paper's shapes of the layer-wise curve.
* **Spectra of outputs** — :func:`magnitude_spectrum` is the centred 2-D |F| of the
  (grey, mean-removed) image shown in Fig 9a; :func:`radial_power` its ring average; and
  :func:`axis_energy` measures how much of the energy lies on the horizontal and vertical
  frequency axes away from the origin (§5: "x-axis and y-axis of the spectra have much higher
  magnitude than that of deep decoder, hence it can reconstruct directional edges").

Plot helpers for these views (:func:`plot_layer_kept`, :func:`show_spectra`) are at the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .generators import GeneratorConfig, build_generator
from .masks import Mask
from .metrics import to_numpy_image

__all__ = ["Layer", "network_layers", "layer_kept", "part_kept", "w_shape", "u_shape", "dead_paths",
           "gray", "magnitude_spectrum", "radial_power", "axis_energy", "axis_area_fraction",
           "kept_from_pruned", "decoder_mask_specs", "plot_layer_kept", "show_spectra", "REGION_COLORS",
           "relative_depth", "layer_profile", "gap_text"]


# =========================================================================== layers
@dataclass(frozen=True)
class Layer:
    """One convolution of a generator, in signal-flow order.

    ``side`` is ``"encoder"`` or ``"decoder"`` (the output conv counts as decoder; every Deep
    Decoder layer is decoder).  ``region`` locates the layer on the layer-wise curve:
    hourglass ``first`` (the first encoder conv), ``encoder``, ``junction`` (the deepest
    encoder level and the first decoder level), ``decoder``, ``last`` (the output conv);
    Deep Decoder ``first``, ``middle``, ``last``.
    """

    position: int
    label: str
    module: str
    params: tuple[str, ...]
    side: str
    region: str
    level: int
    n_params: int


def _conv_modules(net: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    # named_modules follows registration order, which is the forward order of both generators
    return [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Conv2d)]


@lru_cache(maxsize=32)
def _layers_cached(cfg: GeneratorConfig) -> tuple[Layer, ...]:
    net = build_generator(cfg, 0)
    convs = _conv_modules(net)
    out: list[Layer] = []
    n = len(convs)
    L = cfg.depth
    for pos, (name, mod) in enumerate(convs):
        params = tuple(f"{name}.{p}" for p, _ in mod.named_parameters())
        size = sum(p.numel() for p in mod.parameters())
        if cfg.kind == "hourglass":
            if name.startswith("encoder."):
                level = int(name.split(".")[1])
                sub = "a" if name.split(".")[2] == "0" else "b"   # a: conv + downsample, b: conv after it
                label, side = f"enc{level + 1}{sub}", "encoder"
                region = "junction" if level == L - 1 else "encoder"
            elif name.startswith("decoder."):
                level = int(name.split(".")[1])
                label, side = f"dec{level + 1}", "decoder"
                region = "junction" if level == 0 else "decoder"
            else:
                level, label, side, region = L, "out", "decoder", "last"
            if pos == 0:
                region = "first"
        else:
            level = pos
            label = f"layer{pos + 1}" if pos < n - 1 else "out"
            side = "decoder"
            region = "first" if pos == 0 else ("last" if pos == n - 1 else "middle")
        out.append(Layer(pos, label, name, params, side, region, level, size))
    return tuple(out)


def network_layers(cfg: GeneratorConfig) -> list[Layer]:
    """The convolution layers of the generator described by ``cfg``, in signal-flow order.

    Hourglass of depth L: ``enc1a, enc1b, …, encLa, encLb`` (level i: the 'a' conv then
    downsampling, the 'b' conv at the lower resolution), ``dec1 … decL`` (upsample then conv),
    ``out`` (the 1×1 output conv). Deep Decoder: ``layer1 … layerK`` and ``out``.
    BatchNorm parameters are not layers here (see :func:`layer_kept`).
    """
    return list(_layers_cached(cfg))


def _mask_config(mask: Mask) -> GeneratorConfig:
    g = mask.meta.get("generator")
    if g is None:
        raise ValueError("the mask's meta has no 'generator'; pass the GeneratorConfig explicitly")
    return GeneratorConfig.from_dict(g)


def layer_kept(mask: Mask, cfg: GeneratorConfig | None = None) -> pd.DataFrame:
    r"""Kept fraction of every convolution layer (weight and bias together) — Fig 10 / Fig 33.

    Columns: ``position, label, side, region, level, n_params, n_kept, kept`` with
    ``kept = n_kept / n_params`` over the layer's parameters that the mask covers (a
    parameter the mask does not cover, e.g. a bias under ``maskable="weights"``, is left out).

    >>> from oes.generators import GeneratorConfig, build_generator
    >>> cfg = GeneratorConfig("deep_decoder", (4, 4))
    >>> t = layer_kept(Mask.ones(build_generator(cfg)), cfg)
    >>> list(t["label"]), list(t["kept"])
    (['layer1', 'layer2', 'out'], [1.0, 1.0, 1.0])
    """
    cfg = cfg or _mask_config(mask)
    rows = []
    for ly in network_layers(cfg):
        covered = [p for p in ly.params if p in mask]
        n_params = sum(mask[p].numel() for p in covered)
        n_kept = sum(int(mask[p].sum()) for p in covered)
        rows.append({"position": ly.position, "label": ly.label, "side": ly.side, "region": ly.region,
                     "level": ly.level, "n_params": n_params, "n_kept": n_kept,
                     "kept": n_kept / n_params if n_params else float("nan")})
    return pd.DataFrame(rows)


def part_kept(table: pd.DataFrame, by: str = "side") -> pd.Series:
    """Parameter-weighted kept fraction per group (``by`` = ``side`` or ``region``):
    Σ n_kept / Σ n_params over the group's layers."""
    g = table.groupby(by, sort=False)[["n_kept", "n_params"]].sum()
    return g["n_kept"] / g["n_params"]


def w_shape(table: pd.DataFrame) -> dict:
    r"""The 'W' of Fig 10b / App. D.2 along an hourglass: high at the first layer, a dip inside
    the encoder, a peak at the encoder–decoder junction, a dip inside the decoder, high at the
    output layer.

    Returns the five values (``first``, ``encoder_min`` = the smallest kept fraction among
    the encoder's interior layers, ``junction`` = the largest among the junction layers,
    ``decoder_min``, ``last``) and ``holds`` = first > encoder_min < junction > decoder_min < last.
    A side with no interior layer (a depth-1 hourglass) makes ``holds`` False.
    """
    def vals(region):
        return table.loc[table["region"] == region, "kept"].dropna()

    enc, dec, jun = vals("encoder"), vals("decoder"), vals("junction")
    first, last = float(vals("first").iloc[0]), float(vals("last").iloc[0])
    out = {"first": first, "encoder_min": float(enc.min()) if len(enc) else float("nan"),
           "junction": float(jun.max()) if len(jun) else float("nan"),
           "decoder_min": float(dec.min()) if len(dec) else float("nan"), "last": last}
    e, j, d = out["encoder_min"], out["junction"], out["decoder_min"]
    out["holds"] = bool(len(enc) and len(dec) and len(jun) and first > e and j > e and j > d and last > d)
    return out


def u_shape(table: pd.DataFrame) -> dict:
    """Fig 33's shape for the Deep Decoder: the first and the last layer each keep a larger
    fraction than every middle layer. Returns ``first``, ``middle_max``, ``last``, ``holds``."""
    mid = table.loc[table["region"] == "middle", "kept"].dropna()
    first = float(table.loc[table["region"] == "first", "kept"].iloc[0])
    last = float(table.loc[table["region"] == "last", "kept"].iloc[0])
    m = float(mid.max()) if len(mid) else float("nan")
    return {"first": first, "middle_max": m, "last": last, "holds": bool(len(mid) and first > m and last > m)}


def dead_paths(mask: Mask | Mapping[str, torch.Tensor], cfg: GeneratorConfig | None = None, bn_cuts: bool = True,
               net: nn.Module | None = None) -> dict:
    r"""Kept convolution weights that cannot matter: the *dead-path waste* of a mask.

    A channel is **alive** when it both receives a signal that depends on the input z (some kept
    weight connects it to an alive channel of the layer before; the input's channels are alive)
    and can reach the output (some kept weight connects it to an alive channel of the layer after;
    the output's channels are alive). A BatchNorm whose scale γ is pruned outputs the constant β in
    that channel, so it cuts the channel too. Biases only add constants and never make a channel
    alive. A kept weight ``w[c_out, c_in]`` is **useful** when ``c_in`` is alive on the input side and
    ``c_out`` on the output side; the others are wasted: the subnetwork has fewer effective
    parameters than it keeps (§4.3's layer collapse is the extreme case: nothing reaches the output).

    Returns ``channels`` (conv output channels in all), ``dead_channels``, ``kept`` (kept conv weights),
    ``wasted``, ``waste`` = wasted / kept and ``bn_kept``, the fraction of BatchNorm scales γ the mask
    keeps (NaN when it does not cover them).

    ``bn_cuts=False`` treats every BatchNorm scale as kept: the waste that the conv weights' own
    connectivity causes. The difference to the default is the waste of channels cut by a pruned γ
    while conv weights into or out of them are kept — at ``quick`` most of the waste
    (``docs/calibration.md`` §11); the authors' 512² masks prune ≈ 40 % of the γ together with
    their channels' weights (waste 0.01–0.04 %).

    ``net`` (optional): the network whose structure to follow, instead of building one from ``cfg``
    (or the mask's meta); then ``mask`` may be a plain dict of bool tensors — what mask learning's
    waste criterion (``MaskConfig.max_waste``) passes at every convergence check.
    """
    if net is None:
        net = build_generator(cfg or _mask_config(mask), 0)
    ops: list[tuple[str, str, int, int]] = []          # (kind, param name, n_out, n_in) in forward order
    for name, mod in net.named_modules():
        if isinstance(mod, nn.Conv2d):
            ops.append(("conv", f"{name}.weight", mod.out_channels, mod.in_channels))
        elif isinstance(mod, nn.BatchNorm2d):
            ops.append(("bn", f"{name}.weight", mod.num_features, mod.num_features))
    params = dict(net.named_parameters())

    def links(pname: str):                            # (n_out, n_in) bool: any kept weight in the kernel
        if pname not in mask or (not bn_cuts and params[pname].dim() == 1):
            return torch.ones(params[pname].shape[:2], dtype=torch.bool)
        m = mask[pname]
        return m.flatten(2).any(-1) if m.dim() == 4 else m

    fwd_in = []                                        # alive-from-input at each op's input
    alive = torch.ones(ops[0][3], dtype=torch.bool)
    for kind, pname, _, _ in ops:
        fwd_in.append(alive)
        l = links(pname)
        alive = (l & alive[None, :]).any(1) if kind == "conv" else alive & l
    bwd_out = [None] * len(ops)                        # reaches-output at each op's output
    alive = torch.ones(ops[-1][2], dtype=torch.bool)
    for i in range(len(ops) - 1, -1, -1):
        kind, pname, _, _ = ops[i]
        bwd_out[i] = alive
        l = links(pname)
        alive = (l & alive[:, None]).any(0) if kind == "conv" else alive & l
    channels = dead = kept = wasted = 0
    for i, (kind, pname, n_out, _) in enumerate(ops):
        if kind != "conv":
            continue
        m = mask[pname] if pname in mask else torch.ones_like(params[pname], dtype=torch.bool)
        per = m.flatten(1).sum(1) if m.dim() == 2 else m.flatten(2).sum(-1)      # (n_out, n_in) counts
        useful = fwd_in[i][None, :] & bwd_out[i][:, None]
        k = int(per.sum())
        kept += k
        wasted += k - int(per[useful].sum())
        out_fwd = fwd_in[i + 1] if i + 1 < len(ops) else (per.bool() & fwd_in[i][None, :]).any(1)
        channels += n_out
        dead += int((~(out_fwd & bwd_out[i])).sum()) if out_fwd.numel() == n_out else 0
    bn = [mask[p] for kind, p, _, _ in ops if kind == "bn" and p in mask]
    bn_kept = sum(int(t.sum()) for t in bn) / sum(t.numel() for t in bn) if bn else float("nan")
    return {"channels": channels, "dead_channels": dead, "kept": kept, "wasted": wasted,
            "waste": wasted / kept if kept else float("nan"), "bn_kept": bn_kept}


def kept_from_pruned(pruned: float) -> float:
    """Fraction kept for a fraction pruned (Appendix K quotes the Deep Decoder's levels as pruned:
    "27 %, 55 %, 74 %"), rounded to 6 digits so equal levels give equal mask specs.

    >>> kept_from_pruned(0.27)
    0.73
    """
    if not 0 <= pruned < 1:
        raise ValueError(f"fraction pruned must be in [0, 1), got {pruned}")
    return round(1.0 - float(pruned), 6)


def decoder_mask_specs(preset, image: str, seed: int, pruned: Sequence[float], **params) -> list:
    """OES mask specs on ``preset``'s Deep Decoder, one per fraction pruned (App. K, Table 9).

    ``params`` override the preset's MaskConfig (``None`` values are dropped). Chapters 08 and 09
    both build their decoder masks here, so the specs — and the stored masks — are shared.
    """
    extra = {k: v for k, v in params.items() if v is not None}
    return [preset.mask_spec(image, seed, generator=preset.decoder, sparsity=kept_from_pruned(q), **extra)
            for q in pruned]


def relative_depth(table: pd.DataFrame) -> pd.Series:
    """Each layer's place along the network, 0 (first layer) … 1 (output layer): ``position / (n − 1)``.

    Hourglasses of different depth L share one axis this way: their 2L encoder convs, L decoder convs
    and output conv always put the encoder–decoder boundary at 2/3, so the paper's 6-level network and
    a 4-level one can be drawn together (chapter 08: the authors' masks beside ours).

    >>> from oes.generators import GeneratorConfig, build_generator
    >>> cfg = GeneratorConfig("deep_decoder", (4, 4))
    >>> list(relative_depth(layer_kept(Mask.ones(build_generator(cfg)), cfg)))
    [0.0, 0.5, 1.0]
    """
    n = len(table)
    return table["position"] / max(n - 1, 1)


def layer_profile(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Mean, min and max kept fraction per layer over several :func:`layer_kept` tables of one
    architecture (masks of several seeds or images), with ``depth`` = :func:`relative_depth`.

    Columns: ``position, label, region, side, depth, mean, min, max, n`` (n = number of masks).
    """
    tables = list(tables)
    if not tables:
        raise ValueError("layer_profile needs at least one layer_kept table")
    labels = [tuple(t["label"]) for t in tables]
    if len(set(labels)) != 1:
        raise ValueError("layer_profile: the tables come from different architectures (layer labels differ)")
    kept = np.stack([t["kept"].to_numpy(float) for t in tables])
    out = tables[0][["position", "label", "region", "side"]].copy()
    out["depth"] = relative_depth(tables[0]).to_numpy()
    out["mean"], out["min"], out["max"], out["n"] = kept.mean(0), kept.min(0), kept.max(0), len(tables)
    return out


def gap_text(gap: dict, unit: str = "dB", digits: int = 2, notes: bool = True) -> str:
    """The text of :func:`oes.compare.paired_gap`'s result for any unit and precision:
    ``"+0.0123 ± 0.0040 over 3 pairs"`` (with the same "(fewer than 3 pairs)" / "(within the spread)"
    notes), for gaps that are not in dB (kept fractions, axis energies, loss ratios).  ``notes=False``
    leaves the notes out — for claims of *equivalence* ("within ±1 dB"), where "within the spread"
    would read as a verdict the claim does not make.

    >>> gap_text({"n": 3, "mean": 0.05, "std": 0.01, "holds": True}, unit="", digits=3)
    '+0.050 ± 0.010 over 3 pairs'
    """
    n, mean, std = int(gap["n"]), float(gap["mean"]), float(gap["std"])
    u = f" {unit}" if unit else ""
    text = f"{mean:+.{digits}f} ± {std:.{digits}f}{u} over {n} pair{'s' if n != 1 else ''}"
    if notes and n and not gap["holds"]:
        text += " (fewer than 3 pairs)" if n < 3 else (" (within the spread)" if mean > 0 else "")
    return text


# =========================================================================== spectra
def gray(x) -> np.ndarray:
    """(1, C, H, W) / (C, H, W) tensor or (H, W[, C]) array → (H, W) float64, the channel mean."""
    a = to_numpy_image(x)
    return a.mean(-1) if a.ndim == 3 else a


def _power(x) -> np.ndarray:
    a = gray(x)
    a = a - a.mean()                                   # drop DC: the spectra compare structure, not brightness
    return np.abs(np.fft.fftshift(np.fft.fft2(a))) ** 2


def _radius(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred integer frequency indices (ky, kx) and the radius in units of Nyquist (1 = H/2 or W/2)."""
    h, w = shape
    ky, kx = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    return ky, kx, np.sqrt((ky / (h / 2)) ** 2 + (kx / (w / 2)) ** 2)


def magnitude_spectrum(x, log: bool = True, eps: float = 1e-8) -> np.ndarray:
    r"""Centred 2-D magnitude spectrum |F[x]| of the grey, mean-removed image (Fig 9a's panels);
    ``log=True`` returns log10(|F| + eps). The zero frequency is at (H//2, W//2)."""
    mag = np.sqrt(_power(x))
    return np.log10(mag + eps) if log else mag


def radial_power(x, n_bins: int | None = None) -> pd.DataFrame:
    """Mean |F|² in rings of radius r (units of Nyquist, 0 … √2), excluding the DC bin.

    Columns ``radius`` (ring centre), ``power``. ``n_bins`` defaults to min(H, W) // 2.
    """
    p = _power(x)
    _, _, r = _radius(p.shape)
    n_bins = n_bins or min(p.shape) // 2
    edges = np.linspace(0, np.sqrt(2), n_bins + 1)
    idx = np.clip(np.digitize(r, edges) - 1, 0, n_bins - 1)
    keep = r > 0
    sums = np.bincount(idx[keep], weights=p[keep], minlength=n_bins)
    counts = np.bincount(idx[keep], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        power = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return pd.DataFrame({"radius": (edges[:-1] + edges[1:]) / 2, "power": power})


def _axis_set(shape: tuple[int, int], width: int, r_min: float) -> np.ndarray:
    ky, kx, r = _radius(shape)
    return ((np.abs(ky) <= width) | (np.abs(kx) <= width)) & (r > r_min)


def axis_energy(x, width: int = 1, r_min: float = 0.25) -> float:
    r"""Fraction of an image's spectral energy on the horizontal and vertical frequency axes.

    .. math::

        \mathrm{AE}(x) = \frac{\sum_{k \in \mathcal{A}} |F[x](k)|^2}{\sum_k |F[x](k)|^2},\qquad
        \mathcal{A} = \{k : (|k_y| \le w \;\text{or}\; |k_x| \le w),\ r(k) > r_{min}\}

    on the grey, mean-removed image, with r the radial frequency in units of Nyquist. The axes
    carry the energy of horizontal and vertical edges; ``r_min`` leaves out the low-frequency
    disc that any smooth output fills in every direction, so AE measures directional
    *high-frequency* content (§5, Fig 9a). A white spectrum gives :func:`axis_area_fraction`.

    >>> import numpy as np
    >>> stripes = np.tile(np.cos(np.pi * np.arange(32) / 2), (32, 1))   # varies along x only
    >>> round(axis_energy(stripes), 6)
    1.0
    """
    p = _power(x)
    total = p.sum()
    if total <= 0:
        return 0.0
    return float(p[_axis_set(p.shape, width, r_min)].sum() / total)


def axis_area_fraction(shape: tuple[int, int], width: int = 1, r_min: float = 0.25) -> float:
    """:func:`axis_energy` of a flat (white-noise) spectrum: the share of frequency bins in the
    axis set, excluding DC — the value to compare a measured axis energy with."""
    a = _axis_set(tuple(shape), width, r_min)
    return float(a.sum() / (a.size - 1))


# =========================================================================== plots
REGION_COLORS = {"first": "tab:red", "encoder": "tab:blue", "junction": "tab:purple", "decoder": "tab:green",
                 "last": "tab:red", "middle": "tab:green"}


def plot_layer_kept(tables: Mapping[str, pd.DataFrame], ax=None, title: str = "", styles: Mapping | None = None,
                    log: bool = True):
    """Layer-wise kept fraction along the network, one line per mask (Fig 10 / Fig 27 / Fig 33).

    ``tables``: label → :func:`layer_kept` table of the same architecture. The x-axis lists the
    layers in signal-flow order; the background marks the regions; the y-axis is logarithmic.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.4))
    styles = styles or {}
    ref = next(iter(tables.values()))
    for _, row in ref.iterrows():
        ax.axvspan(row["position"] - 0.5, row["position"] + 0.5, color=REGION_COLORS.get(row["region"], "w"),
                   alpha=0.12, lw=0)
    for label, t in tables.items():
        y = t["kept"].astype(float).to_numpy()
        if log:
            y = np.where(y > 0, y, np.nan)             # a fully pruned layer has no log value: marked below
        ax.plot(t["position"], y, marker="o", ms=4, label=label, **styles.get(label, {}))
        zero = t["kept"] == 0
        if log and zero.any():
            ax.scatter(t.loc[zero, "position"], np.full(int(zero.sum()), ax.get_ylim()[0]), marker="x",
                       color="k", zorder=5)
    ax.set_xticks(ref["position"], ref["label"], rotation=60, fontsize=8)
    if log:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        pct = FuncFormatter(lambda v, _: f"{100 * v:.2g} %")
        ax.yaxis.set_major_formatter(pct)
        ax.yaxis.set_minor_formatter(pct)
        ax.tick_params(axis="y", which="both", labelsize=8)
    ax.set_ylabel("fraction of weights kept")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    return ax


def show_spectra(images: Sequence, titles: Sequence[str], size: float = 2.4, vmin: float | None = None,
                 vmax: float | None = None):
    """Fig 9a's layout: the images on the top row, log10 |F| (centred) below, on one colour scale."""
    import matplotlib.pyplot as plt

    n = len(images)
    eps = 1e-8
    specs = [magnitude_spectrum(im, eps=eps) for im in images]
    # colour scale from the bins that carry energy (a constant output or the removed DC sits at log10(eps))
    finite = np.concatenate([s[s > np.log10(eps) + 1].ravel() for s in specs])
    if finite.size == 0:                               # every image constant
        finite = np.array([np.log10(eps), 0.0])
    lo = np.percentile(finite, 1) if vmin is None else vmin
    hi = finite.max() if vmax is None else vmax
    fig, axes = plt.subplots(2, n, figsize=(size * n, size * 2 + 0.2), squeeze=False)
    for j, (im, s, t) in enumerate(zip(images, specs, titles)):
        a = np.clip(to_numpy_image(im), 0, 1)
        axes[0, j].imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        axes[0, j].set_title(t, fontsize=9)
        axes[1, j].imshow(s, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        axes[1, j].set_title("log10 |F|", fontsize=8)
        for ax in axes[:, j]:
            ax.axis("off")
    fig.tight_layout()
    return fig
