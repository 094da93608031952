"""tfm.Transformer vs torch.nn.Transformer (batch_first=True) of the same size, on CPU.

The peer is ``nn.Transformer`` wrapped with what tfm's model also has: token embeddings
scaled by sqrt(d_model), sinusoidal positions + dropout, and an output nn.Linear. Same
mask semantics on both sides: a causal target mask, and a source padding mask (about half
the rows are padded) for encoder self-attention and for cross-attention. Both run in train
mode with the same dropout; a step is zero_grad + forward + cross-entropy + backward.

``nn.Transformer`` always ends each stack with a LayerNorm, so tfm is built with
``final_norm=True`` to compute the same function; tfm takes the peer's weights (the stacks
through ``tfm.interop.from_torch``) and the script prints the largest logit difference in eval mode.

    python benchmarks/bench_transformer_vs_torch.py [--threads 2] [--layers 2] [--repeats 40]
"""
from __future__ import annotations

import argparse
import math
import warnings

import benchutils  # noqa: F401  (puts the repository root on sys.path)
import torch
import torch.nn.functional as F
from benchutils import (add_common_args, environment, median, print_json, print_table, ratio, setup, time_interleaved,
                    timing_rows)
from torch import nn

import tfm
from tfm.interop import from_torch

PAD = 0


class TorchSeq2Seq(nn.Module):
    """nn.Transformer + scaled embeddings + sinusoidal positions + output layer."""

    def __init__(self, vocab: int, d_model: int, n_heads: int, d_ff: int, n_layers: int, dropout: float,
                 max_len: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.src_embed = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(vocab, d_model, padding_idx=PAD)
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
        self.register_buffer("pe", pe, persistent=False)
        # float causal mask, made once (-inf above the diagonal), as nn.Transformer's docs suggest
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(max_len), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.transformer = nn.Transformer(d_model, n_heads, n_layers, n_layers, d_ff, dropout, batch_first=True)
        self.output = nn.Linear(d_model, vocab)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        S, T = src.size(1), tgt_in.size(1)
        pad = src == PAD  # (B, S) torch's convention: True = padding, may NOT attend
        x = self.dropout(self.src_embed(src) * math.sqrt(self.d_model) + self.pe[:S])
        y = self.dropout(self.tgt_embed(tgt_in) * math.sqrt(self.d_model) + self.pe[:T])
        out = self.transformer(x, y, tgt_mask=self.causal[:T, :T], src_key_padding_mask=pad,
                               memory_key_padding_mask=pad, tgt_is_causal=True)
        return self.output(out)  # (B, T, vocab)


@torch.no_grad()
def take_weights(ours: tfm.Transformer, peer: TorchSeq2Seq) -> None:
    """Give tfm the peer's weights: the two nn.Transformer stacks through ``tfm.interop.from_torch``
    (which converts nn.TransformerEncoder/Decoder with their weights and settings), the embeddings
    and the output layer, which have no nn.Transformer counterpart, directly."""
    ours.encoder = from_torch(peer.transformer.encoder)
    ours.decoder = from_torch(peer.transformer.decoder)
    ours.src_embed.weight.copy_(peer.src_embed.weight)
    ours.tgt_embed.weight.copy_(peer.tgt_embed.weight)
    ours.output.load_state_dict(peer.output.state_dict())


def make_batch(args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source with padded rows (every other row padded after a random length), target in/out."""
    B, S, T = args.batch, args.src_len, args.tgt_len
    src = torch.randint(3, args.vocab, (B, S))
    lengths = torch.where(torch.arange(B) % 2 == 0, torch.full((B,), S), torch.randint(1, S, (B,)))
    src[torch.arange(S)[None, :] >= lengths[:, None]] = PAD
    tgt = torch.randint(3, args.vocab, (B, T + 1))
    return src, tgt[:, :-1], tgt[:, 1:]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=512)
    p.add_argument("--layers", type=int, default=2, help="encoder layers = decoder layers")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--src-len", type=int, default=32)
    p.add_argument("--tgt-len", type=int, default=32)
    p.add_argument("--vocab", type=int, default=1000)
    p.add_argument("--dropout", type=float, default=0.1)
    add_common_args(p, repeats=60, budget=25.0)
    args = p.parse_args(argv)
    setup(args)

    max_len = max(args.src_len, args.tgt_len)
    cfg = tfm.TransformerConfig(src_vocab_size=args.vocab, tgt_vocab_size=args.vocab, d_model=args.d_model,
                                n_heads=args.heads, d_ff=args.d_ff, n_encoder_layers=args.layers,
                                n_decoder_layers=args.layers, dropout=args.dropout, max_len=max_len,
                                pad_id=PAD, final_norm=True)
    ours = tfm.Transformer(cfg)
    peer = TorchSeq2Seq(args.vocab, args.d_model, args.heads, args.d_ff, args.layers, args.dropout, max_len)
    take_weights(ours, peer)
    src, tgt_in, tgt_out = make_batch(args)

    ours.eval(), peer.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*nested tensors.*")  # nn.Transformer's eval fast path
        max_diff = (ours(src, tgt_in) - peer(src, tgt_in)).abs().max().item()

    ours.train(), peer.train()

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            logits = model(src, tgt_in)
            F.cross_entropy(logits.reshape(-1, args.vocab), tgt_out.reshape(-1), ignore_index=PAD).backward()
        return run

    train = time_interleaved({"tfm": step(ours), "torch": step(peer)}, args)
    r = ratio(train, "tfm", "torch")
    n_params = sum(p.numel() for p in ours.parameters())
    print(f"Transformer {args.layers}+{args.layers} layers d={args.d_model} h={args.heads} d_ff={args.d_ff} "
          f"batch={args.batch} S={args.src_len} T={args.tgt_len} vocab={args.vocab} dropout={args.dropout}; "
          f"{n_params / 1e6:.2f}M params; threads={args.threads}; max |logit diff| (eval) = {max_diff:.2e}")
    print_table("forward+backward per step (train mode)", ["model", "median ms", "IQR/med", "rounds"],
                timing_rows(train))
    print_table("ratio (tfm / peer; < 1 means tfm is faster)", ["comparison", "ratio", "paired", "goal"],
                [["train step tfm/torch", r["ratio"], r["paired"], "<= 1.1"]])
    result = {"train_ratio": r["ratio"], "train_ratio_paired": r["paired"],
              "train_tfm_ms": 1e3 * median(train["tfm"]), "train_torch_ms": 1e3 * median(train["torch"]),
              "max_logit_diff": max_diff, **environment(args)}
    print_json("transformer_vs_torch", result)
    return result


if __name__ == "__main__":
    main()
