# expect: 4/8
# message: rows and columns are swapped
# message: 28 is the number of visible entries
def predictions() -> dict:
    return {
        "decoder_layer_params": 2 * 4 * (512 * 512 + 512) + (512 * 2048 + 2048) + (2048 * 512 + 512) + 3 * 2 * 512,
        "cross_weights_shape": (2, 8, 11, 7),
        "output_shape": (2, 7, 512),
        "zero_self_weights": 28,
    }
