r"""json and yaml from the same plain data (never from the table rows).

Both keep the data exact and never put a control character, a bidi override or another
unprintable character raw on the screen: JSON writes them as ``\uXXXX``, YAML as a
double-quoted scalar's escapes (:mod:`pdebug.render.escape`).

One module over 500 lines because it is one contract: the JSON and YAML writers, the
streamed listing of a dump's sections from their own text, and the checks that decide
when that text may be printed as it is all promise the same bytes as ``render_json``
of the decoded data; split apart, that promise would live in three places.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pdebug.render.escape import escape_json
from pdebug.views.result import Listing, RawObject


def render_json(obj: Any, redact: bool = True) -> str:
    """Indented JSON (2 spaces), keys in dump order, ending with a newline.

    Secrets are redacted (:mod:`pdebug.redact`: the README's redaction table) unless
    ``redact`` is false.
    """
    import orjson

    try:
        body = orjson.dumps(obj, option=orjson.OPT_INDENT_2)
    except TypeError:
        # What orjson refuses but JSON can say: an integer past 64 bits, a lone surrogate
        # from a "\ud800" escape in the input. The standard library writes them exactly.
        import json

        body = json.dumps(obj, indent=2, ensure_ascii=True).encode()
    if redact:
        from pdebug.redact import redact_bytes

        body = redact_bytes(body)
    return escape_json(body.decode()) + "\n"


_YAML_DUMPERS: dict[bool, Any] = {}
# Characters libyaml writes raw (it calls them printable) that a terminal must not get raw:
# inside the double-quoted scalars the representer chose, a \uXXXX escape is the same text.
_YAML_RAW = re.compile(r"[^\x20-\x7e\n]+")


def _dumper(fast: bool) -> Any:
    """The libyaml safe dumper (``fast``) or PyYAML's, with the string representer below."""
    if fast not in _YAML_DUMPERS:
        import yaml

        base = getattr(yaml, "CSafeDumper", yaml.SafeDumper) if fast else yaml.SafeDumper

        class Dumper(base):  # type: ignore[misc,valid-type]
            """The safe dumper; strings with anything unprintable are double-quoted."""

        def represent_str(dumper: Any, data: str) -> Any:
            style = None if data.isprintable() else '"'
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

        Dumper.add_representer(str, represent_str)
        _YAML_DUMPERS[fast] = Dumper
    return _YAML_DUMPERS[fast]


def _yaml_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if run.isprintable():
        return run
    out = []
    for ch in run:
        code = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


_OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    "default_flow_style": False,
    "allow_unicode": True,
    "width": 10_000,
}


def render_yaml(obj: Any, redact: bool = True) -> str:
    """Block-style YAML, keys in dump order; secrets redacted unless ``redact`` is false.

    The text is what libyaml's safe dumper writes with the options above, byte for byte;
    JSON-shaped data is written by :func:`_fast_yaml` (PyYAML's representer costs ~1 µs
    a node), anything it does not handle by libyaml itself.
    """
    import yaml

    if redact:
        from pdebug.redact import redact_keys

        obj = redact_keys(obj)

    options = _OPTIONS
    text: str
    try:
        text = _fast_yaml(obj)
    except _Unsupported:
        _memo_clear()
    else:
        return text if text.isascii() else _YAML_RAW.sub(_yaml_run, text)
    try:
        text = yaml.dump(obj, Dumper=_dumper(True), **options)
    except UnicodeEncodeError:
        # A lone surrogate (a "\ud800" escape in the input) libyaml cannot encode: PyYAML's
        # own emitter writes it as an escape.
        text = yaml.dump(obj, Dumper=_dumper(False), **options)
    if text.isascii():
        return text
    return _YAML_RAW.sub(_yaml_run, text)


# --- JSON-shaped data as libyaml writes it ------------------------------------------------
#
# libyaml's emitter, for block style with no flow collections but the empty ``[]``/``{}``:
# a mapping's keys at its indent, a sequence inside a mapping at the mapping's own indent
# ("- " items), a mapping or sequence as a sequence item starting on the item's line. A
# string is plain when libyaml's scalar analysis allows a plain block scalar and PyYAML's
# resolver reads it back as a string, else single-quoted; a string with an unprintable
# character is double-quoted by libyaml itself (the representer above). What this does not
# know to write exactly (long strings libyaml would fold, long or multi-line keys, other
# types) raises _Unsupported, and libyaml writes the whole document.


class _Unsupported(Exception):
    """Data the fast writer does not write exactly as libyaml would."""


#: Longest string written here: libyaml folds longer ones at the 10 000-column width.
_MAX_SCALAR = 4000
#: What may not start a plain scalar (libyaml: flow and block indicators).
_BAD_FIRST = frozenset("#,[]{}&*!|>'\"%@`")
_BREAKS = re.compile("[\r\n\x85\u2028\u2029]")
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] | None = None
_STR_TAG = "tag:yaml.org,2002:str"
_SCALARS: dict[str, str] = {}


def _implicit(value: str) -> bool:
    """Whether PyYAML's resolver reads ``value``, written plain, as another type."""
    global _RESOLVERS
    if _RESOLVERS is None:
        from yaml.resolver import Resolver

        _RESOLVERS = {k: list(v) for k, v in Resolver.yaml_implicit_resolvers.items()}
    for _tag, regexp in _RESOLVERS.get(value[:1], ()):
        if regexp.match(value):
            return True
    return False


def _plain_allowed(value: str) -> bool:
    """Whether libyaml may write a printable one-line scalar as a plain block scalar."""
    first = value[0]
    if first == " " or value[-1] == " " or first in _BAD_FIRST:
        return False
    if first in "?:-" and (len(value) == 1 or value[1] == " "):
        return False
    if value.startswith(("---", "...")):
        return False
    if ":" in value and (value[-1] == ":" or ": " in value):
        return False
    return " #" not in value


