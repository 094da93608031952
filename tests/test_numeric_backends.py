"""The second numeric back-end of `make test` really is different arithmetic.

`make test` runs every chapter under the machine's default back-end and again under
``ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41`` (the Makefile's
OTHER_BACKEND). That proves nothing unless the second run rounds differently: here a short training
run prints its loss to 10 digits under both, and the low digits must differ (while the loss itself
agrees to a few digits: the same computation, other rounding).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import torch, tfm
torch.manual_seed(0)
model = tfm.GPT(tfm.GPTConfig(vocab_size=50, max_len=32, n_layers=2, d_model=64, n_heads=4, dropout=0.0))
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
x = torch.randint(0, 50, (8, 32))
for _ in range(30):
    logits = model(x)                                                  # (B, T, V)
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 50), x[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"{loss.item():.10f} {torch.backends.cpu.get_cpu_capability()}")
"""


def other_backend() -> dict[str, str]:
    line = next(l for l in (ROOT / "Makefile").read_text().splitlines() if l.startswith("OTHER_BACKEND :="))
    return dict(pair.split("=", 1) for pair in line.split(":=", 1)[1].split())


def run(extra: dict[str, str]) -> tuple[float, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra})
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300, check=True)
    text, capability = out.stdout.split()
    return float(text), text, capability


def test_the_second_back_end_rounds_differently():
    extra = other_backend()
    assert set(extra) == {"ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA"}
    default, default_text, default_cap = run({})
    other, other_text, other_cap = run(extra)
    print(f"default back-end ({default_cap}): loss {default_text}; second back-end ({other_cap}): loss {other_text}")
    assert other_cap == "DEFAULT"
    if default_cap == "DEFAULT":
        pytest.skip("this CPU has no vector kernels to switch off: both runs use the portable ones")
    assert other == pytest.approx(default, rel=1e-3)        # the same computation ...
    assert other_text != default_text                       # ... with other rounding
