r"""The book's grids, declared once: one function per chapter, ``GRIDS[notebook name]``.

Each function takes the preset name and the keyword parameters of its notebook's
``parameters`` cell (same names, same defaults: ``None`` means "the preset's"), and returns a
:class:`~oes.experiments.grid.Grid` — the specs the chapter needs, each with labels.  The
notebook calls it, shows ``G.table()``, runs ``G.execute()`` and draws; ``oes book plan``
calls every function here to plan the whole book, so ``-p`` overrides reach the plan.

Chapters without an entry in ``GRIDS`` still build and execute their grids inside the notebook;
``oes book plan`` lists them as *not yet declared*.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

from .experiments.grid import Grid
from .presets import CHAPTERS, chapter_settings, get_preset

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


#: the Concrete sampler's stream of chapter 02's twin masks: seed + this (issue 10: is the kept set unique?)
TWIN_SAMPLER_OFFSET = 1000


def overfitting(preset: str, *, images: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                steps: int | None = None, sparsity: float | None = None,
                methods: Sequence[str] = ("dense", "sgld", "decoder", "sparse"), twins: int = 1) -> Grid:
    """Chapter 02 (Finding 2, §4.2, Figs 5/6/11, Tables 2/3): one run per (image, seed, method), no
    early stopping; Sparse-DIP's OES mask is learned on the same noisy image and θ_in (seed).

    For the first ``twins`` images, every seed also gets a *twin* OES mask — the same problem and θ_in,
    only the Concrete sampler's stream differs (``sampler_seed`` = seed + ``TWIN_SAMPLER_OFFSET``) — and
    a Sparse-DIP run from it: how much two learned masks agree, and how far their PSNRs part.

    Labels: ``image``, ``seed``, ``method`` (runs); the masks are items too (``method="oes"``); the twins
    are ``method="oes_twin"`` (mask) and ``"sparse_twin"`` (run).
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
            if mask is not None and im in images[:max(0, int(twins))]:
                twin = P.mask_spec(im, sd, sparsity=sparsity, sampler_seed=sd + TWIN_SAMPLER_OFFSET)
                items.append(({"image": im, "seed": sd, "method": "oes_twin"}, twin))
                items.append(({"image": im, "seed": sd, "method": "sparse_twin"},
                              P.run_spec(im, "sparse", sd, mask=twin, steps=steps)))
    return Grid("02_overfitting", P.name, items,
                params={"images": images, "seeds": seeds, "steps": steps, "sparsity": sparsity, "methods": methods,
                        "twins": int(twins)})


# ==================================================================== chapters 03–06 (Findings 3 and 4;
# Appendices B, E, F, J.3): pruners, transfer, inpainting, early-stop masks — helper "ch-a"
__all__ += ["pruners", "transfer", "inpainting", "early_stop_masks", "imp_settings", "task_name", "PAI_LABELS",
            "AUTHORS_LABELS", "INPAINTING_NETWORKS", "EARLY_STOP_MASKS"]

#: Table 4's names of the pruning-at-initialisation methods (the reference algorithms)
PAI_LABELS = {"grasp": "GraSP", "synflow": "SynFlow", "snip": "SNIP", "magnitude": "Magnitude", "random": "Random"}
#: the authors' variants of the same scores (:mod:`oes.pruners`): extra, clearly labelled baselines
AUTHORS_LABELS = {"grasp_authors": "GraSP (authors')", "synflow_authors": "SynFlow (authors')",
                  "snip_authors": "SNIP (authors')"}


def _chapter(name: str, P) -> dict:
    S = chapter_settings(name, P.name)
    if not S:
        raise ValueError(f"chapter {name} has no settings for preset {P.name!r} in oes/presets.py CHAPTERS; "
                         f"add an entry (presets with settings: {', '.join(CHAPTERS.get(name, {}))})")
    return S


def imp_settings(preset: str, steps: int | None = None, imp_train_steps: int | None = None) -> dict:
    """Chapter 03's IMP protocol at ``preset``, shared by chapters 04 and 06 so that their IMP masks are
    chapter 03's (same spec, same stored task).

    Returns ``schedules`` [(keep per round, rounds), ...] (the first is the gradual one), ``train_steps``
    (Adam steps per round: ``imp_train_steps``, else the chapter's setting, else the training horizon
    ``steps``, else the preset's ``fit.steps`` — the paper's "convergence", past dense DIP's PSNR peak,
    App. B) and ``density`` (chapter 03's fraction kept).
    """
    P = get_preset(preset)
    S3 = _chapter("03_pruners", P)
    schedules = [(float(k), int(r)) for k, r in S3["imp_schedules"]]
    train_steps = int(imp_train_steps or S3.get("imp_train_steps") or steps or P.fit.steps)
    return {"schedules": schedules, "train_steps": train_steps,
            "density": float(S3.get("density") or P.mask.sparsity)}


