# expect: 5/8
# message: half the count: either you counted a multiply-add as 1 operation
def predictions(B: int, T: int) -> dict:
    """Right counts, but a multiply-add counted as one floating-point operation."""
    return {
        "ffn_params": 512 * 2048 + 2048 + 2048 * 512 + 512,
        "encoder_layer_params": 4 * (512 * 512 + 512) + 512 * 2048 + 2048 + 2048 * 512 + 512 + 2 * 2 * 512,
        "flops": 2 * B * T * 512 * 2048,   # two products of B T rows, one operation per multiply-add
        "output_shape": (B, T, 512),
    }
