"""The course's graded exercises, one or two per chapter, graded with otter-grader.

Layout (see exercises/README.md):

* ``source/NN_name.ipynb``: the one source of an exercise: solution and tests in otter's
  assign format. Edit only these.
* ``student/NN_name.ipynb`` and ``student/tests/``: what students get (generated, no solutions,
  public tests only).
* ``autograder/tests/`` and ``autograder/NN_name-autograder.zip``: every test, hidden ones
  included (generated).

Commands: ``python -m exercises.assign`` (generate), ``python -m exercises.grade`` (one
notebook), ``python -m exercises.grade_all`` (a folder, into a CSV gradebook).
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # the repository (the directory that holds tfm/ and exercises/)
SOURCE_DIR = HERE / "source"
STUDENT_DIR = HERE / "student"
STUDENT_TESTS = STUDENT_DIR / "tests"
AUTOGRADER_DIR = HERE / "autograder"
AUTOGRADER_TESTS = AUTOGRADER_DIR / "tests"

# The grader every notebook installs in Colab; constraints.txt pins the same version.
OTTER_VERSION = "7.0.0"


def student_grader():
    """otter's grader for a student notebook: ``grader.check("question")`` runs the public tests.

    The tests live in ``exercises/student/tests`` next to this package, wherever it is installed
    (the repository, or site-packages in Colab), so the notebook can be opened from anywhere.
    """
    import otter

    return otter.Notebook(tests_dir=str(STUDENT_TESTS))


def setup_cell(repository_url: str) -> str:
    """The first code cell of every exercise: in Colab, install tfm (which ships these checks) and
    otter-grader; elsewhere do nothing. ``repository_url`` comes from _config.yml."""
    return (
        "# Set-up: in Colab, install tfm (it ships the exercise checks) and the grader; "
        "elsewhere they are already installed.\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "tfm[data] @ git+{repository_url}" "otter-grader=={OTTER_VERSION}"'
    )


def repository_url() -> str:
    """The repository URL from _config.yml (``repository.url``): the one place it is written."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"]


def colab_link(repository_url: str, name: str, branch: str = "main") -> str:
    """Where the student notebook of exercise ``name`` opens in Colab (straight from GitHub)."""
    owner_repo = repository_url.removeprefix("https://github.com/").rstrip("/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/exercises/student/{name}.ipynb"


def exercise_title(name: str) -> str:
    """The exercise's title without its number: '# Exercise 9: the causal mask' -> 'the causal mask'."""
    import nbformat

    nb = nbformat.read(str(SOURCE_DIR / f"{name}.ipynb"), as_version=4)
    first = next(c.source for c in nb.cells if c.cell_type == "markdown").splitlines()[0]
    return first.split(":", 1)[1].strip()


def exercise_names() -> list[str]:
    """Every exercise, e.g. '03_positional_encoding', in chapter order."""
    return sorted(p.stem for p in SOURCE_DIR.glob("*.ipynb"))
