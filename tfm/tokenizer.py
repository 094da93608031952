"""Tokenizers: text -> list of integer ids -> text.

* Vocab: a fixed symbol table (characters or whole words) for the generated seq2seq tasks.
* CharTokenizer: one id per character. Tiny vocabulary, long sequences.
* BPETokenizer: byte-level Byte Pair Encoding (the GPT-2 idea). It starts from the
  256 possible bytes, so *any* string can be encoded, then learns to merge frequent
  neighbouring tokens into new tokens, which makes sequences shorter.

All give the first ids to the special tokens (<pad>=0, <bos>=1, <eos>=2, <unk>=3
by default; this module is their one home); the two tokenizers save/load themselves as
small JSON files.
"""
from __future__ import annotations

import heapq
import json
import operator
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(len(SPECIAL_TOKENS))  # their ids by default, and in every Vocab
FORMAT_VERSION = 1  # bump when the JSON layout changes

# GPT-2 style pre-tokenization, written for the stdlib `re` (which has no \p{L}).
# Every character matches some branch, so the pieces always join back into the
# original text. BPE merges never cross piece boundaries: "dog." and "dog!"
# share the token " dog" instead of learning "dog." and "dog!" separately.
PRETOKENIZE_RE = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)"  # common English contractions
    r"| ?[^\W\d_]+"           # letters of any script, with an optional leading space
    r"| ?\d+"                 # digits
    r"| ?(?:[^\s\w]|_)+"      # punctuation, symbols, combining marks, underscores
    r"|\s+(?!\S)"             # whitespace, leaving the last space to the next word
    r"|\s+"                   # trailing whitespace
)


def _check_text(text: object) -> None:
    """Fail early and clearly on the most common mistake: passing non-text."""
    if not isinstance(text, str):
        hint = " (decode bytes to str first)" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(f"encode expects a str, got {type(text).__name__}{hint}")


def _as_texts(texts: str | Iterable[str]) -> list[str]:
    """Accept one string or an iterable of strings (a single str is not split into chars)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    for t in texts:
        _check_text(t)
    return texts


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of `pair` (left to right) with `new_id`."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _read_json(path: str | Path, kind: str) -> dict:
    """Read a tokenizer file and check that it is the expected type and version."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        msg = f"{path}: not a valid tokenizer file (truncated or corrupt JSON: {e})"
        raise ValueError(msg) from None
    found = data.get("type") if isinstance(data, dict) else type(data).__name__
    if found != kind:
        raise ValueError(f"{path}: expected a {kind!r} tokenizer file, found type {found!r}")
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported version {data.get('version')!r} "
                         f"(this code reads version {FORMAT_VERSION})")
    return data


def _count_pairs(words: list[list[int]], freqs: list[int]) -> tuple[Counter, defaultdict]:
    """Counts of adjacent pairs (weighted by word frequency), and the words that hold each pair."""
    pair_counts: Counter[tuple[int, int]] = Counter()
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += freqs[i]
            where[pair].add(i)
    return pair_counts, where


def _recount(words: list[list[int]], freqs: list[int], pair_counts: Counter, where: defaultdict,
             pair: tuple[int, int], new_id: int) -> set[tuple[int, int]]:
    """Merge ``pair`` in the words that hold it, updating the counts in place; the pairs whose count changed."""
    changed = set()
    for i in where.pop(pair):
        old, new = words[i], _merge(words[i], pair, new_id)
        if len(new) == len(old):
            continue  # stale: this word no longer holds the pair
        for p in zip(old, old[1:]):
            pair_counts[p] -= freqs[i]
            changed.add(p)
        for p in zip(new, new[1:]):
            pair_counts[p] += freqs[i]
            where[p].add(i)
            changed.add(p)
        words[i] = new
    return changed


