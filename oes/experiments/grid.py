r"""A chapter's grid as data: labelled specs, shown as a table, executed, then looked up by label.

>>> from oes.grids import overfitting
>>> G = overfitting("smoke")                        # doctest: +SKIP
>>> G.table()                                        # doctest: +SKIP   (kind, image, seed, method, key, steps, stored)
>>> R = G.execute()                                  # doctest: +SKIP   (what is missing, via $OES_EXECUTOR)
>>> R.run(image="astronaut", seed=0, method="sparse").history   # doctest: +SKIP
>>> R.frame()                                        # doctest: +SKIP   (results_frame of every run + the labels)

The chapter functions that build grids are in :mod:`oes.grids`; :mod:`oes.experiments.plan`
collects them into the book's plan.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..masks import Mask
from .executors import Executor, execute_specs, results_frame, spec_steps
from .specs import MaskSpec, RunSpec
from .store import RunRecord, RunStore

__all__ = ["Grid", "GridResult"]


def _kind(spec) -> str:
    if isinstance(spec, RunSpec):
        return "run"
    if isinstance(spec, MaskSpec):
        return "mask"
    raise TypeError(f"a grid item's spec must be a RunSpec or MaskSpec, got {type(spec).__name__}")


@dataclass
class Grid:
    """What one chapter runs: ``items`` = ``[(labels, spec), ...]`` (labels like image, seed, method).

    ``params`` holds the chapter's parameters with the preset's defaults filled in (what the
    notebook prints and draws with).
    """

    chapter: str
    preset: str
    items: list[tuple[dict, Any]]
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        for labels, spec in self.items:
            _kind(spec)
            if not isinstance(labels, dict):
                raise TypeError(f"grid {self.chapter}: labels must be a dict, got {type(labels).__name__}")

    def __len__(self) -> int:
        return len(self.items)

    def specs(self) -> list:
        """The items' specs, in order."""
        return [s for _, s in self.items]

    def spec(self, **labels):
        """The spec of the one item whose labels match (a KeyError otherwise)."""
        found = [s for lab, s in self.items if all(lab.get(k) == v for k, v in labels.items())]
        if len(found) != 1:
            shown = ", ".join(f"{k}={v!r}" for k, v in labels.items())
            raise KeyError(f"grid {self.chapter}: {len(found)} items match {shown or 'no labels'} (expected one)")
        return found[0]

    def table(self, root: str | os.PathLike | None = None) -> pd.DataFrame:
        """One row per item: kind, labels…, method, key, steps, stored (already in the run store)."""
        store = RunStore(root)
        rows = []
        for labels, spec in self.items:
            row = {"kind": _kind(spec), **labels}
            row.setdefault("method", spec.method)
            row.update({"key": store.key(spec), "steps": spec_steps(spec), "stored": store.is_done(spec)})
            rows.append(row)
        return pd.DataFrame(rows)

    def execute(self, executor: Executor | str | None = None, root: str | os.PathLike | None = None,
                progress: bool | None = None, batch: int | None = None) -> "GridResult":
        """Run what is not stored yet (through ``$OES_EXECUTOR``'s executor by default); print one line."""
        store = RunStore(root)
        specs = self.specs()
        done = sum(store.is_done(s) for s in specs)
        t0 = time.perf_counter()
        info = execute_specs(specs, root, executor, progress, desc=self.chapter, batch=batch)
        n_runs = sum(isinstance(s, RunSpec) for s in specs)
        print(f"{self.chapter}: {n_runs} runs and {len(specs) - n_runs} masks ({done} already stored, "
              f"{info['computed']} computed with their dependencies) in {time.perf_counter() - t0:.1f} s")
        return GridResult(self, store)


class GridResult:
    """The stored results of a grid, looked up by label."""

    def __init__(self, grid: Grid, store: RunStore):
        self.grid, self.store = grid, store

    def _match(self, kind: str, labels: dict) -> list[tuple[dict, Any]]:
        known = {k for lab, _ in self.grid.items for k in lab}
        unknown = sorted(set(labels) - known)
        if unknown:
            raise KeyError(f"grid {self.grid.chapter} has no label {', '.join(unknown)}; labels: {', '.join(sorted(known))}")
        return [(lab, s) for lab, s in self.grid.items
                if _kind(s) == kind and all(lab.get(k) == v for k, v in labels.items())]

    def _one(self, kind: str, labels: dict):
        found = self._match(kind, labels)
        if len(found) != 1:
            shown = ", ".join(f"{k}={v!r}" for k, v in labels.items())
            raise KeyError(f"grid {self.grid.chapter}: {len(found)} {kind}s match {shown or 'no labels'} (expected one)")
        return found[0][1]

    def run(self, **labels) -> RunRecord:
        """The record of the one run whose labels match."""
        return self.store.run_one(self._one("run", labels))

    def mask(self, **labels) -> Mask:
        """The one mask whose labels match."""
        return self.store.get_mask(self._one("mask", labels))

    def mask_record(self, **labels) -> dict:
        """Stored extras (history, logits, result) of the one mask whose labels match."""
        return self.store.mask_record(self._one("mask", labels))

    def records(self, **filters) -> list[RunRecord]:
        """The records of every run whose labels match ``filters`` (all runs without filters), in grid order."""
        return [self.store.run_one(s) for _, s in self._match("run", filters)]

    def masks(self, **filters) -> list[Mask]:
        return [self.store.get_mask(s) for _, s in self._match("mask", filters)]

    def frame(self, **filters) -> pd.DataFrame:
        """:func:`results_frame` of the matching runs, with the labels as columns (labels win on a clash)."""
        items = self._match("run", filters)
        df = results_frame([self.store.run_one(s) for _, s in items])
        for col in dict.fromkeys(k for lab, _ in items for k in lab):
            df[col] = [lab.get(col) for lab, _ in items]
        return df

    def labels(self, kind: str = "run") -> list[dict]:
        return [dict(lab) for lab, s in self.grid.items if _kind(s) == kind]
