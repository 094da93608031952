"""The wire between the trusted grader and the untrusted worker: plain data only, never pickle.

A message is a 4-byte length and a JSON object. Values are JSON with a few tagged forms:

* tensors: ``{"tensor": [dtype, shape, base64 bytes]}`` (a fixed list of dtypes, the byte count
  checked against the shape), so what comes back is numbers, never code;
* ``{"tuple": [...]}``, ``{"list": [...]}``, ``{"dict": [[key, value], ...]}``;
* ``{"handle": [id, type name, callable, [base class names]]}``: an object that stays in the worker
  (a student's module, a function); the grader holds a :class:`Remote` for it;
* from the grader to the worker only: ``{"callback": id}`` (a function of the test, e.g. a decoding
  step, that the worker calls back with data), ``{"module": ...}`` and ``{"config": ...}`` (a
  tfm module or config that the worker rebuilds from an allow-list, weights included),
  ``{"ref": id}`` (a handle sent back).

Decoding never imports or builds anything named in a message, except the allow-listed tfm classes
on the worker's side.
"""
from __future__ import annotations

import base64
import json
import math
import os
import select
import struct
import time
from typing import Any, Callable

MAX_MESSAGE = 64 * 1024 * 1024  # bytes; a bigger message is a broken (or hostile) worker
DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]
MODULES = {"MultiHeadAttention": ("d_model", "n_heads")}  # tfm modules a test may hand to student code
CONFIGS = ("GPTConfig", "TransformerConfig")  # tfm dataclasses a test may hand to student code


class WireError(Exception):
    """The other side sent something that is not a well-formed message."""


class Closed(WireError):
    """The other side closed the pipe (the worker exited or was killed)."""


class TooLarge(WireError):
    """A message over MAX_MESSAGE bytes (nothing was sent)."""


class Timeout(WireError):
    """No answer within the time limit."""


# ---------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------

def send(fd: int, message: dict) -> None:
    body = json.dumps(message, allow_nan=True).encode("utf-8")
    if len(body) > MAX_MESSAGE:
        raise TooLarge(f"{len(body):,} bytes (the limit is {MAX_MESSAGE:,})")
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise Timeout("no answer in time")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise Closed("the pipe was closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None) -> dict:
    (size,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if size > MAX_MESSAGE:
        raise WireError(f"a message of {size} bytes (the limit is {MAX_MESSAGE})")
    try:
        message = json.loads(_read_exact(fd, size, deadline).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise WireError(f"not JSON: {e}") from None
    if not isinstance(message, dict):
        raise WireError("a message must be a JSON object")
    return message


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

def encode_tensor(t) -> dict:
    import torch

    t = t.detach().to("cpu").contiguous()
    name = str(t.dtype).removeprefix("torch.")
    if name not in DTYPES:
        t, name = t.double(), "float64"  # complex and the like: not a result any exercise asks for
    raw = t.view(torch.int16) if name == "bfloat16" else t
    return {"tensor": [name, list(t.shape), base64.b64encode(raw.numpy().tobytes()).decode("ascii")]}


def decode_tensor(spec: Any):
    import numpy as np
    import torch

    if not (isinstance(spec, list) and len(spec) == 3 and spec[0] in DTYPES and isinstance(spec[1], list)
            and all(isinstance(d, int) and d >= 0 for d in spec[1]) and isinstance(spec[2], str)):
        raise WireError("malformed tensor")
    name, shape, data = spec
    raw = base64.b64decode(data.encode("ascii"), validate=True)
    np_dtype = np.int16 if name == "bfloat16" else np.dtype("bool" if name == "bool" else name)
    if len(raw) != math.prod(shape) * np.dtype(np_dtype).itemsize:
        raise WireError("tensor bytes do not match its shape")
    array = np.frombuffer(raw, dtype=np_dtype).reshape(shape).copy()
    t = torch.from_numpy(array)
    return t.view(torch.bfloat16) if name == "bfloat16" else t


def is_data(x: Any, depth: int = 0) -> bool:
    """Whether ``x`` travels as a value (else it stays where it is and travels as a handle)."""
    import torch

    if depth > 20:
        return False
    if x is None or isinstance(x, (bool, int, float, str, torch.Tensor)):
        return True
    if type(x) in (list, tuple):
        return all(is_data(v, depth + 1) for v in x)
    if type(x) is dict:
        return all(isinstance(k, str) and is_data(v, depth + 1) for k, v in x.items())
    return False


def encode(x: Any, other: Callable[[Any], dict]) -> Any:
    """``x`` as JSON; what is not data goes through ``other`` (a handle, a callback, ...)."""
    import torch

    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, torch.Tensor):
        return encode_tensor(x)
    if type(x) is list and is_data(x):
        return {"list": [encode(v, other) for v in x]}
    if type(x) is tuple:
        return {"tuple": [encode(v, other) for v in x]}
    if type(x) is list:
        return {"list": [encode(v, other) for v in x]}
    if type(x) is dict and all(isinstance(k, str) for k in x):
        return {"dict": [[k, encode(v, other)] for k, v in x.items()]}
    return other(x)


def decode(x: Any, tags: dict[str, Callable[[Any], Any]], depth: int = 0) -> Any:
    """Inverse of :func:`encode`; ``tags`` says what this side accepts beyond plain data."""
    if depth > 40:
        raise WireError("nested too deep")
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, dict) and len(x) == 1:
        (tag, value), = x.items()
        if tag == "tensor":
            return decode_tensor(value)
        if tag in ("list", "tuple") and isinstance(value, list):
            items = [decode(v, tags, depth + 1) for v in value]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and isinstance(value, list):
            out = {}
            for pair in value:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise WireError("malformed dict")
                out[pair[0]] = decode(pair[1], tags, depth + 1)
            return out
        if tag in tags:
            return tags[tag](value)
    raise WireError(f"not a value this side accepts: {str(x)[:80]}")


# ---------------------------------------------------------------------------
# The grader's view of an object that lives in the worker
# ---------------------------------------------------------------------------

class Remote:
    """An object in the untrusted worker (a student's function, class, module or anything that is
    not data). Calling it, reading an attribute or iterating over it asks the worker, which does
    it with the per-call time limit; what comes back is data or another Remote."""

    __slots__ = ("_link", "_id", "_type", "_callable", "_bases", "_label")

    def __init__(self, link, hid: int, type_name: str, is_callable: bool, bases: list[str], label: str):
        self._link, self._id, self._type = link, hid, type_name
        self._callable, self._bases, self._label = is_callable, bases, label

    def __repr__(self) -> str:
        return f"<{self._type} in the student's notebook>"

    def __call__(self, *args, **kwargs):
        return self._link.call(self, args, kwargs, self._label)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._link.getattr(self, name)

    def __iter__(self):
        return iter(self._link.iterate(self))
