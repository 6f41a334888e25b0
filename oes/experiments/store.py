r"""Where runs are kept: a run store on disk that many processes (or cluster workers) share.

Layout (``root`` = ``$OES_RUNS_DIR`` or ``./runs``; ``v2`` is the layout/schema version, so a
store of the old layout, ``runs/masks`` and ``runs/fits``, is never mixed in)::

    runs/v2/masks/<method>_<key>/  spec.json mask.pt logits.pt history.csv [<table>.csv] result.json
    runs/v2/fits/<method>_<key>/   spec.json history.csv output.pt result.json
    runs/v2/work/<method>_<key>/   checkpoint.pt of a fit in progress (stable: a later worker resumes it)
    runs/v2/locks/<key>.lock       one lock file per key

Writing is safe under concurrency:

* a **lock per key** (:mod:`filelock`, an OS lock: released when its process dies, even by
  SIGKILL) — a key that two workers race for is computed once; the second waits on the lock,
  then loads;
* an entry is written into a **unique temporary folder** in the same parent
  (``tempfile.mkdtemp``), ``result.json`` last, then **renamed** into place: an entry folder
  either does not exist or is complete;
* ``result.json`` lists every other file with its size and md5; an entry whose files do not
  match (truncated, overwritten, unreadable) is **reported and recomputed, never trusted**
  (:meth:`RunStore.verify`, ``oes runs verify``);
* a fit checkpoints into the stable ``work/`` folder of its key, so a worker killed mid-run is
  resumed from its last checkpoint by the next worker that takes the key.

Every computation runs inside :func:`~oes.experiments.specs.fixed_threads` (``$OES_THREADS``,
default 1) and ``result.json`` records the thread count, the methods' algorithm versions, the
torch and oes versions, the CPU instruction set torch dispatches to (the same spec and thread
count round differently under AVX2 and AVX-512, so a mask can differ between machines) and, for
batched runs, the batch (size and member keys).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd
import torch

from ..masks import Mask
from . import methods as _methods
from .specs import (MaskSpec, Problem, RunSpec, cpu_capability, device_setting, fixed_threads, rounding_env,
                    spec_key, spec_to_jsonable, spec_versions, threads_setting)

__all__ = ["SCHEMA", "RunStore", "RunRecord", "Entry", "runs_root", "build_problem_inputs"]

#: the store's layout/schema version: entries live under ``<root>/<SCHEMA>/``
SCHEMA = "v2"


def runs_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, else ``$OES_RUNS_DIR``, else ``./runs``."""
    return Path(root or os.environ.get("OES_RUNS_DIR", "runs"))


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class RunRecord:
    """A stored run: its spec, directory and results (history and output are loaded lazily)."""

    spec: RunSpec
    dir: Path
    result: dict

    @property
    def history(self) -> pd.DataFrame:
        return pd.read_csv(self.dir / "history.csv")

    @property
    def output(self) -> torch.Tensor:
        return torch.load(self.dir / "output.pt", weights_only=True)["x_hat"]

    @property
    def best_output(self) -> torch.Tensor | None:
        return torch.load(self.dir / "output.pt", weights_only=True).get("best_x_hat")

    def row(self) -> dict:
        """A flat dict for a results DataFrame."""
        s = self.spec
        return {"image": s.image, "method": s.method, "seed": s.seed, "sigma": s.sigma, "operator": s.operator,
                "mask_method": s.mask.method if s.mask else None, "mask_image": s.mask.image if s.mask else None,
                "density": self.result.get("density"), **{k: v for k, v in self.result.items()
                                                          if isinstance(v, (int, float, str, bool)) or v is None}}


@dataclass
class Entry:
    """One folder of the store, for ``oes runs ls`` / ``verify`` / ``gc``."""

    kind: str            # "mask" | "fit" | "work" | "tmp"
    dir: Path
    key: str
    method: str
    image: str | None
    seed: int | None
    status: str          # "done" | "corrupt: ..." | "checkpoint (step N)" | "partial write"
    seconds: float | None


def build_problem_inputs(spec, device: str = "cpu"):
    """(problem, net at θ_in, z) of a spec: the measurement, the seeded network and its input, drawn on
    the CPU and then moved to ``device``."""
    from ..generators import build_generator, make_input

    problem = spec.problem()
    net, z = build_generator(spec.generator, spec.seed), make_input(spec.generator, spec.size, spec.seed)
    if device != "cpu":
        import torch as _torch

        if device == "cuda" and not _torch.cuda.is_available():
            raise ValueError("OES_DEVICE=cuda but this worker has no CUDA device; unset OES_DEVICE to run on the CPU")
        problem = Problem(problem.x.to(device), problem.y.to(device), problem.operator.to(device), problem.image,
                          problem.to_image)
        net, z = net.to(device), z.to(device)
    return problem, net, z


