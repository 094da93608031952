# expect: 5/7
# message: you counted every lookup, repeats included
def predictions() -> dict:
    return {
        "rows_with_gradient_untied": 10 + 10,
        "rows_with_gradient_tied": 1000,
        "params_untied": 1000 * 64 + 1000 * 64 + 1000,
        "params_tied": 1000 * 64,
        "logits_shape": (2, 5, 1000),
    }
