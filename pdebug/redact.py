"""Keep key material and credentials out of everything pdebug prints or saves.

One engine, :func:`redact_bytes`, works on JSON text without parsing the whole document:
one automaton pass over a lower-cased copy finds every marker and every literal the
credential patterns start with (``bytes.find`` passes, one per marker, in text dense
with markers), the literal-led regexes run only where their literal is, and only
around a marker does Python look closer; structure it cannot follow
(unterminated, huge or not JSON, as a diff's lines) falls back to hiding every value-like
string near the marker. What it hides is the README's redaction table:

* private keys: PEM and PGP private-key blocks anywhere (also base64 in ``inline_bytes``),
  and the ``private_key``/``pkcs12``/``private_key_provider``/``session_ticket_keys`` data
  sources (always, even with ``--no-redact``);
* values named like a secret: a JSON key, an ``inline_string`` line (``PASSWORD=...``,
  ``password: ...``), a Lua assignment (``local api_key = "..."``) or node metadata whose
  name ends in ``password``, ``passwd``, ``secret``, ``token``, ``api_key``/``apikey``,
  ``access_key``, ``secret_key``, ``private_key``(``_id``), ``credential(s)``, ``pkcs12``;
* credential headers, whatever the order of their fields: the values of
  ``authorization``, ``proxy-authorization``, ``cookie``, ``set-cookie`` and of headers
  named like a secret (``x-api-key``, ``x-auth-token``...) in headers added to requests,
  responses and health checks, gRPC initial metadata, header matchers (``exact``,
  ``prefix``, ``safe_regex``...) and Lua ``headers():add("x-api-key", "...")`` calls;
* JWTs (also unsigned, ``alg: none``), ``Bearer``/``Basic`` credentials, the password of
  ``scheme://user:password@host`` URLs, AWS access key ids (``AKIA...``/``ASIA...``) and
  Google API keys (``AIza...``).

A value is replaced by ``[redacted]`` (base64 of it in ``bytes`` fields, as Envoy writes
its own redactions); the document stays valid JSON with the same shape.

One module over 500 lines because it is one engine: every rule above works on the
same spans of the same bytes, and the fallback must know what each rule could not
follow; cutting it would split the one pass over the document.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

REDACTED = "[redacted]"
_REDACTED_B = REDACTED.encode()
#: base64 of "[redacted]": what Envoy itself puts in inline_bytes of private keys.
ENVOY_REDACTED_B64 = b"W3JlZGFjdGVkXQ=="

#: JSON keys whose data source is key material (hidden even with ``--no-redact``).
KEY_FIELDS = frozenset(
    {
        b"private_key",
        b"privatekey",
        b"pkcs12",
        b"private_key_provider",
        b"privatekeyprovider",
        b"session_ticket_keys",
        b"sessionticketkeys",
    }
)
#: Names whose value is a secret: a name ending in one of these (lower case).
_SECRET_NAMES = (
    rb"password|passwd|secret|token|api[-_]?key|access[-_]?key|secret[-_]?key"
    rb"|private[-_]?key(?:[-_]?id)?|json[-_]?key|credentials?|pkcs12|session[-_]?ticket[-_]?keys"
)
_SECRET_NAME = re.compile(rb"(?:%s)$" % _SECRET_NAMES)
# What a name found around a marker must end with to be looked at closer (C speed).
_CANDIDATE = re.compile(
    rb"(?:%s|private[-_]?key[-_]?provider|authorization|cookie)$" % _SECRET_NAMES
)
_IDENT_RUN = re.compile(rb"[a-z0-9_.-]*")
#: :data:`_IDENT_RUN` of the lower-cased text, run over the text as it is.
_IDENT_RUN_ANY_CASE = re.compile(rb"[A-Za-z0-9_.-]*")
#: Header names whose values are credentials, besides those named like a secret.
SECRET_HEADERS = frozenset(
    {b"authorization", b"proxy-authorization", b"cookie", b"set-cookie", b"x-api-key"}
)
#: What to look for in the lower-cased document: every secret name contains one.
_LOW_MARKERS = (
    b"passw",
    b"secret",
    b"token",
    b"key",
    b"credential",
    b"pkcs12",
    b"authorization",
    b"cookie",
)
_IDENT = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-.")
_WS = b" \t\r\n"
#: Header-matcher fields whose strings are what a header is compared with.
_MATCHERS = frozenset(
    {
        "string_match",
        "stringMatch",
        "exact_match",
        "exactMatch",
        "prefix_match",
        "prefixMatch",
        "suffix_match",
        "suffixMatch",
        "contains_match",
        "containsMatch",
        "safe_regex_match",
        "safeRegexMatch",
    }
)
_INLINE = frozenset({"inline_string", "inlineString", "inline_bytes", "inlineBytes"})
_BYTES_FIELDS = frozenset({"inline_bytes", "inlineBytes", "raw_value", "rawValue"})

_PEM_BEGIN = re.compile(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----")
_PEM_END = re.compile(rb"-----END [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----(?:\\[rn])*")
_JWT = re.compile(
    rb"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}"
)
# Lower-cased text: "bearer" and "basic" share their first letter (a fast literal start).
_SCHEME = re.compile(rb"b(?:earer|asic)[ \t]+(?:\\t)*([a-z0-9._~+/=:-]{6,})")
_USERINFO = re.compile(rb"://[^\s/?#@\"'\\:]*:([^\s/?#@\"'\\]+)@")
# AWS access key ids (long-term AKIA, temporary ASIA) and Google API keys.
_CLOUD = re.compile(rb"A(?:[KS]IA[0-9A-Z]{16}|Iza[0-9A-Za-z_-]{35})(?![0-9A-Za-z])")
# After a secret name: its own closing quote, then ``=`` or ``:``, then the value.
_ASSIGN = re.compile(rb"(?:\\?[\"'])?[ \t]*[=:][ \t]*(\\\"|'|)")
# After a quoted name, a call's next argument (``add("x-api-key", "...")``) or an escaped
# HeaderValue's value (``{\"key\":\"authorization\",\"value\":\"...\"}``).
_NEXT_ARG = re.compile(
    rb"\\?[\"'][ \t]*(?:[:,][ \t]*\\?\"(?:value|raw_value)\\?\"[ \t]*:|,)[ \t]*(\\\"|')"
)
_CALL_OR_KEY = re.compile(rb"(?:\([ \t]*|\"(?:key|name)\\?\"[ \t]*:[ \t]*)\\?[\"']$")
_AUTH_SCHEMES = frozenset({b"bearer", b"basic", b"digest", b"token", b"negotiate"})
_STOP_UNQUOTED = re.compile(rb"[\s\"'\\,;&)}\]]")


class _Spans:
    """Replacements to make: ``(start, end, new bytes)``; later overlapping ones lose."""

    def __init__(self, tokens: bool = True) -> None:
        self.tokens = tokens  # whether the token patterns run (for a re-encoded value too)
        self.items: list[tuple[int, int, bytes]] = []
        self.failures = 0  # structural look-ups that did not end (see _MAX_FAILURES)
        self.fallbacks: set[tuple[int, int]] = set()  # the windows _fallback has done

    def add(self, start: int, end: int, new: bytes) -> None:
        if end > start:
            self.items.append((start, end, new))

    def apply(self, data: bytes) -> bytes:
        if not self.items:
            return data
        out = []
        pos = 0
        for start, end, new in sorted(self.items, key=lambda s: (s[0], -s[1])):
            if start < pos:
                continue
            out.append(data[pos:start])
            out.append(new)
            pos = end
        out.append(data[pos:])
        return b"".join(out)


def _escaped(data: bytes, i: int) -> bool:
    """Whether the character at ``i`` is escaped (an odd run of backslashes before it)."""
    n = 0
    while i - n - 1 >= 0 and data[i - n - 1] == 0x5C:
        n += 1
    return n % 2 == 1


def _string_end(data: bytes, i: int) -> int:
    """The closing quote of the JSON string whose content starts at ``i`` (or the end)."""
    while True:
        j = data.find(b'"', i)
        if j < 0:
            return len(data)
        if not _escaped(data, j):
            return j
        i = j + 1


def _string_start(data: bytes, i: int, limit: int = 1 << 16) -> int:
    """The opening quote of the JSON string that contains ``i`` (-1 when not found)."""
    lo = max(0, i - limit)
    while True:
        j = data.rfind(b'"', lo, i)
        if j < 0 or not _escaped(data, j):
            return j
        i = j


def _value_stop(data: bytes, i: int) -> int:
    """The end of the string ``i`` is in; in text (a diff's lines), the end of its line."""
    end = _string_end(data, i)
    line = data.find(b"\n", i, end)
    return end if line < 0 else line


def _skip_ws(data: bytes, i: int) -> int:
    n = len(data)
    while i < n and data[i] in _WS:
        i += 1
    return i


_STRUCT = re.compile(rb'["{}\[\]]')
#: Structural look-ups that may fail (unterminated, huge) before only the fallbacks run:
#: hostile input made of thousands of half objects stays linear.
_MAX_FAILURES = 32


def _container_end(data: bytes, i: int, limit: int = 1 << 20, tokens: int = 1 << 12) -> int:
    """The index after the object or array that opens at ``i`` (-1 when it does not end).

    Gives up (-1) past ``limit`` bytes or ``tokens`` strings and brackets.
    """
    depth = 0
    n = min(len(data), i + limit)
    j = i
    for _ in range(tokens):
        m = _STRUCT.search(data, j, n)
        if m is None:
            return -1
        j = m.start()
        c = data[j]
        if c == 0x22:  # "
            j = _string_end(data, j + 1) + 1
            continue
        if c in (0x7B, 0x5B):
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1


def _enclosing_object(data: bytes, i: int, limit: int = 1 << 14) -> int:
    """The ``{`` of the object around position ``i`` (outside strings), or -1."""
    depth = 0
    j = i
    lo = max(0, i - limit)
    while True:
        j = max(data.rfind(c, lo, j) for c in (b'"', b"{", b"}", b"[", b"]"))
        if j < 0:
            return -1
        c = data[j]
        if c == 0x22:  # the end of a string: go on before its start
            j = _string_start(data, j, limit)
            if j < lo:
                return -1
            continue
        if c in (0x7D, 0x5D):
            depth += 1
        elif depth == 0:
            return j if c == 0x7B else -1
        else:
            depth -= 1


_NEAR_VALUE = re.compile(
    rb'"(?:value|raw_?[vV]alue|exact|prefix|suffix|contains|regex|'
    rb'(?:exact|prefix|suffix|contains)_?[mM]atch|inline_?[sSbB]\w+)"[ \t\r\n]*:[ \t\r\n]*"'
)


def _fallback(data: bytes, start: int, end: int, spans: _Spans) -> None:
    """Where the structure cannot be followed: every value-like string near goes."""
    start, end = max(start, 0), min(end, len(data))
    if start >= end or (start, end) in spans.fallbacks:
        return
    spans.fallbacks.add((start, end))
    for m in _NEAR_VALUE.finditer(data, start, end):
        close = _string_end(data, m.end())
        if data[m.end() : close] not in (_REDACTED_B, ENVOY_REDACTED_B64):
            spans.add(m.end(), close, _REDACTED_B)


# --- plain-object helpers (small objects around a marker, re-encoded) ---


def _redacted_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if value in (REDACTED, ENVOY_REDACTED_B64.decode()):
            return value
        return ENVOY_REDACTED_B64.decode() if key in _BYTES_FIELDS else REDACTED
    return value


def _all_strings(value: Any, key: str = "") -> Any:
    """``value`` with every string replaced (a matcher's exact, prefix, regex...)."""
    if isinstance(value, dict):
        return {k: _all_strings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_all_strings(v, key) for v in value]
    return _redacted_value(key, value)


def _inline_strings(value: Any, depth: int) -> Any:
    """``value`` with the inline data of its data sources (``depth`` levels down) replaced."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in _INLINE:
                out[k] = _redacted_value(k, v)
            elif depth > 1:
                out[k] = _inline_strings(v, depth - 1)
            else:
                out[k] = v
        return out
    if isinstance(value, list):
        return [_inline_strings(v, depth) for v in value]
    return value


def _reencode(data: bytes, start: int, end: int, change: Any, spans: _Spans) -> None:
    """Replace the JSON value ``data[start:end]`` by ``change(value)``, re-encoded."""
    import orjson

    try:
        value = orjson.loads(data[start:end])
    except orjson.JSONDecodeError:  # not JSON (a diff's "+ " lines): values near it go
        _fallback(data, start, end, spans)
        return
    new = change(value)
    if new != value:
        # The new value replaces the whole span and so wins over every span found inside
        # it (a PEM block, a token in a sibling field): it is redacted again on its own.
        spans.add(start, end, _redact(orjson.dumps(new), spans.tokens))


# --- the markers ---


def _pem_blocks(data: bytes, spans: _Spans) -> None:
    for m in _PEM_BEGIN.finditer(data):
        end_m = _PEM_END.search(data, m.end(), m.end() + (1 << 20))
        stop = _value_stop(data, m.end())
        end = end_m.end() if end_m is not None and end_m.end() <= stop else stop
        spans.add(m.start(), end, _REDACTED_B)


def _key_field(data: bytes, key_start: int, key_end: int, name: bytes, spans: _Spans) -> None:
    """A JSON key named like a secret: its value (string, or its data sources) goes."""
    i = _skip_ws(data, key_end + 1)
    if i >= len(data) or data[i] != 0x3A:  # ':'
        return
    i = _skip_ws(data, i + 1)
    if i >= len(data):
        return
    c = data[i]
    if c == 0x22:
        end = _string_end(data, i + 1)
        value = data[i + 1 : end]
        if value not in (_REDACTED_B, ENVOY_REDACTED_B64) and value:
            spans.add(i + 1, end, _REDACTED_B)
    elif c in (0x7B, 0x5B):
        end = _container_end(data, i) if spans.failures < _MAX_FAILURES else -1
        if end < 0:
            spans.failures += 1
            _fallback(data, i, i + (1 << 14), spans)
            return
        # Envoy's SDS dump calls a whole Secret "secret": only its own inline data goes.
        depth = 1 if name == b"secret" else 99
        _reencode(data, i, end, lambda v: _inline_strings(v, depth), spans)


def _header_object(data: bytes, quote: int, spans: _Spans) -> None:
    """A credential header's name at ``quote``: its value or match goes, any field order."""
    start = end = -1
    if spans.failures < _MAX_FAILURES:
        start = _enclosing_object(data, quote)
        end = _container_end(data, start, 1 << 20) if start >= 0 else -1
    if end < 0:
        spans.failures += 1
        _fallback(data, quote - (1 << 12), quote + (1 << 12), spans)
        return

    def change(obj: Any) -> Any:
        if not isinstance(obj, dict):
            return obj
        out = {}
        for k, v in obj.items():
            if k in ("value", "raw_value", "rawValue"):
                out[k] = _redacted_value(k, v)
            elif k in _MATCHERS:
                out[k] = _all_strings(v, k)
            else:
                out[k] = v
        return out

    _reencode(data, start, end, change, spans)


def _text_value(data: bytes, low: bytes, a: int, after: int, spans: _Spans) -> None:
    """``name = value``, ``name: "value"``, ``("name", "value")`` after a secret name.

    Inside one JSON string (Lua code, an ``inline_string``, a metadata value): the value
    never reaches past the string's end, so the document stays valid.
    """
    stop = _value_stop(data, after)
    m = _ASSIGN.match(low, after, stop)
    if m is None and _CALL_OR_KEY.search(low, max(0, a - 12), a):
        m = _NEXT_ARG.match(low, after, stop)
    if m is None:
        return
    i = m.end()
    quote = m.group(1)
    if quote:
        close = data.find(quote, i, stop)
        end = stop if close < 0 else close
    else:
        if i < stop and data[i] in b"{[":
            return
        found = _STOP_UNQUOTED.search(data, i, stop)
        end = stop if found is None else found.start()
        if low[i:end] in _AUTH_SCHEMES:  # "Authorization: Bearer X": X is the secret
            i = end
            while i < stop and data[i] in b" \t":
                i += 1
            found = _STOP_UNQUOTED.search(data, i, stop)
            end = stop if found is None else found.start()
    value = data[i:end]
    if value and value not in (_REDACTED_B, ENVOY_REDACTED_B64):
        spans.add(i, end, _REDACTED_B)


def _word_start(low: bytes, i: int) -> int:
    r"""Where the name that reaches ``i`` starts; an escape (``\n``, ``\t``) ends a name."""
    a = i
    while a > 0 and low[a - 1] in _IDENT:
        if a > 1 and low[a - 2] == 0x5C and low[a - 1] in b"ntrbf" and not _escaped(low, a - 2):
            break
        a -= 1
    return a


#: The last two characters of every name :data:`_CANDIDATE` accepts: a slice compared
#: first, where the regex would try each of up to 24 starts (a dump names 25 000 SDS
#: ``secret`` configs that are not secrets).
_CANDIDATE_TAILS = frozenset(
    {b"rd", b"wd", b"et", b"en", b"ey", b"id", b"al", b"ls", b"12", b"ys", b"er", b"on", b"ie"}
)


def _candidate(low: bytes, i: int, b: int) -> bool:
    """Whether the name ending at ``b`` (a marker at ``i``) ends in a secret's name."""
    if low[b - 2 : b] not in _CANDIDATE_TAILS:
        return False
    return _CANDIDATE.search(low, max(0, i - 24), b) is not None


def _names(data: bytes, low: bytes, spans: _Spans, tokens: bool, hits: _Hits | None = None) -> None:
    """Every secret-looking name in the document, and what it names.

    Each marker's occurrences in order, the next one looked for after the name the last
    one ended: with ``bytes.find`` passes, one per marker, or from ``hits`` (where one
    automaton pass found them all, :func:`_hits`), the same occurrences in the same order.
    """
    from bisect import bisect_left

    seen: set[int] = set()
    for which, marker in enumerate(_LOW_MARKERS):
        at = hits[which] if hits is not None else None
        if at is not None and not at:
            continue
        i = low.find(marker) if at is None else at[0]
        while i >= 0:
            b = _IDENT_RUN.match(low, i + len(marker)).end()  # type: ignore[union-attr]
            if _candidate(low, i, b):
                a = _word_start(low, i)
                if a not in seen:
                    seen.add(a)
                    _name(data, low, a, b, spans, tokens)
            if at is None:
                i = low.find(marker, b)
            else:
                k = bisect_left(at, b)
                i = at[k] if k < len(at) else -1


def _name(data: bytes, low: bytes, a: int, b: int, spans: _Spans, tokens: bool) -> None:
    name = low[a:b]
    structural = (
        a > 0 and b < len(data) and data[a - 1] == 0x22 and data[b] == 0x22
    ) and not _escaped(data, a - 1)
    if structural:
        after = _skip_ws(data, b + 1)
        is_key = after < len(data) and data[after] == 0x3A
        if is_key and (name in KEY_FIELDS or (tokens and _SECRET_NAME.search(name))):
            _key_field(data, a - 1, b, name, spans)
            return
        if not tokens:
            return
        if not is_key and (name in SECRET_HEADERS or _SECRET_NAME.search(name)):
            _header_object(data, a - 1, spans)
        return
    if tokens and (name in SECRET_HEADERS or _SECRET_NAME.search(name)):
        _text_value(data, low, a, b, spans)


_INLINE_BYTES = re.compile(rb'"inline(?:_bytes|Bytes)"[ \t\r\n]*:[ \t\r\n]*"')


def _inline_bytes(data: bytes, spans: _Spans, tokens: bool) -> None:
    """``inline_bytes`` (base64): redact what they hold, and keep them base64."""
    import orjson

    for m in _INLINE_BYTES.finditer(data):
        start = m.end()
        end = _string_end(data, start)
        raw = data[start:end]
        if raw == ENVOY_REDACTED_B64 or not raw:
            continue
        try:
            plain = base64.b64decode(raw.replace(b"\\n", b"").replace(b"\\/", b"/"))
            as_json = orjson.dumps(plain.decode())
        except (binascii.Error, ValueError, orjson.JSONEncodeError):
            continue  # not base64 of text (a binary key is redacted by its field's name)
        redacted = _redact(as_json, tokens, nested=True)
        if redacted != as_json:
            spans.add(start, end, base64.b64encode(orjson.loads(redacted).encode()))


def _patterns(
    data: bytes, low: bytes, spans: _Spans, which: tuple[tuple[Any, bytes], ...] = ()
) -> None:
    """Credentials recognisable by their shape, wherever they are (``which``: only these).

    Each is one regex whose literal start lets the regex engine skip ahead (an
    alternation without one would be ten times slower on a large dump).
    """
    every = ((_JWT, data), (_CLOUD, data), (_USERINFO, data), (_SCHEME, low))
    for pattern, source in which or every:
        for m in pattern.finditer(source):
            if m.lastindex is None:
                spans.add(m.start(), m.end(), _REDACTED_B)
            elif m.group(1) != _REDACTED_B and (
                pattern is not _SCHEME or _word_start(low, m.start()) == m.start()
            ):
                spans.add(m.start(1), m.end(1), _REDACTED_B)


#: Per literal of :data:`_LITERALS`, where it starts in the lower-cased text (ascending).
_Hits = list[list[int]]
#: More occurrences than this, or than :data:`_MAX_PIECE_HITS` in one piece of the search:
#: the ``bytes.find`` passes, whose memory does not grow and which skip a name at once.
_MAX_HITS = 1 << 20
_MAX_PIECE_HITS = 1 << 14


def _hits(low: bytes) -> _Hits | None:
    """Where each literal of :data:`_LITERALS` starts in ``low``: one automaton pass.

    Every occurrence: the leftmost-first search (:func:`_searcher`, the one
    :func:`may_change` runs) reports the ones it does not step over, and
    :data:`_OVERLAPS` names each literal that can start inside a reported one. The text
    is searched a piece at a time, each reaching far enough for a literal that starts in
    it to end in it. None without the automaton or past :data:`_MAX_HITS` occurrences
    (or :data:`_MAX_PIECE_HITS` in one piece).
    """
    searcher = _searcher()
    if searcher is None:
        return None
    hits: list[set[int]] = [set() for _ in _LITERALS]
    view = memoryview(low)
    reach = _LONGEST_LITERAL - 1
    count = 0
    for at in range(0, len(low), _SCAN_PIECE):
        stop = at + _SCAN_PIECE
        found = searcher.find_matches_as_indexes(view[at : stop + reach])
        if len(found) > _MAX_PIECE_HITS:
            return None  # a run of markers (hostile input): the find passes skip it whole
        for which, start, _end in found:
            i = at + start
            if i >= stop:
                continue
            hits[which].add(i)
            count += 1
            for offset, other in _OVERLAPS[which]:
                j = i + offset
                literal = _LITERALS[other]
                if j < stop and low.startswith(literal, j):
                    hits[other].add(j)
                    count += 1
        if count > _MAX_HITS:
            return None
    return [sorted(found) for found in hits]


def _redact(data: bytes, tokens: bool, nested: bool = False) -> bytes:
    spans = _Spans(tokens)
    low = data.lower()  # ASCII only: the same offsets
    hits = _hits(low)
    if hits is None:
        _pem_blocks(data, spans)
        _names(data, low, spans, tokens)
        if not nested:
            _inline_bytes(data, spans, tokens)
        if tokens:
            _patterns(data, low, spans)
        return spans.apply(data)
    # The same stages in the same order, each only where its marker or literal is: a
    # pattern cannot match where the literal every match of it holds is absent.
    there = {_LITERALS[which] for which, found in enumerate(hits) if found}
    if b"-----begin" in there:
        _pem_blocks(data, spans)
    _names(data, low, spans, tokens, hits)
    if not nested and there & {b'"inline_bytes"', b'"inlinebytes"'}:
        _inline_bytes(data, spans, tokens)
    if tokens:
        patterns = (
            *(((_JWT, data),) if b"eyj" in there else ()),
            *(((_CLOUD, data),) if there & {b"akia", b"asia", b"aiza"} else ()),
            *(((_USERINFO, data),) if b"://" in there else ()),
            *(((_SCHEME, low),) if there & {b"bearer", b"basic"} else ()),
        )
        if patterns:
            _patterns(data, low, spans, patterns)
    return spans.apply(data)


def may_change(data: bytes) -> bool:
    """Whether :func:`redact_bytes` could hide anything in JSON holding ``data``'s strings.

    ``data`` is one JSON text (any layout). False means that ``redact_bytes`` of any JSON
    text with the same keys and strings, spelled with the same escapes and laid out with
    any whitespace (the same data re-indented), returns it unchanged: every stage of the
    redaction starts at a marker inside a key or a string (a PEM header, a name ending in
    a secret's name, an ``inline_bytes`` value, a credential's shape) and each of those is
    looked for here, whitespace playing no part in finding it. True is only "look closer".
    """
    searcher = _searcher()
    if searcher is None:
        return _may_change_finds(data)
    # Lower-cased a piece at a time (ASCII only: the same offsets), never the whole text:
    # what a piece holds is the whole lower-cased text's ``low[at : at + piece + reach]``,
    # so the search sees the same literals; :class:`_Scan` lowers what it looks at.
    scan = _Scan(data)
    reach = _LONGEST_LITERAL - 1
    at = 0
    while at < len(data):
        piece = data[at : at + _SCAN_PIECE + reach].lower()
        for which, start, _end in searcher.find_matches_as_indexes(piece):
            i = at + start
            if scan.found(which, i):
                return True
            # What the leftmost, non-overlapping search stepped over: a literal starting
            # inside this one (every other occurrence is reported).
            for offset, other in _OVERLAPS[which]:
                j = i + offset
                literal = _LITERALS[other]
                if scan.lowered(j, j + len(literal)) == literal and scan.found(other, j):
                    return True
        at += _SCAN_PIECE
        if scan.covered > at + _SCAN_PIECE:
            # A name runs on past the next piece (hostile input: megabytes of "keykey..."):
            # no marker starting inside it needs a look, nor "://" or '"inline' (not name
            # characters); the patterns led by name characters are searched whole, once.
            if any(scan.whole(check) for check in range(len(_CHECKS)) if check != _AT_URL):
                return True
            at = scan.covered
    return False


class _Scan:
    """What :func:`may_change` found so far in ``data``.

    It reads ``data`` lower-cased, as the redaction does, but lowers only the bytes it
    looks at (:meth:`lowered`): the whole lower-cased copy is made only for a pattern
    searched whole over it (:meth:`whole`, a ``bearer``/``basic`` scheme).
    """

    __slots__ = ("data", "_low", "done", "covered")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._low: bytes | None = None
        self.done: set[int] = set()
        #: The end of the last name looked at: a marker starting before it lies in that
        #: name and ends where it ends, and :func:`_candidate` of the earlier marker
        #: searched a window holding the later one's.
        self.covered = 0

    def lowered(self, a: int, b: int) -> bytes:
        """``data.lower()[a:b]`` (``bytes.lower`` maps A-Z only: offsets are kept)."""
        return self.data[a:b].lower()

    def found(self, which: int, i: int) -> bool:
        """Whether literal ``which`` of :data:`_LITERALS` at ``i`` makes the answer true."""
        data = self.data
        if which < len(_LOW_MARKERS):
            if i < self.covered:
                return False
            # The name run of the lower-cased text ends where the run of either case
            # ends in ``data`` (lowering maps A-Z to a-z and nothing else into the set).
            b = _IDENT_RUN_ANY_CASE.match(data, i + len(_LITERALS[which])).end()  # type: ignore[union-attr]
            self.covered = b
            if data[b - 2 : b].lower() not in _CANDIDATE_TAILS:  # _candidate's first test
                return False
            # _candidate(low, i, b) reads low[max(0, i - 24) : b] only.
            a = max(0, i - 24)
            return _candidate(self.lowered(a, b), i - a, b - a)
        check = _TRIGGERS[which - len(_LOW_MARKERS)][1]
        if check == _AT_URL:
            # Every match of _USERINFO starts with "://", and stops before the next "/":
            # tried at each "://", in linear time.
            return _USERINFO.match(data, i) is not None
        return self.whole(check)

    def whole(self, check: int) -> bool:
        """Pattern ``check`` of :data:`_CHECKS` searched over the whole text, once."""
        if check in self.done:
            return False
        self.done.add(check)
        if self._low is None:
            self._low = self.data.lower()
        return _CHECKS[check](self.data, self._low) is not None


#: For each stage of :func:`may_change` but the names, a literal (lower-cased) that every
#: match of its pattern holds, and the stage: absent from the text, the stage cannot match.
_TRIGGERS: tuple[tuple[bytes, int], ...] = (
    (b"-----begin", 0),  # _PEM_BEGIN
    (b'"inline_bytes"', 1),  # _INLINE_BYTES
    (b'"inlinebytes"', 1),
    (b"eyj", 2),  # _JWT
    (b"://", 3),  # _USERINFO
    (b"akia", 4),  # _CLOUD
    (b"asia", 4),
    (b"aiza", 4),
    (b"bearer", 5),  # _SCHEME (over the lower-cased text)
    (b"basic", 5),
)
_CHECKS: tuple[Any, ...] = (
    lambda data, low: _PEM_BEGIN.search(data),
    lambda data, low: _INLINE_BYTES.search(data),
    lambda data, low: _JWT.search(data),
    lambda data, low: _USERINFO.search(data),
    lambda data, low: _CLOUD.search(data),
    lambda data, low: _SCHEME.search(low),
)
_AT_URL = 3
_LITERALS = (*_LOW_MARKERS, *(literal for literal, _check in _TRIGGERS))
_LONGEST_LITERAL = max(len(literal) for literal in _LITERALS)


def _overlaps(literal: bytes) -> tuple[tuple[int, int], ...]:
    """Where another literal (or this one again) can start inside ``literal``."""
    out = []
    for offset in range(len(literal)):
        rest = literal[offset:]
        for other, text in enumerate(_LITERALS):
            if offset == 0 and text == literal:
                continue
            if rest.startswith(text) if len(text) <= len(rest) else text.startswith(rest):
                out.append((offset, other))
    return tuple(out)


#: The search reports the leftmost literal and goes on after it; these are the literals
#: it can step over, by the literal reported: ``(offset, literal)``.
_OVERLAPS = tuple(_overlaps(literal) for literal in _LITERALS)
#: Text searched at a time: bounds the list of matches one call returns.
_SCAN_PIECE = 1 << 20
_SEARCHER: list[Any] = []


def _searcher() -> Any:
    """One automaton for every literal :func:`may_change` looks for, or None without it.

    ahocorasick_rs (Rust's aho-corasick crate): one SIMD pass for all 18 literals, where
    ``bytes.find`` needs one pass each.
    """
    if not _SEARCHER:
        try:
            import ahocorasick_rs
        except ImportError:  # pragma: no cover - a declared dependency
            _SEARCHER.append(None)
        else:
            _SEARCHER.append(
                ahocorasick_rs.BytesAhoCorasick(
                    list(_LITERALS), matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST
                )
            )
    return _SEARCHER[0]


def _may_change_finds(data: bytes) -> bool:
    """:func:`may_change` with one ``bytes.find`` pass per marker (no automaton)."""
    if _PEM_BEGIN.search(data) is not None:
        return True
    low = data.lower()
    for marker in _LOW_MARKERS:
        i = low.find(marker)
        while i >= 0:
            b = _IDENT_RUN.match(low, i + len(marker)).end()  # type: ignore[union-attr]
            if _candidate(low, i, b):
                return True
            i = low.find(marker, b)
    if _INLINE_BYTES.search(data) is not None:
        return True
    # C-speed finds first: a JWT starts with "eyJ"; a URL's userinfo ends at an "@" that
    # no quote precedes, which no "@" of an "@type" key can be.
    if b"eyJ" in data and _JWT.search(data) is not None:
        return True
    if data.count(b"@") != data.count(b'"@type"') and _USERINFO.search(data) is not None:
        return True
    return _CLOUD.search(data) is not None or _SCHEME.search(low) is not None


def redact_bytes(data: bytes, tokens: bool = True) -> bytes:
    """Redact secret-shaped values in a JSON document without parsing it.

    With ``tokens`` false (``--no-redact``) only private keys are hidden. The document
    stays valid JSON with the same shape (module docstring: what is hidden).
    """
    return _redact(bytes(data), tokens)


#: A text ``/stats`` value that is only numbers: a counter or gauge, a histogram's
#: quantiles (``P50(nan,2.5)``, ``inf``, ``1e+06``...) or ``No recorded values``.
_STAT_NUMBERS = re.compile(
    rb"[0-9]+|No recorded values|P[0-9.e+-]+\([0-9a-z.+-]*,[0-9a-z.+-]*\)"
    rb"(?: P[0-9.e+-]+\([0-9a-z.+-]*,[0-9a-z.+-]*\))*"
)


def redact_stat_lines(data: bytes, tokens: bool = True) -> bytes:
    """:func:`redact_bytes` for Envoy's text ``/stats`` (``name: value`` lines).

    A counter named like a secret (Envoy's ``...oauth2.token_fetch_failed_on_client_secret:
    3``) is not a secret's value: where the redaction changed a line whose value is only
    numbers, that line keeps its value and only its name is redacted (a token in a stat's
    name is hidden still). Text readouts (``name: "..."``) are redacted as any text. Gives
    back its very input when it hid nothing.
    """
    redacted = redact_bytes(data, tokens=tokens)
    if redacted is data or redacted == data:
        return data
    before, after = data.split(b"\n"), redacted.split(b"\n")
    if len(before) != len(after):  # a redaction across lines: not stat lines to mend
        return redacted
    lines = []
    for old, new in zip(before, after, strict=True):
        name, sep, value = old.partition(b": ")
        if old != new and sep and _STAT_NUMBERS.fullmatch(value):
            new = redact_bytes(name, tokens=tokens) + sep + value
        lines.append(new)
    mended = b"\n".join(lines)
    return data if mended == data else mended


#: What a private key the redaction would hide looks like: a PEM block (also base64-encoded,
#: in ``inline_bytes``), a session ticket key, or a key data source whose inline value is not
#: Envoy's own ``[redacted]`` (Envoy redacts the private keys it dumps).
_PEM_MARKERS = (
    b"PRIVATE KEY",
    b"ession_ticket_keys",
    b"essionTicketKeys",
    # base64 of "-----BEGIN PRIVATE KEY", "... RSA/EC/DSA/OPENSSH/ENCRYPTED/PGP PRIVATE ..."
    b"LS0tLS1CRUdJTiBQUklWQVRF",
    b"LS0tLS1CRUdJTiBSU0EgUFJJVkFURS",
    b"LS0tLS1CRUdJTiBFQyBQUklWQVRF",
    b"LS0tLS1CRUdJTiBEU0EgUFJJVkFURS",
    b"LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVE",
    b"LS0tLS1CRUdJTiBFTkNSWVBURUQgUFJJVkFURS",
    b"LS0tLS1CRUdJTiBQR1AgUFJJVkFURS",
)
_UNREDACTED_KEY = re.compile(
    rb'(?:rivate_?[kK]ey|pkcs12)"\s*:\s*\{\s*"inline_?[a-zA-Z]+"\s*:\s*"'
    rb'(?!\[redacted\]"|W3JlZGFjdGVkXQ==")'  # Envoy's own [redacted], also base64
)


def may_hold_private_key(data: Any) -> bool:
    """Whether a document may hold a private key (``redact_bytes(tokens=False)`` hides those).

    C-speed searches: over a mapped file, nothing is copied. False means
    ``redact_bytes(data, tokens=False)`` would change nothing.
    """
    return any(data.find(m) >= 0 for m in _PEM_MARKERS) or bool(_UNREDACTED_KEY.search(data))


def redact_keys(obj: Any) -> Any:
    """``obj`` (plain JSON data) with what :func:`redact_bytes` hides replaced."""
    import orjson

    try:
        text = orjson.dumps(obj)
    except TypeError:  # an integer past 64 bits, a lone surrogate: the standard library
        import json

        out = redact_bytes(json.dumps(obj, ensure_ascii=True).encode())
        return json.loads(out)
    if not may_change(text):  # the usual case: one search, no redaction pass
        return obj
    out = redact_bytes(text)
    # Nothing hidden: ``obj`` is what decoding its own encoding would give back.
    return obj if out == text else orjson.loads(out)


def secret_header(name: str) -> bool:
    """Whether a header's values are credentials (``authorization``, ``x-api-key``...)."""
    low = name.lower().encode("utf-8", "replace")
    return low in SECRET_HEADERS or _SECRET_NAME.search(low) is not None


def redact_text(text: str) -> str:
    """One string (a URL, a label) with what :func:`redact_bytes` hides replaced."""
    import orjson

    out: str = orjson.loads(redact_bytes(orjson.dumps(text)))
    return out


# A diff line ``PATH: OLD -> NEW`` whose path is a header, metadata or a secret's name.
_DIFF_LINE = re.compile(rb"(?m)^([ \t]*[^\s:]+): (.*?) -> (.*)$")
_SENSITIVE_PATH = re.compile(
    rb"(?i)(?:headers_to_add|headers?\[|initial_metadata|query_parameters|"
    rb"\.header\.|(?:%s|authorization|cookie)(?:\[\d+\])?$)" % _SECRET_NAMES
)


def _diff_line(m: re.Match[bytes]) -> bytes:
    if not _SENSITIVE_PATH.search(m.group(1)):
        return m.group(0)
    sides = [b'"' + _REDACTED_B + b'"' if v.startswith(b'"') else v for v in m.group(2, 3)]
    return m.group(1) + b": " + sides[0] + b" -> " + sides[1]


# The same as a diff report's json (``"path": P, "left": L, "right": R``) and yaml.
_DIFF_JSON = re.compile(
    rb'("path":\s*"((?:[^"\\]|\\.)*)",\s*"left":\s*)("(?:[^"\\]|\\.)*")?'
    rb'([^,]*,\s*"right":\s*)("(?:[^"\\]|\\.)*")?'
)
_DIFF_YAML = re.compile(rb"(?m)^([ \t-]*path: (.*)\n[ \t]*left: )(.*)(\n[ \t]*right: )(.*)$")
_YAML_KEEP = re.compile(rb"-?[0-9.]+|true|false|null|\{\}|\[\]|")


def _diff_field(m: re.Match[bytes]) -> bytes:
    if not _SENSITIVE_PATH.search(m.group(2).strip(b"'\"")):
        return m.group(0)
    yaml = m.group(0).lstrip(b" \t-").startswith(b"path:")
    new = []
    for value in (m.group(3), m.group(5)):
        if value is None or (yaml and _YAML_KEEP.fullmatch(value.strip())):
            new.append(value or b"")
        else:
            new.append(b"'" + _REDACTED_B + b"'" if yaml else b'"' + _REDACTED_B + b'"')
    return m.group(1) + new[0] + m.group(4) + new[1]


def redact_output(text: str) -> str:
    """Text that quotes the config (a diff's lines): what :func:`redact_bytes` hides.

    Also the values of ``PATH: OLD -> NEW`` lines whose path is a header, gRPC metadata,
    a query parameter or named like a secret: such a line does not say the header's name.
    """
    body = text.encode("utf-8", "surrogatepass")
    out = redact_bytes(body)
    if b" -> " in out:
        out = _DIFF_LINE.sub(_diff_line, out)
    if b"path" in out:
        out = _DIFF_YAML.sub(_diff_field, _DIFF_JSON.sub(_diff_field, out))
    return text if out == body else out.decode("utf-8", "surrogatepass")
