"""One training loop for both models: the encoder-decoder and GPT.

The loop is the same for every model in the course:

    for step in 1..steps:
        lr = lr_at(step)                    # warm-up, then decay
        batch = get_batch(step, generator)  # (inputs..., target)
        loss = cross_entropy(model(*inputs), target)
        loss.backward(); clip gradients; optimizer.step()

Around it: periodic evaluation, checkpoints that are written atomically and hold
everything needed to resume *exactly* (model, optimizer, step, every random state),
and Ctrl-C handling that saves a checkpoint before stopping.

The same loop runs data-parallel on several processes when started by ``torchrun``
(see :func:`setup_distributed`): every process builds the same global batch, trains on its
own slice of the rows, and DistributedDataParallel averages the gradients, so the result
does not depend on the number of processes.

``get_batch(step, generator)`` returns a tuple of tensors whose last element is the target:
``(src, tgt_in, tgt_out)`` for the :class:`~tfm.model.Transformer`, ``(x, y)`` for
:class:`~tfm.model.GPT`. It must draw its randomness from ``generator`` (a
``torch.Generator`` owned by the loop and saved in checkpoints), e.g.
``lambda step, g: sample_batch(task.train, 64, generator=g)``.
"""
from __future__ import annotations

import inspect
import math
import os
import pickle
import random
import re
import signal
import sys
import tempfile
import threading
import time
import zipfile
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .device import get_device
from .embedding import check_tokens
from .model import GPT, GPTConfig, Transformer, TransformerConfig

Batch = tuple[Tensor, ...]  # (inputs..., target)
GetBatch = Callable[[int, torch.Generator], Batch]
LossFn = Callable[[nn.Module, Batch], Tensor]

CHECKPOINT_FORMAT = "tfm-checkpoint"
CHECKPOINT_VERSION = 1
SCHEDULES = ("noam", "cosine", "constant")

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

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp must be 'auto', 'bf16' or 'off', got {self.amp!r}")
        if self.steps < 0 or self.warmup_steps < 0 or self.eval_interval < 0 or self.checkpoint_interval < 0:
            raise ValueError("steps, warmup_steps, eval_interval and checkpoint_interval must be >= 0")
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
    tokens: int = 0  # target positions processed in this call (all processes together)
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


def configure_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0,
                        betas: tuple[float, float] = (0.9, 0.98), eps: float = 1e-9,
                        fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW with two groups, as in nanoGPT: weight decay on every parameter with >= 2
    dimensions (weight matrices, embeddings), none on biases and LayerNorm weights (1-D).

    ``fused``: one kernel updates every parameter (on a small model about 5x faster than the
    default "foreach" update; the same formula, rounded differently). None: on CUDA only.
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
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, **({"fused": True} if fused else {}))


# ---- losses ----

