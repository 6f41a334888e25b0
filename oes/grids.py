r"""The book's grids, declared once: one function per chapter, ``GRIDS[notebook name]``.

Each function takes the preset name and the keyword parameters of its notebook's
``parameters`` cell (same names, same defaults: ``None`` means "the preset's"), and returns a
:class:`~oes.experiments.grid.Grid` — the specs the chapter needs, each with labels.  The
notebook calls it, shows ``G.table()``, runs ``G.execute()`` and draws; ``oes book plan``
calls every function here to plan the whole book, so ``-p`` overrides reach the plan.

Chapters whose function is not here yet still build and execute their grids inside the notebook;
``oes book plan`` lists them as *not yet declared*.
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
                           prior=None if prior is None or prior == s else prior, lam=lambda_grid(P.mask.lam, [decades])[0])

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
                        "sparsity": s, "lam": P.mask.lam, "lam_wide": lam_wide, "lam_fine": lam_fine,
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
