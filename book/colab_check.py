"""Run every chapter as Colab would: ipywidgets 7.7.1 (Colab's version), no Stack widget.

    python book/colab_check.py [chapters/NN_x.ipynb ...]

Creates `.venv-colab` (torch 2.13.0 CPU, ipywidgets==7.7.1, transformers as Colab has it, tfm from this checkout) on first use,
executes each chapter there into a temporary copy (the committed notebooks are not touched) and
fails on any error. `tfm.playground` falls back to swapping its stored figures from Python there.
Not part of `make test` (it installs a second environment); run it after changing a widget.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-colab"
PY = VENV / "bin" / "python"
RUNNER = """
import sys, nbformat, ipywidgets
from nbclient import NotebookClient
assert ipywidgets.__version__ == "7.7.1", ipywidgets.__version__
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
    print("ok", path, flush=True)
"""


def ensure_venv() -> None:
    if PY.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "torch==2.13.0", "ipywidgets==7.7.1", "matplotlib", "numpy",
                    "tqdm", "nbclient", "nbformat", "ipykernel", "num2words", "sacrebleu", "transformers"], check=True)
    subprocess.run([str(PY), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"], check=True,
                   capture_output=True)


def main(argv: list[str]) -> int:
    ensure_venv()
    paths = [Path(p).resolve() for p in argv] or sorted((ROOT / "chapters").glob("*.ipynb"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "JUPYTER_PATH": str(VENV / "share" / "jupyter"), "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:   # run beside nothing, as a notebook opened alone
        return subprocess.run([str(PY), "-c", RUNNER, *map(str, paths)], cwd=tmp, env=env).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
