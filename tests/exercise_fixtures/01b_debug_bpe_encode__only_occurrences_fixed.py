# expect: 3/7
# message: the merges are still applied in order of how often their pair occurs
def encode(text, merges):
    ids = []
    for piece in PRETOKENIZE_RE.findall(text):
        word = [4 + b for b in piece.encode("utf-8")]
        counts = Counter(zip(word, word[1:]))
        for pair, new_id in sorted(merges, key=lambda m: -counts[m[0]]):
            out, i = [], 0
            while i < len(word):                                # every occurrence now
                if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        ids.extend(word)
    return ids
