"""The book infrastructure: runner (oes.book), claims (oes.scorecard), config, paired notebooks.

The runner tests execute a tiny notebook in a temporary book (a few seconds each); the
repository checks read _toc.yml, _config.yml and notebooks/ of this checkout.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from oes import book
from oes.book import BookError, parse_param
from oes.scorecard import Scorecard, collect, render_scorecard, write_scorecard_page

REPO = Path(__file__).resolve().parents[1]

TINY = '''\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tiny

# %% tags=["parameters"]
preset = "smoke"
steps = None
fail = False
light = False

# %%
import json, os
if light:   # the claims file as oes.scorecard writes it, without importing oes (torch): faster
    claims = [{"id": "steps_given", "claim": "steps was injected", "paper": "Fig. 0", "value": str(steps),
               "holds": steps is not None, "details": os.getcwd()}]
    with open(os.path.join(os.environ["OES_RESULTS_DIR"], "tiny.claims.json"), "w") as f:
        json.dump({"schema": 1, "notebook": "tiny", "preset": preset, "claims": claims}, f)
else:
    from oes.scorecard import Scorecard
    card = Scorecard("tiny", preset=preset)
    card.claim("steps_given", text="steps was injected", paper="Fig. 0", value=steps, holds=steps is not None,
               details=os.getcwd())
    card.save()
print("ran", preset, steps)

# %%
if fail:
    raise RuntimeError("boom in tiny")
'''


def _tiny_book(root: Path, source: str = TINY) -> Path:
    (root / "book").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                   "  - file: book/tiny\n  - file: book/scorecard\n")
    (root / "book" / "intro.md").write_text("# Intro\n")
    (root / "notebooks" / "tiny.py").write_text(source)
    return root


@pytest.fixture(autouse=True)
def oes_kernel(tmp_path_factory, monkeypatch):
    """A kernelspec named ``oes`` running this Python, found first through ``$JUPYTER_PATH`` (what
    ``scripts/setup.sh`` installs into the environment; the tests must not depend on it), importing
    the ``oes`` of this checkout even when another checkout is the one installed."""
    d = tmp_path_factory.mktemp("jupyter") / "kernels" / book.DEFAULT_KERNEL
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (oes)", "language": "python",
        "env": {"PYTHONPATH": str(REPO)}}))                    # the kernel imports this checkout's oes
    monkeypatch.setenv("JUPYTER_PATH", str(d.parent.parent))
    monkeypatch.delenv("OES_KERNEL", raising=False)
    return d


@pytest.fixture
def tiny(tmp_path):
    return _tiny_book(tmp_path / "repo")


def _run(root, **kw):
    lines: list[str] = []
    recs = book.run_book(root, log=lines.append, **kw)
    return recs, lines


# ------------------------------------------------------------------ runner
def test_parse_param():
    assert parse_param("steps=40000") == ("steps", 40000)
    assert parse_param("lr=1e-2") == ("lr", 0.01)
    assert parse_param("steps=None") == ("steps", None)
    assert parse_param("steps=null") == ("steps", None)
    assert parse_param("flag=true") == ("flag", True)
    assert parse_param("flag=True") == ("flag", True)
    assert parse_param("images=['a', 'b']") == ("images", ["a", "b"])
    assert parse_param("image=astronaut") == ("image", "astronaut")
    assert parse_param("image='astronaut'") == ("image", "astronaut")
    for bad in ("steps", "=3", "2x=1"):
        with pytest.raises(BookError):
            parse_param(bad)


def test_toc_lists_notebooks_in_order(tiny):
    assert book.toc_files(tiny) == ["book/intro", "book/tiny", "book/scorecard"]
    assert [nb.name for nb in book.book_notebooks(tiny)] == ["tiny"]


def test_run_injects_parameters_caches_and_forces(tiny):
    page = tiny / "book" / "tiny.ipynb"
    light = {"light": True}
    recs, lines = _run(tiny, preset="smoke", params={"steps": 3, **light})
    assert [r.status for r in recs] == ["executed"]
    assert any(re.search(r"tiny: executed in \d+\.\d s", ln) for ln in lines), lines
    nb = json.loads(page.read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "steps = 3" in "".join(injected[0]["source"])
    assert "ran smoke 3" in json.dumps(nb)
    meta = nb["metadata"]["oes_book"]
    assert meta["parameters"] == {"preset": "smoke", "steps": 3, "light": True}
    assert meta["results"] == ["tiny.claims.json"]
    # claims went through the staging folder into book/_results, and onto the scorecard page
    claims = collect(tiny / "book" / "_results")
    assert claims.loc[0, "value"] == "3" and claims.loc[0, "holds"] == True  # noqa: E712
    assert claims.loc[0, "details"] == str(tiny.resolve())            # the kernel's cwd is the root
    card = (tiny / "book" / "scorecard.md").read_text()
    assert "| steps was injected | Fig. 0 | ✓ 3 |" in card and "[Tiny](tiny.ipynb)" in card
    assert ">✓ 1/1</td>" in card and '<a href="tiny.html"' in card      # the findings × presets grid
    assert "# Tiny ✓" in page.read_text()                               # the verdict in the page's title
    assert not list((tiny / "book" / "_results").glob(".staging*"))
    assert book.notebook_in_sync(book.book_notebooks(tiny)[0])          # run also wrote notebooks/tiny.ipynb

    stamp = page.stat().st_mtime_ns
    recs, lines = _run(tiny, preset="smoke", params={"steps": 3, **light})       # unchanged: cached
    assert [r.status for r in recs] == ["cached"] and "cached" in lines[0]
    assert page.stat().st_mtime_ns == stamp

    recs, _ = _run(tiny, preset="smoke", params={"steps": 4, **light})           # parameters changed: runs
    assert [r.status for r in recs] == ["executed"]
    assert "steps = 4" in page.read_text()

    recs, _ = _run(tiny, preset="smoke", params={"steps": 4, **light}, force=True)
    assert [r.status for r in recs] == ["executed"]

    (tiny / "notebooks" / "tiny.py").write_text(TINY.replace("ran", "ran again"))   # source changed
    recs, _ = _run(tiny, preset="smoke", params={"steps": 4, **light})
    assert [r.status for r in recs] == ["executed"]

    (tiny / "book" / "_results" / "tiny.claims.json").unlink()          # lost results: runs again
    recs, _ = _run(tiny, preset="smoke", params={"steps": 4, **light})
    assert [r.status for r in recs] == ["executed"]


def test_failure_names_cell_and_keeps_previous_output(tiny):
    _run(tiny, preset="smoke", params={"steps": 1})
    page = tiny / "book" / "tiny.ipynb"
    before = page.read_bytes()
    claims_before = (tiny / "book" / "_results" / "tiny.smoke.claims.json").read_bytes()
    with pytest.raises(BookError) as e:
        _run(tiny, preset="smoke", params={"steps": 2, "fail": True})
    msg = str(e.value)
    assert "notebook tiny failed in cell 4" in msg
    assert "line 34 of notebooks/tiny.py" in msg
    assert "RuntimeError: boom in tiny" in msg and "if fail:" in msg
    assert page.read_bytes() == before                                   # previous good page kept
    assert (tiny / "book" / "_results" / "tiny.smoke.claims.json").read_bytes() == claims_before
    assert (tiny / "book" / "_results" / "tiny.failed.ipynb").is_file()
    assert not list((tiny / "book").glob(".*partial*"))
    recs, _ = _run(tiny, preset="smoke", params={"steps": 1})           # the good run is still cached
    assert [r.status for r in recs] == ["cached"]


def test_run_rejects_bad_requests(tiny):
    with pytest.raises(BookError, match="no selected notebook's parameters cell defines"):
        _run(tiny, preset="smoke", params={"stepz": 1})
    with pytest.raises(BookError, match="--only nope"):
        _run(tiny, preset="smoke", only=["nope"])
    with pytest.raises(BookError, match="--preset"):
        _run(tiny, preset="huge")
    (tiny / "notebooks" / "tiny.py").write_text(TINY.replace(' tags=["parameters"]', ""))
    with pytest.raises(BookError, match="no code cell tagged 'parameters'"):
        _run(tiny, preset="smoke")
    assert not (tiny / "book" / "tiny.ipynb").exists()


def test_cli_reports_one_line_errors(tiny, monkeypatch, capsys):
    from oes.cli import main

    monkeypatch.chdir(tiny / "book")                                     # the root is found upwards
    assert main(["book", "run", "--preset", "smoke", "--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oes book: error: --only nope") and err.count("\n") == 1


def test_by_hand_jupytext_then_papermill(tiny, tmp_path):
    """The README's manual rerun: jupytext --to ipynb, then papermill with -p parameters, on the kernel
    named by the notebook's header (``oes``, as in the repository's notebooks)."""
    (tiny / "notebooks" / "tiny.py").write_text(TINY.replace("name: python3", f"name: {book.DEFAULT_KERNEL}"))
    exe = Path(sys.executable).parent
    jupytext = shutil.which("jupytext", path=str(exe)) or shutil.which("jupytext")
    papermill = shutil.which("papermill", path=str(exe)) or shutil.which("papermill")
    if not (jupytext and papermill):
        pytest.skip("jupytext / papermill command not on PATH")
    subprocess.run([jupytext, "--to", "ipynb", "notebooks/tiny.py"], cwd=tiny, check=True, capture_output=True)
    out = tmp_path / "out.ipynb"
    env = {**__import__("os").environ, "OES_RESULTS_DIR": str(tmp_path / "res")}
    subprocess.run([papermill, "notebooks/tiny.ipynb", str(out), "-p", "preset", "paper", "-p", "steps", "40000"],
                   cwd=tiny, check=True, capture_output=True, env=env)
    assert "ran paper 40000" in out.read_text()
    assert json.loads(out.read_text())["metadata"]["kernelspec"]["name"] == book.DEFAULT_KERNEL


# ------------------------------------------------------------------ claims
def test_scorecard_save_collect_and_page(tmp_path, monkeypatch):
    monkeypatch.setenv("OES_RESULTS_DIR", str(tmp_path / "res"))
    card = Scorecard("02_demo", preset="quick")
    card.claim("a", text="Sparse beats dense", paper="Table 2: 27.45 vs 24.71 dB", value=3.14159, holds=True)
    card.claim("b", text="Masking alone denoises | a bit", paper="Fig. 4", value="n/a", holds=None, details="skipped")
    card.claim("a", text="Sparse beats dense", paper="Table 2", value=2.5, holds=False)   # replaces "a"
    df = card.save()
    assert list(df["id"]) == ["a", "b"] and card.path == tmp_path / "res" / "02_demo.quick.claims.json"
    doc = json.loads(card.path.read_text())
    assert doc["schema"] == 1 and doc["preset"] == "quick" and doc["claims"][0]["value"] == "2.5"
    Scorecard("01_first", preset="smoke").save()                         # a notebook with no claims
    allc = collect(tmp_path / "res", order=["01_first", "02_demo"])
    assert list(allc["notebook"]) == ["02_demo", "02_demo"]
    page = tmp_path / "book" / "scorecard.md"
    page.parent.mkdir()
    (page.parent / "02_demo.ipynb").write_text("{}")
    write_scorecard_page(page, tmp_path / "res", titles={"02_demo": "Finding 2 — Sparse-DIP resists overfitting"})
    text = page.read_text()
    assert "- At `quick`: **0 of 1 tested claims hold** (1 not tested)." in text
    assert "| Sparse beats dense | Table 2 | ✗ 2.5 |" in text
    assert "Masking alone denoises \\| a bit" in text and "| – n/a |" in text and "skipped" in text
    assert "- ✗ [Finding 2 — Sparse-DIP resists overfitting](02_demo.ipynb): 0 of 1 tested claims hold" in text
    assert ">02 Finding 2</a>" in text and ">✗ 0/1</td>" in text and "#ffcdd2" in text      # grid: label, cell, red
    assert "No claims have been recorded yet" in render_scorecard(collect(tmp_path / "nothing"))


def test_claims_of_several_presets_and_the_old_layout(tmp_path):
    """NAME.PRESET.claims.json side by side; an old NAME.claims.json is read until its preset is rerun."""
    res = tmp_path / "res"
    res.mkdir()
    legacy = {"schema": 1, "notebook": "02_demo", "preset": "quick", "claims": [
        {"id": "a", "claim": "A", "paper": "p", "value": "1", "holds": True, "details": ""},
        {"id": "b", "claim": "B", "paper": "p", "value": "2", "holds": False, "details": ""}]}
    (res / "02_demo.claims.json").write_text(json.dumps(legacy))
    s = Scorecard("02_demo", preset="smoke", results=res)
    s.claim("a", text="A", paper="p", value=0, holds=False)
    s.save()
    df = collect(res)
    assert list(df["preset"]) == ["smoke", "quick", "quick"]             # PRESET_ORDER, both layouts read
    from oes.scorecard import migrate_legacy, tally, verdict
    assert tally(df) == {("02_demo", "smoke"): (0, 1, 1), ("02_demo", "quick"): (1, 2, 2)}
    assert [verdict(*tally(df)[k][:2]) for k in [("02_demo", "smoke"), ("02_demo", "quick")]] == ["✗", "~"]
    q = Scorecard("02_demo", preset="quick", results=res)                # a new quick run supersedes the old file
    q.claim("a", text="A", paper="p", value=5, holds=True)
    q.save()
    assert list(collect(res)["value"]) == ["0", "5"]
    assert migrate_legacy(res, "02_demo", "smoke") == [] and (res / "02_demo.claims.json").exists()
    assert migrate_legacy(res, "02_demo", "quick") == [res / "02_demo.claims.json"]
    assert sorted(p.name for p in res.iterdir()) == ["02_demo.quick.claims.json", "02_demo.smoke.claims.json"]


def test_scorecard_csv_grid_and_terminal(tmp_path, capsys):
    res = tmp_path / "book" / "_results"
    for preset, holds in [("smoke", [True, True]), ("quick", [True, False])]:
        c = Scorecard("01_x", preset=preset, results=res)
        for i, h in enumerate(holds):
            c.claim(f"c{i}", text=f"claim {i}", paper="Fig 1", value=i, holds=h)
        c.save()
    page = tmp_path / "book" / "scorecard.md"
    write_scorecard_page(page, res, titles={"01_x": "Finding 1 — a prior"})
    text = page.read_text()
    assert "{download}`scorecard.csv <_results/scorecard.csv>`" in text
    csv = __import__("pandas").read_csv(res / "scorecard.csv")
    assert len(csv) == 4 and set(csv["preset"]) == {"smoke", "quick"}
    grid = text[text.index('<table class="oes-grid"'):text.index("</table>")]
    assert grid.index(">smoke†<") < grid.index(">quick<")                # one column per preset, in order
    assert ">✓ 2/2</td>" in grid and ">~ 1/2</td>" in grid and "#c8e6c9" in grid and "#ffe0b2" in grid
    assert "- ~ Finding 1 — a prior: 1 of 2 tested claims hold at `quick`; smoke 2/2." in text
    from oes.cli import main
    assert main(["scorecard", "--results", str(res), "--full"]) == 0
    out = capsys.readouterr().out
    assert "smoke" in out and "quick" in out and "~ 1/2" in out and "✓ 2/2" in out and "claim 1" in out
    assert main(["scorecard", "--results", str(tmp_path / "none")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_stamp_verdict_is_idempotent():
    import nbformat
    import pandas as pd

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Finding 9 — x\n\ntext"),
                                         nbformat.v4.new_code_cell("1")])
    claims = pd.DataFrame([{"notebook": "n", "id": "a", "claim": "", "paper": "", "value": "", "preset": "quick",
                            "holds": h, "details": ""} for h in (True, False, None)])
    assert book.stamp_verdict(nb, "n", "quick", claims)
    assert nb.cells[0].source.startswith("# Finding 9 — x ~\n")
    assert "1 of 2 tested, 1 not tested" in nb.cells[1].source and len(nb.cells) == 3
    assert not book.stamp_verdict(nb, "n", "quick", claims)              # unchanged the second time
    claims.loc[1, "holds"] = True
    book.stamp_verdict(nb, "n", "quick", claims)
    assert nb.cells[0].source.startswith("# Finding 9 — x ✓\n") and len(nb.cells) == 3
    book.stamp_verdict(nb, "n", "paper", claims)                         # no claims at paper: no mark
    assert nb.cells[0].source.startswith("# Finding 9 — x\n") and len(nb.cells) == 2


def test_scorecard_validates():
    card = Scorecard("x", preset="smoke")
    with pytest.raises(ValueError):
        card.claim("bad id", text="t", paper="p", value=1, holds=True)
    with pytest.raises(ValueError):
        card.claim("ok", text="t", paper="p", value=1, holds="yes")
    with pytest.raises(ValueError):
        Scorecard("../escape", preset="smoke")
    import numpy as np
    assert card.claim("np", text="t", paper="p", value=np.float32(0.5), holds=np.bool_(True))["holds"] is True


# ------------------------------------------------------------------ paired notebooks
def test_sync_writes_clean_deterministic_notebooks(tiny):
    nb = book.book_notebooks(tiny)[0]
    with pytest.raises(BookError, match="out of sync"):
        book.sync_notebooks(tiny, check=True, log=lambda s: None)
    assert book.sync_notebooks(tiny, log=lambda s: None) == ["tiny"]
    first = nb.paired.read_bytes()
    assert book.sync_notebooks(tiny, log=lambda s: None) == []           # idempotent
    assert nb.paired.read_bytes() == first
    data = json.loads(first)
    assert data["metadata"]["kernelspec"]["name"] == "python3"
    assert all(c.get("outputs", []) == [] for c in data["cells"])
    nb.source.write_text(TINY.replace("boom", "bang"))
    assert not book.notebook_in_sync(nb)


def test_sync_sources_writes_install_cell_kernelspec_and_readme_links(tiny):
    (tiny / "_config.yml").write_text("repository:\n  url: https://github.com/someone/oes-book\n  branch: main\n")
    (tiny / "README.md").write_text(f"# R\n\n{book.README_BEGIN}\nold\n{book.README_END}\n\nrest\n")
    src = TINY.replace('# %% tags=["parameters"]', '# %% tags=["remove-cell"]\nimport sys\n\n'
                       'if "google.colab" in sys.modules:\n    pass\n\n# %% tags=["parameters"]')
    (tiny / "notebooks" / "tiny.py").write_text(src)
    log = []
    assert book.sync_notebooks(tiny, sources=True, log=log.append) == ["tiny"]
    text = (tiny / "notebooks" / "tiny.py").read_text()
    assert book.install_cell("https://github.com/someone/oes-book", "main") in text
    assert text.count('"google.colab" in sys.modules') == 1 and "#     name: oes" in text
    paired = json.loads((tiny / "notebooks" / "tiny.ipynb").read_text())
    assert paired["metadata"]["kernelspec"] == book.KERNELSPECS["oes"]
    code = "".join(paired["cells"][1]["source"])
    assert '    %pip install -q -c "$OES_KEEP" "$OES_INSTALL"' in code            # the magic, uncommented
    assert "git+https://github.com/someone/oes-book@main" in code
    readme = (tiny / "README.md").read_text()
    assert "blob/book/notebooks/tiny.ipynb" in readme and "old" not in readme and readme.endswith("rest\n")
    book.sync_notebooks(tiny, sources=True, check=True, log=log.append)          # in sync now
    assert book.sync_notebooks(tiny, sources=True, ref="0123abc", kernelspec="python3", log=log.append) == ["tiny"]
    text = (tiny / "notebooks" / "tiny.py").read_text()
    assert "@0123abc\"" in text and "#     name: python3" in text
    with pytest.raises(BookError, match="out of sync: notebooks/tiny.py"):       # the repository form is main/oes
        book.sync_notebooks(tiny, sources=True, check=True, log=log.append)
    book.sync_notebooks(tiny, log=log.append)                                   # `oes book run`'s sync keeps the pin
    assert "@0123abc\"" in (tiny / "notebooks" / "tiny.py").read_text()
    (tiny / "_config.yml").write_text("repository:\n  url: https://gitlab.com/x/y\n")
    with pytest.raises(BookError, match="should look like https://github.com/OWNER/REPO"):
        book.sync_notebooks(tiny, sources=True, log=log.append)
    with pytest.raises(BookError, match="is not a git ref"):
        book.install_cell("https://github.com/a/b", "main; rm -rf /")


def test_kernel_check(tmp_path, oes_kernel, monkeypatch):
    assert book.check_kernel(book.DEFAULT_KERNEL) == sys.executable
    with pytest.raises(BookError, match="no Jupyter kernel named 'nope'.*scripts/setup.sh"):
        book.check_kernel("nope")
    other = tmp_path / "other-python"                                  # a kernel that another environment owns
    other.write_text("#!/bin/sh\necho /some/other/env\n")
    other.chmod(0o755)
    spec = json.loads((oes_kernel / "kernel.json").read_text())
    spec["argv"][0] = str(other)
    (oes_kernel / "kernel.json").write_text(json.dumps(spec))
    with pytest.raises(BookError, match="not this environment's Python"):
        book.check_kernel(book.DEFAULT_KERNEL)
    assert book.check_kernel(book.DEFAULT_KERNEL, same_environment=False) == str(other)


# ------------------------------------------------------------------ this repository
def test_toc_entries_exist():
    entries = book.toc_files(REPO)
    assert entries[0] == "book/intro"
    notebooks = {f"book/{nb.name}" for nb in book.book_notebooks(REPO)}
    for e in entries:
        ok = (REPO / f"{e}.md").is_file() or e in notebooks or e == "book/scorecard"
        assert ok, f"_toc.yml: {e} is neither a Markdown page, a notebook with notebooks/{e[5:]}.py, nor generated"
    assert {"book/01_masking_prior", "book/02_overfitting", "book/scorecard"} <= set(entries)


def test_repo_notebooks_paired_and_runnable_by_hand():
    nbs = book.book_notebooks(REPO)
    assert nbs, "no notebook of _toc.yml has its source in notebooks/"
    for nb in nbs:
        assert book.notebook_in_sync(nb), f"{nb.paired.relative_to(REPO)} is out of sync: run `oes book sync`"
        data = json.loads(nb.paired.read_text())
        assert data["metadata"]["kernelspec"] == book.KERNELSPECS["oes"], f"{nb.name}: run `oes book sync`"
        import jupytext
        src = jupytext.read(nb.source)
        assert src.metadata.get("kernelspec", {}).get("name") == "oes", \
            f"{nb.source.name}: the jupytext header's kernelspec must be oes (run `oes book sync`)"
        params = [c for c in src.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and re.search(r"^preset\s*=\s*['\"]smoke['\"]", params[0].source, re.M), nb.name
        assert "google.colab" in src.cells[0].source + src.cells[1].source, f"{nb.name}: Colab install cell first"


def test_config():
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert cfg["only_build_toc_files"] is True
    assert cfg["repository"]["branch"] == "main" and cfg["repository"]["url"].startswith("https://github.com/")
    assert cfg["launch_buttons"]["binderhub_url"] and cfg["launch_buttons"]["colab_url"]
    assert cfg["html"]["use_repository_button"] is True
    assert "Ghosh" in cfg["author"] and "companion" in cfg["author"]
    assert cfg["sphinx"]["local_extensions"] == {"oes_launch": "book/_ext"}
    assert (REPO / "notebooks" / "jupytext.toml").is_file()


def test_mathjax_is_local_and_pinned():
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]["config"]
    assert cfg["mathjax_path"] == "mathjax/tex-svg-full.js" and cfg["html_static_path"] == ["book/_static"]
    js = REPO / book.MATHJAX_FILE
    want = re.search(r"sha256 ([0-9a-f]{64})", (js.parent / "PROVENANCE.txt").read_text()).group(1)
    assert hashlib.sha256(js.read_bytes()).hexdigest() == want
    assert "Apache License" in (js.parent / "LICENSE").read_text()


def test_launch_extension_rewrites_to_paired_notebook(tmp_path):
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    try:
        import oes_launch
    finally:
        sys.path.pop(0)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "x.ipynb").write_text("{}")
    assert oes_launch.launch_target("book/x", tmp_path) == ("book/x.ipynb", "notebooks/x.ipynb")
    assert oes_launch.launch_target("book/intro", tmp_path) is None
    buttons = [{"type": "group", "buttons": [
        {"url": "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/x.ipynb"},
        {"url": "https://colab.research.google.com/github/o/r/blob/main/book/x.ipynb"}]},
        {"url": "https://github.com/o/r"}]
    assert oes_launch.rewrite_urls(buttons, "book/x.ipynb", "notebooks/x.ipynb") == 2
    assert buttons[0]["buttons"][1]["url"].endswith("/blob/main/notebooks/x.ipynb")
    assert oes_launch.rewrite_ref(buttons, "0123abcd") == 2                # $OES_LAUNCH_REF: the pinned commit
    assert buttons[0]["buttons"][0]["url"] == \
        "https://mybinder.org/v2/gh/o/r/0123abcd?urlpath=lab/tree/notebooks/x.ipynb"
    assert buttons[0]["buttons"][1]["url"] == \
        "https://colab.research.google.com/github/o/r/blob/0123abcd/notebooks/x.ipynb"
    assert buttons[1]["url"] == "https://github.com/o/r"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


@pytest.mark.skipif(not (REPO / "_build" / "html" / "index.html").is_file(),
                    reason="book not built (scripts/test.sh builds it and checks these links in Chromium)")
def test_rendered_launch_links_open_committed_notebooks():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from check_html import launch_path
    finally:
        sys.path.pop(0)
    for nb in book.book_notebooks(REPO):
        html = REPO / "_build" / "html" / "book" / f"{nb.name}.html"
        if not html.is_file():
            continue
        p = _Links()
        p.feed(html.read_text())
        paths = [launch_path(h) for h in p.hrefs if launch_path(h) is not None]
        assert len(paths) >= 2, f"{html.name}: no Colab/Binder buttons"
        assert set(paths) == {f"notebooks/{nb.name}.ipynb"}, paths
        assert (REPO / paths[0]).is_file()


def test_book_run_takes_the_plan_options():
    from oes.cli import build_parser

    a = build_parser().parse_args(["book", "run", "--preset", "smoke", "--executor", "processes", "--workers", "2",
                                   "--batch", "4", "--kernel", "oes"])
    assert (a.executor, a.workers, a.batch, a.kernel) == ("processes", 2, 4, "oes")
