"""Data for tfm: small seq2seq tasks and a character corpus, all offline.

Nothing here downloads. Everything is generated from a seed or comes with the Python install:

* Seq2seq tasks (``copy``, ``reverse``, ``sort``, ``addition``, ``numbers``), made by
  :func:`make_task` as lists of (src_ids, tgt_ids) pairs. A train set and a held-out val set
  never share a source sequence, so val accuracy measures generalisation, not memory.
* :func:`collate_seq2seq` pads pairs into the three tensors of teacher forcing:
  ``src`` (B, S), ``tgt_in`` = [bos] + tgt (B, T) and ``tgt_out`` = tgt + [eos] (B, T).
* :func:`char_corpus`: ~450k characters of English (Python's own language reference) for
  character-level language modelling, with nanoGPT-style :func:`split_text` and :func:`get_lm_batch`.
"""
from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor

from .tasks import SEQ2SEQ_TASKS as TASKS
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, Vocab  # noqa: F401  (re-exported)

SPECIALS = SPECIAL_TOKENS  # the name this module used for them

Pair = tuple[list[int], list[int]]  # (src_ids, tgt_ids); tgt has no bos/eos, batching adds them


@dataclass
class Seq2SeqTask:
    """A generated task: vocabularies plus disjoint train/val lists of (src_ids, tgt_ids)."""

    name: str
    src_vocab: Vocab
    tgt_vocab: Vocab  # the same object as src_vocab except for "numbers"
    train: list[Pair]
    val: list[Pair]
    options: dict = field(default_factory=dict)

    @property
    def max_len(self) -> int:
        """Longest src or tgt_in/tgt_out (tgt + 1 for bos/eos) in the task: a lower bound for block_size."""
        return max(max(len(s), len(t) + 1) for s, t in self.train + self.val)


def _distinct(make: Callable[[random.Random], tuple], n: int, capacity: int, rng: random.Random) -> list:
    """Draw make(rng) -> (src, tgt) until there are n examples with distinct sources."""
    if n > capacity:
        raise ValueError(f"asked for {n} distinct examples (n_train + n_val) but this task only has {capacity}")
    seen: dict[tuple, tuple] = {}
    while len(seen) < n:
        src, tgt = make(rng)
        seen.setdefault(tuple(src), (src, tgt))
    return list(seen.values())


def _sequence_task(name: str, n: int, rng: random.Random, symbols: str = "0123456789",
                   min_len: int = 3, max_len: int = 10) -> tuple[Vocab, Vocab, list[tuple]]:
    """copy / reverse / sort a random sequence of ``symbols`` with length in [min_len, max_len]."""
    if not symbols:
        raise ValueError("symbols must not be empty")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    alphabet = sorted(set(symbols))  # sorted, so id order == symbol order
    capacity = sum(len(alphabet) ** L for L in range(min_len, max_len + 1))

    def make(r: random.Random) -> tuple[list[str], list[str]]:
        src = [r.choice(alphabet) for _ in range(r.randint(min_len, max_len))]
        return src, {"copy": src, "reverse": src[::-1], "sort": sorted(src)}[name]

    vocab = Vocab(alphabet)
    return vocab, vocab, _distinct(make, n, capacity, rng)


def _addition_task(n: int, rng: random.Random, max_digits: int = 3) -> tuple[Vocab, Vocab, list[tuple]]:
    """Character-level sums, "123+45" -> "168"; each operand has 1..max_digits digits (uniform)."""
    if max_digits < 1:
        raise ValueError(f"max_digits must be >= 1, got {max_digits}")

    def operand(r: random.Random) -> int:
        d = r.randint(1, max_digits)
        return r.randrange(0 if d == 1 else 10 ** (d - 1), 10**d)

    def make(r: random.Random) -> tuple[str, str]:
        a, b = operand(r), operand(r)
        return f"{a}+{b}", str(a + b)

    vocab = Vocab("0123456789+")
    return vocab, vocab, _distinct(make, n, 10 ** (2 * max_digits), rng)


