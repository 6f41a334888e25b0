import pytest
import torch

from oes.generators import GeneratorConfig, build_generator
from oes.masks import Mask, MaskError, maskable_names


def test_roundtrip_weights_only_load(tmp_path, tiny):
    net = build_generator(tiny, 0)
    g = torch.Generator().manual_seed(0)
    m = Mask({n: torch.rand(p.shape, generator=g) < 0.3 for n, p in net.named_parameters()},
             {"method": "test", "generator": tiny.to_dict(), "sparsity": 0.3})
    path = m.save(tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"masks", "meta"} and isinstance(raw["meta"], dict)
    assert all(t.dtype == torch.bool for t in raw["masks"].values())
    m2 = Mask.load(path)
    assert torch.equal(m.flat(), m2.flat()) and m2.meta == m.meta


def test_mismatched_architecture_names_first_parameter(tiny):
    net = build_generator(tiny, 0)
    m = Mask.ones(net)
    other = build_generator(GeneratorConfig("hourglass", (4, 16), 3, 3, 8), 0)
    with pytest.raises(MaskError, match=r"'encoder\.1\.0\.1\.weight' has shape"):
        m.check(other)
    dd = build_generator(GeneratorConfig("deep_decoder", (8, 8)), 0)
    with pytest.raises(MaskError, match="is not in the network"):
        m.check(dd)


def test_corrupted_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file at all")
    with pytest.raises(MaskError, match="not a readable mask file"):
        Mask.load(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}}, foreign)
    with pytest.raises(MaskError, match="not an oes mask"):
        Mask.load(foreign)
    with pytest.raises(MaskError, match="does not exist"):
        Mask.load(tmp_path / "missing.pt")


def test_rejects_non_binary_and_reports_density():
    with pytest.raises(MaskError, match="other than 0 and 1"):
        Mask({"w": torch.tensor([0.0, 0.5])})
    m = Mask({"a.weight": torch.tensor([1, 0, 1, 1]), "a.bias": torch.tensor([0, 0]), "b.weight": torch.tensor([0])})
    assert m.density == 3 / 7 and m.collapsed() == ["b.weight"] and m.pruned_biases() == ["a.bias"]
    assert m.layer_density() == {"a.weight": 0.75, "a.bias": 0.0, "b.weight": 0.0}


def test_maskable_sets(tiny):
    net = build_generator(tiny, 0)
    allp = maskable_names(net, "all")
    w = maskable_names(net, "weights")
    assert len(allp) == len(list(net.parameters()))
    assert set(w) < set(allp) and all(n.endswith(".weight") for n in w)
    with pytest.raises(MaskError):
        maskable_names(net, "biases")


def test_mask_agreement_overlap_and_chance():
    from oes.masks import mask_agreement
    a = Mask({"w": torch.tensor([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]).bool()})
    b = Mask({"w": torch.tensor([1, 0, 1, 0, 0, 0, 0, 0, 0, 0]).bool()})
    r = mask_agreement(a, b)
    assert r["overlap"] == 0.5 and r["chance"] == 0.2 and abs(r["ratio"] - 2.5) < 1e-12
    assert abs(r["jaccard"] - 1 / 3) < 1e-12 and r["shared"] == 1
    assert mask_agreement(a, a)["overlap"] == 1.0
    # random kept sets agree at about the chance level
    g = torch.Generator().manual_seed(0)
    d, k = 200_000, 6_000
    ra = Mask({"w": torch.zeros(d, dtype=torch.bool).index_fill_(0, torch.randperm(d, generator=g)[:k], True)})
    rb = Mask({"w": torch.zeros(d, dtype=torch.bool).index_fill_(0, torch.randperm(d, generator=g)[:k], True)})
    assert abs(mask_agreement(ra, rb)["ratio"] - 1) < 0.1
    with pytest.raises(MaskError, match="different parameters"):
        mask_agreement(a, Mask({"v": a["w"]}))
