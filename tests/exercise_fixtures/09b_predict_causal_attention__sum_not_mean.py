# expect: 4/8
# message: you added the visible values
def predictions(T: int) -> dict:
    """Right weights and changes, but the output taken as the sum of the visible values."""
    return {
        "weight_2_0": 1 / 3,
        "weight_last_0": 1 / T,
        "zero_weights": T * (T - 1) // 2,
        "outputs": [sum(range(1, i + 2)) for i in range(T)],
        "changed_by_last": [T - 1],
        "changed_by_1": list(range(1, T)),
    }