def lm_loss(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Next-token cross-entropy: logits (B, T, V), targets (B, T) -> mean over all positions."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                           label_smoothing=label_smoothing)


def seq2seq_loss(logits: Tensor, targets: Tensor, pad_id: int, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy over the real target tokens: padding positions (== pad_id) do not count."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                           ignore_index=pad_id, label_smoothing=label_smoothing)


def default_loss_fn(model: nn.Module, label_smoothing: float = 0.0, check_ids: bool = True) -> LossFn:
    """``loss_fn(model, batch)``: the last tensor of the batch is the target, the others the inputs.

    ``check_ids=False``: the model does not check the ids, for callers that did already.
    :func:`train` checks every batch on the CPU (:func:`check_batch_ids`) before it moves to the
    device: a check on a GPU would make the CPU wait for the GPU at every step.
    """
    config = model.config
    if isinstance(config, TransformerConfig):
        return lambda m, batch: seq2seq_loss(m(batch[0], batch[1], check_ids=check_ids), batch[-1], config.pad_id,
                                             label_smoothing)
    if isinstance(config, GPTConfig):
        return lambda m, batch: lm_loss(m(batch[0], check_ids=check_ids), batch[-1], label_smoothing)
    return lambda m, batch: lm_loss(m(*batch[:-1]), batch[-1], label_smoothing)


def check_batch_ids(model: nn.Module, batch: Batch) -> None:
    """ValueError unless the batch's ids fit the model's vocabularies: (x, y) for a GPT, (src,
    tgt_in, tgt_out) for a Transformer. Called on the CPU, before the batch moves to the device."""
    config = model.config
    if isinstance(config, GPTConfig):
        check_tokens(batch[0], config.vocab_size, "input ids")
    elif isinstance(config, TransformerConfig):
        check_tokens(batch[0], config.src_vocab_size, "src")
        check_tokens(batch[1], config.tgt_vocab_size, "tgt_in")


def count_targets(model: nn.Module, target: Tensor) -> int:
    """Target positions the default loss averages over: all of them, or the non-padding ones."""
    if isinstance(model.config, TransformerConfig):
        return int((target != model.config.pad_id).sum())
    return target.numel()


@torch.no_grad()
def estimate_loss(model: nn.Module, get_batch: GetBatch, n_batches: int, loss_fn: LossFn,
                  seed: int = 0, device: torch.device | str = "cpu") -> float:
    """Mean loss over ``n_batches`` batches drawn with a fixed seed (the same batches each call)."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    try:
        losses = [loss_fn(model, tuple(t.to(device) for t in get_batch(i, generator))).item()
                  for i in range(n_batches)]
    finally:
        model.train(was_training)
    return sum(losses) / len(losses)


@torch.no_grad()
def seq2seq_predict(model: Transformer, sources: Sequence[Sequence[int]], max_new_tokens: Sequence[int] | int,
                    batch_size: int = 500, device: torch.device | str | None = None) -> list[list[int]]:
    """Greedy translations of ``sources``, as id lists without <bos> and <eos>.

    max_new_tokens: one limit for all, or one per source (a chunk decodes up to its largest).
    """
    from .data import collate_seq2seq
    from .generate import greedy_decode

    c = model.config
    device = device or next(model.parameters()).device
    limits = [max_new_tokens] * len(sources) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    preds = []
    for i in range(0, len(sources), batch_size):
        chunk = [(list(s), []) for s in sources[i : i + batch_size]]
        src, _, _ = collate_seq2seq(chunk, c.pad_id, c.bos_id, c.eos_id)  # (B, S)
        max_new = min(max(limits[i : i + batch_size]), c.max_len - 1)
        for row in greedy_decode(model, src.to(device), max_new).tolist():  # (B, 1 + new)
            pred = row[1:]  # drop <bos>
            preds.append(pred[: pred.index(c.eos_id)] if c.eos_id in pred else pred)
    return preds


def seq2seq_exact_match(model: Transformer, pairs: Sequence[tuple[list[int], list[int]]],
                        batch_size: int = 500, device: torch.device | str | None = None) -> float:
    """Fraction of (src, tgt) pairs whose greedy decoding equals tgt exactly (up to <eos>)."""
    preds = seq2seq_predict(model, [s for s, _ in pairs], [len(t) + 1 for _, t in pairs], batch_size, device)
    return sum(p == list(t) for p, (_, t) in zip(preds, pairs)) / max(1, len(pairs))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "char") -> float | None:
    """sacrebleu's corpus BLEU (0-100) of detokenized strings, or None without sacrebleu.

    ``tokenize="char"``: n-grams of characters. The targets of tfm's tasks are single words
    (every German number below a million is one word: "zweiundvierzig"), so word 2- to
    4-grams do not exist and word-level BLEU ("13a") is 0 even for perfect output.
    """
    try:
        import sacrebleu
    except ImportError:
        return None
    return round(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score, 4)


def seq2seq_metrics(model: Transformer, pairs: Sequence[tuple[list[int], list[int]]],
                    decode: Callable[[list[int]], str], batch_size: int = 500) -> dict:
    """Exact match and corpus BLEU of greedy decoding on held-out pairs, from one decoding pass.

    decode(ids) -> the detokenized target string, e.g. ``task.tgt_vocab.decode``.
    """
    preds = seq2seq_predict(model, [s for s, _ in pairs], [len(t) + 1 for _, t in pairs], batch_size)
    exact = sum(p == list(t) for p, (_, t) in zip(preds, pairs)) / max(1, len(pairs))
    metrics: dict = {"exact_match": exact}
    bleu = corpus_bleu([decode(p) for p in preds], [decode(list(t)) for _, t in pairs])
    if bleu is not None:
        metrics["bleu"] = bleu
    return metrics


# ---- random state, checkpoints ----

def get_rng_state(generator: torch.Generator) -> dict:
    """Every random state a run uses, as tensors and plain Python values (safe to torch.load)."""
    state = {"torch": torch.get_rng_state(), "batch": generator.get_state(), "python": random.getstate(),
             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None, "numpy": None}
    try:
        import numpy as np
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state["numpy"] = (kind, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(gauss))
    except ImportError:
        pass
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    """Restore what :func:`get_rng_state` saved."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["batch"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if state.get("numpy") is not None:
        import numpy as np
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, gauss))


