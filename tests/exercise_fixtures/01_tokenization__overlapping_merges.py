# expect: 4/8
# message: go on at i + 2
def merge_step(ids, new_id):
    counts = Counter(zip(ids, ids[1:]))
    pair = min(counts, key=lambda p: (-counts[p], p))
    merged = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
        elif i == 0 or (ids[i - 1], ids[i]) != pair:
            merged.append(ids[i])
    return pair, merged