class RunStore:
    """The run store at ``root`` (see the module docstring).

    :param threads: intra-op threads of the runs it computes (default ``$OES_THREADS`` or 1);
        part of the keys when ≠ 1.
    :param device: ``cpu`` or ``cuda`` (default ``$OES_DEVICE`` or cpu); part of the keys when not cpu.
    :param lock_timeout: seconds to wait for a key's lock (−1: forever).
    :param log: where warnings go (default: one line on stderr).
    """

    def __init__(self, root: str | os.PathLike | None = None, threads: int | None = None,
                 lock_timeout: float = -1, log: Callable[[str], None] | None = None, device: str | None = None):
        self.root = runs_root(root)
        self.base = self.root / SCHEMA
        self.threads = threads_setting(threads)
        self.device = device_setting(device)
        self.lock_timeout = lock_timeout
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self._locks: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r}, threads={self.threads}, device={self.device!r})"

    # ------------------------------------------------------------ names
    def key(self, spec) -> str:
        return spec_key(spec, self.threads, self.device)

    def _name(self, spec) -> str:
        return f"{spec.method}_{self.key(spec)}"

    def entry_dir(self, spec) -> Path:
        return self.base / ("masks" if isinstance(spec, MaskSpec) else "fits") / self._name(spec)

    def work_dir(self, spec) -> Path:
        return self.base / "work" / self._name(spec)

    def lock(self, spec):
        """The key's :class:`filelock.FileLock`: an OS lock, released if its process dies; one object
        per key and store, so it is re-entrant within a process."""
        return self._key_lock(self.key(spec))

    def _key_lock(self, key: str):
        from filelock import FileLock

        if key not in self._locks:
            path = self.base / "locks" / f"{key}.lock"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._locks[key] = FileLock(str(path), timeout=self.lock_timeout)
        return self._locks[key]

    def __getstate__(self):                # locks stay with their process
        return {**self.__dict__, "_locks": {}, "log": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.log = lambda msg: print(msg, file=sys.stderr)

    # ------------------------------------------------------------ checking
    def problems(self, d: Path, full: bool = True) -> list[str]:
        """What is wrong with entry folder ``d`` (``[]``: a complete, intact entry).

        Checks that ``result.json`` parses and that every file it lists is present with its size
        and (``full``) md5; ``full`` also loads the ``.pt`` files.
        """
        res = d / "result.json"
        if not res.is_file():
            return ["result.json missing"]
        try:
            result = json.loads(res.read_text())
        except (OSError, ValueError) as e:
            return [f"result.json unreadable ({type(e).__name__})"]
        files = result.get("files") if isinstance(result, dict) else None
        if not isinstance(files, dict) or not files:
            return ["result.json lists no files (not written by this store)"]
        out = []
        for name, info in files.items():
            f = d / name
            if not f.is_file():
                out.append(f"{name} missing")
                continue
            if f.stat().st_size != info.get("bytes"):
                out.append(f"{name} has {f.stat().st_size} bytes, {info.get('bytes')} were written")
                continue
            if full and _md5(f) != info.get("md5"):
                out.append(f"{name} changed since it was written (md5 differs)")
                continue
            if full and name.endswith(".pt"):
                try:
                    torch.load(f, weights_only=True, map_location="cpu")
                except Exception as e:  # noqa: BLE001 - any failure to load means "do not trust"
                    out.append(f"{name} does not load ({type(e).__name__})")
        return out

    def is_done(self, spec) -> bool:
        """Whether the spec's entry exists (cheap: ``result.json`` present; loading checks the rest)."""
        return (self.entry_dir(spec) / "result.json").is_file()

    def _intact(self, spec) -> bool:
        d = self.entry_dir(spec)
        if not (d / "result.json").is_file():
            return False
        bad = self.problems(d)
        if bad:
            self.log(f"run store: {d.relative_to(self.root)} is corrupt ({'; '.join(bad)}): recomputing it")
        return not bad

    # ------------------------------------------------------------ writing (shared by solo and batched paths)
    def _commit(self, d: Path, write: Callable[[Path], dict]) -> dict:
        """Write an entry: ``write(tmp)`` fills a fresh temporary folder and returns the result
        dict; the files are listed in it, ``result.json`` is written last and the folder renamed
        to ``d``.  Call with the key's lock held."""
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{d.name}-", dir=d.parent))
        try:
            result = write(tmp)
            result["files"] = {f.name: {"bytes": f.stat().st_size, "md5": _md5(f)}
                               for f in sorted(tmp.iterdir()) if f.is_file()}
            (tmp / "result.json").write_text(json.dumps(result, indent=1))
            if d.exists():       # a corrupt entry (we hold the lock): move it aside, then replace it
                trash = Path(tempfile.mkdtemp(prefix=f".bad-{d.name}-", dir=d.parent))
                os.replace(d, trash / "entry")
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(tmp, d)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return result

    def _provenance(self, spec, batch: Sequence[str] | None) -> dict:
        from .. import __version__

        info = {"key": self.key(spec), "method": spec.method, "image": spec.image, "seed": spec.seed,
                "threads": self.threads, "device": self.device, "versions": spec_versions(spec), "version": __version__,
                "torch": torch.__version__, "cpu_capability": cpu_capability()}
        if rounding_env():
            info["rounding_env"] = rounding_env()
        if batch is not None and len(batch) > 1:
            info["batch"] = {"size": len(batch), "members": list(batch)}
        return info

    def write_mask(self, spec: MaskSpec, mask: Mask, extras: dict, batch: Sequence[str] | None = None) -> Mask:
        """Store a built mask (its meta completed) with its extras; call with the key's lock held."""
        from .. import __version__

        mask.meta.update({"method": spec.method, "generator": spec.generator.to_dict(), "source_image": spec.image,
                          "size": spec.size, "sigma": spec.sigma, "operator": spec.operator, "seed": spec.seed,
                          "target": spec.target, "version": __version__, "key": self.key(spec),
                          "collapsed": mask.collapsed()})

        def write(tmp: Path) -> dict:
            (tmp / "spec.json").write_text(json.dumps(spec_to_jsonable(spec), indent=1))
            Mask({n: t.cpu() for n, t in mask.items()}, mask.meta).save(tmp / "mask.pt")
            if isinstance(extras.get("history"), pd.DataFrame):
                extras["history"].to_csv(tmp / "history.csv", index=False)
            if extras.get("logits") is not None:
                torch.save(extras["logits"].cpu(), tmp / "logits.pt")
            for name, df in extras.get("tables", {}).items():
                df.to_csv(tmp / f"{name}.csv", index=False)
            return {"density": mask.density, "n_kept": mask.n_kept, "n_total": mask.n_total,
                    "collapsed": mask.collapsed(), "seconds": extras.get("seconds"),
                    **self._provenance(spec, batch)}

        self._commit(self.entry_dir(spec), write)
        return mask

    def write_fit(self, spec: RunSpec, res, mask: Mask | None, batch: Sequence[str] | None = None) -> RunRecord:
        """Store a finished fit (a :class:`~oes.fit.FitResult`); call with the key's lock held.
        Removes the key's work folder (its checkpoint) afterwards."""
        net = res.net

        def write(tmp: Path) -> dict:
            (tmp / "spec.json").write_text(json.dumps(spec_to_jsonable(spec), indent=1))
            res.history.to_csv(tmp / "history.csv", index=False)
            torch.save({"x_hat": res.x_hat.cpu(),
                        "best_x_hat": None if res.best_x_hat is None else res.best_x_hat.cpu()}, tmp / "output.pt")
            return {**res.summary(), "density": mask.density if mask is not None else 1.0,
                    "n_params": sum(p.numel() for p in net.parameters()),
                    "n_nonzero": int(sum(int((p != 0).sum()) for p in net.parameters())),
                    **self._provenance(spec, batch)}

        d = self.entry_dir(spec)
        result = self._commit(d, write)
        shutil.rmtree(self.work_dir(spec), ignore_errors=True)
        return RunRecord(spec, d, result)

    # ------------------------------------------------------------ loading / computing
    def load_mask(self, spec: MaskSpec) -> Mask:
        return Mask.load(self.entry_dir(spec) / "mask.pt")

    def load_run(self, spec: RunSpec) -> RunRecord:
        d = self.entry_dir(spec)
        return RunRecord(spec, d, json.loads((d / "result.json").read_text()))

    def checkpoint(self, spec: RunSpec) -> Path:
        """The fit's checkpoint file in its work folder; an unreadable one is removed (the run restarts)."""
        ck = self.work_dir(spec) / "checkpoint.pt"
        ck.parent.mkdir(parents=True, exist_ok=True)
        if ck.exists():
            try:
                torch.load(ck, weights_only=False)
            except Exception as e:  # noqa: BLE001
                self.log(f"run store: checkpoint of {ck.parent.name} does not load ({type(e).__name__}): "
                         f"starting that run again")
                ck.unlink()
        return ck

    def get_mask(self, spec: MaskSpec, progress: bool | None = None) -> Mask:
        """The mask described by ``spec``: loaded from the store, or built (once, under its lock) and stored."""
        if self._intact(spec):
            return self.load_mask(spec)
        _methods.version("mask", spec.method)                   # unknown method: a clear error, before any work
        deps = {"source_run": self.run_one(spec.source_run, progress)} if spec.source_run is not None else {}
        with self.lock(spec):
            if self._intact(spec):
                return self.load_mask(spec)
            builder = _methods.mask_builder(spec.method)
            with fixed_threads(self.threads):
                problem, net, z = build_problem_inputs(spec, self.device)
                mask, extras = builder(spec, net, z, problem, progress, deps)
            return self.write_mask(spec, mask, extras)

    def mask_record(self, spec: MaskSpec) -> dict:
        """Stored extras of a mask: ``dir``, ``result``, ``mask``, ``history`` (DataFrame) and ``logits`` (if any)."""
        self.get_mask(spec)
        d = self.entry_dir(spec)
        out = {"dir": d, "result": json.loads((d / "result.json").read_text()), "mask": Mask.load(d / "mask.pt")}
        out["history"] = pd.read_csv(d / "history.csv") if (d / "history.csv").exists() else None
        out["logits"] = torch.load(d / "logits.pt", weights_only=True) if (d / "logits.pt").exists() else None
        return out

    def run_one(self, spec: RunSpec, progress: bool | None = None) -> RunRecord:
        """Run (or load) one spec; idempotent, safe when several processes call it at once."""
        if self._intact(spec):
            return self.load_run(spec)
        _methods.version("fit", spec.method)
        if spec.method == "sparse" and spec.mask is None:
            raise ValueError("a 'sparse' run needs a mask spec (RunSpec.mask)")
        mask = self.get_mask(spec.mask, progress) if spec.mask is not None else None
        with self.lock(spec):
            if self._intact(spec):
                return self.load_run(spec)
            fn = _methods.fit_method(spec.method)
            with fixed_threads(self.threads):
                problem, net, z = build_problem_inputs(spec, self.device)
                res = fn(spec, net, z, problem, mask, self.checkpoint(spec), progress)
            return self.write_fit(spec, res, mask)

    def ensure(self, spec, progress: bool | None = None):
        """``run_one`` for a RunSpec, ``get_mask`` for a MaskSpec."""
        if isinstance(spec, RunSpec):
            return self.run_one(spec, progress)
        if isinstance(spec, MaskSpec):
            return self.get_mask(spec, progress)
        raise TypeError(f"expected a RunSpec or MaskSpec, got {type(spec).__name__}")

    # ------------------------------------------------------------ listing, verifying, removing
    def entries(self) -> list[Entry]:
        """Every folder of the store: entries, fits in progress (work) and leftovers of killed writers."""
        out: list[Entry] = []
        for kind, sub in (("mask", "masks"), ("fit", "fits"), ("work", "work")):
            folder = self.base / sub
            if not folder.is_dir():
                continue
            for d in sorted(folder.iterdir()):
                if not d.is_dir():
                    continue
                if d.name.startswith(".tmp-") or d.name.startswith(".bad-"):
                    out.append(Entry("tmp", d, "", "", None, None, "partial write", None))
                    continue
                method, _, key = d.name.rpartition("_")
                spec = _read_json(d / "spec.json") or {}
                image, seed = spec.get("image"), spec.get("seed")
                if kind == "work":
                    ck = d / "checkpoint.pt"
                    status = "empty work folder"
                    if ck.is_file():
                        try:
                            status = f"checkpoint (step {torch.load(ck, weights_only=False)['step']})"
                        except Exception:  # noqa: BLE001
                            status = "checkpoint unreadable"
                    out.append(Entry("work", d, key, method, image, seed, status, None))
                    continue
                bad = self.problems(d)
                result = _read_json(d / "result.json") or {}
                image, seed = result.get("image", image), result.get("seed", seed)
                out.append(Entry(kind, d, key, method, image, seed, "done" if not bad else "corrupt: " + "; ".join(bad),
                                 result.get("seconds")))
        return out

    def remove(self, entry: Entry) -> None:
        """Remove one folder of the store (under its key's lock when it has one)."""
        if not entry.key:
            shutil.rmtree(entry.dir, ignore_errors=True)
            return
        with self._key_lock(entry.key):
            shutil.rmtree(entry.dir, ignore_errors=True)

    def verify(self) -> list[Entry]:
        """The entries that are not intact (corrupt entries, leftovers of killed writers)."""
        return [e for e in self.entries() if e.kind in ("mask", "fit", "tmp") and e.status != "done"]

    def keys_of(self, specs: Iterable[Any]) -> set[str]:
        """The keys of ``specs`` and of everything they depend on."""
        from .specs import spec_dependencies

        out, stack = set(), list(specs)
        while stack:
            s = stack.pop()
            k = self.key(s)
            if k not in out:
                out.add(k)
                stack.extend(spec_dependencies(s))
        return out


def _read_json(path: Path) -> dict | None:
    try:
        v = json.loads(path.read_text())
        return v if isinstance(v, dict) else None
    except (OSError, ValueError):
        return None
