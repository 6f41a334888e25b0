r"""Experiments as grids of *runs*: plain configs whose results are stored on disk by key.

A :class:`RunSpec` says what to train (image, corruption, generator, mask, fit config,
seed); a :class:`MaskSpec` says how its mask is made (OES, a pruner, IMP) and from which
source measurement — so transfer experiments only change the mask's source.
:func:`execute` runs a list of specs through an :class:`Executor`, skipping runs that are
already stored and resuming interrupted ones from their checkpoints.  Masks are stored
under their own key, so a mask shared by many runs is learned once.

Store layout (``root`` defaults to ``$OES_RUNS_DIR`` or ``./runs``)::

    runs/masks/<key>/   spec.json  mask.pt  logits.pt  history.csv  result.json
    runs/fits/<key>/    spec.json  history.csv  output.pt  result.json  (checkpoint.pt while running)

``result.json`` is written last: its presence means *done*.  Keys are the md5 of the
spec's canonical JSON with fields at their default value left out, so adding a new
field with a default keeps old keys valid.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import pandas as pd
import torch
from tqdm import tqdm

from .data import load_image
from .fit import FitConfig, fit, progress_enabled
from .generators import GeneratorConfig, build_generator, make_input
from .learn import MaskConfig, learn_mask
from .masks import Mask
from .operators import Operator, build_operator

__all__ = ["Problem", "MaskSpec", "RunSpec", "RunRecord", "Executor", "LocalExecutor", "execute", "execute_masks",
           "mask_record", "results_frame",
           "get_mask", "make_problem", "runs_root", "spec_key", "MASK_BUILDERS", "FIT_METHODS", "MRI_PARAMS"]


def runs_root(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("OES_RUNS_DIR", "runs"))


# ------------------------------------------------------------------ canonical keys
def _canonical(obj: Any) -> Any:
    """JSON-able form of a spec with default-valued dataclass fields dropped."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if f.default is not dataclasses.MISSING and v == f.default:
                continue
            if f.default_factory is not dataclasses.MISSING and v == f.default_factory():  # type: ignore[misc]
                continue
            out[f.name] = _canonical(v)
        return out
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj) if abs(obj) < 2 ** 53 else obj
    return obj


