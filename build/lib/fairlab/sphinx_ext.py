"""A small Sphinx extension for the book: remove scripts that Jupyter Book adds twice.

Jupyter Book 1.x registers sphinx-thebe's and sphinx-togglebutton's page hooks twice, so every
page declares ``const THEBE_JS_URL`` twice and the browser reports a SyntaxError.  Running after
every other ``html-page-context`` handler, this keeps the first copy of each identical script.
"""

from __future__ import annotations


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the copies differ only in a filename of None versus "" for inline scripts
        key = (getattr(script, "filename", script) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
