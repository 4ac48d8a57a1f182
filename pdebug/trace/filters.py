"""The filters a request meets before the router: what they share, faults, Istio's CUSTOM.

RBAC's own rules (permissions, principals, the engine) are in :mod:`pdebug.trace.rbac`.

Pure functions over one filter's config (plain JSON in snake_case, the policy names kept
as written) and what Envoy knows of the request and its connection (:class:`Facts`).
Each returns a :class:`FilterResult`: pass, deny (403, or a closed connection for the
network RBAC filter), abort (a fault's status), skip (disabled on the route), or unknown
(the answer depends on something pdebug is not told: the client's identity without
``--source-principal``, its IP without ``--source-ip``, JWT claims, an ext_authz server).

Envoy's rules (checked against a real Envoy 1.40 by ``tests/test_trace_filters.py``):

* **RBAC.** ``rules`` absent: nothing enforced. A policy matches when one of its
  ``permissions`` and one of its ``principals`` match; policies are tried in name order
  (the first matching one is the effective policy). ALLOW: allowed only when a policy
  matches (``rules`` with no policies denies everything); DENY: denied when one matches;
  LOG: always allowed. A denied request is answered ``403 RBAC: access denied`` (the
  network filter closes the connection). ``shadow_rules`` are evaluated and never
  enforced; the matching shadow policy is written to the dynamic metadata
  ``envoy.filters.http.rbac``/``{shadow_rules_stat_prefix}shadow_effective_policy_id``,
  which Istio's CUSTOM action (an ext_authz filter with ``filter_enabled_metadata``)
  reads to decide whether to ask the provider.
* **Per route** (:mod:`pdebug.trace.perroute`). ``typed_per_filter_config[FILTER NAME]``
  of the route, else its virtual host, else the route configuration: an
  ``RBACPerRoute`` replaces the policy (without
  ``rbac`` it turns the filter off), a ``FilterConfig`` turns the filter off or on
  (``disabled``) or replaces its config, an ``HTTPFault`` replaces the fault's config.
  A request no route matches gets no per-route config, not even its virtual host's.
* **Fault.** An abort (``http_status``, ``grpc_status`` or ``header_abort``) applies to
  ``percentage`` of the requests whose ``headers`` match (absent percentage: 0%); 100% is
  a certain answer, less is a caveat; delays are noted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from pdebug.model import schema as s
from pdebug.model.dump import decode_raw, plain_json
from pdebug.model.listeners import unwrapped_config
from pdebug.trace.matchers import as_obj, as_seq, ascii_lower, fullmatch_bounded, is_set
from pdebug.trace.request import (
    EDGE_STRIPPED,
    EXTERNAL_STRIPPED,
    INLINE_REQUEST_HEADERS,
    IP,
    HttpRequest,
    ip_of,
)
from pdebug.trace.unsure import MAYBE_GONE, client_internal, hop_by_hop, unsure_header

Json = dict[str, Any]
#: True, False, or None: pdebug cannot tell (the text says what it depends on).
Tri = bool | None
Effect = Literal["pass", "deny", "abort", "skip", "unknown"]

RBAC = "rbac"
FAULT = "fault"
EXT_AUTHZ = "ext_authz"
JWT = "jwt_authn"
#: The dynamic metadata namespace the HTTP RBAC filter writes its shadow results under.
RBAC_METADATA = "envoy.filters.http.rbac"
#: The filter state Istio keeps the mTLS peer's identity under (read by its RBAC rules).
PEER_PRINCIPAL = "io.istio.peer_principal"
_KINDS = {
    ".rbac.v3.RBAC": RBAC,
    ".rbac.v2.RBAC": RBAC,
    ".fault.v3.HTTPFault": FAULT,
    ".fault.v2.HTTPFault": FAULT,
    ".ext_authz.v3.ExtAuthz": EXT_AUTHZ,
    ".ext_authz.v2.ExtAuthz": EXT_AUTHZ,
    ".jwt_authn.v3.JwtAuthentication": JWT,
}
_NAMES = {
    "envoy.filters.http.rbac": RBAC,
    "envoy.filters.network.rbac": RBAC,
    "envoy.filters.http.fault": FAULT,
    "envoy.fault": FAULT,
    "envoy.filters.http.ext_authz": EXT_AUTHZ,
    "envoy.ext_authz": EXT_AUTHZ,
    "envoy.filters.http.jwt_authn": JWT,
}
_TYPE = re.compile(rb'"@type"\s*:\s*"([^"]*)"')
_DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
_NO_HEADERS = HttpRequest("", "", "", "", {})
_FCC = ("SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY")
_INTERNAL_WHY = "which Envoy removes unless the client is internal (internal_address_config)"
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Facts:
    """What a filter can see of the request and its connection (None: unknown).

    ``http`` is None for a network filter. ``tls``: the chain terminates TLS, so the
    client may present a certificate (its identity is ``principal``, from
    ``--source-principal``); ``peer_state``: Istio's peer identity filter state is set
    (a waypoint's HBONE tunnel carries it). ``remote_ip`` is the client address the
    connection manager settles on (``x-forwarded-for`` per its trusted hops);
    ``remote_why`` says how, or why it is unknown.
    """

    http: HttpRequest | None
    dest_ip: IP | None
    dest_port: int
    source_ip: IP | None
    remote_ip: IP | None
    remote_why: str
    server_name: str
    tls: bool
    principal: str | None
    peer_state: bool = False
    #: The physical peer (``direct_remote_ip``): the client, unless a PROXY protocol
    #: header (a load balancer's) named another one; ``direct_why`` when unknown.
    direct_ip: IP | None = None
    direct_why: str = "the client's IP: give --source-ip"
    #: Headers the connection manager sets before the filters run with a value pdebug
    #: cannot know: name -> why (``x-request-id``, or ``x-forwarded-for`` without the
    #: client's address). ``http`` holds them with a stand-in value.
    unsure_headers: tuple[tuple[str, str], ...] = ()


@dataclass
class FilterResult:
    """What one filter does to the request."""

    effect: Effect
    reason: str
    status: int | None = None
    #: The policy (or fault) that decided, when one did.
    policy: str | None = None
    #: RBAC: ``ALLOW``, ``DENY`` or ``LOG``.
    action: str = ""
    #: What an ``unknown`` depends on.
    depends: str = ""
    #: The decision without Envoy's answer (for the verdict's summary).
    why: str = ""
    #: The shadow rules' outcome (``allowed``/``denied``/``unknown``) and policy, if any.
    shadow: str = ""
    shadow_policy: str | None = None
    notes: list[str] = field(default_factory=list)
    #: Dynamic metadata written: (namespace, key) -> value (None: unknown whether/what).
    metadata: dict[tuple[str, str], str | None] = field(default_factory=dict)


def filter_kind(f: s.TypedExtension) -> str:
    """:data:`RBAC`, :data:`FAULT`, :data:`EXT_AUTHZ`, :data:`JWT` or ``""`` (by type or name).

    The type is the one a ``TypedStruct`` wraps, if one does (:func:`unwrapped_config`).
    """
    head = memoryview(unwrapped_config(f))[:300].tobytes()
    found = _TYPE.search(head)
    if found is not None:
        tp = found.group(1).decode("latin-1")
        return next((kind for suffix, kind in _KINDS.items() if tp.endswith(suffix)), "")
    return _NAMES.get(f.name, "")


def terminal_module(f: s.TypedExtension) -> bool:
    """A dynamic module filter with ``terminal_filter``: the module answers, no upstream."""
    head = bytes(f.typed_config)
    if b"dynamic_modules.v3.DynamicModuleFilter" not in head:
        return False
    return bool(re.search(rb'"terminal_?[fF]ilter"\s*:\s*true', head))


def config_of(raw: msgspec.Raw, what: str) -> Json:
    """A filter's (or per-route) config as plain snake_case JSON; ``{}`` when absent."""
    if not is_set(raw):
        return {}
    value = plain_json(raw, what)
    return as_obj(snake(value))


def snake(tree: Any, data: bool = False, depth: int = 0) -> Any:
    """``tree`` with field names in snake_case; the keys of maps of names are kept."""
    from pdebug.model.camel import to_snake

    if depth > _MAX_DEPTH:
        return tree
    if isinstance(tree, list):
        return [snake(v, depth=depth + 1) for v in tree]
    if not isinstance(tree, dict):
        return tree
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = key if data or key.startswith("@") else to_snake(key)
        named = name in ("policies", "providers", "requirement_map")  # RBAC's, jwt_authn's
        out[name] = snake(value, data=named, depth=depth + 1)
    return out


# --- matching --------------------------------------------------------------------------

#: (matched, why): for None, what the answer depends on.
Match = tuple[Tri, str]


def string_match(vm: Json, value: str) -> Match:
    """A ``StringMatcher`` over ``value``: (matched, what it wants)."""
    fold = bool(vm.get("ignore_case"))
    text = ascii_lower(value) if fold else value
    ic = " (ignore_case)" if fold else ""
    for key in ("exact", "prefix", "suffix", "contains"):
        if key in vm:
            want = str(vm[key])
            w = ascii_lower(want) if fold else want
            ok = {
                "exact": text == w,
                "prefix": text.startswith(w),
                "suffix": text.endswith(w),
                "contains": w in text,
            }[key]
            return ok, f"{key} {want!r}{ic}"
    if "safe_regex" in vm:
        pattern = str(as_obj(vm["safe_regex"]).get("regex", ""))
        from pdebug.trace.re2 import compile_re2

        rx = compile_re2(pattern)
        if rx is None:
            return None, f"regex {pattern!r}, which pdebug cannot read as RE2 does"
        found = fullmatch_bounded(rx, value)
        if found is None:
            return None, f"regex {pattern!r} (pdebug gave up: Python's re backtracks on it)"
        return found, f"regex {pattern!r}"
    return None, "a string match pdebug does not evaluate"


def number(value: Any) -> int | None:
    """A JSON number (or a numeric string, as protobuf JSON writes 64-bit ones), else None."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def header_match(hm: Json, facts: Facts) -> Match:
    """A ``HeaderMatcher`` over the request (a network filter sees no headers)."""
    from pdebug.trace.routes import match_header

    matcher = decode_raw(
        msgspec.Raw(msgspec.json.encode(hm)), s.HeaderMatcher, False, "an RBAC header matcher"
    )
    why = unsure_header(matcher, facts.unsure_headers)
    if why is not None:
        return None, why
    return match_header(matcher, facts.http if facts.http is not None else _NO_HEADERS)


def seen_by_filters(
    http: HttpRequest, hcm: s.HttpConnectionManager, client: IP | None, cert: bool | None = False
) -> tuple[HttpRequest, tuple[tuple[str, str], ...]]:
    """The request as the HTTP filters see it: the connection manager's header edits.

    Checked against Envoy 1.40: several ``x-forwarded-for`` (``user-agent``, any of
    :data:`~pdebug.trace.request.INLINE_REQUEST_HEADERS`) headers are one value joined
    with ``,``; with ``use_remote_address``
    (and not ``skip_xff_append``) the client's address is appended to it after a ``,``;
    ``x-request-id`` is generated when the request has none (unless
    ``generate_request_id`` is false), and an external client's may be replaced. The
    hop-by-hop headers are removed. An internal client (:func:`client_internal`) gets
    ``x-envoy-internal: true``; from any other the x-envoy-* headers of
    :data:`~pdebug.trace.request.EXTERNAL_STRIPPED` are removed, and with
    ``use_remote_address`` those of :data:`~pdebug.trace.request.EDGE_STRIPPED` too, and
    ``x-envoy-external-address`` is set to its address; ``x-forwarded-client-cert``
    is removed unless ``forward_client_cert_details`` forwards it (``cert``: whether the
    client presents a certificate, None unknown). The second value lists the headers
    whose value pdebug cannot know (with why).
    """
    # a repeated inline header (x-forwarded-for, user-agent, ...) is one value joined
    # with ","; other repeated headers stay apart
    headers = {
        name: [",".join(values)] if len(values) > 1 and name in INLINE_REQUEST_HEADERS else values
        for name, values in http.headers.items()
    }
    unsure: list[tuple[str, str]] = []
    hop_by_hop(headers)
    internal, final, why = client_internal(http, hcm, client)
    xff = headers.get("x-forwarded-for", [])
    if hcm.use_remote_address and not hcm.skip_xff_append:
        address = str(client) if client is not None else "0.0.0.0"
        headers["x-forwarded-for"] = [f"{xff[0]},{address}" if xff else address]
        if client is None:
            why_xff = "x-forwarded-for, to which Envoy appends the client's IP: give --source-ip"
            unsure.append(("x-forwarded-for", why_xff))
        elif client.is_loopback:
            why_xff = (
                "x-forwarded-for, to which Envoy appends its own address for a loopback client"
            )
            unsure.append(("x-forwarded-for", why_xff))
    if hcm.generate_request_id is not False:
        given = "x-request-id" in headers
        if not given or (hcm.use_remote_address and not hcm.preserve_external_request_id):
            headers.setdefault("x-request-id", ["00000000-0000-0000-0000-000000000000"])
            unsure.append(("x-request-id", "x-request-id, which Envoy generates"))
    stripped = EXTERNAL_STRIPPED | (EDGE_STRIPPED if hcm.use_remote_address else frozenset())
    if internal:  # Envoy marks it and strips nothing
        headers["x-envoy-internal"] = ["true"]
    elif internal is False:
        for name in stripped:
            headers.pop(name, None)
        if hcm.use_remote_address:  # an edge request: Envoy says whom it came from
            headers["x-envoy-external-address"] = [str(final) if final else "0.0.0.0"]
            if final is None:
                unsure.append(("x-envoy-external-address", f"x-envoy-external-address, {why}"))
    else:  # whether the client is internal decides: the client's such headers may go,
        # and Envoy sets x-envoy-internal for an internal one
        maybe = {n for n in stripped if n in headers} | {"x-envoy-internal"}
        if hcm.use_remote_address:
            maybe.add("x-envoy-external-address")
        for name in sorted(maybe):
            unsure.append((MAYBE_GONE + name, f"{name}, {_INTERNAL_WHY} ({why})"))
    # x-forwarded-client-cert: kept (ALWAYS_FORWARD_ONLY), else removed unless the client
    # presents a certificate, which FORWARD_ONLY keeps and the others rewrite
    fcc = hcm.forward_client_cert_details
    fcc = _FCC[fcc] if isinstance(fcc, int) and 0 <= fcc < len(_FCC) else str(fcc or "SANITIZE")
    if fcc == "SANITIZE" or (cert is False and fcc != "ALWAYS_FORWARD_ONLY"):
        headers.pop("x-forwarded-client-cert", None)
    elif fcc not in ("ALWAYS_FORWARD_ONLY", "FORWARD_ONLY") or cert is None:
        why = (
            "x-forwarded-client-cert, which Envoy removes unless the client presents a "
            f"certificate, and may rewrite (forward_client_cert_details {fcc})"
        )
        unsure.append((MAYBE_GONE + "x-forwarded-client-cert", why))
    view = HttpRequest(http.authority, http.path, http.method, http.scheme, headers)
    return view, tuple(unsure)


def ext_authz(config: Json, metadata: dict[tuple[str, str], str | None]) -> FilterResult:
    """An ext_authz filter: Istio's CUSTOM action when ``filter_enabled_metadata`` is set."""
    gate = as_obj(config.get("filter_enabled_metadata"))
    provider = _provider(config)
    if not gate:
        return FilterResult("skip", "not evaluated: every request is asked of " + provider)
    ns = str(gate.get("filter", ""))
    path = ".".join(str(as_obj(p).get("key", "")) for p in as_seq(gate.get("path")))
    key = (ns, path)
    want = as_obj(as_obj(gate.get("value")).get("string_match"))
    if key not in metadata:
        return FilterResult(
            "pass", f"not asked: no {ns}[{path}] metadata (no shadow policy matched)"
        )
    value = metadata[key]
    if value is None:
        return FilterResult(
            "unknown",
            f"whether {provider} is asked depends on the shadow rules",
            depends=f"whether the CUSTOM policy applies (then the ext_authz provider {provider})",
        )
    ok, desc = string_match(want, value)
    if ok is False:
        return FilterResult("pass", f"not asked: {ns}[{path}] {value!r} does not match {desc}")
    return FilterResult(
        "unknown",
        f"asked ({value} matches): the answer is {provider}'s",
        policy=value,
        depends=f"the ext_authz provider {provider} (CUSTOM policy {value})",
    )


def _provider(config: Json) -> str:
    grpc = as_obj(config.get("grpc_service"))
    cluster = as_obj(grpc.get("envoy_grpc")).get("cluster_name")
    if cluster:
        return f"cluster {cluster}"
    http = as_obj(as_obj(config.get("http_service")).get("server_uri"))
    if http.get("cluster"):
        return f"cluster {http['cluster']}"
    return "the ext_authz service"


def _first(http: HttpRequest, name: str) -> str | None:
    values = http.values(name)
    return values[0] if values else None


def _percent(frac: Any) -> float:
    """A ``FractionalPercent`` as a percentage (absent: 0)."""
    f = as_obj(frac)
    num = float(number(f.get("numerator")) or 0)
    den = _DENOMINATORS.get(str(f.get("denominator", "HUNDRED")), 100)
    return min(100.0, 100.0 * num / den)


def fault(config: Json, facts: Facts, cluster: str | None) -> FilterResult:
    """One fault filter over the request: an abort, delays, or nothing."""
    http = facts.http if facts.http is not None else _NO_HEADERS
    notes: list[str] = []
    for hm in as_seq(config.get("headers")):
        ok, why = header_match(as_obj(hm), facts)
        if not ok:
            return FilterResult("pass", f"not applied: {why}")
    nodes = [str(n) for n in as_seq(config.get("downstream_nodes"))]
    if nodes:
        node = (http.values("x-envoy-downstream-service-node") or [""])[0]
        if node not in nodes:
            return FilterResult("pass", f"not applied: downstream node {node!r} not listed")
    upstream = str(config.get("upstream_cluster", ""))
    if upstream and cluster is not None and upstream != cluster:
        return FilterResult("pass", f"not applied: only for upstream cluster {upstream}")
    if upstream and cluster is None:
        notes.append(f"fault applies only to requests for upstream cluster {upstream}")
    delay = as_obj(config.get("delay"))
    parts: list[str] = []
    if delay:
        pct = _percent(delay.get("percentage"))
        if "header_delay" in delay:
            given = _first(http, "x-envoy-fault-delay-request")
            if given is not None and pct:
                parts.append(f"delays {given}ms (x-envoy-fault-delay-request) {pct:g}% of requests")
            else:
                notes.append("fault: a request with x-envoy-fault-delay-request is delayed")
        elif pct:
            parts.append(f"delays {delay.get('fixed_delay', '?')} on {pct:g}% of requests")
    notes.extend(f"fault injection {p}" for p in parts)
    abort = as_obj(config.get("abort"))
    if not abort:
        return FilterResult("pass", "; ".join(parts) if parts else "no abort", notes=notes)
    pct = _percent(abort.get("percentage"))
    status: int | None = None
    how = ""
    if number(abort.get("http_status")) is not None:
        status = number(abort.get("http_status"))
        how = f"HTTP {status}"
    elif "grpc_status" in abort:
        status, how = 200, f"gRPC status {abort['grpc_status']}"
    elif "header_abort" in abort:
        given = _first(http, "x-envoy-fault-abort-request")
        if given is None or not given.isdigit():
            reason = "no abort: the request has no x-envoy-fault-abort-request header"
            return FilterResult("pass", reason, notes=notes)
        status, how = int(given), f"HTTP {given} (x-envoy-fault-abort-request)"
    else:
        return FilterResult("pass", "an abort pdebug does not read", notes=notes)
    delay_text = ("; " + "; ".join(parts)) if parts else ""
    if pct >= 100.0:
        return FilterResult(
            "abort", f"aborts 100% of requests with {how}{delay_text}", status, notes=notes
        )
    if pct <= 0.0:
        return FilterResult("pass", f"aborts 0% of requests ({how}){delay_text}", notes=notes)
    notes.append(f"fault injection aborts {pct:g}% of these requests with {how}")
    return FilterResult("pass", f"aborts {pct:g}% of requests with {how}{delay_text}", notes=notes)


# --- per route -------------------------------------------------------------------------


def remote_address(
    http: HttpRequest, source_ip: IP | None, use_remote_address: bool, hops: int
) -> tuple[IP | None, str]:
    """The client address the connection manager settles on (RBAC's ``remote_ip``)."""
    xff = [p.strip() for v in (http.values("x-forwarded-for") or []) for p in v.split(",")]
    xff = [p for p in xff if p]
    pick = hops if use_remote_address else hops + 1
    if xff and pick and len(xff) >= pick:
        ip = ip_of(xff[-pick])
        if ip is not None:
            return ip, f"x-forwarded-for {ip}"
        if source_ip is None:
            return None, f"the client's IP (x-forwarded-for {xff[-pick]!r} is not an IP)"
        # checked against Envoy 1.40: it falls back to the connection's address
        return source_ip, f"the client IP {source_ip} (x-forwarded-for {xff[-pick]!r} is not an IP)"
    if source_ip is None:
        return None, "the client's IP: give --source-ip"
    return source_ip, f"the client IP {source_ip}"
