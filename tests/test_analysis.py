import numpy as np
import pandas as pd
import pytest
import torch

from oes.analysis import (axis_area_fraction, axis_energy, gray, layer_kept, magnitude_spectrum, network_layers,
                          part_kept, radial_power, u_shape, w_shape)
from oes.generators import GeneratorConfig, build_generator
from oes.masks import Mask

from conftest import TINY, TINY_DD


# ------------------------------------------------------------------ layers
def test_hourglass_layers_in_signal_flow_order():
    cfg = GeneratorConfig("hourglass", (4, 8, 8), 3, 3, 8)
    layers = network_layers(cfg)
    assert [ly.label for ly in layers] == ["enc1a", "enc1b", "enc2a", "enc2b", "enc3a", "enc3b",
                                           "dec1", "dec2", "dec3", "out"]
    assert [ly.region for ly in layers] == ["first", "encoder", "encoder", "encoder", "junction", "junction",
                                            "junction", "decoder", "decoder", "last"]
    assert [ly.side for ly in layers] == ["encoder"] * 6 + ["decoder"] * 4
    assert [ly.position for ly in layers] == list(range(10))
    net = build_generator(cfg, 0)
    convs = {n: p for n, p in net.named_parameters() if any(n in ly.params for ly in layers)}
    assert sum(ly.n_params for ly in layers) == sum(p.numel() for p in convs.values())
    # every conv parameter belongs to exactly one layer; BatchNorm parameters to none
    names = [p for ly in layers for p in ly.params]
    assert len(names) == len(set(names)) == 2 * 10
    assert all(".weight" in n or ".bias" in n for n in names)
    assert layers[0].params == ("encoder.0.0.1.weight", "encoder.0.0.1.bias")
    assert layers[-1].module == "head"


def test_deep_decoder_layers():
    layers = network_layers(TINY_DD)
    assert [ly.label for ly in layers] == ["layer1", "layer2", "layer3", "out"]
    assert [ly.region for ly in layers] == ["first", "middle", "middle", "last"]
    assert all(ly.side == "decoder" for ly in layers)
    assert [ly.n_params for ly in layers] == [64, 64, 64, 24]     # 1×1 convs without bias


def test_layer_kept_counts_and_fractions():
    net = build_generator(TINY, 0)
    masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in net.named_parameters()}
    masks["encoder.0.4.1.weight"][:] = False                      # enc1b weight fully pruned
    masks["encoder.0.4.1.bias"][:2] = False
    masks["head.weight"][0] = False                               # 4 of 12 head weights pruned
    t = layer_kept(Mask(masks, {"generator": TINY.to_dict()}))   # cfg read from the meta
    row = t.set_index("label")
    assert row.loc["enc1b", "n_kept"] == 2 and row.loc["enc1b", "n_params"] == 4 * 4 * 9 + 4
    assert row.loc["out", "kept"] == pytest.approx((12 - 4 + 3) / 15)
    assert row.loc["enc1a", "kept"] == 1.0
    side = part_kept(t, "side")
    assert side["encoder"] == pytest.approx(t[t.side == "encoder"].n_kept.sum() / t[t.side == "encoder"].n_params.sum())
    assert set(part_kept(t, "region").index) == {"first", "encoder", "junction", "decoder", "last"}


def test_layer_kept_ignores_uncovered_parameters():
    net = build_generator(TINY, 0)
    m = Mask.ones(net, maskable="weights")
    t = layer_kept(m, TINY)
    assert (t["kept"] == 1.0).all()
    assert t.set_index("label").loc["out", "n_params"] == 12     # bias not covered → left out


def _table(values, regions):
    return pd.DataFrame({"position": range(len(values)), "label": [f"l{i}" for i in range(len(values))],
                         "region": regions, "kept": values, "n_kept": 0, "n_params": 1})


def test_w_shape():
    regions = ["first", "encoder", "encoder", "junction", "junction", "decoder", "decoder", "last"]
    w = w_shape(_table([0.5, 0.1, 0.05, 0.2, 0.3, 0.02, 0.1, 0.9], regions))
    assert w["holds"] and w["encoder_min"] == 0.05 and w["junction"] == 0.3 and w["decoder_min"] == 0.02
    assert not w_shape(_table([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2], regions))["holds"]   # monotone
    assert not w_shape(_table([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], regions))["holds"]
    assert not w_shape(_table([0.5, 0.1, 0.1, 0.05, 0.05, 0.02, 0.1, 0.9], regions))["holds"]  # no junction peak


def test_u_shape():
    regions = ["first", "middle", "middle", "last"]
    assert u_shape(_table([0.8, 0.3, 0.5, 0.9], regions))["holds"]
    assert not u_shape(_table([0.4, 0.3, 0.5, 0.9], regions))["holds"]


