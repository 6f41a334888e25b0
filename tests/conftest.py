import pytest
import torch

from oes.generators import GeneratorConfig

torch.set_num_threads(1)

TINY = GeneratorConfig("hourglass", (4, 8), 3, 3, 8)     # smallest valid size 16
TINY_DD = GeneratorConfig("deep_decoder", (8, 8, 8))       # input at H/4


@pytest.fixture
def tiny():
    return TINY


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


def tiny_problem(size: int, cfg: GeneratorConfig = TINY):
    """(net at θ_in, z, y, Denoising(25), x) on a random size×size image, all seeded: the shared
    set-up of the pruner, IMP and baseline tests."""
    from oes.generators import build_generator, make_input
    from oes.operators import Denoising

    net = build_generator(cfg, 0)
    z = make_input(cfg, size, 0)
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, 3, size, size), generator=g)
    op = Denoising(25)
    return net, z, op.measure(x, g), op, x
