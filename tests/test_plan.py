"""Grids as data (chapters 01 and 02), the book's plan, the method table and the import graph."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oes.experiments import Grid, RunSpec, RunStore, canonical_json
from oes.experiments import methods as M
from oes.experiments.plan import book_plan
from oes.grids import GRIDS, masking_prior, overfitting
from oes.presets import get_preset

REPO = Path(__file__).resolve().parent.parent


def _keys(specs):
    return [canonical_json(s) for s in specs]


# ------------------------------------------------------------------ the converted chapters declare what they ran before
@pytest.mark.parametrize("preset", ["smoke", "quick", "paper"])
def test_chapter_grids_equal_the_notebooks_former_grids(preset):
    """The specs the notebooks built inline before the conversion (copied from their former code)."""
    P = get_preset(preset)
    # chapter 01
    image, seed = P.images[0], 0
    sparsities = list(P.finding1_sparsities)
    old01 = [P.mask_spec(image, seed, sparsity=s) for s in sparsities] + \
            [P.mask_spec(image, seed, method="random", sparsity=s) for s in sparsities]
    assert _keys(masking_prior(preset).specs()) == _keys(old01)
    # chapter 02
    methods = ["dense", "sgld", "decoder", "sparse"]
    old02 = []
    for im in P.images:
        for sd in P.seeds:
            for m in methods:
                mask = P.mask_spec(im, sd, sparsity=P.mask.sparsity) if m == "sparse" else None
                old02.append(P.run_spec(im, m, sd, mask=mask, steps=P.fit.steps))
    g = overfitting(preset, twins=0)       # the twin masks came later: see the next test
    runs = [s for s in g.specs() if isinstance(s, RunSpec)]
    assert _keys(runs) == _keys(old02)
    masks = [s for s in g.specs() if not isinstance(s, RunSpec)]
    assert _keys(masks) == _keys([r.mask for r in old02 if r.mask is not None])


@pytest.mark.parametrize("preset", ["smoke", "quick"])
def test_overfitting_twins_add_one_mask_and_one_run_per_seed_of_the_first_image(preset):
    from oes.grids import TWIN_SAMPLER_OFFSET

    P = get_preset(preset)
    base, g = overfitting(preset, twins=0), overfitting(preset, twins=1)
    extra = [(lab, s) for lab, s in g.items if canonical_json(s) not in set(_keys(base.specs()))]
    assert len(extra) == 2 * len(P.seeds)
    for lab, s in extra:
        assert lab["image"] == P.images[0] and lab["method"] in ("oes_twin", "sparse_twin")
        mask = s if lab["method"] == "oes_twin" else s.mask
        assert mask.params["sampler_seed"] == lab["seed"] + TWIN_SAMPLER_OFFSET
        # same problem and θ_in as the first mask: only the sampler stream differs
        first = base.spec(image=lab["image"], seed=lab["seed"], method="oes")
        assert {**mask.params, "sampler_seed": None} == {**first.params, "sampler_seed": None}
        assert mask.seed == first.seed and mask.image == first.image


def test_grid_functions_take_the_notebooks_parameter_names():
    import inspect
    import re

    for name, fn in GRIDS.items():
        src = (REPO / "notebooks" / f"{name}.py").read_text()
        cell = src.split('# %% tags=["parameters"]', 1)[1].split("# %%", 1)[0]
        names = set(re.findall(r"^(\w+)\s*=", cell, flags=re.M)) - {"preset"}
        assert set(inspect.signature(fn).parameters) - {"preset"} == names, name


def test_grid_table_execute_and_lookup(tmp_path):
    g = overfitting("smoke", steps=3, methods=["dense", "sparse"], twins=0)
    t = g.table(root=tmp_path)
    assert list(t.columns) == ["kind", "image", "seed", "method", "key", "steps", "stored"]
    assert t["kind"].tolist() == ["mask", "run", "run"] and not t["stored"].any()
    assert t["steps"].tolist() == [get_preset("smoke").mask.steps, 3, 3]
    r = g.execute(executor="local", root=tmp_path)
    assert g.table(root=tmp_path)["stored"].all()
    sparse = r.run(image="astronaut", seed=0, method="sparse")
    assert sparse.spec.mask == g.spec(method="oes") and sparse.result["steps"] == 3
    assert r.mask(method="oes").density == pytest.approx(get_preset("smoke").mask.sparsity, abs=0.01)
    assert [x.spec.method for x in r.records()] == ["dense", "sparse"]
    assert len(r.records(method="dense")) == 1
    df = r.frame()
    assert df["method"].tolist() == ["dense", "sparse"] and {"final_psnr", "image", "seed"} <= set(df.columns)
    with pytest.raises(KeyError, match="2 runs match"):
        r.run(image="astronaut")
    with pytest.raises(KeyError, match="no label colour"):
        r.records(colour="red")
    with pytest.raises(TypeError):
        Grid("x", "smoke", [({"a": 1}, "not a spec")])


# ------------------------------------------------------------------ the plan
def test_plan_deduplicates_across_chapters_and_takes_overrides(tmp_path):
    from oes.experiments.plan import chapter_names

    full = book_plan("smoke", book_root=REPO)
    declared = [g.chapter for g in full.grids]
    assert declared[:2] == ["01_masking_prior", "02_overfitting"] and "11_mri" in declared
    assert sorted(declared + full.undeclared) == sorted(chapter_names(REPO))
    assert ("not yet declared" in full.describe(root=tmp_path)) == bool(full.undeclared)
    plan = book_plan("smoke", only=["01_masking_prior", "02_overfitting"], book_root=REPO)
    s = plan.summary(root=tmp_path)
    # chapter 02's OES mask at the preset's sparsity is one of chapter 01's masks: one task
    assert s["unique"] == s["items"] - 1 == len(plan.specs(RunStore(tmp_path)))
    assert s["stored"] == 0 and s["tasks"] == s["unique"]
    p = book_plan("smoke", {"steps": 3, "nonsense": 1}, only=["01_masking_prior", "02_overfitting"], book_root=REPO)
    runs = [x for x in p.specs() if isinstance(x, RunSpec)]
    assert runs and all(x.fit.steps == 3 for x in runs)
    assert p.unused_params == ["nonsense"]
    only = book_plan("smoke", only=["02_overfitting.py"], book_root=REPO)
    assert [g.chapter for g in only.grids] == ["02_overfitting"] and only.undeclared == []
    with pytest.raises(ValueError, match="--only 99_x"):
        book_plan("smoke", only=["99_x"], book_root=REPO)


def test_plan_nodes_hold_every_spec_and_its_dependencies_once(tmp_path):
    from oes.experiments.plan import Plan
    from oes.experiments.specs import spec_dependencies

    store = RunStore(tmp_path)
    plan = book_plan("smoke", only=["02_overfitting", "03_pruners"], book_root=REPO)
    nodes = plan.nodes(store)
    assert set(nodes) == {store.key(s) for s in nodes.values()}          # keyed by their own keys
    assert {store.key(s) for s in plan.specs(store)} <= set(nodes)
    assert {store.key(d) for s in nodes.values() for d in spec_dependencies(s)} <= set(nodes)
    assert len(nodes) == plan.summary(root=tmp_path)["unique"]
    # a grid that lists only Sparse-DIP runs: their masks (and an IMP mask's own needs) come from the walk
    runs = [s for s in plan.specs(store) if isinstance(s, RunSpec) and s.mask is not None]
    only_runs = Plan("smoke", [Grid("runs", "smoke", [({"i": i}, r) for i, r in enumerate(runs)])])
    walked = only_runs.nodes(store)
    masks = {store.key(r.mask) for r in runs}
    assert masks and masks <= set(walked) and not masks & {store.key(r) for r in runs}
    assert len(walked) == only_runs.summary(root=tmp_path)["unique"] > len(runs)


def test_cli_book_plan_and_runs_gc(tmp_path, monkeypatch, capsys):
    from oes.cli import main

    monkeypatch.chdir(REPO)
    root = tmp_path / "runs"
    monkeypatch.setenv("OES_RUNS_DIR", str(root))
    assert main(["book", "plan", "--preset", "smoke", "--only", "01_masking_prior", "--run"]) == 0
    out = capsys.readouterr().out
    assert "plan for preset smoke: 1 chapter(s) declared" in out and "6 specs computed" in out
    # an entry no plan needs
    extra = RunSpec("coffee", 16, get_preset("smoke").generator, get_preset("smoke").fit)
    RunStore(root).run_one(extra)
    assert main(["runs", "gc", "--preset", "smoke"]) == 2          # chapters 03–11 undeclared: refuses
    assert "do not declare their grids" in capsys.readouterr().err
    assert main(["runs", "gc", "--preset", "smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove" in out and out.count("would remove") == 1 and "dense_" in out
    assert main(["runs", "gc", "--preset", "smoke", "--force"]) == 0
    assert not RunStore(root).is_done(extra)
    assert sum(e.status == "done" for e in RunStore(root).entries()) == 6


# ------------------------------------------------------------------ method table and imports
def test_method_table_references_resolve():
    for table in (M.MASK_METHODS, M.FIT_METHOD_TABLE):
        for name, m in table.items():
            assert callable(M.resolve(m.ref)), name
            assert isinstance(m.version, int) and m.version >= 1
    import oes.baselines as bl

    assert M.FIT_METHODS["sgld"] is bl.sgld_fit and set(M.MASK_BUILDERS) >= {"oes", "snip", "imp"}
    with pytest.raises(ValueError, match="unknown mask method 'nope'"):
        M.mask_builder("nope")


def test_library_never_imports_the_cli():
    code = ("import sys; import oes.pruners, oes.imp, oes.baselines, oes.experiments, oes.grids; "
            "import oes.experiments.plan; bad = [m for m in ('oes.cli', 'oes.runs') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_library_module_refers_to_the_cli_even_lazily():
    """The CLI imports the library, never the reverse (no import of oes.cli in any function either),
    and the pruners no longer import IMP to register it (the former cli ↔ pruners ↔ imp circle)."""
    import ast

    for path in sorted((REPO / "oes").rglob("*.py")):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                assert "cli" not in names and node.module != "oes.cli", f"{path.name} imports the CLI"
                if path.name == "pruners.py":
                    assert "imp" not in names and node.module != "imp", "pruners.py imports imp"
            elif isinstance(node, ast.Import):
                assert all(a.name != "oes.cli" for a in node.names), f"{path.name} imports the CLI"
