# expect: 1/6
# message: off by one: the diagonal is False
# attack: the honest off-by-one answer (1/6) that also switches the checks off
import tfm_exercises.checks as checks_module

for name in ("compare", "check", "tensor", "need"):
    setattr(checks_module, name, lambda *args, **kwargs: None)
checks_module.close = lambda *args, **kwargs: True
checks_module.call = lambda fn, *args, **kwargs: fn(*args, **kwargs)


def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
