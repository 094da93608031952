"""Tests for tfm.tokenizer: round trips (property-based), exact BPE behaviour,
a brute-force reference BPE, save/load, and clear errors on bad input."""
import json
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from tfm.tokenizer import (BOS, EOS, PAD, PRETOKENIZE_RE, SPECIAL_TOKENS, UNK,
                           BPETokenizer, CharTokenizer)

N_SPECIAL = len(SPECIAL_TOKENS)

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox doesn't!",
    "It's 2024 and we're building a Transformer from scratch, token by token.",
    "Attention is all you need: queries, keys and values. Attention, attention!",
    "Unicode too: café, naïve, Zürich, 東京, 你好世界, Ελληνικά, emoji 🙂🚀 and e\u0301.",
    "Line one\r\nline two\n\tindented    with  spaces\n\n",
    "snake_case_names and CamelCaseNames, 3.14159 + 2.71828 = 5.85987",
] * 3

# Text with no surrogates (those are not valid Unicode text).
valid_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
# Text that may contain literal special tokens like "<eos>".
text_with_specials = st.lists(st.one_of(valid_text, st.sampled_from(SPECIAL_TOKENS))).map("".join)


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(CORPUS, vocab_size=400)


@pytest.fixture(scope="module")
def char() -> CharTokenizer:
    return CharTokenizer.train(CORPUS)


# ---------------------------------------------------------------- reference BPE

