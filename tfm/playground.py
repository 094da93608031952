"""Widget demos that work in the static HTML book with no kernel, and live in Jupyter and Colab.

A "Play with it" demo is a drawing function and a few controls, each with a small set of values.
:func:`playground` draws every combination once, while the notebook is executed, stores each
figure as a PNG inside the notebook, and links each control to the figures on the client side
(``ipywidgets.jslink`` from the control's ``index`` to the ``selected_index`` of a ``Stack``):
moving a control shows another stored figure, in Jupyter and in the built book alike, with no
kernel. Three controls of four values each are 64 figures, so keep to a handful of values.

Colab ships ipywidgets 7.7.1, which has no ``Stack``: there the same controls swap the stored
figures from Python (Colab always has a kernel). A free-text input (``text=``) is a live extra:
the reader picks one of the prepared inputs in the static page, or types their own in a kernel.
"""
from __future__ import annotations

import html
import io
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt

DPI = 64          # small, readable PNGs: a few tens of kB each
MAX_STATES = 96   # product of the control sizes; more than this is a demo to redesign
KINDS = ("slider", "dropdown", "toggle")


@dataclass
class Choice:
    """One control: a small, fixed list of ``values`` shown as ``labels`` (default ``str(value)``).

    ``kind`` is "slider" (a SelectionSlider: ordered values), "dropdown" or "toggle" (buttons;
    use it for yes/no with ``values=[False, True], labels=["off", "on"]``).
    """
    values: Sequence[Any]
    value: Any = None
    kind: str = "slider"
    label: str = ""
    labels: Sequence[str] | None = None
    index: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.values = list(self.values)
        if not self.values:
            raise ValueError("a Choice needs at least one value, got an empty list")
        if self.kind not in KINDS:
            raise ValueError(f"Choice kind must be one of {KINDS}, got {self.kind!r}")
        self.labels = [str(v) for v in self.values] if self.labels is None else [str(s) for s in self.labels]
        if len(self.labels) != len(self.values):
            raise ValueError(f"got {len(self.values)} values but {len(self.labels)} labels")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be distinct, got {self.labels}")
        value = self.values[0] if self.value is None else self.value
        matches = [i for i, v in enumerate(self.values) if v == value]
        if not matches:
            raise ValueError(f"value {value!r} is not one of {self.values}")
        self.index = matches[0]


