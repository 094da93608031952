"""A small Sphinx extension for the tfm book.

Sphinx 7 with sphinx-thebe and sphinx-togglebutton adds some inline scripts twice to every page;
the second copy of `const THEBE_JS_URL = ...` is a JavaScript error in the browser. Drop exact
duplicates from each page's script list.

pydata-sphinx-theme reads the colour mode from localStorage and logs a console error on a first
visit, when there is none; start such visits in light mode instead.
"""
from __future__ import annotations


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # the copies differ in priority and in None vs "" for an inline script: compare what the page gets
        attrs = tuple(sorted(getattr(script, "attributes", {}).items()))
        key = (str(getattr(script, "filename", script) or ""), attrs)  # None and "" both mean inline
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique


FIRST_VISIT_MODE = 'if (!document.documentElement.dataset.mode) { document.documentElement.dataset.mode = "light"; }'


def setup(app):
    # Last, after the themes and myst-nb have added their scripts for the page.
    app.connect("html-page-context", _drop_duplicate_scripts, priority=999)
    app.add_js_file(None, body=FIRST_VISIT_MODE, priority=200)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
