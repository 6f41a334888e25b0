r"""What is run: problems (a corrupted measurement) and the specs of masks and runs, with their keys.

A :class:`RunSpec` says what to train (image, corruption, generator, mask, fit config, seed);
a :class:`MaskSpec` says how its mask is made (OES, a pruner, IMP) and from which source
measurement — so transfer experiments only change the mask's source.  Specs are frozen
dataclasses of plain values: they pickle, travel to worker processes and hash to a key.

**Keys.**  :func:`spec_key` is the md5 of the spec's canonical JSON (fields at their default
value left out, so a new field with a default keeps old keys) *plus* the algorithm version of
every method the spec involves (its own method, its mask's, the mask's source run's,
recursively; :data:`oes.experiments.methods`) *plus* the intra-op thread count when it is not
1.  A method whose numbers change gets its version bumped, and every stored result that used
it gets a new key: old results are never silently reused.  Threads are part of the key
because PyTorch's CPU convolutions and reductions round differently with different thread
counts (two runs of one spec at 1 and at 2 threads part after ~50 steps and end with
different OES masks); every task runs inside :func:`fixed_threads`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from ..data import load_image
from ..fit import FitConfig
from ..generators import GeneratorConfig
from ..operators import Operator, build_operator
from . import methods as _methods

__all__ = ["Problem", "MaskSpec", "RunSpec", "make_problem", "MRI_PARAMS", "spec_key", "canonical_json", "rounding_env",
           "spec_versions", "spec_dependencies", "threads_setting", "fixed_threads", "spec_to_jsonable",
           "device_setting"]


# ------------------------------------------------------------------ threads
def threads_setting(threads: int | None = None) -> int:
    """The intra-op thread count runs use: ``threads``, else ``$OES_THREADS``, else 1."""
    if threads is None:
        raw = os.environ.get("OES_THREADS", "1")
        try:
            threads = int(raw)
        except ValueError:
            raise ValueError(f"OES_THREADS={raw!r} is not an integer; set it to the threads per run, e.g. 1") from None
    if int(threads) < 1:
        raise ValueError(f"the thread count per run must be ≥ 1, got {threads}")
    return int(threads)


def device_setting(device: str | None = None) -> str:
    """The device runs train on: ``device``, else ``$OES_DEVICE``, else ``cpu`` (``cpu`` | ``cuda``).

    Part of the key when not ``cpu`` (a GPU rounds differently); measurements and θ_in are
    still drawn on the CPU, so a run on either device sees the same y and the same θ_in.
    """
    d = str(device or os.environ.get("OES_DEVICE") or "cpu").split(":")[0]
    if d not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {d!r} (OES_DEVICE): use cpu or cuda")
    return d


def cpu_capability() -> str | None:
    """The vector instruction set torch's CPU kernels dispatch to (``avx512``, ``avx2``, ...; set by the
    CPU, or lowered with ``ATEN_CPU_CAPABILITY``). On the CPU the same spec and thread count round
    differently, and so learn different OES masks, under different instruction sets
    (``docs/calibration.md`` §12): part of a CPU run's key when not ``avx2``."""
    try:
        return torch.backends.cpu.get_cpu_capability()
    except Exception:      # an old torch without the query
        return None


#: Environment variables that change which CPU kernels torch's libraries run, and so the float rounding,
#: without changing ATen's instruction set (:func:`cpu_capability`): oneDNN's instruction-set cap and
#: floating-point mode (the convolutions), MKL's code path (matrix products). Read once per process, at
#: the library's first call: set them before the run starts.
ROUNDING_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE", "MKL_CBWR",
                "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE")


def rounding_env(environ: dict | None = None) -> dict[str, str]:
    """The :data:`ROUNDING_ENV` variables that are set (``{}`` on a plain machine). With
    ``ONEDNN_MAX_CPU_ISA=AVX2`` an AVX-512 CPU trains the same spec to other numbers while
    :func:`cpu_capability` still says ``avx512`` (``docs/calibration.md`` §14): part of a CPU run's key."""
    env = os.environ if environ is None else environ
    return {k: str(env[k]) for k in ROUNDING_ENV if env.get(k)}


