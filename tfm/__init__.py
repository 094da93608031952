"""tfm: the Transformer, built one stage at a time (see the course book).

Data flow, one module per stage: tokenizer -> embedding -> positional -> attention
(masks) -> norm -> feedforward -> encoder / decoder -> model -> generate.
"""
from .attention import KVCache, MultiHeadAttention, scaled_dot_product_attention
from .decoder import Decoder, DecoderLayer, LayerCache
from .device import get_device
from .embedding import TokenEmbedding
from .encoder import Encoder, EncoderLayer
from .feedforward import PositionwiseFeedForward
from .masks import causal_mask, padding_mask
from .model import GPT, GPTConfig, Transformer, TransformerConfig
from .norm import LayerNorm, ResidualNorm, layer_norm
from .positional import LearnedPositionalEmbedding, PositionalEncoding, sinusoidal_encoding

__version__ = "0.1.0"

__all__ = [
    "GPT", "GPTConfig", "Transformer", "TransformerConfig",
    "MultiHeadAttention", "scaled_dot_product_attention", "KVCache", "LayerCache",
    "Encoder", "EncoderLayer", "Decoder", "DecoderLayer",
    "TokenEmbedding", "PositionalEncoding", "LearnedPositionalEmbedding", "sinusoidal_encoding",
    "LayerNorm", "ResidualNorm", "layer_norm", "PositionwiseFeedForward",
    "padding_mask", "causal_mask", "get_device",
]