class _Tokenizer:
    """What both tokenizers share: special-token ids and input checks."""

    def __init__(self, special_tokens: Iterable[str]):
        special_tokens = list(special_tokens)
        ok = all(isinstance(t, str) and t for t in special_tokens)
        if not ok or len(set(special_tokens)) != len(special_tokens):
            raise ValueError("special_tokens must be distinct non-empty strings, "
                             f"got {special_tokens!r}")
        self.special_tokens = special_tokens
        self.special_to_id = {t: i for i, t in enumerate(special_tokens)}  # they take the first ids

    def _special_id(self, token: str) -> int:
        if token not in self.special_to_id:
            raise ValueError(f"this tokenizer has no {token} token (it has {self.special_tokens})")
        return self.special_to_id[token]

    pad_id = property(lambda self: self._special_id(PAD))
    bos_id = property(lambda self: self._special_id(BOS))
    eos_id = property(lambda self: self._special_id(EOS))
    unk_id = property(lambda self: self._special_id(UNK))

    def __len__(self) -> int:
        return self.vocab_size

    def _wrap(self, ids: list[int], add_bos: bool, add_eos: bool) -> list[int]:
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def _check_ids(self, ids: Iterable[int]) -> list[int]:
        """Turn ids (list, tensor, array) into a list of Python ints, all inside the vocabulary."""
        if hasattr(ids, "tolist"):  # torch.Tensor / numpy array
            ids = ids.tolist()
        out = []
        for i in ids:
            try:
                i = operator.index(i)
            except TypeError:
                raise ValueError(f"token ids must be integers, got {i!r}") from None
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary (vocab_size="
                                 f"{self.vocab_size}, valid ids 0..{self.vocab_size - 1})")
            out.append(i)
        return out


class _SymbolTable(_Tokenizer):
    """A fixed table: the special tokens take the first ids, then ``symbols`` in order."""

    def __init__(self, symbols: Iterable[str], special_tokens: Iterable[str]):
        super().__init__(special_tokens)
        self.symbols = [s for s in dict.fromkeys(symbols) if s not in self.special_to_id]  # no duplicates
        self.itos: list[str] = self.special_tokens + self.symbols  # id -> string
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}  # string -> id

    @property
    def vocab_size(self) -> int:
        return len(self.itos)


class Vocab(_SymbolTable):
    """The symbol <-> id table of a generated task: the 4 special tokens, then the task's symbols.

    Symbols are characters or whole words; decoding stops at <eos> (outputs of a model).
    """

    def __init__(self, symbols: Sequence[str], sep: str = "") -> None:
        super().__init__(symbols, SPECIAL_TOKENS)
        self.sep = sep  # what decode() puts between symbols: "" for characters, " " for words

    def __repr__(self) -> str:
        return f"Vocab({len(self)} symbols: {self.symbols[:12]}...)"

    def encode(self, symbols: str | Sequence[str]) -> list[int]:
        """A str is read as 1-character symbols, a list as whole symbols (words). Adds no bos/eos."""
        return [self.stoi.get(s, self.unk_id) for s in symbols]

    def tokens(self, ids: Iterable[int]) -> list[str]:
        """ids -> symbols, stopping at the first eos and skipping the other special tokens."""
        out = []
        for i in (ids.tolist() if hasattr(ids, "tolist") else ids):
            if i == self.eos_id:
                break
            if i >= len(self.special_tokens):
                out.append(self.itos[i])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """ids -> text: :meth:`tokens` joined with ``self.sep``."""
        return self.sep.join(self.tokens(ids))