def _scalar_str(value: str) -> str:
    """A string as libyaml writes it in block context (a value or a simple key)."""
    known = _SCALARS.get(value)
    if known is not None:
        return known
    if len(value) > _MAX_SCALAR:
        raise _Unsupported
    if not value:
        text = "''"
    elif not value.isprintable() or (not value.isascii() and max(value) > "\uffff"):
        text = _double_quoted(value)  # libyaml calls characters past U+FFFF unprintable
    elif _plain_allowed(value) and not _implicit(value):
        text = value
    else:
        text = "'" + value.replace("'", "''") + "'"
    if len(_SCALARS) < 100_000:
        _SCALARS[value] = text
    return text


def _double_quoted(value: str) -> str:
    """The double-quoted scalar libyaml writes (the representer's choice for the unprintable)."""
    import yaml

    try:
        text: str = yaml.dump(value, Dumper=_dumper(True), **_OPTIONS)
    except (UnicodeEncodeError, yaml.YAMLError):
        raise _Unsupported from None
    if not text.startswith('"') or not text.endswith('"\n') or text.count("\n") != 1:
        raise _Unsupported
    return text[:-1]


def _float(value: float) -> str:
    """PyYAML's SafeRepresenter.represent_float."""
    if value != value:
        return ".nan"
    if value == float("inf"):
        return ".inf"
    if value == float("-inf"):
        return "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


def _scalar(value: Any) -> str:
    if type(value) is str:
        return _scalar_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return _float(value)
    raise _Unsupported


_KEYS: dict[Any, str] = {}


def _key(key: Any) -> str:
    if type(key) is not str or len(key) > 128:
        raise _Unsupported  # libyaml writes a complex key ("? ...")
    if _BREAKS.search(key):
        raise _Unsupported  # a multi-line key is a complex key too
    text = _scalar_str(key)
    if len(_KEYS) < 100_000:
        _KEYS[key] = text
    return text


def _fast_yaml(obj: Any) -> str:
    """``obj`` (a dict or list of JSON data) as libyaml would write it (see above)."""
    out: list[str] = []
    _memo_clear()
    if type(obj) is dict:
        if not obj:
            return "{}\n"
        _mapping(obj, "", "", out)
    elif type(obj) is list:
        if not obj:
            return "[]\n"
        _sequence(obj, "", "", out)
    else:
        raise _Unsupported
    _memo_clear()
    return "".join(out)


#: The text of a nested mapping or sequence, by its indent and its JSON encoding. A dump
#: repeats whole subtrees (each cluster's circuit breakers, its SDS configs): one written
#: before at the same indent is copied. The encoding tells apart every two values written
#: differently (``1``, ``1.0`` and ``true``; ``null`` stands for None, NaN and the
#: infinities alike, so a subtree holding one is not looked up), and orjson refuses a
#: subclass of a JSON type here, as the writer does.
_MEMO: dict[tuple[str, bytes], str] = {}
#: Per ``(indent, key)``: how many subtrees were copied in a row without one written; past
#: _MEMO_TRIES (a cluster's own name in each) they are no longer encoded.
_MEMO_MISSES: dict[tuple[str, Any], int] = {}
_MEMO_TRIES = 8
#: Characters kept at most, and bytes encoded at most (the counts so far: _MEMO_SIZE). A
#: subtree's encoding holds its own subtrees', so nesting N deep encodes the deepest N times:
#: the budget keeps that from growing past a bounded cost.
_MEMO_LIMIT = 1 << 25
_MEMO_BUDGET = 1 << 27
_MEMO_SIZE = [0, 0]


def _memo_clear() -> None:
    _MEMO.clear()
    _MEMO_MISSES.clear()
    _MEMO_SIZE[0] = _MEMO_SIZE[1] = 0


def _memo_key(value: Any) -> bytes | None:
    import orjson

    if _MEMO_SIZE[1] > _MEMO_BUDGET:
        return None
    try:
        encoded = orjson.dumps(value, option=_PASSTHROUGH)
    except TypeError:  # a subclass, an integer past 64 bits, a lone surrogate
        return None
    _MEMO_SIZE[1] += len(encoded)
    return None if b"null" in encoded else encoded


#: orjson.OPT_PASSTHROUGH_SUBCLASS | OPT_PASSTHROUGH_DATACLASS | OPT_PASSTHROUGH_DATETIME
_PASSTHROUGH = (1 << 8) | (1 << 11) | (1 << 9)


def _mapping(obj: dict[Any, Any], indent: str, lead: str, out: list[str]) -> None:
    """Each ``key: value`` line at ``indent``, the first one after ``lead`` instead."""
    append = out.append
    keys = _KEYS
    scalars = _SCALARS
    memo = _MEMO
    misses = _MEMO_MISSES
    pre = lead
    inner = indent + "  "
    for key, value in obj.items():
        k = keys.get(key) or _key(key)
        t = type(value)
        if t is str:
            append(f"{pre}{k}: {scalars.get(value) or _scalar_str(value)}\n")
        elif t is dict or t is list:
            if not value:
                append(f"{pre}{k}: {{}}\n" if t is dict else f"{pre}{k}: []\n")
                pre = indent
                continue
            append(f"{pre}{k}:\n")
            pre = indent
            slot = (indent, key)
            missed = misses.get(slot, 0)
            encoded = _memo_key(value) if missed < _MEMO_TRIES else None
            if encoded is not None:
                text = memo.get((indent, encoded))
                if text is not None:
                    misses[slot] = 0
                    append(text)
                    continue
                misses[slot] = missed + 1
            sub: list[str] = []
            if t is dict:
                _mapping(value, inner, inner, sub)
            else:
                _sequence(value, indent, indent, sub)  # libyaml does not indent it
            text = "".join(sub)
            if encoded is not None and _MEMO_SIZE[0] < _MEMO_LIMIT:
                memo[(indent, encoded)] = text
                _MEMO_SIZE[0] += len(text)
            append(text)
            continue
        elif t is int:
            append(f"{pre}{k}: {value}\n")
        else:
            append(f"{pre}{k}: {_scalar(value)}\n")
        pre = indent


