"""Open every chapter of the built HTML book in headless Chromium, served on localhost with no
internet: no console errors, every figure loads, the widgets render, the Colab launch button is
there, and the sidebar lists every chapter. Screenshots go to _build/screenshots/.

Needs `make book` first (`make test` does it) and Debian's chromium (`make chromium`).
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from book_helpers import ROOT, toc_chapters

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHAPTERS = toc_chapters()
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update"]


def _missing() -> str | None:
    if not (HTML / "index.html").exists():
        return "the book is not built: run `make book`"
    if not Path(CHROMIUM).exists():
        return "chromium is not installed: run `make chromium`"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[book]'"
    return None


if (reason := _missing()) is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _title(chapter: str) -> str:
    """The chapter's H1, as the sidebar shows it: "1. Tokenization"."""
    nb = json.loads((ROOT / f"{chapter}.ipynb").read_text())
    return "".join(nb["cells"][0]["source"]).splitlines()[0].lstrip("# ").strip()


TITLES = [_title(c) for c in CHAPTERS if (ROOT / f"{c}.ipynb").exists()]


def _has_widgets(chapter: str) -> bool:
    return "application/vnd.jupyter.widget-state+json" in (ROOT / f"{chapter}.ipynb").read_text()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page(site, browser, chapter):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    page.goto(f"{site}/{chapter}.html", wait_until="load")
    if _has_widgets(chapter):
        page.wait_for_selector(".jupyter-widgets", timeout=20_000)
    page.wait_for_timeout(500)  # let MathJax and the widget manager finish
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{chapter.split('/')[-1]}.png"), full_page=True)

    assert not problems, "\n".join(problems)
    images = page.evaluate("Array.from(document.images).map(i => [i.currentSrc.slice(0, 80), i.complete, i.naturalWidth])")
    figures = [img for img in images if "logo" not in img[0]]
    assert figures, "no figure on the page"
    broken = [src for src, complete, width in images if not (complete and width > 0)]
    assert not broken, f"images that did not load: {broken}"
    if _has_widgets(chapter):
        assert page.locator(".jupyter-widgets").count() > 0, "widgets did not render"
    assert page.locator("a[href*='colab.research.google.com']").count() > 0, "no Open in Colab button"
    sidebar = page.locator("nav.bd-docs-nav a.reference.internal")
    listed = [" ".join(sidebar.nth(i).inner_text().split()) for i in range(sidebar.count())]
    missing = [title for title in TITLES if title not in listed]
    assert not missing, f"sidebar does not list {missing}; it lists {listed}"
    page.close()


def test_performance_appendix_page(site, browser):
    """The appendix (a Markdown page, not a chapter): the generated table, its plot, no errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(f"{site}/book/performance.html", wait_until="load")
    page.wait_for_timeout(500)
    assert not problems, "\n".join(problems)
    plot = [i for i in page.evaluate("Array.from(document.images).map(i => [i.currentSrc, i.complete, i.naturalWidth])")
            if "performance_ratios" in i[0]]
    assert plot and all(complete and width > 0 for _, complete, width in plot), plot
    text = page.locator("main").inner_text()
    assert "KV cache speedup" in text and "nanoGPT" in text and "torchrun" in text
    page.close()


# ---- every control of every widget, operated with no kernel (tfm.playground) ----

def _shown(playground) -> tuple[str, str]:
    """What a playground shows now: its state caption and the source of its figure."""
    caption = playground.locator(".tfm-state")
    image = playground.locator(".tfm-state ~ img, .widget-image").first
    return " ".join(caption.first.inner_text().split()), image.get_attribute("src") or ""


def _wait_for_change(page, playground, before: tuple[str, str]) -> tuple[str, str]:
    for _ in range(40):
        now = _shown(playground)
        if now != before:
            return now
        page.wait_for_timeout(50)
    return _shown(playground)


def _operate(page, control) -> str:
    """Move one control to another value, as a reader would; returns the label it now shows."""
    select = control.locator("select")
    if select.count():                                        # dropdown
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.selectedIndex")
        select.select_option(index=(current + 1) % len(options))
        return options[(current + 1) % len(options)].strip()
    handle = control.locator(".noUi-handle")
    if handle.count():                                        # slider, by keyboard
        readout = control.locator(".widget-readout")
        before = readout.inner_text().strip()
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(100)
        if readout.inner_text().strip() == before:            # it was at the right end
            page.keyboard.press("ArrowLeft")
            page.wait_for_timeout(100)
        return readout.inner_text().strip()
    buttons = control.locator("button")                       # toggle buttons
    for i in range(buttons.count()):
        if "mod-active" not in (buttons.nth(i).get_attribute("class") or ""):
            buttons.nth(i).click()
            return buttons.nth(i).inner_text().strip()
    raise AssertionError("a control that is neither a dropdown, a slider nor toggle buttons")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_control_changes_its_figure_with_no_kernel(site, browser, chapter):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site}/{chapter}.html", wait_until="load")
    page.wait_for_selector(".tfm-playground .tfm-state", timeout=20_000)
    playgrounds = page.locator(".tfm-playground")
    assert playgrounds.count() >= 1, "no playground widget on the page"
    for p in range(playgrounds.count()):
        pg = playgrounds.nth(p)
        pg.scroll_into_view_if_needed()
        controls = pg.locator(".tfm-control")
        assert controls.count() >= 1
        for c in range(controls.count()):
            control = controls.nth(c)
            name = " ".join(control.locator(".widget-label").first.inner_text().split())
            before = _shown(pg)
            label = _operate(page, control)
            after = _wait_for_change(page, pg, before)
            where = f"playground {p}, control {name!r} -> {label!r}"
            assert after[0] != before[0], f"{where}: the caption did not change ({before[0]!r})"
            assert after[1] != before[1], f"{where}: the figure did not change"
            assert f"{name} = {' '.join(label.split())}" in after[0], f"{where}: the figure shows {after[0]!r}"
    loaded = page.evaluate("Array.from(document.querySelectorAll('.tfm-playground img')).every(i => i.complete && i.naturalWidth > 0)")
    assert loaded, "a stored figure did not load"
    assert not errors, errors
    page.close()
