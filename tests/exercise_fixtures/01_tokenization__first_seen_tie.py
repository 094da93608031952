# expect: 5/8
# message: Ties go to the smallest pair
def merge_step(ids, new_id):
    pair = Counter(zip(ids, ids[1:])).most_common(1)[0][0]
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return pair, merged
