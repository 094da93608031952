# expect: 1/7
# message: the keys bug is still there
# message: the mask bug is still there
def cross_attention(mha, y, memory, src_mask=None):
    return buggy_cross_attention(mha, y, memory, src_mask)