# ---- numbers: English words -> German words, a tiny "translation" task with reordering ----

ENGLISH_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand and , -"
).split()
GERMAN_MORPHEMES = (
    "null ein eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn "
    "fünfzehn sechzehn siebzehn achtzehn neunzehn zwanzig dreißig vierzig fünfzig sechzig siebzig "
    "achtzig neunzig und hundert tausend"
).split()
_MAX_NUMBER = 999_999  # a million is "eine Million": a new pattern, so the task stops below it


def _num2words(n: int, lang: str) -> str:
    try:
        from num2words import num2words
    except ImportError as e:
        raise ImportError("the 'numbers' task needs the num2words package: pip install num2words") from e
    return num2words(n, lang=lang)


def english_tokens(n: int) -> list[str]:
    """num2words(n, lang="en") split into words and punctuation: 42 -> ["forty", "-", "two"]."""
    toks = re.findall(r"[a-z]+|[^a-z\s]", _num2words(n, "en"))
    if any(t not in ENGLISH_NUMBER_WORDS for t in toks):
        raise ValueError(f"unexpected English number word in {toks} (n={n})")
    return toks


def split_german(word: str) -> list[str]:
    """Greedy longest match against GERMAN_MORPHEMES: "zweiundvierzig" -> ["zwei", "und", "vierzig"].

    German writes units before tens, so the model has to reorder: forty-two -> zwei und vierzig.
    """
    out, i = [], 0
    while i < len(word):
        m = max((m for m in GERMAN_MORPHEMES if word.startswith(m, i)), key=len, default=None)
        if m is None:
            raise ValueError(f"cannot split German number word {word!r} at {word[i:]!r}")
        out.append(m)
        i += len(m)
    return out


def german_tokens(n: int) -> list[str]:
    """num2words(n, lang="de") split into morphemes; "".join(german_tokens(n)) == num2words(n, lang="de")."""
    return split_german(_num2words(n, "de"))


def _numbers_task(n: int, rng: random.Random, lo: int = 0, hi: int = 9999) -> tuple[Vocab, Vocab, list[tuple]]:
    """English number words -> German morphemes for distinct numbers drawn from [lo, hi].

    The vocabularies are the fixed closed lists above (every number below a million uses only
    those), so they are identical for every range and seed.
    """
    if not 0 <= lo <= hi <= _MAX_NUMBER:
        raise ValueError(f"numbers range needs 0 <= lo <= hi <= {_MAX_NUMBER}, got lo={lo}, hi={hi}")
    if n > hi - lo + 1:
        raise ValueError(f"asked for {n} distinct examples (n_train + n_val) but the range "
                         f"[{lo}, {hi}] only has {hi - lo + 1} numbers")
    nums = rng.sample(range(lo, hi + 1), n)  # distinct numbers, so the split below is disjoint
    pairs = [(english_tokens(k), german_tokens(k)) for k in nums]
    return Vocab(ENGLISH_NUMBER_WORDS, sep=" "), Vocab(GERMAN_MORPHEMES, sep=""), pairs


