# expect: 1/8
# message: the weight is spread over all T keys
def predictions(T: int) -> dict:
    """All scores are equal, so every key gets 1/T: the mask forgotten in the weights and outputs."""
    return {
        "weight_2_0": 1 / T,
        "weight_last_0": 1 / T,
        "zero_weights": 0,
        "outputs": [(T + 1) / 2] * T,
        "changed_by_last": [T - 1],
        "changed_by_1": list(range(1, T)),
    }
