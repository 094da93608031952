# expect: 1/7
# message: both bugs are still there
# message: the merges are still applied in order of how often their pair occurs
# message: only the first occurrence of each pair is merged
def encode(text, merges):
    return buggy_encode(text, merges)