def _sequence(obj: list[Any], indent: str, lead: str, out: list[str]) -> None:
    """Each ``- item`` at ``indent``, the first one after ``lead`` instead."""
    append = out.append
    scalars = _SCALARS
    pre = lead
    inner = indent + "  "
    for value in obj:
        t = type(value)
        if t is str:
            append(f"{pre}- {scalars.get(value) or _scalar_str(value)}\n")
        elif t is dict:
            if value:
                _mapping(value, inner, pre + "- ", out)
            else:
                append(f"{pre}- {{}}\n")
        elif t is list:
            if value:
                _sequence(value, inner, pre + "- ", out)
            else:
                append(f"{pre}- []\n")
        elif t is int:
            append(f"{pre}- {value}\n")
        else:
            append(f"{pre}- {_scalar(value)}\n")
        pre = indent


# --- a Listing, item by item (``pdebug all -o json|yaml``) --------------------------------
#
# The text is what render_json/render_yaml write for ``{key: [items...]}``, byte for byte:
# each item is encoded, redacted and escaped on its own (redaction and the escapes look at
# an item's own text only), then written, so only one item is held at a time.

#: A number orjson would write otherwise: a float (orjson writes the shortest repr), an
#: integer past 64 bits (refused), ``-0`` (an integer 0). In the 2-space layout it is an
#: object's value (after ``": ``), an array's element (alone on its line: no string holds
#: a raw line break), or the whole text.
_NUMBER = rb"(-?[0-9]+[.eE][0-9eE+-]*|-?[0-9]{19,}|-0(?![0-9.eE]))"
_ODD_NUMBER = re.compile(rb'": ' + _NUMBER)
_ODD_ELEMENT = re.compile(rb"\n +" + _NUMBER)
_ODD_WHOLE = re.compile(_NUMBER)
_PRINTABLE_TEXT = bytes(range(0x20, 0x7F)) + b"\n"


def _canonical_numbers(text: bytes) -> bool:
    """Whether every number in ``text`` (msgspec's 2-space layout) is as orjson writes it."""
    import orjson

    found = [m.group(1) for m in _ODD_NUMBER.finditer(text)]
    found.extend(_ODD_ELEMENT.findall(text))
    whole = _ODD_WHOLE.fullmatch(text)
    if whole is not None:
        found.append(whole.group(1))
    for token in found:
        try:
            if orjson.dumps(orjson.loads(token)) != token:
                return False
        except orjson.JSONDecodeError:
            return False
    return True


def _plain_text(text: bytes) -> bool | None:
    r"""Whether decoding ``text`` and encoding it again could keep it as it is.

    None: no (an escape orjson writes otherwise, ``\uXXXX`` or ``\/``; bytes that are
    not UTF-8). True: yes, and what is written is printable ASCII (JSON allows no raw
    control character in a string; DEL is looked for); False: yes, with other characters.
    """
    if b"\\u" in text or b"\\/" in text:
        return None
    if text.isascii():
        return b"\x7f" not in text
    try:
        text.decode()
    except UnicodeDecodeError:
        return None
    return False


def _formatted(raw: Any, indent: bytes) -> bytes | None:
    """One member's JSON text as orjson writes its decoded value at ``indent``, or None.

    The text was checked by :func:`_plain_text`. None when decoding could change it (a
    number orjson writes otherwise, damage, nesting deeper than the decoder allows:
    decoding then says what is wrong). A name repeated in one object is the one thing
    printed as it is in the input (decoding keeps the last).
    """
    import msgspec

    from pdebug.model.dump import bounded

    try:
        formatted: bytes = bounded(lambda: msgspec.json.format(raw, indent=2))
    except (msgspec.DecodeError, RecursionError, MemoryError):
        return None
    if not _canonical_numbers(formatted):
        return None
    return formatted.replace(b"\n", b"\n" + indent)


def _raw_item(item: RawObject, redact: bool) -> list[tuple[str, Any, bool]] | None:
    """The members of ``item`` to print undecoded, or None (decode it: ``item.plain()``).

    Each is ``(name, raw, ascii)``. Also None when the redaction could hide anything in
    the item (:func:`pdebug.redact.may_change`): the whole item is then redacted as before.
    """
    from pdebug.model.dump import can_bound
    from pdebug.redact import may_change

    if not can_bound():
        return None
    out = []
    for name, raw in item.members():
        text = bytes(raw)
        plain = _plain_text(text)
        if plain is None or (redact and may_change(text)):
            return None
        out.append((name, raw, plain))
        del text
        if item.release is not None:
            item.release()
    return out