def brute_force_bpe(texts: list[str], vocab_size: int) -> list[tuple[int, int]]:
    """Naive BPE: every step recounts all pairs over every word occurrence (no
    frequency table, no incremental updates). Same rules: most frequent pair,
    ties -> smallest pair, stop when no pair occurs twice."""
    words = [[N_SPECIAL + b for b in w.encode("utf-8")]
             for t in texts for w in PRETOKENIZE_RE.findall(t)]
    merges, next_id = [], N_SPECIAL + 256
    while next_id < vocab_size:
        counts = Counter(p for w in words for p in zip(w, w[1:]))
        if not counts:
            break
        best = max(counts.values())
        if best < 2:
            break
        pair = min(p for p, c in counts.items() if c == best)
        merges.append(pair)
        new_words = []
        for w in words:
            out, i = [], 0
            while i < len(w):
                if w[i:i + 2] == list(pair):
                    out.append(next_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words.append(out)
        words, next_id = new_words, next_id + 1
    return merges


def brute_force_encode(text: str, merges: list[tuple[int, int]]) -> list[int]:
    """Apply every merge in the order learned, to each pre-token."""
    ids = []
    for piece in PRETOKENIZE_RE.findall(text):
        w = [N_SPECIAL + b for b in piece.encode("utf-8")]
        for k, pair in enumerate(merges):
            out, i = [], 0
            while i < len(w):
                if w[i:i + 2] == list(pair):
                    out.append(N_SPECIAL + 256 + k)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        ids += w
    return ids


def test_merges_match_brute_force(bpe):
    assert [pair for pair, _ in bpe.merges] == brute_force_bpe(CORPUS, 400)


def test_merges_match_brute_force_when_stopping_early():
    texts = ["low lower lowest newer wider", "new newest"]
    tok = BPETokenizer.train(texts, vocab_size=10_000)
    assert tok.vocab_size < 10_000  # ran out of pairs seen twice
    assert [pair for pair, _ in tok.merges] == brute_force_bpe(texts, 10_000)


def test_encode_matches_brute_force(bpe):
    merges = [pair for pair, _ in bpe.merges]
    for text in CORPUS[:6] + ["unseen words: antidisestablishmentarianism, 42!"]:
        assert bpe.encode(text) == brute_force_encode(text, merges)


@settings(max_examples=50, deadline=None)
@given(valid_text)
def test_encode_matches_brute_force_property(bpe, s):
    assert bpe.encode(s, allowed_special=False) == brute_force_encode(s, [p for p, _ in bpe.merges])


# ---------------------------------------------------------------- round trips

@settings(max_examples=200, deadline=None)
@given(valid_text)
def test_bpe_round_trip(bpe, s):
    ids = bpe.encode(s, allowed_special=False)
    assert all(isinstance(i, int) and 0 <= i < bpe.vocab_size for i in ids)
    assert bpe.decode(ids) == s
    if not any(t in s for t in SPECIAL_TOKENS):  # a literal "<eos>" would become eos_id
        assert bpe.decode(bpe.encode(s)) == s


@settings(max_examples=100, deadline=None)
@given(text_with_specials)
def test_bpe_round_trip_with_literal_special_tokens(bpe, s):
    assert bpe.decode(bpe.encode(s), skip_special=False) == s
    assert bpe.decode(bpe.encode(s, allowed_special=False)) == s


@settings(max_examples=100, deadline=None)
@given(valid_text)
def test_pretokenizer_covers_every_character(s):
    assert "".join(PRETOKENIZE_RE.findall(s)) == s


@settings(max_examples=100, deadline=None)
@given(valid_text)
def test_untrained_bpe_is_utf8_bytes_offset_by_specials(s):
    tok = BPETokenizer()
    assert tok.vocab_size == 256 + N_SPECIAL
    assert tok.encode(s, allowed_special=False) == [b + N_SPECIAL for b in s.encode("utf-8")]


@settings(max_examples=100, deadline=None)
@given(valid_text)
def test_merges_never_cross_pretoken_boundaries(bpe, s):
    pieces = PRETOKENIZE_RE.findall(s)
    whole = bpe.encode(s, allowed_special=False)
    assert whole == [i for p in pieces for i in bpe.encode(p, allowed_special=False)]


@settings(max_examples=100, deadline=None)
@given(valid_text)
def test_char_round_trip(s):
    tok = CharTokenizer.train(CORPUS + [s])
    assert tok.decode(tok.encode(s)) == s


@settings(max_examples=100, deadline=None)
@given(valid_text)
def test_char_unknown_chars_become_unk(char, s):
    known = set("".join(CORPUS))
    expected = [char.stoi[c] if c in known else char.unk_id for c in s]
    assert char.encode(s) == expected


def test_tricky_strings_round_trip(bpe):
    for s in ["", " ", "\r\n", "\x00\x01\x7f", "🙂" * 5, "e\u0301\u0302", "東京タワー",
              "👩‍👩‍👧", "\ufeffBOM", "tab\tand\vvertical", "mixed 123abc_def!!"]:
        assert bpe.decode(bpe.encode(s)) == s


# ---------------------------------------------------------------- exact behaviour

def test_first_merge_is_most_frequent_pair():
    tok = BPETokenizer.train(["aaab aaab aaab aaab"], vocab_size=262)
    a, b = N_SPECIAL + ord("a"), N_SPECIAL + ord("b")
    # "aa" occurs twice in every word, more than any other pair.
    assert tok.merges[0] == ((a, a), 256 + N_SPECIAL)
    # then "ab" and "aa"+"a" tie (4 each); the smaller pair (a, b) wins.
    assert tok.merges[1] == ((a, b), 257 + N_SPECIAL)
    assert tok.token_bytes(256 + N_SPECIAL) == b"aa"
    assert tok.id_to_token(257 + N_SPECIAL) == "ab"


def test_vocab_size_respected(bpe):
    assert bpe.vocab_size == len(bpe) == 400
    assert len(bpe.merges) == 400 - 256 - N_SPECIAL
    assert [new_id for _, new_id in bpe.merges] == list(range(256 + N_SPECIAL, 400))
    assert max(i for text in CORPUS for i in bpe.encode(text)) < 400


def test_training_stops_when_no_pair_repeats():
    tok = BPETokenizer.train(["abcdef"], vocab_size=1000)
    assert tok.merges == [] and tok.vocab_size == 256 + N_SPECIAL


def test_training_is_deterministic_and_accepts_a_single_string(bpe):
    again = BPETokenizer.train(iter(CORPUS), vocab_size=400)
    assert again.merges == bpe.merges
    one = BPETokenizer.train("aaab aaab aaab", vocab_size=261)
    assert one.merges == BPETokenizer.train(["aaab aaab aaab"], vocab_size=261).merges


def test_merges_shorten_the_training_text(bpe):
    text = "".join(CORPUS)
    assert len(bpe.encode(text)) < 0.6 * len(text.encode("utf-8"))


def test_special_token_ids():
    for tok in (BPETokenizer(), CharTokenizer("abc")):
        assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    assert BPETokenizer().encode("<pad><bos><eos><unk>") == [0, 1, 2, 3]
    tok = BPETokenizer(special_tokens=[EOS, PAD])
    assert (tok.eos_id, tok.pad_id, tok.vocab_size) == (0, 1, 258)
    with pytest.raises(ValueError, match="no <bos> token"):
        tok.bos_id


def test_add_bos_eos_and_skip_special(bpe, char):
    for tok in (bpe, char):
        ids = tok.encode("the fox", add_bos=True, add_eos=True)
        assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
        assert tok.decode(ids) == "the fox"
        assert tok.decode(ids, skip_special=False) == f"{BOS}the fox{EOS}"


def test_literal_special_tokens(bpe):
    ids = bpe.encode("hi<eos>there")
    assert bpe.eos_id in ids
    assert bpe.eos_id not in bpe.encode("hi<eos>there", allowed_special=False)
    assert bpe.decode(ids) == "hithere"


def test_char_tokenizer_basics():
    tok = CharTokenizer("hello")  # duplicates are dropped, order kept
    assert tok.chars == ["h", "e", "l", "o"]
    assert tok.vocab_size == N_SPECIAL + 4
    assert tok.encode("hole") == [4, 7, 6, 5]
    assert tok.encode("hi!") == [4, tok.unk_id, tok.unk_id]
    assert CharTokenizer.from_texts(["ba", "c"]).chars == ["a", "b", "c"]
    no_unk = CharTokenizer("ab", special_tokens=[PAD])
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        no_unk.encode("abz")


def test_decode_accepts_tensors(bpe):
    torch = pytest.importorskip("torch")
    ids = bpe.encode("the lazy dog")
    assert bpe.decode(torch.tensor(ids)) == "the lazy dog"


def test_verbose_training_prints_merges(capsys):
    BPETokenizer.train(["aaab aaab aaab"], vocab_size=261, verbose=True)
    assert "'a' + 'a' -> 260" in capsys.readouterr().out


# ---------------------------------------------------------------- save / load

def test_bpe_save_load_round_trip(bpe, tmp_path):
    path = tmp_path / "bpe.json"
    bpe.save(path)
    data = json.loads(path.read_text())
    assert data["type"] == "bpe" and data["version"] == 1
    loaded = BPETokenizer.load(path)
    assert loaded.merges == bpe.merges and loaded.special_tokens == bpe.special_tokens
    for text in CORPUS + ["something new 🙂"]:
        assert loaded.encode(text) == bpe.encode(text)


def test_char_save_load_round_trip(char, tmp_path):
    path = tmp_path / "char.json"
    char.save(path)
    loaded = CharTokenizer.load(str(path))
    assert loaded.itos == char.itos
    assert all(loaded.encode(t) == char.encode(t) for t in CORPUS)


def test_load_wrong_type_or_corrupt_file(bpe, char, tmp_path):
    char_path, bpe_path = tmp_path / "char.json", tmp_path / "bpe.json"
    char.save(char_path)
    bpe.save(bpe_path)
    wrong_type = r"char\.json: expected a 'bpe' tokenizer file, found type 'char'"
    with pytest.raises(ValueError, match=wrong_type):
        BPETokenizer.load(char_path)
    with pytest.raises(ValueError, match="expected a 'char' tokenizer file"):
        CharTokenizer.load(bpe_path)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(bpe_path.read_text()[:100])
    with pytest.raises(ValueError, match=r"truncated\.json: .*corrupt JSON"):
        BPETokenizer.load(truncated)
    bad_merge = tmp_path / "bad_merge.json"
    bad_merge.write_text(json.dumps({"type": "bpe", "version": 1, "special_tokens": [],
                                     "merges": [[0, 99999]]}))
    with pytest.raises(ValueError, match=r"bad_merge\.json: corrupt bpe tokenizer file"):
        BPETokenizer.load(bad_merge)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"type": "bpe", "version": 99, "merges": []}))
    with pytest.raises(ValueError, match="unsupported version 99"):
        BPETokenizer.load(future)


