"""Checkpoints: everything a run needs to continue *exactly*, written so that a crash never
leaves half a file.

A checkpoint is a dict of tensors and plain Python values (safe for ``torch.load(...,
weights_only=True)``): the model's and the optimizer's state, the step, the loss history, the
training config and every random state (torch's, the batch generator's, Python's, NumPy's and
CUDA's). :func:`save_checkpoint` writes it atomically; :func:`load_checkpoint` refuses, with a
clear ValueError, anything that is not a complete tfm checkpoint.

Random states are CPU tensors: :func:`load_checkpoint` reads them onto the CPU whatever
``map_location`` says (``torch.set_rng_state`` and ``Generator.set_state`` accept nothing else).
"""
from __future__ import annotations

import os
import pickle
import random
import re
import secrets
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from .model import GPT, GPTConfig, Transformer, TransformerConfig

CHECKPOINT_FORMAT = "tfm-checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("model_kind", "model_config", "model", "optimizer", "step", "train_config", "losses", "rng")


# ---- random states ----

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


def _cpu_bytes(t: Tensor) -> Tensor:
    """A saved generator state as the CPU ByteTensor torch's setters demand, wherever it was loaded."""
    return t.to("cpu", torch.uint8)


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    """Restore what :func:`get_rng_state` saved (its tensors may have been loaded onto any device)."""
    torch.set_rng_state(_cpu_bytes(state["torch"]))
    generator.set_state(_cpu_bytes(state["batch"]))
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_cpu_bytes(s) for s in state["cuda"]])
    if state.get("numpy") is not None:
        import numpy as np
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.cpu().numpy().astype("uint32"), pos, has_gauss, gauss))


# ---- writing ----

def model_kind(model: nn.Module) -> str:
    """"gpt" or "transformer": what :func:`model_from_checkpoint` rebuilds."""
    if isinstance(model.config, GPTConfig):
        return "gpt"
    if isinstance(model.config, TransformerConfig):
        return "transformer"
    raise TypeError(f"cannot checkpoint a model with config {type(model.config).__name__}")


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; not possible on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def save_checkpoint(path: str | Path, obj: dict) -> None:
    """Write ``obj`` atomically: to a temporary file beside ``path``, then rename it onto ``path``.

    A crash (or Ctrl-C) while writing leaves the previous checkpoint as it was; the rename
    is all-or-nothing on the same file system. The temporary file is created with mode 0o666,
    which the operating system narrows by the process's umask, as for any new file (reading the
    umask would mean setting it, process-wide, for a moment).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def make_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, step: int, cfg, losses: list[float],
                    evals: list[dict], rng: dict, meta: dict | None = None,
                    rank_rngs: list[dict] | None = None) -> dict:
    """The checkpoint's contents: only tensors and plain Python types.

    ``rng``: the random state of rank 0 (of the only process); ``rank_rngs``: under torchrun, every
    process's random state (their dropout streams differ), for a resume with as many processes.
    """
    ckpt = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "model_kind": model_kind(model), "model_config": model.config.to_dict(),
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
        "train_config": cfg.to_dict(), "losses": list(losses), "evals": list(evals), "rng": rng,
        "meta": dict(meta or {}),
    }
    if rank_rngs is not None:
        ckpt["rank_rngs"] = rank_rngs
    return ckpt


# ---- reading ----

def _unpickling_error(path: Path, e: pickle.UnpicklingError) -> ValueError:
    found = re.search(r"GLOBAL (\S+)", str(e))
    if found:
        return ValueError(f"{path} is not a tfm checkpoint: it holds a pickled Python object "
                          f"({found.group(1)}), not only tensors and plain types")
    detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(e))
    return ValueError(f"{path} is truncated or corrupt: its pickled data cannot be read "
                      f"({detail.group(1) if detail else str(e).splitlines()[0]})")


def _check_contents(path: Path, ckpt: object) -> None:
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = f"a dict with keys {sorted(map(str, ckpt))[:8]}" if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path} is not a tfm checkpoint: no 'format': {CHECKPOINT_FORMAT!r} marker (found {found})")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: unsupported tfm checkpoint version {ckpt.get('version')!r} "
                         f"(this code reads version {CHECKPOINT_VERSION})")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"{path} is an incomplete tfm checkpoint: missing {missing}")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`tfm.train.train`; ValueError if it is corrupt or not ours.

    Loads with ``weights_only=True``: a checkpoint holds only tensors and plain Python
    types, so a file that would run pickled code is refused instead of executed. The model's
    and optimizer's tensors go to ``map_location``; the random states stay on the CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its directory is at the end
        raise ValueError(f"{path} is truncated or corrupt, or not a torch file at all "
                         "(it is not a complete zip archive as written by torch.save)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise _unpickling_error(path, e) from None
    except Exception as e:  # a damaged archive: zip, pickle and storage errors of many kinds
        raise ValueError(f"{path} is truncated or corrupt ({type(e).__name__}: {str(e)[:200]})") from None
    _check_contents(path, ckpt)
    if torch.device(map_location).type != "cpu":
        for key in ckpt.keys() - {"rng", "rank_rngs"}:
            ckpt[key] = _to(ckpt[key], torch.device(map_location))
    return ckpt


def _to(obj, device: torch.device):
    """``obj`` (nested dicts and lists) with every tensor moved to ``device``."""
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(v, device) for v in obj)
    return obj


def model_from_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the GPT or Transformer stored in a checkpoint, with its trained weights (eval mode)."""
    ckpt = load_checkpoint(path)  # on the CPU; the model moves to map_location below
    kinds = {"gpt": (GPT, GPTConfig), "transformer": (Transformer, TransformerConfig)}
    if ckpt["model_kind"] not in kinds:
        raise ValueError(f"{path}: unknown model kind {ckpt['model_kind']!r}, expected one of {list(kinds)}")
    model_cls, config_cls = kinds[ckpt["model_kind"]]
    model = model_cls(config_cls(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(map_location).eval()