def figure_png(fig: plt.Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes; the figure is closed (it is not shown a second time)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _render(draw: Callable[..., Any], values: dict[str, Any], dpi: int) -> bytes:
    """Call ``draw(**values)``; it returns a Figure or draws on the current one."""
    plt.close("all")
    fig = draw(**values)
    if fig is None:
        fig = plt.gcf()
    if not isinstance(fig, plt.Figure):
        raise ValueError(f"draw must return a matplotlib Figure or None, got {type(fig).__name__}")
    return figure_png(fig, dpi)


def state_caption(names: Sequence[str], choices: Sequence[Choice], indices: Sequence[int]) -> str:
    """The text above each stored figure: every control's name and value, e.g. "d_model = 64 · scale = on"."""
    return " · ".join(f"{c.label or n} = {c.labels[i]}" for n, c, i in zip(names, choices, indices))


def _bold(text: str) -> str:
    """Text as HTML: "<pad>" in a label must show, not vanish as an unknown tag."""
    return f"<b>{html.escape(text)}</b>"


def _control(name: str, choice: Choice, widgets: Any) -> Any:
    description = choice.label or name
    options = list(choice.labels)
    if choice.kind == "slider":
        w = widgets.SelectionSlider(options=options, description=description, continuous_update=True,
                                    style={"description_width": "initial"})
    elif choice.kind == "dropdown":
        w = widgets.Dropdown(options=options, description=description, style={"description_width": "initial"},
                             layout=widgets.Layout(width="max-content", min_width="220px"))
    else:
        w = widgets.ToggleButtons(options=options, description=description, style={"description_width": "initial"})
    w.index = choice.index
    w.add_class("tfm-control")
    return w


def _leaf(caption: str, png: bytes, widgets: Any) -> Any:
    label = widgets.HTML(_bold(caption))
    label.add_class("tfm-state")
    image = widgets.Image(value=png, format="png", layout=widgets.Layout(max_width="100%", height="auto"))
    return widgets.VBox([label, image])


def _linked_stacks(names, choices, pngs, controls, widgets, level=0, prefix=()):
    """A Stack per control level, nested; every Stack of level k follows control k by a jslink."""
    if level == len(choices):
        return _leaf(state_caption(names, choices, prefix), pngs[prefix], widgets)
    children = [_linked_stacks(names, choices, pngs, controls, widgets, level + 1, prefix + (i,))
                for i in range(len(choices[level].values))]
    stack = widgets.Stack(children=children, selected_index=choices[level].index)
    widgets.jslink((controls[level], "index"), (stack, "selected_index"))
    return stack


def _swapped_image(names, choices, pngs, controls, widgets):
    """ipywidgets 7 (Colab): one Image whose PNG the controls swap from Python."""
    start = tuple(c.index for c in choices)
    label = widgets.HTML(_bold(state_caption(names, choices, start)))
    image = widgets.Image(value=pngs[start], format="png")

    def update(_change=None) -> None:
        key = tuple(int(w.index) for w in controls)
        label.value = _bold(state_caption(names, choices, key))
        image.value = pngs[key]

    for w in controls:
        w.observe(update, names="index")
    return widgets.VBox([label, image])


def _own_text(draw, text_name: str, names, controls, choices, widgets, dpi: int):
    """A text box for the reader's own input: drawn live, so it needs a running kernel."""
    text_label = choices[names.index(text_name)].label or text_name
    box = widgets.Text(placeholder="type your own and press Enter (needs a running kernel)",
                       description=f"your own {text_label}", continuous_update=False,
                       style={"description_width": "initial"}, layout=widgets.Layout(width="90%"))
    shown = widgets.Box([])   # empty until the reader types: no empty image in the static page

    def update(_change=None) -> None:
        if not box.value.strip():
            return
        values = {n: c.values[int(w.index)] for n, c, w in zip(names, choices, controls) if n != text_name}
        shown.children = [widgets.Image(value=_render(draw, {**values, text_name: box.value}, dpi), format="png")]

    box.observe(update, names="value")
    return widgets.VBox([box, shown])


def playground(draw: Callable[..., Any], controls: dict[str, Choice], caption: str = "", text: str | None = None,
               dpi: int = DPI) -> Any:
    """Precompute ``draw(**values)`` for every combination of the controls and link them client-side.

    ``controls`` maps each keyword of ``draw`` to a :class:`Choice`. ``caption`` says what to try;
    the widget adds how many stored states it holds. ``text`` names a control (a dropdown of
    prepared inputs) that a live kernel also lets the reader type freely.
    Returns an ipywidgets container; make it the cell's last expression to display it.
    """
    import ipywidgets as widgets

    if not controls:
        raise ValueError("playground needs at least one control")
    names, choices = list(controls), list(controls.values())
    bad = [n for n, c in controls.items() if not isinstance(c, Choice)]
    if bad:
        raise ValueError(f"every control must be a tfm.playground.Choice; {bad} are not")
    states = math.prod(len(c.values) for c in choices)
    if states > MAX_STATES:
        raise ValueError(f"{states} combinations of {names} is more than {MAX_STATES}: use fewer values or controls")
    if text is not None and text not in controls:
        raise ValueError(f"text={text!r} must name one of the controls {names}")
    pngs = {key: _render(draw, {n: c.values[i] for n, c, i in zip(names, choices, key)}, dpi)
            for key in itertools.product(*(range(len(c.values)) for c in choices))}
    ctrls = [_control(n, c, widgets) for n, c in zip(names, choices)]
    if hasattr(widgets, "Stack"):    # ipywidgets >= 8: linked in the browser, works with no kernel
        figure = _linked_stacks(names, choices, pngs, ctrls, widgets)
    else:                            # ipywidgets 7 (Colab): swapped by the kernel
        figure = _swapped_image(names, choices, pngs, ctrls, widgets)
    note = f"{states} stored figure{'s' if states != 1 else ''}: every control works without a kernel."
    parts = [widgets.HBox(ctrls, layout=widgets.Layout(flex_flow="row wrap")), figure]
    if text is not None:
        parts.append(_own_text(draw, text, names, ctrls, choices, widgets, dpi))
    parts.append(widgets.HTML(f"<small>{html.escape(caption + ' ' if caption else '')}{note}</small>"))
    box = widgets.VBox(parts)
    box.add_class("tfm-playground")
    return box
