r"""The method table: every mask method and fit method a spec can name, in one place.

Each entry is the *lazy* reference ``"module:function"`` of the function that does the work —
the function stays in the module a reader looks in (the pruners in :mod:`oes.pruners`, IMP in
:mod:`oes.imp`, GP-DIP / ES-WMV in :mod:`oes.baselines`) — and an integer **algorithm
version**.  Nothing is imported until a method is used, and no module registers itself by
side effect.

**Bump a version** when a change to that method's code changes its numbers (a different
mask, a different history).  The version is part of the store key of every spec that uses
the method (:func:`oes.experiments.specs.spec_key`), so results computed by the old code are
not reused; ``oes runs gc`` removes them.

Signatures:

* mask builder ``(spec: MaskSpec, net, z, problem, progress, deps) -> (Mask, extras)``, where
  ``net`` holds θ_in, ``deps`` maps ``"source_run"`` to the stored :class:`RunRecord` of
  ``spec.source_run`` (when set) and ``extras`` may hold ``history`` (DataFrame), ``logits``,
  ``seconds`` and ``tables`` (name → DataFrame, stored as CSV);
* fit method ``(spec: RunSpec, net, z, problem, mask, checkpoint, progress) -> FitResult``.

``oes`` and the plain fits live here (:func:`oes_builder`, :func:`plain_fit`): thin adapters
of :func:`oes.learn.learn_mask` and :func:`oes.fit.fit` to the store's signatures.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Iterator

__all__ = ["Method", "MASK_METHODS", "FIT_METHOD_TABLE", "MASK_BUILDERS", "FIT_METHODS", "resolve", "version",
           "mask_builder", "fit_method", "oes_builder", "plain_fit"]


@dataclass(frozen=True)
class Method:
    ref: str          # "module:function"
    version: int      # bump when the method's numbers change
    doc: str = ""


#: mask methods: name → Method (builder reference, algorithm version)
MASK_METHODS: dict[str, Method] = {
    "oes": Method("oes.experiments.methods:oes_builder", 1, "OES, Algorithm 1 (oes.learn.learn_mask)"),
    "random": Method("oes.pruners:pruner_builder", 1, "random pruning at initialisation"),
    "magnitude": Method("oes.pruners:pruner_builder", 1, "magnitude pruning at initialisation"),
    "snip": Method("oes.pruners:pruner_builder", 1, "SNIP (Lee et al. 2018)"),
    "grasp": Method("oes.pruners:pruner_builder", 1, "GraSP (Wang et al. 2020)"),
    "synflow": Method("oes.pruners:pruner_builder", 1, "SynFlow (Tanaka et al. 2020)"),
    "snip_authors": Method("oes.pruners:pruner_builder", 1, "the authors' SNIP score |∂L/∂θ| (oes.pruners)"),
    "grasp_authors": Method("oes.pruners:pruner_builder", 1, "the authors' GraSP score H θ + g, smallest kept"),
    "synflow_authors": Method("oes.pruners:pruner_builder", 1, "the authors' one-shot signed real-input SynFlow"),
    "imp": Method("oes.imp:imp_builder", 1, "IMP with rewinding (Frankle & Carbin 2018)"),
}

#: fit methods: name → Method (fit function reference, algorithm version)
FIT_METHOD_TABLE: dict[str, Method] = {
    "dense": Method("oes.experiments.methods:plain_fit", 1, "dense DIP (oes.fit.fit)"),
    "sparse": Method("oes.experiments.methods:plain_fit", 1, "Sparse-DIP: fit with a mask"),
    "decoder": Method("oes.experiments.methods:plain_fit", 1, "the Deep Decoder (oes.fit.fit)"),
    "sgld": Method("oes.baselines:sgld_fit", 1, "GP-DIP / SGLD (Cheng et al. 2019)"),
    "es_wmv": Method("oes.baselines:es_wmv_fit", 1, "DIP with ES-WMV (Wang et al. 2021)"),
}

_TABLES = {"mask": MASK_METHODS, "fit": FIT_METHOD_TABLE}


def _entry(kind: str, name: str) -> Method:
    table = _TABLES[kind]
    if name not in table:
        raise ValueError(f"unknown {'mask' if kind == 'mask' else 'run'} method {name!r}; "
                         f"known: {', '.join(sorted(table))}")
    return table[name]


def version(kind: str, name: str) -> int:
    """The algorithm version of mask (``kind="mask"``) or fit (``"fit"``) method ``name``."""
    return _entry(kind, name).version


def resolve(ref: str) -> Callable:
    """Import ``"module:function"`` and return the function."""
    module, _, attr = ref.partition(":")
    fn = getattr(importlib.import_module(module), attr, None)
    if fn is None:
        raise ImportError(f"method table entry {ref!r}: {module} has no {attr}")
    return fn


def mask_builder(name: str) -> Callable:
    return resolve(_entry("mask", name).ref)


def fit_method(name: str) -> Callable:
    return resolve(_entry("fit", name).ref)


class _Resolved(Mapping):
    """A read-only ``name → function`` view of a table (resolves on access)."""

    def __init__(self, kind: str):
        self.kind = kind

    def __getitem__(self, name: str) -> Callable:
        if name not in _TABLES[self.kind]:
            raise KeyError(name)
        return resolve(_TABLES[self.kind][name].ref)

    def __iter__(self) -> Iterator[str]:
        return iter(_TABLES[self.kind])

    def __len__(self) -> int:
        return len(_TABLES[self.kind])


#: name → mask builder function (read-only view of :data:`MASK_METHODS`)
MASK_BUILDERS: Mapping[str, Callable] = _Resolved("mask")
#: name → fit function (read-only view of :data:`FIT_METHOD_TABLE`)
FIT_METHODS: Mapping[str, Callable] = _Resolved("fit")


# ------------------------------------------------------------------ the core methods' adapters
def oes_builder(spec, net, z, problem, progress, deps=None):
    """MASK_METHODS["oes"]: :func:`oes.learn.learn_mask` with ``MaskConfig(**spec.params)``."""
    from ..learn import MaskConfig, learn_mask

    cfg = MaskConfig(**spec.params)
    res = learn_mask(net, z, problem.y, problem.operator, cfg=cfg, seed=spec.seed, x_true=problem.x,
                     to_image=problem.to_image, progress=progress, desc=f"OES {spec.image}")
    return res.mask, {"history": res.history, "logits": res.logits, "seconds": res.seconds}


def plain_fit(spec, net, z, problem, mask, checkpoint, progress):
    """FIT_METHODS dense / sparse / decoder: :func:`oes.fit.fit` with ``spec.fit``."""
    fit = importlib.import_module("oes.fit").fit     # looked up at call time

    return fit(net, z, problem.y, problem.operator, cfg=spec.fit, mask=mask, x_true=problem.x,
                    to_image=problem.to_image, checkpoint=checkpoint, seed=spec.seed, progress=progress,
                    desc=f"{spec.method} {spec.image}")
