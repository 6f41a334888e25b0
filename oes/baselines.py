r"""Training-time baselines as :func:`oes.fit.fit` callbacks: GP-DIP / SGLD and ES-WMV (§2, §4.2, Fig. 5–6).

* :class:`SGLD` — GP-DIP (Cheng, Gadelha, Maji & Sheldon 2019, "A Bayesian perspective on the
  deep image prior", §4, eq. 8): stochastic gradient Langevin dynamics
  θ_{t+1} = θ_t − η ∇L(θ_t) + ε_t, ε_t ~ N(0, σ_L² I), run as the ordinary DIP loop (Adam) plus
  Gaussian noise added to the parameters after every optimiser step, drawn from the fit's own
  seeded generator; input-noise regularisation z + N(0, (1/30)²) as in DIP (Ulyanov et al.
  2018) through ``FitConfig.reg_noise_std``; the posterior mean of the outputs after a burn-in
  is tracked as the extra history column ``psnr_avg``.  The fit method
  ``sgld`` of :data:`oes.experiments.methods.FIT_METHOD_TABLE`.
* :class:`ESWMV` — early stopping by windowed moving variance (Wang, Li, Zhuang, Chen, Liang &
  Sun 2021, "Early stopping for deep image prior", §3, Algorithm 1): at every step the variance
  of the last W outputs, VAR_t = (1/W) Σ_{w<W} ‖x_{t−w} − x̄_t‖² / n (W = 100); the detected
  stop is the step of the smallest VAR once it has not improved for P steps (P = 1000).  Only
  the outputs are used to detect; the clean image, if given, is used to *report* the PSNR at
  the detected step.  The fit method ``es_wmv`` of :data:`oes.experiments.methods.FIT_METHOD_TABLE` (plain DIP + ES-WMV).

The Deep Decoder baseline needs no code here: ``RunSpec(method="decoder",
generator=<deep_decoder config>)`` trains it through :func:`oes.fit.fit`.
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch

from .fit import FitResult, fit
from .masks import maskable_names
from .metrics import psnr

__all__ = ["SGLD", "ESWMV", "sgld_fit", "es_wmv_fit"]


class SGLD:
    r"""Langevin noise and posterior averaging for :func:`oes.fit.fit` (GP-DIP, Cheng et al. 2019).

    :param langevin_std: σ_L, the standard deviation of the Gaussian noise added to every
        selected parameter after each optimiser step (an absolute std, not scaled by the
        learning rate; the presets use 1e-2).  The public DIP-SGLD code adds 2·lr (= 0.02 at
        lr 1e-2) to 4-D conv weights only: ``langevin_std=0.02, params="weights"``.
    :param params: ``"all"`` parameters (default) or conv ``"weights"`` only.
    :param burn_in: fraction of ``cfg.steps`` after which outputs are averaged (0.5).
    :param average: track the posterior mean x̄ of the outputs G(θ_t, z_t), t ≥ burn-in.
    :param x_true: clean image, only to record ``psnr_avg`` (the PSNR of x̄).

    Noise is drawn from ``state.rng`` (the fit's seeded generator), so a run is deterministic
    given its seed and resumes exactly from a checkpoint.  With a mask (Sparse-DIP + SGLD), pruned
    entries get no noise, so they stay exactly zero.
    """

    def __init__(self, langevin_std: float = 1e-2, params: str = "all", burn_in: float = 0.5,
                 average: bool = True, x_true: torch.Tensor | None = None):
        if langevin_std < 0:
            raise ValueError(f"langevin_std must be ≥ 0, got {langevin_std}")
        if not 0 <= burn_in <= 1:
            raise ValueError(f"burn_in is a fraction of the steps in [0, 1], got {burn_in}")
        if params not in ("all", "weights"):
            raise ValueError(f"params must be 'all' or 'weights', got {params!r}")
        self.langevin_std, self.params, self.burn_in, self.average = float(langevin_std), params, burn_in, average
        self.x_true = x_true
        self.sum: torch.Tensor | None = None
        self.count = 0

    def _start(self, state) -> int:
        return int(math.floor(self.burn_in * state.cfg.steps))

    @property
    def mean(self) -> torch.Tensor | None:
        """The posterior mean of the outputs averaged so far (None before the burn-in ends)."""
        return None if self.sum is None else (self.sum / self.count).float()

    def on_record(self, state, row):
        if not (self.average and state.step >= self._start(state)):
            return
        # mean including this step's output (on_step adds it right after)
        s = state.x_hat.double() if self.sum is None else self.sum + state.x_hat.double()
        avg = (s / (self.count + 1)).float()
        if self.x_true is not None:
            row["psnr_avg"] = psnr(avg, self.x_true)
            state.extra["psnr_avg"] = row["psnr_avg"]
        state.extra["n_avg"] = self.count + 1

    def on_step(self, state):
        if self.langevin_std > 0:
            net = state.net
            names = set(maskable_names(net, self.params))
            mask = state.mask or {}
            with torch.no_grad():
                for n, p in net.named_parameters():
                    if n in names:
                        noise = torch.randn(p.shape, generator=state.rng, device=p.device, dtype=p.dtype)
                        if n in mask:  # pruned entries stay exactly zero
                            noise.mul_(mask[n].to(p.device, p.dtype))
                        p.add_(noise, alpha=self.langevin_std)
        if self.average and state.step >= self._start(state):
            x = state.x_hat.double()
            self.sum = x.clone() if self.sum is None else self.sum + x
            self.count += 1

    def state_dict(self) -> dict:
        return {"sum": self.sum, "count": self.count}

    def load_state_dict(self, d: dict) -> None:
        self.sum, self.count = d["sum"], d["count"]


class ESWMV:
    r"""ES-WMV early-stopping detection (Wang et al. 2021, Algorithm 1) as a :func:`oes.fit.fit` callback.

    :param window: W, the number of most recent outputs whose variance is tracked (100).
    :param patience: P, steps without a new minimum of the variance before the stop is detected (1000).
    :param stop: set ``state.stop`` when the stop is detected (the algorithm); ``False`` keeps
        training to ``cfg.steps`` and only reports.
    :param x_true: clean image, used only to report the PSNR at the detected step.

    The output at step t is G(θ_t, z) as computed by fit at that step (the one the history's
    ``psnr`` at step t is measured on).  VAR_t is the mean over pixels of the per-pixel variance
    (population, /W) of x_{t−W+1..t}; the detected step t* is the window end with the smallest
    VAR seen when ``patience`` further steps brought no smaller one.  Results go to
    ``state.extra`` (→ ``FitResult.extra`` and result.json): ``detected_step`` (−1 if not
    detected), ``detected_psnr``, ``detected_variance``; ``wmv_min_step`` / ``wmv_min_psnr`` hold
    the running minimum.  ``wmv_var`` is added to the history rows.  The output at t* is kept
    in :attr:`best_output`.
    """

    def __init__(self, window: int = 100, patience: int = 1000, stop: bool = True,
                 x_true: torch.Tensor | None = None):
        if int(window) < 2 or int(patience) < 1:
            raise ValueError(f"ES-WMV needs window ≥ 2 and patience ≥ 1, got W={window}, P={patience}")
        self.window, self.patience, self.stop, self.x_true = int(window), int(patience), bool(stop), x_true
        self.buf: torch.Tensor | None = None      # (W, n) ring buffer of flattened outputs
        self.seen = 0
        self.variance = float("nan")
        self.best_var = float("inf")
        self.best_step = -1
        self.best_psnr = float("nan")
        self.best_output: torch.Tensor | None = None
        self.wait = 0
        self.detected_step = -1

    def update(self, x: torch.Tensor, step: int) -> bool:
        """Feed the output of ``step``; returns True once the stop has been detected."""
        flat = x.detach().reshape(-1)
        if self.buf is None:
            self.buf = torch.zeros((self.window, flat.numel()), dtype=flat.dtype, device=flat.device)
        self.buf[self.seen % self.window] = flat
        self.seen += 1
        if self.seen < self.window:
            return False
        self.variance = float(self.buf.var(dim=0, unbiased=False).mean())
        if self.detected_step >= 0:
            return True
        if self.variance < self.best_var:
            self.best_var, self.best_step, self.wait = self.variance, step, 0
            self.best_output = x.detach().clone()
            self.best_psnr = psnr(x, self.x_true) if self.x_true is not None else float("nan")
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.detected_step = self.best_step
        return self.detected_step >= 0

    def _report(self, extra: dict) -> None:
        extra["wmv_min_step"], extra["wmv_min_psnr"] = self.best_step, self.best_psnr
        extra["detected_step"] = self.detected_step
        detected = self.detected_step >= 0
        extra["detected_psnr"] = self.best_psnr if detected else float("nan")
        extra["detected_variance"] = self.best_var if detected else float("nan")

    def on_record(self, state, row):
        row["wmv_var"] = self.variance

    def on_step(self, state):
        done = self.update(state.x_hat, state.step)
        self._report(state.extra)
        if done and self.stop:
            state.stop = True

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("buf", "seen", "variance", "best_var", "best_step", "best_psnr",
                                              "best_output", "wait", "detected_step")}

    def load_state_dict(self, d: dict) -> None:
        for k, v in d.items():
            setattr(self, k, v)


# ---------------------------------------------------------------------------- method table (oes.experiments)
def _take(params: dict, known: dict, method: str) -> dict:
    unknown = set(params) - set(known)
    if unknown:
        raise ValueError(f"unknown {method} parameters: {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return {k: params.get(k, v) for k, v in known.items()}


def sgld_fit(spec, net, z, problem, mask, checkpoint, progress) -> FitResult:
    """FIT_METHODS["sgld"]: GP-DIP.  ``RunSpec.params``: langevin_std (1e-2), burn_in (0.5),
    average (True), noise_params ("all"), reg_noise_std (default: ``spec.fit.reg_noise_std`` or
    1/30 when that is 0), lr (default ``spec.fit.lr``)."""
    p = _take(dict(spec.params), {"langevin_std": 1e-2, "burn_in": 0.5, "average": True, "noise_params": "all",
                                  "reg_noise_std": spec.fit.reg_noise_std or 1 / 30, "lr": spec.fit.lr}, "sgld")
    cfg = replace(spec.fit, reg_noise_std=float(p["reg_noise_std"]), lr=float(p["lr"]))
    cb = SGLD(p["langevin_std"], p["noise_params"], p["burn_in"], p["average"], x_true=problem.x)
    res = fit(net, z, problem.y, problem.operator, cfg=cfg, mask=mask, x_true=problem.x, callbacks=[cb],
              to_image=getattr(problem, "to_image", None), checkpoint=checkpoint, seed=spec.seed, progress=progress, desc=f"sgld {spec.image}")
    if cb.mean is not None:
        res.extra["x_avg"] = cb.mean.cpu()
    return res


def es_wmv_fit(spec, net, z, problem, mask, checkpoint, progress) -> FitResult:
    """FIT_METHODS["es_wmv"]: dense (or sparse, with a mask) DIP with ES-WMV detection.
    ``RunSpec.params``: window (100), patience (1000), stop (True)."""
    p = _take(dict(spec.params), {"window": 100, "patience": 1000, "stop": True}, "es_wmv")
    cb = ESWMV(p["window"], p["patience"], p["stop"], x_true=problem.x)
    return fit(net, z, problem.y, problem.operator, cfg=spec.fit, mask=mask, x_true=problem.x, callbacks=[cb],
               to_image=getattr(problem, "to_image", None), checkpoint=checkpoint, seed=spec.seed, progress=progress, desc=f"es_wmv {spec.image}")
