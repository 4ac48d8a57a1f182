"""What a view hands to the renderers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from pdebug.views.table import Lines, Stack, Table


class RawObject(msgspec.Struct, frozen=True):
    """A JSON object given as its members' undecoded JSON texts, in order.

    ``members`` are ``(name, JSON text)`` pairs, each text one JSON value (any layout) in
    a bytes-like object;
    ``plain()`` is the same object decoded (plain JSON data), and raises what decoding the
    input raises. A renderer may print the texts without decoding them when that prints
    exactly what printing ``plain()`` would (:mod:`pdebug.render.structured`).
    """

    members: Callable[[], list[tuple[str, Any]]]
    plain: Callable[[], Any]
    #: Called after a member's text was read: lets go of memory-mapped input pages.
    release: Callable[[], None] | None = None
    #: The whole object's JSON text (any layout; a bytes-like object) when the input holds
    #: it, with ``lead`` (``"name":value``, compact) the text of its first member. A
    #: renderer may print it reformatted when that prints exactly what ``plain()`` would.
    text: Any = None
    lead: bytes = b""
    #: Reads the members (raising what decoding the input raises) without printing: the
    #: renderers call it for every item before printing the first (damage is an error
    #: before any output), unless they checked ``text`` themselves.
    check: Callable[[], None] | None = None


class Listing(msgspec.Struct, frozen=True):
    """A document ``{key: [item, ...]}`` whose items are produced one at a time.

    Each item is plain JSON data or a :class:`RawObject`. json and yaml print the same
    text as for the whole document, written item by item (nothing else is kept).
    """

    key: str
    items: Callable[[], Iterator[Any]]


class ViewResult(msgspec.Struct):
    """A table (or text) for ``-o table|wide|markdown`` and the raw objects for json/yaml.

    ``objects`` is a thunk: decoding resources generically is paid only for json/yaml.
    ``note`` is said on stderr (e.g. that a filter matched nothing). ``listing``, when
    set, is ``objects()`` item by item, for the formats that can write it as it goes.
    """

    table: Table | Lines | Stack
    objects: Callable[[], Any]
    note: str | None = None
    listing: Listing | None = None
    #: ``objects()`` is redacted already, by a view that knows what each field is (a
    #: stat's number is never a secret, whatever its name): json and yaml print it as is.
    redacted: bool = False
