"""Token embedding and positional encodings against the paper's formulas."""
import math

import torch

import tfm


def test_sinusoidal_encoding_matches_the_paper_formula():
    max_len, d = 20, 8
    pe = tfm.sinusoidal_encoding(max_len, d)
    for pos in range(max_len):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert math.isclose(pe[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
            assert math.isclose(pe[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)


def test_relative_positions_are_a_rotation():
    # The paper's motivation: PE(pos + k) is a linear function of PE(pos), the same for every pos.
    d, k = 16, 3
    pe = tfm.sinusoidal_encoding(50, d).double()
    for i in range(d // 2):
        w = 1 / 10000 ** (2 * i / d)
        rot = torch.tensor([[math.cos(k * w), -math.sin(k * w)], [math.sin(k * w), math.cos(k * w)]],
                           dtype=torch.double)
        pair = pe[:, 2 * i: 2 * i + 2]  # rows (sin a, cos a); sin(a+b), cos(a+b) by the addition formulas
        torch.testing.assert_close(pair[:-k] @ rot, pair[k:], atol=1e-4, rtol=0)


def test_positional_encoding_adds_the_table_and_has_no_parameters():
    torch.manual_seed(0)
    pe = tfm.PositionalEncoding(d_model=8, max_len=10).eval()
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(pe(x), x + tfm.sinusoidal_encoding(10, 8)[:5])
    torch.testing.assert_close(pe(x[:, 2:3], start=2), x[:, 2:3] + tfm.sinusoidal_encoding(10, 8)[2:3])
    assert sum(p.numel() for p in pe.parameters()) == 0


def test_token_embedding_is_scaled_lookup():
    torch.manual_seed(0)
    emb = tfm.TokenEmbedding(vocab_size=11, d_model=16)
    ref = torch.nn.Embedding(11, 16)
    ref.weight.data.copy_(emb.weight.data)
    ids = torch.tensor([[1, 2, 3], [10, 0, 4]])
    torch.testing.assert_close(emb(ids), ref(ids) * 4.0)  # sqrt(16) = 4
    plain = tfm.TokenEmbedding(11, 16, scale=False)
    plain.embed.weight.data.copy_(ref.weight.data)
    torch.testing.assert_close(plain(ids), ref(ids))


def test_learned_positions_add_one_vector_per_position():
    torch.manual_seed(0)
    lp = tfm.LearnedPositionalEmbedding(max_len=7, d_model=4)
    x = torch.zeros(3, 5, 4)
    torch.testing.assert_close(lp(x), lp.weight[:5].expand(3, 5, 4))
    torch.testing.assert_close(lp(x[:, :1], start=6), lp.weight[6:7].expand(3, 1, 4))
