"""Images: scikit-image's bundled images (offline default), a user's own file, or the paper's
images fetched on demand from ``data/manifest.json`` (URL pinned to a commit + sha256).

Every loader returns a float32 tensor of shape (1, 3, S, S) in [0, 1]: a square centre
crop resized to the requested side S.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

__all__ = ["BUILTIN_IMAGES", "SYNTHETIC", "list_images", "load_image", "prepare", "fetch", "load_manifest",
           "cache_dir", "DataError"]

# scikit-image names → the function in skimage.data that returns the image (all ship in its wheel).
BUILTIN_IMAGES = {
    "astronaut": "astronaut", "coffee": "coffee", "chelsea": "chelsea", "rocket": "rocket",
    "immunohistochemistry": "immunohistochemistry", "camera": "camera", "hubble_deep_field": "hubble_deep_field",
    "motorcycle": "stereo_motorcycle", "retina": "retina", "brick": "brick", "grass": "grass",
    "gravel": "gravel", "moon": "moon", "coins": "coins", "page": "page", "text": "text",
}



def _chessboard(size: int) -> np.ndarray:
    """A high-frequency chessboard with 4-pixel squares at every image size: Fig 9b's test image."""
    sq = 4
    yy, xx = np.meshgrid(np.arange(size) // sq, np.arange(size) // sq, indexing="ij")
    return np.repeat(((yy + xx) % 2).astype(np.float32)[..., None] * 0.8 + 0.1, 3, axis=-1)


def _gaussian_noise(size: int) -> np.ndarray:
    """Pure noise: 0.5 + 0.2·N(0, 1) per pixel and channel, clipped to [0, 1], fixed seed (Fig 9a)."""
    rng = np.random.default_rng(20240721)
    return np.clip(0.5 + 0.2 * rng.standard_normal((size, size, 3)), 0, 1).astype(np.float32)


#: synthetic images made at the requested size (no resize): name → fn(size) -> (H, W, 3) array
SYNTHETIC = {"chessboard": _chessboard, "gaussian_noise": _gaussian_noise}

MANIFEST = Path(__file__).resolve().parent.parent / "data" / "manifest.json"


class DataError(ValueError):
    """A missing, unreadable or unknown image (one-line message saying what to do)."""


def cache_dir() -> Path:
    """Where fetched images go: ``$OES_DATA_DIR`` or ``~/.cache/oes``."""
    return Path(os.environ.get("OES_DATA_DIR", Path.home() / ".cache" / "oes"))


def load_manifest(path: str | Path | None = None, section: str | None = "images") -> dict:
    """``name → entry`` of one section of ``data/manifest.json`` (``images``: the paper's test images;
    ``reference_masks``: the authors' published masks, :mod:`oes.reference`); ``section=None``: all."""
    path = Path(path) if path else MANIFEST
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    sections = [k for k, v in doc.items() if isinstance(v, list)] if section is None else [section]
    return {e["name"]: e for s in sections for e in doc.get(s, [])}


def list_images() -> list[str]:
    """Built-in names, then the paper's names (available after ``oes fetch``)."""
    return sorted(BUILTIN_IMAGES) + sorted(SYNTHETIC) + sorted(load_manifest())


def _to_float_rgb(a: np.ndarray) -> np.ndarray:
    """uint8/uint16/bool/float array → float32 (H, W, 3) in [0, 1]."""
    a = np.asarray(a)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif a.dtype == bool:
        a = a.astype(np.float32)
    else:
        a = a.astype(np.float32)
        if a.max() > 1.0:
            a = a / a.max()
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    elif a.ndim == 3 and a.shape[-1] == 4:
        a = a[..., :3]  # drop alpha
    elif a.ndim == 3 and a.shape[-1] == 2:  # gray + alpha
        a = np.stack([a[..., 0]] * 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise DataError(f"unsupported image shape {a.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    return np.clip(a, 0.0, 1.0)


def prepare(a: np.ndarray, size: int) -> torch.Tensor:
    """Square centre crop, resize (anti-aliased) to ``size``, → (1, 3, size, size) float32."""
    from skimage.transform import resize

    a = _to_float_rgb(a)
    h, w = a.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    a = a[top:top + s, left:left + s]
    if s != size:
        a = resize(a, (size, size), anti_aliasing=s > size, order=3, mode="reflect")
    a = np.clip(a, 0.0, 1.0).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def _read_file(path: Path) -> np.ndarray:
    from skimage import io

    if not path.is_file():
        raise DataError(f"image file {str(path)!r} does not exist; give a PNG/JPEG path or one of: "
                        f"{', '.join(list_images())}")
    try:
        return io.imread(path)
    except Exception as e:
        raise DataError(f"cannot read {str(path)!r} as an image ({type(e).__name__}); "
                        f"give a PNG or JPEG file") from None


def load_image(name_or_path: str, size: int = 512) -> torch.Tensor:
    """An image by scikit-image name, by the paper's name (fetched, cached), or by file path."""
    name = str(name_or_path)
    if name in SYNTHETIC:
        return torch.from_numpy(np.ascontiguousarray(SYNTHETIC[name](size).transpose(2, 0, 1)))[None]
    if name in BUILTIN_IMAGES:
        from skimage import data as skdata

        a = getattr(skdata, BUILTIN_IMAGES[name])()
        if isinstance(a, tuple):  # stereo_motorcycle → (left, right, disparity)
            a = a[0]
        return prepare(a, size)
    manifest = load_manifest()
    if name in manifest:
        return prepare(_read_file(fetch(name, offline_ok=False)), size)
    p = Path(name).expanduser()
    if p.suffix or os.sep in name or p.exists():
        return prepare(_read_file(p), size)
    raise DataError(f"unknown image {name!r}; available names: {', '.join(list_images())} (or give a file path)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(name: str, manifest: dict | None = None, dest: Path | None = None, offline_ok: bool = False,
          timeout: float = 30.0, source: str | Path | None = None) -> Path:
    """Download one manifest entry (an image or a reference mask) into the cache, verify its sha256,
    return its path.

    ``source``: a local folder holding the file under its manifest file name (an offline machine, a
    cluster's shared disk): it is copied instead of downloaded, with the same checksum check.  An
    already cached file with the right hash is reused.  A wrong hash or a failed download or copy
    leaves nothing behind.
    """
    manifest = manifest if manifest is not None else load_manifest(section=None)
    if name not in manifest:
        raise DataError(f"{name!r} is not in the manifest; known: {', '.join(sorted(manifest)) or '(none)'}")
    entry = manifest[name]
    dest_dir = Path(dest) if dest else cache_dir()
    target = dest_dir / entry["file"]
    if target.is_file() and _sha256(target) == entry["sha256"]:
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{entry['file']}.", suffix=".part")
    os.close(fd)
    try:
        if source is not None:
            src = Path(source) / entry["file"]
            if not src.is_file():
                raise DataError(f"{name!r}: no file {entry['file']!r} in {str(source)!r}; give the folder that holds it")
            shutil.copyfile(src, tmp)
        else:
            try:
                with urllib.request.urlopen(entry["url"], timeout=timeout) as r, open(tmp, "wb") as f:
                    f.write(r.read())
            except (urllib.error.URLError, OSError) as e:
                raise DataError(f"cannot download {name!r} from {entry['url']} ({e}); this machine may be offline: "
                                f"download it elsewhere and import it with `oes fetch {name} --from DIR` "
                                f"(sha256 {entry['sha256']})") from None
        got = _sha256(Path(tmp))
        if got != entry["sha256"]:
            raise DataError(f"checksum mismatch for {name!r}: expected sha256 {entry['sha256']}, got {got}; "
                            f"the file was not saved")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target
