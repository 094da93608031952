"""One training loop for both models: the encoder-decoder and GPT.

The loop is the same for every model in the course:

    for step in 1..steps:
        lr = lr_at(step)                    # warm-up, then decay
        batch = get_batch(step, generator)  # (inputs..., target)
        loss = cross_entropy(model(*inputs), target)
        loss.backward(); clip gradients; optimizer.step()

Around it: periodic evaluation, checkpoints that are written atomically and hold
everything needed to resume *exactly* (model, optimizer, step, every random state; see
:mod:`tfm.checkpoint`), and Ctrl-C handling that finishes the current step, saves a
checkpoint and then stops.

A GPU runs ahead of the CPU only while the CPU never waits for it: in the steady state a step
reads nothing back from the device. The losses stay on the device and are read back together
every ``log_interval`` steps, at evaluations and at checkpoints; the ids are checked on the
CPU, where a batch enters the loop; the random states are read only when a checkpoint is saved.

The same loop runs data-parallel on several processes when started by ``torchrun``
(see :mod:`tfm.distributed`): every process builds the same global batch, trains on its
own slice of the rows, and DistributedDataParallel averages the gradients, so the result
does not depend on the number of processes. A checkpoint holds every process's random state:
resumed with the same number of processes, dropout included, the run continues exactly as
if it had not stopped; with another number, processes other than rank 0 start new dropout streams.

``get_batch(step, generator)`` returns a tuple of tensors whose last element is the target:
``(src, tgt_in, tgt_out)`` for the :class:`~tfm.model.Transformer`, ``(x, y)`` for
:class:`~tfm.model.GPT`. It must draw its randomness from ``generator`` (a
``torch.Generator`` owned by the loop and saved in checkpoints), e.g.
``lambda step, g: sample_batch(task.train, 64, generator=g)``.
"""
from __future__ import annotations

import gc
import math
import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

# The names below were all defined here before the split; they stay importable from tfm.train.
from .checkpoint import (  # noqa: F401
    CHECKPOINT_FORMAT, CHECKPOINT_VERSION, REQUIRED_KEYS, get_rng_state, load_checkpoint, make_checkpoint,
    model_from_checkpoint, model_kind, save_checkpoint, set_rng_state,
)
from .distributed import DistInfo, dist_info, setup_distributed, shard_batch  # noqa: F401
from .losses import Batch, LossFn, check_batch_ids, count_targets, default_loss_fn, lm_loss, seq2seq_loss  # noqa: F401
from .metrics import corpus_bleu, estimate_loss, seq2seq_exact_match, seq2seq_metrics, seq2seq_predict  # noqa: F401

GetBatch = Callable[[int, torch.Generator], Batch]
SCHEDULES = ("noam", "cosine", "constant")
TORCH_VERSION = tuple(int(x) for x in re.findall(r"\d+", torch.__version__)[:2])
FUSED_ADAMW_ON_CPU = (2, 4)  # the first torch with a fused AdamW for the CPU (CUDA has had one since 2.0)

# Peak dense bf16 tensor-core FLOP/s, for the model FLOPs utilisation (MFU) estimate.
PEAK_FLOPS = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L4": 121e12}


