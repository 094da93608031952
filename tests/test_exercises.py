"""The graded exercises (exercises/, tfm_exercises/): generated files up to date, Colab set-up cell,
no solutions in what students get, and grading end to end: every solution gets full marks, every
unmodified student notebook 0 without an error, each common mistake partial credit with a message
that names it, broken submissions (raising, looping, printing megabytes, importing a missing module,
killing their worker, not even JSON) a clear result without stopping the batch, and submissions
that attack the grader (checks switched off, a forged result, every process killed, hidden tests
and seed looked for, processes left running, writes into the grading folders) no more points than
their honest wrong answer, with nothing lost from the gradebook and nothing left running.

All notebooks are graded once, in parallel, by the batch command itself (`python -m
tfm_exercises.grade_all`, session fixture `graded`); the tests then read its results and its CSV.
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
import tfm_exercises as exercises  # noqa: E402
from tfm_exercises import checks, grade, wire  # noqa: E402

FIXTURES = ROOT / "tests" / "exercise_fixtures"
NAMES = exercises.exercise_names()
INDEX = exercises.load_index()
FIXTURE_FILES = sorted(FIXTURES.glob("*__*.py"))
ATTACKS = [p for p in FIXTURE_FILES if "__attack_" in p.stem]
HONEST_WRONG = FIXTURES / "09_causal_mask__off_by_one.py"  # what every attack's answer computes
ESCAPEE_MARKER = "tfm-grader-escapee"  # in the command line of the processes an attack leaves running
WRITE_MARKER = "tfm_grader_attack.txt"  # the file an attack tries to drop in the grading folders
# Short limits keep the broken submissions quick: tests of a looping function stop after 2 s, a
# looping cell after 20 s (importing torch on a busy machine takes a few seconds, far less than that).
BATCH_LIMITS = ["--test-timeout", "2", "--cell-timeout", "20", "--timeout", "240"]
SEED = int.from_bytes(os.urandom(5), "big")  # a new seed every run: the tests hold for any seed


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def answer_cell_index(nb) -> int:
    (i,) = [i for i, c in enumerate(nb.cells) if "answer_cell" in c.metadata.get("tags", [])]
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
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def escapees() -> list[str]:
    import psutil
    found = []
    for p in psutil.process_iter(["cmdline"]):
        line = " ".join(p.info["cmdline"] or [])
        if ESCAPEE_MARKER in line and "pytest" not in line:
            found.append(f"{p.pid}: {line[:100]}")
    return found


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
    course = {"tfm": digest(ROOT / "tfm"), "tfm_exercises": digest(exercises.HERE)}
    before = digest(folder)
    out, js = folder.parent / "gradebook.csv", folder.parent / "results.json"
    proc = run("-m", "tfm_exercises.grade_all", str(folder), "--out", str(out), "--json", str(js), "--jobs", "4",
               "--seed", str(SEED), *BATCH_LIMITS, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {Path(r["submission"]).relative_to(folder).as_posix(): r for r in json.loads(js.read_text())}
    with open(out, newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    return {"results": results, "rows": rows, "stdout": proc.stdout, "unchanged": digest(folder) == before,
            "folder": folder, "course_unchanged": course == {"tfm": digest(ROOT / "tfm"),
                                                             "tfm_exercises": digest(exercises.HERE)},
            "escapees": escapees()}


# ---------------------------------------------------------------------------
# Files: one source per exercise, generated outputs up to date, no solutions for students
# ---------------------------------------------------------------------------

def test_every_chapter_has_an_exercise():
    from book_helpers import toc_chapters
    numbers = {int(c.split("/")[-1][:2]) for c in toc_chapters()}
    chapters = {int(n[:2]) for n in NAMES}
    assert chapters == numbers, f"chapters without an exercise: {numbers - chapters}; without a chapter: {chapters - numbers}"
    assert NAMES == sorted(p.stem for p in exercises.SOURCE_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("name", NAMES)
def test_points_are_stated_as_graded(name):
    """What the notebook and both tables say an exercise is worth is what its tests add up to."""
    points = INDEX[name]["points"]
    assert points == int(points), f"{name}: {points} points"
    points = int(points)
    for folder in (exercises.SOURCE_DIR, exercises.STUDENT_DIR):
        stated = re.findall(r"Points: \*\*(\d+)\*\*", (folder / f"{name}.ipynb").read_text())
        assert stated == [str(points)], f"{folder.name}/{name}.ipynb says {stated}, its tests give {points}"
    readme = (ROOT / "exercises" / "README.md").read_text()
    assert re.search(rf"^\| `{name}` \|.*\| {points} \|$", readme, re.M), f"exercises/README.md: {name} is worth {points}"
    short = name.split("_")[0].lstrip("0")
    instructors = (ROOT / "book" / "instructors.md").read_text()
    assert re.search(rf"^\| {short} \|.*\| {points} \|$", instructors, re.M), f"book/instructors.md: {short} is worth {points}"


def test_generated_files_are_up_to_date():
    proc = run("-m", "tfm_exercises.assign", "--check", timeout=300)
    assert proc.returncode == 0, "stale: run `python -m tfm_exercises.assign`\n" + proc.stdout + proc.stderr


@pytest.mark.parametrize("folder", ["source", "student"])
@pytest.mark.parametrize("name", NAMES)
def test_first_cell_installs_everything_in_colab(folder, name):
    nb = nbformat.read(str(exercises.EXERCISES_DIR / folder / f"{name}.ipynb"), as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    url = config()["repository"]["url"]
    assert first_code.source == exercises.setup_cell(url)
    assert f'"tfm[data] @ git+{url}"' in first_code.source and "otter" not in first_code.source
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert markdown[0].source.startswith("# Exercise ")
    assert "<details>" in "\n".join(c.source for c in markdown), "no hints"


# Packages Colab ships, with the versions a Colab runtime had (the first three from the issue's
# Colab-like run): the Colab install must accept each of them, so pip keeps Colab's own.
COLAB_SHIPS = {"ipywidgets": "7.7.1", "widgetsnbextension": "3.6.10", "wrapt": "2.3.0", "torch": "2.8.0",
               "numpy": "2.0.2", "matplotlib": "3.10.0", "tqdm": "4.67.1", "ipython": "7.34.0",
               "ipykernel": "6.17.1", "traitlets": "5.7.1", "nbformat": "5.10.4", "pyyaml": "6.0.2"}


def test_colab_install_replaces_no_package_colab_ships():
    """The set-up cell installs tfm[data] only; tfm and its data extra name no grader, and every bound
    they put on a package Colab ships accepts Colab's version (ipywidgets 7.7.1, wrapt 2.x, ...)."""
    from packaging.requirements import Requirement
    text = (ROOT / "pyproject.toml").read_text()  # (tomllib is Python 3.11+, the package supports 3.10)
    lists = re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M).group(1)
    lists += re.search(r"^data = \[(.*?)\]", text, re.M).group(1)
    wanted = [Requirement(r) for r in re.findall(r'"([^"]+)"', lists)]
    assert {"torch", "ipywidgets", "sacrebleu"} <= {r.name for r in wanted}
    assert "otter-grader" not in {r.name.lower() for r in wanted}
    for req in wanted:
        colab = COLAB_SHIPS.get(req.name.lower())
        if colab is not None:
            assert req.specifier.contains(colab), f"{req}: pip would replace Colab's {req.name} {colab}"


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
def test_student_files_hold_no_solution_and_no_test(name):
    nb = nbformat.read(str(exercises.STUDENT_DIR / f"{name}.ipynb"), as_version=4)
    student = "\n".join(c.source for c in nb.cells if c.cell_type == "code")  # the task text may quote lines
    lines = solution_lines(name)
    assert lines, "the source has no solution block"
    leaked = [line for line in lines if line in student]
    assert not leaked, f"solution lines in the student notebook: {leaked}"
    assert "BEGIN SOLUTION" not in student and "def test_" not in student and answer_cell_index(nb) > 0
    assert nb.metadata["tfm_exercise"] == name
    for question in INDEX[name]["questions"]:
        cases = (exercises.CASES_DIR / f"{question}.py").read_text()
        assert "hidden=True" in cases and "hidden=False" in cases
        assert f'grader.check("{question}")' in student
        assert not any(line in cases for line in lines)


