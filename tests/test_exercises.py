"""The graded exercises (exercises/): generated files up to date, Colab set-up cell, no solutions in
what students get, and grading end to end with otter-grader: every solution gets full marks, every
unmodified student notebook 0 without an error, each common mistake partial credit with a message
that names it, and broken submissions (raising, looping, printing megabytes, importing a missing
module, killing the kernel, not even JSON) a clear result without stopping the batch.

All notebooks are graded once, in parallel, by the batch command itself (`python -m
exercises.grade_all`, session fixture `graded`); the tests then read its results and its CSV.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from book_helpers import ROOT, config

sys.path.insert(0, str(ROOT))
import exercises  # noqa: E402
from exercises import checks  # noqa: E402

FIXTURES = ROOT / "tests" / "exercise_fixtures"
NAMES = exercises.exercise_names()
INDEX = json.loads((exercises.AUTOGRADER_DIR / "index.json").read_text())
FIXTURE_FILES = sorted(FIXTURES.glob("*__*.py"))
# Short limits keep the broken submissions quick: tests of a looping function stop after 2 s, a
# looping cell after 20 s (importing torch in a busy kernel takes a few seconds, far less than that).
BATCH_LIMITS = ["--test-timeout", "2", "--cell-timeout", "20", "--timeout", "240"]


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def answer_cell_index(nb) -> int:
    (i,) = [i for i, c in enumerate(nb.cells) if "otter_answer_cell" in c.metadata.get("tags", [])]
    return i


def fixture_header(path: Path) -> dict:
    header = {"status": "graded", "message": [], "note": []}
    for line in path.read_text().splitlines():
        m = re.match(r"# (expect|status|message|note): (.*)", line)
        if not m:
            break
        if m.group(1) in ("message", "note"):
            header[m.group(1)].append(m.group(2))
        else:
            header[m.group(1)] = m.group(2)
    return header


def submission_from_fixture(path: Path) -> nbformat.NotebookNode:
    """The student notebook of the fixture's exercise, with the fixture's code as the answer."""
    exercise = path.stem.split("__")[0]
    nb = nbformat.read(str(exercises.STUDENT_DIR / f"{exercise}.ipynb"), as_version=4)
    nb.cells[answer_cell_index(nb)].source = path.read_text()
    return nb


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> dict:
    """Grade every solution, every student notebook and every fixture in one batch run."""
    folder = tmp_path_factory.mktemp("submissions")
    for sub in ("solution", "blank", "mistake"):
        (folder / sub).mkdir()
    for name in NAMES:
        (folder / "solution" / f"{name}.ipynb").write_bytes((exercises.SOURCE_DIR / f"{name}.ipynb").read_bytes())
        (folder / "blank" / f"{name}.ipynb").write_bytes((exercises.STUDENT_DIR / f"{name}.ipynb").read_bytes())
    for path in FIXTURE_FILES:
        nbformat.write(submission_from_fixture(path), str(folder / "mistake" / f"{path.stem}.ipynb"))
    (folder / "mistake" / "03_positional_encoding__not_json.ipynb").write_text('{"cells": [')
    before = digest(folder)
    out, js = folder.parent / "gradebook.csv", folder.parent / "results.json"
    proc = run("-m", "exercises.grade_all", str(folder), "--out", str(out), "--json", str(js), "--jobs", "4",
               *BATCH_LIMITS, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {Path(r["submission"]).relative_to(folder).as_posix(): r for r in json.loads(js.read_text())}
    with open(out, newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    return {"results": results, "rows": rows, "stdout": proc.stdout, "unchanged": digest(folder) == before}


# ---------------------------------------------------------------------------
# Files: one source per exercise, generated outputs up to date, no solutions for students
# ---------------------------------------------------------------------------

def test_every_chapter_has_an_exercise():
    chapters = {int(n[:2]) for n in NAMES}
    assert chapters == set(range(1, 16)), f"chapters without an exercise: {set(range(1, 16)) - chapters}"
    assert list(INDEX) == NAMES


def test_generated_files_are_up_to_date():
    proc = run("-m", "exercises.assign", "--check", timeout=300)
    assert proc.returncode == 0, "stale: run `python -m exercises.assign`\n" + proc.stdout + proc.stderr


@pytest.mark.parametrize("folder", ["source", "student"])
@pytest.mark.parametrize("name", NAMES)
def test_first_cell_installs_everything_in_colab(folder, name):
    nb = nbformat.read(str(exercises.HERE / folder / f"{name}.ipynb"), as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    url = config()["repository"]["url"]
    assert first_code.source == exercises.setup_cell(url)
    assert f"git+{url}" in first_code.source and f"otter-grader=={exercises.OTTER_VERSION}" in first_code.source
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert markdown[0].source.startswith("# Exercise ")
    assert "<details>" in "\n".join(c.source for c in markdown), "no hints"


def test_otter_version_matches_the_constraints():
    pins = re.findall(r"^otter-grader==(\S+)$", (ROOT / "constraints.txt").read_text(), flags=re.M)
    import otter
    assert otter.__version__ == exercises.OTTER_VERSION
    assert pins in ([], [exercises.OTTER_VERSION])


def solution_lines(name: str) -> list[str]:
    """The distinctive lines between BEGIN SOLUTION and END SOLUTION in the source."""
    lines, inside = [], False
    for cell in nbformat.read(str(exercises.SOURCE_DIR / f"{name}.ipynb"), as_version=4).cells:
        if cell.cell_type != "code":
            continue  # the raw cells around the solution cell mark the cell, not the lines to hide
        for line in cell.source.splitlines():
            if "# BEGIN SOLUTION" in line:
                inside = True
            elif "# END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                lines.append(line.strip())
    return lines


@pytest.mark.parametrize("name", NAMES)
def test_student_files_hold_no_solution_and_no_hidden_test(name):
    nb = nbformat.read(str(exercises.STUDENT_DIR / f"{name}.ipynb"), as_version=4)
    student = "\n".join(c.source for c in nb.cells if c.cell_type == "code")  # the task text may quote lines
    lines = solution_lines(name)
    assert lines, "the source has no solution block"
    leaked = [line for line in lines if line in student]
    assert not leaked, f"solution lines in the student notebook: {leaked}"
    assert "BEGIN SOLUTION" not in student and answer_cell_index(nb) > 0
    for question in INDEX[name]["questions"]:
        public = (exercises.STUDENT_TESTS / f"{question}.py").read_text()
        full = (exercises.AUTOGRADER_TESTS / f"{question}.py").read_text()
        assert "hidden=True" not in public and "hidden=True" in full
        assert f'grader.check("{question}")' in student
        assert not any(line in public for line in lines)


def test_each_test_compares_with_a_reference_not_a_stored_answer():
    """Every test file imports tfm or torch's own function and uses the checks helpers."""
    for path in sorted(exercises.AUTOGRADER_TESTS.glob("*.py")):
        text = path.read_text()
        assert "from exercises.checks import" in text, path
        assert "tfm" in text or "F.rms_norm" in text, path


