"""Presets: every size and step count the book and CLI use, in one place.

* ``smoke`` — exercises every code path in seconds (CI). Numbers mean nothing.
* ``quick`` — a 2-core laptop CPU: 64², converged OES masks, 3,000 training steps; the
  whole book takes ≈ 4.8 h from an empty run store on two cores (the λ search and the waste
  criterion make an OES mask 2–4 tries; ``docs/calibration.md`` §14–16). Its deviations
  from the paper are listed in ``deviations`` and printed on every book page; the evidence is in
  ``docs/calibration.md``.
* ``medium`` — the paper's parameter-to-pixel ratios at 256²: 10.3 M steps, ≈ 340 core-hours on a
  CPU (``benchmarks/bench_book_cost.py``), a GPU or cluster job; never run (no GPU was lent).
* ``paper`` — the paper's values (512², the 3,008,867-parameter hourglass, 60 k mask
  steps at logit lr 1e-2, λ = 1e-9, T = 0.2, 40 k training steps): a GPU job.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .fit import FitConfig
from .generators import GeneratorConfig
from .learn import MaskConfig

__all__ = ["Preset", "PRESETS", "get_preset", "CHAPTERS", "chapter_settings"]


@dataclass(frozen=True)
class Preset:
    name: str
    size: int                              # square image side
    generator: GeneratorConfig             # Dense DIP (hourglass)
    decoder: GeneratorConfig               # Deep Decoder baseline
    mask: MaskConfig                       # OES mask learning (Algorithm 1)
    fit: FitConfig                         # training of dense / sparse networks
    images: tuple[str, ...]                # default images of the book's grids
    seeds: tuple[int, ...]
    sigma: float = 25.0                    # noise level in /255 units (the paper's "σ = 25")
    finding1_sparsities: tuple[float, ...] = (0.03, 0.5, 0.8)   # Fig 4/16: fractions kept
    sgld: dict = field(default_factory=lambda: {"lr": 1e-2, "langevin_std": 1e-2, "reg_noise_std": 1 / 30,
                                                 "burn_in": 0.5})
    deviations: tuple[str, ...] = ()       # what differs from the paper, said on the book's pages
    lam_center: float | None = None        # centre of chapter 10's fixed-λ sweeps; None: mask.lam

    @property
    def lam_sweep(self) -> float:
        """The fixed λ that chapter 10's sweeps (App. G, I) are centred on, as the paper's are on 1e-9."""
        return self.lam_center or self.mask.lam

    @property
    def lam_text(self) -> str:
        """How this preset sets λ, for the book's pages."""
        m = self.mask
        if m.lam_ratio is not None and m.lam_search:
            return (f"λ per image by the λ rule (prior/data gradient ratio {m.lam_ratio:g} first, then searched "
                    f"until the mask converges: ≤ {m.lam_search} more tries)")
        if m.lam_ratio is not None:
            return f"λ per image by the λ rule (prior/data gradient ratio {m.lam_ratio:g})"
        return f"λ = {m.lam:g}"

    # ---------------------------------------------------------------- spec builders
    def mask_spec(self, image: str, seed: int = 0, method: str = "oes", sigma: float | None = None,
                  operator: str = "denoising", target: str = "noisy", generator: GeneratorConfig | None = None,
                  **params):
        """A :class:`~oes.experiments.MaskSpec` at this preset; ``params`` override the preset's MaskConfig
        (for ``oes``) or are the pruner's parameters (other methods; ``sparsity`` defaults to the preset's)."""
        from .experiments import MaskSpec

        if method == "oes":
            params = replace(self.mask, **params).to_dict()
        else:
            params = {"sparsity": self.mask.sparsity, **params}
        return MaskSpec(method=method, image=image, size=self.size, generator=generator or self.generator,
                        params=params, sigma=self.sigma if sigma is None else sigma, operator=operator,
                        seed=seed, target=target)

    def run_spec(self, image: str, method: str = "dense", seed: int = 0, mask=None, sigma: float | None = None,
                 operator: str = "denoising", steps: int | None = None, params: dict | None = None, **fit):
        """A :class:`~oes.experiments.RunSpec` at this preset: ``dense`` / ``sparse`` (give ``mask``) /
        ``decoder`` / ``sgld`` (the preset's SGLD settings); ``fit`` overrides FitConfig fields."""
        from .experiments import RunSpec

        fcfg = replace(self.fit, **fit, **({"steps": steps} if steps else {}))
        gen = self.decoder if method == "decoder" else self.generator
        params = dict(params or {})
        if method == "sgld":
            s = dict(self.sgld)
            fcfg = replace(fcfg, lr=s.pop("lr"), reg_noise_std=s.pop("reg_noise_std"))
            params = {**s, **params}
        return RunSpec(image=image, size=self.size, generator=gen, fit=fcfg, method=method, mask=mask,
                       sigma=self.sigma if sigma is None else sigma, operator=operator, seed=seed, params=params)

    def to_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "generator": self.generator.to_dict(),
                "decoder": self.decoder.to_dict(), "mask": self.mask.to_dict(), "fit": self.fit.to_dict(),
                "images": list(self.images), "seeds": list(self.seeds), "sigma": self.sigma,
                "deviations": list(self.deviations)}


