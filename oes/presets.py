"""Presets: every size and step count the book and CLI use, in one place.

* ``smoke`` — exercises every code path in seconds (CI). Numbers mean nothing.
* ``quick`` — a 2-core laptop CPU: the whole book in about 30 minutes, the paper's
  effects visible. Its deviations from the paper are listed in ``deviations`` and
  printed on every book page; the evidence is in ``docs/calibration.md``.
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

    # ---------------------------------------------------------------- spec builders
    def mask_spec(self, image: str, seed: int = 0, method: str = "oes", sigma: float | None = None,
                  operator: str = "denoising", target: str = "noisy", generator: GeneratorConfig | None = None,
                  **params):
        """A :class:`~oes.runs.MaskSpec` at this preset; ``params`` override the preset's MaskConfig
        (for ``oes``) or are the pruner's parameters (other methods; ``sparsity`` defaults to the preset's)."""
        from .runs import MaskSpec

        if method == "oes":
            params = replace(self.mask, **params).to_dict()
        else:
            params = {"sparsity": self.mask.sparsity, **params}
        return MaskSpec(method=method, image=image, size=self.size, generator=generator or self.generator,
                        params=params, sigma=self.sigma if sigma is None else sigma, operator=operator,
                        seed=seed, target=target)

    def run_spec(self, image: str, method: str = "dense", seed: int = 0, mask=None, sigma: float | None = None,
                 operator: str = "denoising", steps: int | None = None, params: dict | None = None, **fit):
        """A :class:`~oes.runs.RunSpec` at this preset: ``dense`` / ``sparse`` (give ``mask``) /
        ``decoder`` / ``sgld`` (the preset's SGLD settings); ``fit`` overrides FitConfig fields."""
        from .runs import RunSpec

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
    mask=MaskConfig(sparsity=0.03, steps=1500, lr=0.3, temperature=0.2, lam=3e-7, maskable="all",
                    record_every=50),
    fit=FitConfig(steps=2000, lr=1e-2, record_every=20, checkpoint_every=1000),
    images=("astronaut", "chelsea"),
    seeds=(0, 1),
    deviations=("64×64 images (paper: 512×512)",
                "4-level hourglass [8, 16, 32, 64], 272,115 parameters (paper: 6 levels [16 … 128], 3,008,867); "
                "Sparse-DIP keeps 3 % = 8,163 weights (paper: 3 % = 90,217)",
                "Deep Decoder: 5 layers × 40 channels, 8,520 parameters (paper: 6 × 128, 100,224)",
                "OES: 1,500 mask steps at logit learning rate 0.3 and λ = 3e-7 (paper: 60,000 at 0.01, λ = 1e-9)",
                "2,000 training steps (paper: 40,000)"),
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

PRESETS = {p.name: p for p in (SMOKE, QUICK, PAPER)}

# Per-chapter settings, keyed by notebook then preset name: the grids each book chapter runs
# (which images, sparsities, sweeps...). Notebooks read them with ``chapter_settings``.
CHAPTERS: dict[str, dict[str, dict]] = {
    # --- chapter settings end ---
}


def chapter_settings(notebook: str, preset: str) -> dict:
    """The settings of one book chapter at one preset (``{}`` when the chapter has none)."""
    return dict(CHAPTERS.get(notebook, {}).get(preset, {}))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; use one of: {', '.join(PRESETS)}")
    return PRESETS[name]
