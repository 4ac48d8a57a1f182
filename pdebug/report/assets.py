r"""The report page's markup, style and script, written for pdebug (no third-party code).

Everything the page needs is in ``static/`` (``page.html``, ``report.css``,
``report.js``: package data, linted as what they are) and inlined by
:func:`pdebug.report.build_report`:
no CDN, no web font, no network request. The script reads the data from the
``<script type="application/json" id="pdebug-data">`` block and builds every element
with ``createElement`` / ``textContent`` (never ``innerHTML``), so a name from a dump
is always text, never markup. The page's Content-Security-Policy allows only this
script, by hash.

Scale: tables render at most :data:`PAGE_ROWS` rows at a time (filter and sort work on
all rows); the topology shows everything up to a threshold of nodes, and beyond it
only the paths to problems until the user searches or ticks "Show all".

The files are linted as what they are (``make lint-assets``: ESLint, Stylelint,
html-validate; see tools/lint), so the script's tunables are written as
``Number("@PAGE_ROWS@")``, valid JavaScript before and after :func:`js` fills them in.
The page carries no test code: the browser test injects its own self-test script
(tests/harness/report_selftest.js) into a copy of a generated page.
"""

from __future__ import annotations

import functools

#: Rows a table shows before a "show all" button (filter and sort see every row).
PAGE_ROWS = 500
#: Up to this many graph nodes everything is drawn; beyond it only problem paths.
GRAPH_THRESHOLD = 250


def _static(name: str) -> str:
    """A file of ``static/`` (package data, read once by the functions below).

    Read through the package's loader (``pkgutil.get_data``: a directory or a zip alike),
    not ``importlib.resources``, whose import (with ``tempfile``, ``shutil``, ``zipfile``
    and ``threading``) costs ~4.5 ms of ``report``'s parent (#17). The files hold no
    carriage return, so the text is what a text-mode read gave.
    """
    import pkgutil

    data = pkgutil.get_data("pdebug.report", f"static/{name}")
    if data is None:  # a loader that cannot read package data
        raise FileNotFoundError(f"pdebug.report: static/{name}")
    return data.decode("utf-8")


@functools.cache
def css() -> str:
    """The page's style sheet."""
    return _static("report.css")


@functools.cache
def js() -> str:
    """The page's script, with the page sizes filled in."""
    text = _static("report.js")
    text = text.replace("@PAGE_ROWS@", str(PAGE_ROWS))
    return text.replace("@GRAPH_THRESHOLD@", str(GRAPH_THRESHOLD))


@functools.cache
def page() -> str:
    """The page's markup, with @CSP@, @CSS@, @STATIC@, @DATA@ and @JS@ to fill in."""
    return _static("page.html")
