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
