r"""The binary mask m ∈ {0, 1}^d of eq. (1)–(2), as a validated ``name → bool tensor`` mapping.

A :class:`Mask` covers the *maskable* parameters of a generator (see
:func:`maskable_names`); parameters it does not name are dense.  Its
``density`` is the fraction of covered parameters kept — the paper's
"s-sparse" (``3 %-sparse`` keeps 3 %).  One meaning everywhere.

File format (``Mask.save``): ``torch.save({"masks": {name: bool tensor}, "meta": {...}})``,
readable with ``torch.load(path, weights_only=True)``; ``meta`` is plain JSON-able.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator, Literal

import torch
from torch import nn

__all__ = ["Mask", "maskable_names", "MaskError", "atomic_torch_save", "mask_agreement"]

Maskable = Literal["all", "weights"]


class MaskError(ValueError):
    """A mask that does not fit a generator, or a file that is not a mask."""


def maskable_names(net: nn.Module, maskable: Maskable = "all") -> list[str]:
    """Names of the parameters a mask covers.

    ``"all"``: every parameter (the paper's OES masks θ_in ∘ m with m ∈ {0,1}^d, d = all
    parameters). ``"weights"``: conv weights only (biases and BN affine stay dense).
    """
    if maskable == "all":
        return [n for n, _ in net.named_parameters()]
    if maskable == "weights":
        return [n for n, m in net.named_modules() if isinstance(m, nn.Conv2d) for n in [f"{n}.weight"]]
    raise MaskError(f"unknown maskable set {maskable!r}; use 'all' or 'weights'")


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """Write ``obj`` with torch.save to a temp file in the same folder, then rename (no partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class Mask(Mapping):
    """``name → bool tensor`` plus ``meta`` (architecture, sparsity, seed, image, noise, ...).

    >>> m = Mask({"w": torch.tensor([True, False, True, True])})
    >>> m.density
    0.75
    """

    def __init__(self, masks: Mapping[str, torch.Tensor], meta: dict | None = None):
        clean = {}
        for name, t in masks.items():
            if not isinstance(t, torch.Tensor):
                raise MaskError(f"mask entry {name!r} is a {type(t).__name__}, expected a tensor")
            if t.dtype != torch.bool:
                if not torch.all((t == 0) | (t == 1)):
                    raise MaskError(f"mask entry {name!r} has values other than 0 and 1")
                t = t.bool()
            clean[name] = t.detach().cpu()
        self._masks = clean
        self.meta = dict(meta or {})
        try:
            json.dumps(self.meta)
        except TypeError as e:
            raise MaskError(f"mask meta must be JSON-able: {e}") from None

    # Mapping protocol
    def __getitem__(self, k):
        return self._masks[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __repr__(self) -> str:
        return f"Mask({len(self)} tensors, density={self.density:.4f}, method={self.meta.get('method')!r})"

    # ------------------------------------------------------------------ stats
    @property
    def n_total(self) -> int:
        return sum(t.numel() for t in self._masks.values())

    @property
    def n_kept(self) -> int:
        return int(sum(int(t.sum()) for t in self._masks.values()))

    @property
    def density(self) -> float:
        """Fraction of covered parameters kept (‖m‖₀ / d)."""
        return self.n_kept / max(self.n_total, 1)

    def layer_density(self) -> dict[str, float]:
        """Per-tensor kept fraction (Fig 10's layer-wise view)."""
        return {n: float(t.float().mean()) for n, t in self._masks.items()}

    def collapsed(self) -> list[str]:
        """Weight tensors with nothing kept: *layer collapse* (§4.3).

        A fully pruned conv weight makes every later layer see a constant; a fully
        pruned BN weight zeroes its channels' normalised part.
        """
        return [n for n, t in self._masks.items()
                if n.endswith("weight") and t.numel() and not bool(t.any())]

    def pruned_biases(self) -> list[str]:
        """Bias tensors with nothing kept. Harmless before a BatchNorm (which removes any bias),
        so not counted as collapse; reported for completeness."""
        return [n for n, t in self._masks.items()
                if not n.endswith("weight") and t.numel() and not bool(t.any())]

    def flat(self) -> torch.Tensor:
        return torch.cat([t.flatten() for t in self._masks.values()]) if self._masks else torch.zeros(0, dtype=torch.bool)

    # ------------------------------------------------------------------ use
    def check(self, net: nn.Module) -> None:
        """Raise :class:`MaskError` naming the first parameter that does not match ``net``."""
        params = dict(net.named_parameters())
        for name, t in self._masks.items():
            if name not in params:
                raise MaskError(f"mask does not fit this generator: parameter {name!r} is not in the network "
                                f"(was the mask learned on another architecture? its meta says {self.meta.get('generator')})")
            if tuple(params[name].shape) != tuple(t.shape):
                raise MaskError(f"mask does not fit this generator: parameter {name!r} has shape "
                                f"{tuple(params[name].shape)} but the mask has {tuple(t.shape)}")

    @torch.no_grad()
    def apply_(self, net: nn.Module) -> nn.Module:
        """Zero the pruned parameters of ``net`` in place (θ ← θ ∘ m)."""
        self.check(net)
        params = dict(net.named_parameters())
        for name, t in self._masks.items():
            p = params[name]
            p.mul_(t.to(device=p.device, dtype=p.dtype))
        return net

    # ------------------------------------------------------------------ io
    def to_dict(self) -> dict:
        return {"masks": dict(self._masks), "meta": self.meta}

    def save(self, path: str | os.PathLike) -> Path:
        atomic_torch_save(self.to_dict(), path)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Mask":
        path = Path(path)
        if not path.is_file():
            raise MaskError(f"mask file {str(path)!r} does not exist; create one with `oes mask ... --out {path}`")
        try:
            d = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as e:  # corrupted / not a torch file
            raise MaskError(f"{str(path)!r} is not a readable mask file ({type(e).__name__}); "
                            f"re-create it with `oes mask` or `oes prune`") from None
        if not isinstance(d, dict) or set(d) != {"masks", "meta"} or not isinstance(d["masks"], dict):
            raise MaskError(f"{str(path)!r} is a torch file but not an oes mask (expected keys 'masks' and 'meta'); "
                            f"re-create it with `oes mask` or `oes prune`")
        return cls(d["masks"], d["meta"])

    @classmethod
    def ones(cls, net: nn.Module, maskable: Maskable = "all", meta: dict | None = None) -> "Mask":
        params = dict(net.named_parameters())
        return cls({n: torch.ones_like(params[n], dtype=torch.bool) for n in maskable_names(net, maskable)}, meta)


def mask_agreement(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> dict:
    r"""How much two masks over the same parameters agree on *what they keep*.

    ``overlap`` = |A ∩ B| / min(|A|, |B|) (1: the same kept set); ``chance`` = the expected overlap of
    a random kept set of the same size, max(|A|, |B|) / d (E|A ∩ B| = |A||B|/d); ``ratio`` =
    overlap / chance (1: no better than chance); ``jaccard`` = |A ∩ B| / |A ∪ B|. Used to ask whether
    OES's kept set is unique: two runs that differ only in the Concrete sampler's seed should keep the
    same weights if the ranking has converged to one answer.
    """
    if list(a) != list(b):
        raise MaskError("masks cover different parameters; compare masks of the same generator")
    fa = torch.cat([a[n].flatten().bool() for n in a])
    fb = torch.cat([b[n].flatten().bool() for n in b])
    if fa.shape != fb.shape:
        raise MaskError(f"masks have different sizes ({fa.numel()} vs {fb.numel()}); compare masks of one generator")
    ka, kb, d = int(fa.sum()), int(fb.sum()), fa.numel()
    both = int((fa & fb).sum())
    union = int((fa | fb).sum())
    overlap = both / max(min(ka, kb), 1)
    chance = max(ka, kb) / max(d, 1)
    return {"overlap": overlap, "chance": chance, "ratio": overlap / chance if chance else float("nan"),
            "jaccard": both / union if union else 1.0, "kept": (ka, kb), "shared": both, "total": d}