def _json_item(item: Any, redact: bool) -> Iterator[bytes | str]:
    """One item at indent 4, starting at its ``{`` (or ``[``, a scalar), in pieces."""
    import orjson

    from pdebug.redact import redact_bytes

    if isinstance(item, RawObject):
        members = _raw_item(item, redact)
        bodies: list[bytes] | None = [] if members is not None else None
        for _name, raw, _ascii in members or ():
            body = _formatted(raw, b"      ")
            if body is None or bodies is None:
                bodies = None
                break
            bodies.append(body)
            if item.release is not None:
                item.release()
        if members is not None and bodies is not None:
            if not members:
                yield b"{}"
                return
            for i, (name, _raw, ascii_text) in enumerate(members):
                yield (b"{" if i == 0 else b",") + b"\n      " + orjson.dumps(name) + b": "
                body = bodies[i]
                bodies[i] = b""
                yield body if ascii_text else escape_json(body.decode())
                del body
            yield b"\n    }"
            return
        del members, bodies
        raw_item = item
        item = item.plain()  # raises what decoding raises: damage is an error
        written = _repeated_as_written(raw_item, item)
        if written is not None:
            item = written
    try:
        body = _Pairs.dumps(item) if isinstance(item, _Pairs) else _indent_2(item)
    except TypeError:
        import json

        body = json.dumps(item, indent=2, ensure_ascii=True).encode()
    body = body.replace(b"\n", b"\n    ")
    if redact:
        body = redact_bytes(body)
    yield _safe_json(body)


def _indent_2(value: Any) -> bytes:
    import orjson

    body: bytes = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    return body


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its members in order, a repeated name kept (as written)."""

    @staticmethod
    def dumps(value: Any, indent: bytes = b"") -> bytes:
        """``value`` in orjson's 2-space layout, each _Pairs an object; TypeError as orjson."""
        import orjson

        inner = indent + b"  "
        if isinstance(value, _Pairs):
            if not value:
                return b"{}"
            parts = [inner + orjson.dumps(k) + b": " + _Pairs.dumps(v, inner) for k, v in value]
            return b"{\n" + b",\n".join(parts) + b"\n" + indent + b"}"
        if type(value) is list:
            if not value:
                return b"[]"
            parts = [inner + _Pairs.dumps(v, inner) for v in value]
            return b"[\n" + b",\n".join(parts) + b"\n" + indent + b"]"
        out: bytes = orjson.dumps(value)
        return out


def _key_count(compact: bytes) -> int:
    r"""How many names ``compact`` JSON text holds (a string's ``":`` is written ``\":``)."""
    return compact.count(b'":') - compact.count(b'\\":')


def _repeated_as_written(item: RawObject, plain: Any) -> _Pairs | None:
    """``item`` with its objects as :class:`_Pairs` when a name repeats in one, else None.

    The other ways of printing a section (its own text, member by member) print a name
    repeated below its own members as the input holds it (every JSON reader takes the
    last, as pdebug's views do); a section decoded to be printed (an escape, a number
    orjson writes otherwise, a value redaction may hide) prints it so too. Called after
    ``item.plain()`` decoded it (``plain``): damage was an error there.

    The names are counted first, in C: unless decoding left some out, nothing else is done.
    """
    import json

    import msgspec
    import orjson

    members = item.members()
    try:
        written = len(members) + sum(
            _key_count(msgspec.json.format(bytes(raw), indent=-1)) for _, raw in members
        )
        decoded = _key_count(orjson.dumps(plain))
    except (msgspec.DecodeError, TypeError, RecursionError):
        written, decoded = -1, -2  # count them below
    if written == decoded:
        return None
    repeated: list[bool] = []

    def hook(pairs: list[tuple[str, Any]]) -> _Pairs:
        if not repeated and len({k for k, _ in pairs}) != len(pairs):
            repeated.append(True)
        return _Pairs(pairs)

    out = _Pairs()
    for name, raw in members:
        try:
            value = json.loads(bytes(raw), object_pairs_hook=hook)
        except (ValueError, RecursionError):
            return None
        out.append((name, value))
    if not repeated or len({k for k, _ in out}) != len(out):
        return None
    return out


def _safe_json(body: bytes) -> bytes | str:
    """``body`` as it may be written: bytes when printable ASCII, else escaped text."""
    if body.isascii() and not body.translate(None, _PRINTABLE_TEXT):
        return body
    return escape_json(body.decode())


# --- an item printed from its own text (``RawObject.text``) -------------------------------
#
# A config dump's section is usually printed as it is in the input, reformatted: its text
# says the same as its decoded value when every string and number in it is written as
# orjson writes it (printable ASCII, no escape orjson writes otherwise, canonical numbers),
# its own names are unique and its first member is ``lead``, and the redaction could hide
# nothing in it. msgspec then reformats it in C into exactly orjson's 2-space layout (a
# dump already in that layout, as Envoy writes it, is copied without keeping a second
# copy). Anything else is printed member by member, or decoded, as below.

