"""Figures the book draws again and again: attention heat maps, masks, tokens.

The architecture diagram is tfm.diagram; widget demos are tfm.playground.

Plotting lives here (not in the notebooks) so that every chapter draws attention the same way.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch
from torch import Tensor

from .device import set_seed  # noqa: F401  (chapters call tfm.viz.set_seed)

def attention_heatmap(weights: Tensor, queries: Sequence[str] | None = None, keys: Sequence[str] | None = None,
                      ax: plt.Axes | None = None, title: str = "attention weights") -> plt.Axes:
    """Draw one (T_q, T_k) matrix of attention weights: rows are queries, columns keys."""
    w = weights.detach().float().cpu()
    if w.dim() != 2:
        raise ValueError(f"attention_heatmap expects a (T_q, T_k) matrix, got shape {tuple(w.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * w.size(1) + 2, 0.45 * w.size(0) + 1.5))
    im = ax.imshow(w, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(w.size(1)), keys if keys is not None else range(w.size(1)), rotation=90)
    ax.set_yticks(range(w.size(0)), queries if queries is not None else range(w.size(0)))
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def heads_grid(weights: Tensor, queries: Sequence[str] | None = None, keys: Sequence[str] | None = None,
               title: str = "") -> plt.Figure:
    """One heat map per head for weights of shape (H, T_q, T_k) (one batch row)."""
    w = weights.detach().float().cpu()
    if w.dim() != 3:
        raise ValueError(f"heads_grid expects (H, T_q, T_k), got shape {tuple(w.shape)}")
    H = w.size(0)
    fig, axes = plt.subplots(1, H, figsize=(3.2 * H, 3.4), squeeze=False)
    for h in range(H):
        ax = axes[0, h]
        ax.imshow(w[h], vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_xticks(range(w.size(2)), keys if keys is not None else range(w.size(2)), rotation=90, fontsize=8)
        ax.set_yticks(range(w.size(1)), queries if queries is not None else range(w.size(1)), fontsize=8)
        ax.set_title(f"head {h}")
        ax.set_xlabel("key")
        if h == 0:
            ax.set_ylabel("query")
    fig.tight_layout()
    if title:
        fig.suptitle(title, y=1.0, va="bottom")  # above the per-head titles
    return fig


def token_boxes(tokens: Sequence[str], ids: Sequence[int] | None = None, title: str = "",
                width: int = 64) -> plt.Figure:
    """Draw a tokenized text as a row of coloured boxes, one box per token, wrapped at ``width`` characters.

    ``tokens`` are the tokens' printable strings (a space shows as "·", a newline as "↵"), ``ids``
    (optional) are printed small under each box. Neighbouring tokens alternate colours, so every
    token boundary is visible.
    """
    if ids is not None and len(ids) != len(tokens):
        raise ValueError(f"got {len(tokens)} tokens but {len(ids)} ids")
    shown = [t.replace(" ", "\u00b7").replace("\n", "\u21b5") or "\u2205" for t in tokens]
    sizes = [max(len(s), len(str(ids[i])) if ids is not None else 0) for i, s in enumerate(shown)]
    places, x, line = [], 0, 0  # (x, line) of each box, in character cells
    for w in sizes:
        if x > 0 and x + w > width:
            x, line = 0, line + 1
        places.append((x, line))
        x += w + 1.0
    rows = line + 1
    row_h = 2.2 if ids is not None else 1.5
    cell = 0.6 * 11 / 72  # inches per character of an 11-point monospace font
    fig = plt.figure(figsize=(cell * (width + 1.6), cell * 2.2 * (row_h * rows + 0.6) + (0.35 if title else 0.0)))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - (0.35 / fig.get_figheight() if title else 0.0)))
    colors = plt.get_cmap("Pastel1").colors
    for i, (s, w, (x, line)) in enumerate(zip(shown, sizes, places)):
        y = -line * row_h
        ax.add_patch(plt.Rectangle((x - 0.2, y - 0.55), w + 0.4, 1.1, facecolor=colors[i % 2 * 2],
                                   edgecolor="gray", linewidth=0.6))
        ax.text(x + w / 2, y, s, ha="center", va="center", family="monospace", fontsize=11)
        if ids is not None:
            ax.text(x + w / 2, y - 0.95, str(ids[i]), ha="center", va="center", family="monospace",
                    fontsize=8, color="dimgray")
    ax.set_xlim(-0.8, width + 0.8)
    ax.set_ylim(-(rows - 1) * row_h - (1.3 if ids is not None else 0.8), 0.8)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def mask_heatmap(mask: Tensor, queries: Sequence[str] | None = None, keys: Sequence[str] | None = None,
                 ax: plt.Axes | None = None, title: str = "mask") -> plt.Axes:
    """Draw one bool (T_q, T_k) attention mask: filled cells may attend (True), white cells are hidden.

    Rows are queries, columns keys, as in :func:`attention_heatmap`. Rows with no True cell
    (nothing to attend to) are marked "empty" on the right.
    """
    m = mask.detach().cpu()
    if m.dtype != torch.bool or m.dim() != 2:
        raise ValueError(f"mask_heatmap expects a bool (T_q, T_k) mask, got {m.dtype} of shape {tuple(m.shape)}")
    from matplotlib.colors import ListedColormap

    T_q, T_k = m.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(0.4 * T_k + 1.5, 0.4 * T_q + 1.2))
    ax.imshow(m.float(), vmin=0.0, vmax=1.0, cmap=ListedColormap(["white", "tab:blue"]))
    ax.set_xticks([x - 0.5 for x in range(1, T_k)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, T_q)], minor=True)
    ax.grid(which="minor", color="lightgray", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks(range(T_k), keys if keys is not None else range(T_k), rotation=90)
    ax.set_yticks(range(T_q), queries if queries is not None else range(T_q))
    for row in (~m.any(dim=-1)).nonzero().flatten().tolist():
        ax.text(T_k - 0.4, row, " empty", va="center", ha="left", color="tab:red", fontsize=8)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    return ax


SPECIAL_TOKEN_COLORS = {"<bos>": "#b3e2cd", "<eos>": "#fdcdac", "<pad>": "#e0e0e0", "<unk>": "#f4cae4"}


def token_rows(rows: dict[str, Sequence[str]], ax: plt.Axes | None = None, title: str = "",
               shift_arrows: tuple[str, str] | None = None) -> plt.Axes:
    """Draw token sequences as aligned rows of boxes, one column per position (a teacher-forcing table).

    ``rows`` maps a row label to its tokens, drawn top to bottom; shorter rows leave blanks on the
    right. Special tokens (``<bos>``, ``<eos>``, ``<pad>``, ``<unk>``) get their own colours.
    ``shift_arrows=(a, b)`` draws an arrow from row ``a`` at position t to row ``b`` at position
    t + 1: in teacher forcing, the target at step t is the decoder's input at step t + 1.
    """
    labels = list(rows)
    if shift_arrows is not None and not set(shift_arrows) <= set(labels):
        raise ValueError(f"shift_arrows {shift_arrows} must name two of the rows {labels}")
    T = max((len(r) for r in rows.values()), default=0)
    width = max([len(str(tok)) for r in rows.values() for tok in r] + [3])  # characters per box
    if ax is None:
        _, ax = plt.subplots(figsize=(0.11 * width * T + 2.5, 0.75 * len(labels) + 1.0))
    for i, label in enumerate(labels):
        for t, tok in enumerate(rows[label]):
            color = SPECIAL_TOKEN_COLORS.get(str(tok), "#cfe2f3")
            ax.add_patch(plt.Rectangle((t - 0.45, i - 0.3), 0.9, 0.6, facecolor=color, edgecolor="gray", linewidth=0.6))
            ax.text(t, i, str(tok), ha="center", va="center", fontsize=9)
    if shift_arrows is not None:
        a, b = labels.index(shift_arrows[0]), labels.index(shift_arrows[1])
        for t in range(min(len(rows[shift_arrows[0]]), len(rows[shift_arrows[1]]) - 1)):
            if str(rows[shift_arrows[0]][t]) == "<pad>" or str(rows[shift_arrows[1]][t + 1]) == "<pad>":
                continue
            ax.annotate("", xy=(t + 1 - 0.3, b + (0.3 if a > b else -0.3)), xytext=(t + 0.3, a + (-0.3 if a > b else 0.3)),
                        arrowprops=dict(arrowstyle="->", color="dimgray", linewidth=0.8))
    ax.set_xlim(-0.6, T - 0.4)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xticks(range(T))
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("position t")
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title)
    return ax
