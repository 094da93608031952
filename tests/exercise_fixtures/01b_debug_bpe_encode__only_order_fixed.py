# expect: 3/7
# message: only the first occurrence of each pair is merged
def encode(text, merges):
    ids = []
    for piece in PRETOKENIZE_RE.findall(text):
        word = [4 + b for b in piece.encode("utf-8")]
        for pair, new_id in merges:                             # learned order now
            pairs = list(zip(word, word[1:]))
            if pair in pairs:
                i = pairs.index(pair)
                word = word[:i] + [new_id] + word[i + 2:]
        ids.extend(word)
    return ids