PAPER = Preset(
    name="paper", size=512,
    generator=GeneratorConfig("hourglass", (16, 32, 64, 128, 128, 128), 5, 3, 32),
    decoder=GeneratorConfig("deep_decoder", (128,) * 6),
    mask=MaskConfig(sparsity=0.03, steps=60_000, lr=1e-2, temperature=0.2, lam=1e-9, maskable="all",
                    record_every=500),
    fit=FitConfig(steps=40_000, lr=1e-2, record_every=100, checkpoint_every=5000),
    images=("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera"),
    seeds=(0, 1, 2),
)

QUICK = Preset(
    name="quick", size=64,
    # 272,115 parameters; 3 % kept = 8,163 < 12,288 pixel values: under-parameterised like the
    # paper's Sparse-DIP (90 k < 786 k). Evidence: docs/calibration.md.
    generator=GeneratorConfig("hourglass", (8, 16, 32, 64), 5, 3, 32),
    decoder=GeneratorConfig("deep_decoder", (40,) * 5),       # 8,520 parameters ≈ Sparse-DIP's 8,163
    # OES by the criteria of docs/calibration.md: λ by the λ rule (prior/data gradient ratio 4.3e-4,
    # 2.5× the paper's 1.7e-4: at the paper's ratio p does not reach the band within 8,000 steps) and
    # learning stops once ≈ k weights have p > 1/2 with a kept set ≥ 95 % stable at two checks. The
    # ratio that converges differs between images by > 2× (§8), so it is searched per image by the same
    # criteria (lam_search: up to 3 more tries, §9). A converged mask also wastes at most 5 % of its kept
    # conv weights on dead paths (max_waste, §13): learning goes on until γ and weights agree.
    mask=MaskConfig(sparsity=0.03, steps=8000, lr=0.3, temperature=0.2, lam_ratio=4.3e-4, maskable="all",
                    record_every=50, check_every=250, stop_stable=0.95, stop_patience=2, lam_search=3,
                    max_waste=0.05),
    fit=FitConfig(steps=3000, lr=1e-2, record_every=20, checkpoint_every=1000),
    images=("astronaut", "chelsea"),
    seeds=(0, 1, 2),
    lam_center=1e-8,                       # the λ the rule gives on the calibration image (rocket)
    deviations=("64×64 images (paper: 512×512)",
                "4-level hourglass [8, 16, 32, 64], 272,115 parameters (paper: 6 levels [16 … 128], 3,008,867); "
                "Sparse-DIP keeps 3 % = 8,163 weights (paper: 3 % = 90,217)",
                "Deep Decoder: 5 layers × 40 channels, 8,520 parameters (paper: 6 × 128, 100,224)",
                "OES: logit learning rate 0.3, at most 8,000 steps, stopped when converged (≈ k weights with p > 1/2, "
                "kept set ≥ 95 % stable, ≤ 5 % of the kept conv weights on dead paths), λ per image by the λ rule, starting at 2.5× the paper's prior-to-data ratio "
                "and searched per image (≤ 4 tries) until the mask converges "
                "(paper: 60,000 steps at 0.01, λ = 1e-9 for every image)",
                "3,000 training steps, no early stopping (paper: 40,000); dense DIP peaks near step 350"),
)

SMOKE = Preset(
    name="smoke", size=32,
    generator=GeneratorConfig("hourglass", (4, 8), 3, 3, 8),
    decoder=GeneratorConfig("deep_decoder", (8, 8, 8)),
    mask=MaskConfig(sparsity=0.2, steps=6, lr=0.1, lam=1e-9, record_every=2),
    fit=FitConfig(steps=8, lr=1e-2, record_every=2),
    images=("astronaut",),
    seeds=(0,),
    finding1_sparsities=(0.2, 0.5, 0.8),
    deviations=("smoke test: tiny network, a handful of steps — numbers are meaningless",),
)

