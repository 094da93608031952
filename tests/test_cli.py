"""Tests for ``python -m tfm``: help, the parameter table, a short training run whose last
stdout line is JSON, and clear errors for bad arguments.

Three commands run in a real subprocess (as a user types them); the rest call ``main()``
in-process, which is the same code without paying for another ``import torch``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tfm.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "tfm", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def test_help_lists_the_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout and "params" in proc.stdout and "usage: python -m tfm" in proc.stdout


def test_params_preset_prints_the_table_with_the_total():
    proc = run_cli("params", "--preset", "gpt3-small")
    assert proc.returncode == 0, proc.stderr
    total = [line for line in proc.stdout.splitlines() if line.strip().startswith("Total")]
    assert len(total) == 1 and "125,226,240" in total[0] and "125.2M" in total[0]
    assert "Multi-Head Attention Mechanism" in proc.stdout and "50,257 x 768" in proc.stdout


def test_train_reverse_ends_with_one_json_line():
    proc = run_cli("train", "--task", "reverse", "--steps", "30", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1  # nothing else on stdout: progress goes to stderr
    result = json.loads(lines[-1])
    for key in ("task", "steps", "val_loss", "exact_match", "bleu", "train_loss", "seconds", "params", "tokens_per_s"):
        assert key in result, key
    assert result["task"] == "reverse" and result["steps"] == 30
    assert 0.0 <= result["exact_match"] <= 1.0 and result["n_val"] == 500
    assert 0 < result["val_loss"] < 5 and 0 < result["train_loss"] < 5
    assert result["params"] > 10_000 and result["tokens_per_s"] > 0 and result["seconds"] > 0


# ---- in-process ----

def last_json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1])


def test_params_json_and_transformer_presets(capsys):
    assert main(["params", "--preset", "transformer-base", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["preset"] == "transformer-base" and data["rows"][-1]["name"] == "Total"
    assert data["total"] == data["rows"][-1]["total"] == sum(r["total"] for r in data["rows"][:-1])
    assert 60_000_000 < data["total"] < 66_000_000  # the paper: 65M
    assert main(["params", "--preset", "gpt3-175b", "--short"]) == 0
    assert "174.6B" in capsys.readouterr().out


def test_train_chars_prints_a_sample_and_json(capsys, tmp_path):
    text = tmp_path / "tiny.txt"
    text.write_text("to be or not to be, that is the question.\n" * 40)
    argv = ["train", "--task", "chars", "--text", str(text), "--steps", "4", "--d-model", "32", "--layers", "1",
            "--heads", "2", "--block-size", "16", "--batch-size", "4", "--sample-len", "20", "--prompt", "to be",
            "--no-progress", "--eval-batches", "2", "--threads", "1", "--checkpoint", str(tmp_path / "chars.pt")]
    assert main(argv) == 0
    result = last_json(capsys)
    assert result["task"] == "chars" and result["steps"] == 4 and "exact_match" not in result
    assert result["val_loss"] > 0 and result["sample"].startswith("to be") and len(result["sample"]) > 10
    # --resume continues from the checkpoint
    argv[argv.index("--steps") + 1] = "6"
    assert main(argv + ["--resume"]) == 0
    result = last_json(capsys)
    assert result["steps"] == 6 and result["resumed_from_step"] == 4


@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "nope"], "invalid choice: 'nope'"),
    (["train"], "the following arguments are required: --task"),
    (["train", "--task", "reverse", "--steps", "-5"], "--steps must be a positive integer"),
    (["train", "--task", "reverse", "--steps", "ten"], "invalid int value: 'ten'"),
    (["train", "--task", "reverse", "--heads", "3"], "n_heads must divide d_model"),
    (["train", "--task", "reverse", "--dropout", "1.5"], "--dropout must be in [0, 1)"),
    (["train", "--task", "reverse", "--resume"], "--resume needs --checkpoint"),
    (["train", "--task", "copy", "--text", "x.txt"], "--text is only for --task chars"),
    (["params", "--preset", "gpt5"], "valid names: gpt3-small"),
    (["params"], "the following arguments are required: --preset"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_arguments_exit_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage:" in err


def test_resume_from_a_corrupt_checkpoint_fails_cleanly(capsys, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code = main(["train", "--task", "copy", "--steps", "2", "--n-train", "50", "--n-val", "5", "--no-progress",
                 "--checkpoint", str(bad), "--resume"])
    assert code == 1
    err = capsys.readouterr().err
    assert "truncated or corrupt" in err and str(bad) in err


def test_train_numbers_reports_bleu_and_writes_the_history(capsys, tmp_path):
    history = tmp_path / "runs" / "numbers.json"  # the directory is created
    argv = ["train", "--task", "numbers", "--steps", "4", "--n-train", "60", "--n-val", "12", "--d-model", "32",
            "--layers", "1", "--heads", "2", "--d-ff", "64", "--eval-interval", "2", "--no-progress",
            "--history", str(history)]
    assert main(argv) == 0
    result = last_json(capsys)
    assert 0.0 <= result["exact_match"] <= 1.0 and 0.0 <= result["bleu"] <= 100.0 and result["n_val"] == 12
    assert result["history"] == str(history)
    saved = json.loads(history.read_text())
    assert saved["task"] == "numbers" and len(saved["losses"]) == 4 and saved["step"] == 4
    assert [e["step"] for e in saved["evals"]] == [2, 4]
    assert all({"val_loss", "exact_match", "bleu"} <= set(e) for e in saved["evals"])
    assert saved["evals"][-1]["bleu"] == result["bleu"] and saved["val_loss"] == result["val_loss"]
    assert saved["train_config"]["steps"] == 4 and saved["model_config"]["d_model"] == 32


def test_train_help_shows_the_torchrun_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "torchrun --standalone --nproc_per_node=2 -m tfm train" in out
    assert "--history PATH" in out and "global batch" in out
