# expect: 2/7
# message: you wrote pre-LN
class EncoderLayer(nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.self_attn = tfm.MultiHeadAttention(d_model, n_heads)
        self.ff = tfm.PositionwiseFeedForward(d_model, d_ff)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x, mask=None):
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, mask)
        return x + self.ff(self.norm2(x))