#: ``{"k":[ITEM]}`` reformatted: ITEM's text sits between these, at indent 4.
_WRAP_HEAD = b'{\n  "k": [\n    '
_WRAP_TAIL = b"\n  ]\n}"
#: A line holding one of the item's own members (indent 6; deeper ones are indented more).
_OWN_MEMBER = b'\n      "'
_OWN_MEMBER_RE = re.compile(re.escape(_OWN_MEMBER))
#: Compact JSON with every digit and ``-`` as ``0`` and ``[`` as ``,``: a number that
#: may be odd (a float, an integer of 19 digits or more) is then a member's value after
#: ``":0`` or an element after ``,0``, two literal-led patterns the regex engine skips to
#: (a character class first would test every byte). ``-0`` is looked for apart.
_NUMBER_SHAPE = bytes(0x30 if c in b"0123456789-" else 0x2C if c == 0x5B else c for c in range(256))
_ODD_VALUE = re.compile(rb'":0(?:0*[.eE]|0{18})')
_ODD_ITEM = re.compile(rb",0(?:0*[.eE]|0{18})")
_MINUS_ZERO = re.compile(rb"-0(?![0-9.eE])")
_TOKEN = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_CHUNK = 1 << 22
#: The same shape with every byte but ``"`` ``:`` ``,`` and the number characters left
#: out, ``e``/``E`` as ``.``, and ``+`` left out (it follows an ``e``): a third of the
#: compact text. What comes right before a number (``":``, ``,``, ``[`` as ``,``) and
#: the number up to its ``.``/``e`` or 19th digit are kept as they are, so every odd
#: number is still found; what is found in a string only asks for the look above.
_SHORT_SHAPE = bytes(0x2E if c in b"eE" else _NUMBER_SHAPE[c] for c in range(256))
_SHORT_KEEP = frozenset(b'":,[.eE-0123456789')
_SHORT_DROP = bytes(c for c in range(256) if c not in _SHORT_KEEP)
_SHORT_VALUE = re.compile(rb'":0(?:0*\.|0{18})')
_SHORT_ITEM = re.compile(rb",0(?:0*\.|0{18})")
#: Pieces of the compact text shortened at a time (they overlap by _SHORT_OVERLAP bytes,
#: more than the 21 a match spans), so no shape as long as the text is ever held.
_SHORT_PIECE = 1 << 20
_SHORT_OVERLAP = 32
#: An item's own members, undecoded (:func:`_unique_names`); made on first use.
_OWN_FIELDS: list[Any] = []


def _canonical_compact_numbers(compact: bytes) -> bool:
    """Whether every number in ``compact`` is as orjson writes it.

    What is found inside a string (``"a,1.50"``) only sends the item the slow way.
    Most texts hold no number orjson could write otherwise (no float, no integer of 19
    digits or more, no ``-0``): the short shape above says so at a third of the cost.
    """
    if not _may_hold_odd_numbers(compact):
        return True
    return _numbers_one_by_one(compact)


def _may_hold_odd_numbers(compact: bytes) -> bool:
    """False when ``compact`` holds no float, no integer of 19 digits or more, no ``-0``."""
    for m in _MINUS_ZERO.finditer(compact):
        at = m.start()
        before = compact[at - 1 : at]
        if before in (b",", b"[") or (before == b":" and compact[at - 2 : at - 1] == b'"'):
            return True
    for at in range(0, len(compact), _SHORT_PIECE):
        piece = compact[max(at - _SHORT_OVERLAP, 0) : at + _SHORT_PIECE]
        short = piece.translate(_SHORT_SHAPE, _SHORT_DROP)
        if _SHORT_VALUE.search(short) or _SHORT_ITEM.search(short):
            return True
    return False


def _numbers_one_by_one(compact: bytes) -> bool:
    """:func:`_canonical_compact_numbers`, each candidate number read by orjson."""
    import orjson

    shape = compact.translate(_NUMBER_SHAPE)
    starts = [m.start() + 2 for m in _ODD_VALUE.finditer(shape)]
    starts.extend(m.start() + 1 for m in _ODD_ITEM.finditer(shape))
    del shape
    for m in _MINUS_ZERO.finditer(compact):  # an integer 0 to orjson
        at = m.start()
        before = compact[at - 1 : at]
        if before in (b",", b"[") or (before == b":" and compact[at - 2 : at - 1] == b'"'):
            starts.append(at)
    for start in starts:
        token = _TOKEN.match(compact, start)
        if token is None:
            return False
        try:
            if orjson.dumps(orjson.loads(token.group())) != token.group():
                return False
        except orjson.JSONDecodeError:
            return False
    return True


def _checked_compact(item: RawObject, redact: bool) -> bytes | None:
    """``item.text`` compacted, when it passes every check above but the names; or None.

    None unless printing ``item.plain()`` could write the same item text (see above);
    damage and deep nesting are None too (the member path says why).
    """
    import msgspec

    from pdebug.model.dump import bounded, can_bound

    if item.text is None or not item.lead or not can_bound():
        return None
    try:
        compact: bytes = bounded(lambda: msgspec.json.format(item.text, indent=-1))
    except (msgspec.DecodeError, RecursionError, MemoryError, TypeError):
        return None
    if item.release is not None:
        item.release()
    if not compact.isascii() or b"\x7f" in compact:
        return None
    if b"\\" in compact and (b"\\u" in compact or b"\\/" in compact):
        return None
    first = b"{" + item.lead
    if not compact.startswith(first) or compact[len(first) : len(first) + 1] not in b",}":
        return None
    if not _canonical_compact_numbers(compact):
        return None
    if redact:
        from pdebug.redact import may_change

        if may_change(compact):
            return None
    return compact


def _unique_names(compact: bytes) -> bool:
    """Whether ``compact`` (a checked item's text) is, member for member, its decoded names.

    See :func:`_member_spans`; False only sends the item to the search of
    :func:`_laid_out`.
    """
    return _member_spans(compact) is not None


def _member_spans(compact: bytes) -> list[tuple[bytes, int, int]] | None:
    """Each member of ``compact`` as ``(name as written, value start, value end)``, or None.

    Decoded as ``{name: raw text}`` (a repeated name keeps one member), the object is
    written again in place: ``{`` then each ``"name":raw`` as orjson spells the name, at
    the offset it must start at, then ``}`` exactly at the end. Every member of the text
    is then a member of the decoded object, so no name is repeated and none is escaped
    otherwise. A compare per member where :func:`_laid_out` searched the whole laid-out
    text for the item's own lines. None: not shown (an escaped name, a repeated one).
    """
    import msgspec
    import orjson

    from pdebug.model.dump import bounded

    if not _OWN_FIELDS:
        _OWN_FIELDS.append(msgspec.json.Decoder(dict[str, msgspec.Raw]))
    decoder = _OWN_FIELDS[0]
    try:
        fields = bounded(lambda: decoder.decode(compact))
    except (msgspec.DecodeError, RecursionError, MemoryError, TypeError):
        return None
    spans = []
    at = 1
    for name, raw in fields.items():
        if b"\\" in (key := orjson.dumps(name)) or not compact.startswith(key, at):
            return None
        at += len(key)
        if compact[at : at + 1] != b":" or not compact.startswith(raw, at + 1):
            return None
        spans.append((key, at + 1, at + 1 + len(raw)))
        at += 1 + len(raw)
        if compact[at : at + 1] != b",":
            break
        at += 1
    if not fields or at != len(compact) - 1 or compact[at:] != b"}":
        return None
    return spans