def test_each_test_compares_with_a_reference_not_a_stored_answer():
    """Every test file imports tfm or torch's own function and uses the checks helpers."""
    for path in sorted(exercises.CASES_DIR.glob("*.py")):
        if path.name == "__init__.py":
            continue
        text = path.read_text()
        assert "from tfm_exercises.checks import" in text, path
        assert "tfm" in text or "F.rms_norm" in text, path


def test_every_exercise_has_hidden_tests_that_draw_from_the_seed():
    """Hidden tests draw their inputs from the grading seed: torch's generator (values) for all, and
    checks.rng (sizes) where the sizes are the point."""
    from tfm_exercises.runner import load_cases
    for name in NAMES:
        cases = [c for q in INDEX[name]["questions"] for c in load_cases(q)]
        assert any(c.hidden for c in cases) and any(not c.hidden for c in cases), name
    drawing = [p.stem for p in exercises.CASES_DIR.glob("*.py") if "rng()" in p.read_text()]
    assert len(drawing) >= 12, drawing


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
    with pytest.raises(checks.WrongValues, match="NaN or infinite values: is the mask inverted"):
        checks.compare(want / 0 - want / 0, want, nan_hint="is the mask inverted")


def test_prediction_says_what_is_wrong_with_an_answer():
    """The predict exercises' answers: converted when they are of the asked kind, else a message naming the problem."""
    answers = {"n": 12, "shape": [2, 3], "w": 1, "out": (1, 2.5), "pos": [3, 1], "todo": ..., "flag": True}
    assert checks.prediction(answers, "n") == 12
    assert checks.prediction(answers, "shape", "shape") == (2, 3)
    assert checks.prediction(answers, "w", "number") == 1.0 and isinstance(checks.prediction(answers, "w", "number"), float)
    assert checks.prediction(answers, "out", "numbers") == [1.0, 2.5]
    assert checks.prediction(answers, "pos", "positions") == [1, 3]
    with pytest.raises(checks.WrongType, match=r"^predictions\(6\) should return a dict, got list$"):
        checks.prediction([], "n", asked="predictions(6)")
    with pytest.raises(checks.NotDefined, match=r"^predictions\(\) has no entry 'm': keep the keys"):
        checks.prediction(answers, "m")
    with pytest.raises(checks.NotDefined, match="'todo' is not filled in yet"):
        checks.prediction(answers, "todo", "shape")
    with pytest.raises(checks.WrongType, match=r"^'flag' should be an int, e.g. 1_234_567, got bool: True$"):
        checks.prediction(answers, "flag")
    with pytest.raises(checks.WrongType, match=r"^'pos' should be a number of bytes, got list"):
        checks.prediction(answers, "pos", want="a number of bytes")
    with pytest.raises(checks.WrongType, match="should be a list of ints"):
        checks.prediction({"p": [1.5]}, "p", "positions")