# ---------------------------------------------------------------- bad input

def test_vocab_size_too_small():
    with pytest.raises(ValueError, match="vocab_size must be at least 260"):
        BPETokenizer.train(CORPUS, vocab_size=100)
    with pytest.raises(ValueError, match="at least 257"):
        BPETokenizer.train(CORPUS, vocab_size=256, special_tokens=[EOS])


def test_encode_non_str(bpe, char):
    for tok in (bpe, char):
        with pytest.raises(TypeError, match="expects a str, got int"):
            tok.encode(123)
        with pytest.raises(TypeError, match="decode bytes to str first"):
            tok.encode(b"bytes")
    with pytest.raises(TypeError, match="got list"):
        BPETokenizer.train([["not", "text"]], vocab_size=300)


def test_lone_surrogate_is_rejected(bpe):
    with pytest.raises(ValueError, match="lone surrogate"):
        bpe.encode("ok \ud800 not ok")


def test_decode_out_of_range(bpe, char):
    for tok in (bpe, char):
        with pytest.raises(ValueError, match=f"token id 9999 .*vocab_size={tok.vocab_size}"):
            tok.decode([5, 9999])
        with pytest.raises(ValueError, match="token id -1 "):
            tok.decode([-1])
        with pytest.raises(ValueError, match="must be integers"):
            tok.decode([1.5])
    with pytest.raises(ValueError, match="token id 400 "):
        bpe.token_bytes(400)
