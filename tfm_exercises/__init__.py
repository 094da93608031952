"""The course's graded exercises: the student's checks, the tests, and the grader.

Layout (see exercises/README.md):

* ``exercises/source/NN_name.ipynb`` (in the repository): the one source of an exercise, solution
  and tests. Edit only these.
* ``exercises/student/NN_name.ipynb``: what students get (generated: no solutions, no tests).
* ``tfm_exercises/cases/<question>.py``: every test of a question, hidden ones included
  (generated), and ``cases/index.json``: each exercise's questions and points.

Trusted and untrusted sides: :mod:`.grade` and :mod:`.grade_all` grade (they never run a
submission's code); :mod:`.worker` runs it, in a sandbox, and answers over :mod:`.wire`.
Commands: ``python -m tfm_exercises.assign`` (generate), ``python -m tfm_exercises.grade`` (one
notebook), ``python -m tfm_exercises.grade_all`` (a folder, into a CSV gradebook).

This file is imported by the worker too: it imports nothing heavy.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # the repository (the directory that holds tfm/, tfm_exercises/ and exercises/)
EXERCISES_DIR = ROOT / "exercises"
SOURCE_DIR = EXERCISES_DIR / "source"
STUDENT_DIR = EXERCISES_DIR / "student"
CASES_DIR = HERE / "cases"
INDEX = CASES_DIR / "index.json"  # exercise -> questions and points, written by tfm_exercises.assign


def load_index() -> dict:
    return json.loads(INDEX.read_text(encoding="utf-8"))


class StudentGrader:
    """``grader.check("question")`` in a student notebook: the public tests, in the notebook's kernel.

    This is feedback only (the student's own code runs them); the grade comes from
    ``tfm_exercises.grade``, which runs the student's code in a separate worker.
    """

    def check(self, question: str, namespace: dict | None = None) -> "CheckResult":
        import inspect

        from .runner import PUBLIC_SEED, load_cases, run_case

        if os.environ.get("TFM_GRADE_RUN"):  # inside the grader's worker: the grader runs every test itself
            return CheckResult(question, [])
        if namespace is None:
            namespace = _notebook_namespace(inspect.currentframe().f_back)
        results = [run_case(c, namespace.get, PUBLIC_SEED) for c in load_cases(question) if not c.hidden]
        return CheckResult(question, results)


class CheckResult:
    """What ``grader.check`` shows: one line per public test, and the message of each failure."""

    def __init__(self, question: str, results: list[dict]):
        self.question, self.results = question, results
        self.passed = all(r["passed"] for r in results)

    def __repr__(self) -> str:
        got = sum(r["score"] for r in self.results)
        total = sum(r["points"] for r in self.results)
        lines = [f"{self.question}: {'all public tests passed' if self.passed else 'some tests failed'} "
                 f"({got:g}/{total:g} points of the public tests; hidden tests are graded later)"]
        for r in self.results:
            lines.append(f"  {'PASS' if r['passed'] else 'FAIL'} {r['name']}: {r['description']}")
            if not r["passed"]:
                lines.extend(f"      {line}" for line in r["message"].splitlines())
        return "\n".join(lines)


def _notebook_namespace(frame) -> dict:
    """The notebook's variables: IPython's user namespace, else the caller's globals."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            return shell.user_ns
    except ImportError:
        pass
    return frame.f_globals


def student_grader() -> StudentGrader:
    """The object behind ``grader.check("question")`` in every exercise notebook."""
    return StudentGrader()


def setup_cell(repository_url: str) -> str:
    """The first code cell of every exercise: in Colab, install tfm (which ships the checks and
    nothing that replaces a package Colab has); elsewhere do nothing. The URL comes from _config.yml."""
    return (
        "# Set-up: in Colab, install tfm (it ships the exercise checks); elsewhere it is already installed.\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "tfm[data] @ git+{repository_url}"'
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
    return sorted(load_index())
