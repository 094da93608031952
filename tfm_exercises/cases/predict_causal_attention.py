"""The tests of `predict_causal_attention` (exercise 09b_predict_causal_attention): generated from exercises/source/09b_predict_causal_attention.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def real_attention(T):
    """tfm's causal attention with zero queries and values 1..T: (weights (T, T), outputs (T,))."""
    import torch
    import tfm
    q, k = torch.zeros(1, 1, T, 4), torch.randn(1, 1, T, 4)
    v = torch.arange(1.0, T + 1).view(1, 1, T, 1)
    out, weights = tfm.scaled_dot_product_attention(q, k, v, mask=tfm.causal_mask(T))
    return weights[0, 0], out[0, 0, :, 0]


def changed_positions(T, p):
    """The positions whose output moves when the input at position p changes, in a real causal tfm.MultiHeadAttention."""
    import torch
    import tfm
    mha = tfm.MultiHeadAttention(d_model=8, n_heads=2).eval()
    y = torch.randn(1, T, 8)
    edit = y.clone()
    edit[0, p] = torch.randn(8) + 3.0
    with torch.no_grad():
        move = (mha(edit, edit, edit, mask=tfm.causal_mask(T)) - mha(y, y, y, mask=tfm.causal_mask(T))).abs()
    return [t for t in range(T) if float(move[0, t].max()) > 1e-5]


def mistakes(T):
    """Common wrong predictions at length T: key -> [(wrong value, what it forgot)]."""
    diag = "the diagonal is masked: query i may attend to itself (the mask is True for j <= i)"
    uniform = "the weight is spread over all T keys: the mask hides the keys after the query, so only i + 1 share it"
    off = "off by one: query i sees keys 0, ..., i, not key i + 1 (the mask is True for j <= i)"
    return {
        "weight_2_0": [(1 / 2, diag + ", so 3 keys share the weight"), (1 / T, uniform), (1 / 4, off),
                       (0.0, "key 0 lies before query 2, so it is visible")],
        "weight_last_0": [(1 / (T - 1), diag + ", so all T keys share the weight"),
                          (0.0, "key 0 lies before the last query, so it is visible")],
        "zero_weights": [(T * (T + 1) // 2, "T(T+1)/2 is the number of visible entries, the diagonal included; the zeros "
                                            "are the others, the keys after each query (a query sees itself)"),
                         ((T - 1) * (T - 2) // 2, off), (0, "the masked weights are exactly 0: their scores are -inf "
                                                           "before the softmax"),
                         (T * T - T, "only the keys after each query are hidden, not everything off the diagonal")],
        "outputs": [([(T + 1) / 2] * T, uniform + "; the output at i is the mean of the values it sees"),
                    ([(i + 1) / 2 if i else 0.0 for i in range(T)], diag + " (and a row that sees nothing outputs 0)"),
                    ([(min(i + 1, T - 1) + 2) / 2 for i in range(T)], off),
                    ([(i + 1) * (i + 2) / 2 for i in range(T)], "you added the visible values: the weights sum to 1, "
                                                                "so the output is their mean"),
                    ([i / 2 for i in range(T)], "the value of position j is j + 1, so position i averages 1, ..., i + 1")],
        "changed_by_last": [([], "a position sees itself: the output at T - 1 uses its own key and value (and query)"),
                            (list(range(T)), "every position changed: that is attention without the mask; the "
                                             "positions before T - 1 cannot see it"),
                            (list(range(T - 1)), "reversed: the mask hides the future, so position T - 1 is seen only "
                                                 "by itself, not by the positions before it"),
                            ([T - 2, T - 1], off)],
        "changed_by_1": [([0, 1], "reversed: the mask hides the future, so key 1 is seen by position 1 and every "
                                  "position after it, not by position 0"),
                         ([1], "every position after 1 also sees key 1: it attends to its whole past"),
                         (list(range(T)), "position 0 changed too: it sees only key 0, itself (all T positions "
                                          "change without the mask, or with a mask off by one)"),
                         (list(range(2, T)), "a position sees itself: the output at 1 uses its own key and value")],
    }


