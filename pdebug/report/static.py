"""The report's page as HTML: :func:`render_page` around :func:`pdebug.report.report_data`.

The page is the template of :mod:`pdebug.report.assets` with its Content-Security-Policy,
its CSS, the escaped static block below, the document as JSON (:func:`embed_json`) and
the script that draws it.

The static block is the report's essential content as server-rendered HTML (no script
needed to read it): viewers that strip scripts (ticket systems, mail previews, ``lynx``)
still show the header, each proxy's summary and its findings. Every value goes through
:func:`pdebug.render.escape.escape_cell` (a bidi override reads as ``\u202e``) and
:func:`html.escape`. The page's script removes this block before drawing the full,
interactive page; the big tables and the topology stay JavaScript-only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from functools import cached_property
from html import escape
from typing import Any, overload

import orjson

from pdebug.errors import SourceUnavailable
from pdebug.render.escape import escape_cell
from pdebug.report import assets

__all__ = [
    "STATIC_ID",
    "EncodedDict",
    "EncodedRows",
    "check_output",
    "embed_json",
    "embed_json_bytes",
    "embed_json_parts",
    "encoded",
    "escaped_json",
    "render_page",
    "render_page_bytes",
    "render_page_parts",
    "render_static",
    "write_report",
]

STATIC_ID = "pdebug-static"

_JS_ONLY = (
    "The full tables (clusters, listeners, routes, endpoints, secrets) and the topology "
    "graph are drawn by the JavaScript embedded in this file (it makes no network "
    "request): open it in a browser with JavaScript enabled to see them."
)


def _e(value: Any) -> str:
    # escaped as the text tables are first: a bidi override or a zero-width character in
    # a name would make the page read other than the dump says
    return escape(escape_cell("" if value is None else str(value)))


def _table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    out = ['<table class="data">', "<tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>"]
    for row in rows:
        cells = ["" if c is None else str(c) for c in row]
        if cells and _plain("".join(cells)):  # nothing to escape (most findings): as it is
            out.append("<tr><td>" + "</td><td>".join(cells) + "</td></tr>")
        else:
            out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return out


#: What :func:`html.escape` replaces (with ``quote=True``, as :func:`_e` calls it).
_MARKUP = ("&", "<", ">", '"', "'")


def _plain(text: str) -> bool:
    """Whether :func:`_e` leaves every character of ``text`` as it is.

    Printable (:func:`~pdebug.render.escape.escape_cell` changes nothing), and none of
    the characters HTML escapes.
    """
    return text.isprintable() and not any(ch in text for ch in _MARKUP)


def _checks_line(c: dict[str, Any]) -> str:
    if c["unchecked"]:
        return f"{c['unchecked']} (no checks run)"
    return (
        f"{_plural(c['error'], 'error')}, {_plural(c['warning'], 'warning')}, "
        f"{c['info']} info ({_plural(c['run'], 'check')} run)"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _proxy(p: dict[str, Any]) -> list[str]:
    s, c, f = p["summary"], p["checks"], p["findings"]
    out = [
        '<section class="block">',
        f'<h2>Summary <span class="sub">{_e(p["name"])}</span></h2>',
        '<dl class="kv">',
    ]
    out += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in s["rows"]]
    out += [f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value, _ in s["counts"]]
    out.append("</dl>")
    out += [f'<div class="errbox">capture: {_e(e)}</div>' for e in s["errors"]]
    if s["unreadable"]:
        out.append(f'<div class="errbox">unreadable: {_e(s["unreadable"])}</div>')
    if c["inconclusive"]:
        out.append('<div class="errbox">Some checks could not read the input.</div>')
    out += [
        "</section>",
        '<section class="block">',
        f'<h2>Findings <span class="sub">{_e(_checks_line(c))}</span></h2>',
    ]
    if f["rows"]:
        out += _table(f["columns"], f["rows"])
        if f["note"]:  # what the checks did not judge (the script shows it so too)
            out.append(f'<p class="note">{_e(f["note"])}</p>')
    else:
        out.append(f'<p class="note">{_e(f["note"] or "No findings.")}</p>')
    if c["skipped"]:
        out.append('<ul class="skipped">')
        out += [f"<li>skipped {_e(a)} {_e(b)}: {_e(r)}</li>" for a, b, r in c["skipped"]]
        out.append("</ul>")
    if c["ignored"]:
        out.append(f'<p class="note">Ignored (--ignore): {_e(", ".join(c["ignored"]))}</p>')
    out.append("</section>")
    return out


def _ambient(section: dict[str, Any]) -> list[str]:
    """The ambient workloads of a ``snapshot --ambient`` bundle (:mod:`pdebug.report.ambient`)."""
    sub = f"{len(section['rows'])} workloads, {section['ztunnels']} ztunnels"
    out = [
        '<section class="block">',
        f'<h2>{_e(section["title"])} <span class="sub">{_e(sub)}</span></h2>',
    ]
    if section["rows"]:
        out += _table(section["columns"], section["rows"])
    if section["note"]:
        out.append(f'<p class="note">{_e(section["note"])}</p>')
    out.append("</section>")
    return out


def render_static(doc: dict[str, Any]) -> str:
    """Escaped HTML for :func:`pdebug.report.report_data`'s document."""
    proxies = doc["proxies"]
    capture = doc.get("capture") or {}
    meta = f"{doc['source']} · generated {doc['generated']} by {doc['tool']}"
    if capture.get("created"):
        meta += f" · captured {capture['created']}"
    what = proxies[0]["name"] if len(proxies) == 1 else f"bundle of {len(proxies)} proxies"
    out = [
        f'<div id="{STATIC_ID}">',
        '<header class="top">',
        f"<h1>{_e(doc['title'] or 'pdebug report')}</h1>",
        f'<div class="meta">{_e(what)}: {_e(meta)}</div>',
    ]
    if capture.get("istiod"):
        out.append(f'<div class="meta">{_e(capture["istiod"])}</div>')
    if capture.get("ambient"):
        out.append(f'<div class="meta">{_e(capture["ambient"])}</div>')
    out += ["</header>", "<main>", f'<p class="note">{_e(_JS_ONLY)}</p>']
    if len(proxies) > 1:
        ov = doc["overview"]
        out += ['<section class="block">', f"<h2>{_e(ov['title'])}</h2>"]
        out += _table(ov["columns"], ov["rows"])
        out.append("</section>")
    if doc.get("ambient"):
        out += _ambient(doc["ambient"])
    for p in proxies:
        out += _proxy(p)
    out += ["</main>", "</div>"]
    return "\n".join(out)


