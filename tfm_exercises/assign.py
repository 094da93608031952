"""Generate the student notebooks and the tests from the exercises' sources.

    python -m tfm_exercises.assign            # regenerate exercises/student/ and tfm_exercises/cases/
    python -m tfm_exercises.assign --check    # only compare: exit 1 and list what is stale (CI runs this)

A source ``exercises/source/NN_name.ipynb`` holds the exercise, its solution and its tests, between
raw cells that mark them (the layout of otter-grader's assign format, which the course used before;
no otter is needed now):

* a raw ``# ASSIGNMENT CONFIG`` cell first (``name: NN_name``), then the title, the set-up cell and
  the imports;
* raw ``# BEGIN QUESTION`` (``name: <question>``), the task in Markdown, raw ``# BEGIN SOLUTION``,
  the solution cell (the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` comments are
  what students write), raw ``# END SOLUTION``, raw ``# BEGIN TESTS``, one code cell per test (a
  ``# BEGIN TEST CONFIG`` header with ``points`` and ``hidden``, then ``def test_...``; a cell that
  starts with ``# TEST HELPERS`` instead holds functions that several tests call, written once),
  raw ``# END TESTS``, raw ``# END QUESTION``.

From it: the student notebook (solutions replaced by ``...``, a ``grader.check("<question>")``
cell after each answer, no tests) and ``tfm_exercises/cases/<question>.py`` (every test, run by
the student's check and by the grader), plus ``cases/index.json`` (questions and points). The
set-up cell is rewritten from ``repository.url`` in _config.yml, the one place the URL is written.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from . import CASES_DIR, SOURCE_DIR, STUDENT_DIR, repository_url, setup_cell

TEST_CONFIG = re.compile(r'^"""\s*# BEGIN TEST CONFIG\n(.*?)\n"""\s*# END TEST CONFIG\n', re.S)
TEST_HELPERS = "# TEST HELPERS\n"  # the first line of a tests-section cell of helpers shared by the question's tests
LOCKED = {"deletable": False, "editable": False}


def source_names() -> list[str]:
    return sorted(p.stem for p in SOURCE_DIR.glob("*.ipynb"))


def _yaml(text: str) -> dict:
    import yaml
    return yaml.safe_load(text) or {}


def strip_solution(source: str) -> str:
    """The code between '# BEGIN SOLUTION' and '# END SOLUTION' comments becomes '...' (same indent)."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == "# BEGIN SOLUTION":
            inside = True
            out.append(line[: len(line) - len(line.lstrip())] + "...")
        elif line.strip() == "# END SOLUTION":
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("# BEGIN SOLUTION without # END SOLUTION")
    return "\n".join(out)


def parse(path: Path, url: str) -> tuple[nbformat.NotebookNode, dict[str, list[tuple[dict | None, str]]]]:
    """The student notebook and each question's tests (config, code; config None for its helpers) of one source."""
    nb = nbformat.read(str(path), as_version=4)
    name = path.stem
    student = nbformat.v4.new_notebook()
    student.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                        "language_info": {"name": "python"}, "tfm_exercise": name}
    questions: dict[str, list[tuple[dict, str]]] = {}
    question, mode, first_code = None, None, True
    for cell in nb.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw":
            head = text.split("\n", 1)[0].strip()
            if head == "# ASSIGNMENT CONFIG":
                if _yaml(text.split("\n", 1)[1]).get("name") != name:
                    raise ValueError(f"{path.name}: the ASSIGNMENT CONFIG name is not {name}")
            elif head == "# BEGIN QUESTION":
                question = _yaml(text.split("\n", 1)[1])["name"]
                questions[question] = []
            elif head in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                mode = head.split()[-1].lower()
            elif head == "# END SOLUTION":
                mode = None
            elif head == "# END TESTS":
                mode = None
                student.cells.append(nbformat.v4.new_code_cell(f'grader.check("{question}")', metadata=dict(LOCKED)))
            elif head == "# END QUESTION":
                question = None
            else:
                raise ValueError(f"{path.name}: unknown raw cell {head!r}")
            continue
        if mode == "tests":
            if cell.source.startswith(TEST_HELPERS):
                questions[question].append((None, cell.source[len(TEST_HELPERS):]))
                continue
            m = TEST_CONFIG.match(cell.source)
            if not m:
                raise ValueError(f"{path.name}: a test cell without a TEST CONFIG header")
            questions[question].append((_yaml(m.group(1)), cell.source[m.end():]))
            continue
        if cell.cell_type == "code":
            source = cell.source
            if first_code:
                source, first_code = setup_cell(url), False
            if mode == "solution":
                new = nbformat.v4.new_code_cell(strip_solution(source), metadata={"tags": ["answer_cell"]})
            else:
                new = nbformat.v4.new_code_cell(source)
        else:
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=dict(LOCKED) if question else {})
        student.cells.append(new)
    for i, cell in enumerate(student.cells):
        cell["id"] = f"cell-{i:02d}"
    student.nbformat_minor = max(student.nbformat_minor, 5)
    nbformat.validate(student)
    return student, questions