def test_wire_carries_data_and_nothing_else():
    """Tensors (every dtype the tests use), numbers and containers survive the trip; a pickle, an
    unknown tag or bytes that do not match the shape are refused."""
    import pickle

    import torch
    value = {"a": (torch.randn(2, 3), torch.tensor([[True, False]]), torch.arange(4), 1.5, None),
             "b": [1, "x", torch.randn(2).bfloat16()]}
    back = wire.decode(json.loads(json.dumps(wire.encode(value, lambda x: 1 / 0))), {})
    assert back["a"][2].dtype == torch.int64 and back["a"][1].dtype == torch.bool
    for got, want in zip(back["a"][:3] + (back["b"][2],), value["a"][:3] + (value["b"][2],)):
        assert torch.equal(got, want)
    assert back["a"][3:] == (1.5, None) and back["b"][:2] == [1, "x"]
    with pytest.raises(wire.WireError):
        wire.decode({"pickle": pickle.dumps(print).hex()}, {})
    with pytest.raises(wire.WireError, match="do not match its shape"):
        wire.decode({"tensor": ["float32", [2, 2], "AAAA"]}, {})
    with pytest.raises(wire.WireError, match="malformed tensor"):
        wire.decode({"tensor": ["object", [1], "AAAA"]}, {})