class CharTokenizer(_SymbolTable):
    """One token per character: ids = special tokens, then the known characters."""

    def __init__(self, chars: Iterable[str], special_tokens: Iterable[str] = SPECIAL_TOKENS):
        chars = list(dict.fromkeys(chars))  # drop duplicates, keep order
        if not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError("chars must be single-character strings")
        super().__init__(chars, special_tokens)
        self.chars = self.symbols

    @classmethod
    def train(cls, texts: str | Iterable[str],
              special_tokens: Iterable[str] = SPECIAL_TOKENS) -> CharTokenizer:
        """The vocabulary is simply every distinct character seen, in sorted order."""
        return cls(sorted(set("".join(_as_texts(texts)))), special_tokens)

    from_texts = train

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Characters not seen in training become <unk>."""
        _check_text(text)
        unk = self.special_to_id.get(UNK)
        ids = [self.stoi.get(c, unk) for c in text]
        if unk is None and None in ids:
            c = text[ids.index(None)]
            raise ValueError(f"character {c!r} is not in the vocabulary and there is no {UNK}")
        return self._wrap(ids, add_bos, add_eos)

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        n = len(self.special_tokens)
        return "".join(self.itos[i] for i in self._check_ids(ids) if not (skip_special and i < n))

    def save(self, path: str | Path) -> None:
        data = {"type": "char", "version": FORMAT_VERSION,
                "special_tokens": self.special_tokens, "chars": self.chars}
        Path(path).write_text(json.dumps(data, ensure_ascii=True), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        data = _read_json(path, "char")
        try:
            return cls(data["chars"], data["special_tokens"])
        except (KeyError, TypeError, ValueError) as e:
            msg = f"{path}: corrupt char tokenizer file ({type(e).__name__}: {e})"
            raise ValueError(msg) from None


class BPETokenizer(_Tokenizer):
    """Byte-level BPE. ids = special tokens, then the 256 bytes, then one id per learned merge.

    `merges` is the ordered list of ((a, b), new_id): "whenever token a is followed by
    token b, replace them with new_id". Earlier merges are applied first when encoding.
    """

    def __init__(self, merges: Iterable[tuple[int, int]] = (),
                 special_tokens: Iterable[str] = SPECIAL_TOKENS):
        super().__init__(special_tokens)
        # id -> the bytes it stands for (special tokens stand for their own text)
        self.vocab: list[bytes] = [t.encode("utf-8") for t in self.special_tokens]
        self.vocab += [bytes([b]) for b in range(256)]
        self.merges: list[tuple[tuple[int, int], int]] = []
        self.merge_ids: dict[tuple[int, int], int] = {}  # pair -> new id (lower = learned earlier)
        for a, b in merges:
            self._add_merge((a, b))
        alternatives = sorted(self.special_tokens, key=len, reverse=True)  # longest match first
        self._special_re = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")")
        self._cache: dict[str, list[int]] = {}  # pre-token -> ids; words repeat a lot

    def _add_merge(self, pair: tuple[int, int]) -> int:
        n, new_id = len(self.special_tokens), len(self.vocab)
        if not all(isinstance(t, int) and n <= t < new_id for t in pair) or pair in self.merge_ids:
            raise ValueError(f"invalid merge {pair!r}: ids must be existing non-special tokens "
                             "and each pair can be merged only once")
        self.merges.append((pair, new_id))
        self.merge_ids[pair] = new_id
        self.vocab.append(self.vocab[pair[0]] + self.vocab[pair[1]])
        return new_id

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _split_special(self, text: str, allowed_special: bool) -> list[str]:
        """Split out literal special tokens: [text, special, text, special, ..., text]."""
        return self._special_re.split(text) if allowed_special and self.special_tokens else [text]

    @classmethod
    def train(cls, texts: str | Iterable[str], vocab_size: int,
              special_tokens: Iterable[str] = SPECIAL_TOKENS,
              verbose: bool = False) -> BPETokenizer:
        """Learn merges greedily: repeatedly merge the most frequent adjacent pair.

        Stops at `vocab_size` or when no pair occurs at least twice. Ties are broken
        by the smallest pair (a, b), so training is deterministic.
        """
        tok = cls(special_tokens=special_tokens)
        if not isinstance(vocab_size, int) or vocab_size < tok.vocab_size:
            raise ValueError(f"vocab_size must be at least {tok.vocab_size} (256 bytes + "
                             f"{len(tok.special_tokens)} special tokens), got {vocab_size!r}")
        # 1. Count each distinct pre-token once: the corpus becomes a table word -> frequency.
        word_counts: Counter[str] = Counter()
        for text in _as_texts(texts):
            for part in tok._split_special(text, True)[::2]:  # literal special tokens are skipped
                word_counts.update(PRETOKENIZE_RE.findall(part))
        n = len(tok.special_tokens)
        words = [[n + b for b in tok._utf8(w)] for w in word_counts]
        freqs = list(word_counts.values())
        # 2. Count adjacent pairs (weighted by word frequency), and remember which words hold each.
        pair_counts, where = _count_pairs(words, freqs)
        # 3. A max-heap of (-count, pair). Counts change as we merge, so entries can go
        #    stale; we push fresh ones and skip stale ones when popped ("lazy deletion").
        heap = [(-c, p) for p, c in pair_counts.items()]
        heapq.heapify(heap)
        while tok.vocab_size < vocab_size and heap:
            neg_count, pair = heapq.heappop(heap)
            if pair_counts.get(pair) != -neg_count:
                continue  # stale entry
            if -neg_count < 2:
                break  # merging a pair seen once saves nothing
            new_id = tok._add_merge(pair)
            if verbose:
                a, b = tok.id_to_token(pair[0]), tok.id_to_token(pair[1])
                print(f"merge {new_id - n - 255:4d}: {a!r} + {b!r} -> {new_id} "
                      f"({-neg_count} times)")
            changed = _recount(words, freqs, pair_counts, where, pair, new_id)
            for p in changed:
                if pair_counts[p] > 0:
                    heapq.heappush(heap, (-pair_counts[p], p))
                else:
                    del pair_counts[p]
        return tok

    @staticmethod
    def _utf8(piece: str) -> bytes:
        try:
            return piece.encode("utf-8")
        except UnicodeEncodeError as e:
            bad = piece[e.start:e.end]
            raise ValueError(f"cannot encode {bad!r}: lone surrogates are not valid Unicode text "
                             "and have no UTF-8 bytes") from None

    def _encode_piece(self, piece: str) -> list[int]:
        """Bytes of one pre-token, then apply merges, earliest-learned first."""
        ids = self._cache.get(piece)
        if ids is None:
            n = len(self.special_tokens)
            ids = [n + b for b in self._utf8(piece)]
            while len(ids) >= 2:
                pair = min(zip(ids, ids[1:]), key=lambda p: self.merge_ids.get(p, float("inf")))
                if pair not in self.merge_ids:
                    break  # no learned merge applies any more
                ids = _merge(ids, pair, self.merge_ids[pair])
            if len(self._cache) < 100_000:
                self._cache[piece] = ids
        return ids

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False,
               allowed_special: bool = True) -> list[int]:
        """Text -> ids. With allowed_special, a literal "<eos>" in the text becomes eos_id;
        otherwise it is encoded as ordinary characters. Raises ValueError on lone surrogates."""
        _check_text(text)
        ids: list[int] = []
        for k, part in enumerate(self._split_special(text, allowed_special)):
            if k % 2:  # odd positions hold the special tokens found by the split
                ids.append(self.special_to_id[part])
            else:
                for piece in PRETOKENIZE_RE.findall(part):
                    ids.extend(self._encode_piece(piece))
        return self._wrap(ids, add_bos, add_eos)

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        """Ids -> text. Invalid UTF-8 (e.g. half a character) becomes U+FFFD."""
        n = len(self.special_tokens)
        data = b"".join(self.vocab[i] for i in self._check_ids(ids) if not (skip_special and i < n))
        return data.decode("utf-8", errors="replace")

    def token_bytes(self, id: int) -> bytes:
        """The raw bytes a token stands for."""
        return self.vocab[self._check_ids([id])[0]]

    def id_to_token(self, id: int) -> str:
        """A printable form of one token; partial UTF-8 shows as escapes like '\\xe2'."""
        return self.token_bytes(id).decode("utf-8", errors="backslashreplace")

    def save(self, path: str | Path) -> None:
        data = {"type": "bpe", "version": FORMAT_VERSION, "special_tokens": self.special_tokens,
                "merges": [list(pair) for pair, _ in self.merges]}
        Path(path).write_text(json.dumps(data), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        data = _read_json(path, "bpe")
        try:
            return cls([tuple(p) for p in data["merges"]], data["special_tokens"])
        except (KeyError, TypeError, ValueError) as e:
            msg = f"{path}: corrupt bpe tokenizer file ({type(e).__name__}: {e})"
            raise ValueError(msg) from None
