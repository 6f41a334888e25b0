import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import io

from oes.data import BUILTIN_IMAGES, DataError, fetch, list_images, load_image, load_manifest


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera"])
def test_builtin_images(name):
    x = load_image(name, 32)
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1


def test_user_files(tmp_path):
    g = (np.arange(40 * 50).reshape(40, 50) % 256).astype(np.uint8)
    io.imsave(tmp_path / "g.png", g, check_contrast=False)
    x = load_image(str(tmp_path / "g.png"), 16)
    assert x.shape == (1, 3, 16, 16) and torch.equal(x[:, 0], x[:, 1])       # gray → 3 channels
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 10
    io.imsave(tmp_path / "a.png", rgba, check_contrast=False)
    x = load_image(str(tmp_path / "a.png"), 16)
    assert torch.allclose(x[:, 0], torch.ones(1, 16, 16)) and float(x[:, 1:].max()) < 1e-6   # alpha dropped
    g16 = np.full((16, 16), 65535, np.uint16)
    io.imsave(tmp_path / "w.png", g16, check_contrast=False)
    assert float(load_image(str(tmp_path / "w.png"), 16).min()) == pytest.approx(1.0)    # 16-bit scaled


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="unknown image 'nosuch'.*astronaut"):
        load_image("nosuch", 16)
    with pytest.raises(DataError, match="does not exist"):
        load_image(str(tmp_path / "missing.png"), 16)
    (tmp_path / "junk.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read"):
        load_image(str(tmp_path / "junk.png"), 16)


def test_manifest_lists_paper_images_without_files():
    m = load_manifest()
    assert {"baboon", "barbara", "lena", "pepper", "flight", "zebra"} <= set(m)
    for e in m.values():
        assert len(e["sha256"]) == 64 and "/" in e["url"] and e["url"].startswith("https://")
    repo = Path(__file__).resolve().parent.parent
    assert not list((repo / "data").glob("*.png"))                 # never committed
    assert set(list_images()) >= set(BUILTIN_IMAGES) | set(m)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *a, **k: None
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_fetch_good_bad_missing(server, tmp_path):
    root, url = server
    img = (np.random.default_rng(0).random((8, 8, 3)) * 255).astype(np.uint8)
    io.imsave(root / "good.png", img, check_contrast=False)
    sha = hashlib.sha256((root / "good.png").read_bytes()).hexdigest()
    manifest = {
        "good": {"name": "good", "file": "good.png", "url": f"{url}/good.png", "sha256": sha},
        "bad": {"name": "bad", "file": "bad.png", "url": f"{url}/good.png", "sha256": "0" * 64},
        "gone": {"name": "gone", "file": "gone.png", "url": f"{url}/gone.png", "sha256": sha},
    }
    cache = tmp_path / "cache"
    p = fetch("good", manifest, dest=cache)
    assert p.read_bytes() == (root / "good.png").read_bytes()
    assert fetch("good", manifest, dest=cache) == p                 # cached, verified
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch("bad", manifest, dest=cache)
    with pytest.raises(DataError, match="cannot download"):
        fetch("gone", manifest, dest=cache)
    assert sorted(f.name for f in cache.iterdir()) == ["good.png"]   # nothing partial left behind