def model_kind(model: nn.Module) -> str:
    """"gpt" or "transformer": what :func:`model_from_checkpoint` rebuilds."""
    if isinstance(model.config, GPTConfig):
        return "gpt"
    if isinstance(model.config, TransformerConfig):
        return "transformer"
    raise TypeError(f"cannot checkpoint a model with config {type(model.config).__name__}")


def save_checkpoint(path: str | Path, obj: dict) -> None:
    """Write ``obj`` atomically: to a temporary file beside ``path``, then rename it onto ``path``.

    A crash (or Ctrl-C) while writing leaves the previous checkpoint as it was; the rename
    is all-or-nothing on the same file system.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with tmp:
            torch.save(obj, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())  # the bytes are on disk before the rename makes them visible
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp.name, 0o666 & ~umask)  # temporary files are private (0600); give it a normal file's mode
        os.replace(tmp.name, path)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (POSIX; not possible on Windows)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def make_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, step: int, cfg: TrainConfig,
                    losses: list[float], evals: list[dict], rng: dict, meta: dict | None = None) -> dict:
    """The checkpoint's contents: only tensors and plain Python types."""
    return {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "model_kind": model_kind(model), "model_config": model.config.to_dict(),
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
        "train_config": cfg.to_dict(), "losses": list(losses), "evals": list(evals), "rng": rng,
        "meta": dict(meta or {}),
    }


REQUIRED_KEYS = ("model_kind", "model_config", "model", "optimizer", "step", "train_config", "losses", "rng")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`train`; ValueError if it is corrupt or not ours.

    Loads with ``weights_only=True``: a checkpoint holds only tensors and plain Python
    types, so a file that would run pickled code is refused instead of executed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its directory is at the end
        raise ValueError(f"{path} is truncated or corrupt, or not a torch file at all "
                         "(it is not a complete zip archive as written by torch.save)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found:
            raise ValueError(f"{path} is not a tfm checkpoint: it holds a pickled Python object "
                             f"({found.group(1)}), not only tensors and plain types") from None
        detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(e))
        raise ValueError(f"{path} is truncated or corrupt: its pickled data cannot be read "
                         f"({detail.group(1) if detail else str(e).splitlines()[0]})") from None
    except Exception as e:  # a damaged archive: zip, pickle and storage errors of many kinds
        raise ValueError(f"{path} is truncated or corrupt ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = f"a dict with keys {sorted(map(str, ckpt))[:8]}" if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path} is not a tfm checkpoint: no 'format': {CHECKPOINT_FORMAT!r} marker (found {found})")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: unsupported tfm checkpoint version {ckpt.get('version')!r} "
                         f"(this code reads version {CHECKPOINT_VERSION})")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"{path} is an incomplete tfm checkpoint: missing {missing}")
    return ckpt


