r"""Experiments as data: what is run (:mod:`.specs`), where results are kept (:mod:`.store`),
which methods exist (:mod:`.methods`), how and where runs execute (:mod:`.executors`), a
chapter's grid (:mod:`.grid`) and the whole book's plan (:mod:`.plan`).

The names notebooks use are re-exported here: ``execute``, ``execute_masks``, ``mask_record``,
``results_frame``, ``get_mask``, ``run_one``, the specs and :class:`Grid`.
"""
from .methods import FIT_METHODS, MASK_BUILDERS, MASK_METHODS, FIT_METHOD_TABLE  # noqa: F401
from .specs import (MRI_PARAMS, MaskSpec, Problem, RunSpec, canonical_json, fixed_threads, make_problem,  # noqa: F401
                    spec_key, spec_versions, threads_setting)
from .store import SCHEMA, RunRecord, RunStore, runs_root  # noqa: F401
from .executors import (EXECUTORS, DaskExecutor, Executor, LocalExecutor, ProcessExecutor, batch_key,  # noqa: F401
                        build_tasks, execute, execute_masks, execute_specs, get_mask, make_executor, mask_record,
                        results_frame, run_batch, run_one)
from .grid import Grid, GridResult  # noqa: F401

__all__ = ["Problem", "MaskSpec", "RunSpec", "RunRecord", "RunStore", "Executor", "LocalExecutor", "ProcessExecutor",
           "DaskExecutor", "EXECUTORS", "make_executor", "execute", "execute_masks", "execute_specs", "mask_record",
           "results_frame", "get_mask", "run_one", "make_problem", "runs_root", "spec_key", "spec_versions",
           "canonical_json", "fixed_threads", "threads_setting", "batch_key", "build_tasks", "run_batch",
           "MASK_BUILDERS", "FIT_METHODS", "MASK_METHODS", "FIT_METHOD_TABLE", "MRI_PARAMS", "SCHEMA", "Grid",
           "GridResult"]
