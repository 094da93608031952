"""Bad input gets a ValueError that names the problem, never a shape error from inside torch."""
import pytest
import torch

import tfm


@pytest.fixture(scope="module")
def transformer():
    torch.manual_seed(0)
    cfg = tfm.TransformerConfig(src_vocab_size=10, tgt_vocab_size=12, d_model=16, n_heads=4, d_ff=32,
                                n_encoder_layers=1, n_decoder_layers=1, max_len=8)
    return tfm.Transformer(cfg).eval()


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return tfm.GPT(tfm.GPTConfig(vocab_size=20, max_len=8, n_layers=1, d_model=16, n_heads=4)).eval()


@pytest.mark.parametrize("make", [
    lambda: tfm.MultiHeadAttention(d_model=10, n_heads=3),
    lambda: tfm.TransformerConfig(10, 10, d_model=10, n_heads=3),
    lambda: tfm.GPTConfig(vocab_size=10, d_model=10, n_heads=4),
])
def test_heads_that_do_not_divide_d_model(make):
    with pytest.raises(ValueError, match="n_heads must divide d_model"):
        make()


@pytest.mark.parametrize("make, message", [
    (lambda: tfm.TransformerConfig(10, 10, activation="swish"), "activation"),
    (lambda: tfm.TransformerConfig(10, 12, share_embeddings=True), "share_embeddings"),
    (lambda: tfm.TransformerConfig(10, 10, dropout=1.5), "dropout"),
    (lambda: tfm.TransformerConfig(3, 10, eos_id=5), "eos_id"),
    (lambda: tfm.PositionwiseFeedForward(8, 16, activation="tanh"), "activation"),
    (lambda: tfm.sinusoidal_encoding(10, 7), "even d_model"),
])
def test_bad_configuration(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_sequence_longer_than_max_len(transformer, gpt):
    with pytest.raises(ValueError, match="longer than max_len=8"):
        transformer(torch.ones(1, 9, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="longer than max_len=8"):
        transformer(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="longer than max_len=8"):
        gpt(torch.ones(1, 9, dtype=torch.long))


def test_token_ids_outside_the_vocabulary(transformer, gpt):
    with pytest.raises(ValueError, match=r"src contain id 10, outside the vocabulary \[0, 10\)"):
        transformer(torch.tensor([[1, 10]]), torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"tgt_in contain id -1"):
        transformer(torch.tensor([[1, 2]]), torch.tensor([[1, -1]]))
    with pytest.raises(ValueError, match=r"id 20, outside the vocabulary \[0, 20\)"):
        gpt(torch.tensor([[1, 20]]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool])
def test_token_ids_of_a_float_or_bool_dtype(gpt, dtype):
    with pytest.raises(ValueError, match="integer token ids"):
        gpt(torch.ones(1, 3, dtype=dtype))


def test_empty_batch(transformer, gpt):
    with pytest.raises(ValueError, match="empty"):
        gpt(torch.ones(0, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        transformer(torch.ones(0, 3, dtype=torch.long), torch.ones(0, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        tfm.MultiHeadAttention(8, 2)(*(torch.ones(0, 3, 8),) * 3)


def test_token_ids_of_the_wrong_rank(gpt):
    with pytest.raises(ValueError, match=r"shape \(B, T\)"):
        gpt(torch.ones(3, dtype=torch.long))


def test_batch_sizes_that_do_not_match(transformer):
    with pytest.raises(ValueError, match="same batch size"):
        transformer(torch.ones(2, 3, dtype=torch.long), torch.ones(3, 3, dtype=torch.long))


@pytest.mark.parametrize("mask", [
    torch.ones(2, 1, 5, 4, dtype=torch.bool),  # T_k wrong
    torch.ones(3, 1, 1, 5, dtype=torch.bool),  # batch wrong
    torch.ones(5, dtype=torch.bool),  # rank wrong
    torch.ones(2, 2, 1, 5, dtype=torch.bool),  # heads wrong (the module has 4)
])
def test_mask_of_the_wrong_shape(mask):
    mha = tfm.MultiHeadAttention(16, 4)
    x = torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match="does not fit attention scores of shape"):
        mha(x, x, x, mask=mask)


def test_mask_of_the_wrong_dtype():
    mha = tfm.MultiHeadAttention(16, 4)
    x = torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match="bool tensor"):
        mha(x, x, x, mask=torch.zeros(5, 5))


def test_inputs_of_the_wrong_width():
    x = torch.randn(2, 5, 12)
    with pytest.raises(ValueError, match="width d_model=16, got width 12"):
        tfm.MultiHeadAttention(16, 4)(x, x, x)
    with pytest.raises(ValueError, match="width 16"):
        tfm.LayerNorm(16)(x)
    with pytest.raises(ValueError, match="d_model=16"):
        tfm.PositionwiseFeedForward(16, 32)(x)
    with pytest.raises(ValueError, match="d_model=16"):
        tfm.EncoderLayer(16, 4, 32)(x)
    memory = torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match="d_model=16"):
        tfm.DecoderLayer(16, 4, 32)(x, memory)


def test_memory_of_the_wrong_shape(transformer):
    with pytest.raises(ValueError, match="memory must have shape"):
        transformer.decode(torch.ones(2, 3, dtype=torch.long), torch.randn(2, 4, 8))


def test_decoder_layer_needs_memory():
    with pytest.raises(ValueError, match="pass the encoder output as memory"):
        tfm.DecoderLayer(16, 4, 32)(torch.randn(1, 3, 16))
