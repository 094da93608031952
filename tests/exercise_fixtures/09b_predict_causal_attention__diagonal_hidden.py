# expect: 4/8
# message: T(T+1)/2 is the number of visible entries
# message: a position sees itself
def predictions(T: int) -> dict:
    """Right weights and outputs, but counted as if a token could not see itself."""
    return {
        "weight_2_0": 1 / 3,
        "weight_last_0": 1 / T,
        "zero_weights": T * (T + 1) // 2,        # the diagonal counted as hidden
        "outputs": [(i + 2) / 2 for i in range(T)],
        "changed_by_last": [],                   # "nobody sees the last token"
        "changed_by_1": list(range(2, T)),
    }