def _imp(P, image: str, seed: int, density: float, schedule: tuple[float, int], train_steps: int,
         target: str = "noisy"):
    """Chapter 03's IMP mask spec (:func:`oes.compare.imp_mask_spec`): one function, so chapters 03, 04 and 06
    declare the same spec for the same image, seed, density and schedule."""
    from .compare import imp_mask_spec

    return imp_mask_spec(P, image, seed, density, schedule[0], schedule[1], train_steps, target=target)


def pruners(preset: str, *, images: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
            density: float | None = None, steps: int | None = None, imp_train_steps: int | None = None) -> Grid:
    """Chapter 03 (Finding 3, §4.3, Fig 7, Table 4, App. B): every pruner's mask at one density, each
    trained by the same loop for ``steps`` iterations, no early stopping.

    Masks per (image, seed): OES (eq. 2 — chapter 02's mask when the density is the preset's), the
    pruning-at-initialisation methods of the chapter's ``pai`` (SynFlow with ``synflow_rounds``), the
    authors' variants (``authors``: extra baselines) and IMP with each of ``imp_schedules``
    (:func:`imp_settings`: per-round training = the horizon, past dense DIP's peak).

    Labels: ``image``, ``seed``, ``mask`` (the method's label: "OES", "SynFlow", "SynFlow (authors')",
    "IMP-(0.5)^5", …) — the same labels on a mask and on the run that trains it.
    """
    from .compare import imp_label

    P = get_preset(preset)
    S = _chapter("03_pruners", P)
    images = list(images or S["images"] or P.images)
    seeds = list(seeds or S["seeds"] or P.seeds)
    density = float(density or S["density"] or P.mask.sparsity)
    steps = int(steps or P.fit.steps)
    imp = imp_settings(preset, steps, imp_train_steps)
    imp_labels = [imp_label(k, r) for k, r in imp["schedules"]]
    pai = {m: PAI_LABELS[m] for m in S["pai"]}
    authors = {m: AUTHORS_LABELS[m] for m in S.get("authors", [])}
    items = []
    for im in images:
        for sd in seeds:
            masks = {"OES": P.mask_spec(im, sd, sparsity=density)}
            for m, lab in {**pai, **authors}.items():
                extra = {"rounds": int(S["synflow_rounds"])} if m == "synflow" else {}
                masks[lab] = P.mask_spec(im, sd, method=m, sparsity=density, **extra)
            for sched, lab in zip(imp["schedules"], imp_labels):
                masks[lab] = _imp(P, im, sd, density, sched, imp["train_steps"])
            for lab, mspec in masks.items():
                items.append(({"image": im, "seed": sd, "mask": lab}, mspec))
                items.append(({"image": im, "seed": sd, "mask": lab},
                              P.run_spec(im, "sparse", sd, mask=mspec, steps=steps)))
    return Grid("03_pruners", P.name, items,
                params={"images": images, "seeds": seeds, "density": density, "steps": steps,
                        "imp_train_steps": imp["train_steps"], "imp_schedules": imp["schedules"],
                        "imp_labels": imp_labels, "pai_labels": list(pai.values()),
                        "authors_labels": list(authors.values()), "synflow_rounds": int(S["synflow_rounds"]),
                        "order": ["OES", *pai.values(), *authors.values(), *imp_labels]})


