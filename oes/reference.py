r"""The authors' published OES masks: paper-scale evidence without a GPU.

The authors' repository (``Avra98/Optimal-Eye-Surgeon`` at commit d3dcc399…) ships the 5 % masks its
Algorithm 1 learned on the paper's network at 512² (``sparse_models/<image>/mask_<image>.pkl`` for
pepper, baboon, barbara and lena; their config: 60,000 steps, logit lr 0.01, λ = 1e-9, σ = 25/255).
Each file is a Python pickle of one flat bool tensor of 3,008,867 entries whose storage was saved on
``cuda:0``, in the order of the paper hourglass's ``named_parameters()`` — the order of
:func:`oes.generators.hourglass`'s. They are not redistributed here (the repository has no licence):
``data/manifest.json`` lists them (commit-pinned URL + sha256) under ``reference_masks``;
``oes fetch authors_mask_pepper`` downloads one, ``oes fetch --from DIR`` imports them from a local
folder (an offline cluster; this machine's ``../shared/reference/authors-oes-masks``), both checking
the sha256.

:func:`load_authors_mask` reads such a pickle **without importing the authors' code and without
unpickling anything else**: a restricted unpickler admits only the three globals this format needs
(``torch._utils._rebuild_tensor_v2``, ``torch.storage._load_from_bytes`` — replaced by a CPU,
``weights_only`` load of the legacy byte stream — ``collections.OrderedDict``, and ``_codecs.encode``
with which Python 3 writes bytes into a protocol-2 pickle) and refuses any other. The tensor must be flat, boolean and as long as the network has parameters.

What is *not* available: the authors' θ_in (in ``masked_model_<image>.pkl``, large, not fetched) and
their input z, so a Sparse-DIP trained here on their mask starts from our θ_in, not theirs (a mask
transferred across initialisations, cf. App. J).
"""
from __future__ import annotations

import codecs
import collections
import io
import pickle
from pathlib import Path

import torch

from .generators import GeneratorConfig, build_generator
from .masks import Mask, MaskError

__all__ = ["AUTHORS_IMAGES", "PAPER_GENERATOR", "load_authors_mask", "authors_mask_path", "authors_masks"]

AUTHORS_IMAGES = ("pepper", "baboon", "barbara", "lena")
#: the network the authors' masks were learned on (the paper's Dense DIP, §4.2): 3,008,867 parameters
PAPER_GENERATOR = GeneratorConfig("hourglass", (16, 32, 64, 128, 128, 128), 5, 3, 32)


def _storage_from_bytes(b: bytes):
    """The legacy ``torch.save`` stream inside the pickle, loaded on the CPU, tensors/storages only."""
    if not isinstance(b, (bytes, bytearray)):
        raise MaskError("authors' mask file: storage payload is not bytes")
    return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)


class _MaskUnpickler(pickle.Unpickler):
    ALLOWED = {("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
               ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
               ("collections", "OrderedDict"): collections.OrderedDict,
               # how Python 3 writes bytes in a protocol-2 pickle (latin-1 text → bytes); harmless
               ("_codecs", "encode"): codecs.encode}

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise MaskError(f"refusing to unpickle {module}.{name}: an authors' mask file holds one torch "
                            f"tensor and nothing else (is this the right file?)") from None

    def persistent_load(self, pid):
        raise MaskError("refusing a persistent id in the pickle: not an authors' mask file")


def load_authors_mask(path: str | Path, cfg: GeneratorConfig = PAPER_GENERATOR, image: str | None = None) -> Mask:
    """Read one of the authors' ``mask_<image>.pkl`` files into a :class:`~oes.masks.Mask` for ``cfg``.

    Raises :class:`~oes.masks.MaskError` (one line) for a missing file, a pickle holding anything but
    one tensor, a non-bool or non-flat tensor, or a length that does not match ``cfg``'s parameters.
    """
    path = Path(path)
    if not path.is_file():
        raise MaskError(f"authors' mask {str(path)!r} does not exist; get it with `oes fetch authors_mask_NAME` "
                        f"or `oes fetch --from DIR`")
    try:
        with open(path, "rb") as f:
            flat = _MaskUnpickler(f).load()
    except MaskError:
        raise
    except Exception as e:
        raise MaskError(f"{str(path)!r} is not a readable authors' mask pickle ({type(e).__name__}: {e})") from None
    if not isinstance(flat, torch.Tensor):
        raise MaskError(f"{str(path)!r} holds a {type(flat).__name__}, expected one flat bool tensor")
    if flat.dtype != torch.bool or flat.dim() != 1:
        raise MaskError(f"{str(path)!r} holds a {flat.dtype} tensor of shape {tuple(flat.shape)}, "
                        f"expected a flat bool tensor")
    net = build_generator(cfg, 0)
    params = list(net.named_parameters())
    d = sum(p.numel() for _, p in params)
    if flat.numel() != d:
        raise MaskError(f"{str(path)!r} has {flat.numel():,} entries but the network {cfg.channels} has {d:,} "
                        f"parameters: the mask was learned on another architecture")
    masks, i = {}, 0
    for name, p in params:
        masks[name] = flat[i:i + p.numel()].view(p.shape).clone()
        i += p.numel()
    image = image or path.stem.removeprefix("mask_")
    meta = {"method": "oes_authors", "source_image": image, "size": 512, "sparsity": 0.05,
            "generator": cfg.to_dict(), "file": path.name,
            "provenance": "Avra98/Optimal-Eye-Surgeon@d3dcc39917fe5b39b89740b7ad17906b49d14d1d "
                          f"sparse_models/{image}/mask_{image}.pkl",
            "mask_config": {"steps": 60_000, "lr": 0.01, "lam": 1e-9, "temperature": 0.2, "prior": 0.05}}
    mask = Mask(masks, meta)
    mask.meta["collapsed"] = mask.collapsed()
    return mask


def authors_mask_path(image: str, folder: str | Path | None = None) -> Path | None:
    """Where ``mask_<image>.pkl`` is: in ``folder`` if given, else in the fetch cache; None if absent."""
    from .data import cache_dir, load_manifest

    entry = load_manifest(section="reference_masks").get(f"authors_mask_{image}")
    fname = entry["file"] if entry else f"mask_{image}.pkl"
    p = Path(folder or cache_dir()) / fname
    return p if p.is_file() else None


def authors_masks(images=AUTHORS_IMAGES, folder: str | Path | None = None) -> dict[str, Mask]:
    """The authors' masks that are available (fetched or in ``folder``), by image name."""
    out = {}
    for im in images:
        p = authors_mask_path(im, folder)
        if p is not None:
            out[im] = load_authors_mask(p, image=im)
    return out
