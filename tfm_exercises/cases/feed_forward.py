"""The tests of `feed_forward` (exercise 06_feed_forward): generated from exercises/source/06_feed_forward.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_layers_and_parameter_count(FeedForward):
    """linear1 (d_model -> d_ff) and linear2 (d_ff -> d_model); as many parameters as tfm.params.ffn_params"""
    from torch import nn
    from tfm.params import ffn_params
    from tfm_exercises.checks import NotDefined, WrongShape, call, check, is_instance
    ff = call(FeedForward, 8, 32, name="FeedForward")
    for name, (i, o) in (("linear1", (8, 32)), ("linear2", (32, 8))):
        layer = getattr(ff, name, None)
        check(is_instance(layer, nn.Linear), f"FeedForward(8, 32) has no nn.Linear called `{name}`", NotDefined)
        check((layer.in_features, layer.out_features) == (i, o),
              f"{name} maps {layer.in_features} -> {layer.out_features}, expected {i} -> {o}", WrongShape)
    n = sum(p.numel() for p in ff.parameters())
    check(n == ffn_params(8, 32), f"FeedForward(8, 32) has {n} parameters, expected {ffn_params(8, 32)}")


@case(points=1, hidden=False)
def test_shape(FeedForward):
    """(B, T, d_model) in, (B, T, d_model) out"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    ff = call(FeedForward, 8, 32, name="FeedForward")
    out = tensor(call(ff, torch.randn(2, 5, 8), name="FeedForward(8, 32)"), "the output")
    check(tuple(out.shape) == (2, 5, 8), f"expected shape (2, 5, 8), got {tuple(out.shape)}", WrongShape)


@case(points=3, hidden=False)
def test_values(FeedForward):
    """equals tfm.PositionwiseFeedForward with the same weights"""
    import torch
    import torch.nn.functional as F
    import tfm
    from tfm_exercises.checks import call, compare, copy_weights
    ff = call(FeedForward, 8, 32, name="FeedForward")
    reference = tfm.PositionwiseFeedForward(8, 32, activation="relu", dropout=0.0)
    copy_weights(ff, reference)
    x = torch.randn(2, 5, 8)
    l1, l2 = reference.linear1, reference.linear2
    with torch.no_grad():
        want = reference(x)
        mistakes = [
            ("there is no non-linearity: two linear layers in a row are just one linear map. Apply "
             "F.relu between linear1 and linear2.", lambda: l2(l1(x))),
            ("the ReLU is in the wrong place: it goes between linear1 and linear2, not after linear2",
             lambda: F.relu(l2(l1(x)))),
            ("there is a ReLU after linear2 as well: the block ends with linear2, so the output can be "
             "negative", lambda: F.relu(l2(F.relu(l1(x))))),
            ("you used GELU; this exercise (and the paper) uses ReLU", lambda: l2(F.gelu(l1(x)))),
        ]
        compare(call(ff, x, name="FeedForward.forward"), want, "your output", mistakes=mistakes)


@case(points=1, hidden=True)
def test_position_wise(FeedForward):
    """each position is processed on its own: changing token 3 changes only output 3"""
    import torch
    from tfm_exercises.checks import call, check
    ff = call(FeedForward, 6, 12, name="FeedForward")
    x = torch.randn(1, 5, 6)
    y = x.clone()
    y[0, 3] += 1.0
    with torch.no_grad():
        a, b = call(ff, x, name="FeedForward.forward"), call(ff, y, name="FeedForward.forward")
    changed = ((a - b).abs().amax(dim=-1) > 1e-6)[0].tolist()
    check(changed == [False, False, False, True, False] or not any(changed[:3] + changed[4:]),
          f"changing token 3 changed the outputs at positions {[i for i, c in enumerate(changed) if c]}: "
          "the feed-forward block must treat each position on its own")