# --- an item laid out piece by piece ------------------------------------------------------
#
# What _laid_out writes for an item, without the whole text at once (a section is up to a
# few hundred MB laid out): each of its own members is laid out alone, in a wrapper that
# puts it at the indent it has in the document, and a long list of resources
# (``dynamic_active_clusters``) a run of its elements at a time. msgspec lays out by depth
# alone, so the pieces put together are the same bytes.

#: ``{"a":[{"b":VALUE}]}`` laid out: VALUE (an item's member) at indent 6 between these.
_MEMBER_HEAD = b'{\n  "a": [\n    {\n      "b": '
_MEMBER_TAIL = b"\n    }\n  ]\n}"
#: ``{"a":[{"b":[ELEMENTS]}]}`` laid out: a member's list elements at indent 8.
_ELEMENTS_HEAD = b'{\n  "a": [\n    {\n      "b": [\n        '
_ELEMENTS_TAIL = b"\n      ]\n    }\n  ]\n}"
_ELEMENT_SEPARATOR = b",\n        "
#: A list member longer than this (compact) is laid out about this much at a time.
_RUN = 1 << 18


def _laid_piece(wrapped: bytes, head: bytes, tail: bytes) -> bytes:
    import msgspec

    from pdebug.model.dump import bounded

    try:
        text: bytes = bounded(lambda: msgspec.json.format(wrapped, indent=2))
    except (msgspec.DecodeError, RecursionError, MemoryError) as exc:
        raise _Unsupported from exc
    if not text.startswith(head) or not text.endswith(tail):
        raise _Unsupported
    return text[len(head) : len(text) - len(tail)]


def _laid_pieces(compact: bytes, spans: list[tuple[bytes, int, int]]) -> Iterator[bytes]:
    """The item laid out at indent 4, in pieces.

    What :func:`_laid_out` writes between the wrapper's head and tail; raises
    _Unsupported when a piece cannot be laid out alone.
    """
    import msgspec

    from pdebug.model.dump import bounded

    view = memoryview(compact)
    yield b"{"
    for i, (key, start, end) in enumerate(spans):
        yield (b",\n      " if i else b"\n      ") + key + b": "
        if end - start <= max(_RUN, 2) or compact[start : start + 1] != b"[":  # or "[]"
            wrapped = b'{"a":[{"b":' + view[start:end] + b"}]}"
            yield _laid_piece(wrapped, _MEMBER_HEAD, _MEMBER_TAIL)
            continue
        value = view[start:end]
        try:
            elements = bounded(lambda: _elements_decoder().decode(value))  # noqa: B023
        except (msgspec.DecodeError, RecursionError, MemoryError) as exc:
            raise _Unsupported from exc
        yield b"["
        lead = b"\n        "
        at = run = start + 1
        for raw in elements:
            at += len(raw) + 1  # past its "," (or the closing "]")
            if at - run >= _RUN:
                wrapped = b'{"a":[{"b":[' + view[run : at - 1] + b"]}]}"
                yield lead + _laid_piece(wrapped, _ELEMENTS_HEAD, _ELEMENTS_TAIL)
                lead = _ELEMENT_SEPARATOR
                run = at
        if at != end:
            raise _Unsupported
        if at > run:
            wrapped = b'{"a":[{"b":[' + view[run : at - 1] + b"]}]}"
            yield lead + _laid_piece(wrapped, _ELEMENTS_HEAD, _ELEMENTS_TAIL)
        yield b"\n      ]"
    yield b"\n    }"


def _elements_decoder() -> Any:
    import msgspec

    if len(_OWN_FIELDS) < 2:
        _OWN_FIELDS.append(msgspec.json.Decoder(list[msgspec.Raw]))
    return _OWN_FIELDS[1]


def _same_pieces(
    compact: bytes, spans: list[tuple[bytes, int, int]], own: Any, release: Any
) -> bool | None:
    """Whether the pieces of :func:`_laid_pieces` put together are ``own``.

    None when a piece cannot be laid out alone. Every piece is laid out either way (so
    that printing them later cannot fail half-way).
    """
    same = True
    pos = 0
    released = 0
    try:
        for piece in _laid_pieces(compact, spans):
            if same:
                part = own[pos : pos + len(piece)]
                same = len(part) == len(piece) and piece.startswith(part)
                pos += len(piece)
                if release is not None and pos - released > _CHUNK:
                    release()
                    released = pos
    except _Unsupported:
        return None
    return same and pos == len(own)