# ---------------------------------------------------------------------------
# The checks helpers, in this process (no kernel)
# ---------------------------------------------------------------------------

def test_call_stops_an_endless_loop(monkeypatch):
    monkeypatch.setenv("TFM_EXERCISE_TIMEOUT", "0.3")

    def loop():
        while True:
            try:
                pass
            except Exception:  # a student's broad except cannot swallow the timer
                pass

    with pytest.raises(checks.TimedOut, match="did not finish within 0.3 seconds"):
        checks.call(loop)


def test_call_explains_errors_and_swallows_output():
    def noisy_exit():
        print("z" * 5_000_000)
        raise SystemExit(3)

    with pytest.raises(checks.CodeRaised, match="raised SystemExit: 3"):
        checks.call(noisy_exit)
    assert len(checks.last_output) == checks.OUTPUT_KEEP
    with pytest.raises(checks.NotDefined, match="`f` is not defined"):
        checks.call(None, name="f")


def test_compare_names_the_mistake():
    import torch
    want = torch.ones(3)
    checks.compare(want + 1e-7, want)
    with pytest.raises(checks.Mistake, match="doubled"):
        checks.compare(want * 2, want, mistakes=[("halved", want / 2), ("doubled", lambda: want * 2)])
    with pytest.raises(checks.WrongValues, match="largest difference is 2"):
        checks.compare(want * 3, want, mistakes=[("halved", want / 2)])
    with pytest.raises(checks.WrongShape):
        checks.compare(torch.ones(4), want)
    with pytest.raises(checks.WrongType, match="forget `return`"):
        checks.compare(None, want)


