"""Headers whose value only Envoy knows, and which header matchers depend on them.

Also what the connection manager does to the headers before routing: whether it counts
the client as internal (:func:`client_internal`), the hop-by-hop headers it removes
(:func:`hop_by_hop`), the route configuration's ``internal_only_headers``
(:func:`internal_only`).

Envoy's connection manager sets some request headers before routing and the HTTP
filters run (:func:`pdebug.trace.filters.seen_by_filters` lists them with why): a
generated ``x-request-id``, ``x-forwarded-for`` with the client's address appended when
pdebug is not told it, the ``x-envoy-*`` headers it strips from an external client. A
matcher on such a header (a route's, an RBAC rule's, a scope key's) is unknown.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from pdebug.model import schema as s
from pdebug.model.dump import plain_json
from pdebug.trace.matchers import as_obj, as_seq, is_set, snake_tree
from pdebug.trace.request import IP, HttpRequest, ip_of

#: In the unsure headers: every ``x-envoy-*`` header (use_remote_address).
EDGE = "x-envoy-*"
#: Before a header name in the unsure headers: its presence is unknown too.
MAYBE_GONE = "?"
#: The hop-by-hop headers Envoy 1.40 removes before routing (and ``te`` unless ``trailers``).
_HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection")


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


def client_internal(
    http: HttpRequest, hcm: s.HttpConnectionManager, client: IP | None
) -> tuple[bool | None, IP | None, str]:
    """Whether Envoy counts the client as internal, the address it settles on, and why.

    Checked against Envoy 1.40 (tests/test_trace_left2.py): with ``use_remote_address``
    the address is the connection's (or, with ``xff_num_trusted_hops`` N, the Nth
    ``x-forwarded-for`` entry from the end), and only a request that came without
    ``x-forwarded-for`` can be internal; without it the address is the ``x-forwarded-for``
    entry after the trusted hops, and only a one-entry ``x-forwarded-for`` can be internal.
    Without ``internal_address_config`` no client is internal; with one that has no
    ``cidr_ranges``, a private address (RFC 1918, fc00::/7) is. ``http``: the request as
    the client sent it.
    """
    xff = [p.strip() for v in (http.values("x-forwarded-for") or []) for p in v.split(",")]
    xff = [p for p in xff if p]
    hops = max(hcm.xff_num_trusted_hops, 0)
    final: IP | None
    if hcm.use_remote_address:
        single = not xff
        final = ip_of(xff[-hops]) if hops and len(xff) >= hops else None
        final = client if final is None else final
        why = "the client's IP decides: give --source-ip" if final is None else ""
    else:
        single = len(xff) == 1
        final = ip_of(xff[-hops - 1]) if len(xff) > hops else None
        why = ""
    config = hcm.internal_address_config
    if not is_set(config):
        return False, final, why or "no internal_address_config: no client is internal"
    ranges = _cidrs(as_obj(snake_tree(plain_json(config, "internal_address_config"))))
    if ranges is None:
        return None, final, "internal_address_config not read"
    if not single:
        return False, final, "x-forwarded-for"
    if final is None:
        return (None, final, why) if why else (False, final, "no client address in the request")
    return any(final in net for net in ranges), final, f"client {final}"


#: What Envoy 1.40 counts as internal when ``internal_address_config`` is there without
#: ``cidr_ranges`` (``{}``, or ``unix_sockets`` alone): private addresses, RFC 1918 and
#: fc00::/7, not loopback nor 100.64/10 (checked by tests/test_trace12.py).
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _cidrs(config: dict[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """``internal_address_config``'s ``cidr_ranges`` (None: one is unreadable).

    Without any, the private ranges Envoy then counts as internal.
    """
    if not as_seq(config.get("cidr_ranges")):
        return list(_PRIVATE)
    out = []
    for item in as_seq(config.get("cidr_ranges")):
        cidr = as_obj(item)
        try:
            length = int(cidr.get("prefix_len", 0))
            out.append(ipaddress.ip_network(f"{cidr.get('address_prefix')}/{length}", False))
        except (TypeError, ValueError):
            return None
    return out


def hop_by_hop(headers: dict[str, list[str]]) -> None:
    """Remove what Envoy 1.40's connection manager removes before routing (in place).

    ``connection``, ``keep-alive``, ``proxy-connection``, the headers ``connection``
    names, ``upgrade`` outside an upgrade request, and ``te`` unless it is ``trailers``
    (checked by tests/test_trace_left2.py).
    """
    named = {
        part.strip().lower()
        for v in headers.get("connection", [])
        for part in v.split(",")
        if part.strip()
    }
    upgrade = "upgrade" in named and "upgrade" in headers
    if upgrade:
        return
    for name in (*_HOP_BY_HOP, *named, "upgrade"):
        if not name.startswith(":"):
            headers.pop(name, None)
    te = [p.strip().lower() for v in headers.get("te", []) for p in v.split(",")]
    if "te" in headers:
        if "trailers" in te:
            headers["te"] = ["trailers"]
        else:
            del headers["te"]


def internal_only(
    http: HttpRequest,
    unsure: tuple[tuple[str, str], ...],
    names: list[str],
    internal: bool | None,
) -> tuple[HttpRequest, tuple[tuple[str, str], ...]]:
    """The route configuration's ``internal_only_headers`` removed from an external request."""
    present = [n.lower() for n in names if n.lower() in http.headers]
    if internal or not present:
        return http, unsure
    if internal is None:
        why = "which Envoy removes unless the client is internal (internal_only_headers)"
        return http, unsure + tuple((MAYBE_GONE + n, f"{n}, {why}") for n in present)
    headers = {k: v for k, v in http.headers.items() if k not in present}
    return HttpRequest(http.authority, http.path, http.method, http.scheme, headers), unsure


