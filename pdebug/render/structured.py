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


def render_yaml(obj: Any, redact: bool = True) -> str:
    """Block-style YAML, keys in dump order; secrets redacted unless ``redact`` is false."""
    import yaml

    if redact:
        from pdebug.redact import redact_keys

        obj = redact_keys(obj)

    options: dict[str, Any] = {
        "sort_keys": False,
        "default_flow_style": False,
        "allow_unicode": True,
        "width": 10_000,
    }
    try:
        text: str = yaml.dump(obj, Dumper=_dumper(True), **options)
    except UnicodeEncodeError:
        # A lone surrogate (a "\ud800" escape in the input) libyaml cannot encode: PyYAML's
        # own emitter writes it as an escape.
        text = yaml.dump(obj, Dumper=_dumper(False), **options)
    if text.isascii():
        return text
    return _YAML_RAW.sub(_yaml_run, text)
