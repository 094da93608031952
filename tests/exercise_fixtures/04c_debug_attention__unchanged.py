# expect: 1/7
# message: the scale bug is still there
# message: both bugs are still there
def attention(q, k, v, mask=None):
    return buggy_attention(q, k, v, mask)
