"""What a GPU run depends on, tested on the CPU by forcing the GPU's code paths (issue 12).

A CPU test cannot see a GPU wait, but it can count the places where Python reads a tensor's
value (``.item()``, ``.tolist()``, ``bool(t)`` ...): on a GPU each one makes the CPU wait until
the GPU has finished everything queued before it. Each test here failed before its fix. Tests
that take the ``device`` fixture also run on CUDA where there is a GPU (benchmarks/gpu_check.py).
"""
from __future__ import annotations

import ast
import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import tfm
import tfm.data
import tfm.device
import tfm.loop
from tfm.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from tfm.data import make_task, sample_batch
from tfm.generate import beam_search, filter_logits, greedy_decode
from tfm.losses import lm_loss, seq2seq_loss
from tfm.train import TrainConfig, configure_optimizer, train

TFM_DIR = Path(tfm.__file__).parent
READS = ("item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__")


@contextmanager
def reads_from_tfm(tag=lambda: "read"):
    """Yield a list of (tag(), function, file) for every read of a tensor's value made directly by
    tfm's code; ``tag()`` None: not recorded."""
    originals = {name: getattr(torch.Tensor, name) for name in READS}
    record: list = []

    def spy(name):
        def read(self, *args, **kwargs):
            caller = sys._getframe(1)
            label = tag()
            if Path(caller.f_code.co_filename).parent == TFM_DIR and label is not None:
                record.append((label, caller.f_code.co_name, Path(caller.f_code.co_filename).name))
            return originals[name](self, *args, **kwargs)
        return read

    for name in READS:
        setattr(torch.Tensor, name, spy(name))
    try:
        yield record
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)


def tiny_gpt(vocab: int = 20, dropout: float = 0.0) -> tfm.GPT:
    torch.manual_seed(0)
    return tfm.GPT(tfm.GPTConfig(vocab_size=vocab, max_len=8, n_layers=1, d_model=16, n_heads=2, dropout=dropout))


def tiny_transformer(task) -> tfm.Transformer:
    torch.manual_seed(0)
    return tfm.Transformer(tfm.TransformerConfig(len(task.src_vocab), len(task.tgt_vocab), d_model=16, n_heads=2,
                                                 d_ff=32, n_encoder_layers=1, n_decoder_layers=1, dropout=0.0,
                                                 max_len=16))


def quiet(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(steps=12, lr=1e-3, warmup_steps=2, eval_interval=0, eval_batches=0,
                                 progress=False, device="cpu"), **kw})


# ---- the training step ----

@pytest.mark.parametrize("kind", ["gpt", "transformer"])
def test_training_reads_nothing_back_between_log_intervals(kind, device, monkeypatch):
    """In the steady state a step reads no value of a tensor that is on the device: the losses are
    read back together every log_interval steps (and at the last step). Reads of the CPU batch
    before it moves to the device (the id check, the target count) cost the GPU nothing."""
    monkeypatch.setattr(tfm.device, "can_peek", lambda t: False)  # on the CPU: the GPU's path of attention
    task = make_task("reverse", 200, 0, seed=0, max_len=6)
    data = torch.randint(0, 20, (500,), generator=torch.Generator().manual_seed(0))
    if kind == "gpt":
        model, get_batch = tiny_gpt(), (lambda step, g: tfm.data.get_lm_batch(data, 8, 4, g))
    else:
        model, get_batch = tiny_transformer(task), (lambda step, g: sample_batch(task.train, 4, g))
    state = {"step": 0, "on_device": False}
    real_to_device = tfm.loop.to_device

    def batch(step, g):
        state.update(step=step, on_device=False)
        return get_batch(step, g)

    def moved(tensors, device):
        state["on_device"] = True  # from here until the next batch, every read would wait for a GPU
        return real_to_device(tensors, device)

    monkeypatch.setattr(tfm.loop, "to_device", moved)
    with reads_from_tfm(lambda: (state["step"], state["on_device"])) as all_reads:
        result = train(model, batch, quiet(log_interval=5, device=device.type))
    reads = [(step, fn, file) for (step, on_device), fn, file in all_reads if on_device]
    assert sorted({step for step, _, _ in reads}) == [5, 10, 12], reads  # the flushes, and nothing else
    assert {(fn, file) for _, fn, file in reads} == {("flush", "loop.py")}, reads
    # The ids are checked once, where the batch enters (its min and max per id tensor), not again
    # by the model: 1 tensor of ids for the GPT, 2 (src, tgt_in) for the encoder-decoder.
    checks = [step for (step, on_device), fn, _ in all_reads if fn == "check_tokens"]
    assert checks == sorted([step for step in range(1, 13)] * 2 * (1 if kind == "gpt" else 2))
    assert len(result.losses) == 12 and len(set(result.losses)) == 12


