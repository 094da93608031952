# expect: 2/7
# message: the self-attention sees the future
class DecoderLayer(nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.self_attn = tfm.MultiHeadAttention(d_model, n_heads)
        self.cross_attn = tfm.MultiHeadAttention(d_model, n_heads)
        self.ff = tfm.PositionwiseFeedForward(d_model, d_ff)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def forward(self, y, memory, memory_mask=None):
        y = self.norm1(y + self.self_attn(y, y, y))
        y = self.norm2(y + self.cross_attn(y, memory, memory, memory_mask))
        return self.norm3(y + self.ff(y))
