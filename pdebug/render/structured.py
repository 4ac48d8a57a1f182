r"""json and yaml from the same plain data (never from the table rows).

Both keep the data exact and never put a control character, a bidi override or another
unprintable character raw on the screen: JSON writes them as ``\uXXXX``, YAML as a
double-quoted scalar's escapes (:mod:`pdebug.render.escape`).
"""

from __future__ import annotations

import re
from typing import Any

from pdebug.render.escape import escape_json


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
        pass
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
    return "".join(out)


def _mapping(obj: dict[Any, Any], indent: str, lead: str, out: list[str]) -> None:
    """Each ``key: value`` line at ``indent``, the first one after ``lead`` instead."""
    append = out.append
    keys = _KEYS
    scalars = _SCALARS
    pre = lead
    inner = indent + "  "
    for key, value in obj.items():
        k = keys.get(key) or _key(key)
        t = type(value)
        if t is str:
            append(f"{pre}{k}: {scalars.get(value) or _scalar_str(value)}\n")
        elif t is dict:
            if value:
                append(f"{pre}{k}:\n")
                _mapping(value, inner, inner, out)
            else:
                append(f"{pre}{k}: {{}}\n")
        elif t is list:
            if value:
                append(f"{pre}{k}:\n")
                _sequence(value, indent, indent, out)  # libyaml does not indent it
            else:
                append(f"{pre}{k}: []\n")
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
