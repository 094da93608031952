"""What the book tests need to know about the book: its chapters and its repository URL."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def toc_chapters() -> list[str]:
    """Chapter files in _toc.yml order, e.g. 'chapters/01_tokenization' (no suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    return [f for f in files if f.startswith("chapters/")]  # not the pages (book/instructors)


def setup_cell(repository_url: str) -> str:
    """The first code cell of every chapter: installs tfm in Colab, does nothing elsewhere."""
    return (
        "# Set-up: in Colab, install tfm from the course repository; elsewhere it is already installed.\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "tfm[data] @ git+{repository_url}"'
    )
