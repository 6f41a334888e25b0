r"""The book's grids, declared once: one function per chapter, ``GRIDS[notebook name]``.

Each function takes the preset name and the keyword parameters of its notebook's
``parameters`` cell (same names, same defaults: ``None`` means "the preset's"), and returns a
:class:`~oes.experiments.grid.Grid` — the specs the chapter needs, each with labels.  The
notebook calls it, shows ``G.table()``, runs ``G.execute()`` and draws; ``oes book plan``
calls every function here to plan the whole book, so ``-p`` overrides reach the plan.

Chapters 03–11 still build and execute their grids inside the notebook; they are listed by
``oes book plan`` as *not yet declared*.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .experiments.grid import Grid
from .presets import get_preset

__all__ = ["GRIDS", "masking_prior", "overfitting"]


def masking_prior(preset: str, *, image: str | None = None, sparsities: Sequence[float] | None = None,
                  mask_steps: int | None = None, seed: int = 0) -> Grid:
    """Chapter 01 (Finding 1, §4.1, Figs 4/16/18): an OES mask and a random mask at each sparsity.

    Labels: ``method`` (``oes`` | ``random``), ``sparsity`` (fraction kept).
    """
    P = get_preset(preset)
    image = image or P.images[0]
    sparsities = list(sparsities or P.finding1_sparsities)
    overrides = {"steps": mask_steps} if mask_steps else {}
    items = []
    for s in sparsities:
        items.append(({"method": "oes", "sparsity": s}, P.mask_spec(image, seed, sparsity=s, **overrides)))
    for s in sparsities:
        items.append(({"method": "random", "sparsity": s}, P.mask_spec(image, seed, method="random", sparsity=s)))
    return Grid("01_masking_prior", P.name, items,
                params={"image": image, "sparsities": sparsities, "mask_steps": overrides.get("steps", P.mask.steps),
                        "seed": seed})


def overfitting(preset: str, *, images: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                steps: int | None = None, sparsity: float | None = None,
                methods: Sequence[str] = ("dense", "sgld", "decoder", "sparse")) -> Grid:
    """Chapter 02 (Finding 2, §4.2, Figs 5/6/11, Tables 2/3): one run per (image, seed, method), no
    early stopping; Sparse-DIP's OES mask is learned on the same noisy image and θ_in (seed).

    Labels: ``image``, ``seed``, ``method`` (runs); the masks are items too (``method="oes"``).
    """
    P = get_preset(preset)
    images = list(images or P.images)
    seeds = list(seeds or P.seeds)
    steps = steps or P.fit.steps
    sparsity = sparsity or P.mask.sparsity
    methods = list(methods)
    items = []
    for im in images:
        for sd in seeds:
            mask = P.mask_spec(im, sd, sparsity=sparsity) if "sparse" in methods else None
            if mask is not None:
                items.append(({"image": im, "seed": sd, "method": "oes"}, mask))
            for m in methods:
                items.append(({"image": im, "seed": sd, "method": m},
                              P.run_spec(im, m, sd, mask=mask if m == "sparse" else None, steps=steps)))
    return Grid("02_overfitting", P.name, items,
                params={"images": images, "seeds": seeds, "steps": steps, "sparsity": sparsity, "methods": methods})


#: notebook name → grid function(preset, **the notebook's parameters)
GRIDS: dict[str, Callable[..., Grid]] = {
    "01_masking_prior": masking_prior,
    "02_overfitting": overfitting,
}
