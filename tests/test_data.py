"""Tests for tfm.data: every task is checked against an independent reference."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tfm.data import (
    GERMAN_MORPHEMES, TASKS, Vocab, batches, char_corpus, collate_seq2seq, english_tokens,
    get_lm_batch, german_tokens, load_text, make_task, sample_batch, split_german, split_text,
)

num2words = pytest.importorskip("num2words").num2words


def decoded(task, pairs):
    """(src tokens, tgt tokens) for each pair."""
    return [(task.src_vocab.tokens(s), task.tgt_vocab.tokens(t)) for s, t in pairs]


# ---- Vocab ----

def test_vocab_specials_and_roundtrip():
    v = Vocab("abc")
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert v.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"] and len(v) == 7
    assert v.encode("cab") == [6, 4, 5]
    assert v.decode(v.encode("cab")) == "cab"
    assert v.encode("az") == [4, v.unk_id]
    # decode skips pad/bos and stops at the first eos
    assert v.decode([v.bos_id, 4, v.pad_id, 5, v.eos_id, 6]) == "ab"
    assert v.decode(torch.tensor([5, 6, v.eos_id, v.pad_id])) == "bc"
    words = Vocab(["forty", "-", "two"], sep=" ")
    assert words.decode(words.encode(["forty", "-", "two"])) == "forty - two"


# ---- seq2seq tasks ----

@pytest.mark.parametrize("name, reference", [
    ("copy", lambda s: s), ("reverse", lambda s: s[::-1]), ("sort", sorted),
])
def test_sequence_tasks_match_reference(name, reference):
    task = make_task(name, 300, 50, seed=1, min_len=2, max_len=7)
    assert task.src_vocab is task.tgt_vocab
    for src, tgt in decoded(task, task.train + task.val):
        assert 2 <= len(src) <= 7
        assert tgt == reference(src)
        assert all(c in "0123456789" for c in src)


def test_sort_with_letters():
    task = make_task("sort", 100, 10, symbols="qwerty", min_len=5, max_len=5)
    for src, tgt in decoded(task, task.train):
        assert tgt == sorted(src) and set(src) <= set("qwerty") and len(src) == 5


def test_addition_matches_python():
    task = make_task("addition", 500, 100, seed=3, max_digits=4)
    for src, tgt in decoded(task, task.train + task.val):
        a, b = "".join(src).split("+")
        assert 1 <= len(a) <= 4 and 1 <= len(b) <= 4
        assert "".join(tgt) == str(int(a) + int(b))


@pytest.mark.parametrize("n, de", [
    (0, "null"), (1, "eins"), (16, "sechzehn"), (21, "einundzwanzig"), (30, "dreißig"),
    (42, "zweiundvierzig"), (100, "einhundert"), (101, "einhunderteins"),
    (1999, "eintausendneunhundertneunundneunzig"), (9999, "neuntausendneunhundertneunundneunzig"),
])
def test_known_german_numbers(n, de):
    assert "".join(german_tokens(n)) == de


def test_german_split_reorders_units_before_tens():
    assert english_tokens(42) == ["forty", "-", "two"]
    assert german_tokens(42) == ["zwei", "und", "vierzig"]
    assert german_tokens(1999) == ["ein", "tausend", "neun", "hundert", "neun", "und", "neunzig"]
    with pytest.raises(ValueError, match="cannot split"):
        split_german("zweiundvierzigx")


def test_german_split_is_exact_for_whole_range():
    for n in list(range(10_000)) + list(range(10_000, 1_000_000, 997)):
        word = num2words(n, lang="de")
        parts = split_german(word)
        assert "".join(parts) == word, n
        assert all(p in GERMAN_MORPHEMES for p in parts)
        if n < 10_000:
            assert english_tokens(n)  # every English word is in the closed list (else ValueError)


def test_numbers_task_translates():
    task = make_task("numbers", 400, 100, seed=0, lo=0, hi=2000)
    assert task.src_vocab is not task.tgt_vocab
    english_to_n = {num2words(n, lang="en"): n for n in range(2001)}
    for s, t in task.train + task.val:
        assert task.src_vocab.unk_id not in s and task.tgt_vocab.unk_id not in t
        en = " ".join(task.src_vocab.tokens(s)).replace(" - ", "-").replace(" ,", ",")
        assert task.tgt_vocab.decode(t) == num2words(english_to_n[en], lang="de")


@pytest.mark.parametrize("name", TASKS)
def test_train_val_disjoint_and_deterministic(name):
    opts = {"numbers": {"hi": 999}, "addition": {"max_digits": 2}}.get(name, {"max_len": 4})
    task = make_task(name, 200, 60, seed=7, **opts)
    assert len(task.train) == 200 and len(task.val) == 60
    train_src = {tuple(s) for s, _ in task.train}
    val_src = {tuple(s) for s, _ in task.val}
    assert len(train_src) == 200 and len(val_src) == 60  # no duplicates either
    assert not train_src & val_src
    again = make_task(name, 200, 60, seed=7, **opts)
    assert again.train == task.train and again.val == task.val
    assert make_task(name, 200, 60, seed=8, **opts).train != task.train
    assert task.max_len >= max(len(t) + 1 for _, t in task.train)


def test_task_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown task 'nope'.*copy, reverse, sort, addition, numbers"):
        make_task("nope", 10, 10)
    with pytest.raises(ValueError, match="n_train must be > 0"):
        make_task("copy", 0, 10)
    with pytest.raises(ValueError, match="n_val must be >= 0"):
        make_task("copy", 10, -1)
    with pytest.raises(ValueError, match="min_len <= max_len"):
        make_task("reverse", 10, 10, min_len=5, max_len=3)
    with pytest.raises(ValueError, match="only has 6"):  # "a", "b", "aa", "ab", "ba", "bb"
        make_task("copy", 5, 2, symbols="ab", min_len=1, max_len=2)
    with pytest.raises(ValueError, match="only has 100"):
        make_task("addition", 90, 20, max_digits=1)
    with pytest.raises(ValueError, match=r"range \[0, 99\] only has 100"):
        make_task("numbers", 90, 20, hi=99)
    with pytest.raises(ValueError, match="lo <= hi"):
        make_task("numbers", 10, 10, hi=10**6)


def test_exhausting_a_small_task_is_possible():
    task = make_task("copy", 4, 2, symbols="ab", min_len=1, max_len=2)
    assert sorted(task.train + task.val) == sorted([([4], [4]), ([5], [5]), ([4, 4], [4, 4]),
                                                   ([4, 5], [4, 5]), ([5, 4], [5, 4]), ([5, 5], [5, 5])])


# ---- batching ----

def test_collate_shapes_and_padding():
    pairs = [([5, 6, 7], [8]), ([5], [9, 10, 11]), ([4, 4], [])]
    src, tgt_in, tgt_out = collate_seq2seq(pairs, pad_id=0, bos_id=1, eos_id=2)
    assert src.dtype == tgt_in.dtype == tgt_out.dtype == torch.long
    assert src.tolist() == [[5, 6, 7], [5, 0, 0], [4, 4, 0]]
    assert tgt_in.tolist() == [[1, 8, 0, 0], [1, 9, 10, 11], [1, 0, 0, 0]]
    assert tgt_out.tolist() == [[8, 2, 0, 0], [9, 10, 11, 2], [2, 0, 0, 0]]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(4, 20), min_size=1, max_size=9),
                          st.lists(st.integers(4, 20), max_size=9)), min_size=1, max_size=6))
def test_collate_teacher_forcing_property(pairs):
    src, tgt_in, tgt_out = collate_seq2seq(pairs, 0, 1, 2)
    B = len(pairs)
    assert src.shape == (B, max(len(s) for s, _ in pairs))
    assert tgt_in.shape == tgt_out.shape == (B, max(len(t) for _, t in pairs) + 1)
    for b, (s, t) in enumerate(pairs):
        assert src[b, : len(s)].tolist() == s and (src[b, len(s):] == 0).all()
        assert tgt_out[b, len(t)] == 2 and (tgt_out[b, len(t) + 1:] == 0).all()
        assert tgt_in[b, 0] == 1 and (tgt_in[b, len(t) + 1:] == 0).all()
    real = tgt_in[:, 1:] != 0  # tgt_in is tgt_out shifted right wherever tgt_in is not padding
    assert torch.equal(tgt_in[:, 1:][real], tgt_out[:, :-1][real])


def test_collate_errors():
    with pytest.raises(ValueError, match="empty list"):
        collate_seq2seq([], 0, 1, 2)
    with pytest.raises(ValueError, match="empty source sequence at index 1"):
        collate_seq2seq([([4], [5]), ([], [5])], 0, 1, 2)


def test_batches_cover_epoch_once_and_are_seeded():
    task = make_task("reverse", 103, 0, seed=0)
    seen = []
    for src, tgt_in, tgt_out in batches(task.train, 10, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert src.shape[0] <= 10 and tgt_in.shape == tgt_out.shape
        seen += [tuple(r[r != 0].tolist()) for r in src]
    assert sorted(seen) == sorted(tuple(s) for s, _ in task.train)
    sizes = [b[0].shape[0] for b in batches(task.train, 10)]
    assert sizes == [10] * 10 + [3]
    assert len(list(batches(task.train, 10, drop_last=True))) == 10
    a = next(batches(task.train, 8, shuffle=True, generator=torch.Generator().manual_seed(5)))
    b = next(batches(task.train, 8, shuffle=True, generator=torch.Generator().manual_seed(5)))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    first = next(batches(task.train, 4))[0]
    assert first.tolist() == collate_seq2seq(task.train[:4])[0].tolist()  # no shuffle: in order
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(task.train, 0))


def test_sample_batch():
    task = make_task("sort", 50, 0)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = sample_batch(task.train, 16, g1), sample_batch(task.train, 16, g2)
    assert a[0].shape[0] == 16 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(sample_batch(task.train, 16, g1)[0], a[0])  # a stream, not a repeat
    with pytest.raises(ValueError, match="batch_size"):
        sample_batch(task.train, 0)


# ---- character corpus / LM batches ----

def test_char_corpus_is_big_english_and_deterministic():
    text = char_corpus()
    assert len(text) >= 300_000
    char_corpus.cache_clear()
    assert char_corpus() == text  # rebuilt from scratch, identical
    assert text.isascii() and "\t" not in text and "\n\n\n" not in text
    letters = sum(c.isalpha() or c == " " for c in text) / len(text)
    assert letters > 0.7 and text.count(" the ") > 1000
    with pytest.raises(ValueError, match="min_chars"):
        char_corpus(min_chars=10**9)


def test_split_text_and_load_text(tmp_path):
    text = "".join(chr(97 + i % 26) for i in range(1000))
    train, val = split_text(text)
    assert (len(train), len(val)) == (900, 100) and train + val == text
    t_train, t_val = split_text(torch.arange(50), val_fraction=0.2)
    assert t_train.tolist() == list(range(40)) and t_val.tolist() == list(range(40, 50))
    with pytest.raises(ValueError, match="val_fraction"):
        split_text(text, val_fraction=1.0)
    path = tmp_path / "t.txt"
    path.write_text("To be, or not to be ß\n", encoding="utf-8")
    assert load_text(path) == "To be, or not to be ß\n"


def test_get_lm_batch_windows_and_shift():
    data = torch.arange(1000)
    x, y = get_lm_batch(data, block_size=16, batch_size=32, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (32, 16) and x.dtype == torch.long
    assert torch.equal(y, x + 1)  # y is x shifted by one (data[i] == i)
    assert torch.equal(x, x[:, :1] + torch.arange(16))  # each row is a contiguous window
    assert x.min() >= 0 and y.max() <= 999
    x2, _ = get_lm_batch(data, 16, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    x, y = get_lm_batch(torch.arange(5), block_size=4, batch_size=3)  # exactly block_size + 1 tokens
    assert x.tolist() == [[0, 1, 2, 3]] * 3 and y.tolist() == [[1, 2, 3, 4]] * 3
    with pytest.raises(ValueError, match="too short for block_size=5"):
        get_lm_batch(torch.arange(5), block_size=5, batch_size=2)
    with pytest.raises(ValueError, match="1-D"):
        get_lm_batch(torch.zeros(2, 10, dtype=torch.long), 4, 2)


def test_special_tokens_and_tasks_have_one_home():
    """The special tokens live in tfm.tokenizer, the task names in tfm.tasks; the tasks' Vocab and
    the CharTokenizer are one symbol table (they used to be two copies of it)."""
    import tfm.__main__ as cli
    import tfm.data as data
    import tfm.tokenizer as tokenizer
    from tfm.tasks import SEQ2SEQ_TASKS

    assert data.Vocab is tokenizer.Vocab and data.SPECIALS is tokenizer.SPECIAL_TOKENS
    assert [data.PAD_ID, data.BOS_ID, data.EOS_ID, data.UNK_ID] == \
        [tokenizer.SPECIAL_TOKENS.index(t) for t in (tokenizer.PAD, tokenizer.BOS, tokenizer.EOS, tokenizer.UNK)]
    assert data.TASKS is SEQ2SEQ_TASKS and cli.SEQ2SEQ_TASKS is SEQ2SEQ_TASKS
    assert cli.TASKS == SEQ2SEQ_TASKS + ("chars",)
    vocab, chars = Vocab("ab"), tokenizer.CharTokenizer("ab")
    assert type(vocab).__mro__[1] is type(chars).__mro__[1]  # the same base class
    assert vocab.itos == chars.itos and vocab.encode("ba") == chars.encode("ba")
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