def transfer(preset: str, *, groups: dict | None = None, sources: Sequence[str] | None = None,
             targets: Sequence[str] | None = None, seeds: Sequence[int] | None = None, density: float | None = None,
             imp_source: str | None = None, imp_targets: Sequence[str] | None = None, oracle: bool | None = None,
             steps: int | None = None, imp_train_steps: int | None = None) -> Grid:
    """Chapter 04 (Finding 4, §4.4, Fig 8, Figs 13/20, App. E Tables 5/6): masks learned on one image,
    trained on another — same θ_in (seed), same loop, ``steps`` iterations, no early stopping.

    Every target is trained with its own OES mask (self) and the masks of ``sources`` (inter- or
    cross-dataset by ``groups``); Tables 5/6 train each of ``imp_targets`` with the OES and the IMP
    mask of ``imp_source`` — the IMP mask is chapter 03's gradual schedule (:func:`imp_settings`), the
    same spec, so one stored task; ``oracle`` adds both masks learned on the clean source (Table 6).

    Labels: ``mask`` (``OES`` | ``IMP``), ``learned_on`` (``noisy`` | ``clean``), ``source``, ``seed``
    and, on runs, ``target`` and ``transfer`` (``self`` | ``inter`` | ``cross``).
    """
    from .compare import group_of, imp_label, transfer_kind

    P = get_preset(preset)
    S = _chapter("04_transfer", P)
    groups = {str(k): list(v) for k, v in dict(groups or S["groups"]).items()}
    sources = list(sources or S["sources"])
    targets = list(targets or S["targets"])
    seeds = list(seeds or S["seeds"] or P.seeds)
    density = float(density or S["density"] or P.mask.sparsity)
    imp_source = imp_source or S["imp_source"]
    imp_targets = list(imp_targets or S["imp_targets"])
    oracle = bool(S["oracle"] if oracle is None else oracle)
    steps = int(steps or P.fit.steps)
    if len(groups) != 2:
        raise ValueError(f"groups: give two stand-in datasets {{name: [images]}}, got {len(groups)}: {list(groups)}")
    for im in {*sources, *targets, imp_source, *imp_targets}:
        group_of(im, groups)             # every image in exactly one stand-in dataset (a clear error otherwise)
    imp = imp_settings(preset, steps, imp_train_steps)
    schedule = imp["schedules"][0]

    def mask(kind: str, src: str, sd: int, learned_on: str = "noisy"):
        if kind == "OES":
            return P.mask_spec(src, sd, sparsity=density, target=learned_on)
        return _imp(P, src, sd, density, schedule, imp["train_steps"], target=learned_on)

    masks: dict[tuple, object] = {}           # (mask, learned_on, source, seed) → MaskSpec, each once
    runs: dict[tuple, object] = {}            # (mask, learned_on, source, target, seed) → RunSpec, each once
    for sd in seeds:
        pairs = [("OES", "noisy", s, t) for t in targets for s in dict.fromkeys([t, *sources])]
        for t in imp_targets:
            pairs += [("OES", "noisy", imp_source, t), ("IMP", "noisy", imp_source, t)]
            if oracle:
                pairs += [("OES", "clean", imp_source, t), ("IMP", "clean", imp_source, t)]
        for kind, on, s, t in pairs:
            m = masks.setdefault((kind, on, s, sd), mask(kind, s, sd, on))
            runs.setdefault((kind, on, s, t, sd), P.run_spec(t, "sparse", sd, mask=m, steps=steps))
    items = [({"mask": k, "learned_on": on, "source": s, "seed": sd}, m) for (k, on, s, sd), m in masks.items()]
    items += [({"mask": k, "learned_on": on, "source": s, "target": t, "seed": sd,
                "transfer": transfer_kind(s, t, groups)}, r) for (k, on, s, t, sd), r in runs.items()]
    return Grid("04_transfer", P.name, items,
                params={"groups": groups, "sources": sources, "targets": targets, "seeds": seeds, "density": density,
                        "imp_source": imp_source, "imp_targets": imp_targets, "oracle": oracle, "steps": steps,
                        "imp_train_steps": imp["train_steps"], "imp_schedule": schedule,
                        "imp_label": imp_label(*schedule)})


#: Appendix F's networks, by label
INPAINTING_NETWORKS = {"dense": "Dense DIP", "decoder": "Deep Decoder", "sparse_den": "Sparse-DIP (den)",
                       "sparse_in": "Sparse-DIP (in)"}


def task_name(operator: str, sigma: float | None = None) -> str:
    """Appendix F's task label: ``"inpainting (50 % missing)"`` or ``"denoising σ = 25"``."""
    return "inpainting (50 % missing)" if operator == "inpainting" else f"denoising σ = {float(sigma):g}"


def inpainting(preset: str, *, images: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
               sigmas: Sequence[float] | None = None, steps: int | None = None) -> Grid:
    """Chapter 05 (Appendix F, Tables 7/8): OES masks learned from inpainting (50 % of the pixels missing,
    no noise: *in*) and from denoising (*den*), each used on both tasks next to dense DIP and the Deep
    Decoder, ``steps`` iterations without early stopping.

    The *den* mask of a task is learned at that task's σ (at the preset's σ for inpainting): at the
    preset's σ it is chapter 02's mask, and the denoising dense / decoder / Sparse-DIP-den runs are
    chapter 02's runs.

    Labels: masks ``image``, ``seed``, ``mask`` (``den`` | ``in``), ``mask_sigma`` (σ of a den mask);
    runs ``image``, ``seed``, ``task`` (:func:`task_name`), ``network`` (:data:`INPAINTING_NETWORKS`).
    """
    P = get_preset(preset)
    S = _chapter("05_inpainting", P)
    images = list(images or S["images"] or P.images)
    seeds = list(seeds or S["seeds"] or P.seeds)
    sigmas = [float(s) for s in (sigmas or S["sigmas"] or [P.sigma])]
    steps = int(steps or P.fit.steps)
    tasks = [("inpainting", None)] + [("denoising", s) for s in sigmas]
    items = []
    for im in images:
        for sd in seeds:
            den = {s: P.mask_spec(im, sd, sigma=s) for s in dict.fromkeys([float(P.sigma), *sigmas])}
            inp = P.mask_spec(im, sd, operator="inpainting", sigma=0.0)
            items += [({"image": im, "seed": sd, "mask": "den", "mask_sigma": s}, m) for s, m in den.items()]
            items.append(({"image": im, "seed": sd, "mask": "in", "mask_sigma": None}, inp))
            for op, sigma in tasks:
                kw = {"operator": "inpainting", "sigma": 0.0} if op == "inpainting" else {"sigma": sigma}
                m_den = den[float(P.sigma) if op == "inpainting" else sigma]
                lab = {"image": im, "seed": sd, "task": task_name(op, sigma)}
                items += [({**lab, "network": "dense"}, P.run_spec(im, "dense", sd, steps=steps, **kw)),
                          ({**lab, "network": "decoder"}, P.run_spec(im, "decoder", sd, steps=steps, **kw)),
                          ({**lab, "network": "sparse_den"},
                           P.run_spec(im, "sparse", sd, mask=m_den, steps=steps, **kw)),
                          ({**lab, "network": "sparse_in"},
                           P.run_spec(im, "sparse", sd, mask=inp, steps=steps, **kw))]
    return Grid("05_inpainting", P.name, items,
                params={"images": images, "seeds": seeds, "sigmas": sigmas, "steps": steps,
                        "tasks": [task_name(op, s) for op, s in tasks]})


