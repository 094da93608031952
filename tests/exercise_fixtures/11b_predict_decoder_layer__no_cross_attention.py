# expect: 5/8
# message: the cross-attention sub-layer is missing
def predictions() -> dict:
    return {
        "decoder_layer_params": 4 * (512 * 512 + 512) + (512 * 2048 + 2048) + (2048 * 512 + 512) + 2 * 2 * 512,
        "cross_weights_shape": (2, 8, 7, 11),
        "output_shape": (2, 7, 512),
        "zero_self_weights": 21,
    }
