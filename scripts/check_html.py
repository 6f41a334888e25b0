#!/usr/bin/env python
"""Check the built book in headless Chromium (Debian's ``chromium``).

For every page of ``_toc.yml`` this loads ``_build/html/<page>.html`` from disk in headless
Chromium, lets its scripts run (``--dump-dom`` after a virtual-time budget) and checks the
DOM that a reader would get:

* the page loads and has a title;
* every ``<img>`` has a ``data:`` source or a file that exists; a notebook page has at
  least one figure among its cell outputs;
* no Python traceback: no ``Traceback (most recent call last)``, no error output cell,
  no ``SomethingError:`` line in a cell output;
* equations: MathJax is loaded from the book itself (``_static``), not a CDN, and a page
  with math has typeset it (``mjx-container``) without TeX errors;
* launch buttons: every Colab / Binder link of a notebook page opens
  ``notebooks/NAME.ipynb`` and that file exists in the repository (at ``$OES_LAUNCH_REF`` when set);

* the scorecard at a phone's and a desktop's width: the page is loaded at 400 px and at 1280 px
  wide; its findings × presets grid must lie fully inside the window and the page must not scroll
  sideways (``document.documentElement.scrollWidth`` ≤ the window's width; wide claim tables may
  scroll inside their own box); a screenshot at each width is taken and must not be blank.

``--screenshot DIR`` also saves a PNG of each page, and keeps the scorecard's two screenshots
(``scorecard-400.png``, ``scorecard-1280.png``). Exit status 1 when a check fails.

Usage: ``python scripts/check_html.py [--root .] [--screenshot DIR]``
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
         "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--hide-scrollbars", "--allow-file-access-from-files"]
ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*)?(Error|Exception)(: |$)", re.M)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}


class Page(HTMLParser):
    """What the checks need from a DOM: images, links, scripts, output text, MathJax."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, set[str]]] = []
        self.imgs: list[tuple[str, bool]] = []       # (src, inside a cell output)
        self.links: list[str] = []
        self.scripts: list[str] = []
        self.title = ""
        self.h1 = 0
        self.mjx = 0
        self.mjx_errors: list[str] = []
        self.math = 0
        self.error_outputs = 0
        self.output_text: list[str] = []
        self.text: list[str] = []
        self._in_title = False

    def _in(self, cls: str) -> bool:
        return any(cls in c for _, c in self.stack)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag == "img":
            self.imgs.append((a.get("src") or "", self._in("cell_output")))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "title":
            self._in_title = True
        elif tag == "h1":
            self.h1 += 1
        elif tag == "mjx-container":
            self.mjx += 1
        if "data-mjx-error" in a:
            self.mjx_errors.append(a.get("data-mjx-error") or "?")
        if "math" in classes:
            self.math += 1
        if classes & {"traceback", "output_error"} or ("output" in classes and "error" in classes):
            self.error_outputs += 1
        if tag not in VOID:
            self.stack.append((tag, classes))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if any(t in ("script", "style") for t, _ in self.stack):
            return
        self.text.append(data)
        if self._in("cell_output"):
            self.output_text.append(data)


def chromium_binary(explicit: str | None) -> str:
    for c in [explicit, os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]:
        if c and shutil.which(c):
            return shutil.which(c)
    raise SystemExit("check_html: no chromium found: install Debian's chromium (scripts/setup.sh --browser)")


