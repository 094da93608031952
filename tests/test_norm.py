"""Layer norm and the residual connection, against nn.LayerNorm and the formulas themselves."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tfm import LayerNorm, ResidualNorm, layer_norm
from tfm.interop import from_torch


def assert_close(actual, expected, atol=1e-5):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=1e-5)


def torch_layer_norm(d: int, eps: float = 1e-5, bias: bool = True) -> nn.LayerNorm:
    """nn.LayerNorm with random scale and shift (not the ones and zeros it starts with)."""
    ref = nn.LayerNorm(d, eps=eps, bias=bias)
    with torch.no_grad():
        ref.weight.copy_(1 + 0.5 * torch.randn(d))
        if bias:
            ref.bias.copy_(0.5 * torch.randn(d))
    return ref


@pytest.mark.parametrize("shape", [(7, 12), (2, 5, 12), (2, 3, 4, 12)])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_written_out_matches_torch(shape, eps, bias):
    ref = torch_layer_norm(12, eps, bias)
    x = 3 * torch.randn(shape) + 1
    assert_close(layer_norm(x, ref.weight, ref.bias, eps), ref(x))


def test_layer_norm_without_affine_is_zero_mean_unit_variance():
    x = 3 * torch.randn(4, 6, 32) + 2
    y = layer_norm(x, None, None)
    assert_close(y, nn.LayerNorm(32, elementwise_affine=False)(x))
    assert_close(y.mean(-1), torch.zeros(4, 6))
    assert_close(y.var(-1, unbiased=False), torch.ones(4, 6), atol=1e-4)  # var / (var + eps)


@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_module_matches_torch(bias):
    ref = torch_layer_norm(16, eps=1e-6, bias=bias)
    ours = LayerNorm(16, eps=1e-6, bias=bias)
    with torch.no_grad():
        ours.weight.copy_(ref.weight)
        if bias:
            ours.bias.copy_(ref.bias)
    assert (ours.bias is None) == (not bias)
    x = torch.randn(2, 5, 16)
    assert_close(ours(x), ref(x))
    assert_close(layer_norm(x, ours.weight, ours.bias, ours.eps), ours(x))


@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_from_torch(bias):
    ref = torch_layer_norm(16, eps=1e-3, bias=bias)
    ours = from_torch(ref)
    assert isinstance(ours, LayerNorm) and ours.eps == 1e-3
    x = torch.randn(3, 16)
    assert_close(ours(x), ref(x))
    with torch.no_grad():  # the weights are copied, not shared
        ours.weight.zero_()
    assert not torch.allclose(ours(x), ref(x))


def test_layer_norm_from_torch_without_affine_and_in_float64():
    ref = nn.LayerNorm(8, elementwise_affine=False)
    x = torch.randn(3, 8)
    assert_close(from_torch(ref)(x), ref(x))
    ref64 = torch_layer_norm(8).double()
    ours64 = from_torch(ref64)
    assert ours64.weight.dtype == torch.float64
    x64 = torch.randn(3, 8, dtype=torch.float64)
    torch.testing.assert_close(ours64(x64), ref64(x64), atol=1e-12, rtol=1e-12)


def test_layer_norm_rejects_wrong_width_and_multi_dim_shapes():
    with pytest.raises(ValueError, match="width 8"):
        LayerNorm(8)(torch.randn(2, 7))
    with pytest.raises(ValueError, match="normalized_shape"):
        from_torch(nn.LayerNorm((4, 8)))


# ---- residual + norm ----

def residual_norm_pair(norm_first: bool, bias: bool = True):
    """tfm's ResidualNorm and an nn.LayerNorm holding the same scale and shift."""
    ref = torch_layer_norm(16, bias=bias)
    ours = ResidualNorm(16, dropout=0.3, norm_first=norm_first, bias=bias).eval()
    ours.norm = from_torch(ref)
    return ours, ref


@pytest.mark.parametrize("bias", [True, False])
def test_post_ln_is_norm_of_the_sum(bias):
    ours, ref = residual_norm_pair(norm_first=False, bias=bias)
    sublayer = nn.Linear(16, 16)
    x = torch.randn(2, 5, 16)
    assert_close(ours(x, sublayer), ref(x + sublayer(x)))  # LayerNorm(x + sublayer(x))


@pytest.mark.parametrize("bias", [True, False])
def test_pre_ln_keeps_the_residual_path(bias):
    ours, ref = residual_norm_pair(norm_first=True, bias=bias)
    sublayer = nn.Linear(16, 16)
    x = torch.randn(2, 5, 16)
    assert_close(ours(x, sublayer), x + sublayer(ref(x)))  # x + sublayer(LayerNorm(x))
    # With a sub-layer that outputs zeros, pre-LN passes x through unchanged; post-LN normalises it.
    zero = lambda h: torch.zeros_like(h)  # noqa: E731
    assert torch.equal(ours(x, zero), x)
    post, post_ref = residual_norm_pair(norm_first=False, bias=bias)
    assert_close(post(x, zero), post_ref(x))


def test_residual_dropout_only_in_training():
    ours = ResidualNorm(16, dropout=0.5, norm_first=True)
    sublayer = nn.Linear(16, 16)
    x = torch.randn(4, 8, 16)
    ours.eval()
    assert_close(ours(x, sublayer), x + sublayer(ours.norm(x)))
    ours.train()
    delta = ours(x, sublayer) - x  # dropout(sublayer(norm(x))): about half the entries are zero
    assert 0.3 < (delta == 0).float().mean().item() < 0.7