# ---------------------------------------------------------------------------
# Grading end to end (one batch run of every notebook, see the `graded` fixture)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_solution_gets_full_marks(graded, name):
    result = graded["results"][f"solution/{name}.ipynb"]
    failed = [(t["name"], t["message"]) for t in result["tests"] if not t["passed"]]
    assert result["status"] == "graded" and not failed, failed
    assert result["score"] == result["possible"] == INDEX[name]["points"]
    assert any(t["hidden"] for t in result["tests"]) and any(not t["hidden"] for t in result["tests"])


@pytest.mark.parametrize("name", NAMES)
def test_unmodified_student_notebook_gets_zero_without_error(graded, name):
    result = graded["results"][f"blank/{name}.ipynb"]
    assert result["status"] == "graded" and result["error"] is None, result["error"]
    assert result["score"] == 0 and result["possible"] == INDEX[name]["points"]
    assert result["notebook_errors"] == [], result["notebook_errors"]
    for t in result["tests"]:
        assert not t["passed"] and t["message"], t


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_wrong_submission_gets_its_points_and_feedback(graded, fixture):
    header = fixture_header(fixture)
    result = graded["results"][f"mistake/{fixture.stem}.ipynb"]
    score, possible = map(float, header["expect"].split("/"))
    report = json.dumps(result)
    assert result["status"] == header["status"], result["error"]
    assert (result["score"], result["possible"]) == (score, possible), \
        [(t["name"], t["score"], t["message"]) for t in result["tests"]]
    for text in header["message"]:
        assert any(text in t["message"] for t in result["tests"]), (text, [t["message"] for t in result["tests"]])
    for text in header["note"]:
        assert any(text in e for e in result["notebook_errors"]), (text, result["notebook_errors"])
    assert len(report) < 100_000, "the feedback must stay small, whatever the submission prints"


def test_common_mistakes_earn_partial_credit(graded):
    """The mistakes the course names: each gets some points, not all, and a message naming it."""
    named = ["04a_scaled_dot_product_attention__no_scale", "04a_scaled_dot_product_attention__mask_after_softmax",
             "04b_split_merge_heads__heads_mixed_up", "05_layer_norm__wrong_axis", "09_causal_mask__off_by_one",
             "12_greedy_decoding__no_stop_at_eos", "03_positional_encoding__sin_cos_swapped"]
    for stem in named:
        result = graded["results"][f"mistake/{stem}.ipynb"]
        assert 0 < result["score"] < result["possible"], stem
        assert any(t["message"].startswith("Mistake: ") for t in result["tests"]), stem


def test_batch_survives_broken_submissions_and_never_modifies_them(graded):
    results, rows = graded["results"], graded["rows"]
    assert graded["unchanged"], "grading modified a submission"
    assert len(rows) == len(results) == 2 * len(NAMES) + len(FIXTURE_FILES) + 1
    bad = results["mistake/03_positional_encoding__not_json.ipynb"]
    assert bad["status"] == "error" and "could not read the notebook" in bad["error"] and bad["score"] == 0
    row = rows["mistake/03_positional_encoding__loops_forever.ipynb"]
    assert row["score"] == "0" and "did not finish within 2 seconds" in row["feedback"]
    assert rows["solution/13_beam_search.ipynb"]["percent"] == "100.0"
    assert "test_values 0/3" in rows["mistake/03_positional_encoding__sin_cos_swapped.ipynb"]["tests"]


