"""The book's notebooks, checked as files: every chapter is in the table of contents, starts with
the Colab set-up cell (repository URL from _config.yml), has a figure, a saved widget demo, and
no error output. (nbval re-runs them; tests/test_book_browser.py opens the built pages.)"""
from __future__ import annotations

import json
import re

import pytest

from book_helpers import ROOT, config, setup_cell, toc_chapters

CHAPTERS = toc_chapters()
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def load(chapter: str) -> dict:
    return json.loads((ROOT / f"{chapter}.ipynb").read_text())


def test_every_notebook_is_in_the_table_of_contents_and_numbered_in_order():
    on_disk = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
    assert sorted(c.split("/")[-1] for c in CHAPTERS) == on_disk
    numbers = [int(c.split("/")[-1].split("_")[0]) for c in CHAPTERS]
    assert numbers == list(range(1, len(CHAPTERS) + 1))


def test_launch_button_and_repository_are_configured_once():
    cfg = config()
    assert cfg["repository"]["url"].startswith("https://")
    assert cfg["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_shape(chapter):
    nb = load(chapter)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == setup_cell(config()["repository"]["url"])
    sources = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert "import tfm" in sources or "from tfm" in sources
    assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# ")
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"], "stored error output"
    assert any("image/png" in o.get("data", {}) for o in outputs), "no matplotlib figure"
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    assert state, "no saved widget state: run book/execute.py on the chapter"
    widget_cells = [c for c in code if any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                                           for o in c.get("outputs", []))]
    assert widget_cells, "no widget demo"
    for cell in widget_cells:
        assert "nbval-ignore-output" in cell["metadata"].get("tags", []), "widget cell must be nbval-ignore-output"
    assert "Check yourself" in sources and "<details>" in sources
    assert all(c.get("execution_count") for c in code), "every code cell must have been executed"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_links_its_own_graded_exercises(chapter):
    """The closing paragraph names each exercise of the chapter by its real title and opens it in
    Colab from the configured repository (a renamed or added exercise fails here)."""
    import sys

    sys.path.insert(0, str(ROOT))
    import tfm_exercises as exercises

    repo = config()["repository"]
    number = int(chapter.split("/")[-1][:2])
    names = [n for n in exercises.exercise_names() if int(n[:2]) == number]
    assert names, f"chapter {number} has no exercise"
    markdown = "\n".join("".join(c["source"]) for c in load(chapter)["cells"] if c["cell_type"] == "markdown")
    for name in names:
        link = exercises.colab_link(repo["url"], name, repo["branch"])
        assert f"*{exercises.exercise_title(name)}* ([open it in Colab]({link})" in markdown, name
        assert (ROOT / "exercises" / "student" / f"{name}.ipynb").is_file()


# ---- machine-independent outputs (book/README.md, "Outputs that hold on every machine") ----

def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _is_widget_cell(cell: dict) -> bool:
    return any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.get("outputs", []))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_unchecked_output_is_asserted_instead(chapter):
    """A cell whose output nbval does not compare (its digits depend on the CPU) must check what the
    prose claims about it with asserts; only widget cells (their figures are compared in the browser
    test) are exempt."""
    unchecked = [c for c in load(chapter)["cells"] if c["cell_type"] == "code" and "nbval-ignore-output" in _tags(c)]
    for cell in unchecked:
        source = "".join(cell["source"])
        assert _is_widget_cell(cell) or "assert " in source or "assert_close(" in source, (
            f"nbval-ignore-output cell without an assertion:\n{source[:300]}")


# ---- the diagram, the live widgets and links that work anywhere (issue 9) ----

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_opens_with_the_diagram_not_the_text_strip(chapter):
    nb = load(chapter)
    assert " → feed-forward → " not in "".join(nb["cells"][0]["source"]), "the old text breadcrumb is back"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    diagram = code[1]
    assert "where_we_are(" in "".join(diagram["source"]), "the cell after the set-up cell draws the diagram"
    assert any("image/png" in o.get("data", {}) for o in diagram.get("outputs", [])), "the diagram was not stored"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_widgets_are_linked_in_the_browser(chapter):
    """Every widget demo is a tfm.playground: stored figures in Stacks, each control jslinked to them,
    so the static book responds with no kernel."""
    nb = load(chapter)
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and _is_widget_cell(c)]
    for cell in cells:
        assert "playground(" in "".join(cell["source"]), "a widget demo that is not a tfm.playground"
    models = [m["model_name"] for m in nb["metadata"]["widgets"][WIDGET_STATE]["state"].values()]
    assert models.count("StackModel") >= 1 and models.count("LinkModel") >= 1, "no linked Stack in the saved state"
    assert models.count("ImageModel") >= 2, "fewer than two stored figures"


def test_chapters_stay_small():
    size = sum(p.stat().st_size for p in (ROOT / "chapters").glob("*.ipynb"))
    assert size < 25 * 2**20, f"chapters/ holds {size / 2**20:.1f} MB (limit 25 MB)"


LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_links_work_in_the_book_in_jupyter_and_in_colab(chapter):
    """Links to the package are absolute (the repository from _config.yml, files that exist); a link to
    another chapter is relative (the book, Jupyter) and followed by its Colab link (a notebook opened
    alone in Colab has nothing beside it)."""
    repo = config()["repository"]
    blob = f"{repo['url']}/blob/{repo['branch']}/"
    colab = f"https://colab.research.google.com/github/{repo['url'].removeprefix('https://github.com/')}/blob/{repo['branch']}/"
    for cell in load(chapter)["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        for label, url in LINK.findall(text):
            assert not url.startswith(("../", "./", "/")), f"relative path {url} breaks in Colab"
            if url.startswith(blob):
                path = url.removeprefix(blob).split("#")[0]
                assert (ROOT / path).exists(), f"{url}: no {path} in the repository"
            elif url.startswith(colab):
                assert (ROOT / url.removeprefix(colab)).exists(), f"{url}: no such notebook"
            elif not url.startswith(("https://", "http://", "#")):
                name = url.split("#")[0]
                assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", name), f"link {url}: not a chapter notebook"
                assert (ROOT / "chapters" / name).exists(), f"link {url}: no such chapter"
                assert f"({colab}chapters/{name})" in text, f"link {url} has no Colab link beside it"