def test_batches_are_copied_non_blocking_only_from_pinned_memory(monkeypatch):
    """non_blocking=True from ordinary (pageable) memory is a synchronous copy in disguise; to a GPU
    the batch goes through pinned memory, everywhere else with a plain copy."""
    calls, pinned = [], set()
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        calls.append((id(self) in pinned, kwargs.get("non_blocking", False)))
        return self if args and args[0] == torch.device("cuda") else real_to(self, *args, **kwargs)

    def pin_memory(self):
        out = self.clone()
        pinned.add(id(out))
        return out

    monkeypatch.setattr(torch.Tensor, "to", to)
    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    monkeypatch.setattr(torch.Tensor, "is_pinned", lambda self: id(self) in pinned)
    batch = (torch.ones(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    kept = [tfm.device.to_device(batch, torch.device("cuda")), tfm.device.to_device(batch, torch.device("cpu"))]
    data = torch.randint(0, 20, (200,), generator=torch.Generator().manual_seed(0))
    train(tiny_gpt(), lambda step, g: tfm.data.get_lm_batch(data, 8, 4, g), quiet(steps=2))
    assert (True, True) in calls  # the CUDA path: pinned, then asynchronous
    assert all(is_pinned for is_pinned, non_blocking in calls if non_blocking), calls
    assert len(kept) == 2


def test_random_states_are_captured_only_for_checkpoints(tmp_path, monkeypatch):
    """Capturing every random state is CPU work the loop did at every step; now it happens when a
    checkpoint is written. (Ctrl-C still saves an exact state: see test_train.py's Ctrl-C tests.)"""
    import tfm.loop

    captured = []
    real = tfm.loop.get_rng_state
    monkeypatch.setattr(tfm.loop, "get_rng_state", lambda g: (captured.append(1), real(g))[1])
    data = torch.randint(0, 20, (200,), generator=torch.Generator().manual_seed(0))
    train(tiny_gpt(), lambda step, g: tfm.data.get_lm_batch(data, 8, 4, g),
          quiet(steps=12, checkpoint=str(tmp_path / "c.pt"), checkpoint_interval=5))
    assert len(captured) == 3  # steps 5, 10 and the final one


def test_tokens_per_second_counts_real_targets_not_padding():
    task = make_task("reverse", 200, 0, seed=0, max_len=6)
    result = train(tiny_transformer(task), lambda step, g: sample_batch(task.train, 8, g), quiet(steps=4))
    g = torch.Generator().manual_seed(0)  # the loop's batch generator, seed 0: the same batches again
    real = sum(int((sample_batch(task.train, 8, g)[-1] != 0).sum()) for _ in range(4))
    padded = 4 * 8 * max(len(t) + 1 for _, t in task.train)
    assert result.tokens == real < padded


# ---- checkpoints ----

def test_random_states_load_onto_the_cpu_whatever_the_map_location(tmp_path):
    """On a GPU ``map_location="cuda"`` put the saved random states on the GPU, where
    torch.set_rng_state refuses them. "meta", a device that is not the CPU, stands in for it."""
    path = tmp_path / "c.pt"
    data = torch.randint(0, 20, (200,), generator=torch.Generator().manual_seed(0))
    train(tiny_gpt(), lambda step, g: tfm.data.get_lm_batch(data, 8, 4, g), quiet(steps=2, checkpoint=str(path)))
    ckpt = load_checkpoint(path, map_location="meta")
    assert next(iter(ckpt["model"].values())).device.type == "meta"  # the weights went where asked
    rng = ckpt["rng"]
    assert rng["torch"].device.type == rng["batch"].device.type == "cpu"
    set_rng_state(rng, torch.Generator())
    assert torch.equal(torch.get_rng_state(), load_checkpoint(path)["rng"]["torch"])


def test_ctrl_c_on_the_device_resumes_exactly(device, tmp_path):
    """Ctrl-C (here raised by the batch function at step 6), then a resume in a new model: the
    losses of the uninterrupted run, dropout included. On CUDA the checkpoint's random states
    come back from the GPU run and are restored onto the CPU and the GPU."""
    data = torch.randint(0, 20, (400,), generator=torch.Generator().manual_seed(0))
    cfg = quiet(steps=10, device=device.type, checkpoint=str(tmp_path / "c.pt"), amp="off")

    def get_batch(step, g):
        return tfm.data.get_lm_batch(data, 8, 4, g)

    def interrupted(step, g):
        if step == 6:
            raise KeyboardInterrupt
        return get_batch(step, g)

    full = train(tiny_gpt(dropout=0.2), get_batch, TrainConfig(**{**cfg.to_dict(), "checkpoint": None}))
    with pytest.raises(KeyboardInterrupt):
        train(tiny_gpt(dropout=0.2), interrupted, cfg)
    assert load_checkpoint(cfg.checkpoint)["step"] == 5
    resumed = train(tiny_gpt(dropout=0.2), get_batch, cfg, resume=True)
    assert resumed.start_step == 5
    torch.testing.assert_close(resumed.losses, full.losses, rtol=1e-5, atol=1e-6)  # CUDA: atomics may round
    if device.type == "cpu":
        assert resumed.losses == full.losses


def test_saving_leaves_the_umask_alone(tmp_path, monkeypatch):
    """The umask is process-wide: setting it, even for a moment, races with other threads'
    new files. The checkpoint still gets a normal file's mode (0o666 minus the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)

    def no_umask(*args):
        raise AssertionError("os.umask called while saving")

    monkeypatch.setattr(os, "umask", no_umask)
    save_checkpoint(tmp_path / "c.pt", {"format": "x"})
    assert stat.S_IMODE((tmp_path / "c.pt").stat().st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["c.pt"]


def test_fused_adamw_on_the_cpu_needs_torch_2_4(monkeypatch):
    import tfm.train

    monkeypatch.setattr(tfm.train, "TORCH_VERSION", (2, 3))
    with pytest.raises(ValueError, match=r"torch >= 2\.4"):
        configure_optimizer(tiny_gpt(), lr=1e-3, fused=True)
    assert not configure_optimizer(tiny_gpt(), lr=1e-3).defaults.get("fused")  # the default: foreach
    from tfm.__main__ import build_parser, _train_config
    args = build_parser().parse_args(["train", "--task", "copy"])
    assert _train_config(args, {"lr": 1e-3, "warmup": 1, "batch_size": 8, "weight_decay": 0.0,
                                "eval_interval": 10}, 5, (0.9, 0.98), 16).fused is None
    monkeypatch.setattr(tfm.train, "TORCH_VERSION", (2, 4))
    assert configure_optimizer(tiny_gpt(), lr=1e-3, fused=True).defaults["fused"] is True


# ---- generation ----

def test_generated_ids_can_be_trained_on(device):
    """Inference tensors cannot be saved for backward: generated ids used to be such tensors."""
    gpt = tiny_gpt().to(device)
    out = gpt.generate(torch.tensor([[1, 2, 3]], device=device), 4)
    assert not out.is_inference()
    lm_loss(gpt(out[:, :-1]), out[:, 1:]).backward()  # a training step on the model's own text
    task = make_task("reverse", 100, 0, seed=0, max_len=6)
    model = tiny_transformer(task).to(device)
    src = torch.tensor([[4, 5, 6]], device=device)
    for ids in (greedy_decode(model, src, 4), beam_search(model, src, 2, 4), model.generate(src, 4)):
        assert not ids.is_inference()
        seq2seq_loss(model(src, ids[:, :-1]), ids[:, 1:], pad_id=0).backward()


def test_beam_search_reads_back_once_per_step_not_per_beam(device, monkeypatch):
    monkeypatch.setattr(tfm.device, "can_peek", lambda t: False)
    task = make_task("reverse", 100, 0, seed=0, max_len=6)
    model = tiny_transformer(task).eval().to(device)
    src = torch.randint(4, len(task.src_vocab), (8, 5), generator=torch.Generator().manual_seed(0)).to(device)
    with reads_from_tfm() as reads:
        out = beam_search(model, src, beam_size=4, max_new_tokens=10)
    assert out.size(0) == 8
    entry = [r for r in reads if r[1] == "check_tokens"]
    assert len(entry) == 2  # the ids' min and max, once, where the source enters
    assert len(reads) - len(entry) <= 10 + 1, reads  # then at most one per step (all finished?), one at the end
    assert torch.equal(out.cpu(), beam_search(model.cpu(), src.cpu(), beam_size=4, max_new_tokens=10))


def test_gpt_generation_past_the_window_does_not_rebuild_the_cache(device, monkeypatch):
    """Once the window is full every step re-runs the whole window (learned absolute positions):
    a cache would be rebuilt at each step for nothing. Tokens equal the uncached run."""
    gpt = tiny_gpt().to(device)  # max_len 8
    made = []
    real = gpt.decoder.new_cache
    monkeypatch.setattr(gpt.decoder, "new_cache", lambda: (made.append(1), real())[1])
    idx = torch.tensor([[1, 2, 3]], device=device)
    cached = gpt.generate(idx, 12)
    assert len(made) == 1
    assert torch.equal(cached, gpt.generate(idx, 12, use_cache=False))


def test_top_p_sums_probabilities_in_float32(device):
    """A bf16 running sum stalls (0.25 + 0.001 rounds back to 0.25), so top-p kept far too many tokens."""
    logits = torch.zeros(1, 1000, device=device)
    kept32 = filter_logits(logits, top_p=0.5).isfinite().sum()
    kept16 = filter_logits(logits.bfloat16(), top_p=0.5).isfinite().sum()
    assert kept32 == 500 and kept16 == kept32


# ---- code size ----

def test_functions_fit_on_a_screen_and_files_stay_readable():
    """No function in tfm/ longer than 60 lines, no file longer than 450 (the tokenizer's BPE and
    the parameter tables are no exception today)."""
    too_long = []
    for path in sorted(TFM_DIR.glob("*.py")):
        source = path.read_text()
        if len(source.splitlines()) > 450:
            too_long.append(f"{path.name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    too_long.append(f"{path.name}: {node.name}() has {n} lines")
    assert not too_long, too_long