def cases_file(exercise: str, question: str, tests: list[tuple[dict, str]]) -> str:
    parts = [f'"""The tests of `{question}` (exercise {exercise}): generated from exercises/source/{exercise}.ipynb\n'
             'by `python -m tfm_exercises.assign`; edit the source, not this file."""\n'
             "from tfm_exercises.runner import case\n"]
    for config, code in tests:
        if config is None:  # the question's test helpers: module level, shared by its tests
            parts.append(f"\n{code.strip()}\n")
            continue
        points, hidden = config["points"], bool(config.get("hidden", False))
        parts.append(f"\n@case(points={points}, hidden={hidden})\n{code.strip()}\n")
    return "\n".join(parts)


def update_source_setup(path: Path, url: str, write: bool) -> bool:
    """Make the source's set-up cell the one built from ``url``; return whether it was stale."""
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    want = setup_cell(url)
    if cell.source == want:
        return False
    if write:
        cell.source = want
        nbformat.write(nb, str(path))
    return True


def generate(out: Path, url: str) -> None:
    """Every exercise's outputs under ``out``: student/NN_name.ipynb, cases/<question>.py, cases/index.json."""
    (out / "student").mkdir(parents=True, exist_ok=True)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    index = {}
    for name in source_names():
        student, questions = parse(SOURCE_DIR / f"{name}.ipynb", url)
        nbformat.write(student, str(out / "student" / f"{name}.ipynb"))
        for question, tests in questions.items():
            (out / "cases" / f"{question}.py").write_text(cases_file(name, question, tests), encoding="utf-8")
        index[name] = {"questions": list(questions),
                       "points": sum(float(c["points"]) for tests in questions.values() for c, _ in tests if c)}
    (out / "cases" / "__init__.py").write_text('"""Every test of every exercise (generated by tfm_exercises.assign)."""\n',
                                               encoding="utf-8")
    (out / "cases" / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and ".ipynb_checkpoints" not in p.parts}


TARGETS = (("student", STUDENT_DIR, "exercises/student"), ("cases", CASES_DIR, "tfm_exercises/cases"))


def stale_files(out: Path) -> list[str]:
    """Files that differ between a fresh generation in ``out`` and the committed ones."""
    problems = []
    for sub, committed, shown in TARGETS:
        fresh, have = _tree(out / sub), _tree(committed) if committed.exists() else set()
        for rel in sorted(fresh | have):
            if rel not in have:
                problems.append(f"missing: {shown}/{rel}")
            elif rel not in fresh:
                problems.append(f"not generated from any source (delete it): {shown}/{rel}")
            elif not filecmp.cmp(out / sub / rel, committed / rel, shallow=False):
                problems.append(f"out of date: {shown}/{rel}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfm_exercises.assign", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when anything is stale")
    args = parser.parse_args(argv)
    url = repository_url()
    names = source_names()
    stale_setup = [f"{n}.ipynb" for n in names if update_source_setup(SOURCE_DIR / f"{n}.ipynb", url, not args.check)]
    with tempfile.TemporaryDirectory(prefix="tfm-assign-out-") as tmp:
        out = Path(tmp)
        generate(out, url)
        if args.check:
            problems = [f"set-up cell does not use {url}: exercises/source/{n}" for n in stale_setup]
            problems += stale_files(out)
            for p in problems:
                print(p)
            if problems:
                print("run `python -m tfm_exercises.assign` to regenerate")
                return 1
            print(f"{len(names)} exercises: student notebooks and tests are up to date")
            return 0
        for sub, committed, _ in TARGETS:
            if committed.exists():
                shutil.rmtree(committed)
            shutil.copytree(out / sub, committed)
    for n in stale_setup:
        print(f"updated the set-up cell of exercises/source/{n}")
    print(f"generated {len(names)} exercises into {STUDENT_DIR} and {CASES_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
