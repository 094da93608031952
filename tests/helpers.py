"""Small helpers shared by the reference tests."""
import torch
from torch import nn


def perturb(module: nn.Module, std: float = 0.1) -> nn.Module:
    """Add noise to every parameter, so zero biases and unit LayerNorm scales become random."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * std)
    return module
