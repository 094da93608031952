"""The tests of `merge_step` (exercise 01_tokenization): generated from exercises/source/01_tokenization.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_returns_pair_and_list(merge_step):
    """returns (pair, merged): a tuple of two ints and a list of ints"""
    from tfm_exercises.checks import WrongType, call, check
    ids = [4 + b for b in "aaabdaaabac".encode()]
    out = call(merge_step, ids, 260)
    check(isinstance(out, tuple) and len(out) == 2, f"merge_step should return (pair, merged), got {out!r:.80}",
          WrongType)
    pair, merged = out
    check(isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(t, int) for t in pair),
          f"pair should be a tuple of two ints, got {pair!r:.80}", WrongType)
    check(isinstance(merged, list) and all(isinstance(t, int) for t in merged),
          f"merged should be a list of ints, got {type(merged).__name__}", WrongType)


@case(points=2, hidden=False)
def test_most_frequent_pair(merge_step):
    """the pair is the one tfm's BPETokenizer.train merges first"""
    from tfm.tokenizer import BPETokenizer
    from tfm_exercises.checks import call, check
    for word in ("aaabdaaabac", "mississippi", "banana"):
        ids = BPETokenizer().encode(word)  # bytes + 4, no merges yet
        (want, new_id), = BPETokenizer.train(word, vocab_size=len(BPETokenizer()) + 1).merges
        pair, _ = call(merge_step, ids, new_id)
        check(tuple(pair) == want, f"for {word!r} the most frequent pair is {want}, you returned {tuple(pair)}")


@case(points=1, hidden=False)
def test_ties_go_to_the_smallest_pair(merge_step):
    """when pairs tie, the smallest (a, b) wins"""
    from collections import Counter
    from tfm.tokenizer import BPETokenizer
    from tfm_exercises.checks import Mistake, call, check
    word = "zzaazzaa"  # zz, za and aa all occur twice
    ids = BPETokenizer().encode(word)
    (want, new_id), = BPETokenizer.train(word, vocab_size=len(BPETokenizer()) + 1).merges
    pair, _ = call(merge_step, ids, new_id)
    first_seen = Counter(zip(ids, ids[1:])).most_common(1)[0][0]
    check(tuple(pair) != first_seen or first_seen == want,
          f"for {word!r}: zz, za and aa all occur twice, and you took the first one seen, {first_seen}. Ties go to "
          f"the smallest pair, {want}: Counter.most_common keeps the order of first appearance, so break "
          "ties yourself, e.g. min(counts, key=lambda p: (-counts[p], p)).", Mistake)
    check(tuple(pair) == want, f"for {word!r} the tie goes to the smallest pair {want}, you returned {tuple(pair)}")


@case(points=2, hidden=False)
def test_merge_left_to_right(merge_step):
    """the merged list equals what tfm's tokenizer gives after that one merge"""
    from tfm.tokenizer import BPETokenizer
    from tfm_exercises.checks import Mistake, WrongValues, call, check
    for word in ("aaabdaaabac", "aaaa", "mississippi"):
        ids = BPETokenizer().encode(word)
        tok = BPETokenizer.train(word, vocab_size=len(BPETokenizer()) + 1)
        (pair, new_id), = tok.merges
        want = tok.encode(word)
        _, merged = call(merge_step, ids, new_id)
        if list(merged) == want:
            continue
        expanded = [t for m in merged for t in (pair if m == new_id else (m,))]
        check(expanded == ids, f"for {word!r}: your merged list {merged} does not spell the input again when each "
              f"{new_id} is replaced by {pair}. After merging the pair at i, go on at i + 2: both tokens are "
              "used up, so 'aaa' becomes [new, a], not [new, new].", Mistake)
        check(len(merged) != len(ids) - 1 or want.count(new_id) == 1,
              f"for {word!r}: you replaced only the first occurrence of {pair}; replace every one: {want}", Mistake)
        raise WrongValues(f"for {word!r}: merging {pair} into {new_id} gives {want}, you returned {merged}")


@case(points=2, hidden=True)
def test_random_words_and_a_second_merge(merge_step):
    """random words, and a second merge step on the output of the first (ids above 259)"""
    import random
    from tfm.tokenizer import BPETokenizer
    from tfm_exercises.checks import call, check, rng as test_rng
    rng = test_rng()
    base = len(BPETokenizer())
    for _ in range(20):
        word = "".join(rng.choice("abc") for _ in range(rng.randint(6, 20)))
        tok = BPETokenizer.train(word, vocab_size=base + 2)
        if len(tok.merges) < 2:
            continue
        ids = BPETokenizer().encode(word)
        for k, (want_pair, new_id) in enumerate(tok.merges):
            pair, ids = call(merge_step, ids, new_id)
            check(tuple(pair) == want_pair, f"for {word!r}, merge {k + 1}: expected the pair {want_pair}, got {tuple(pair)}")
        want = tok.encode(word)
        check(list(ids) == want, f"for {word!r} after two merges: expected {want}, got {ids}")