def test_student_check_runs_the_public_tests_in_the_notebook():
    import torch
    grader = exercises.student_grader()
    good = grader.check("causal_mask", {"causal_mask": lambda T: torch.tril(torch.ones(T, T, dtype=torch.bool))})
    assert good.passed and all(not r["hidden"] for r in good.results) and "all public tests passed" in repr(good)
    bad = grader.check("causal_mask", {"causal_mask": lambda T: torch.triu(torch.ones(T, T, dtype=torch.bool), 1)})
    assert not bad.passed and "the mask is inverted" in repr(bad)
    missing = grader.check("causal_mask", {})
    assert "`causal_mask` is not defined" in repr(missing)


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


def test_attacks_score_no_more_than_the_honest_wrong_answer(graded):
    """Each attack's answer is the honest off-by-one mask; whatever else it does, it gets no more than
    that answer alone, and the batch has its row and every other row."""
    honest = graded["results"][f"mistake/{HONEST_WRONG.stem}.ipynb"]
    assert honest["score"] == 1 and honest["status"] == "graded"
    assert ATTACKS and len(graded["rows"]) == len(graded["results"])
    for path in ATTACKS:
        result = graded["results"][f"mistake/{path.stem}.ipynb"]
        assert result["score"] <= honest["score"], (path.stem, result["score"], result["error"])
        assert graded["rows"][f"mistake/{path.stem}.ipynb"]["score"] == f"{result['score']:g}"


def test_the_sandbox_was_used(graded):
    """On Linux the worker runs under bubblewrap: without it the attacks below are not fenced off."""
    isolation = {r["isolation"] for r in graded["results"].values() if r["isolation"]}
    assert isolation == {"bwrap"}, f"graded with {isolation}: install bubblewrap (`make sandbox`)"


def test_a_submission_cannot_see_the_tests_the_seed_or_other_files(graded):
    result = graded["results"]["mistake/09_causal_mask__attack_reads_hidden_tests.ipynb"]
    leaked = [t["message"] for t in result["tests"] if "LEAKED:" in t["message"]]
    assert leaked, "the attack did not run"
    for text in ("imported tfm_exercises.cases", "cases/", ".ipynb", "gradebook", "autograder", str(SEED),
                 "pytest"):
        assert text not in leaked[0], (text, leaked[0])


def test_nothing_outlives_the_grading(graded):
    assert graded["escapees"] == [], graded["escapees"]
    assert escapees() == []


def test_a_submission_cannot_write_into_the_course_or_the_submissions(graded):
    assert graded["course_unchanged"], "grading changed tfm/ or tfm_exercises/"
    assert graded["unchanged"], "grading changed the submissions folder"
    planted = list(ROOT.rglob(WRITE_MARKER)) + list(graded["folder"].parent.rglob(WRITE_MARKER))
    assert planted == [], planted


