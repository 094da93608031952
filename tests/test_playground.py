"""tfm.playground (widgets that work with no kernel) and tfm.diagram (the architecture picture)."""
from __future__ import annotations

import ipywidgets
from ipywidgets.widgets.widget_link import Link
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tfm.diagram import architecture, stages, where_we_are  # noqa: E402
from tfm.playground import Choice, playground  # noqa: E402


def draw(a: int, b: bool) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, a if b else -a])
    return fig


def _leaves(w):
    if isinstance(w, ipywidgets.Stack):
        return [leaf for child in w.children for leaf in _leaves(child)]
    return [w]


def test_every_state_is_stored_and_every_control_is_linked_in_the_browser():
    box = playground(draw, {"a": Choice([1, 2, 3], value=2), "b": Choice([False, True], kind="toggle", labels=["off", "on"])})
    controls, figure = box.children[0].children, box.children[1]
    assert [type(c).__name__ for c in controls] == ["SelectionSlider", "ToggleButtons"]
    assert controls[0].index == 1 and figure.selected_index == 1          # starts at value=2
    captions = [leaf.children[0].value for leaf in _leaves(figure)]
    assert captions == [f"<b>a = {a} · b = {b}</b>" for a in (1, 2, 3) for b in ("off", "on")]
    pngs = [bytes(leaf.children[1].value) for leaf in _leaves(figure)]
    assert all(p.startswith(b"\x89PNG") for p in pngs) and len(set(pngs)) == 6
    # One jslink for the outer Stack, one per inner Stack: index -> selected_index, in the front end.
    links = [w for w in ipywidgets.Widget.widgets.values() if isinstance(w, Link)
             and w.source[0] in controls]
    by_control = {id(c): [lk for lk in links if lk.source[0] is c] for c in controls}
    assert len(by_control[id(controls[0])]) == 1 and len(by_control[id(controls[1])]) == 3
    assert all(lk.source[1] == "index" and lk.target[1] == "selected_index" for lk in links)
    assert "6 stored figures" in box.children[-1].value


def test_without_stack_ipywidgets_7_swaps_the_stored_figures_from_python(monkeypatch):
    monkeypatch.delattr(ipywidgets, "Stack")                             # as in Colab's ipywidgets 7.7.1
    box = playground(draw, {"a": Choice([1, 2]), "b": Choice([False, True], kind="dropdown")})
    controls, figure = box.children[0].children, box.children[1]
    label, image = figure.children
    first = image.value
    controls[0].index = 1
    assert label.value == "<b>a = 2 · b = False</b>" and image.value != first
    controls[1].index = 1
    assert label.value == "<b>a = 2 · b = True</b>"


def test_a_text_control_is_also_typed_freely_in_a_live_kernel():
    def draw_text(text: str) -> plt.Figure:
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.set_title(text)
        return fig

    box = playground(draw_text, {"text": Choice(["one", "two words"], kind="dropdown")}, text="text")
    own = box.children[2]
    box_in, shown = own.children
    assert shown.children == ()                         # nothing (no empty image) until the reader types
    box_in.value = "my own sentence"
    assert bytes(shown.children[0].value).startswith(b"\x89PNG")


def test_labels_are_shown_as_text_not_html():
    box = playground(draw, {"a": Choice([1, 2], label="extra <pad>"), "b": Choice([False, True])})
    leaf = box.children[1].children[0].children[0]
    assert leaf.children[0].value == "<b>extra &lt;pad&gt; = 1 · b = False</b>"


@pytest.mark.parametrize("bad, message", [
    (dict(values=[]), "at least one value"),
    (dict(values=[1, 2], kind="knob"), "kind must be one of"),
    (dict(values=[1, 2], value=3), "is not one of"),
    (dict(values=[1, 2], labels=["x"]), "2 values but 1 labels"),
])
def test_bad_choices_name_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        Choice(**bad)


def test_too_many_states_and_bad_draw_are_clear_errors():
    with pytest.raises(ValueError, match="more than"):
        playground(draw, {"a": Choice(list(range(20))), "b": Choice(list(range(20)))})
    with pytest.raises(ValueError, match="matplotlib Figure"):
        playground(lambda a: 3, {"a": Choice([1])})


def test_diagram_has_every_stage_of_the_seed_once_and_rejects_unknown_ones():
    ed, gpt = stages("encoder-decoder"), stages("gpt")
    assert len(set(ed)) == len(ed) and len(set(gpt)) == len(gpt)
    for needed in ("encoder tokens", "encoder embedding", "encoder positions", "encoder multi-head attention",
                   "encoder add & norm 1", "encoder feed-forward", "decoder masked attention",
                   "decoder cross-attention", "decoder add & norm 3", "decoder linear", "decoder softmax"):
        assert needed in ed
    assert {"masked attention", "feed-forward", "final norm", "linear", "softmax"} <= set(gpt)
    with pytest.raises(ValueError, match="unknown stage"):
        architecture(highlight="attention")
    with pytest.raises(ValueError, match="model must be one of"):
        stages("rnn")


def test_where_we_are_is_a_png_with_the_stage_lit():
    plain = architecture("gpt")
    lit = architecture("gpt", highlight=["masked attention"], shapes=True)
    texts = [t.get_text() for t in lit.axes[0].texts]
    assert "(B, T, vocab) logits" in texts and "(B, T) ids" in texts
    assert "(B, T) ids" not in [t.get_text() for t in plain.axes[0].texts]
    bold = [t.get_text() for t in lit.axes[0].texts if t.get_fontweight() == "bold"]
    assert "masked multi-head self-attention" in bold
    assert where_we_are("decoder cross-attention").data.startswith(b"\x89PNG")
    plt.close("all")