def judge(got, want, key, T):
    """Fail when `got` differs from the real `want`, naming the mistake when it is a known one."""
    import math
    from tfm_exercises.checks import Mistake, WrongValues, check
    def same(a, b):
        if isinstance(a, list) or isinstance(b, list):
            return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                    and all(math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-6) for x, y in zip(a, b)))
        return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)
    def show(x):
        return "[" + ", ".join(f"{y:.4g}" for y in x) + "]" if isinstance(x, list) else f"{x:.4g}"
    if same(got, want):
        return
    for value, message in mistakes(T)[key]:
        if same(got, value):
            raise Mistake(f"{key!r} at T = {T}: you predicted {show(got)}, the real value is {show(want)}: {message}")
    check(False, f"{key!r} at T = {T}: you predicted {show(got)}, the real value is {show(want)}", WrongValues)


@case(points=2, hidden=False)
def test_weights(predictions):
    """the weights query 2 and the last query give key 0 equal tfm.scaled_dot_product_attention's (T = 6)"""
    from tfm_exercises.checks import call, prediction
    T = 6
    answers = call(predictions, T)
    weights, _ = real_attention(T)
    judge(prediction(answers, "weight_2_0", "number", asked=f"predictions({T})"), float(weights[2, 0]), "weight_2_0", T)
    judge(prediction(answers, "weight_last_0", "number", asked=f"predictions({T})"), float(weights[T - 1, 0]), "weight_last_0", T)


@case(points=1, hidden=False)
def test_zero_weights(predictions):
    """the number of exact zeros equals that of the real causal weights (T = 6)"""
    from tfm_exercises.checks import call, prediction
    T = 6
    answers = call(predictions, T)
    weights, _ = real_attention(T)
    judge(prediction(answers, "zero_weights", "int", asked=f"predictions({T})", want="an int, e.g. 12"), int((weights == 0).sum()), "zero_weights", T)


@case(points=2, hidden=False)
def test_outputs(predictions):
    """the outputs for the values 1, ..., T equal the real ones (T = 6)"""
    from tfm_exercises.checks import call, prediction
    T = 6
    answers = call(predictions, T)
    _, out = real_attention(T)
    judge(prediction(answers, "outputs", "numbers", asked=f"predictions({T})", want=f"a list of {T} numbers, e.g. [1.0, 2.5, ...]"), out.tolist(), "outputs", T)


@case(points=1, hidden=False)
def test_changed_positions(predictions):
    """the outputs that move when one input changes, in a real causal tfm.MultiHeadAttention (T = 6)"""
    from tfm_exercises.checks import call, prediction
    T = 6
    answers = call(predictions, T)
    judge(prediction(answers, "changed_by_last", "positions", asked=f"predictions({T})"), changed_positions(T, T - 1), "changed_by_last", T)
    judge(prediction(answers, "changed_by_1", "positions", asked=f"predictions({T})"), changed_positions(T, 1), "changed_by_1", T)


@case(points=2, hidden=True)
def test_other_length(predictions):
    """every prediction at a length T drawn at grading time equals the real attention's"""
    from tfm_exercises.checks import call, prediction, rng
    T = rng().randint(5, 12)
    answers = call(predictions, T)
    weights, out = real_attention(T)
    judge(prediction(answers, "weight_2_0", "number", asked=f"predictions({T})"), float(weights[2, 0]), "weight_2_0", T)
    judge(prediction(answers, "weight_last_0", "number", asked=f"predictions({T})"), float(weights[T - 1, 0]), "weight_last_0", T)
    judge(prediction(answers, "zero_weights", "int", asked=f"predictions({T})", want="an int, e.g. 12"), int((weights == 0).sum()), "zero_weights", T)
    judge(prediction(answers, "outputs", "numbers", asked=f"predictions({T})", want=f"a list of {T} numbers, e.g. [1.0, 2.5, ...]"), out.tolist(), "outputs", T)
    judge(prediction(answers, "changed_by_last", "positions", asked=f"predictions({T})"), changed_positions(T, T - 1), "changed_by_last", T)
    judge(prediction(answers, "changed_by_1", "positions", asked=f"predictions({T})"), changed_positions(T, 1), "changed_by_1", T)