def test_grade_command_prints_points_and_feedback_per_test(tmp_path):
    path = tmp_path / "my_attempt.ipynb"  # no exercise in the name: found from the notebook's metadata
    nbformat.write(submission_from_fixture(FIXTURES / "03_positional_encoding__sin_cos_swapped.py"), str(path))
    proc = run("-m", "tfm_exercises.grade", str(path), "--test-timeout", "5", "--seed", "7", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "exercise 03_positional_encoding" in out
    assert re.search(r"PASS 1/1\s+test_shape", out) and re.search(r"FAIL 0/3\s+test_values", out)
    assert "Mistake: sin and cos are swapped" in out and "Total: 1 / 6" in out and "seed 7" in out
    assert "(hidden)" in out


def test_the_seed_decides_the_hidden_inputs():
    """The same seed draws the same test inputs, another seed others (so knowing the public
    repository's tests does not tell a student the inputs they are graded on)."""
    from tfm_exercises.runner import load_cases, run_case

    seen = {}

    def spy(T):
        import torch
        seen.setdefault(current, []).append(T)
        return torch.tril(torch.ones(T, T, dtype=torch.bool))

    hidden = [c for c in load_cases("causal_mask") if c.name == "test_other_sizes"]
    for current, seed in (("a", 11), ("b", 11), ("c", 12), ("d", 13)):
        assert run_case(hidden[0], {"causal_mask": spy}.get, seed)["passed"]
    assert seen["a"] == seen["b"] and len({tuple(v) for v in seen.values()}) > 1, seen


def test_a_submission_that_ignores_the_time_limits_is_killed_with_everything_it_started(tmp_path):
    """The last resort: a cell that turns the grader's alarm off and loops. The whole grading is
    stopped at its time limit, every test scores 0 with a timeout message, and nothing is left."""
    nb = nbformat.read(str(exercises.STUDENT_DIR / "09_causal_mask.ipynb"), as_version=4)
    nb.cells[answer_cell_index(nb)].source = (
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)  # the grader's alarm does nothing now\n"
        "signal.setitimer = lambda *args: None\n"
        "while True:\n    pass")
    path = tmp_path / "09_causal_mask.ipynb"
    nbformat.write(nb, str(path))
    result = grade.grade_submission(path, timeout=20, cell_timeout=3, test_timeout=2, seed=1)
    assert result["status"] == "timeout" and result["score"] == 0
    assert "did not finish grading within 20 seconds" in result["error"]
    assert all(t["message"] == result["error"] for t in result["tests"])
    import psutil
    assert psutil.Process().children(recursive=True) == []


def test_without_bubblewrap_the_process_group_and_marked_escapees_are_killed(tmp_path):
    """--sandbox none (macOS, or Linux without bubblewrap): no fence around files and network, but
    the grading still scores in its own process and kills what the submission left running."""
    path = tmp_path / "09_causal_mask__escapes.ipynb"
    nbformat.write(submission_from_fixture(FIXTURES / "09_causal_mask__attack_leaves_a_process.py"), str(path))
    result = grade.grade_submission(path, seed=2, sandbox="none", test_timeout=5)
    assert result["isolation"] == "none" and result["status"] == "graded" and result["score"] == 1
    assert escapees() == []


def _namespace(nb) -> dict:
    """The notebook's code run in this process (our own solutions and fixtures only, never a submission)."""
    import contextlib
    import io
    ns = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for _, source in grade.code_cells(nb):
            if "google.colab" not in source:
                exec(source, ns)
    return ns


def test_scores_do_not_depend_on_the_seed():
    """Every solution passes and every common mistake keeps its points whatever the seed draws
    (hidden sizes included), so the batch's expectations hold for an instructor's seed too."""
    from tfm_exercises.runner import load_cases, run_case
    seeds = [int.from_bytes(os.urandom(5), "big") for _ in range(2)]
    for name in NAMES:
        cases = [c for q in INDEX[name]["questions"] for c in load_cases(q)]
        ns = _namespace(nbformat.read(str(exercises.SOURCE_DIR / f"{name}.ipynb"), as_version=4))
        for seed in seeds:
            failed = [r["message"] for r in (run_case(c, ns.get, seed) for c in cases) if not r["passed"]]
            assert not failed, (name, seed, failed)
    honest = [p for p in FIXTURE_FILES if fixture_header(p)["status"] == "graded" and "__attack_" not in p.stem
              and not re.search(r"loop|exits|prints|missing_import|raises", p.stem)]
    for path in honest:
        exercise = path.stem.split("__")[0]
        cases = [c for q in INDEX[exercise]["questions"] for c in load_cases(q)]
        ns = _namespace(submission_from_fixture(path))
        want = float(fixture_header(path)["expect"].split("/")[0])
        for seed in seeds:
            assert sum(run_case(c, ns.get, seed)["score"] for c in cases) == want, (path.stem, seed)
