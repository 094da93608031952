"""The architecture, drawn by code: the encoder-decoder and the decoder-only GPT.

Every chapter opens with one of these two diagrams and its own stage highlighted
(:func:`where_we_are`). Boxes are the stages of the seed's data flow, arrows carry the data, the
thin paths on the side are the residual connections, and a bracket marks the "N x" repeat of a
layer. ``shapes=True`` writes the tensor shape on every arrow (chapters 13 and 14).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

MODELS = ("encoder-decoder", "gpt")
HIGHLIGHT, PLAIN, DIM = "#ffd966", "#e8eef7", "#f4f4f4"
COLORS = {"attention": "#fbe3d6", "norm": "#fff2cc", "ffn": "#dae8fc", "embed": "#e1f0da", "io": "#f2f2f2",
          "out": "#e5dcf0"}


@dataclass(frozen=True)
class Box:
    key: str      # the stage name chapters highlight, e.g. "multi-head attention"
    text: str     # what the box says
    x: float      # centre
    y: float
    kind: str = "io"
    w: float = 3.5
    h: float = 0.48


def _column(x: float, side: str, model: str) -> tuple[list[Box], list[tuple[str, str]], list[tuple[str, str]],
                                                      tuple[float, float], int]:
    """One column (encoder, decoder or GPT), bottom to top: its boxes, arrows, residuals, the span of
    the repeated layer, and how many boxes that layer has."""
    p = "" if model == "gpt" else f"{side} "
    src = {"encoder": "source text", "decoder": "target so far (shifted right)", "gpt": "text so far"}[side]
    boxes = [Box(f"{p}text", src, x, 0.4), Box(f"{p}tokens", "tokenizer -> token ids", x, 1.15),
             Box(f"{p}embedding", "token embedding", x, 1.9, "embed"),
             Box(f"{p}positions", "+ positional encoding", x, 2.65, "embed")]
    y = 3.6
    if side == "encoder":
        layer = [("multi-head attention", "multi-head self-attention", "attention"), ("add & norm 1", "add & norm", "norm"),
                 ("feed-forward", "feed-forward", "ffn"), ("add & norm 2", "add & norm", "norm")]
    elif side == "decoder":
        layer = [("masked attention", "masked multi-head self-attention", "attention"), ("add & norm 1", "add & norm", "norm"),
                 ("cross-attention", "cross-attention (K, V: encoder)", "attention"), ("add & norm 2", "add & norm", "norm"),
                 ("feed-forward", "feed-forward", "ffn"), ("add & norm 3", "add & norm", "norm")]
    else:
        layer = [("norm 1", "layer norm", "norm"), ("masked attention", "masked multi-head self-attention", "attention"),
                 ("add 1", "+ (residual)", "norm"), ("norm 2", "layer norm", "norm"), ("feed-forward", "feed-forward", "ffn"),
                 ("add 2", "+ (residual)", "norm")]
    start = y
    for key, text, kind in layer:
        boxes.append(Box(f"{p}{key}", text, x, y, kind))
        y += 0.75
    top = y - 0.75
    if side == "encoder":
        boxes.append(Box("encoder output", "encoder output (memory)", x, y + 0.1, "out"))
    else:
        if side == "gpt":
            boxes.append(Box("final norm", "final layer norm", x, y + 0.1, "norm"))
            y += 0.75
        boxes += [Box(f"{p}linear", "linear (to vocabulary)", x, y + 0.1, "out"),
                  Box(f"{p}softmax", "softmax -> next token", x, y + 0.85, "out")]
    arrows = [(a.key, b.key) for a, b in zip(boxes, boxes[1:])]
    keys = [b.key for b in boxes]
    if side == "gpt":   # pre-LN: the residual skips norm + sub-layer and joins at "+"
        residuals = [(keys[3], f"{p}add 1"), (f"{p}add 1", f"{p}add 2")]
    else:               # post-LN: the residual skips the sub-layer and joins at "add & norm"
        subs = [k for k, _, kind in layer if kind != "norm"]
        residuals = [(keys[keys.index(f"{p}{s}") - 1], keys[keys.index(f"{p}{s}") + 1]) for s in subs]
    return boxes, arrows, residuals, (start - 0.45, top + 0.35), len(layer)


# What travels on the arrows, for shapes=True: ids out of the tokenizer, vectors through the layers,
# logits out of the linear layer. S: source length, T: target (or context) length.
def _shape_label(side: str, i: int, n_arrows: int, n_layer: int) -> str:
    """Arrow i of a column: 0 text -> tokenizer, 1 ids -> embedding, 2 and 3 vectors up to the
    layer, 3 + n_layer out of it, the last one logits (not in the encoder)."""
    L = "S" if side == "encoder" else "T"
    if i == 1:
        return f"(B, {L}) ids"
    if i in (2, 3, 3 + n_layer):
        return f"(B, {L}, d_model)"
    if i == n_arrows - 1 and side != "encoder":
        return "(B, T, vocab) logits"
    return ""


def _draw_box(ax: plt.Axes, box: Box, lit: bool, dim: bool) -> None:
    face = HIGHLIGHT if lit else (DIM if dim else COLORS[box.kind])
    ax.add_patch(FancyBboxPatch((box.x - box.w / 2, box.y - box.h / 2), box.w, box.h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=face, edgecolor="#b8860b" if lit else "#7f7f7f", linewidth=2.0 if lit else 0.8))
    ax.text(box.x, box.y, box.text, ha="center", va="center", fontsize=9, weight="bold" if lit else "normal",
            color="#222222" if not dim or lit else "#808080")


def _arrow(ax: plt.Axes, a: Box, b: Box, label: str = "", color: str = "#404040") -> None:
    ax.annotate("", xy=(b.x, b.y - b.h / 2), xytext=(a.x, a.y + a.h / 2),
                arrowprops=dict(arrowstyle="-|>", color=color, linewidth=1.0, shrinkA=0, shrinkB=0))
    if label:
        ax.text(a.x + 0.12, (a.y + b.y) / 2 - 0.02, label, fontsize=7, color="#1f4e79", va="center", ha="left", family="monospace")


def _residual(ax: plt.Axes, a: Box, b: Box, left: bool) -> None:
    """A residual path: from the arrow leaving ``a``, around the side, into ``b``."""
    side = -1 if left else 1
    x_out = a.x + side * (a.w / 2 + 0.25)
    y0 = a.y + a.h / 2 + 0.12
    ax.plot([a.x, x_out, x_out], [y0, y0, b.y], color="#8c8c8c", linewidth=1.0, linestyle="-")
    ax.annotate("", xy=(b.x + side * b.w / 2, b.y), xytext=(x_out, b.y),
                arrowprops=dict(arrowstyle="-|>", color="#8c8c8c", linewidth=1.0, shrinkA=0, shrinkB=0))


def _bracket(ax: plt.Axes, x: float, span: tuple[float, float], text: str, left: bool) -> None:
    side = -1 if left else 1
    ax.add_patch(FancyBboxPatch((x - 2.2, span[0]), 4.4, span[1] - span[0], boxstyle="round,pad=0.02,rounding_size=0.15",
                                facecolor="none", edgecolor="#a0a0a0", linewidth=1.0, linestyle="--"))
    ax.text(x + side * 2.3, (span[0] + span[1]) / 2, text, ha="right" if left else "left", va="center", fontsize=10,
            weight="bold", color="#606060")


def architecture(model: str = "encoder-decoder", highlight: Iterable[str] | str = (), shapes: bool = False,
                 title: str = "") -> plt.Figure:
    """Draw the model; boxes whose key is in ``highlight`` are lit and the others dimmed.

    Keys are the stage names of :func:`stages`. Highlight nothing to draw the whole model plainly.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    marks = {highlight} if isinstance(highlight, str) else set(highlight)
    unknown = marks - set(stages(model))
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)} for {model}; stages are {stages(model)}")
    sides = [("encoder", 0.0), ("decoder", 6.4)] if model == "encoder-decoder" else [("gpt", 0.0)]
    width = 11.4 if model == "encoder-decoder" else 6.4
    fig, ax = plt.subplots(figsize=(width * 0.8, 10.0 * 0.62))
    placed: dict[str, Box] = {}
    for side, x in sides:
        boxes, arrows, residuals, span, n_layer = _column(x + 2.5, side, model)
        placed.update({b.key: b for b in boxes})
        _bracket(ax, x + 2.5, span, "N x" if side != "encoder" else "x N", left=side == "encoder")
        for b in boxes:
            _draw_box(ax, b, b.key in marks, bool(marks) and b.key not in marks)
        for i, (a, b) in enumerate(arrows):
            label = _shape_label(side, i, len(arrows), n_layer) if shapes else ""
            _arrow(ax, placed[a], placed[b], label)
        for a, b in residuals:
            _residual(ax, placed[a], placed[b], left=side != "encoder")
    if model == "encoder-decoder":
        mem, cross = placed["encoder output"], placed["decoder cross-attention"]
        ax.annotate("", xy=(cross.x - cross.w / 2, cross.y), xytext=(mem.x + mem.w / 2, mem.y),
                    arrowprops=dict(arrowstyle="-|>", color="#c55a11", linewidth=1.4, connectionstyle="arc3,rad=-0.25"))
        if shapes:
            ax.text((mem.x + cross.x) / 2, (mem.y + cross.y) / 2 + 0.35, "(B, S, d_model)", fontsize=7, color="#c55a11",
                    ha="center", family="monospace")
        loop = placed["decoder softmax"]
        ax.text(loop.x, loop.y + 0.5, "append the token; repeat until <eos> or max length", ha="center", fontsize=7.5,
                style="italic", color="#404040")
    else:
        top = placed["softmax"]
        ax.text(top.x, top.y + 0.5, "append the token; repeat", ha="center", fontsize=7.5, style="italic", color="#404040")
    ax.set_xlim(-0.6, width + 0.6)
    ax.set_ylim(-0.1, 9.6 if model == "encoder-decoder" else 10.0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def stages(model: str = "encoder-decoder") -> list[str]:
    """The keys of every box of ``model``, bottom to top (encoder first)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    sides = ("encoder", "decoder") if model == "encoder-decoder" else ("gpt",)
    return [b.key for s in sides for b in _column(0.0, s, model)[0]]


def where_we_are(highlight: Iterable[str] | str = (), model: str = "encoder-decoder", shapes: bool = False,
                 title: str = "", dpi: int = 80):
    """The diagram as a PNG image to display at the top of a chapter (IPython's ``Image``)."""
    from IPython.display import Image

    from tfm.playground import figure_png
    return Image(data=figure_png(architecture(model, highlight, shapes, title), dpi=dpi))