MEDIUM = Preset(
    name="medium", size=256,
    # The paper's regime at a quarter of its pixels: the 6-level hourglass at half width has
    # 756,851 parameters = 3.85 × the 196,608 pixel values (paper: 3,008,867 = 3.83 × 786,432), and
    # Sparse-DIP's 3 % = 22,706 = 0.115 × the pixel values (paper: 90,266 = 0.115 ×); the Deep
    # Decoder 6 × 64 = 25,536 parameters = 1.12 × Sparse-DIP's (paper: 100,224 = 1.11 ×).
    generator=GeneratorConfig("hourglass", (8, 16, 32, 64, 64, 64), 5, 3, 32),
    decoder=GeneratorConfig("deep_decoder", (64,) * 6),
    # the paper's prior-to-data ratio (λ = 1e-9 at 512² on the paper's net ↔ 1.7e-4, docs/calibration.md)
    # as the first try and the paper's logit horizon lr × steps = 600 (0.01 × 60,000); stopped when
    # converged. On a calibration image (rocket, 2 sampler seeds) that first try does not converge in
    # 20,000 steps: #{p > 1/2}/k passes the band at ≈ 13,000 steps with 20 % waste and ends at 0.40–0.44
    # (docs/calibration.md §17), so λ is searched per image by the same criteria, as at quick.
    mask=MaskConfig(sparsity=0.03, steps=20_000, lr=0.03, temperature=0.2, lam_ratio=1.7e-4, maskable="all",
                    record_every=200, check_every=1000, stop_stable=0.95, stop_patience=2, lam_search=3,
                    max_waste=0.05),
    fit=FitConfig(steps=10_000, lr=1e-2, record_every=50, checkpoint_every=2000),
    images=("astronaut", "chelsea"),
    seeds=(0, 1, 2),
    deviations=("256×256 images (paper: 512×512)",
                "6-level hourglass at half width [8, 16, 32, 64, 64, 64], 756,851 parameters: the paper's "
                "parameter-to-pixel ratios (dense 3.85, Sparse-DIP 0.115) at a quarter of the pixels",
                "Deep Decoder: 6 layers × 64 channels, 25,536 parameters (paper: 6 × 128, 100,224)",
                "OES: at most 20,000 steps at logit lr 0.03 (the paper's lr × steps = 600), stopped when converged "
                "(as quick: separated, stable, ≤ 5 % dead-path waste); "
                "λ per image, first at the paper's prior-to-data gradient ratio, then searched by the same "
                "criteria (≤ 4 tries, as quick; paper: λ = 1e-9 for every image)",
                "10,000 training steps (paper: 40,000)"),
    lam_center=3.4e-9,                     # the paper's 1e-9 carried by the λ rule (rocket, 256²)
)

PRESETS = {p.name: p for p in (SMOKE, QUICK, MEDIUM, PAPER)}

