r"""The whole book's plan: every declared chapter's grid, de-duplicated, as one DAG of tasks.

:func:`book_plan` calls the grid function of each chapter of ``_toc.yml`` found in
:data:`oes.grids.GRIDS` with the preset and the ``-p`` overrides its signature accepts, and
collects the specs.  A spec shared by several chapters (chapter 02's OES masks are used by
five chapters) has one key and so becomes one task.  ``oes book plan`` prints the plan;
``oes book run`` executes it before rendering the notebooks, which then find every run stored.

Chapters not converted yet (their notebooks still build and execute their grids in the
kernel) are listed as ``undeclared``: their runs are made when their notebook is rendered.
"""
from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from .executors import Executor, build_tasks, execute_specs, spec_steps
from .grid import Grid
from .specs import spec_dependencies
from .store import RunStore

__all__ = ["Plan", "book_plan", "chapter_names"]


def chapter_names(book_root: str | os.PathLike | None = None) -> list[str]:
    """The book's notebooks in ``_toc.yml`` order (the declared grids' names when there is no book)."""
    from ..book import BookError, book_notebooks, find_root
    from ..grids import GRIDS

    try:
        root = find_root(book_root)
    except BookError:
        return list(GRIDS)
    return [nb.name for nb in book_notebooks(root)]


@dataclass
class Plan:
    preset: str
    grids: list[Grid]
    undeclared: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    unused_params: list[str] = field(default_factory=list)

    def specs(self, store: RunStore | None = None) -> list:
        """Every grid's specs, each key once, in chapter order."""
        store = store or RunStore()
        seen: dict[str, Any] = {}
        for g in self.grids:
            for s in g.specs():
                seen.setdefault(store.key(s), s)
        return list(seen.values())

    def needed_keys(self, store: RunStore | None = None) -> set[str]:
        """The keys of every spec of the plan and of everything they depend on (what ``gc`` keeps)."""
        store = store or RunStore()
        return store.keys_of(self.specs(store))

    def nodes(self, store: RunStore) -> dict[str, Any]:
        """Every spec the plan needs, its dependencies included (an IMP or OES mask under a Sparse-DIP
        run), once each, by ``store``'s key."""
        nodes: dict[str, Any] = {}
        stack = list(self.specs(store))
        while stack:
            s = stack.pop()
            k = store.key(s)
            if k not in nodes:
                nodes[k] = s
                stack.extend(spec_dependencies(s))
        return nodes

    def summary(self, root: str | os.PathLike | None = None, batch: int = 1, workers: int = 1) -> dict:
        """Counts: items, unique specs (with dependencies), stored, tasks to run (cut for ``batch`` and
        ``workers`` as :func:`~oes.experiments.executors.build_tasks` cuts them) and their steps."""
        store = RunStore(root)
        specs = self.specs(store)
        nodes = self.nodes(store)
        stored = sum(store.is_done(s) for s in nodes.values())
        tasks = build_tasks(specs, store, batch, workers)
        per = []
        for g in self.grids:
            keys = {store.key(s) for s in g.specs()}
            per.append({"chapter": g.chapter, "items": len(g.items), "unique": len(keys),
                        "stored": sum(store.is_done(nodes[k]) for k in keys)})
        return {"items": sum(len(g.items) for g in self.grids), "unique": len(nodes), "stored": stored,
                "tasks": len(tasks), "runs_to_compute": sum(len(t.specs) for t in tasks),
                "steps": sum(t.steps for t in tasks), "steps_total": sum(spec_steps(s) for s in nodes.values()),
                "chapters": per}

    def describe(self, root: str | os.PathLike | None = None, batch: int = 1, workers: int = 1) -> str:
        """The text ``oes book plan`` prints."""
        s = self.summary(root, batch, workers)
        lines = [f"plan for preset {self.preset}: {len(self.grids)} chapter(s) declared"
                 + (f" (-p {', '.join(f'{k}={v!r}' for k, v in self.params.items())})" if self.params else "")]
        for c in s["chapters"]:
            lines.append(f"  {c['chapter']}: {c['items']} items, {c['unique']} specs, {c['stored']} stored")
        lines.append(f"  {s['items']} items -> {s['unique']} unique specs with their dependencies "
                     f"(duplicates across chapters removed); {s['stored']} already stored")
        lines.append(f"  to run: {s['runs_to_compute']} specs in {s['tasks']} task(s) (batch {batch}, "
                     f"{workers} worker(s)), estimated {s['steps']:,} steps (the whole plan: {s['steps_total']:,})")
        if self.undeclared:
            lines.append(f"not yet declared (their notebooks run their own grids): {', '.join(self.undeclared)}")
        if self.unused_params:
            lines.append(f"-p {', '.join(self.unused_params)}: taken by no declared grid")
        return "\n".join(lines)

    def execute(self, executor: Executor | str | None = None, root: str | os.PathLike | None = None,
                workers: int | None = None, batch: int | None = None, progress: bool | None = None,
                log_lines: bool = True) -> dict:
        """Store everything the plan needs; one progress bar for the whole plan."""
        t0 = time.perf_counter()
        store = RunStore(root)
        info = execute_specs(self.specs(store), root, executor, progress, desc=f"plan {self.preset}", batch=batch,
                             workers=workers, log_lines=log_lines)
        info["seconds"] = time.perf_counter() - t0
        return info


def book_plan(preset: str, params: dict | None = None, only: Sequence[str] | None = None,
              book_root: str | os.PathLike | None = None) -> Plan:
    """The plan of the book's declared chapters at ``preset`` with notebook-parameter overrides ``params``."""
    from ..grids import GRIDS
    from ..presets import get_preset

    get_preset(preset)
    params = dict(params or {})
    names = chapter_names(book_root)
    if only:
        wanted = [str(o).removesuffix(".py").removesuffix(".ipynb").rsplit("/", 1)[-1] for o in only]
        bad = [w for w in wanted if w not in names and w not in GRIDS]
        if bad:
            raise ValueError(f"--only {', '.join(bad)}: not a chapter of the book (known: {', '.join(names)})")
        names = [n for n in dict.fromkeys([*names, *GRIDS]) if n in wanted]
    grids, undeclared, used = [], [], set()
    for name in names:
        fn = GRIDS.get(name)
        if fn is None:
            undeclared.append(name)
            continue
        accepted = set(inspect.signature(fn).parameters) - {"preset"}
        kw = {k: v for k, v in params.items() if k in accepted}
        used |= set(kw)
        grids.append(fn(preset, **kw))
    return Plan(preset, grids, undeclared, params, sorted(set(params) - used))
