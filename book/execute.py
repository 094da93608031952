"""Execute notebooks in place, storing their outputs and widget state (what the book shows).

    python book/execute.py chapters/03_positional_encoding.ipynb   # one chapter
    python book/execute.py                                        # every chapter

Run this after editing a chapter; `make test` (nbval) fails while a stored output is stale.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
# One thread, here and in `make test`: tiny tensors run fastest so, and the stored numbers do not
# depend on how a machine splits a reduction across threads.
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def execute(path: Path, timeout: int = 600) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            record_timing=False, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nb.metadata.pop("widgets", None) if not _has_widgets(nb) else None
    nbformat.write(nb, path)


def _has_widgets(nb) -> bool:
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return bool(state.get("state"))


def main(argv: list[str]) -> None:
    os.environ.update(THREADS)  # inherited by the kernels
    paths = [Path(p) for p in argv] or sorted((ROOT / "chapters").glob("*.ipynb"))
    for path in paths:
        print(f"executing {path} ...", flush=True)
        execute(path)


if __name__ == "__main__":
    main(sys.argv[1:])