def run_chromium(binary: str, profile: Path, url: str, extra: list[str], timeout: float) -> subprocess.CompletedProcess:
    cmd = [binary, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=15000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def launch_path(href: str) -> str | None:
    """The repository path a Colab or Binder link opens, else None."""
    u = urlparse(href)
    if u.netloc.endswith("colab.research.google.com"):
        m = re.match(r"^/github/[^/]+/[^/]+/blob/[^/]+/(.+)$", u.path)
        return unquote(m.group(1)) if m else ""
    if "binder" in u.netloc:
        urlpath = parse_qs(u.query).get("urlpath", [""])[0]
        m = re.match(r"^(?:lab/tree|tree|notebooks)/(.+)$", urlpath)
        return unquote(m.group(1)) if m else ""
    return None


def check_page(entry: str, html: Path, dom: str, root: Path, is_notebook: bool) -> list[str]:
    p = Page()
    p.feed(dom)
    problems = []
    if not p.title.strip() or p.h1 == 0:
        problems.append("no title / <h1>: the page did not load")
    text = " ".join(p.text)
    if "Traceback (most recent call last)" in text:
        problems.append("shows a Python traceback")
    if p.error_outputs:
        problems.append(f"{p.error_outputs} error output(s) in cells")
    out_text = "\n".join(p.output_text)
    errs = [m.group(0).strip() for m in ERROR_LINE.finditer(out_text)]
    if errs:
        problems.append(f"error text in a cell output: {errs[0]!r}")
    figures = 0
    for src, in_output in p.imgs:
        if src.startswith("data:image"):
            figures += in_output
            continue
        if re.match(r"^[a-z]+://", src):
            continue  # external badges are not figures
        target = (html.parent / unquote(src.split("?")[0].split("#")[0])).resolve()
        if not target.is_file() or target.stat().st_size == 0:
            problems.append(f"image {src} does not exist")
        elif in_output:
            figures += 1
    if is_notebook and figures == 0:
        problems.append("no figure in the notebook's outputs")
    mj = [s for s in p.scripts if "mathjax" in s.lower()]
    if any(re.match(r"^(https?:)?//", s) for s in mj):
        problems.append(f"MathJax is loaded from a CDN: {mj}")
    if p.math and not mj:
        problems.append(f"{p.math} equation(s) but no MathJax script")
    elif p.math and p.mjx == 0:
        problems.append(f"{p.math} equation(s) not typeset by MathJax")
    if p.mjx_errors:
        problems.append(f"TeX errors: {p.mjx_errors[:3]}")
    launches = [(h, launch_path(h)) for h in p.links if launch_path(h) is not None]
    for href, path in launches:
        if not path:
            problems.append(f"launch link with no notebook path: {href}")
        elif not path.startswith("notebooks/") or not path.endswith(".ipynb"):
            problems.append(f"launch link opens {path}, not notebooks/NAME.ipynb")
        elif not (root / path).is_file():
            problems.append(f"launch link opens {path}, which does not exist in the repository")
    ref = os.environ.get("OES_LAUNCH_REF", "").strip()
    if ref:                                  # the publishing workflow pins the launch buttons to a commit
        off = [h for h, _ in launches if f"/blob/{ref}/" not in h and f"/{ref}?" not in h]
        if off:
            problems.append(f"launch link not at OES_LAUNCH_REF={ref}: {off[0]}")
    if is_notebook:
        name = entry.split("/")[-1]
        kinds = {("colab" if "colab" in h else "binder") for h, path in launches if path == f"notebooks/{name}.ipynb"}
        if kinds != {"colab", "binder"}:
            problems.append(f"expected Colab and Binder buttons opening notebooks/{name}.ipynb, found {sorted(kinds)}")
    summary = (f"{figures} figure(s), {p.mjx} equation(s) typeset, "
               f"{len(launches)} launch link(s)")
    return problems if problems else [f"ok: {summary}"]


MEASURE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const d = document.documentElement, w = window.innerWidth;
  const grid = document.querySelector("table.oes-grid");
  const r = grid ? grid.getBoundingClientRect() : null;
  const cell = grid ? grid.querySelector("td") : null;
  const boxed = ".pst-scrollable-table-container, .table-wrapper, pre, .highlight, mjx-container";
  const wide = [...document.querySelectorAll("main *, article *")]
    .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest(boxed) && e.getClientRects().length)
    .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? "." + String(e.className).split(" ")[0] : ""));
  parent.postMessage(JSON.stringify({
    width: w, scroll_width: d.scrollWidth, grid: !!grid, grid_left: r ? r.left : null, grid_right: r ? r.right : null,
    grid_font_px: cell ? parseFloat(getComputedStyle(cell).fontSize) : null, wide: wide}), "*");
}, 300));
</script>"""
# Headless Chromium will not make a window narrower than 500 px, so the page is measured and shown in an
# iframe of the wanted width; the page posts its measurements to this frame, which writes them into its DOM.
FRAME = """<!DOCTYPE html><html><body style="margin:0;background:#fff">
<iframe src="{src}" style="width:{width}px;height:{height}px;border:0;display:block"></iframe>
<script>window.addEventListener("message", e => document.body.setAttribute("data-oes-measure", e.data));</script>
</body></html>"""


def check_scorecard(binary: str, profile: Path, html: Path, shots: Path, timeout: float) -> list[str]:
    """Load the scorecard at 400 and 1280 px wide: measure it (see the module docstring), screenshot it."""
    import json

    import html as htmllib

    problems = []
    probe = html.with_name(f".oes-measure-{html.name}")        # same folder: the page's relative links work
    frame = html.with_name(f".oes-frame-{html.name}")
    text = html.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", MEASURE + "</body>", 1), encoding="utf-8")
    height = 2400
    try:
        for width in (400, 1280):
            size = f"--window-size={max(width, 500)},{height}"
            frame.write_text(FRAME.format(src=probe.name, width=width, height=height), encoding="utf-8")
            r = run_chromium(binary, profile, frame.as_uri(), ["--dump-dom", size], timeout)
            m = re.search(r'data-oes-measure="([^"]*)"', r.stdout)
            if not m:
                problems.append(f"{width} px: the page did not report its measurements")
                continue
            meas = json.loads(htmllib.unescape(m.group(1)))
            if meas["width"] != width:
                problems.append(f"{width} px: the page saw a {meas['width']} px wide window")
            if not meas["grid"]:
                problems.append(f"{width} px: no findings × presets grid (table.oes-grid)")
            elif meas["grid_left"] < 0 or meas["grid_right"] > meas["width"] + 1:
                problems.append(f"{width} px: the grid spans {meas['grid_left']:.0f}–{meas['grid_right']:.0f} px, "
                                f"outside the {meas['width']} px window")
            if meas["scroll_width"] > meas["width"] + 1:
                problems.append(f"{width} px: the page scrolls sideways (scrollWidth {meas['scroll_width']} > "
                                f"{meas['width']}); too wide: {meas['wide']}")
            if meas["grid_font_px"] is not None and meas["grid_font_px"] < 11:
                problems.append(f"{width} px: grid text is {meas['grid_font_px']} px, too small to read")
            png = shots / f"scorecard-{width}.png"
            frame.write_text(FRAME.format(src=html.name, width=width, height=height), encoding="utf-8")
            run_chromium(binary, profile, frame.as_uri(), [f"--screenshot={png}", size,
                                                           "--run-all-compositor-stages-before-draw"], timeout)
            blank = _blank(png, width)
            if blank:
                problems.append(f"{width} px: screenshot {blank}")
            print(f"     scorecard at {width} px: window {meas['width']} px, page {meas['scroll_width']} px wide, "
                  f"grid {meas['grid_left']:.0f}–{meas['grid_right']:.0f} px, grid text {meas['grid_font_px']} px; "
                  f"screenshot {png}")
    finally:
        probe.unlink(missing_ok=True)
        frame.unlink(missing_ok=True)
    return problems


def _blank(png: Path, width: int) -> str:
    """'' when ``png`` exists and shows something (cropped to ``width`` px); else what is wrong."""
    if not png.is_file() or png.stat().st_size == 0:
        return "was not written"
    try:
        from PIL import Image
        import numpy as np

        img = Image.open(png)
        if img.width > width:                 # the 500 px minimum window around a 400 px frame
            img = img.crop((0, 0, width, img.height))
            img.save(png)
        a = np.asarray(img.convert("L"), dtype=float)
    except Exception as e:  # a PNG that does not decode
        return f"does not decode ({type(e).__name__})"
    return "is blank" if a.std() < 2 else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=".", help="the repository (with _toc.yml)")
    ap.add_argument("--html", default=None, help="the built site (default ROOT/_build/html)")
    ap.add_argument("--screenshot", metavar="DIR", default=None, help="also save a PNG of each page here")
    ap.add_argument("--chromium", default=None, help="browser binary (default: chromium)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per page")
    a = ap.parse_args(argv)

    root = Path(a.root).resolve()
    sys.path.insert(0, str(root))
    from oes.book import book_notebooks, toc_files

    html_dir = Path(a.html).resolve() if a.html else root / "_build" / "html"
    if not (html_dir / "index.html").is_file():
        print(f"check_html: {html_dir}/index.html not found: run `oes book build` first", file=sys.stderr)
        return 1
    binary = chromium_binary(a.chromium)
    notebooks = {f"book/{nb.name}" for nb in book_notebooks(root)}
    shots = Path(a.screenshot) if a.screenshot else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    failed = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="oes-chromium-") as profile:
        for entry in toc_files(root):
            html = html_dir / f"{entry}.html"
            if not html.is_file():
                print(f"FAIL {entry}: {html.relative_to(html_dir)} was not built")
                failed += 1
                continue
            url = html.as_uri()
            try:
                r = run_chromium(binary, Path(profile), url, ["--dump-dom"], a.timeout)
            except subprocess.TimeoutExpired:
                print(f"FAIL {entry}: chromium timed out after {a.timeout:.0f} s")
                failed += 1
                continue
            if r.returncode != 0 or "<html" not in r.stdout.lower():
                tail = " ".join(r.stderr.split())[-300:]
                print(f"FAIL {entry}: chromium exit status {r.returncode}, no DOM ({tail})")
                failed += 1
                continue
            results = check_page(entry, html, r.stdout, root, entry in notebooks)
            bad = not (len(results) == 1 and results[0].startswith("ok"))
            failed += bad
            for line in results:
                print(f"{'FAIL' if bad else 'ok  '} {entry}: {line.removeprefix('ok: ')}")
            if shots:
                png = shots / (entry.replace("/", "__") + ".png")
                run_chromium(binary, Path(profile), url, [f"--screenshot={png}", "--window-size=1280,2000",
                                                          "--run-all-compositor-stages-before-draw"], a.timeout)
                print(f"     screenshot {png}" if png.is_file() else f"     (no screenshot for {entry})")
        card = html_dir / "book" / "scorecard.html"
        if "book/scorecard" in toc_files(root) and card.is_file():
            keep = shots or Path(tempfile.mkdtemp(prefix="oes-scorecard-shots-"))
            problems = check_scorecard(binary, Path(profile), card, keep, a.timeout)
            for line in problems:
                print(f"FAIL book/scorecard (narrow/wide): {line}")
            failed += bool(problems)
            if not problems:
                print("ok   book/scorecard (narrow/wide): readable at 400 px and 1280 px")
            if not shots:
                shutil.rmtree(keep, ignore_errors=True)
    n = len(toc_files(root))
    print(f"check_html: {n - failed} of {n} pages passed in {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