def make_task(name: str, n_train: int, n_val: int, seed: int = 0, **options) -> Seq2SeqTask:
    """Generate task ``name`` with n_train + n_val distinct examples; val is held out from train.

    Options: copy/reverse/sort: ``symbols="0123456789", min_len=3, max_len=10``;
    addition: ``max_digits=3``; numbers: ``lo=0, hi=9999`` (inclusive range).
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    if n_train <= 0:
        raise ValueError(f"n_train must be > 0, got {n_train}")
    if n_val < 0:
        raise ValueError(f"n_val must be >= 0, got {n_val}")
    rng = random.Random(seed)
    n = n_train + n_val
    if name == "numbers":
        src_vocab, tgt_vocab, pairs = _numbers_task(n, rng, **options)
    elif name == "addition":
        src_vocab, tgt_vocab, pairs = _addition_task(n, rng, **options)
    else:
        src_vocab, tgt_vocab, pairs = _sequence_task(name, n, rng, **options)
    encoded = [(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t in pairs]
    return Seq2SeqTask(name, src_vocab, tgt_vocab, train=encoded[n_val:], val=encoded[:n_val], options=options)


def collate_seq2seq(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int = PAD_ID,
                    bos_id: int = BOS_ID, eos_id: int = EOS_ID) -> tuple[Tensor, Tensor, Tensor]:
    """Pad (src, tgt) pairs into LongTensors for teacher forcing, all right-padded with pad_id.

    src (B, S); tgt_in = [bos] + tgt (B, T); tgt_out = tgt + [eos] (B, T), where T = longest tgt + 1.
    tgt_in is tgt_out shifted right by one: at step t the decoder sees tgt_out[:t] and predicts tgt_out[t].
    """
    if len(pairs) == 0:
        raise ValueError("collate_seq2seq got an empty list of pairs")
    pairs = [([int(i) for i in s], [int(i) for i in t]) for s, t in pairs]
    for b, (s, _) in enumerate(pairs):
        if len(s) == 0:
            raise ValueError(f"empty source sequence at index {b}: attention would see only padding")
    B, S, T = len(pairs), max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs) + 1
    src = torch.full((B, S), pad_id, dtype=torch.long)  # (B, S)
    tgt_in = torch.full((B, T), pad_id, dtype=torch.long)  # (B, T)
    tgt_out = torch.full((B, T), pad_id, dtype=torch.long)  # (B, T)
    for b, (s, t) in enumerate(pairs):
        src[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        tgt_in[b, : len(t) + 1] = torch.tensor([bos_id] + t, dtype=torch.long)
        tgt_out[b, : len(t) + 1] = torch.tensor(t + [eos_id], dtype=torch.long)
    return src, tgt_in, tgt_out


def batches(pairs: Sequence[Pair], batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None, drop_last: bool = False,
            pad_id: int = PAD_ID, bos_id: int = BOS_ID, eos_id: int = EOS_ID) -> Iterator[tuple[Tensor, ...]]:
    """One epoch over ``pairs`` in batches of collated (src, tgt_in, tgt_out); shuffled with ``generator``."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    order = torch.randperm(len(pairs), generator=generator) if shuffle else torch.arange(len(pairs))
    for i in range(0, len(pairs), batch_size):
        idx = order[i : i + batch_size].tolist()
        if drop_last and len(idx) < batch_size:
            break
        yield collate_seq2seq([pairs[j] for j in idx], pad_id, bos_id, eos_id)


def sample_batch(pairs: Sequence[Pair], batch_size: int, generator: torch.Generator | None = None,
                 pad_id: int = PAD_ID, bos_id: int = BOS_ID, eos_id: int = EOS_ID) -> tuple[Tensor, Tensor, Tensor]:
    """A random batch (with replacement) for step-based training loops: call it once per step."""
    if batch_size <= 0 or len(pairs) == 0:
        raise ValueError(f"sample_batch needs batch_size > 0 and pairs, got {batch_size=}, {len(pairs)} pairs")
    idx = torch.randint(len(pairs), (batch_size,), generator=generator).tolist()  # (B,)
    return collate_seq2seq([pairs[j] for j in idx], pad_id, bos_id, eos_id)


# ---- character corpus for language modelling ----

_DOC_MODULES = (  # second source: docstrings of platform-independent stdlib modules
    "argparse", "ast", "bisect", "builtins", "calendar", "collections", "configparser", "contextlib",
    "copy", "csv", "dataclasses", "datetime", "difflib", "doctest", "email.message", "enum", "fnmatch",
    "fractions", "ftplib", "functools", "getopt", "gettext", "heapq", "html.parser", "http.client",
    "imaplib", "inspect", "itertools", "json", "logging", "mailbox", "math", "operator", "optparse",
    "pathlib", "pdb", "pickle", "pprint", "pydoc", "queue", "random", "re", "sched", "shlex", "smtplib",
    "statistics", "string", "tarfile", "textwrap", "threading", "timeit", "tokenize", "types", "typing",
    "unittest", "urllib.parse", "xml.dom.minidom", "xml.etree.ElementTree", "zipfile",
)
_ASCII = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                        "\u2014": "--", "\u2026": "...", "\u00df": "ss", "\t": "    "})