# Per-chapter settings, keyed by notebook then preset name: the grids each book chapter runs
# (which images, sparsities, sweeps...). Notebooks read them with ``chapter_settings``.
CHAPTERS: dict[str, dict[str, dict]] = {
    "03_pruners": {   # Finding 3 (§4.3, Fig 7, Table 4, App. B): pruners at one density, all trained by the same loop
        "smoke": {"images": None,            # None: the preset's images
                  "seeds": None,             # None: the preset's seeds (smoke: one — comparing claims do not hold)
                  "density": None,           # fraction kept; None: the preset's OES sparsity (masks shared with 02)
                  "pai": ["grasp", "synflow", "snip", "magnitude", "random"],   # pruning-at-init (reference algorithms)
                  "authors": ["grasp_authors", "synflow_authors", "snip_authors"],   # the authors' variants (extra)
                  "synflow_rounds": 5,       # SynFlow's iterative pruning rounds (Tanaka et al.: 100)
                  "imp_train_steps": None,   # Adam steps per IMP round; None: the training horizon (preset's fit steps)
                  "imp_schedules": [[0.5, 3], [0.2, 3]]},   # IMP (keep per round, rounds): gradual, aggressive
        "quick": {"images": ["astronaut"],   # one image × three seeds = 3 pairs for every paired comparison
                  "seeds": [0, 1, 2],        # ≥ 3 seeds (the preset's); OES masks and Sparse-DIP runs shared with 02
                  "density": None,           # the preset's 3 % (paper's Table 4: 5 %)
                  "pai": ["grasp", "synflow", "snip", "magnitude", "random"],   # Table 4 (+ SNIP, footnote 3)
                  "authors": ["grasp_authors", "synflow_authors", "snip_authors"],   # extra, clearly labelled
                  "synflow_rounds": 100,     # Tanaka et al.'s 100 rounds (≈ 0.5 s each at 64²: ≈ 1 min per mask)
                  "imp_train_steps": None,   # the preset's fit steps: every round trains past dense DIP's peak
                  "imp_schedules": [[0.5, 5], [0.2, 3]]},   # gradual (0.5)^5 lands on 3 % in 5 rounds (paper:
                                                            # 0.8^14 on 5 %); aggressive 0.2^3 as in the paper
        "medium": {"images": None,           # None: the preset's images
                   "seeds": None,            # None: the preset's seeds
                   "density": 0.05,          # Table 4: all masks 5 % sparse
                   "pai": ["grasp", "synflow", "snip", "magnitude", "random"],
                   "authors": ["grasp_authors", "synflow_authors", "snip_authors"],
                   "synflow_rounds": 100,    # Tanaka et al. (2020)
                   "imp_train_steps": None,  # None: the preset's fit steps (past dense DIP's peak)
                   "imp_schedules": [[0.8, 14], [0.2, 3]]},   # the paper's two schedules (the lead may shorten)
        "paper": {"images": None,            # the preset's six images
                  "seeds": None,             # the preset's three seeds
                  "density": 0.05,           # Table 4: all masks 5 % sparse
                  "pai": ["grasp", "synflow", "snip", "magnitude", "random"],   # Table 4 (SNIP: footnote 3)
                  "authors": ["grasp_authors", "synflow_authors", "snip_authors"],   # extra, clearly labelled
                  "synflow_rounds": 100,     # Tanaka et al. (2020)
                  "imp_train_steps": None,   # the preset's 40 000: App. B's magnitudes at convergence
                  "imp_schedules": [[0.8, 14], [0.2, 3]]},  # IMP-(0.8)^14 and IMP-(0.2)^3
    },
    "04_transfer": {  # Finding 4 (§4.4, Fig 8, Figs 13/20, App. E Tables 5/6): masks from one image used on another
        "smoke": {"groups": {"people": ["astronaut", "camera"],             # stand-in for the Face dataset
                             "other scenes": ["chelsea", "coffee"]},        # stand-in for the standard dataset
                  "sources": ["camera", "coffee"],   # extra mask sources (each target also uses its own mask)
                  "targets": ["astronaut", "chelsea"],  # each gets self, inter- and cross-dataset masks
                  "seeds": None,             # None: the preset's seeds
                  "density": None,           # None: the preset's OES sparsity (same as chapter 03)
                  "imp_source": "astronaut",   # Table 5: OES vs IMP masks of this image (IMP = chapter 03's gradual)
                  "imp_targets": ["astronaut", "chelsea"],   # Table 5's targets
                  "oracle": True},           # Table 6: masks learned on the clean image (oracle)
        "quick": {"groups": {"people": ["astronaut", "camera"],
                             "other scenes": ["chelsea", "coffee"]},
                  "sources": ["camera", "coffee"],   # 2 new OES masks per seed; targets' own masks shared with 02
                  "targets": ["astronaut", "chelsea"],  # 2 targets × 3 seeds = 6 pairs per transfer kind
                  "seeds": [0, 1, 2],        # ≥ 3 seeds (the preset's): shared with chapters 02 and 03
                  "density": None,           # the preset's 3 % (paper: 5 %)
                  "imp_source": "astronaut",   # its IMP mask is chapter 03's gradual one (the same stored task)
                  "imp_targets": ["astronaut", "chelsea"],   # self + one transfer, 3 seeds each
                  "oracle": False},          # Table 6 left out at quick (2 masks incl. a 5-round IMP + 4 runs per seed)
        "medium": {"groups": {"people": ["astronaut", "camera"],
                              "other scenes": ["chelsea", "coffee", "rocket", "immunohistochemistry"]},
                   "sources": ["astronaut", "camera", "chelsea", "coffee"],   # two per group
                   "targets": ["astronaut", "camera", "chelsea", "coffee", "rocket", "immunohistochemistry"],
                   "seeds": None,            # None: the preset's seeds
                   "density": 0.05,          # §4.4: all masks 5 % sparse
                   "imp_source": "astronaut",
                   "imp_targets": ["astronaut", "camera", "chelsea", "coffee", "rocket", "immunohistochemistry"],
                   "oracle": True},
        "paper": {"groups": {"people": ["astronaut", "camera"],
                             "other scenes": ["chelsea", "coffee", "rocket", "immunohistochemistry"]},
                  "sources": ["astronaut", "camera", "chelsea", "coffee"],   # two per group
                  "targets": ["astronaut", "camera", "chelsea", "coffee", "rocket", "immunohistochemistry"],
                  "seeds": None,             # the preset's three seeds
                  "density": 0.05,           # §4.4: all masks 5 % sparse
                  "imp_source": "astronaut",   # stands in for Lena (Table 5)
                  "imp_targets": ["astronaut", "camera", "chelsea", "coffee", "rocket", "immunohistochemistry"],
                  "oracle": True},           # Table 6
    },
    "11_mri": {       # Appendix H (Figs 22–24): OES mask from (A_1(M_4×), y_1), Sparse-DIP on 4 settings
        "smoke": {"source": "shepp_logan",   # subject 1 (oes.mri.SUBJECTS): the OES mask is learned on it at 4×
                  "cross": ["retina"],       # other subjects for cross transfer (paper: 3 other scans)
                  "accelerations": [4, 8],   # 4× = the mask's own undersampling, 8× = higher undersampling
                  "n_coils": 2,              # simulated birdcage coil maps
                  "sigma": 10,               # complex k-space noise per coefficient, /255 (= noise of a fully sampled image)
                  "kind": "random",          # Cartesian line mask: fastMRI-style random lines + centre
                  "sparsities": [0.5, 0.1, 0.03],   # fractions KEPT (50 %, 90 %, 97 % pruned)
                  "seeds": None,             # network seeds (θ_in, z; one OES mask each); None: the preset's
                  "acquisition_seed": 0,     # k-space line masks, phase and noise: one fixed acquisition per subject
                  "steps": None,             # training iterations, no early stopping; None: the preset's ...
                  "min_steps": None,         # ... but at least this many (None: no minimum)
                  "mask_steps": None,        # OES iterations; None: the preset's
                  "size": None},             # image side; None: the preset's
        "quick": {"source": "shepp_logan",
                  "cross": ["shepp_logan_deformed"],   # one other subject (near transfer: same anatomy, deformed)
                  "accelerations": [4, 8],
                  "n_coils": 4,              # fewer coils than 8×: a real null space, as in the paper
                  "sigma": 10,               # fully sampled image ≈ 31 dB PSNR, like a clinical scan
                  "kind": "random",
                  "sparsities": [0.1, 0.03],   # the two levels the claims need (90 %, 97 % pruned); paper also 50/80 %
                  "seeds": [0, 1, 2],        # 3 network inits: every comparison is paired over them
                  "acquisition_seed": 0,     # the same acquisition of each subject for every seed
                  "steps": None,             # the preset's training steps ...
                  "min_steps": 3000,         # ... at least 3 000: dense DIP at 4× peaks near step 1 450 and has
                                             # lost ≈ 2.6 dB by 2 900 (a 1 000-step horizon stopped before its peak)
                  "mask_steps": None,        # the preset's OES steps
                  "size": None},             # the preset's 64×64
        "medium": {"source": "shepp_logan",
                   "cross": ["retina", "shepp_logan_deformed", "retina_disc"],   # as at paper
                   "accelerations": [4, 8],
                   "n_coils": 15,
                   "sigma": 10,
                   "kind": "random",
                   "sparsities": [0.5, 0.2, 0.1, 0.03],
                   "seeds": None,            # the preset's seeds
                   "acquisition_seed": 0,
                   "steps": None,            # the preset's
                   "min_steps": None,
                   "mask_steps": None,       # the preset's
                   "size": None},            # the preset's
        "paper": {"source": "shepp_logan",
                  "cross": ["retina", "shepp_logan_deformed", "retina_disc"],   # stand-ins for scans 2–4 (Fig 23)
                  "accelerations": [4, 8],   # M_4× and M_8×
                  "n_coils": 15,             # fastMRI knee coil count (maps simulated, not BART/ESPIRiT)
                  "sigma": 10,
                  "kind": "random",
                  "sparsities": [0.5, 0.2, 0.1, 0.03],   # Fig 24: 50 %, 80 %, 90 %, 97 % pruned
                  "seeds": None,             # the preset's three seeds (the paper shows one run per curve)
                  "acquisition_seed": 0,
                  "steps": None,             # the preset's 40 000 iterations, no early stopping
                  "min_steps": None,
                  "mask_steps": None,        # the preset's 60 000 OES iterations
                  "size": 320},              # fastMRI's 320×320 reconstruction crop (divisible by 2^6)
    },
    "05_inpainting": {  # Appendix F (Tables 7, 8): masks from inpainting (50 % missing) and denoising, both tasks
        "smoke": {"images": ["astronaut"],   # images of the grid (paper: the 14 Set-14 images)
                  "seeds": None,             # None: the preset's seeds (θ_in, z, noise and the inpainting pixel mask)
                  "sigmas": [25]},           # Table 8's denoising noise levels (/255)
        "quick": {"images": ["astronaut"],   # one image × three seeds = 3 pairs per comparison
                  "seeds": [0, 1, 2],        # ≥ 3 seeds: the σ = 25 denoising runs and den masks are chapter 02's
                  "sigmas": [25]},           # σ = 12 left out (1 mask + 4 runs per seed more)
        "medium": {"images": None,           # None: the preset's images
                   "seeds": None,            # None: the preset's seeds
                   "sigmas": [25, 12]},      # Table 8: σ = 25 and σ = 12
        "paper": {"images": None,            # None: the preset's six images (stand-ins for Set-14)
                  "seeds": None,             # None: the preset's three seeds
                  "sigmas": [25, 12]},       # Table 8: σ = 25 and σ = 12
    },
    "06_early_stop_masks": {  # App. J.3 (Fig 14): IMP at early stop vs at convergence vs OES; plus ES-WMV
        # IMP's schedule and per-round steps are chapter 03's gradual ones (oes.grids.imp_settings), so
        # "IMP at convergence" is chapter 03's mask; "IMP at early stop" stops every round at imp_stop.
        "smoke": {"source": "astronaut",     # image the masks are learned on (paper: Pepper; Lena for 14b)
                  "target": "chelsea",       # transfer target (paper: Flowers)
                  "seeds": None,             # None: the preset's seeds
                  "sparsity": None,          # fraction kept by all three masks; None: the preset's
                  "imp_stop": "dense_best",  # IMP at early stop: dense DIP's best-PSNR step (oracle), via source_run
                  "eswmv_window": 2,         # ES-WMV window W
                  "eswmv_patience": 2,       # ES-WMV patience P
                  "eswmv_images": None},     # images ES-WMV stops dense DIP on; None: the source
        "quick": {"source": "astronaut",     # its OES mask, dense and Sparse-DIP runs are chapter 02's
                  "target": "chelsea",       # OES and IMP transfer runs shared with chapter 04 (Table 5)
                  "seeds": [0, 1, 2],        # ≥ 3 seeds: 3 pairs per comparison
                  "sparsity": None,          # the preset's 3 % (paper's Fig 14: 5 %), shared with chapters 02–04
                  "imp_stop": "dense_best",  # every round stops at dense DIP's oracle step (the paper's known ES)
                  "eswmv_window": 100,       # Wang et al.'s W = 100
                  "eswmv_patience": 500,     # shorter than Wang et al.'s 1 000: room for a detection within the horizon
                  "eswmv_images": None},     # the source image only
        "medium": {"source": "astronaut",
                   "target": "chelsea",
                   "seeds": None,            # None: the preset's seeds
                   "sparsity": 0.05,         # Fig 14: all masks 5 % sparse
                   "imp_stop": "dense_best",
                   "eswmv_window": 100,      # Wang et al. (2021): W = 100
                   "eswmv_patience": 1000,   # Wang et al. (2021): P = 1 000
                   "eswmv_images": ["astronaut", "chelsea"]},
        "paper": {"source": "astronaut",     # stand-in for Pepper / Lena
                  "target": "chelsea",       # stand-in for Flowers
                  "seeds": None,             # the preset's three seeds (Fig 14 shows one run per mask)
                  "sparsity": 0.05,          # Fig 14: all masks 5 % sparse
                  "imp_stop": "dense_best",  # the early-stopping point, assumed known (App. J.3)
                  "eswmv_window": 100,       # Wang et al. (2021): W = 100
                  "eswmv_patience": 1000,    # Wang et al. (2021): P = 1 000
                  "eswmv_images": ["astronaut", "chelsea"]},   # both images
    },
    "07_noise_impedance": {   # §5, Fig 9: dense DIP, Deep Decoder, Sparse-DIP fitted to pure noise and a noisy chessboard
        "smoke": {"seeds": None,             # None: the preset's seeds
                  "noise_steps": None,       # iterations on pure noise; None: noise_factor × the preset's fit steps
                  "noise_factor": 1,
                  "chessboard_steps": None},  # iterations on the noisy chessboard; None: the preset's fit steps
        "quick": {"seeds": [0, 1, 2],        # 3 seeds: the comparisons are paired over them; Sparse-DIP's
                                             # noise-fitting masks are chapter 02's (same image, same seeds)
                  "noise_steps": None,
                  "noise_factor": 1.0,       # × the fit steps (3 000 already pass dense DIP's fit of the noise; 1.5 at the old 2 000)
                  "chessboard_steps": None},  # the preset's fit steps (3 OES masks on the chessboard)
        "medium": {"seeds": None,
                   "noise_steps": None,
                   "noise_factor": 1,
                   "chessboard_steps": None},
        "paper": {"seeds": None,             # the preset's three seeds (Fig 9 shows one run per network)
                  "noise_steps": None,       # §4.2's training length, 40 000
                  "noise_factor": 1,
                  "chessboard_steps": None},
    },
    "08_architecture": {      # Finding 5 (§6, Fig 10, App. D.2, Fig 33): layer-wise kept fraction of OES / IMP masks
        "smoke": {"sparsities": [0.2, 0.5],  # OES fractions kept (+ the IMP density)
                  "seeds": None,             # None: the preset's seeds
                  "density": None,           # where OES and IMP are compared; None: page 03's, else the preset's
                  "imp_schedule": None,      # [keep per round, rounds]; None: page 03's first (gradual) schedule
                  "imp_train_steps": None},  # Adam steps per IMP round; None: the preset's fit steps
        "quick": {"sparsities": [0.03, 0.1],   # 3 % and 50 % (seed 0) are chapter 01's masks, 3 % chapter 02's
                  "seeds": [0, 1, 2],        # 3 seeds: encoder/decoder fractions as mean ± spread
                  "density": None,           # the preset's 3 %
                  "imp_schedule": None,      # page 03's gradual IMP (its stored masks when the settings agree)
                  "imp_train_steps": None},  # the preset's fit steps: each round trains past dense DIP's peak
        "medium": {"sparsities": [0.03, 0.05, 0.1, 0.5],
                   "seeds": None,
                   "density": None,
                   "imp_schedule": None,
                   "imp_train_steps": None},
        "paper": {"sparsities": [0.03, 0.05, 0.1, 0.5],   # Fig 10b: "various levels of sparsity" (not listed)
                  "seeds": None,             # the preset's three seeds
                  "density": None,           # page 03's 5 % (Table 4)
                  "imp_schedule": None,      # IMP-(0.8)^14
                  "imp_train_steps": None},  # 40 000: magnitudes at convergence (App. B)
    },
    "09_deep_decoder_pruning": {   # App. K (Table 9, Figs 32/33): OES on the Deep Decoder vs Sparse-DIP
        "smoke": {"images": None,            # None: the preset's first image
                  "seeds": None,             # None: the preset's seeds
                  "pruned": [0.27, 0.55, 0.74],   # fractions of the decoder PRUNED (App. K's "27 %, 55 %, 74 %")
                  "match": [0.27],           # levels at which Sparse-DIP is run with as many weights as the decoder
                  "prior": 0.5},             # OES prior p0 on the decoder (App. K: p0 = 0.5)
        "quick": {"images": ["astronaut"],   # one image; dense decoder and Sparse-DIP runs are chapter 02's
                  "seeds": [0, 1, 2],        # 3 seeds: every comparison paired over them
                  "pruned": [0.27, 0.55, 0.74],   # 3 decoder masks + 3 sparse-decoder runs per seed
                  "match": [0.27],           # 1 hourglass mask + run per seed
                  "prior": 0.5},
        "medium": {"images": ["astronaut", "coffee", "chelsea"],
                   "seeds": None,
                   "pruned": [0.27, 0.55, 0.74],
                   "match": [0.27, 0.55, 0.74],
                   "prior": 0.5},
        "paper": {"images": ["astronaut", "coffee", "chelsea"],   # Table 9: three images (Pepper, Lena, Barbara)
                  "seeds": None,             # the preset's three seeds (Table 9: one run each)
                  "pruned": [0.27, 0.55, 0.74],
                  "match": [0.27, 0.55, 0.74],
                  "prior": 0.5},
    },
    "10_sensitivity": {   # App. G, H.1, I, J (Figs 15, 18, 25–31): λ, p0, KL vs ℓ1 vs centred, initialisation
        "smoke": {"images": ["astronaut", "coffee"],   # two images so every comparison's code path runs
                  "n_images": None,          # used when "images" is None: the first n of the preset's images
                  "seeds": None,             # seeds of the comparisons that train (λ, p0, init); None: the preset's.
                                             # The mask-only sweeps use the first seed.
                  "reg_images": 2,           # first n images of the ℓ1-vs-KL best-λ comparison (Fig 29)
                  "sparsity": 0.05,          # fraction kept: App. G / H.1 prune 95 %
                  "mask_steps": None,        # None: the preset's OES steps
                  "train_steps": None,       # None: the preset's training steps
                  "lam_wide": [6, 3, 0, -4],   # decades around the preset's λ, first image (paper: 1e-3 … 1e-13)
                  "lam_fine": [1, 0, -1],    # decades, every image, KL and ℓ1 (Fig 29: 1e-8, 1e-9, ...)
                  "train_lam": [3, 0, -4],   # decades whose masks are also trained (first image, every seed)
                  "centered_images": 1,      # first n images with the centred-mean regulariser (Figs 25, 27)
                  "p0s": [0.03, 0.05, 0.5, 0.8],   # priors at 95 % pruning (Fig 15)
                  "train_p0": True,          # also train the p0 masks (Fig 15's denoising curves), every seed
                  "init_dist_images": 1,     # first n images: Kaiming-uniform vs Xavier-normal (Fig 31), every seed
                  "init_scales": [0.1, 1, 5]},   # Kaiming ×scale on the first image (Fig 30), every seed
        "quick": {"images": None,
                  "n_images": 2,             # the preset's two images
                  "seeds": [0, 1, 2],        # 3 seeds for every comparison of trained masks
                  "reg_images": 2,           # ℓ1 vs KL needs two images
                  "sparsity": 0.05,          # as the paper's App. G / H.1 (so masks are not shared with 02: 3 %)
                  "mask_steps": None,        # the preset's: up to 8000 steps, stopped when converged (λ fixed)
                  "train_steps": None,       # the preset's training steps
                  "lam_wide": [6, 3, 0, -4],   # the paper's 1e-3, 1e-6, 1e-9, 1e-13 shifted onto the preset's λ
                  "lam_fine": [1, 0, -1],    # one decade either side: Fig 29's spacing
                  "train_lam": [3, 0, -4],   # +6 (p pinned at p0) left untrained
                  "centered_images": 1,      # Figs 25/27 on one image (paper: two)
                  "p0s": [0.03, 0.05, 0.5, 0.8],   # the paper's four priors
                  "train_p0": False,         # judged on the masks (collapse): saves 3 masks + 9 runs
                  "init_dist_images": 1,     # paper: 4 images
                  "init_scales": [0.1, 1, 5]},   # the paper's scales
        "medium": {"images": None,
                   "n_images": None,
                   "seeds": None,
                   "reg_images": 2,
                   "sparsity": 0.05,
                   "mask_steps": None,
                   "train_steps": None,
                   "lam_wide": [6, 3, 0, -4],
                   "lam_fine": [1, 0, -1],
                   "train_lam": [6, 3, 0, -4],
                   "centered_images": 2,
                   "p0s": [0.03, 0.05, 0.5, 0.8],
                   "train_p0": True,
                   "init_dist_images": 4,
                   "init_scales": [0.1, 1, 5]},
        "paper": {"images": None,
                  "n_images": None,          # all of the preset's images for the bimodal-λ claim
                  "seeds": None,             # the preset's three seeds
                  "reg_images": 2,           # Fig 29: two images (Pepper, Flowers)
                  "sparsity": 0.05,          # App. G / H.1: 95 % pruned
                  "mask_steps": None,        # 60 000
                  "train_steps": None,       # 40 000
                  "lam_wide": [6, 3, 0, -4],   # 1e-3, 1e-6, 1e-9, 1e-13 (Fig 18)
                  "lam_fine": [1, 0, -1],    # 1e-8, 1e-9, 1e-10 (Fig 29)
                  "train_lam": [6, 3, 0, -4],
                  "centered_images": 2,      # Fig 27: Baboon and Flowers
                  "p0s": [0.03, 0.05, 0.5, 0.8],
                  "train_p0": True,
                  "init_dist_images": 4,     # Fig 31: four images
                  "init_scales": [0.1, 1, 5]},   # Fig 30
    },
    # --- chapter settings end ---
}


def chapter_settings(notebook: str, preset: str) -> dict:
    """The settings of one book chapter at one preset (``{}`` when the chapter has none)."""
    return dict(CHAPTERS.get(notebook, {}).get(preset, {}))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; use one of: {', '.join(PRESETS)}")
    return PRESETS[name]