def test_grade_command_prints_points_and_feedback_per_test(tmp_path):
    path = tmp_path / "my_attempt.ipynb"  # no exercise in the name: found from the notebook's metadata
    nbformat.write(submission_from_fixture(FIXTURES / "03_positional_encoding__sin_cos_swapped.py"), str(path))
    proc = run("-m", "exercises.grade", str(path), "--test-timeout", "5", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "exercise 03_positional_encoding" in out
    assert re.search(r"PASS 1/1\s+test_shape", out) and re.search(r"FAIL 0/3\s+test_values", out)
    assert "Mistake: sin and cos are swapped" in out and "Total: 1 / 6" in out
    assert "(hidden)" in out


def test_a_submission_that_ignores_interrupts_is_killed_with_its_kernel(tmp_path):
    """The last resort: a cell the kernel cannot interrupt. The whole grading is stopped at its
    time limit, every test scores 0 with a timeout message, and no process is left behind."""
    import psutil

    from exercises.grade import grade_submission

    nb = nbformat.read(str(exercises.STUDENT_DIR / "09_causal_mask.ipynb"), as_version=4)
    nb.cells[answer_cell_index(nb)].source = (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C does nothing now\n"
        "while True:\n    pass")
    path = tmp_path / "09_causal_mask.ipynb"
    nbformat.write(nb, str(path))

    def kernels() -> set[int]:
        """Orphaned kernels: what a killed grader would leave behind (a kernel that another
        program, e.g. a notebook run beside this test, still owns is not ours to count)."""
        return {p.pid for p in psutil.process_iter(["cmdline", "ppid"])
                if "ipykernel_launcher" in " ".join(p.info["cmdline"] or []) and p.info["ppid"] in (0, 1)}

    before = kernels()
    result = grade_submission(path, timeout=20, cell_timeout=3, test_timeout=2)
    assert result["status"] == "timeout" and result["score"] == 0
    assert "did not finish grading within 20 seconds" in result["error"]
    assert all(t["message"] == result["error"] for t in result["tests"])
    assert kernels() <= before, "a kernel outlived its grading"


def test_a_kernel_that_fails_to_start_is_retried_but_a_submission_that_kills_it_is_not(monkeypatch):
    """Two kernels started at the same moment can pick the same port, and a busy machine can miss the
    start-up limit: the batch must not mark a good notebook as an error for that. A notebook that
    kills its own kernel while running is the submission's doing and is graded once."""
    from exercises import grade

    path = exercises.STUDENT_DIR / "09_causal_mask.ipynb"
    calls = []

    def flaky(errors):
        def fake(path, exercise, *args):
            calls.append(exercise)
            error = errors[len(calls) - 1]
            if error is None:
                return {**grade._empty_result(path, exercise, "graded", None), "error": None}
            return grade._empty_result(path, exercise, "error", error)
        return fake

    startup = "the notebook could not be run to the end: RuntimeError: Kernel died before replying to kernel_info"
    monkeypatch.setattr(grade, "_run_worker", flaky([startup, None]))
    result = grade.grade_submission(path)
    assert result["status"] == "graded" and len(calls) == 2

    calls.clear()
    monkeypatch.setattr(grade, "_run_worker", flaky([startup] * 5))
    result = grade.grade_submission(path)
    assert result["status"] == "error" and "kernel_info" in result["error"]
    assert len(calls) == 1 + grade.STARTUP_RETRIES

    calls.clear()
    dead = "the notebook could not be run to the end: DeadKernelError: Kernel died"
    monkeypatch.setattr(grade, "_run_worker", flaky([dead, None]))
    result = grade.grade_submission(path)
    assert result["status"] == "error" and result["error"] == dead and len(calls) == 1