def _laid_out(wrapped: bytes, names_checked: bool = False) -> bytes | None:
    """``{"k":[ITEM]}`` in orjson's 2-space layout, from the same compact.

    ITEM's text was checked (:func:`_checked_compact`). None when ITEM's own names are
    not unique or one is escaped (decoding changes it); ``names_checked``: they were
    (:func:`_unique_names`).
    """
    import msgspec

    from pdebug.model.dump import bounded

    try:
        text: bytes = bounded(lambda: msgspec.json.format(wrapped, indent=2))
    except (msgspec.DecodeError, RecursionError, MemoryError):
        return None
    if names_checked:
        return text
    names = set()
    end = len(text) - len(_WRAP_TAIL)
    # A compiled search, not bytes.find: find skips one byte at a time over indentation
    # (the spaces of the pattern are everywhere), 0.26 s against 0.1 s on 161 MB.
    search = _OWN_MEMBER_RE.search
    at = search(text, len(_WRAP_HEAD), end)
    while at is not None:
        start = at.end()
        close = text.find(b'"', start, end)
        name = text[start:close]
        if close < 0 or b"\\" in name or name in names:
            return None
        names.add(name)
        at = search(text, close, end)
    return text


def _plan(item: Any, redact: bool) -> bytes | str | None:
    """How to print ``item``: "same", its checked compact text, or None.

    "same": its text as it is. The compact text: laid out again when printed (the input
    lays it out otherwise). None: member by member (:func:`_json_item`); its members are read now
    (``RawObject.check``), so that damage is an error before anything is printed.
    """
    if not isinstance(item, RawObject):
        return None
    compact = _checked_compact(item, redact)
    spans = None if compact is None else _member_spans(compact)
    if compact is not None and spans is not None:
        # Printed later from the same pieces (a compact text with spans is printed so);
        # one that cannot be laid out alone (nesting near the limit) goes member by member.
        same = _same_pieces(compact, spans, item.text, item.release)
        if same is None and item.check is not None:
            item.check()
        return None if same is None else "same" if same else compact
    wrapped = None if compact is None else b'{"k":[' + compact + b"]}"
    text = None if wrapped is None else _laid_out(wrapped)
    del wrapped
    if compact is None or text is None:
        if item.check is not None:
            item.check()
        return None
    return "same" if _same_text(text, item.text, item.release) else compact


def _same_text(text: bytes, own: Any, release: Any) -> bool:
    """Whether ``text`` holds ``own`` between the wrapper's head and tail.

    Compared piece by piece, letting go of the mapped pages after each.
    """
    if len(text) != len(_WRAP_HEAD) + len(own) + len(_WRAP_TAIL):
        return False
    view = memoryview(own)
    for at in range(0, len(view), _CHUNK):
        if not text.startswith(view[at : at + _CHUNK], len(_WRAP_HEAD) + at):
            return False
        if release is not None:
            release()
    return True


def _chunks(text: Any, release: Any) -> Iterator[bytes]:
    view = memoryview(text)
    for at in range(0, len(view), _CHUNK):
        yield bytes(view[at : at + _CHUNK])
        if release is not None:
            release()


def _whole_item(item: RawObject, plan: bytes | str, redact: bool) -> Iterator[bytes | str]:
    if plan == "same":
        yield from _chunks(item.text, item.release)
        return
    assert isinstance(plan, bytes)
    spans = _member_spans(plan)
    if spans is not None:  # the plan laid out every piece already
        yield from _laid_pieces(plan, spans)
        return
    text = _laid_out(b'{"k":[' + plan + b"]}", names_checked=True)  # the plan checked them
    if text is None:  # not expected: the same text was laid out before
        yield from _json_item(item, redact)
        return
    yield from _chunks(memoryview(text)[len(_WRAP_HEAD) : len(text) - len(_WRAP_TAIL)], None)


#: Estimated CPU seconds per byte of an item's text to plan it (:func:`_plan`: compact,
#: check, compare; 5k bench dump, 2026-12): how :func:`_plans` groups items over CPUs.
_PLAN_COST = 7e-9


def _plans(items: list[Any], redact: bool) -> list[bytes | str | None]:
    """``[_plan(item, redact) for item in items]``, planned in parallel when that pays.

    A plan is small ("same", None) or the item's compact text (bytes), which a child
    sends back whole (:func:`pdebug.parallel.fork_map`); a plan that fails in a child
    is made here, in order, so damage is the same error as without children.
    """
    from functools import partial

    from pdebug.parallel import fork_map

    weights = [
        len(item.text) * _PLAN_COST
        if isinstance(item, RawObject) and item.text is not None
        else 0.0
        for item in items
    ]
    return fork_map([partial(_plan, item, redact) for item in items], weights)


def json_listing(listing: Listing, redact: bool = True) -> Iterator[bytes | str]:
    """``render_json({listing.key: [items]})``, item by item (bytes: printable ASCII)."""
    import orjson

    head = b"{\n  " + orjson.dumps(listing.key) + b": [\n    "
    items = list(listing.items())
    plans = _plans(items, redact)
    if None in plans:
        # An item printed from its members: read them here first (damage is an error
        # before anything is printed); reading them may find that an item's text held
        # more than one (a section the layout search missed): the listing is then longer.
        for item, plan in zip(items, plans, strict=True):
            if plan is None and isinstance(item, RawObject) and item.check is not None:
                item.check()
        again = list(listing.items())
        if len(again) != len(items):
            items, plans = again, _plans(again, redact)
    for i, (item, plan) in enumerate(zip(items, plans, strict=True)):
        plans[i] = None  # a compact text is let go once printed
        yield head
        if plan is not None:
            yield from _whole_item(item, plan, redact)
        else:
            yield from _json_item(item, redact)
        head = b",\n    "
    if head == b",\n    ":
        yield b"\n  ]\n}\n"
    else:
        yield render_json({listing.key: []}, redact)


