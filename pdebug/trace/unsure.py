"""Headers whose value only Envoy knows, and which header matchers depend on them.

Envoy's connection manager sets some request headers before routing and the HTTP
filters run (:func:`pdebug.trace.filters.seen_by_filters` lists them with why): a
generated ``x-request-id``, ``x-forwarded-for`` with the client's address appended when
pdebug is not told it, the ``x-envoy-*`` headers it strips from an external client. A
matcher on such a header (a route's, an RBAC rule's, a scope key's) is unknown.
"""

from __future__ import annotations

from pdebug.model import schema as s

#: In the unsure headers: every ``x-envoy-*`` header (use_remote_address).
EDGE = "x-envoy-*"
#: Before a header name in the unsure headers: its presence is unknown too.
MAYBE_GONE = "?"


def has_value_matcher(hm: s.HeaderMatcher) -> bool:
    """Whether ``hm`` compares the header's value (not only its presence)."""
    return any(
        x is not None
        for x in (
            hm.exact_match,
            hm.prefix_match,
            hm.suffix_match,
            hm.contains_match,
            hm.safe_regex_match,
            hm.regex_match,
            hm.string_match,
            hm.range_match,
        )
    )


def unsure_header(hm: s.HeaderMatcher, unsure_headers: tuple[tuple[str, str], ...]) -> str | None:
    """Why pdebug cannot tell whether ``hm`` matches (None: it can).

    ``unsure_headers``: name -> why, ``seen_by_filters``' second value. A header whose
    value only Envoy knows decides a value matcher (its presence is known); ``x-envoy-*``
    headers (use_remote_address) decide every matcher, presence included.
    """
    if not unsure_headers:
        return None
    name = hm.name.lower()
    unsure = dict(unsure_headers)
    if name.startswith("x-envoy-") and EDGE in unsure:
        return unsure[EDGE]
    if MAYBE_GONE + name in unsure:
        return unsure[MAYBE_GONE + name]
    if name in unsure and hm.present_match is None and has_value_matcher(hm):
        return unsure[name]
    return None


def matcher_text(hm: s.HeaderMatcher) -> str:
    """What a header matcher asks for: ``x-request-id exact 'abc'``, ``x-a present``."""
    inv = " inverted" if hm.invert_match else ""
    name = hm.name.lower()
    if hm.present_match is not None or not has_value_matcher(hm):
        want = hm.present_match if hm.present_match is not None else True
        return f"{name} {'present' if want else 'absent'}{inv}"
    sm = hm.string_match
    ic = " (ignore_case)" if sm is not None and sm.ignore_case else ""
    for kind, value in (
        ("exact", hm.exact_match if sm is None else sm.exact),
        ("prefix", hm.prefix_match if sm is None else sm.prefix),
        ("suffix", hm.suffix_match if sm is None else sm.suffix),
        ("contains", hm.contains_match if sm is None else sm.contains),
    ):
        if value is not None:
            return f"{name} {kind} {value!r}{ic}{inv}"
    regex = sm.safe_regex if sm is not None else hm.safe_regex_match
    if regex is not None or hm.regex_match is not None:
        pattern = regex.regex if regex is not None else hm.regex_match
        return f"{name} regex {pattern!r}{inv}"
    r = hm.range_match
    return f"{name} range [{r.start},{r.end}){inv}" if r is not None else f"{name} matches{inv}"
