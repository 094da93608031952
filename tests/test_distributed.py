"""Data-parallel training under torchrun: two CPU processes (gloo) give the losses of one
process with the same global batch, their checkpoint resumes in one process, and a Ctrl-C
that reaches only one of them stops both after the same step with the checkpoint saved.

The runs start ``python -m torch.distributed.run`` (what the ``torchrun`` command runs) in a
subprocess. Run as a script, this file is the worker of the Ctrl-C test (see ``worker``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tfm.data import get_lm_batch  # noqa: E402
from tfm.model import GPT, GPTConfig  # noqa: E402
from tfm.train import DistInfo, TrainConfig, load_checkpoint, model_from_checkpoint, shard_batch, train  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="this torch has no torch.distributed with the gloo backend")

# A tiny encoder-decoder on "copy": sequences of different lengths, so the two halves of a
# batch hold different numbers of real (non-padding) targets, the case the loss weighting handles.
# A constant learning rate after the warm-up: a 6-step run resumed to 9 steps is then the 9-step run.
SEQ2SEQ_ARGS = ["train", "--task", "copy", "--n-train", "300", "--n-val", "16", "--d-model", "32", "--layers", "1",
                "--heads", "2", "--d-ff", "64", "--dropout", "0", "--batch-size", "8", "--warmup", "2",
                "--schedule", "constant",
                "--eval-interval", "3", "--eval-batches", "2", "--threads", "1", "--no-progress"]


def torchrun(*args: str, nproc: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=nproc ARGS`` (--standalone: a free port on this machine)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)  # the launcher sets its own
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def cli(argv: list[str], capsys) -> dict:
    """Run ``python -m tfm`` in this process; the last stdout line is the JSON result."""
    from tfm.__main__ import main

    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def close(a: list[float], b: list[float]) -> bool:
    return torch.allclose(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                          rtol=1e-5, atol=1e-6)


def test_shard_batch_gives_each_rank_its_rows():
    x, y = torch.arange(12).view(6, 2), torch.arange(6)
    shards = [shard_batch((x, y), DistInfo(rank, 3)) for rank in range(3)]
    assert torch.equal(torch.cat([s[0] for s in shards]), x) and torch.equal(torch.cat([s[1] for s in shards]), y)
    assert torch.equal(shards[1][0], x[2:4])
    with pytest.raises(ValueError, match="divisible"):
        shard_batch((x, y), DistInfo(0, 4))


def test_torchrun_gives_the_losses_of_one_process_and_its_checkpoint_resumes(tmp_path, capsys):
    ddp_ckpt, ddp_hist = tmp_path / "ddp.pt", tmp_path / "ddp.json"
    proc = torchrun("-m", "tfm", *SEQ2SEQ_ARGS, "--steps", "6", "--checkpoint", str(ddp_ckpt),
                    "--history", str(ddp_hist))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # only rank 0 reports
    ddp = json.loads(lines[0])
    assert ddp["world_size"] == 2 and ddp["steps"] == 6

    one = cli(SEQ2SEQ_ARGS + ["--steps", "6", "--history", str(tmp_path / "one.json")], capsys)
    ddp_h, one_h = json.loads(ddp_hist.read_text()), json.loads((tmp_path / "one.json").read_text())
    assert len(ddp_h["losses"]) == 6 and close(ddp_h["losses"], one_h["losses"])  # every step, not just the last
    assert len(set(one_h["losses"])) == 6  # the losses really change
    assert [e["step"] for e in ddp_h["evals"]] == [e["step"] for e in one_h["evals"]] == [3, 6]
    assert close([e["val_loss"] for e in ddp_h["evals"]], [e["val_loss"] for e in one_h["evals"]])
    assert ddp["exact_match"] == one["exact_match"]

    # The checkpoint holds the plain model (no DDP "module." prefix) and resumes in one process.
    ckpt = load_checkpoint(ddp_ckpt)
    assert ckpt["step"] == 6 and not any(k.startswith("module.") for k in ckpt["model"])
    model_from_checkpoint(ddp_ckpt)
    resumed = cli(SEQ2SEQ_ARGS + ["--steps", "9", "--checkpoint", str(ddp_ckpt), "--resume",
                                  "--history", str(tmp_path / "resumed.json")], capsys)
    full = cli(SEQ2SEQ_ARGS + ["--steps", "9", "--history", str(tmp_path / "full.json")], capsys)
    assert resumed["resumed_from_step"] == 6 and resumed["steps"] == 9
    resumed_losses = json.loads((tmp_path / "resumed.json").read_text())["losses"]
    assert close(resumed_losses, json.loads((tmp_path / "full.json").read_text())["losses"])


def test_torchrun_resume_with_dropout_is_exact_on_every_rank(tmp_path):
    """Every process's random state is in the checkpoint: with dropout, a 2-process run stopped at
    step 6 and resumed in 2 processes gives the losses of the uninterrupted 2-process run (before,
    rank 1 got a new dropout stream when it resumed)."""
    args = [a if a != "0" or i == 0 or SEQ2SEQ_ARGS[i - 1] != "--dropout" else "0.2"
            for i, a in enumerate(SEQ2SEQ_ARGS)]
    assert args[args.index("--dropout") + 1] == "0.2"
    ckpt = tmp_path / "ckpt.pt"
    runs = {"part": ["--steps", "6", "--checkpoint", str(ckpt)],
            "resumed": ["--steps", "9", "--checkpoint", str(ckpt), "--resume"], "full": ["--steps", "9"]}
    for name, extra in runs.items():
        proc = torchrun("-m", "tfm", *args, *extra, "--history", str(tmp_path / f"{name}.json"))
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(load_checkpoint(ckpt)["rank_rngs"]) == 2
    resumed, full = (json.loads((tmp_path / f"{n}.json").read_text())["losses"] for n in ("resumed", "full"))
    assert len(resumed) == len(full) == 9
    assert resumed == full  # bit for bit: the same processes, the same random numbers


# ---- Ctrl-C under torchrun ----

STEPS, STOP_AT = 8, 5  # the worker's run, and the step during which rank 1 alone gets a SIGINT


def gpt_setup() -> tuple[GPT, callable, TrainConfig]:
    """A tiny GPT on random tokens, and its training config (the same in every process)."""
    data = torch.randint(0, 40, (3000,), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, max_len=16, n_layers=1, d_model=32, n_heads=2, dropout=0.0))
    cfg = TrainConfig(steps=STEPS, lr=3e-3, warmup_steps=2, eval_interval=0, progress=False, device="cpu", seed=3,
                      weight_decay=0.1)
    return model, (lambda step, g: get_lm_batch(data, 16, 8, g)), cfg


def worker(out_dir: Path) -> None:
    """One process of the Ctrl-C test: rank 1 sends itself SIGINT in the middle of step STOP_AT."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a terminal's Ctrl-C, whatever the launcher left
    model, get_batch, cfg = gpt_setup()
    rank = int(os.environ["RANK"])

    def batch_then_ctrl_c(step: int, g: torch.Generator):
        if step == STOP_AT and rank == 1:
            os.kill(os.getpid(), signal.SIGINT)  # what a Ctrl-C in the terminal does, but to one process only
        return get_batch(step, g)

    cfg.checkpoint = str(out_dir / "ckpt.pt")
    try:
        train(model, batch_then_ctrl_c, cfg)
        stopped = False
    except KeyboardInterrupt:
        stopped = True
    (out_dir / f"rank{rank}.json").write_text(json.dumps({"stopped": stopped}))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_in_one_process_stops_all_after_the_same_step_with_the_checkpoint_saved(tmp_path):
    proc = torchrun(__file__, "--worker", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [json.loads((tmp_path / f"rank{r}.json").read_text())["stopped"] for r in (0, 1)] == [True, True]
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    assert ckpt["step"] == STOP_AT  # the interrupted step was finished, then everyone stopped

    model, get_batch, cfg = gpt_setup()
    full = train(model, get_batch, cfg)  # one process, never interrupted
    assert close(ckpt["losses"], full.losses[:STOP_AT])
    shutil.copy(tmp_path / "ckpt.pt", tmp_path / "resume.pt")
    model, get_batch, cfg = gpt_setup()
    cfg.checkpoint = str(tmp_path / "resume.pt")
    resumed = train(model, get_batch, cfg, resume=True)  # the rest in one process
    assert resumed.start_step == STOP_AT and close(resumed.losses, full.losses)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=Path, required=True)
    worker(parser.parse_args().worker)