def spec_key(spec: Any) -> str:
    s = json.dumps(_canonical(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.md5(s.encode()).hexdigest()[:12]


def _to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_jsonable(v) for k, v in obj.items()}
    return obj


# ------------------------------------------------------------------ problems
@dataclass(frozen=True)
class Problem:
    """A measurement to fit: clean x (for PSNR only), y = A(x) + ε, operator, image name.

    ``to_image`` maps the generator output to the image compared with ``x`` (``None`` =
    identity; MRI: the complex magnitude, since the generator outputs real/imaginary channels).
    """

    x: torch.Tensor
    y: torch.Tensor
    operator: Operator
    image: str
    to_image: Callable[[torch.Tensor], torch.Tensor] | None = None


#: ``op_params`` accepted by ``operator="mri"`` (see :func:`make_problem`).
MRI_PARAMS = ("acceleration", "n_coils", "kind", "snr_db", "center_fraction", "phase", "seed")


def _mri_problem(subject: str, size: int, sigma: float, seed: int, target: str, op_params: dict) -> Problem:
    """Multi-coil MRI acquisition of a synthetic subject (Appendix H, :func:`oes.mri.make_acquisition`)."""
    from .mri import SUBJECTS, magnitude, make_acquisition, synthetic_subjects

    unknown = sorted(set(op_params) - set(MRI_PARAMS))
    if unknown:
        raise ValueError(f"unknown MRI op_params {unknown}; known: {', '.join(MRI_PARAMS)}")
    if subject not in SUBJECTS:
        raise ValueError(f"unknown MRI subject {subject!r}; choose from {', '.join(SUBJECTS)}")
    snr_db = op_params.get("snr_db")
    if snr_db is not None and sigma:
        raise ValueError(f"MRI noise: give op_params['snr_db'] or sigma, not both (sigma={sigma:g}); "
                         "pass sigma=0 with snr_db")
    img = synthetic_subjects(size, names=[subject])[0]
    op, y, x_complex = make_acquisition(
        img, n_coils=int(op_params.get("n_coils", 8)), acceleration=float(op_params.get("acceleration", 4)),
        kind=str(op_params.get("kind", "random")), seed=int(op_params.get("seed", seed)), snr_db=snr_db,
        center_fraction=op_params.get("center_fraction"), phase=bool(op_params.get("phase", True)),
        sigma=float(sigma) / 255.0)
    if target == "clean":
        with torch.no_grad():
            y = op.A(x_complex)
    return Problem(magnitude(x_complex), y, op, subject, to_image=magnitude)


def make_problem(image: str, size: int, operator: str = "denoising", sigma: float = 25.0,
                 keep: float = 0.5, seed: int = 0, target: str = "noisy",
                 op_params: dict | None = None) -> Problem:
    """Load ``image`` at ``size`` and draw its seeded corruption.

    ``target="clean"`` fits the clean image itself (the oracle of Wu et al. 2023, App. D.3/E).

    ``operator="mri"`` (Appendix H): ``image`` names a subject of :data:`oes.mri.SUBJECTS`, acquired
    by :func:`oes.mri.make_acquisition` with the settings in ``op_params`` — ``acceleration`` (4),
    ``n_coils`` (8), ``kind`` ("random"), ``snr_db`` (None), ``center_fraction`` (fastMRI's),
    ``phase`` (True) and ``seed`` (the k-space mask, phase and noise seed; default ``seed``).
    ``sigma`` is then the complex noise level per k-space coefficient in /255 units, used only
    without ``snr_db`` (give ``sigma=0`` with ``snr_db``).  ``x`` is the magnitude image
    ``(1, 1, H, W)``, ``y`` the ``(1, N_c, 2, H, W)`` k-space and ``to_image`` the magnitude.
    """
    if operator == "mri":
        return _mri_problem(image, size, sigma, seed, target, dict(op_params or {}))
    if op_params:
        raise ValueError(f"op_params are only used by operator='mri', got {op_params} for {operator!r}")
    x = load_image(image, size)
    op = build_operator(operator, (size, size), sigma=sigma, keep=keep, seed=seed)
    if target == "clean":
        y = op.A(x)
    else:
        y = op.measure(x, torch.Generator().manual_seed(int(seed) + 1000003))
    return Problem(x, y, op, image)


# ------------------------------------------------------------------ specs
@dataclass(frozen=True)
class MaskSpec:
    """How a mask is made, and from which (source) measurement.

    ``method`` names a builder in :data:`MASK_BUILDERS` (``oes`` here; the pruners and IMP
    register theirs).  ``params`` holds the method's settings (for ``oes``: a
    :class:`MaskConfig` as a dict).  ``target="clean"`` marks an oracle mask.  ``op_params``
    holds operator settings beyond ``sigma``/``keep`` (MRI: see :func:`make_problem`).
    """

    method: str
    image: str
    size: int
    generator: GeneratorConfig
    params: dict = field(default_factory=dict)
    sigma: float = 25.0
    operator: str = "denoising"
    keep: float = 0.5
    seed: int = 0
    target: str = "noisy"
    op_params: dict = field(default_factory=dict)

    def problem(self) -> Problem:
        return make_problem(self.image, self.size, self.operator, self.sigma, self.keep, self.seed, self.target,
                            op_params=self.op_params)


@dataclass(frozen=True)
class RunSpec:
    """One training run through :func:`oes.fit.fit`.

    ``method`` names an entry of :data:`FIT_METHODS` — ``dense`` / ``sparse`` / ``decoder``
    here; baselines (e.g. ``sgld``) register theirs.  ``mask`` is required for ``sparse``.
    The network is initialised with ``seed`` (the same θ_in the mask was learned on when
    the mask's seed matches).  ``op_params``: operator settings (MRI: see :func:`make_problem`).
    """

    image: str
    size: int
    generator: GeneratorConfig
    fit: FitConfig
    method: str = "dense"
    mask: MaskSpec | None = None
    sigma: float = 25.0
    operator: str = "denoising"
    keep: float = 0.5
    seed: int = 0
    params: dict = field(default_factory=dict)
    op_params: dict = field(default_factory=dict)

    def problem(self) -> Problem:
        return make_problem(self.image, self.size, self.operator, self.sigma, self.keep, self.seed,
                            op_params=self.op_params)


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


# ------------------------------------------------------------------ mask builders
def _oes_builder(spec: MaskSpec, net, z, problem: Problem, progress) -> tuple[Mask, dict]:
    cfg = MaskConfig(**spec.params)
    res = learn_mask(net, z, problem.y, problem.operator, cfg=cfg, seed=spec.seed, x_true=problem.x,
                     to_image=problem.to_image, progress=progress, desc=f"OES {spec.image}")
    return res.mask, {"history": res.history, "logits": res.logits, "seconds": res.seconds}


#: method name → builder(spec, net_at_init, z, problem, progress) -> (Mask, extras)
MASK_BUILDERS: dict[str, Callable] = {"oes": _oes_builder}


def _mask_dir(spec: MaskSpec, root: Path) -> Path:
    return root / "masks" / f"{spec.method}_{spec_key(spec)}"


def get_mask(spec: MaskSpec, root: str | Path | None = None, progress: bool | None = None) -> Mask:
    """The mask described by ``spec``: loaded from the store, or built and stored."""
    root = runs_root(root)
    d = _mask_dir(spec, root)
    if (d / "result.json").exists():
        return Mask.load(d / "mask.pt")
    if spec.method not in MASK_BUILDERS:
        _register_optional()
    if spec.method not in MASK_BUILDERS:
        raise ValueError(f"unknown mask method {spec.method!r}; known: {', '.join(sorted(MASK_BUILDERS))}")
    problem = spec.problem()
    net = build_generator(spec.generator, spec.seed)
    z = make_input(spec.generator, spec.size, spec.seed)
    mask, extras = MASK_BUILDERS[spec.method](spec, net, z, problem, progress)
    from . import __version__
    mask.meta.update({"method": spec.method, "generator": spec.generator.to_dict(), "source_image": spec.image,
                      "size": spec.size, "sigma": spec.sigma, "operator": spec.operator, "seed": spec.seed,
                      "target": spec.target, "version": __version__, "key": spec_key(spec),
                      "collapsed": mask.collapsed()})
    tmp = d.with_name(d.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "spec.json").write_text(json.dumps(_to_jsonable(spec), indent=1))
    mask.save(tmp / "mask.pt")
    if isinstance(extras.get("history"), pd.DataFrame):
        extras["history"].to_csv(tmp / "history.csv", index=False)
    if extras.get("logits") is not None:
        torch.save(extras["logits"], tmp / "logits.pt")
    for name, df in extras.get("tables", {}).items():
        df.to_csv(tmp / f"{name}.csv", index=False)
    result = {"density": mask.density, "n_kept": mask.n_kept, "n_total": mask.n_total,
              "collapsed": mask.collapsed(), "seconds": extras.get("seconds")}
    (tmp / "result.json").write_text(json.dumps(result, indent=1))
    shutil.rmtree(d, ignore_errors=True)
    os.replace(tmp, d)
    return mask


def mask_record(spec: MaskSpec, root: str | Path | None = None) -> dict:
    """Stored extras of a mask: ``dir``, ``result``, ``history`` (DataFrame) and ``logits`` (if any)."""
    d = _mask_dir(spec, runs_root(root))
    get_mask(spec, root)
    out = {"dir": d, "result": json.loads((d / "result.json").read_text()), "mask": Mask.load(d / "mask.pt")}
    out["history"] = pd.read_csv(d / "history.csv") if (d / "history.csv").exists() else None
    out["logits"] = torch.load(d / "logits.pt", weights_only=True) if (d / "logits.pt").exists() else None
    return out


# ------------------------------------------------------------------ fit methods
def _plain_fit(spec: RunSpec, net, z, problem: Problem, mask, checkpoint, progress):
    return fit(net, z, problem.y, problem.operator, cfg=spec.fit, mask=mask, x_true=problem.x,
               to_image=problem.to_image, checkpoint=checkpoint, seed=spec.seed, progress=progress,
               desc=f"{spec.method} {spec.image}")


#: method name → fn(spec, net, z, problem, mask, checkpoint, progress) -> FitResult
FIT_METHODS: dict[str, Callable] = {"dense": _plain_fit, "sparse": _plain_fit, "decoder": _plain_fit}


def _register_optional() -> None:
    """Import modules that register extra methods (pruners, IMP, SGLD) if they exist."""
    for mod in ("oes.pruners", "oes.baselines"):
        try:
            __import__(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def _fit_dir(spec: RunSpec, root: Path) -> Path:
    return root / "fits" / f"{spec.method}_{spec_key(spec)}"


def run_one(spec: RunSpec, root: str | Path | None = None, progress: bool | None = None) -> RunRecord:
    """Run (or load) one spec; idempotent."""
    root = runs_root(root)
    d = _fit_dir(spec, root)
    if (d / "result.json").exists():
        return RunRecord(spec, d, json.loads((d / "result.json").read_text()))
    if spec.method not in FIT_METHODS:
        _register_optional()
    if spec.method not in FIT_METHODS:
        raise ValueError(f"unknown run method {spec.method!r}; known: {', '.join(sorted(FIT_METHODS))}")
    if spec.method == "sparse" and spec.mask is None:
        raise ValueError("a 'sparse' run needs a mask spec (RunSpec.mask)")
    mask = get_mask(spec.mask, root, progress) if spec.mask is not None else None
    problem = spec.problem()
    net = build_generator(spec.generator, spec.seed)
    z = make_input(spec.generator, spec.size, spec.seed)
    d.mkdir(parents=True, exist_ok=True)
    (d / "spec.json").write_text(json.dumps(_to_jsonable(spec), indent=1))
    res = FIT_METHODS[spec.method](spec, net, z, problem, mask, d / "checkpoint.pt", progress)
    res.history.to_csv(d / "history.csv", index=False)
    torch.save({"x_hat": res.x_hat.cpu(), "best_x_hat": None if res.best_x_hat is None else res.best_x_hat.cpu()},
               d / "output.pt")
    from . import __version__
    result = {**res.summary(), "density": mask.density if mask is not None else 1.0,
              "n_params": sum(p.numel() for p in net.parameters()),
              "n_nonzero": int(sum(int((p != 0).sum()) for p in net.parameters())),
              "version": __version__, "torch": torch.__version__, "key": spec_key(spec)}
    tmp = d / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, d / "result.json")
    (d / "checkpoint.pt").unlink(missing_ok=True)
    return RunRecord(spec, d, result)


# ------------------------------------------------------------------ executors
class Executor(Protocol):
    """Runs a function over items and returns the results in order (the plug for Dask etc.)."""

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str = "") -> list[Any]: ...