class EncodedRows(Sequence[Any]):
    """A table's rows as orjson wrote them (``pdebug report``'s worker sends them so).

    The page embeds the bytes (:func:`embed_json_parts`, escaped as the rest of the
    document): the same bytes as the rows' own encoding, without decoding them into the
    document and encoding them again. Read as a sequence (a test, the topology's rare
    rows looked up one by one), they are decoded once. ``row_index``: what the topology
    reads of every endpoints row (:func:`pdebug.report.topology.row_index`), made with
    the rows; None: not made. ``escaped``: ``data`` is escaped already (the worker does
    it, #17): the same JSON, which the page embeds as it is.
    """

    def __init__(self, data: bytes, row_index: Any = None, escaped: bool = False) -> None:
        self.data = data
        self.row_index = row_index
        self.escaped = escaped

    @cached_property
    def _rows(self) -> list[Any]:
        rows: list[Any] = orjson.loads(self.data)
        return rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        return self._rows[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EncodedRows):
            return self._rows == other._rows
        return isinstance(other, list) and self._rows == other

    def __repr__(self) -> str:
        return f"EncodedRows({len(self.data)} bytes)"


class EncodedDict(dict[str, Any]):
    """A dict of the page's document that carries its JSON, escaped as the page embeds it.

    Read as the dict it is; :func:`embed_json_parts` writes ``data`` in its place instead
    of encoding it again. ``pdebug report`` encodes the topology's page data so while its
    worker builds the last table (:func:`encoded`, #17): not on the serial tail.
    """

    def __init__(self, value: dict[str, Any], data: bytes) -> None:
        super().__init__(value)
        self.data = data