#: chapter 06's three masks, by label
EARLY_STOP_MASKS = {"oes": "OES at initialisation", "imp_conv": "IMP at convergence",
                    "imp_es": "IMP at early stop (oracle)"}


def early_stop_masks(preset: str, *, source: str | None = None, target: str | None = None,
                     seeds: Sequence[int] | None = None, imp_stop=None, steps: int | None = None,
                     imp_train_steps: int | None = None) -> Grid:
    """Chapter 06 (App. J.3, Fig 14; ES-WMV): three masks learned on ``source`` — OES, IMP at convergence
    (chapter 03's gradual IMP: every round trains the horizon, past dense DIP's peak) and IMP at early
    stop (the same schedule, every round stopped at ``imp_stop``; ``"dense_best"``: dense DIP's oracle
    best-PSNR step, read from the dense run declared as the mask's ``source_run`` — one grid, no second
    phase) — each trained on ``source`` (Fig 14a) and ``target`` (Fig 14b); plus dense DIP with ES-WMV
    and Sparse-DIP on the chapter's ``eswmv_images``.

    Labels: ``role`` (``dense`` | ``es_wmv`` | ``mask`` | ``sparse``), ``seed``, ``image`` (runs),
    ``mask`` (masks and sparse runs: :data:`EARLY_STOP_MASKS`, or ``own`` for Sparse-DIP with the OES mask
    of an ES-WMV image other than the source).
    """
    from .compare import imp_label

    P = get_preset(preset)
    S = _chapter("06_early_stop_masks", P)
    source = source or S["source"] or P.images[0]
    target = target or S["target"] or P.images[-1]
    if source == target:
        raise ValueError(f"source and target are both {source!r}: Fig 14b transfers the masks to another image")
    seeds = list(seeds or S["seeds"] or P.seeds)
    imp_stop = S["imp_stop"] if imp_stop is None else imp_stop
    if not (imp_stop in ("dense_best", "best") or (isinstance(imp_stop, int) and not isinstance(imp_stop, bool)
                                                    and imp_stop >= 1)):
        raise ValueError(f"imp_stop={imp_stop!r}: use 'dense_best' (dense DIP's oracle peak), 'best' (each round's "
                         f"own peak) or a step count ≥ 1")
    steps = int(steps or P.fit.steps)
    sparsity = float(S["sparsity"] or P.mask.sparsity)
    imp = imp_settings(preset, steps, imp_train_steps)
    schedule = imp["schedules"][0]
    window, patience = int(S["eswmv_window"]), int(S["eswmv_patience"])
    eswmv_images = list(S["eswmv_images"] or [source])
    items = []
    for sd in seeds:
        dense = {im: P.run_spec(im, "dense", sd, steps=steps) for im in dict.fromkeys([source, target, *eswmv_images])}
        items += [({"role": "dense", "image": im, "seed": sd}, r) for im, r in dense.items()]
        items += [({"role": "es_wmv", "image": im, "seed": sd},
                   P.run_spec(im, "es_wmv", sd, steps=steps, params={"window": window, "patience": patience}))
                  for im in eswmv_images]
        conv = _imp(P, source, sd, sparsity, schedule, imp["train_steps"])
        es_params = {**conv.params, "stop_step": imp_stop}
        masks = {"oes": P.mask_spec(source, sd, sparsity=sparsity), "imp_conv": conv,
                 "imp_es": replace(conv, params=es_params,
                                   source_run=dense[source] if imp_stop == "dense_best" else None)}
        items += [({"role": "mask", "mask": k, "image": source, "seed": sd}, m) for k, m in masks.items()]
        items += [({"role": "sparse", "mask": k, "image": im, "seed": sd},
                   P.run_spec(im, "sparse", sd, mask=m, steps=steps))
                  for k, m in masks.items() for im in (source, target)]
        for im in eswmv_images:
            if im != source:             # Sparse-DIP with the OES mask of the ES-WMV image itself
                own = P.mask_spec(im, sd, sparsity=sparsity)
                items += [({"role": "mask", "mask": "own", "image": im, "seed": sd}, own),
                          ({"role": "sparse", "mask": "own", "image": im, "seed": sd},
                           P.run_spec(im, "sparse", sd, mask=own, steps=steps))]
    return Grid("06_early_stop_masks", P.name, items,
                params={"source": source, "target": target, "seeds": seeds, "imp_stop": imp_stop, "steps": steps,
                        "imp_train_steps": imp["train_steps"], "imp_schedule": schedule,
                        "imp_label": imp_label(*schedule), "sparsity": sparsity, "eswmv_window": window,
                        "eswmv_patience": patience, "eswmv_images": eswmv_images})
