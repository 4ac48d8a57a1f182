"""Envoy's URI templates (``/v1/{id}/**.m3u8``) as regexes: one translation.

A route's ``path_match_policy`` matches a path with it (:mod:`.routes`) and its
``path_template_rewrite`` takes the variables' values from it (:mod:`.rewrites`), so
the two cannot drift apart.
"""

from __future__ import annotations

import re

import msgspec

from pdebug.errors import InvalidInput
from pdebug.model.dump import plain_json

#: Envoy's URI template globs (its uri_template matcher compiles a template to RE2 with
#: these): ``*`` / ``{var}`` one path segment, ``**`` / ``{var=**}`` any text, ``/`` too.
_SEGMENT_GLOB = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=]+"
_TEXT_GLOB = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=/]*"


def uri_template(raw: msgspec.Raw) -> str | None:
    """The ``path_template`` of a route's URI template ``path_match_policy`` (else None)."""
    try:
        policy = plain_json(raw, "path_match_policy")
    except InvalidInput:
        return None
    config = (
        policy.get("typed_config", policy.get("typedConfig")) if isinstance(policy, dict) else None
    )
    if not isinstance(config, dict) or not str(config.get("@type", "")).endswith(
        ".UriTemplateMatchConfig"
    ):
        return None
    template = config.get("path_template", config.get("pathTemplate"))
    return template if isinstance(template, str) and template.startswith("/") else None


def template_regex(template: str, capture: bool = False) -> str | None:
    """The regex Envoy matches a path with for URI ``template`` (``/v1/{id}/**.m3u8``).

    ``capture``: a named group per variable, for ``path_template_rewrite``; None when a
    variable's name is not one Envoy takes or is used twice. None too for a brace left
    open or a variable inside a variable (Envoy rejects both templates).
    """
    out: list[str] = []
    names: set[str] = set()
    i = 0
    while i < len(template):
        if template[i] != "{":
            end = template.find("{", i)
            end = len(template) if end < 0 else end
            out.append(_glob(template[i:end]))
            i = end
            continue
        end = template.find("}", i)
        if end < 0:
            return None
        name, eq, sub = template[i + 1 : end].partition("=")
        if "{" in sub:
            return None
        body = _glob(sub) if eq else _SEGMENT_GLOB
        if capture:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name in names:
                return None
            names.add(name)
            out.append(f"(?P<{name}>{body})")
        else:
            out.append(f"(?:{body})")
        i = end + 1
    return "".join(out)


def _glob(text: str) -> str:
    """A template's text outside variables as a regex: ``*`` one segment, ``**`` any."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            out.append(_TEXT_GLOB)
            i += 2
        elif text[i] == "*":
            out.append(_SEGMENT_GLOB)
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return "".join(out)