class LocalExecutor:
    """Sequential, in-process; one progress bar for the whole grid."""

    def __init__(self, progress: bool | None = None):
        self.progress = progress

    def map(self, fn, items, desc=""):
        out = []
        bar = tqdm(total=len(items), desc=desc or "runs", disable=not progress_enabled(self.progress),
                   dynamic_ncols=True)
        for it in items:
            out.append(fn(it))
            bar.update(1)
        bar.close()
        return out


def _run_grid(fn: Callable, specs: list, stored: Callable[[Any], bool], executor: Executor | None,
              progress: bool | None, desc: str, noun: str, verb: str) -> list:
    """Map ``fn`` over ``specs`` through the executor and print one summary line."""
    executor = executor or LocalExecutor(progress)
    done = sum(stored(s) for s in specs)
    t0 = time.perf_counter()
    out = executor.map(fn, specs, desc=desc)
    print(f"{desc}: {len(specs)} {noun} ({done} already stored, {len(specs) - done} {verb}) "
          f"in {time.perf_counter() - t0:.1f} s")
    return out


def execute(specs: Iterable[RunSpec], root: str | Path | None = None, executor: Executor | None = None,
            progress: bool | None = None, desc: str = "runs") -> list[RunRecord]:
    """Run every spec not already stored; return their records in order.

    Prints one line summarising how many runs were already stored.
    """
    root = runs_root(root)
    return _run_grid(lambda s: run_one(s, root, progress=False), list(specs),
                     lambda s: (_fit_dir(s, root) / "result.json").exists(), executor, progress, desc, "runs", "executed")


def execute_masks(specs: Iterable[MaskSpec], root: str | Path | None = None, executor: Executor | None = None,
                  progress: bool | None = None, desc: str = "masks") -> list[Mask]:
    """Build (or load) every mask spec through the executor; return the masks in order."""
    root = runs_root(root)
    return _run_grid(lambda s: get_mask(s, root, progress=False), list(specs),
                     lambda s: (_mask_dir(s, root) / "result.json").exists(), executor, progress, desc, "masks", "built")


def results_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in records])