def _clean(text: str) -> str:
    """Typographic characters -> ASCII, drop the rest of non-ASCII, strip line ends, <= 1 blank line."""
    text = unicodedata.normalize("NFKD", text.translate(_ASCII)).encode("ascii", "ignore").decode()
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _reference_topics() -> list[str]:
    try:
        from pydoc_data.topics import topics  # what help("for") prints: the Python language reference
    except ImportError:
        return []
    return [topics[k] for k in sorted(topics)]


def _docstrings() -> list[str]:
    import importlib
    import inspect
    import warnings

    docs = []
    with warnings.catch_warnings():  # reading e.g. typing.io's doc warns that it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in _DOC_MODULES:
            mod = importlib.import_module(name)
            members = [getattr(mod, a) for a in sorted(vars(mod)) if not a.startswith("_")]
            own = [o for o in members if getattr(o, "__module__", None) == name]  # skip re-exports
            docs += [inspect.getdoc(o) for o in [mod] + own]
    return [d for d in docs if d]


@lru_cache(maxsize=None)
def char_corpus(min_chars: int = 300_000) -> str:
    """English-like text that ships with Python, for char-level language modelling (no download).

    Source, in order, until at least ``min_chars`` characters: (1) ``pydoc_data.topics``, the
    Python Language Reference as shown by ``help("for")`` etc. (~460k chars, topics sorted by
    name); (2) docstrings of a fixed list of stdlib modules and their public functions/classes.
    Text is ASCII-fied and whitespace-normalised. Deterministic for a given Python version.
    """
    text = ""
    for source in (_reference_topics, _docstrings):
        if len(text) >= min_chars:
            break
        text = "\n\n".join(t for t in [text] + [_clean(d) for d in source()] if t)
    if len(text) < min_chars:
        raise ValueError(f"char_corpus found only {len(text)} characters, fewer than min_chars={min_chars} "
                         "(is pydoc_data missing, or are docstrings stripped by python -OO?)")
    return text


def load_text(path: str | Path) -> str:
    """Read a user's own UTF-8 text file (e.g. tiny Shakespeare) to train on instead."""
    text = Path(path).read_text(encoding="utf-8")
    if not text:
        raise ValueError(f"{path} is empty")
    return text


def split_text(data: str | Tensor, val_fraction: float = 0.1) -> tuple[str | Tensor, str | Tensor]:
    """First (1 - val_fraction) for training, the rest for validation, like nanoGPT (no shuffling)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = int(len(data) * (1.0 - val_fraction))
    return data[:n], data[n:]


def get_lm_batch(data: Tensor, block_size: int, batch_size: int,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Random windows of a (N,) token tensor: x (B, T) and targets y (B, T) = x shifted left by one."""
    if data.dim() != 1:
        raise ValueError(f"data must be a 1-D tensor of token ids, got shape {tuple(data.shape)}")
    if block_size <= 0 or batch_size <= 0:
        raise ValueError(f"block_size and batch_size must be > 0, got {block_size}, {batch_size}")
    if len(data) < block_size + 1:
        raise ValueError(f"data has {len(data)} tokens, too short for block_size={block_size} "
                         f"(needs >= {block_size + 1})")
    starts = torch.randint(len(data) - block_size, (batch_size, 1), generator=generator)  # (B, 1)
    window = data[starts + torch.arange(block_size + 1)]  # (B, T + 1)
    return window[:, :-1], window[:, 1:]  # (B, T), (B, T)