@contextlib.contextmanager
def fixed_threads(threads: int | None = None) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(n)`` (n from :func:`threads_setting`), then restore.

    Every task of every executor runs inside it, so a result does not depend on how many
    threads the calling process happened to use.
    """
    n = threads_setting(threads)
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(old)


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


def canonical_json(spec: Any) -> str:
    """The spec's canonical JSON: sorted keys, default-valued fields dropped, 3.0 written 3."""
    return json.dumps(_canonical(spec), sort_keys=True, separators=(",", ":"))


def spec_dependencies(spec: Any) -> list:
    """The specs ``spec`` needs stored first: a run's mask, a mask's source run."""
    if isinstance(spec, RunSpec):
        return [spec.mask] if spec.mask is not None else []
    if isinstance(spec, MaskSpec):
        return [spec.source_run] if spec.source_run is not None else []
    raise TypeError(f"expected a RunSpec or MaskSpec, got {type(spec).__name__}")


def spec_versions(spec: Any) -> dict[str, int]:
    """``{"fit:sparse": 1, "mask:oes": 1, ...}``: the algorithm version of every method ``spec`` involves."""
    out: dict[str, int] = {}
    stack = [spec]
    while stack:
        s = stack.pop()
        kind = "fit" if isinstance(s, RunSpec) else "mask"
        out[f"{kind}:{s.method}"] = _methods.version(kind, s.method)
        stack.extend(spec_dependencies(s))
    return dict(sorted(out.items()))


def spec_key(spec: Any, threads: int | None = None, device: str | None = None, isa: str | None = None,
             env: dict | None = None) -> str:
    """The store key: md5 of the canonical JSON, the methods' versions, the thread count (when ≠ 1),
    the device (when not ``cpu``) and, on the CPU, the instruction set (``isa``, default
    :func:`cpu_capability`; when not ``avx2``) and the kernel-selecting environment variables (``env``,
    default :func:`rounding_env`; when any is set), so a store shared by different CPUs or set-ups never
    mixes runs whose numbers differ."""
    payload = canonical_json(spec) + "|" + json.dumps(spec_versions(spec), sort_keys=True, separators=(",", ":"))
    n = threads_setting(threads)
    if n != 1:
        payload += f"|threads={n}"
    d = device_setting(device)
    if d != "cpu":
        payload += f"|device={d}"
    else:
        cap = isa or cpu_capability()
        if cap not in (None, "avx2"):
            payload += f"|isa={cap}"
        env = rounding_env() if env is None else env
        if env:
            payload += "|env=" + ",".join(f"{k}={v}" for k, v in sorted(env.items()))
    return hashlib.md5(payload.encode()).hexdigest()[:12]


def spec_to_jsonable(obj: Any) -> Any:
    """Every field (defaults included), for ``spec.json``."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: spec_to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [spec_to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {k: spec_to_jsonable(v) for k, v in obj.items()}
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
    from ..mri import SUBJECTS, magnitude, make_acquisition, synthetic_subjects

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

    ``method`` names a mask method of :data:`oes.experiments.methods.MASK_METHODS` (``oes``, the
    pruners, ``imp``).  ``params`` holds the method's settings (for ``oes``: a
    :class:`MaskConfig` as a dict).  ``target="clean"`` marks an oracle mask.  ``op_params``
    holds operator settings beyond ``sigma``/``keep`` (MRI: see :func:`make_problem`).

    ``source_run`` is a run the mask is computed *from* — a dependency the executors run
    first: IMP at dense DIP's early stop (App. J.3) gives ``params["stop_step"] = "dense_best"``
    and the dense run here, and the IMP builder reads that run's oracle stop from the store
    (:func:`oes.early_stop.imp_stop_param`).  ``None`` (the default) keeps keys unchanged.
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
    source_run: "RunSpec | None" = None

    def problem(self) -> Problem:
        return make_problem(self.image, self.size, self.operator, self.sigma, self.keep, self.seed, self.target,
                            op_params=self.op_params)


@dataclass(frozen=True)
class RunSpec:
    """One training run through :func:`oes.fit.fit`.

    ``method`` names a fit method of :data:`oes.experiments.methods.FIT_METHODS` — ``dense`` /
    ``sparse`` / ``decoder`` and the baselines ``sgld``, ``es_wmv``.  ``mask`` is required for ``sparse``.
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