def _yaml_item(item: Any) -> str:
    """One item of a top-level ``key:`` list, as render_yaml writes it there."""
    import yaml

    try:
        out: list[str] = []
        _memo_clear()
        if type(item) is dict and item:
            _mapping(item, "  ", "- ", out)
        else:
            _sequence([item], "", "", out)
        text = "".join(out)
        _memo_clear()
    except _Unsupported:
        _memo_clear()
        # libyaml, for this item alone in the same place: its lines are the same.
        wrapped = {"k": [item]}
        try:
            text = yaml.dump(wrapped, Dumper=_dumper(True), **_OPTIONS)
        except UnicodeEncodeError:
            text = yaml.dump(wrapped, Dumper=_dumper(False), **_OPTIONS)
        text = text.split("\n", 1)[1]
    return text if text.isascii() else _YAML_RAW.sub(_yaml_run, text)


def yaml_listing(
    listing: Listing, redact: bool = True, respell: Callable[[Any], Any] | None = None
) -> Iterator[str]:
    """``render_yaml({listing.key: [items]})``, item by item (each ``respell``-ed if given)."""
    from pdebug.redact import redact_keys

    first = True
    items = list(listing.items())
    for item in items:  # damage is an error before anything is printed
        if isinstance(item, RawObject) and item.check is not None:
            item.check()
    again = list(listing.items())  # a check may have found an item's text held two
    if len(again) != len(items):
        items = again
    for item in items:
        plain = item.plain() if isinstance(item, RawObject) else item
        if respell is not None:
            plain = respell(plain)
        if redact:
            plain = redact_keys(plain)
        if first:
            yield _key(listing.key) + ":\n"
            first = False
        yield _yaml_item(plain)
    if first:
        yield render_yaml({listing.key: []}, redact)


# --- a Listing with protojson's key spelling (``--keys camel``) ----------------------------
#
# The text is ``render_json({key: [camel_keys(item)...]})``, byte for byte. Respelling needs
# the decoded data, so nothing is printed from the input's text; a section is decoded and
# written a member at a time, and a list member (``dynamic_active_clusters``) a resource
# at a time, so no more than one resource is held decoded.


def _indented(
    value: Any, indent: bytes, redact: bool, prefix: bytes = b"", finish: bool = True
) -> bytes | str:
    """``prefix`` then ``value`` in orjson's 2-space layout, later lines at ``indent``.

    Redacted and escaped as :func:`render_json` does, unless not ``finish`` (the caller
    does it for a run of pieces: :func:`_redacted`).
    """
    import orjson

    try:
        body = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except TypeError:
        import json

        body = json.dumps(value, indent=2, ensure_ascii=True).encode()
    body = prefix + body.replace(b"\n", b"\n" + indent)
    return _redacted(body, redact) if finish else body


def _redacted(body: bytes, redact: bool) -> bytes | str:
    """``body`` redacted (when ``redact``) and escaped, as :func:`render_json` does."""
    if redact:
        from pdebug.redact import redact_bytes

        body = redact_bytes(body)
    return _safe_json(body)


def _camel_members(item: RawObject, redact: bool) -> Iterator[bytes | str]:
    """One section at indent 4, respelled, a member (or a list member's element) at a time."""
    import msgspec
    import orjson

    from pdebug.model.camel import camel_keys, field_names, keeps_whole
    from pdebug.model.dump import plain_json

    members = item.members()
    if not members:
        yield b"{}"
        return
    elements = msgspec.json.Decoder(list[msgspec.Raw])
    count: dict[str, int] = {}
    for name, _ in members:
        count[field_names(name)[1]] = count.get(field_names(name)[1], 0) + 1
    for i, (name, raw) in enumerate(members):
        yield b"{\n      " if i == 0 else b",\n      "
        field, spelled = field_names(name)
        if count[spelled] > 1:  # ``version_info`` and ``versionInfo``: both kept, as written
            spelled = name
        text = bytes(raw)
        parts = None
        if text[:1] == b"[" and not keeps_whole(field):
            try:
                parts = elements.decode(text)
            except msgspec.DecodeError:
                parts = None
        if parts is None:
            ((_, value),) = camel_keys({name: plain_json(text, name)}).items()
            yield _indented(value, b"      ", redact, orjson.dumps(spelled) + b": ")
        elif not parts:
            yield orjson.dumps(spelled) + b": []"
        else:
            yield orjson.dumps(spelled) + b": ["
            batch: list[bytes] = []
            size = 0
            for j, part in enumerate(parts):
                value = camel_keys(plain_json(part, f"{name}[{j}]"), field)
                lead = b"\n        " if j == 0 else b",\n        "
                piece = _indented(value, b"        ", redact, lead, finish=False)
                assert isinstance(piece, bytes)
                batch.append(piece)
                size += len(piece)
                if size >= _RUN:  # redacted and escaped a run of resources at a time
                    yield _redacted(b"".join(batch), redact)
                    batch, size = [], 0
            if batch:
                yield _redacted(b"".join(batch), redact)
            yield b"\n      ]"
        del text, parts
        if item.release is not None:
            item.release()
    yield b"\n    }"


def json_listing_camel(listing: Listing, redact: bool = True) -> Iterator[bytes | str]:
    """``render_json({listing.key: [camel_keys(item)...]})``, a resource at a time."""
    import orjson

    from pdebug.model.camel import camel_keys

    items = list(listing.items())
    for item in items:  # damage is an error before anything is printed
        if isinstance(item, RawObject) and item.check is not None:
            item.check()
    again = list(listing.items())  # a check may have found an item's text held two
    if len(again) != len(items):
        items = again
    head = b"{\n  " + orjson.dumps(listing.key) + b": [\n    "
    for item in items:
        yield head
        if isinstance(item, RawObject):
            yield from _camel_members(item, redact)
        else:
            yield _indented(camel_keys(item), b"    ", redact)
        head = b",\n    "
    if head == b",\n    ":
        yield b"\n  ]\n}\n"
    else:
        yield render_json({listing.key: []}, redact)
