"""The book's notebooks, checked as files: every chapter is in the table of contents, starts with
the Colab set-up cell (repository URL from _config.yml), has a figure, a saved widget demo, and
no error output. (nbval re-runs them; tests/test_book_browser.py opens the built pages.)"""
from __future__ import annotations

import json

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
    import exercises

    repo = config()["repository"]
    number = int(chapter.split("/")[-1][:2])
    names = [n for n in exercises.exercise_names() if int(n[:2]) == number]
    assert names, f"chapter {number} has no exercise"
    markdown = "\n".join("".join(c["source"]) for c in load(chapter)["cells"] if c["cell_type"] == "markdown")
    for name in names:
        link = exercises.colab_link(repo["url"], name, repo["branch"])
        assert f"*{exercises.exercise_title(name)}* ([open it in Colab]({link})" in markdown, name
        assert (ROOT / "exercises" / "student" / f"{name}.ipynb").is_file()