def model_from_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the GPT or Transformer stored in a checkpoint, with its trained weights (eval mode)."""
    ckpt = load_checkpoint(path, map_location)
    kinds = {"gpt": (GPT, GPTConfig), "transformer": (Transformer, TransformerConfig)}
    if ckpt["model_kind"] not in kinds:
        raise ValueError(f"{path}: unknown model kind {ckpt['model_kind']!r}, expected one of {list(kinds)}")
    model_cls, config_cls = kinds[ckpt["model_kind"]]
    model = model_cls(config_cls(**ckpt["model_config"])).to(map_location)
    model.load_state_dict(ckpt["model"])
    return model.eval()


# ---- several processes: torchrun and DistributedDataParallel ----

@dataclass(frozen=True)
class DistInfo:
    """This process's place in a ``torchrun`` launch; a process on its own is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the process's number on its machine: which GPU it drives

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints and prints."""
        return self.rank == 0


def dist_info() -> DistInfo:
    """RANK, WORLD_SIZE and LOCAL_RANK, the environment variables torchrun sets for each process."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    env = os.environ
    return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def setup_distributed(device: str | None = None) -> tuple[DistInfo, torch.device, bool]:
    """Join the process group torchrun describes, if any: returns (info, device, created).

    Each process drives one GPU (``cuda:LOCAL_RANK``, backend NCCL) or runs on the CPU
    (backend gloo). ``created``: this call started the group, so the caller ends it.
    """
    info = dist_info()
    if not info.enabled:
        return info, get_device(device), False
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{info.local_rank}"  # one GPU per process
    dev = get_device(device)
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"distributed training runs on CPUs (gloo) or CUDA GPUs (nccl), not on {dev}")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if dist.is_initialized():
        return info, dev, False
    # MASTER_ADDR and MASTER_PORT (set by torchrun) say where the processes meet.
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=info.rank, world_size=info.world_size)
    return info, dev, True


def _no_buffer_sync() -> dict:
    """DDP's option to skip copying buffers before every forward: tfm's buffers are constants."""
    params = inspect.signature(DistributedDataParallel).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}


def shard_batch(batch: Batch, info: DistInfo) -> Batch:
    """This process's rows of the global batch: rows [rank * B/W, (rank + 1) * B/W) of every tensor.

    Every process draws the same global batch (the batch generator has the same seed
    everywhere) and keeps its slice, so together they see exactly the batch one process would.
    """
    B = batch[0].size(0)
    if B % info.world_size:
        raise ValueError(f"the batch size {B} must be divisible by the number of processes ({info.world_size})")
    rows = B // info.world_size
    return tuple(t[info.rank * rows : (info.rank + 1) * rows] for t in batch)


# ---- the loop ----

@contextmanager
def delayed_interrupt() -> Iterator[list[int]]:
    """Hold a Ctrl-C back until the block has finished, so an update is never cut in half.

    Yields the list of signals received so far (the block may look at it and stop early).
    Only the main thread receives signals; elsewhere this does nothing.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt here


def _use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
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
    Ctrl-C saves a checkpoint (if ``cfg.checkpoint`` is set) and then re-raises KeyboardInterrupt.

    Under ``torchrun`` every process calls this with the same arguments: get_batch returns
    the *global* batch, each process trains on its rows (see :func:`shard_batch`), and only
    rank 0 writes checkpoints and prints. Every process evaluates (the same numbers).
    """
    info, device, created = setup_distributed(cfg.device)
    try:
        return _train(model, get_batch, cfg, info, device, get_val_batch, evaluate, loss_fn, resume, meta,
                      peak_flops)
    finally:
        if created:
            dist.destroy_process_group()


