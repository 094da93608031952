"""The tests of `debug_bpe_encode` (exercise 01b_debug_bpe_encode): generated from exercises/source/01b_debug_bpe_encode.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


ORDER = ("the merges are still applied in order of how often their pair occurs in the word: a merge's rank is "
         "when training learned it, and the new text must not change that order (chapter 1: encoding replays "
         "the merges in the order they were learned)")
FIRST = ("only the first occurrence of each pair is merged: a merge replaces every occurrence of its pair in the "
         "word, left to right, as in training")


def variant(text, merges, by_count=False, first_only=False, reverse=False, overlapping=False):
    """What an encoder with the given mistakes returns (an independent re-implementation)."""
    from collections import Counter
    from tfm.tokenizer import PRETOKENIZE_RE
    out = []
    for piece in PRETOKENIZE_RE.findall(text):
        word = [4 + b for b in piece.encode("utf-8")]
        counts = Counter(zip(word, word[1:]))
        order = list(merges)[::-1] if reverse else list(merges)
        if by_count:
            order = sorted(order, key=lambda m: -counts[tuple(m[0])])
        for (a, b), new in order:
            merged, i, done = [], 0, False
            while i < len(word):
                here = i + 1 < len(word) and (word[i], word[i + 1]) == (a, b)
                if overlapping:
                    if here:
                        merged.append(new)
                    elif i == 0 or (word[i - 1], word[i]) != (a, b):
                        merged.append(word[i])
                    i += 1
                elif here and not done:
                    merged.append(new)
                    i, done = i + 2, first_only
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        out.extend(word)
    return out


def ids_of(result, what):
    """The student's result as a list of ints, or a failure saying what is wrong with it."""
    from tfm_exercises.checks import WrongType, type_name
    if result is None:
        raise WrongType(f"{what} is None: did you forget `return`? (the `...` placeholder returns None)")
    if not isinstance(result, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in result):
        raise WrongType(f"{what} should be a list of ints, got {type_name(result)}: {result!r:.60}")
    return result


@case(points=1, hidden=False)
def test_round_trip(encode):
    """returns a list of ints that decodes back to the text"""
    from tfm.tokenizer import BPETokenizer
    from tfm_exercises.checks import WrongValues, call, check
    tok = BPETokenizer.train("the cat sat on the mat, the cat ate the hat", vocab_size=270)
    for text in ("the hat sat on that mat", "a cat, a hat: that cat!"):
        ids = ids_of(call(encode, text, tok.merges), f"encode({text!r}, merges)")
        check(all(0 <= i < tok.vocab_size for i in ids), f"encode({text!r}) returned ids outside the vocabulary "
              f"[0, {tok.vocab_size}): {ids}")
        back = tok.decode(ids)
        check(back == text, f"encode({text!r}) returned {ids}, which decodes to {back!r}: every byte of the text "
              "must be spelled by exactly one token", WrongValues)


@case(points=2, hidden=False)
def test_learned_order(encode):
    """merges applied in the order they were learned: equals BPETokenizer.encode (the order bug)"""

    from tfm.tokenizer import BPETokenizer
    from tfm_exercises.checks import Mistake, WrongValues, call, check
    a, b, c = (4 + ord(ch) for ch in "abc")
    tok = BPETokenizer([(b, c), (a, b)])                  # learned first: "bc", then "ab"
    for text in ("abcab", "cabcab", "xabcab abcab"):      # each pair occurs at most once when it is merged
        want = tok.encode(text)
        got = ids_of(call(encode, text, tok.merges), f"encode({text!r}, merges)")
        if got == want:
            continue
        known = [(ORDER, variant(text, tok.merges, by_count=True)),
                 ("you applied the latest-learned merge first: replay them in the order training learned them, "
                  "merges[0] first", variant(text, tok.merges, reverse=True))]
        for message, value in known:
            check(got != value, f"for {text!r} with the merges 'bc' then 'ab': {message}. Expected {want}, "
                  f"got {got}", Mistake)
        raise WrongValues(f"for {text!r} with the merges 'bc' then 'ab': expected {want}, got {got}")


@case(points=2, hidden=False)
def test_every_occurrence(encode):
    """every occurrence of a pair merged, left to right: equals BPETokenizer.encode (the occurrence bug)"""

    from tfm.tokenizer import BPETokenizer
    from tfm_exercises.checks import Mistake, WrongValues, call, check
    a, b = 4 + ord("a"), 4 + ord("b")
    tok = BPETokenizer([(a, b), (a, a)])                  # learned first: "ab", then "aa"
    for text in ("ababab", "aaaa", "aaa", "xabab cabab"):
        want = tok.encode(text)
        got = ids_of(call(encode, text, tok.merges), f"encode({text!r}, merges)")
        if got == want:
            continue
        known = [(FIRST, variant(text, tok.merges, first_only=True)),
                 ("overlapping occurrences were both merged: after merging the pair at i, go on at i + 2 (both "
                  "tokens are used up), so 'aaa' with the merge 'aa' becomes [aa, a]",
                  variant(text, tok.merges, overlapping=True))]
        for message, value in known:
            check(got != value, f"for {text!r} with the merges 'ab' then 'aa': {message}. Expected {want}, "
                  f"got {got}", Mistake)
        raise WrongValues(f"for {text!r} with the merges 'ab' then 'aa': expected {want}, got {got}")


@case(points=2, hidden=True)
def test_trained_merges_on_new_text(encode):
    """merges trained on a random corpus, applied to new random text (both drawn at grading time)"""

    from tfm.tokenizer import BPETokenizer
    from tfm_exercises.checks import Mistake, WrongValues, call, check, rng
    def words(n):
        return " ".join("".join(rng().choice("abc") for _ in range(rng().randint(3, 9))) for _ in range(n))
    for _ in range(200):   # draw until both bugs show on this text (a few draws; a case that tells them apart)
        tok = BPETokenizer.train(words(rng().randint(8, 20)), vocab_size=260 + rng().randint(6, 14))
        text = words(rng().randint(4, 10))
        want = tok.encode(text)
        if want != variant(text, tok.merges, by_count=True) and want != variant(text, tok.merges, first_only=True):
            break
    got = ids_of(call(encode, text, tok.merges), "encode(text, merges)")
    if got != want:
        known = [("both bugs are still there: " + ORDER + "; and " + FIRST,
                  variant(text, tok.merges, by_count=True, first_only=True)),
                 (ORDER, variant(text, tok.merges, by_count=True)),
                 (FIRST, variant(text, tok.merges, first_only=True))]
        for message, value in known:
            check(got != value, f"{len(tok.merges)} trained merges, text {text!r}: {message}", Mistake)
        raise WrongValues(f"{len(tok.merges)} trained merges, text {text!r}: expected {want}, got {got}")