# ==================================================================== end of chapters 03–06


#: notebook name → grid function(preset, **the notebook's parameters)
GRIDS: dict[str, Callable[..., Grid]] = {
    "01_masking_prior": masking_prior,
    "02_overfitting": overfitting,
    # chapters 03–06
    "03_pruners": pruners,
    "04_transfer": transfer,
    "05_inpainting": inpainting,
    "06_early_stop_masks": early_stop_masks,
}


# ======================================================================================================
# Chapters 07–11: §5 (Fig 9), Finding 5 (§6, Fig 10, App. D.2), App. K, Apps. G / H.1 / I / J, App. H (MRI)
# ======================================================================================================
def _settings_b(notebook: str, P) -> dict:
    from .presets import chapter_settings

    return chapter_settings(notebook, P.name)


#: chapter 07's three networks, in the order of Fig 9
NOISE_METHODS = ("dense", "decoder", "sparse")


def noise_impedance(preset: str, *, seeds: Sequence[int] | None = None, noise_steps: int | None = None,
                    chessboard_steps: int | None = None) -> Grid:
    """Chapter 07 (§5, Fig 9): dense DIP, the Deep Decoder and Sparse-DIP fitted, with no early stopping,
    (a) to pure Gaussian noise — the image ``gaussian_noise`` with σ = 0, so y *is* the noise — and
    (b) to the noisy chessboard.

    Sparse-DIP's mask for (a) is the OES mask learned on the preset's first (natural) noisy image from
    the same θ_in (seed): chapter 02's mask, as §5's Sparse-DIP is "obtained by masking 97 % weights of a
    dense DIP"; for (b) the OES mask learned on the noisy chessboard itself.  ``noise_steps`` defaults to
    the chapter's ``noise_factor`` × the preset's fit steps (dense DIP needs longer to fit noise).

    Labels: ``task`` (``noise`` | ``chessboard``), ``seed``, ``method`` (runs: dense | decoder | sparse;
    masks: ``oes``).
    """
    P = get_preset(preset)
    S = _settings_b("07_noise_impedance", P)
    seeds = [int(s) for s in (seeds or S.get("seeds") or P.seeds)]
    noise_steps = int(noise_steps or S.get("noise_steps") or round(P.fit.steps * float(S.get("noise_factor") or 1)))
    chessboard_steps = int(chessboard_steps or S.get("chessboard_steps") or P.fit.steps)
    source = P.images[0]
    tasks = (("noise", "gaussian_noise", source, 0.0, noise_steps),
             ("chessboard", "chessboard", "chessboard", None, chessboard_steps))
    items = []
    for task, image, mask_image, sigma, steps in tasks:
        for sd in seeds:
            mask = P.mask_spec(mask_image, sd)
            items.append(({"task": task, "seed": sd, "method": "oes"}, mask))
            for m in NOISE_METHODS:
                items.append(({"task": task, "seed": sd, "method": m},
                              P.run_spec(image, m, sd, mask=mask if m == "sparse" else None, sigma=sigma, steps=steps)))
    return Grid("07_noise_impedance", P.name, items,
                params={"seeds": seeds, "noise_steps": noise_steps, "chessboard_steps": chessboard_steps,
                        "source": source, "methods": list(NOISE_METHODS)})


def _decoder_settings(P, images=None, seeds=None, pruned=None) -> dict:
    """Appendix K's Deep Decoder masks, as chapter 09 declares them (chapter 08 draws the same masks)."""
    S = _settings_b("09_deep_decoder_pruning", P)
    pruned = [float(q) for q in (pruned or S.get("pruned") or [0.27, 0.55, 0.74])]
    return {"images": list(images or S.get("images") or P.images[:1]),
            "seeds": [int(s) for s in (seeds or S.get("seeds") or P.seeds)],
            "pruned": pruned,
            "match": [float(q) for q in S.get("match", pruned[:1]) if float(q) in pruned],
            "prior": S.get("prior")}


def _imp_settings(P, S: dict) -> dict:
    """Chapter 08's IMP mask: page 03's density and first (gradual) schedule unless the chapter sets its own;
    every round trains the preset's fit steps (past dense DIP's peak) unless ``imp_train_steps`` is set."""
    S3 = _settings_b("03_pruners", P)
    density = float(S.get("density") or S3.get("density") or P.mask.sparsity)
    keep, rounds = S.get("imp_schedule") or (S3.get("imp_schedules") or [[0.8, 14]])[0]
    return {"density": density, "keep_per_round": float(keep), "rounds": int(rounds),
            "train_steps": int(S.get("imp_train_steps") or P.fit.steps)}


