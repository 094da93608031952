# expect: 4/8
# message: something is missing: the recipe keeps bf16 weights (2 bytes) and gradients (2), a float32 master copy
# message: half the real size: each layer caches TWO vectors per token and head
def predictions() -> dict:
    return {
        "fp32_training_bytes": 16 * 3_481_088,
        "mixed_training_bytes": (2 + 2 + 8) * 3_481_088,     # 16-bit weights and gradients, Adam in float32
        "kv_cache_bytes": 4 * 4 * 64 * 4 * 100 * 3,          # layers x heads x d_head x bytes x tokens x batch
        "gqa_kv_cache_bytes": 2 * 32 * 8 * 128 * 2 * 4096 * 8,
    }
