import pytest
import torch

from oes.generators import (GeneratorConfig, build_generator, check_image_size, count_parameters, deep_decoder,
                            hourglass, make_input, smallest_valid_size)


def test_paper_hourglass_has_exactly_3008867_parameters():
    assert count_parameters(hourglass()) == 3_008_867          # Table 1


def test_paper_deep_decoder_has_exactly_100224_parameters():
    assert count_parameters(deep_decoder()) == 100_224          # Table 1


def test_hourglass_output_shape_range_and_determinism(tiny):
    a, b = build_generator(tiny, seed=3), build_generator(tiny, seed=3)
    z = make_input(tiny, 16, seed=3)
    assert torch.equal(z, make_input(tiny, 16, seed=3))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    out = a(z)
    assert out.shape == (1, 3, 16, 16) and out.min() >= 0 and out.max() <= 1
    c = build_generator(tiny, seed=4)
    assert not torch.equal(next(c.parameters()), next(a.parameters()))


def test_hourglass_has_no_skip_connections_and_paper_layout():
    net = hourglass()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs[:12]] == [(5, 5)] * 12            # encoder 5×5
    assert [c.kernel_size for c in convs[12:18]] == [(3, 3)] * 6            # decoder 3×3
    assert convs[-1].kernel_size == (1, 1) and convs[-1].out_channels == 3  # 1×1 head
    assert convs[0].in_channels == 32


def test_deep_decoder_shapes():
    net = deep_decoder()
    cfg = GeneratorConfig("deep_decoder", (128,) * 6)
    z = make_input(cfg, 64, seed=0)
    assert z.shape == (1, 128, 2, 2)
    assert net(z).shape == (1, 3, 64, 64)
    assert all(m.bias is None for m in net.modules() if isinstance(m, torch.nn.Conv2d))


@pytest.mark.parametrize("size", [100, 64, 130])
def test_invalid_size_names_smallest_valid(size):
    cfg = GeneratorConfig()  # depth 6, 5×5 → needs multiples of 64, at least 192
    assert smallest_valid_size(cfg) == 192
    with pytest.raises(ValueError, match="smallest valid: 192"):
        check_image_size(size, cfg)
    check_image_size(192, cfg)
    check_image_size(512, cfg)


def test_init_options_change_weights(tiny):
    from dataclasses import replace
    a = build_generator(tiny, 0)
    b = build_generator(replace(tiny, init="xavier_normal"), 0)
    c = build_generator(replace(tiny, init_scale=5.0), 0)
    wa, wb, wc = (next(n.parameters()) for n in (a, b, c))
    assert not torch.equal(wa, wb)
    assert torch.allclose(wc, 5 * wa)
