"""The authors' published masks (oes.reference) and importing manifest files from a folder."""
import hashlib
import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from oes.data import DataError, fetch
from oes.generators import GeneratorConfig
from oes.masks import MaskError
from oes.reference import AUTHORS_IMAGES, authors_masks, load_authors_mask

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "authors-oes-masks"
TINY = GeneratorConfig("hourglass", (4, 8), 3, 3, 8)


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the authors' masks are not at {SHARED} (reference data "
                                                 "outside the project; `oes fetch --from DIR` imports them)")
def test_authors_masks_load_and_show_finding_5():
    from oes.analysis import dead_paths, layer_kept, part_kept
    from oes.reference import PAPER_GENERATOR

    masks = authors_masks(folder=SHARED)
    assert sorted(masks) == sorted(AUTHORS_IMAGES)
    for name, m in masks.items():
        assert m.n_total == 3_008_867 and m.n_kept == 150_443          # round(0.05 · d)
        assert m.collapsed() == []
        side = part_kept(layer_kept(m, PAPER_GENERATOR), "side")
        assert side["decoder"] > 3 * side["encoder"], name              # Finding 5 at the paper's scale
        assert dead_paths(m, PAPER_GENERATOR)["waste"] < 0.01, name     # converged: nothing kept on dead paths
    pepper = part_kept(layer_kept(masks["pepper"], PAPER_GENERATOR), "side")
    assert abs(pepper["encoder"] - 0.0298) < 5e-4 and abs(pepper["decoder"] - 0.1403) < 5e-4


def _legacy_pickle(obj, path):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_loader_refuses_anything_but_one_flat_bool_tensor(tmp_path):
    _legacy_pickle(_Evil(), tmp_path / "evil.pkl")
    with pytest.raises(MaskError, match="refusing to unpickle"):
        load_authors_mask(tmp_path / "evil.pkl", TINY)
    d = sum(p.numel() for p in __import__("oes").build_generator(TINY, 0).parameters())
    _legacy_pickle(torch.zeros(d, dtype=torch.bool), tmp_path / "mask_ok.pkl")
    m = load_authors_mask(tmp_path / "mask_ok.pkl", TINY)
    assert m.n_total == d and m.n_kept == 0 and m.meta["source_image"] == "ok"
    _legacy_pickle(torch.zeros(d + 1, dtype=torch.bool), tmp_path / "long.pkl")
    with pytest.raises(MaskError, match="another architecture"):
        load_authors_mask(tmp_path / "long.pkl", TINY)
    _legacy_pickle(torch.zeros(d), tmp_path / "float.pkl")
    with pytest.raises(MaskError, match="flat bool tensor"):
        load_authors_mask(tmp_path / "float.pkl", TINY)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(MaskError, match="not a readable"):
        load_authors_mask(tmp_path / "junk.pkl", TINY)
    with pytest.raises(MaskError, match="does not exist"):
        load_authors_mask(tmp_path / "missing.pkl", TINY)


def test_fetch_from_folder_checks_the_checksum_and_leaves_nothing_on_mismatch(tmp_path):
    src, cache = tmp_path / "src", tmp_path / "cache"
    src.mkdir()
    (src / "a.bin").write_bytes(b"payload")
    good = hashlib.sha256(b"payload").hexdigest()
    manifest = {"a": {"name": "a", "file": "a.bin", "url": "http://127.0.0.1:9/a.bin", "sha256": good},
                "b": {"name": "b", "file": "a.bin", "url": "http://127.0.0.1:9/a.bin", "sha256": "0" * 64}}
    assert fetch("a", manifest, dest=cache, source=src).read_bytes() == b"payload"
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch("b", {"b": manifest["b"]}, dest=tmp_path / "cache2", source=src)
    assert not any((tmp_path / "cache2").iterdir())
    with pytest.raises(DataError, match="no file"):
        fetch("a", manifest, dest=tmp_path / "cache3", source=tmp_path / "empty")


def test_manifest_lists_the_authors_masks_pinned_to_a_commit():
    from oes.data import load_manifest

    entries = load_manifest(section="reference_masks")
    assert sorted(entries) == sorted(f"authors_mask_{i}" for i in AUTHORS_IMAGES)
    for e in entries.values():
        assert "d3dcc39917fe5b39b89740b7ad17906b49d14d1d" in e["url"] and len(e["sha256"]) == 64


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the authors' masks are not at {SHARED}")
def test_cli_fetch_from_imports_the_shared_copies(tmp_path, monkeypatch, capsys):
    from oes.cli import main

    monkeypatch.setenv("OES_DATA_DIR", str(tmp_path))
    assert main(["fetch", "authors_mask_lena", "--from", str(SHARED)]) == 0
    assert (tmp_path / "mask_lena.pkl").is_file()
    assert main(["fetch", "--from", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