def architecture(preset: str, *, image: str | None = None, seeds: Sequence[int] | None = None,
                 sparsities: Sequence[float] | None = None) -> Grid:
    """Chapter 08 (Finding 5, §6, Fig 10, App. D.2; App. K Fig 33): the masks whose layer-wise kept
    fraction the chapter reads — OES on the hourglass at each sparsity, IMP (with rewinding) at the
    density where §6 compares them, for every seed; and Appendix K's OES masks on the Deep Decoder
    (chapter 09's masks).  Nothing is trained here beyond what the masks need.

    Labels: ``network`` (``hourglass`` | ``deep_decoder``), ``method`` (``oes`` | ``imp``), ``seed``,
    ``sparsity`` (fraction kept, hourglass) or ``pruned`` (fraction pruned, Deep Decoder).
    """
    from .analysis import decoder_mask_specs
    from .compare import imp_mask_spec

    P = get_preset(preset)
    S = _settings_b("08_architecture", P)
    image = image or P.images[0]
    dec = _decoder_settings(P, seeds=seeds)          # page 09's masks; an explicit ``seeds`` reaches them too
    seeds = [int(s) for s in (seeds or S.get("seeds") or P.seeds)]
    imp = _imp_settings(P, S)
    density = imp["density"]
    sparsities = sorted({float(s) for s in (sparsities or S.get("sparsities") or [density])} | {density})
    items = []
    for sd in seeds:
        for s in sparsities:
            items.append(({"network": "hourglass", "method": "oes", "seed": sd, "sparsity": s},
                          P.mask_spec(image, sd, sparsity=s)))
        items.append(({"network": "hourglass", "method": "imp", "seed": sd, "sparsity": density},
                      imp_mask_spec(P, image, sd, density, imp["keep_per_round"], imp["rounds"], imp["train_steps"])))
    for sd in dec["seeds"]:
        for q, ms in zip(dec["pruned"], decoder_mask_specs(P, dec["images"][0], sd, dec["pruned"], prior=dec["prior"])):
            items.append(({"network": "deep_decoder", "method": "oes", "seed": sd, "pruned": q}, ms))
    return Grid("08_architecture", P.name, items,
                params={"image": image, "seeds": seeds, "sparsities": sparsities, "density": density, "imp": imp,
                        "decoder": {"image": dec["images"][0], "seeds": dec["seeds"], "pruned": dec["pruned"],
                                    "prior": dec["prior"]}})


def deep_decoder_pruning(preset: str, *, images: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                         pruned: Sequence[float] | None = None, steps: int | None = None) -> Grid:
    """Chapter 09 (App. K, Table 9, Figs 32/33): per image and seed, the dense Deep Decoder; one OES mask on
    the decoder per fraction *pruned* (p0 = the chapter's ``prior``, App. K: 0.5) and the sparse decoder
    trained from it; Sparse-DIP (the preset's OES mask, chapter 02's run); and, at the ``match`` levels,
    Sparse-DIP with exactly as many kept weights as that sparse decoder.  No early stopping.

    Labels: ``image``, ``seed``, ``network`` (``decoder`` | ``sparse_decoder`` | ``sparse_dip`` |
    ``sparse_dip_matched``), ``level`` (fraction of the decoder pruned; 0 for the dense decoder, None
    for Sparse-DIP); masks and runs share labels (``kind`` tells them apart in the table).
    """
    from .analysis import decoder_mask_specs, kept_from_pruned
    from .generators import build_generator, count_parameters
    from .learn import n_keep

    P = get_preset(preset)
    d = _decoder_settings(P, images, seeds, pruned)
    steps = int(steps or P.fit.steps)
    n_dec = count_parameters(build_generator(P.decoder, 0))
    n_hg = count_parameters(build_generator(P.generator, 0))
    items = []
    for im in d["images"]:
        for sd in d["seeds"]:
            lab = {"image": im, "seed": sd}
            items.append(({**lab, "network": "decoder", "level": 0.0}, P.run_spec(im, "decoder", sd, steps=steps)))
            for q, ms in zip(d["pruned"], decoder_mask_specs(P, im, sd, d["pruned"], prior=d["prior"])):
                items.append(({**lab, "network": "sparse_decoder", "level": q}, ms))
                items.append(({**lab, "network": "sparse_decoder", "level": q},
                              P.run_spec(im, "decoder", sd, mask=ms, steps=steps)))
            hg = P.mask_spec(im, sd)
            items.append(({**lab, "network": "sparse_dip", "level": None}, hg))
            items.append(({**lab, "network": "sparse_dip", "level": None}, P.run_spec(im, "sparse", sd, mask=hg, steps=steps)))
            for q in d["match"]:
                ms = P.mask_spec(im, sd, sparsity=n_keep(kept_from_pruned(q), n_dec) / n_hg)
                items.append(({**lab, "network": "sparse_dip_matched", "level": q}, ms))
                items.append(({**lab, "network": "sparse_dip_matched", "level": q},
                              P.run_spec(im, "sparse", sd, mask=ms, steps=steps)))
    return Grid("09_deep_decoder_pruning", P.name, items,
                params={"images": d["images"], "seeds": d["seeds"], "pruned": d["pruned"], "steps": steps,
                        "match": d["match"], "prior": d["prior"], "n_decoder": n_dec, "n_hourglass": n_hg})


