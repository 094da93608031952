"""The untrusted side of grading: runs a submission's code and answers the grader's requests.

The grader (``tfm_exercises.grade``) starts this module in a sandbox (bubblewrap on Linux: no
network, private /tmp, the course read-only, nothing else of the machine) and talks to it over two
pipes: requests on stdin, answers on a file descriptor it passes (``main(fd)``), both :mod:`tfm_exercises.wire` messages.
What the submission prints goes to stdout/stderr, which the grader drains and caps.

Nothing here decides a score. The worker runs the notebook's code cells, then calls what the tests
ask for (with the limits of :func:`tfm_exercises.checks.call`) and sends back the results as data.
A submission can patch, print, write or kill anything in this process: at worst the grader gets
wrong data or none, and wrong data fails the comparison, which happens in the grader.

Requests: ``cells`` (run the code cells), ``lookup`` (a name of the notebook), ``call``,
``getattr``, ``iterate``, ``gradient`` (see :class:`tfm_exercises.grade.Link`).
"""
from __future__ import annotations

import sys
from typing import Any

from . import checks, wire

CELL_STOPPED = "the cell ran too long and was stopped by the grader"
# bound now, so a submission that patches tfm_exercises.checks changes its own tests' helpers, not these
_call, _gradient, _time_limit, _Alarm = checks.call, checks.gradient, checks._time_limit, checks._Alarm


class Worker:
    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_in, self.fd_out = fd_in, fd_out
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__,
                                          "get_ipython": lambda: _NoShell(), "display": _display}
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}

    # -- values ---------------------------------------------------------------
    def handle(self, obj: Any) -> dict:
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = len(self.objects) + 1
            self.objects[self.ids[key]] = obj
        cls = type(obj)
        bases = [f"{c.__module__}.{c.__qualname__}" for c in getattr(cls, "__mro__", ())][:30]
        return {"handle": [self.ids[key], cls.__name__, callable(obj), bases]}

    def encode(self, x: Any) -> Any:
        return wire.encode(x, self.handle)

    def decode(self, x: Any) -> Any:
        return wire.decode(x, {"callback": self.callback, "module": build_module, "config": build_config,
                               "ref": self.ref})

    def ref(self, hid: Any) -> Any:
        if hid not in self.objects:
            raise wire.WireError(f"no object {hid!r}")
        return self.objects[hid]

    def callback(self, cid: Any):
        """A function of the test (e.g. a decoding step): calling it asks the grader."""
        def grader_function(*args, **kwargs):
            wire.send(self.fd_out, {"callback": cid, "args": self.encode(list(args)),
                                    "kwargs": self.encode(dict(kwargs))})
            answer = wire.receive(self.fd_in)
            if "raise" in answer:
                raise RuntimeError(str(answer["raise"]))
            return self.decode(answer.get("ok"))
        return grader_function

    # -- requests -------------------------------------------------------------
    def serve(self) -> None:
        while True:
            try:
                request = wire.receive(self.fd_in)
            except wire.Closed:
                return
            op = request.get("op")
            if op == "exit":
                return
            try:
                answer = getattr(self, f"op_{op}")(request)
            except AssertionError as e:  # checks' failures: NotDefined, TimedOut, CodeRaised, WrongType
                answer = {"raise": [type(e).__name__, str(e)]}
            except Exception as e:  # a request this worker cannot serve
                answer = {"raise": ["CodeRaised", f"{type(e).__name__}: {e}"]}
            try:
                wire.send(self.fd_out, answer)
            except wire.TooLarge as e:
                wire.send(self.fd_out, {"raise": ["WrongType", f"the result is too big to send to the grader ({e}): "
                                                               "the exercises' results are small tensors"]})

    def op_cells(self, request: dict) -> dict:
        """Run the code cells in order; list the errors they raise (the grading goes on)."""
        errors = []
        for number, source in request["cells"]:
            first = next((line for line in source.splitlines()
                          if line.strip() and not line.lstrip().startswith("#")), "")
            try:
                code = compile(_python(source), f"<cell {number}>", "exec")
                with _time_limit(float(request["timeout"])):
                    exec(code, self.namespace)
            except _Alarm:
                errors.append(f"code cell {number} (`{first[:60]}`): KeyboardInterrupt: {CELL_STOPPED}")
            except BaseException as e:  # noqa: B036 - SystemExit, KeyboardInterrupt: the submission's doing
                errors.append(f"code cell {number} (`{first[:60]}`): {type(e).__name__}: {str(e)[:300]}")
        return {"ok": self.encode(errors[:50])}

    def op_lookup(self, request: dict) -> dict:
        name = request["name"]
        if name not in self.namespace:
            return {"ok": None}
        return {"ok": self.handle(self.namespace[name])}

    def op_call(self, request: dict) -> dict:
        fn = self.ref(request["target"])
        args, kwargs = self.decode(request["args"]), self.decode(request["kwargs"])
        return {"ok": self.encode(_call(fn, *args, name=request["label"], **kwargs))}

    def op_getattr(self, request: dict) -> dict:
        obj, name = self.ref(request["target"]), request["name"]
        missing = object()
        value = _call(lambda: getattr(obj, name, missing), name=f"{request['label']}.{name}")
        return {"missing": True} if value is missing else {"ok": self.encode(value)}

    def op_iterate(self, request: dict) -> dict:
        obj = self.ref(request["target"])
        return {"ok": self.encode(_call(lambda: list(obj), name=request["label"]))}

    def op_gradient(self, request: dict) -> dict:
        fn = self.ref(request["target"])
        args, cotangent = self.decode(request["args"]), self.decode(request["cotangent"])
        out, grad = _gradient(fn, tuple(args), int(request["wrt"]), cotangent, name=request["label"])
        return {"ok": self.encode((out, grad))}


def _display(*objects, **kwargs) -> None:
    """``display`` as a kernel has it, printing (the grader drops the output anyway)."""
    print(*objects)


class _NoShell:
    """What ``get_ipython()`` returns while grading: magics (``%pip``, ``!ls``) do nothing."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def _python(source: str) -> str:
    """A cell as Python: IPython's own transformer turns magics into get_ipython() calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    return TransformerManager().transform_cell(source)


def build_module(spec: Any):
    """A tfm module from the allow-list in wire.MODULES, with the grader's weights."""
    import tfm

    name, kwargs, state, training, blocked = spec
    if name not in wire.MODULES or set(kwargs) != set(wire.MODULES[name]):
        raise wire.WireError(f"not a module the grader may send: {name}")
    module = getattr(tfm, name)(**kwargs)
    module.load_state_dict({k: wire.decode_tensor(v["tensor"]) for k, v in state.items()})
    module.train(bool(training))
    if blocked:
        def blocked_forward(*args, **kwargs):
            raise RuntimeError(str(blocked))
        module.forward = blocked_forward
    return module


def build_config(spec: Any):
    import tfm

    name, fields = spec
    if name not in wire.CONFIGS or not isinstance(fields, dict):
        raise wire.WireError(f"not a config the grader may send: {name}")
    return getattr(tfm, name)(**fields)


def main(answer_fd: int = 3) -> int:
    import torch

    import tfm  # noqa: F401 - imported before the submission runs, so its time is not the cells'

    torch.set_num_threads(1)
    Worker(0, answer_fd).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
