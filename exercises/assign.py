"""Generate the student notebooks and the autograder from the sources, with ``otter assign``.

    python -m exercises.assign            # regenerate everything under exercises/student and exercises/autograder
    python -m exercises.assign --check    # only compare: exit 1 and list what is stale (CI runs this)

For each ``exercises/source/NN_name.ipynb`` (solution and tests in otter's assign format):

1. its set-up cell (the first code cell) is rewritten from ``repository.url`` in _config.yml,
   the one place the URL is written;
2. ``otter assign`` turns it into the student notebook (solutions replaced by ``...``, public tests
   only) and the autograder (every test, hidden ones included);
3. the outputs are made reproducible (fixed cell ids and zip timestamps) and copied to
   ``exercises/student/`` and ``exercises/autograder/``, with ``autograder/index.json`` listing each
   exercise's questions and points for the graders.
"""
from __future__ import annotations

import argparse
import contextlib
import filecmp
import io
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

from . import (AUTOGRADER_DIR, AUTOGRADER_TESTS, SOURCE_DIR, STUDENT_DIR, STUDENT_TESTS, exercise_names,
               repository_url, setup_cell)

ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def first_code_cell(nb) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.cell_type == "code")


def update_source_setup(path: Path, url: str, write: bool) -> bool:
    """Make the source's set-up cell the one built from ``url``; return whether it was stale."""
    nb = nbformat.read(str(path), as_version=4)
    cell = first_code_cell(nb)
    want = setup_cell(url)
    if cell.source == want:
        return False
    if write:
        cell.source = want
        nbformat.write(nb, str(path))
    return True


def source_questions(path: Path) -> list[str]:
    """The question names in a source notebook (raw cells '# BEGIN QUESTION' with 'name: ...')."""
    import yaml

    names = []
    for cell in nbformat.read(str(path), as_version=4).cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            names.append(yaml.safe_load(text.split("\n", 1)[1])["name"])
    return names


def _normalise_notebook(src: Path, dst: Path) -> None:
    nb = nbformat.read(str(src), as_version=4)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.nbformat_minor = max(nb.nbformat_minor, 5)
    nbformat.validate(nb)
    nbformat.write(nb, str(dst))


def _normalise_zip(src: Path, dst: Path) -> None:
    """The same files, sorted, with fixed timestamps: the zip only changes when its content does."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in sorted(zin.namelist()):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if name in ("run_autograder", "setup.sh") else 0o644) << 16
            zout.writestr(info, zin.read(name))


def assign_one(name: str, out: Path) -> dict:
    """Run otter assign on one source; put its outputs under ``out`` in the committed layout."""
    from otter.assign import main as otter_assign

    source = SOURCE_DIR / f"{name}.ipynb"
    with tempfile.TemporaryDirectory(prefix="tfm-assign-") as tmp:
        dist = Path(tmp) / "dist"
        with contextlib.redirect_stdout(io.StringIO()):
            otter_assign(str(source), str(dist), no_pdfs=True, no_run_tests=True)
        (out / "student" / "tests").mkdir(parents=True, exist_ok=True)
        (out / "autograder" / "tests").mkdir(parents=True, exist_ok=True)
        _normalise_notebook(dist / "student" / f"{name}.ipynb", out / "student" / f"{name}.ipynb")
        for test in sorted((dist / "student" / "tests").glob("*.py")):
            shutil.copy(test, out / "student" / "tests" / test.name)
        for test in sorted((dist / "autograder" / "tests").glob("*.py")):
            shutil.copy(test, out / "autograder" / "tests" / test.name)
        (zip_path,) = (dist / "autograder").glob("*.zip")
        _normalise_zip(zip_path, out / "autograder" / f"{name}-autograder.zip")
    questions = source_questions(source)
    return {"questions": questions}


def generate(out: Path) -> None:
    """Every exercise's outputs under ``out`` (student/, autograder/ with index.json)."""
    infos = {name: assign_one(name, out) for name in exercise_names()}
    # points per exercise, from the autograder's test files
    from otter.test_files import ExceptionTestFile

    for name, info in infos.items():
        total = 0
        for q in info["questions"]:
            total += sum(tc.points for tc in ExceptionTestFile.from_file(str(out / "autograder" / "tests" / f"{q}.py")).test_cases)
        info["points"] = total
    (out / "autograder" / "index.json").write_text(json.dumps(infos, indent=1) + "\n", encoding="utf-8")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and ".OTTER_LOG" not in p.name and ".ipynb_checkpoints" not in p.parts}


def stale_files(out: Path) -> list[str]:
    """Files that differ between a fresh generation in ``out`` and the committed ones."""
    problems = []
    for sub, committed in (("student", STUDENT_DIR), ("autograder", AUTOGRADER_DIR)):
        fresh, have = _tree(out / sub), _tree(committed) if committed.exists() else set()
        for rel in sorted(fresh | have):
            if rel not in have:
                problems.append(f"missing: exercises/{sub}/{rel}")
            elif rel not in fresh:
                problems.append(f"not generated from any source (delete it): exercises/{sub}/{rel}")
            elif not filecmp.cmp(out / sub / rel, committed / rel, shallow=False):
                problems.append(f"out of date: exercises/{sub}/{rel}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises.assign", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when anything is stale")
    args = parser.parse_args(argv)
    url = repository_url()
    stale_setup = [p.name for p in sorted(SOURCE_DIR.glob("*.ipynb")) if update_source_setup(p, url, not args.check)]
    with tempfile.TemporaryDirectory(prefix="tfm-assign-out-") as tmp:
        out = Path(tmp)
        generate(out)
        if args.check:
            problems = [f"set-up cell does not use {url}: exercises/source/{n}" for n in stale_setup]
            problems += stale_files(out)
            for p in problems:
                print(p)
            if problems:
                print("run `python -m exercises.assign` to regenerate")
                return 1
            print(f"{len(exercise_names())} exercises: student notebooks and autograder are up to date")
            return 0
        for sub, committed in (("student", STUDENT_DIR), ("autograder", AUTOGRADER_DIR)):
            if committed.exists():
                shutil.rmtree(committed)
            shutil.copytree(out / sub, committed)
    for n in stale_setup:
        print(f"updated the set-up cell of exercises/source/{n}")
    print(f"generated {len(exercise_names())} exercises into {STUDENT_DIR} and {AUTOGRADER_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
