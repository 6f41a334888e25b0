r"""Image generators G(θ, z): the paper's Dense DIP hourglass and the Deep Decoder.

* :func:`hourglass` — the encoder–decoder *without skip connections* used as
  "Dense DIP" throughout the paper (§4.2, Table 1: 3,008,867 parameters at the
  paper's configuration).
* :func:`deep_decoder` — Heckel & Hand (2018), the under-parameterised baseline
  (Table 1: 100,224 parameters with k = 128).

Both are built from a plain, JSON-able config dataclass so a saved mask or a
checkpoint can rebuild the exact architecture (``GeneratorConfig.to_dict``).
The network input ``z`` is drawn by :func:`make_input` from a seeded
``torch.Generator``; nothing here touches the global RNG.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn

__all__ = [
    "GeneratorConfig",
    "hourglass",
    "deep_decoder",
    "build_generator",
    "make_input",
    "check_image_size",
    "smallest_valid_size",
    "count_parameters",
]


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of a generator; ``build_generator(cfg)`` builds it.

    ``kind="hourglass"`` uses ``channels`` (one entry per level, encoder order),
    ``kernel_down`` / ``kernel_up`` and ``input_channels`` (noise channels of z at
    image size). ``kind="deep_decoder"`` uses ``channels`` (one entry per 1×1
    layer; z has ``channels[0]`` channels at H / 2**(len(channels) - 1)).
    """

    kind: Literal["hourglass", "deep_decoder"] = "hourglass"
    channels: tuple[int, ...] = (16, 32, 64, 128, 128, 128)  # paper, §4.2
    kernel_down: int = 5            # encoder convs (reflection padded)
    kernel_up: int = 3              # decoder convs
    input_channels: int = 32        # z: 32 channels of U(0, 1) × 0.1 (DIP's 'noise' input)
    input_scale: float = 0.1
    out_channels: int = 3           # 3 for RGB, 2 for complex MRI (real, imaginary)
    init: Literal["kaiming_uniform", "xavier_normal"] = "kaiming_uniform"  # App. J
    init_scale: float = 1.0         # multiplies every conv weight after init (App. J, Fig 31)

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty list of positive ints, got {self.channels}")

    @property
    def depth(self) -> int:
        return len(self.channels)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return cls(**d)


# --------------------------------------------------------------------------- sizes
def _downsample_factor(cfg: GeneratorConfig) -> int:
    return 2 ** cfg.depth if cfg.kind == "hourglass" else 2 ** (cfg.depth - 1)


def smallest_valid_size(cfg: GeneratorConfig) -> int:
    """Smallest square image side the generator can produce.

    Hourglass: a multiple of 2**depth whose deepest feature map (H / 2**depth)
    is larger than the reflection pad of the encoder convs (kernel_down // 2).
    Deep decoder: a multiple of 2**(layers - 1).
    """
    f = _downsample_factor(cfg)
    if cfg.kind == "hourglass":
        return f * (cfg.kernel_down // 2 + 1)
    return f


def check_image_size(size: int | tuple[int, int], cfg: GeneratorConfig) -> None:
    """Raise ``ValueError`` (one line, naming the smallest valid size) if ``size`` is invalid."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    f = _downsample_factor(cfg)
    smallest = smallest_valid_size(cfg)
    for s in hw:
        if s % f != 0 or s < smallest:
            raise ValueError(
                f"image size {hw[0]}x{hw[1]} cannot be produced by a {cfg.kind} of depth {cfg.depth}: "
                f"sides must be multiples of {f} and at least {smallest}; use --size {max(smallest, f * round(s / f))} "
                f"(smallest valid: {smallest})"
            )


# --------------------------------------------------------------------------- blocks
def _conv(cin: int, cout: int, k: int, bias: bool = True) -> nn.Sequential:
    """k×k convolution with reflection padding (DIP's default padding)."""
    pad = k // 2
    layers: list[nn.Module] = []
    if pad:
        layers.append(nn.ReflectionPad2d(pad))
    layers.append(nn.Conv2d(cin, cout, k, bias=bias))
    return nn.Sequential(*layers)


class Hourglass(nn.Module):
    """DIP encoder–decoder with no skip connections (the paper's Dense DIP, §4.2).

    Encoder level i:  conv k×k → AvgPool 2× → BN → LeakyReLU(0.2) → conv k×k → BN → LeakyReLU
    Decoder level i:  Upsample 2× (nearest) → BN → conv 3×3 → BN → LeakyReLU
    Output:          conv 1×1 → sigmoid
    """

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        ch, kd, ku = cfg.channels, cfg.kernel_down, cfg.kernel_up
        enc, cin = [], cfg.input_channels
        for c in ch:
            enc.append(nn.Sequential(
                _conv(cin, c, kd), nn.AvgPool2d(2), nn.BatchNorm2d(c), nn.LeakyReLU(0.2),
                _conv(c, c, kd), nn.BatchNorm2d(c), nn.LeakyReLU(0.2),
            ))
            cin = c
        dec = []
        for c in reversed(ch):
            dec.append(nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"), nn.BatchNorm2d(cin),
                _conv(cin, c, ku), nn.BatchNorm2d(c), nn.LeakyReLU(0.2),
            ))
            cin = c
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        self.head = nn.Conv2d(cin, cfg.out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.decoder(self.encoder(z))))


