# expect: 2/7
# message: that is the untied answer
# message: tied, the output layer IS the embedding matrix: one matrix, counted once
# message: the decoder reads tgt[:, :-1]
def predictions() -> dict:
    return {
        "rows_with_gradient_untied": 11,
        "rows_with_gradient_tied": 11,
        "params_untied": 1000 * 64 + 1000 * 64 + 1000,
        "params_tied": 2 * 1000 * 64,
        "logits_shape": (2, 6, 1000),
    }
