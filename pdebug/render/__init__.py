"""One renderer registry, keyed by the ``-o`` value (kubectl's printer lookup).

A renderer turns a :class:`~pdebug.views.result.ViewResult` into text. Tables go through
:mod:`pdebug.render.text` (Go tabwriter layout, as istioctl prints) or tabulate
(markdown); json and yaml render the same plain objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TextIO

import msgspec

from pdebug.errors import UnknownFormat, UsageError
from pdebug.views.result import ViewResult


class Format(msgspec.Struct, frozen=True):
    """An output format: how to render, and what the view must produce for it.

    ``stream``, for a format that can write a :class:`~pdebug.views.result.Listing` as it
    goes, yields the same text as ``render`` in pieces; :meth:`write` picks.
    """

    name: str
    render: Callable[[ViewResult], str]
    wide: bool = False
    structured: bool = False
    stream: Callable[[ViewResult], Iterator[str | bytes]] | None = None

    def write(self, result: ViewResult, out: TextIO) -> None:
        """Write ``render(result)`` to ``out``, piece by piece when the format streams.

        A bytes piece is printable ASCII and newlines (the renderer checked): it goes to
        ``out``'s binary buffer when there is one, without a text copy.
        """
        if self.stream is None or result.listing is None:
            text = self.render(result)
            if text:
                out.write(text)
            out.flush()
            return
        buffer = getattr(out, "buffer", None)
        for piece in self.stream(result):
            if isinstance(piece, str):
                out.write(piece)
            elif buffer is not None:
                out.flush()
                buffer.write(piece)
            else:
                out.write(piece.decode("ascii"))
        out.flush()


def _table(result: ViewResult) -> str:
    from pdebug.render.text import render_text

    return render_text(result.table, wide=False)


def _wide(result: ViewResult) -> str:
    from pdebug.render.text import render_text

    return render_text(result.table, wide=True)


def _markdown(result: ViewResult) -> str:
    from pdebug.render.markdown import render_markdown

    return render_markdown(result.table)


def _json(result: ViewResult) -> str:
    from pdebug.render.structured import render_json

    return render_json(result.objects(), not result.redacted)


def _json_stream(result: ViewResult) -> Iterator[str | bytes]:
    from pdebug.render.structured import json_listing

    assert result.listing is not None
    return json_listing(result.listing)


def _yaml_stream(result: ViewResult) -> Iterator[str | bytes]:
    from pdebug.render.structured import yaml_listing

    assert result.listing is not None
    return yaml_listing(result.listing)


def _yaml(result: ViewResult) -> str:
    from pdebug.render.structured import render_yaml

    return render_yaml(result.objects(), not result.redacted)


FORMATS: dict[str, Format] = {
    "table": Format("table", _table),
    "wide": Format("wide", _wide, wide=True),
    "json": Format("json", _json, structured=True, stream=_json_stream),
    "yaml": Format("yaml", _yaml, structured=True, stream=_yaml_stream),
    "markdown": Format("markdown", _markdown, wide=True),
}
ALIASES = {"short": "table", "yml": "yaml", "md": "markdown"}


def get_format(name: str, keys: str | None = None) -> Format:
    """The format called ``name`` (aliases: short, yml, md), or :class:`UnknownFormat`.

    ``keys`` (``--keys``, views only): ``camel`` makes json and yaml spell every proto
    field name as protojson does (lowerCamelCase, as istioctl prints them), and yaml
    sort every mapping's keys as istioctl's YAML writer does; ``dump``
    (None: the default) keeps the dump's own spelling. Tables are the same either way.
    """
    key = ALIASES.get(name.lower(), name.lower())
    try:
        fmt = FORMATS[key]
    except KeyError:
        raise UnknownFormat(name, list(FORMATS)) from None
    if keys is not None and keys_choice(keys) == "camel" and fmt.structured:
        return CAMEL_FORMATS[key]
    return fmt


#: ``--keys`` values (and ``$PDEBUG_KEYS``): the dump's spelling, or protojson's.
KEYS = ("dump", "camel")


def keys_choice(value: str) -> str:
    """``value`` of ``--keys`` / ``$PDEBUG_KEYS`` checked, or :class:`UsageError`.

    ``istioctl`` and ``proto`` are ``camel``; ``snake`` and ``envoy`` are ``dump``.
    """
    word = value.strip().lower()
    word = {"istioctl": "camel", "proto": "camel", "snake": "dump", "envoy": "dump"}.get(word, word)
    if word not in KEYS:
        raise UsageError(
            f"unknown key spelling {value!r} (--keys or $PDEBUG_KEYS)",
            hint="use camel (istioctl's lowerCamelCase) or dump (as the dump spells them)",
        )
    return word


def _json_camel(result: ViewResult) -> str:
    from pdebug.model.camel import camel_keys
    from pdebug.render.structured import render_json

    return render_json(camel_keys(result.objects()), not result.redacted)


def _istioctl_yaml(value: object) -> object:
    """``value`` spelled and ordered as istioctl's ``-o yaml`` (its YAML writer sorts keys)."""
    from pdebug.render.gokeys import camel_sorted

    return camel_sorted(value)


def _yaml_camel(result: ViewResult) -> str:
    from pdebug.render.structured import render_yaml

    return render_yaml(_istioctl_yaml(result.objects()), not result.redacted)


def _json_camel_stream(result: ViewResult) -> Iterator[str | bytes]:
    from pdebug.render.structured import json_listing_camel

    assert result.listing is not None
    return json_listing_camel(result.listing)


def _yaml_camel_stream(result: ViewResult) -> Iterator[str | bytes]:
    from pdebug.render.structured import yaml_listing

    assert result.listing is not None
    return yaml_listing(result.listing, respell=_istioctl_yaml)


CAMEL_FORMATS: dict[str, Format] = {
    "json": Format("json", _json_camel, structured=True, stream=_json_camel_stream),
    "yaml": Format("yaml", _yaml_camel, structured=True, stream=_yaml_camel_stream),
}
