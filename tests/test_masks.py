"""Masks: True = may attend, shapes that broadcast over (B, H, T_q, T_k), and no NaN."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tfm
from tfm.masks import causal_mask, padding_mask


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=3, max_size=3), min_size=1, max_size=4),
       st.integers(0, 5))
def test_padding_mask_marks_real_tokens(rows, pad_id):
    tokens = torch.tensor(rows)
    mask = padding_mask(tokens, pad_id)
    assert mask.shape == (len(rows), 1, 1, 3) and mask.dtype == torch.bool
    for b, row in enumerate(rows):
        assert mask[b, 0, 0].tolist() == [t != pad_id for t in row]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12))
def test_causal_mask_is_lower_triangular(T):
    expected = torch.tril(torch.ones(T, T, dtype=torch.bool))
    assert torch.equal(causal_mask(T)[0, 0], expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10), st.integers(0, 10))
def test_causal_mask_with_cache_is_last_rows_of_full_mask(T, past):
    # With `past` cached keys, the T new queries are rows past .. past+T-1 of the full mask.
    full = causal_mask(past + T)
    assert torch.equal(causal_mask(T, past + T), full[:, :, past:, :])


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 8), st.integers(0, 1000))
def test_causal_attention_ignores_the_future(T, seed):
    torch.manual_seed(seed)
    mha = tfm.MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, T, 16)
    t = int(torch.randint(0, T - 1, ()))
    y = x.clone()
    y[:, t + 1:] = torch.randn_like(y[:, t + 1:])  # change only the future of position t
    for kwargs in ({"mask": causal_mask(T)}, {"is_causal": True}):
        a = mha(x, x, x, **kwargs)
        b = mha(y, y, y, **kwargs)
        torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1])


def test_query_with_nothing_to_attend_to_gives_zeros_not_nan():
    torch.manual_seed(0)
    mha = tfm.MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8, requires_grad=True)
    mask = torch.ones(2, 1, 3, 3, dtype=torch.bool)
    mask[0, 0, 1] = False  # query 1 of batch row 0 sees nothing
    for return_weights in (False, True):
        out = mha(x, x, x, mask=mask, return_weights=return_weights)
        out = out[0] if return_weights else out
        assert not torch.isnan(out).any()
        expected = mha.w_o.bias  # zero attention output, then the output projection's bias
        torch.testing.assert_close(out[0, 1], expected)
        out.sum().backward()
        assert not torch.isnan(x.grad).any()
        x.grad = None