def encoded(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as an :class:`EncodedDict`; as it is when orjson cannot write it."""
    try:
        return EncodedDict(value, _escaped(orjson.dumps(value)))
    except (TypeError, orjson.JSONEncodeError):  # a lone surrogate: written whole, later
        return value


def _as_base(value: Any) -> Any:
    """A subclass of one of orjson's own types as that type (as orjson writes it).

    :func:`embed_json_parts` has orjson pass every such subclass to it, to find each
    :class:`EncodedDict`; any other is written as orjson would have written it.
    """
    if isinstance(value, dict):
        return dict.copy(value)
    if isinstance(value, list):
        return list.copy(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    raise TypeError


def _decoded(value: Any) -> Any:
    """:mod:`json`'s ``default``: :class:`EncodedRows` as their rows."""
    if isinstance(value, EncodedRows):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def embed_json(doc: Any) -> str:
    r"""JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where ``\u003c`` etc. mean
    the same: so ``</script>`` or ``<!--`` in a name can never end or bend the block.
    U+2028/2029 are escaped too (harmless in JSON, line breaks in older JS parsers).
    """
    return embed_json_bytes(doc).decode()


def embed_json_bytes(doc: Any) -> bytes:
    """:func:`embed_json` as UTF-8 bytes (what the page's file holds)."""
    return b"".join(embed_json_parts(doc))


#: Where the document's JSON holds the rows of an :class:`EncodedRows` while it is
#: written: a NUL byte, which orjson never writes (it writes U+0000 as ``\\u0000``).
_HOLE = b"\x00"


def embed_json_parts(doc: Any) -> list[bytes]:
    """:func:`embed_json_bytes` in pieces, which the page's file holds one after another.

    The rows of each :class:`EncodedRows` (nearly all of a big page) are a piece of
    their own: escaped where they are, never copied into the document's JSON, so the
    page is written without copying them (:func:`render_page_parts`).
    """
    held: list[bytes] = []  # escaped

    def hole(value: Any) -> Any:
        if isinstance(value, EncodedRows):
            held.append(value.data if value.escaped else _escaped(value.data))
            return orjson.Fragment(_HOLE)
        if isinstance(value, EncodedDict):
            held.append(value.data)
            return orjson.Fragment(_HOLE)
        return _as_base(value)

    try:
        data = orjson.dumps(doc, default=hole, option=orjson.OPT_PASSTHROUGH_SUBCLASS)
    except (TypeError, orjson.JSONEncodeError):
        # e.g. a lone surrogate from a \\ud800 escape in the dump: plain json keeps it escaped
        text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"), default=_decoded)
        for raw, escaped in _ESCAPES:
            text = text.replace(raw, escaped)
        return [text.encode()]
    if not held:
        return [_escaped(data)]
    # Escaping piece by piece is escaping the whole: a piece ends at a JSON token (ASCII),
    # never inside a character, and nothing escaped holds what is escaped.
    pieces = data.split(_HOLE)
    out = [_escaped(pieces[0])]
    for rows, piece in zip(held, pieces[1:], strict=True):
        out += [rows, _escaped(piece)]
    return out


def escaped_json(data: bytes) -> bytes:
    """The JSON orjson wrote, escaped as :func:`embed_json` escapes the page's document."""
    return _escaped(data)


def _escaped(data: bytes) -> bytes:
    """The UTF-8 bytes orjson wrote, with :data:`_ESCAPES` made.

    The same replacements as on text, on the bytes (a page of 20 MB: each pass over the
    bytes is cheaper than over decoded text), each only when its character occurs.
    Looking for a 3-byte sequence is ~20x slower than for one byte: U+2028/2029 are
    looked for only when their first byte occurs at all.
    """
    lead = b"\xe2" in data
    for char, code in _BYTE_ESCAPES:
        if (lead or len(char) == 1) and char in data:
            data = data.replace(char, code)
    return data


#: What :func:`embed_json` escapes, and how.
_ESCAPES = (
    ("&", "\\u0026"),
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_BYTE_ESCAPES = tuple((raw.encode(), escaped.encode()) for raw, escaped in _ESCAPES)


def warm() -> None:
    """Read the page's files and hash its script now, not when the page is rendered.

    ``pdebug report`` calls it in the part of its work that runs beside the worker's
    (about 7 ms: ``importlib.resources`` and three files), off the serial tail.
    """
    assets.page()
    assets.css()
    _csp()


@functools.cache
def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(assets.js().encode()).digest()).decode()
    return (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}'; "
        "style-src 'unsafe-inline'; "
        "img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def render_page(doc: dict[str, Any]) -> str:
    """The HTML page around :func:`report_data`'s document."""
    return render_page_bytes(doc).decode()


def render_page_bytes(doc: dict[str, Any]) -> bytes:
    """:func:`render_page` as the UTF-8 bytes of the page's file.

    The document's JSON (nearly all of a big page) is written as orjson made it: never
    decoded, joined into one text and encoded again.
    """
    return b"".join(render_page_parts(doc))


def render_page_parts(doc: dict[str, Any]) -> list[bytes]:
    """:func:`render_page_bytes` in the pieces the file holds one after another.

    What ``pdebug report`` writes (``write_report``): the big tables' rows as the
    worker encoded them (:func:`embed_json_parts`), never joined into one copy.
    """
    head, rest = assets.page().split("@DATA@")
    head = head.replace("@CSP@", _csp()).replace("@CSS@", assets.css())
    # Last: the escaped static block never holds a placeholder, but nothing is replaced in it.
    head = head.replace("@STATIC@", render_static(doc))
    return [head.encode(), *embed_json_parts(doc), rest.replace("@JS@", assets.js()).encode()]


def check_output(path: str) -> None:
    """Fail early (before reading a live proxy) when ``path`` cannot be written.

    Raises:
        SourceUnavailable: ``cannot write PATH: REASON`` (directory missing, read-only...).
    """
    from pdebug.atomic import check_writable

    if path == "-":
        return
    check_writable(path)


def write_report(path: str, html: str | bytes | Sequence[bytes]) -> None:
    """Write ``html`` to ``path`` atomically (``-``: stdout).

    ``html``: the page's text, its UTF-8 bytes, or those bytes in pieces
    (:func:`render_page_parts`), written one after another without joining them.

    Raises:
        SourceUnavailable: the file cannot be written (directory missing, permissions).
    """
    import sys

    if isinstance(html, str | bytes):
        parts: Sequence[bytes] = [html.encode() if isinstance(html, str) else html]
    else:
        parts = html
    if path == "-":
        sys.stdout.write(b"".join(parts).decode())
        sys.stdout.flush()
        return
    from pdebug.atomic import atomic_open

    try:
        with atomic_open(path) as fh:
            fh.writelines(parts)
    except OSError as exc:
        parent = os.path.dirname(os.path.abspath(path))
        hint = f"directory {parent} does not exist" if not os.path.isdir(parent) else None
        raise SourceUnavailable(
            f"{path}: cannot write the report ({exc.strerror or exc})", hint=hint
        ) from None