Known = list[tuple[s.HeaderMatcher, bool]]


def contradicts(
    known: Known,
    match: Callable[[s.HeaderMatcher, HttpRequest], tuple[bool, str]],
    present: frozenset[str] = frozenset(),
) -> bool:
    """Whether no request can meet every (matcher, whether it matches) in ``known``.

    Routes tried one after another on the same unsure header are correlated: once route
    A on ``x-request-id exact 'a'`` did not match, route B on the same matcher cannot,
    and once B on ``exact 'b'`` matched, the header is ``b``. Found: the same matcher
    wanted both ways, or a header one condition pins (an exact value, or absent) on
    which another condition goes the other way. Anything else is taken as possible.
    ``present``: headers the request surely has; on them an inverted value matcher is
    the plain one wanted the other way (an absent header matches neither). ``match``:
    :func:`pdebug.trace.routes.match_header`.
    """
    import msgspec

    by_name: dict[str, Known] = {}
    for hm, want in known:
        name = hm.name.lower()
        if hm.invert_match and name in present and has_value_matcher(hm):
            hm, want = msgspec.structs.replace(hm, invert_match=False), not want
        by_name.setdefault(name, []).append((hm, want))
    for name, group in by_name.items():
        texts = {(matcher_text(hm), want) for hm, want in group}
        if any((text, not want) in texts for text, want in texts):
            return True
        pinned = _pinned(group)
        if pinned is None:
            continue
        headers = {name: [pinned]} if isinstance(pinned, str) else {}
        request = HttpRequest("", "", "", "", headers)
        if any(match(hm, request)[0] != want for hm, want in group):
            return True
    return False


def _pinned(group: Known) -> str | bool | None:
    """The value a condition pins the header to, False when absent, None when none does."""
    for hm, want in group:
        if hm.invert_match or hm.treat_missing_header_as_empty:
            continue
        sm = hm.string_match
        exact = hm.exact_match if sm is None else sm.exact
        if want and exact is not None and hm.present_match is None and not (sm and sm.ignore_case):
            return exact
        present = hm.present_match if hm.present_match is not None else None
        if present is not None and not has_value_matcher(hm) and present != want:
            return False
    return None