# ------------------------------------------------------------------ spectra
def test_gray_and_spectrum_of_constant():
    x = torch.full((1, 3, 8, 8), 0.3)
    assert gray(x).shape == (8, 8)
    assert np.allclose(magnitude_spectrum(x, log=False), 0)
    assert axis_energy(x) == 0.0


def test_spectrum_is_centred():
    n = 16
    xx = np.arange(n)
    img = np.tile(np.cos(2 * np.pi * 3 * xx / n), (n, 1))      # 3 cycles along x
    s = magnitude_spectrum(img, log=False)
    peaks = sorted(zip(*np.nonzero(s > s.max() / 2)))
    assert peaks == [(n // 2, n // 2 - 3), (n // 2, n // 2 + 3)]   # on the horizontal axis, ±3 from the centre


def test_axis_energy_separates_directions():
    n = 32
    yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    vertical = np.cos(2 * np.pi * 8 * xx / n)                      # r = 0.5 on the kx axis
    diagonal = np.cos(2 * np.pi * 8 * (xx + yy) / n)               # off both axes
    low = np.cos(2 * np.pi * 2 * xx / n)                           # on the axis but r = 0.125 < r_min
    assert axis_energy(vertical) == pytest.approx(1.0)
    assert axis_energy(diagonal) == pytest.approx(0.0, abs=1e-12)
    assert axis_energy(low) == pytest.approx(0.0, abs=1e-12)
    assert axis_energy(low, r_min=0.0) == pytest.approx(1.0)


def test_axis_energy_of_white_noise_matches_area_fraction(rng):
    noise = torch.randn(1, 1, 64, 64, generator=rng)
    ref = axis_area_fraction((64, 64))
    vals = [axis_energy(torch.randn(1, 1, 64, 64, generator=rng)) for _ in range(20)] + [axis_energy(noise)]
    assert 0 < ref < 0.2
    assert np.mean(vals) == pytest.approx(ref, rel=0.1)
    # a width-w band on both axes, outside the disc: count by hand for a tiny grid
    assert axis_area_fraction((4, 4), width=0, r_min=0.0) == pytest.approx(6 / 15)


def test_radial_power_excludes_dc_and_sums():
    img = np.tile(np.cos(2 * np.pi * 4 * np.arange(32) / 32), (32, 1))
    rp = radial_power(img)
    assert len(rp) == 16 and rp["radius"].between(0, np.sqrt(2)).all()
    k = int(rp["power"].fillna(0).to_numpy().argmax())
    assert abs(rp["radius"].iloc[k] - 0.25) <= np.sqrt(2) / 16    # 4 cycles / 16 (Nyquist) = 0.25


def test_dead_paths_counts_weights_cut_off_from_input_or_output():
    from oes.analysis import dead_paths
    from oes.generators import build_generator
    cfg = GeneratorConfig("hourglass", (4, 8), 3, 3, 8)
    full = Mask.ones(build_generator(cfg, 0), meta={"generator": cfg.to_dict()})
    r = dead_paths(full)
    assert r["wasted"] == 0 and r["dead_channels"] == 0 and r["kept"] > 0
    # channel 0 of the first conv receives nothing: its 4×9 outgoing weights in the next conv are wasted
    d = {k: v.clone() for k, v in full.items()}
    d["encoder.0.0.1.weight"][0] = False
    r = dead_paths(Mask(d, full.meta))
    assert r["dead_channels"] == 1 and r["wasted"] == 4 * 9
    # a pruned BatchNorm scale cuts the channel both ways: 8×9 incoming + 4×9 outgoing weights wasted
    d = {k: v.clone() for k, v in full.items()}
    d["encoder.0.2.weight"][1] = False
    r = dead_paths(Mask(d, full.meta))
    assert r["dead_channels"] == 1 and r["wasted"] == 8 * 9 + 4 * 9
    # ... which bn_cuts=False ignores (every γ counted as kept), while a cut by the conv weights stays
    assert dead_paths(Mask(d, full.meta), bn_cuts=False)["wasted"] == 0
    n_bn = sum(t.numel() for n, t in full.items() if n.endswith("weight") and t.dim() == 1)
    assert dead_paths(Mask(d, full.meta))["bn_kept"] == (n_bn - 1) / n_bn
    d["encoder.0.0.1.weight"][0] = False
    assert dead_paths(Mask(d, full.meta), bn_cuts=False)["wasted"] == 4 * 9
    # a channel of the last hidden conv (8 → 4, 3×3) that the 1×1 head never reads: its 8×9 incoming
    # weights are wasted
    d = {k: v.clone() for k, v in full.items()}
    d["head.weight"][:, 2] = False
    r = dead_paths(Mask(d, full.meta))
    assert r["dead_channels"] == 1 and r["wasted"] == 8 * 9