@dataclass
class TrainConfig:
    """Everything about *how* to train (the model's sizes live in its own config)."""

    steps: int = 1000
    batch_size: int = 64  # for get_batch functions that read it; the loop itself does not
    lr: float = 1e-3  # peak learning rate; for "noam" the factor in front of the paper's formula
    schedule: str = "cosine"  # "noam" (the paper), "cosine" (GPT) or "constant"
    warmup_steps: int = 100
    min_lr: float = 0.0  # where "cosine" ends
    weight_decay: float = 0.0  # AdamW, on weight matrices and embeddings only
    betas: tuple[float, float] = (0.9, 0.98)  # the paper; GPT-3 uses (0.9, 0.95)
    eps: float = 1e-9  # the paper's Adam epsilon
    label_smoothing: float = 0.0  # the paper uses 0.1
    grad_clip: float | None = 1.0  # max global gradient norm; None or 0: no clipping
    eval_interval: int = 100  # evaluate every this many steps (and at the end); 0: only at the end
    eval_batches: int = 10  # batches averaged for the validation loss
    checkpoint: str | None = None  # path of the checkpoint file; None: no checkpoints
    checkpoint_interval: int = 0  # save every this many steps; 0: only at the end (and on Ctrl-C)
    seed: int = 0
    device: str | None = None  # None: tfm.device.get_device()
    amp: str = "auto"  # "auto": bf16 autocast on CUDA, off elsewhere; "bf16"; "off"
    compile: bool = False  # torch.compile the model
    fused: bool | None = None  # AdamW's fused kernel; None: on CUDA only (same numbers as before on the CPU)
    progress: bool = True  # tqdm progress bar on stderr
    log_interval: int = 10  # read the losses back from the device (and show them) every this many steps

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp must be 'auto', 'bf16' or 'off', got {self.amp!r}")
        if self.steps < 0 or self.warmup_steps < 0 or self.eval_interval < 0 or self.checkpoint_interval < 0:
            raise ValueError("steps, warmup_steps, eval_interval and checkpoint_interval must be >= 0")
        if self.log_interval <= 0:
            raise ValueError(f"log_interval must be > 0, got {self.log_interval}")
        if self.schedule == "noam" and self.warmup_steps == 0:
            raise ValueError("the noam schedule needs warmup_steps > 0")
        self.betas = tuple(self.betas)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """What a run produced. ``losses[i]`` is the training loss of step i + 1."""

    losses: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)  # {"step": s, "val_loss": ..., other metrics}
    step: int = 0  # last completed step
    start_step: int = 0  # > 0 when resumed from a checkpoint
    seconds: float = 0.0  # wall time of this call, evaluation included
    tokens: int = 0  # real (non-padding) target positions processed in this call, all processes together
    tokens_per_s: float = 0.0  # over the training steps only
    mfu: float | None = None  # model FLOPs utilisation per GPU, CUDA only
    world_size: int = 1  # processes that trained together (torchrun)

    @property
    def val_loss(self) -> float | None:
        return self.evals[-1].get("val_loss") if self.evals else None

    def to_dict(self) -> dict:
        """Plain data for a JSON file: the loss history and the evaluations, to plot later."""
        return {**asdict(self), "val_loss": self.val_loss}


# ---- learning-rate schedule and optimizer ----

def lr_at(step: int, cfg: TrainConfig, d_model: int | None = None) -> float:
    """Learning rate of update number ``step`` (1-based).

    noam:     cfg.lr * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)  (cfg.lr = 1 is the paper)
    cosine:   linear warm-up to cfg.lr, then half a cosine down to cfg.min_lr at cfg.steps
    constant: linear warm-up to cfg.lr, then cfg.lr
    """
    step = max(step, 1)
    if cfg.schedule == "noam":
        if d_model is None:
            raise ValueError("the noam schedule needs d_model")
        return cfg.lr * d_model ** -0.5 * min(step ** -0.5, step * cfg.warmup_steps ** -1.5)
    if step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps  # linear warm-up
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))  # 0 -> 1
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


def fused_adamw_available(device_type: str) -> bool:
    """Does this torch have a fused AdamW for ``device_type``? CUDA: yes; the CPU: from torch 2.4."""
    return device_type == "cuda" or (device_type == "cpu" and TORCH_VERSION >= FUSED_ADAMW_ON_CPU)


