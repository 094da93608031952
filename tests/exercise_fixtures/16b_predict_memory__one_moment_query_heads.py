# expect: 4/8
# message: AdamW keeps TWO moving averages per parameter
# message: you cached the 32 query heads
def predictions() -> dict:
    return {
        "fp32_training_bytes": (4 + 4 + 4) * 3_481_088,      # weight, gradient, Adam's average
        "mixed_training_bytes": (2 + 2 + 4 + 8) * 3_481_088,
        "kv_cache_bytes": 2 * 4 * 256 * 4 * 100 * 3,
        "gqa_kv_cache_bytes": 2 * 32 * 32 * 128 * 2 * 4096 * 8,
    }