def sensitivity(preset: str, *, images: Sequence[str] | None = None, mask_steps: int | None = None,
                train_steps: int | None = None, seeds: Sequence[int] | None = None) -> Grid:
    r"""Chapter 10 (Apps. G, H.1, I, J; Figs 15, 18, 25–31): OES masks keeping s/d (App. G: 5 %) under
    λ sweeps (decades around the preset's λ: the paper's sweep around its 1e-9 shifted onto it), the
    ℓ1 and centred-mean regularisers, priors p0, and θ_in drawn from other distributions and scales;
    Sparse-DIP runs from the masks whose denoising the chapter compares.

    The mask-only sweeps (λ, ℓ1 vs KL, centred mean, p0) use the first seed; every comparison of
    *trained* masks (λ: ``train_lam``; p0 when ``train_p0``; the initialisations) runs every seed.

    Labels: ``study`` (``lambda`` | ``l1`` | ``centered`` | ``p0`` | ``init``), ``image``, ``seed``, and
    ``decades`` (λ = preset λ · 10^decades; λ / ℓ1 / centred studies), ``p0`` (p0 study) or ``init`` and
    ``scale`` (init study).  One mask may carry several labels (the preset-λ KL mask is also p0 = s/d
    and Kaiming ×1); it is one task.
    """
    from dataclasses import replace

    from .sensitivity import lambda_grid

    P = get_preset(preset)
    S = _settings_b("10_sensitivity", P)
    images = list(images or S.get("images") or P.images[:S.get("n_images") or len(P.images)])
    seeds = [int(x) for x in (seeds or S.get("seeds") or P.seeds)]
    sd0, im0 = seeds[0], images[0]
    mask_steps = int(mask_steps or S.get("mask_steps") or P.mask.steps)
    train_steps = int(train_steps or S.get("train_steps") or P.fit.steps)
    s = float(S.get("sparsity", 0.05))
    lam_wide, lam_fine = list(S.get("lam_wide", [6, 3, 0, -4])), list(S.get("lam_fine", [1, 0, -1]))
    train_lam = [k for k in S.get("train_lam", [0]) if k in lam_wide or k in lam_fine]
    reg_images = images[:S.get("reg_images", 2)]
    p0s = [float(p) for p in S.get("p0s", [0.03, 0.05, 0.5, 0.8])]
    scales = [float(c) for c in S.get("init_scales", [0.1, 1, 5])]

    def oes(image, seed, decades=0, reg="kl", prior=None, init="kaiming_uniform", scale=1.0):
        gen = P.generator if (init, scale) == (P.generator.init, P.generator.init_scale) else \
            replace(P.generator, init=init, init_scale=float(scale))
        return P.mask_spec(image, seed, generator=gen, sparsity=s, steps=mask_steps, reg=reg,
                           prior=None if prior is None or prior == s else prior, lam=lambda_grid(P.lam_sweep, [decades])[0],
                           lam_ratio=None, lam_search=0)   # the paper's sweeps use fixed λ values (App. G, I)

    def train(m):
        return replace(P.run_spec(m.image, "sparse", m.seed, mask=m, steps=train_steps), generator=m.generator)

    masks: dict[tuple, tuple[dict, object]] = {}          # labels (as a sorted tuple) → (labels, spec)

    def add(labels, spec):
        masks.setdefault(tuple(sorted(labels.items(), key=lambda kv: kv[0])), (labels, spec))

    for im, k in [(im0, k) for k in lam_wide] + [(im, k) for im in images for k in lam_fine]:
        add({"study": "lambda", "image": im, "seed": sd0, "decades": k}, oes(im, sd0, k))
    for sd in seeds:
        for k in train_lam:
            add({"study": "lambda", "image": im0, "seed": sd, "decades": k}, oes(im0, sd, k))
    for im in reg_images:
        for k in lam_fine:
            add({"study": "l1", "image": im, "seed": sd0, "decades": k}, oes(im, sd0, k, reg="l1"))
    for im in images[:S.get("centered_images", 1)]:
        add({"study": "centered", "image": im, "seed": sd0, "decades": 0}, oes(im, sd0, 0, reg="centered"))
    for sd in (seeds if S.get("train_p0") else [sd0]):
        for p0 in p0s:
            add({"study": "p0", "image": im0, "seed": sd, "p0": p0}, oes(im0, sd, 0, prior=p0))
    init0 = (P.generator.init, float(P.generator.init_scale))
    inits = [(im, init, 1.0) for im in images[:S.get("init_dist_images", 1)] for init in ("kaiming_uniform", "xavier_normal")]
    inits += [(im0, "kaiming_uniform", c) for c in scales]
    for sd in seeds:
        for im, init, c in inits:
            add({"study": "init", "image": im, "seed": sd, "init": init, "scale": c}, oes(im, sd, 0, init=init, scale=c))
    items = []
    for labels, spec in masks.values():
        items.append((labels, spec))
        trained = (labels["study"] == "init"
                   or (labels["study"] == "lambda" and labels["image"] == im0 and labels["decades"] in train_lam)
                   or (labels["study"] == "p0" and bool(S.get("train_p0"))))
        if trained:
            items.append((labels, train(spec)))
    return Grid("10_sensitivity", P.name, items,
                params={"images": images, "seeds": seeds, "mask_steps": mask_steps, "train_steps": train_steps,
                        "sparsity": s, "lam": P.lam_sweep, "lam_wide": lam_wide, "lam_fine": lam_fine,
                        "train_lam": train_lam, "reg_images": reg_images,
                        "centered_images": images[:S.get("centered_images", 1)], "p0s": p0s,
                        "train_p0": bool(S.get("train_p0")), "init_dist_images": images[:S.get("init_dist_images", 1)],
                        "init_scales": scales, "default_init": init0})


