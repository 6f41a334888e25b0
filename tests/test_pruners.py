"""Baseline pruners at initialisation: exact density, determinism, and what makes each method itself."""
from __future__ import annotations

import copy

import pytest
import torch

from conftest import tiny_problem
from oes.generators import GeneratorConfig
from oes.learn import n_keep
from oes.masks import Mask, maskable_names
from oes.pruners import (PRUNERS, grasp, grasp_scores, hessian_gradient_product, local_quotas, magnitude_pruning,
                         select, snip, snip_scores, synflow, synflow_scores)

CFG = GeneratorConfig("hourglass", (4, 8), 3, 3, 8)
SIZE = 32
FAST = {"synflow": {"rounds": 5}}


@pytest.fixture(scope="module")
def setup():
    return tiny_problem(SIZE, CFG)[:4]


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def _same_state(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _run(method, setup, **kw):
    net, z, y, op = setup
    return PRUNERS[method](net, z, y, op, **{**FAST.get(method, {}), **kw})


# ------------------------------------------------------------------ common contract
@pytest.mark.parametrize("method", list(PRUNERS))
@pytest.mark.parametrize("scope", ["global", "local"])
@pytest.mark.parametrize("sparsity", [0.05, 0.3])
def test_exact_density_same_mask_type_and_set(setup, method, scope, sparsity):
    net = setup[0]
    before = _state(net)
    m = _run(method, setup, sparsity=sparsity, scope=scope)
    assert isinstance(m, Mask)
    assert list(m) == maskable_names(net, "all")
    d = sum(p.numel() for p in net.parameters())
    assert m.n_total == d and m.n_kept == n_keep(sparsity, d)
    assert m.meta["method"] == method and m.meta["scope"] == scope
    assert _same_state(before, _state(net)), "pruning must not change θ_in or BN buffers"
    assert net.training  # mode restored
    if scope == "local":
        assert m.collapsed() == []
        assert all(bool(t.any()) for t in m.values())


@pytest.mark.parametrize("method", list(PRUNERS))
def test_maskable_weights_only(setup, method):
    net = setup[0]
    m = _run(method, setup, sparsity=0.1, maskable="weights")
    names = maskable_names(net, "weights")
    assert list(m) == names
    assert m.n_kept == n_keep(0.1, sum(dict(net.named_parameters())[n].numel() for n in names))


@pytest.mark.parametrize("method", list(PRUNERS))
def test_deterministic(setup, method):
    a = _run(method, setup, sparsity=0.1, seed=3)
    b = _run(method, setup, sparsity=0.1, seed=3)
    assert torch.equal(a.flat(), b.flat())


def test_random_seed_changes_mask_and_is_uniform(setup):
    a = _run("random", setup, sparsity=0.3, seed=0)
    b = _run("random", setup, sparsity=0.3, seed=1)
    assert not torch.equal(a.flat(), b.flat())
    # uniform: large tensors keep about 30 % each
    for n, t in a.items():
        if t.numel() >= 500:
            assert abs(t.float().mean().item() - 0.3) < 0.08, n


# ------------------------------------------------------------------ local allocation
def test_local_quotas_exact_total_and_minimum():
    sizes = [3, 4, 1000, 10, 576, 3]
    q = local_quotas(sizes, n_keep(0.05, sum(sizes)))
    assert sum(q) == n_keep(0.05, sum(sizes)) and min(q) >= 1
    # the 1-entry floors of the 4 small tensors come out of the large ones, by at most a few entries
    assert all(abs(qi - 0.05 * n) < 3 for qi, n in zip(q, sizes) if n > 100)
    assert local_quotas([10, 10], 20) == [10, 10]
    assert local_quotas([10, 30], 4) == [1, 3]
    with pytest.raises(ValueError, match="at least 1"):
        local_quotas([5] * 10, 3)
    # caps (still-alive counts) are respected and the total still exact
    q = local_quotas([100, 100], 60, caps=[10, 100])
    assert q == [10, 50]


def test_local_tiny_bias_at_5_percent(setup):
    m = _run("magnitude", setup, sparsity=0.05, scope="local")
    assert int(m["head.bias"].sum()) == 1  # 3-element bias: its share 0.15 rounds up to the 1-entry floor
    assert m.n_kept == n_keep(0.05, m.n_total)


def test_select_global_ties_and_nan():
    scores = {"a": torch.ones(4), "b": torch.ones(4)}
    m = select(scores, 0.25)
    assert m.flat().tolist() == [True, True] + [False] * 6  # ties: lower flat index kept
    with pytest.raises(ValueError, match="NaN"):
        select({"a": torch.tensor([1.0, float("nan")])}, 0.5)
    with pytest.raises(ValueError, match="sparsity"):
        select(scores, 0.0)
    with pytest.raises(ValueError, match="scope"):
        select(scores, 0.5, scope="layer")


# ------------------------------------------------------------------ magnitude
def test_magnitude_keeps_largest_and_reports_collapse(setup):
    net = setup[0]
    m = magnitude_pruning(net, sparsity=0.05)
    p = dict(net.named_parameters())
    kept = torch.cat([p[n].detach().abs().flatten()[t.flatten()] for n, t in m.items()])
    pruned = torch.cat([p[n].detach().abs().flatten()[~t.flatten()] for n, t in m.items()])
    assert kept.min() >= pruned.max()
    # BN weights (= 1) outrank every conv weight: global magnitude at 5 % empties whole conv
    # layers — layer collapse (§4.3), reported by mask.collapsed(), not hidden
    col = m.collapsed()
    assert col and all(n.endswith("weight") for n in col)
    assert all(m.layer_density()[n] == 1.0 for n in m if n.endswith((".2.weight", ".5.weight")))
    assert m.layer_density()["encoder.0.2.bias"] == 0.0  # BN biases start at 0


def test_magnitude_local_keeps_largest_per_tensor(setup):
    net = setup[0]
    m = magnitude_pruning(net, sparsity=0.2, scope="local")
    p = dict(net.named_parameters())
    for n, t in m.items():
        a = p[n].detach().abs().flatten()
        if (~t).any():
            assert a[t.flatten()].min() >= a[~t.flatten()].max(), n


# ------------------------------------------------------------------ SNIP
def test_snip_is_connection_sensitivity_against_y(setup):
    net, z, y, op = setup
    work = copy.deepcopy(net)
    work.zero_grad()
    op.data_fidelity(work(z), y).backward()
    ref = {n: (p.grad * p.detach()).abs() for n, p in work.named_parameters()}
    got = snip_scores(net, z, y, op)
    for n in ref:
        torch.testing.assert_close(got[n].float(), ref[n], rtol=1e-5, atol=1e-12)
    m = snip(net, z, y, op, sparsity=0.1)
    assert torch.equal(m.flat(), select(ref, 0.1).flat())
    # uses the data: another measurement gives another mask
    y2 = y.flip(-1)
    assert not torch.equal(m.flat(), snip(net, z, y2, op, sparsity=0.1).flat())


# ------------------------------------------------------------------ GraSP
def test_hessian_gradient_product_on_quadratic():
    g = torch.Generator().manual_seed(0)
    B = torch.randn(5, 5, generator=g, dtype=torch.float64)
    A = B @ B.T + torch.eye(5, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    theta = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    loss = 0.5 * theta @ A @ theta - b @ theta + (theta ** 3).sum() * 0  # exact quadratic
    grad, hg = hessian_gradient_product(loss, [theta])
    gd = A @ theta.detach() - b
    torch.testing.assert_close(grad[0], gd)
    torch.testing.assert_close(hg[0], A @ gd)
    # and on a non-quadratic, the Hessian changes with θ: H(θ) g ≠ A g
    theta2 = theta.detach().clone().requires_grad_(True)
    loss2 = 0.5 * theta2 @ A @ theta2 - b @ theta2 + (theta2 ** 4).sum()
    g2, hg2 = hessian_gradient_product(loss2, [theta2])
    t = theta2.detach()
    H = A + torch.diag(12 * t ** 2)
    torch.testing.assert_close(hg2[0], H @ g2[0])


def test_grasp_uses_hessian_gradient_product(setup):
    """θ ⊙ Hg on the real generator, checked against central differences of the gradient."""
    net, z, y, op = setup
    dnet = copy.deepcopy(net).double()
    zd, yd = z.double(), y.double()
    scores = grasp_scores(dnet, zd, yd, op)
    params = list(dnet.parameters())

    def grad_at(shift, eps):
        work = copy.deepcopy(dnet)
        with torch.no_grad():
            for p, s in zip(work.parameters(), shift):
                p.add_(s, alpha=eps)
        work.train()
        loss = op.data_fidelity(work(zd), yd)
        return torch.autograd.grad(loss, list(work.parameters()))

    g = grad_at([torch.zeros_like(p) for p in params], 0.0)
    eps = 1e-4
    gp, gm = grad_at(g, eps), grad_at(g, -eps)
    hg_fd = [(a - b) / (2 * eps) for a, b in zip(gp, gm)]
    ref = torch.cat([(p.detach() * h).flatten() for p, h in zip(params, hg_fd)])
    got = torch.cat([scores[n].flatten() for n, _ in dnet.named_parameters()])
    assert torch.allclose(got, ref, rtol=1e-3, atol=1e-9 * ref.abs().max().item())
    # second order: not a first-order score (θ ⊙ g, |θ ⊙ g| or Hθ + g style magnitudes)
    first = torch.cat([(p.detach() * gi).flatten() for p, gi in zip(params, g)])
    assert not torch.allclose(got / got.norm(), first / first.norm(), atol=1e-2)


def test_grasp_removes_largest_S(setup):
    """Wang et al. 2020: S(−θ) = −θ ⊙ Hg, the weights with the largest S are removed."""
    net, z, y, op = setup
    imp = grasp_scores(net, z, y, op)
    S = torch.cat([-v.flatten() for v in imp.values()])
    m = grasp(net, z, y, op, sparsity=0.2)
    keep = m.flat()
    assert S[keep].max() <= S[~keep].min()
    first = {n: (v.abs()) for n, v in snip_scores(net, z, y, op).items()}
    assert not torch.equal(keep, select(first, 0.2).flat())


# ------------------------------------------------------------------ SynFlow
def test_synflow_scores_nonzero_and_data_free(setup):
    net, z, y, op = setup
    before = _state(net)
    s = synflow_scores(net, z)
    assert all(bool((v[dict(net.named_parameters())[n].detach() != 0] > 0).all()) for n, v in s.items())
    assert all(torch.isfinite(v).all() for v in s.values())
    assert _same_state(before, _state(net)) and net.training
    a = synflow(net, z, y, op, sparsity=0.1, rounds=3)
    b = synflow(net, z, None, None, sparsity=0.1, rounds=3)
    c = synflow(net, z, torch.zeros_like(y), op, sparsity=0.1, rounds=3)
    assert torch.equal(a.flat(), b.flat()) and torch.equal(a.flat(), c.flat())


def test_synflow_is_synaptic_flow_on_abs_weights(setup):
    """R is linear in each conv weight's output channel; check ∂R/∂θ by a difference on |θ|."""
    net, z, _, _ = setup
    s = synflow_scores(net, z)
    w = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        for p in w.parameters():
            p.abs_()
    ones = torch.ones(z.shape, dtype=torch.float64)

    def R(model):
        cap = []
        h = model.head.register_forward_hook(lambda m, i, o: cap.append(o))
        model(ones)
        h.remove()
        return cap[0].sum().item()

    # the head bias enters R linearly: ∂R/∂b_c = H·W, so its score is |b_c|·H·W
    hb = w.head.bias.detach()
    torch.testing.assert_close(s["head.bias"], hb.abs() * SIZE * SIZE)
    r0 = R(w)
    assert r0 > 0


def test_synflow_iterative_differs_from_one_shot(setup):
    net, z, y, op = setup
    one = synflow(net, z, sparsity=0.05, rounds=1)
    many = synflow(net, z, sparsity=0.05, rounds=100)
    assert one.n_kept == many.n_kept == n_keep(0.05, one.n_total)
    assert not torch.equal(one.flat(), many.flat())
    assert many.meta["rounds"] == 100


def test_synflow_needs_head():
    class NoHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(1, 1, 1)

        def forward(self, x):
            return torch.sigmoid(self.c(x))

    with pytest.raises(ValueError, match="pre-sigmoid"):
        synflow(NoHead(), torch.ones(1, 1, 2, 2), sparsity=0.5, rounds=1)


# ------------------------------------------------------------------ registry and CLI
def test_mask_builders_registered_and_get_mask(tmp_path):
    from oes.runs import MASK_BUILDERS, MaskSpec, get_mask

    for name in [*PRUNERS, "imp"]:
        assert name in MASK_BUILDERS
    spec = MaskSpec(method="snip", image="astronaut", size=SIZE, generator=CFG,
                    params={"sparsity": 0.1, "scope": "local"})
    m = get_mask(spec, tmp_path)
    assert m.n_kept == n_keep(0.1, m.n_total) and m.meta["scope"] == "local" and m.meta["oracle"] is False
    assert m.meta["generator"] == CFG.to_dict()
    m2 = get_mask(MaskSpec(method="synflow", image="astronaut", size=SIZE, generator=CFG,
                           params={"sparsity": 0.1, "rounds": 2}), tmp_path)
    assert m2.meta["rounds"] == 2
    with pytest.raises(ValueError, match="unknown grasp parameters"):
        get_mask(MaskSpec(method="grasp", image="astronaut", size=SIZE, generator=CFG, params={"spars": 0.1}),
                 tmp_path)


def test_cli_prune_then_fit(tmp_path, capsys):
    from oes.cli import main

    out = tmp_path / "m.pt"
    assert main(["prune", "--method", "grasp", "--preset", "smoke", "--sparsity", "0.2", "--out", str(out)]) == 0
    m = Mask.load(out)
    assert m.meta["method"] == "grasp" and m.meta["generator"]["channels"] == [4, 8]
    assert {"sparsity", "scope", "seed", "source_image", "seconds"} <= set(m.meta)
    assert m.n_kept == n_keep(0.2, m.n_total)
    d = tmp_path / "fit"
    assert main(["fit", "--mask", str(out), "--preset", "smoke", "--out-dir", str(d)]) == 0
    assert (d / "result.json").exists()
    out2 = tmp_path / "s.pt"
    assert main(["prune", "--method", "synflow", "--rounds", "2", "--scope", "local", "--preset", "smoke",
                 "--sparsity", "0.05", "--out", str(out2)]) == 0
    assert Mask.load(out2).meta["scope"] == "local"


def test_cli_prune_errors(tmp_path, capsys):
    from oes.cli import main

    assert main(["prune", "--method", "snip", "--preset", "smoke", "--out", str(tmp_path / "m.txt")]) == 2
    assert main(["prune", "--method", "snip", "--preset", "smoke", "--sparsity", "0", "--out",
                 str(tmp_path / "m.pt")]) == 2
    assert main(["prune", "--method", "snip", "--preset", "smoke", "--rewind-step", "3", "--out",
                 str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "\n" not in err.strip().splitlines()[0]
    assert not (tmp_path / "m.pt").exists()


# ------------------------------------------------------------------ the authors' variants
def _flat_grads(net, scalar_fn):
    ps = list(net.parameters())
    for p in ps:
        p.requires_grad_(True)
    return torch.autograd.grad(scalar_fn(), ps)


def test_snip_authors_ranks_the_gradient_alone(setup):
    net, z, y, op = setup
    work = copy.deepcopy(net).train()
    g = _flat_grads(work, lambda: op.data_fidelity(work(z), y))
    flat = torch.cat([gi.abs().flatten() for gi in g]).double()
    ref = torch.zeros_like(flat, dtype=torch.bool)
    ref[torch.argsort(flat, descending=True, stable=True)[:n_keep(0.1, flat.numel())]] = True
    m = PRUNERS["snip_authors"](net, z, y, op, sparsity=0.1)
    assert torch.equal(m.flat(), ref)
    assert not torch.equal(m.flat(), snip(net, z, y, op, sparsity=0.1).flat())   # |g| ≠ |θ g|


def test_grasp_authors_keeps_the_smallest_hessian_weight_product_plus_gradient(setup):
    net, z, y, op = setup
    work = copy.deepcopy(net).train()
    ps = list(work.parameters())
    theta = [p.detach().clone() for p in ps]
    loss = lambda: op.data_fidelity(work(z), y)               # noqa: E731
    g0 = _flat_grads(work, loss)
    eps = 1e-3                                                  # H θ by a central difference of g along θ
    with torch.no_grad():
        for p, t in zip(ps, theta):
            p.copy_(t * (1 + eps))
    gp = _flat_grads(work, loss)
    with torch.no_grad():
        for p, t in zip(ps, theta):
            p.copy_(t * (1 - eps))
    gm = _flat_grads(work, loss)
    score = torch.cat([((a - b) / (2 * eps) + c).flatten() for a, b, c in zip(gp, gm, g0)]).double()
    k = n_keep(0.1, score.numel())
    m = PRUNERS["grasp_authors"](net, z, y, op, sparsity=0.1)
    kept = score[m.flat()]
    dropped = score[~m.flat()]
    assert m.n_kept == k
    # kept = the smallest scores (up to the finite-difference error near the threshold)
    assert (kept <= dropped.min() + 1e-3 * score.abs().max()).float().mean() > 0.97


def test_synflow_authors_is_one_shot_on_the_real_input_and_ignores_y(setup):
    net, z, y, op = setup
    work = copy.deepcopy(net).train()
    g = _flat_grads(work, lambda: work(z).sum())
    flat = torch.cat([gi.abs().flatten() for gi in g]).double()
    ref = torch.zeros_like(flat, dtype=torch.bool)
    ref[torch.argsort(flat, descending=True, stable=True)[:n_keep(0.1, flat.numel())]] = True
    m = PRUNERS["synflow_authors"](net, z, y, op, sparsity=0.1)
    assert torch.equal(m.flat(), ref)
    assert torch.equal(PRUNERS["synflow_authors"](net, z, torch.zeros_like(y), op, sparsity=0.1).flat(), m.flat())
    assert not torch.equal(PRUNERS["synflow_authors"](net, z * 0.5, y, op, sparsity=0.1).flat(), m.flat())
