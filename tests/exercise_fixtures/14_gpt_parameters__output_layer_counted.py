# expect: 1/7
# message: GPT ties it to the token embedding
def count_gpt_params(config):
    d, b = config.d_model, int(config.bias)
    linear = lambda d_in, d_out: d_in * d_out + b * d_out
    norm = (1 + b) * d
    block = 4 * linear(d, d) + linear(d, config.d_ff) + linear(config.d_ff, d) + 2 * norm
    output_layer = config.vocab_size * d
    return config.vocab_size * d + config.max_len * d + config.n_layers * block + norm + output_layer