def mri(preset: str, *, sparsities: Sequence[float] | None = None, cross: Sequence[str] | None = None,
        steps: int | None = None, seeds: Sequence[int] | None = None) -> Grid:
    r"""Chapter 11 (App. H, Figs 22–24): per network seed, one OES mask per sparsity learned on
    (A_1(M_4×), y_1) — the source subject at the first acceleration, eq. (4) — and, in every setting
    (subject × acceleration), dense DIP (P1) and Sparse-DIP at every sparsity from the same θ_in and z.
    Each subject has one fixed acquisition (line masks, phase and noise from ``acquisition_seed``)
    shared by all seeds, so seeds vary the network only.  Horizon: ``steps``, else the chapter's
    ``steps`` or the preset's fit steps, at least ``min_steps`` (dense DIP must pass its peak).

    Labels: ``subject``, ``acceleration``, ``seed``, ``method`` (``dense`` | ``sparse``; masks ``oes``),
    ``kept`` (fraction kept; 1.0 for dense DIP).
    """
    import dataclasses

    P = get_preset(preset)
    S = _settings_b("11_mri", P)
    sparsities = sorted((float(x) for x in (sparsities or S.get("sparsities") or [P.mask.sparsity])), reverse=True)
    cross = list(cross or S.get("cross") or [])
    seeds = [int(x) for x in (seeds or S.get("seeds") or P.seeds)]
    steps = int(steps or S.get("steps") or max(P.fit.steps, int(S.get("min_steps") or 0)))
    size = int(S.get("size") or P.size)
    source = S.get("source", "shepp_logan")
    accelerations = [float(a) for a in S.get("accelerations", [4, 8])]
    sigma = float(S.get("sigma", 10))
    gen = dataclasses.replace(P.generator, out_channels=2)           # real and imaginary channels
    mask_over = {"steps": int(S["mask_steps"])} if S.get("mask_steps") else {}

    def acquisition(acc):
        return {"acceleration": acc, "n_coils": int(S.get("n_coils", 4)), "kind": S.get("kind", "random"),
                "seed": int(S.get("acquisition_seed", 0))}

    items = []
    for sd in seeds:
        masks = {}
        for k in sparsities:
            spec = P.mask_spec(source, sd, sigma=sigma, operator="mri", generator=gen, sparsity=k, **mask_over)
            masks[k] = dataclasses.replace(spec, size=size, op_params=acquisition(accelerations[0]))
            items.append(({"subject": source, "acceleration": accelerations[0], "seed": sd, "method": "oes",
                           "kept": k}, masks[k]))
        for subj in [source] + cross:
            for acc in accelerations:
                for k in [None] + sparsities:
                    run = P.run_spec(subj, "dense" if k is None else "sparse", sd, mask=masks.get(k), sigma=sigma,
                                     operator="mri", steps=steps)
                    run = dataclasses.replace(run, generator=gen, size=size, op_params=acquisition(acc))
                    items.append(({"subject": subj, "acceleration": acc, "seed": sd,
                                   "method": "dense" if k is None else "sparse", "kept": 1.0 if k is None else k}, run))
    return Grid("11_mri", P.name, items,
                params={"sparsities": sparsities, "cross": cross, "steps": steps, "seeds": seeds, "size": size,
                        "source": source, "accelerations": accelerations, "sigma": sigma,
                        "n_coils": int(S.get("n_coils", 4)), "kind": S.get("kind", "random"),
                        "acquisition_seed": int(S.get("acquisition_seed", 0)),
                        "mask_steps": mask_over.get("steps", P.mask.steps), "generator": gen})


__all__ += ["noise_impedance", "architecture", "deep_decoder_pruning", "sensitivity", "mri", "NOISE_METHODS"]
GRIDS.update({
    "07_noise_impedance": noise_impedance,
    "08_architecture": architecture,
    "09_deep_decoder_pruning": deep_decoder_pruning,
    "10_sensitivity": sensitivity,
    "11_mri": mri,
})