def configure_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0,
                        betas: tuple[float, float] = (0.9, 0.98), eps: float = 1e-9,
                        fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW with two groups, as in nanoGPT: weight decay on every parameter with >= 2
    dimensions (weight matrices, embeddings), none on biases and LayerNorm weights (1-D).

    ``fused``: one kernel updates every parameter (on a small model about 5x faster than the
    default "foreach" update; the same formula, rounded differently). None: on CUDA only.
    True on the CPU needs torch >= 2.4 (ValueError before); on other devices it is ignored.
    """
    params = [p for p in model.parameters() if p.requires_grad]  # tied weights appear once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    devices = {p.device.type for p in params}
    if fused is None:
        fused = devices == {"cuda"}
    fused = fused and devices <= {"cpu", "cuda"} and all(p.is_floating_point() for p in params)
    if fused and not all(fused_adamw_available(d) for d in devices):
        raise ValueError(f"fused AdamW on the CPU needs torch >= {'.'.join(map(str, FUSED_ADAMW_ON_CPU))}, "
                         f"this is torch {torch.__version__}: pass fused=None or False")
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, **({"fused": True} if fused else {}))


# ---- Ctrl-C, mixed precision, FLOPs ----

@contextmanager
def delayed_interrupt() -> Iterator[list[int]]:
    """Hold a Ctrl-C back until the block has finished, so an update is never cut in half.

    Yields the list of signals received so far (the block may look at it and stop early).
    After the block, a held Ctrl-C does what it would have done: Python's handler (or the
    program's own) runs and raises KeyboardInterrupt; under SIG_DFL the process ends. A process
    that ignores SIGINT (SIG_IGN: started in the background by a non-interactive shell, nohup, or a
    CI runner) keeps ignoring it. Only the main thread receives signals; elsewhere this does nothing.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield received
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt here
        elif received:
            signal.raise_signal(signal.SIGINT)  # SIG_DFL (or a handler set from C): as if it came now


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast: on request, or ("auto") on a CUDA GPU that supports it."""
    if cfg.amp == "off":
        return False
    if cfg.amp == "bf16":
        return True
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def peak_flops_for(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of the detected GPU, if it is in :data:`PEAK_FLOPS`."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, flops in PEAK_FLOPS.items():  # "H100 PCIe" is checked before "H100"
        if key in name:
            return flops
    return None


def train(model: nn.Module, get_batch: GetBatch, cfg: TrainConfig, *,
          get_val_batch: GetBatch | None = None, evaluate: Callable[[nn.Module], dict] | None = None,
          loss_fn: LossFn | None = None, resume: bool | str | Path = False, meta: dict | None = None,
          peak_flops: float | None = None) -> TrainResult:
    """Train ``model`` for ``cfg.steps`` optimizer updates and return the history.

    get_batch(step, generator): the training batch of a step, ``(inputs..., target)`` on the CPU.
    get_val_batch(i, generator): the i-th validation batch; the mean loss of ``cfg.eval_batches``
        of them is logged as "val_loss" (the same batches every time).
    evaluate(model): extra metrics as a dict (e.g. exact match), logged with val_loss.
    loss_fn(model, batch): default cross-entropy, padding ignored for the Transformer.
    resume: True: continue from ``cfg.checkpoint`` if that file exists; a path: from that file.
    meta: plain data stored in the checkpoint (e.g. the vocabulary).
    Ctrl-C finishes the current step, saves a checkpoint (if ``cfg.checkpoint`` is set) and then
    re-raises KeyboardInterrupt.

    Under ``torchrun`` every process calls this with the same arguments: get_batch returns
    the *global* batch, each process trains on its rows (see :func:`shard_batch`), and only
    rank 0 writes checkpoints and prints. Every process evaluates (the same numbers).
    """
    from .loop import Loop

    info, device, created = setup_distributed(cfg.device)
    loop = None
    try:
        loop = Loop(model, get_batch, cfg, info, device, loss_fn=loss_fn, meta=meta, peak_flops=peak_flops,
                    get_val_batch=get_val_batch, evaluate=evaluate)
        loop.resume(resume)
        return loop.run()
    finally:
        del loop  # DDP's reducer uses the process group: let it go first, not at interpreter exit
        if created:
            gc.collect()  # DDP's hooks form reference cycles: free them now, while the group still exists
            torch.distributed.destroy_process_group()
