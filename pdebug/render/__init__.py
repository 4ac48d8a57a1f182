"""One renderer registry, keyed by the ``-o`` value (kubectl's printer lookup).

A renderer turns a :class:`~pdebug.views.result.ViewResult` into text. Tables go through
:mod:`pdebug.render.text` (Go tabwriter layout, as istioctl prints) or tabulate
(markdown); json and yaml render the same plain objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pdebug.errors import UnknownFormat
from pdebug.views.result import ViewResult


@dataclass(frozen=True)
class Format:
    """An output format: how to render, and what the view must produce for it."""

    name: str
    render: Callable[[ViewResult], str]
    wide: bool = False
    structured: bool = False


def _table(result: ViewResult) -> str:
    from pdebug.render.text import render_text

    return render_text(result.table, wide=False)


def _wide(result: ViewResult) -> str:
    from pdebug.render.text import render_text

    return render_text(result.table, wide=True)


def _markdown(result: ViewResult) -> str:
    from pdebug.render.text import render_markdown

    return render_markdown(result.table)


def _json(result: ViewResult) -> str:
    from pdebug.render.structured import render_json

    return render_json(result.objects())


def _yaml(result: ViewResult) -> str:
    from pdebug.render.structured import render_yaml

    return render_yaml(result.objects())


FORMATS: dict[str, Format] = {
    "table": Format("table", _table),
    "wide": Format("wide", _wide, wide=True),
    "json": Format("json", _json, structured=True),
    "yaml": Format("yaml", _yaml, structured=True),
    "markdown": Format("markdown", _markdown, wide=True),
}
ALIASES = {"short": "table", "yml": "yaml", "md": "markdown"}


def get_format(name: str) -> Format:
    """The format called ``name`` (aliases: short, yml, md), or :class:`UnknownFormat`."""
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return FORMATS[key]
    except KeyError:
        raise UnknownFormat(name, list(FORMATS)) from None
