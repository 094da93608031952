"""Copy the JavaScript the offline HTML book needs from book/node_modules (installed by
`npm ci` from book/package-lock.json) into book/_extra/, which Sphinx copies to the site root.

    widgets/  RequireJS + @jupyter-widgets/html-manager (renders the saved widget state) + fonts
    mathjax/  MathJax 3, so the math renders with no internet
"""
from __future__ import annotations

import shutil
from pathlib import Path

BOOK = Path(__file__).resolve().parent
MODULES = BOOK / "node_modules"
EXTRA = BOOK / "_extra"


def main() -> None:
    manager = MODULES / "@jupyter-widgets" / "html-manager" / "dist"
    if not manager.exists():
        raise SystemExit("book/node_modules is missing: run `npm ci` in book/ (make book does)")
    widgets = EXTRA / "widgets"
    widgets.mkdir(parents=True, exist_ok=True)
    shutil.copy2(MODULES / "requirejs" / "require.js", widgets / "require.js")
    shutil.copy2(manager / "embed-amd.js", widgets / "embed-amd.js")
    for font in manager.iterdir():  # icon fonts the widget CSS refers to
        if font.suffix in {".woff", ".woff2", ".ttf", ".eot", ".svg"}:
            shutil.copy2(font, widgets / font.name)
    shutil.copytree(MODULES / "mathjax" / "es5", EXTRA / "mathjax", dirs_exist_ok=True)
    print(f"vendored widget JavaScript and MathJax into {EXTRA.relative_to(BOOK.parent)}")


if __name__ == "__main__":
    main()
