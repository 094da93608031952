# expect: 4/8
# message: the biases are missing: linear1 has one per hidden feature
# message: the biases of the linear layers are missing
def predictions(B: int, T: int) -> dict:
    """The weight matrices counted, their biases forgotten (the LayerNorms' two vectors kept)."""
    return {
        "ffn_params": 2 * 512 * 2048,
        "encoder_layer_params": 4 * 512 * 512 + 2 * 512 * 2048 + 2 * 2 * 512,
        "flops": 4 * B * T * 512 * 2048,
        "output_shape": (B, T, 512),
    }