def _train(model: nn.Module, get_batch: GetBatch, cfg: TrainConfig, info: DistInfo, device: torch.device,
           get_val_batch: GetBatch | None, evaluate: Callable[[nn.Module], dict] | None, loss_fn: LossFn | None,
           resume: bool | str | Path, meta: dict | None, peak_flops: float | None) -> TrainResult:
    """The loop of :func:`train`, once the processes (if several) have met."""
    model.to(device)
    d_model = model.config.d_model
    check_ids = loss_fn is None  # the default loss reads the batch as check_batch_ids does
    loss_fn = loss_fn or default_loss_fn(model, cfg.label_smoothing, check_ids=False)  # checked here, on the CPU
    optimizer = configure_optimizer(model, lr_at(1, cfg, d_model), cfg.weight_decay, cfg.betas, cfg.eps, cfg.fused)
    generator = torch.Generator()  # the batches' random numbers: ours, so checkpoints can save them

    result = TrainResult(world_size=info.world_size)
    resume_path = Path(cfg.checkpoint) if resume is True and cfg.checkpoint else (Path(resume) if resume else None)
    if resume_path is not None and (resume is not True or resume_path.exists()):
        ckpt = load_checkpoint(resume_path, map_location=device)
        if ckpt["model_kind"] != model_kind(model) or ckpt["model_config"] != model.config.to_dict():
            raise ValueError(f"{resume_path} holds a {ckpt['model_kind']} with config {ckpt['model_config']}, "
                             f"which does not match the model being trained")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"], generator)
        result.losses, result.evals = list(ckpt["losses"]), list(ckpt["evals"])
        result.step = result.start_step = ckpt["step"]
        if info.rank > 0:  # the checkpoint holds rank 0's dropout stream; the others need their own
            torch.manual_seed(cfg.seed + 1_000_003 * info.rank + result.step)
    else:
        torch.manual_seed(cfg.seed + info.rank)  # dropout: a different stream in each process
        generator.manual_seed(cfg.seed)  # batches: the same global batch in every process

    compiled = torch.compile(model) if cfg.compile else model  # state_dict() always from ``model``
    run_model: nn.Module = compiled
    if info.enabled:  # averages the gradients over the processes during backward()
        run_model = DistributedDataParallel(compiled, device_ids=[device.index] if device.type == "cuda" else None,
                                            **_no_buffer_sync())
    use_bf16 = _use_bf16(cfg, device)
    rng = get_rng_state(generator)  # the random state after the last completed step
    peak = peak_flops or peak_flops_for(device)
    n_params = sum(p.numel() for p in model.parameters())
    show = cfg.progress and info.is_main

    def checkpoint() -> None:
        if cfg.checkpoint and info.is_main:
            save_checkpoint(cfg.checkpoint, make_checkpoint(model, optimizer, result.step, cfg, result.losses,
                                                            result.evals, rng, meta))

    def mfu(tokens_per_s: float) -> float | None:
        """6 N FLOPs per token (forward + backward), per GPU, over the GPU's peak."""
        return 6 * n_params * tokens_per_s / (peak * info.world_size) if peak else None

    def checked_val_batch(i: int, g: torch.Generator) -> Batch:
        batch = get_val_batch(i, g)
        if check_ids:
            check_batch_ids(model, batch)
        return batch

    def run_eval() -> None:
        metrics: dict = {"step": result.step}
        cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # evaluation leaves the training's random numbers alone
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                if get_val_batch is not None and cfg.eval_batches > 0:
                    metrics["val_loss"] = estimate_loss(compiled, checked_val_batch, cfg.eval_batches, loss_fn,
                                                        seed=cfg.seed + 1, device=device)
                if evaluate is not None:
                    metrics.update(evaluate(model))
        result.evals.append(metrics)
        if show:
            tqdm.write(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                for k, v in metrics.items()), file=sys.stderr)

    t_start = time.perf_counter()
    train_seconds = 0.0
    agreed_stop = False  # several processes: all of them stop after the same step
    model.train()
    bar = tqdm(range(result.step + 1, cfg.steps + 1), initial=result.step, total=cfg.steps,
               disable=not show, file=sys.stderr, dynamic_ncols=True)
    # Several processes: a Ctrl-C (which may reach only some of them) is held back for the
    # whole step; after the step they agree to stop together, so none waits for a missing peer.
    hold = delayed_interrupt() if info.enabled else nullcontext([])
    try:
        with hold as interrupts:
            for step in bar:
                t0 = time.perf_counter()
                lr = lr_at(step, cfg, d_model)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = get_batch(step, generator)  # the global batch (the same in every process)
                if check_ids:
                    check_batch_ids(model, batch)  # on the CPU, before the device sees them
                rows, share = batch, 1.0
                if info.enabled:
                    rows = shard_batch(batch, info)
                    share = count_targets(model, rows[-1]) / max(1, count_targets(model, batch[-1]))
                rows = tuple(t.to(device, non_blocking=True) for t in rows)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    loss = loss_fn(run_model, rows)  # the mean over this process's targets
                optimizer.zero_grad(set_to_none=True)
                if info.enabled:
                    # DDP averages the W gradients; weighting each by W * share makes the average the
                    # gradient of the global batch's mean loss (the shards may hold different numbers
                    # of real, non-padding targets).
                    (loss * (info.world_size * share)).backward()
                    stats = torch.tensor([loss.item() * share, float(len(interrupts))], dtype=torch.float64,
                                         device=device)
                    dist.all_reduce(stats)  # sums: the global mean loss, the processes that got a Ctrl-C
                    loss_value, agreed_stop = stats[0].item(), stats[1].item() > 0
                else:
                    loss.backward()
                    loss_value = None
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                with delayed_interrupt():  # weights, step and random state change together or not at all
                    optimizer.step()
                    result.losses.append(loss.item() if loss_value is None else loss_value)
                    result.step = step
                    rng = get_rng_state(generator)
                result.tokens += batch[-1].numel()
                train_seconds += time.perf_counter() - t0
                if agreed_stop:
                    interrupts.clear()  # handled here: the processes stop together
                    raise KeyboardInterrupt
                if step % 10 == 0 or step == cfg.steps:
                    tokens_per_s = result.tokens / train_seconds
                    postfix = {"loss": f"{result.losses[-1]:.4f}", "lr": f"{lr:.2e}", "tok/s": f"{tokens_per_s:,.0f}"}
                    if peak:
                        postfix["mfu"] = f"{100 * mfu(tokens_per_s):.1f}%"
                    bar.set_postfix(postfix)
                if (cfg.eval_interval and step % cfg.eval_interval == 0) or step == cfg.steps:
                    run_eval()
                if cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0 and step != cfg.steps:
                    checkpoint()
            interrupts.clear()  # a Ctrl-C during the last evaluation: the run is finished anyway
    except KeyboardInterrupt:  # Ctrl-C: keep the work done so far, then stop as asked
        bar.close()
        if cfg.checkpoint:
            checkpoint()
            if info.is_main:
                print(f"\ninterrupted: checkpoint of step {result.step} saved to {cfg.checkpoint}", file=sys.stderr)
        if agreed_stop:
            dist.barrier()  # the others wait until rank 0's checkpoint is on disk
        raise
    bar.close()
    if result.step > result.start_step or not (cfg.checkpoint and Path(cfg.checkpoint).exists()):
        checkpoint()
    if info.enabled:
        dist.barrier()  # return once the final checkpoint is written

    result.seconds = time.perf_counter() - t_start
    result.tokens_per_s = result.tokens / train_seconds if train_seconds > 0 else 0.0
    if result.tokens_per_s:
        result.mfu = mfu(result.tokens_per_s)
    if show:
        mfu_text = f", MFU {100 * result.mfu:.1f}%" if result.mfu is not None else ""
        procs = f" on {info.world_size} processes" if info.enabled else ""
        print(f"{result.step} steps in {result.seconds:.1f}s{procs}, {result.tokens_per_s:,.0f} tokens/s{mfu_text}",
              file=sys.stderr)
    return result