class DeepDecoder(nn.Module):
    """Deep Decoder (Heckel & Hand 2018): per layer 1×1 conv (no bias) → bilinear 2× up
    (not after the last) → ReLU → channel norm (BN with affine); then 1×1 conv → sigmoid."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        layers = []
        for i, c in enumerate(ch):
            cin = ch[i - 1] if i else ch[0]
            block = [nn.Conv2d(cin, c, 1, bias=False)]
            if i < len(ch) - 1:
                block.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            block += [nn.ReLU(), nn.BatchNorm2d(c)]
            layers.append(nn.Sequential(*block))
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(ch[-1], cfg.out_channels, 1, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.body(z)))


# --------------------------------------------------------------------------- builders
def _init_weights(net: nn.Module, cfg: GeneratorConfig, rng: torch.Generator) -> None:
    """Initialise conv weights from ``rng`` (θ_in of §3.2: Kaiming-uniform by default).

    Biases follow PyTorch's default rule (uniform in ±1/sqrt(fan_in)), BN starts at
    weight 1, bias 0.  ``init_scale`` multiplies conv weights (Appendix J, Fig 31).
    """
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            if cfg.init == "kaiming_uniform":
                # PyTorch's default conv init: kaiming_uniform_(a=sqrt(5)) → bound = 1/sqrt(fan_in)
                bound = 1.0 / fan_in ** 0.5
                w = (torch.rand(m.weight.shape, generator=rng) * 2 - 1) * bound
            elif cfg.init == "xavier_normal":
                fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
                std = (2.0 / (fan_in + fan_out)) ** 0.5
                w = torch.randn(m.weight.shape, generator=rng) * std
            else:  # pragma: no cover - guarded by Literal
                raise ValueError(f"unknown init {cfg.init!r}; use kaiming_uniform or xavier_normal")
            with torch.no_grad():
                m.weight.copy_(w * cfg.init_scale)
                if m.bias is not None:
                    b = 1.0 / fan_in ** 0.5
                    m.bias.copy_((torch.rand(m.bias.shape, generator=rng) * 2 - 1) * b)


def build_generator(cfg: GeneratorConfig, seed: int = 0, device: str | torch.device = "cpu") -> nn.Module:
    """Build the generator described by ``cfg`` with weights drawn from ``seed``."""
    net = Hourglass(cfg) if cfg.kind == "hourglass" else DeepDecoder(cfg)
    rng = torch.Generator().manual_seed(int(seed))
    _init_weights(net, cfg, rng)
    return net.to(device)


def hourglass(channels=(16, 32, 64, 128, 128, 128), kernel_down: int = 5, kernel_up: int = 3,
              input_channels: int = 32, out_channels: int = 3, seed: int = 0, **kw) -> nn.Module:
    """The paper's Dense DIP (§4.2). No arguments: the paper's 3,008,867-parameter net."""
    cfg = GeneratorConfig("hourglass", tuple(channels), kernel_down, kernel_up, input_channels,
                          out_channels=out_channels, **kw)
    return build_generator(cfg, seed)


def deep_decoder(channels=(128,) * 6, out_channels: int = 3, seed: int = 0, **kw) -> nn.Module:
    """Deep Decoder (Heckel & Hand 2018). No arguments: k = 128, 6 layers, 100,224 parameters."""
    cfg = GeneratorConfig("deep_decoder", tuple(channels), out_channels=out_channels, **kw)
    return build_generator(cfg, seed)


def make_input(cfg: GeneratorConfig, size: int | tuple[int, int], seed: int = 0,
               device: str | torch.device = "cpu") -> torch.Tensor:
    """The fixed network input z (shape (1, C, h, w)), drawn from ``seed``.

    Hourglass: ``input_channels`` × H × W of U(0, 1) × ``input_scale`` (DIP's noise input).
    Deep decoder: ``channels[0]`` × H/2^(L-1) × W/2^(L-1) of U(0, 1) × ``input_scale``.
    """
    check_image_size(size, cfg)
    h, w = (size, size) if isinstance(size, int) else size
    rng = torch.Generator().manual_seed(int(seed) + 7919)  # distinct stream from the weights
    if cfg.kind == "hourglass":
        shape = (1, cfg.input_channels, h, w)
    else:
        f = 2 ** (cfg.depth - 1)
        shape = (1, cfg.channels[0], h // f, w // f)
    return (torch.rand(shape, generator=rng) * cfg.input_scale).to(device)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
