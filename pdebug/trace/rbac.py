"""The RBAC filter's rules: which policy matches a request, and what the filter does.

Envoy's engine (checked against a real Envoy 1.40 by ``tests/test_trace_filters.py``):
``rules`` absent enforce nothing; a policy matches when one of its ``permissions`` and
one of its ``principals`` match and its CEL ``condition`` is true
(:mod:`pdebug.trace.cel`); policies are tried in name order (the first matching one is
the effective policy). ALLOW: allowed only when a policy matches; DENY: denied
when one matches; LOG: always allowed. ``shadow_rules`` are evaluated, never enforced;
their matching policy is written to the dynamic metadata that Istio's CUSTOM action reads.
Each matcher is three-valued: True, False, or None with what the answer depends on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from pdebug.trace.filters import (
    PEER_PRINCIPAL,
    RBAC_METADATA,
    Facts,
    FilterResult,
    Json,
    Match,
    Tri,
    header_match,
    number,
    string_match,
)
from pdebug.trace.matchers import as_obj
from pdebug.trace.matchers import as_seq as seq
from pdebug.trace.request import IP

_MAX_DEPTH = 64


def _cidr(rng: Json, ip: IP) -> bool:
    prefix = str(rng.get("address_prefix", ""))
    length = number(rng.get("prefix_len", 0))
    try:
        net = ipaddress.ip_network(f"{prefix}/{length or 0}", strict=False)
    except (ValueError, TypeError):
        return False
    return ip.version == net.version and ip in net


def _ip(rng: Json, ip: IP | None, what: str, unknown: str) -> Match:
    cidr = f"{rng.get('address_prefix', '')}/{rng.get('prefix_len', 0)}"
    if ip is None:
        return None, unknown
    ok = _cidr(rng, ip)
    return ok, f"{what} {ip} {'in' if ok else 'not in'} {cidr}"


def _url_path(pm: Json, facts: Facts) -> Match:
    if facts.http is None:
        return False, "url_path: a network filter sees no HTTP request"
    path = facts.http.path_only
    ok, desc = string_match(as_obj(pm.get("path")), path)
    if ok is None:
        return None, f"url_path {desc}"
    return ok, f"path {path!r} {'matches' if ok else 'does not match'} {desc}"


_PRINCIPAL_HINT = "give --source-principal spiffe://DOMAIN/ns/NS/sa/SA"


def _principal_name(vm: Json, facts: Facts, how: str) -> Match:
    """The client's identity (its certificate's URI SAN) against ``vm``."""
    if facts.principal is None:
        return None, f"the client's identity ({how}): {_PRINCIPAL_HINT}"
    ok, desc = string_match(vm, facts.principal)
    if ok is None:
        return None, f"{how} {desc}"
    verb = "matches" if ok else "does not match"
    return ok, f"principal {facts.principal} {verb} {desc}"


def _authenticated(a: Json, facts: Facts) -> Match:
    """``authenticated``: the client certificate's URI SANs, DNS SANs, then its subject.

    Envoy tries each in that order (checked against Envoy 1.40 by
    tests/test_trace_left.py); ``--source-principal`` gives one URI SAN, so a miss on it
    is only as sure as what the others can be.
    """
    if not facts.tls:
        return False, "authenticated: no TLS on this chain, so no client certificate"
    if "principal_name" not in a:
        return True, "authenticated: a TLS connection"
    vm = as_obj(a.get("principal_name"))
    ok, why = _principal_name(vm, facts, "authenticated.principal_name")
    if ok is not False:
        return ok, why
    if _uri_only(vm):
        return False, (
            f"{why} (assumed: the certificate has no other URI SAN that matches, and its "
            "subject does not; a DNS SAN never holds a '/')"
        )
    return None, (
        f"{why}; Envoy also tries the client certificate's DNS SANs and subject, which "
        "pdebug does not know (--source-principal is its URI SAN)"
    )


def _uri_only(vm: Json) -> bool:
    """Whether only a URI could match string matcher ``vm`` (its text holds a ``/``)."""
    text = next((vm.get(k) for k in ("exact", "prefix", "suffix", "contains") if k in vm), None)
    return isinstance(text, str) and "/" in text


def _filter_state(fs: Json, facts: Facts) -> Match:
    key = str(fs.get("key", ""))
    if key != PEER_PRINCIPAL or "string_match" not in fs:
        return None, f"filter state {key!r} (not evaluated)"
    if not (facts.tls or facts.peer_state):
        return False, f"filter state {key}: no mTLS peer on this chain"
    return _principal_name(as_obj(fs.get("string_match")), facts, f"filter state {key}")


def _metadata(mm: Json, facts: Facts) -> Match:
    name = str(mm.get("filter", ""))
    path = ".".join(str(as_obj(p).get("key", "")) for p in seq(mm.get("path")))
    if name == "istio_authn" and path == "source.principal":
        value = as_obj(mm.get("value"))
        if "string_match" in value:
            return _principal_name(as_obj(value["string_match"]), facts, "istio_authn")
    return None, f"dynamic metadata {name}[{path}] (not evaluated: set by another filter)"


def permission(p: Json, facts: Facts, depth: int = 0) -> Match:
    """One RBAC ``Permission`` (what the request does)."""
    if depth > _MAX_DEPTH:
        return None, "a permission nested too deep"
    if p.get("any") is True:
        return True, "any"
    if "and_rules" in p:
        return _all(seq(as_obj(p["and_rules"]).get("rules")), permission, facts, depth)
    if "or_rules" in p:
        return _any(seq(as_obj(p["or_rules"]).get("rules")), permission, facts, depth)
    if "not_rule" in p:
        return _not(permission(as_obj(p["not_rule"]), facts, depth + 1))
    if "header" in p:
        return header_match(as_obj(p["header"]), facts)
    if "url_path" in p:
        return _url_path(as_obj(p["url_path"]), facts)
    if "destination_ip" in p:
        return _ip(
            as_obj(p["destination_ip"]),
            facts.dest_ip,
            "destination",
            "the destination IP (put the IP in the URL, the name in -H Host:NAME)",
        )
    if "destination_port" in p:
        want = number(p.get("destination_port")) or 0
        ok = facts.dest_port == want
        return ok, f"destination port {facts.dest_port} {'is' if ok else 'is not'} {want}"
    if "destination_port_range" in p:
        rng = as_obj(p["destination_port_range"])
        lo, hi = number(rng.get("start")) or 0, number(rng.get("end")) or 0
        ok = lo <= facts.dest_port < hi
        return ok, f"destination port {facts.dest_port} {'in' if ok else 'not in'} [{lo},{hi})"
    if "requested_server_name" in p:
        sni, desc = string_match(as_obj(p["requested_server_name"]), facts.server_name)
        return sni, f"SNI {facts.server_name!r} {'matches' if sni else 'does not match'} {desc}"
    if "metadata" in p:
        return _metadata(as_obj(p["metadata"]), facts)
    kinds = ", ".join(sorted(p)) or "empty"
    return None, f"permission {kinds} (not evaluated by pdebug)"


def principal(p: Json, facts: Facts, depth: int = 0) -> Match:
    """One RBAC ``Principal`` (who sends the request)."""
    if depth > _MAX_DEPTH:
        return None, "a principal nested too deep"
    if p.get("any") is True:
        return True, "any"
    if "and_ids" in p:
        return _all(seq(as_obj(p["and_ids"]).get("ids")), principal, facts, depth)
    if "or_ids" in p:
        return _any(seq(as_obj(p["or_ids"]).get("ids")), principal, facts, depth)
    if "not_id" in p:
        return _not(principal(as_obj(p["not_id"]), facts, depth + 1))
    if "authenticated" in p:
        return _authenticated(as_obj(p["authenticated"]), facts)
    if "filter_state" in p:
        return _filter_state(as_obj(p["filter_state"]), facts)
    if "direct_remote_ip" in p:
        return _ip(as_obj(p["direct_remote_ip"]), facts.direct_ip, "peer", facts.direct_why)
    if "source_ip" in p:
        why = "the client's IP: give --source-ip"
        return _ip(as_obj(p["source_ip"]), facts.source_ip, "client", why)
    if "remote_ip" in p:
        return _ip(as_obj(p["remote_ip"]), facts.remote_ip, "remote", facts.remote_why)
    if "header" in p:
        return header_match(as_obj(p["header"]), facts)
    if "url_path" in p:
        return _url_path(as_obj(p["url_path"]), facts)
    if "metadata" in p:
        return _metadata(as_obj(p["metadata"]), facts)
    kinds = ", ".join(sorted(p)) or "empty"
    return None, f"principal {kinds} (not evaluated by pdebug)"


def _all(items: list[Any], one: Any, facts: Facts, depth: int) -> Match:
    unknown: list[str] = []
    for item in items:
        ok, why = one(as_obj(item), facts, depth + 1)
        if ok is False:
            return False, why
        if ok is None:
            unknown.append(why)
    if unknown:
        return None, "; ".join(dict.fromkeys(unknown))
    return True, "all of " + str(len(items))


def _any(items: list[Any], one: Any, facts: Facts, depth: int) -> Match:
    unknown: list[str] = []
    last = f"none of {len(items)}"
    for item in items:
        ok, why = one(as_obj(item), facts, depth + 1)
        if ok is True:
            return True, why
        if ok is None:
            unknown.append(why)
        else:
            last = why
    if unknown:
        return None, "; ".join(dict.fromkeys(unknown))
    return False, last if len(items) == 1 else f"none of {len(items)} matches"


def _not(m: Match) -> Match:
    ok, why = m
    if ok is None:
        return None, why
    return (not ok), f"not ({why})"


def policy_match(policy: Json, facts: Facts) -> Match:
    """A policy: one of its permissions, one of its principals and its CEL condition."""
    from pdebug.trace.cel import condition

    perms = seq(policy.get("permissions"))
    ok, why = _any(perms, permission, facts, 0)
    if ok is False:
        return False, why
    who, why2 = _any(seq(policy.get("principals")), principal, facts, 0)
    if who is False:
        return False, why2
    cond = condition(policy, facts)
    cel, why3 = cond if cond is not None else (True, "")
    if cel is False:
        return False, why3
    parts = ((why, ok), (why2, who), (why3, cel))
    if ok is None or who is None or cel is None:
        return None, "; ".join(w for w, v in parts if v is None)
    return True, "; ".join(w for w, _ in parts if w)


@dataclass
class EngineResult:
    """Which policy of ``rules`` (or ``shadow_rules``) matches."""

    action: str
    matched: str | None  # the first matching policy (name order)
    allowed: Tri
    why: str  # a matching policy's reason, or what the answer depends on
    count: int
    #: Policies before ``matched`` (name order) that may match too: Envoy's effective
    #: policy (the shadow rules' metadata) is then one of them or ``matched``.
    earlier: tuple[str, ...] = ()


def run_engine(rules: Json, facts: Facts) -> EngineResult:
    """Evaluate one RBAC ``rules`` block as Envoy's engine does."""
    action = str(rules.get("action") or "ALLOW")
    policies = as_obj(rules.get("policies"))
    unknown: list[tuple[str, str]] = []
    last = ""
    for name in sorted(policies):
        ok, why = policy_match(as_obj(policies[name]), facts)
        last = why
        if ok is True:
            # an earlier policy might match first: the outcome is the same, the
            # effective policy (what Envoy logs and writes as metadata) may not be
            earlier = tuple(n for n, _ in unknown)
            return EngineResult(action, name, action != "DENY", why, len(policies), earlier)
        if ok is None:
            unknown.append((name, why))
    if unknown:
        name, why = unknown[0]
        more = f" (+{len(unknown) - 1} more policies)" if len(unknown) > 1 else ""
        allowed: Tri = True if action == "LOG" else None
        return EngineResult(action, None, allowed, f"policy {name}: {why}{more}", len(policies))
    return EngineResult(
        action, None, action != "ALLOW", last if len(policies) == 1 else "", len(policies)
    )


def _describe(res: EngineResult) -> str:
    n = res.count
    if res.matched is not None:
        first = ""
        if res.earlier:
            more = f" (+{len(res.earlier) - 1} more)" if len(res.earlier) > 1 else ""
            first = f"; policy {res.earlier[0]}{more}, before it, may match first"
        return f"{res.action} policy {res.matched} matches ({res.why}){first}"
    if res.allowed is None:
        return f"{res.action}: depends on {res.why}"
    if n == 0:
        return f"{res.action} rules without policies" + (
            " (deny every request)" if res.action == "ALLOW" else ""
        )
    why = f": {res.why}" if res.why else ""
    return f"no {res.action} policy matches ({n} {'policy' if n == 1 else 'policies'}{why})"


def rbac(config: Json, facts: Facts, network: bool = False) -> FilterResult:
    """One RBAC filter (HTTP, or ``network``) over the request."""
    notes: list[str] = []
    metadata: dict[tuple[str, str], str | None] = {}
    shadow = shadow_policy = ""
    if "matcher" in config or "shadow_matcher" in config:
        return FilterResult(
            "unknown",
            "RBAC with a matcher tree (not evaluated by pdebug)",
            depends="an RBAC matcher tree pdebug does not evaluate",
        )
    if "shadow_rules" in config:
        prefix = str(config.get("shadow_rules_stat_prefix", ""))
        res = run_engine(as_obj(config["shadow_rules"]), facts)
        key = f"{prefix}shadow_effective_policy_id"
        if res.matched is not None and not res.earlier:
            metadata[(RBAC_METADATA, key)] = res.matched
        elif res.matched is not None or res.allowed is None:
            # the effective policy is one of several (or whether there is one)
            metadata[(RBAC_METADATA, key)] = None
        shadow = {True: "allowed", False: "denied", None: "unknown"}[res.allowed]
        shadow_policy = res.matched or ""
        label = f"shadow rules ({prefix.rstrip('_')})" if prefix else "shadow rules"
        notes.append(f"{label}: {_describe(res)}; not enforced")
    base = FilterResult("pass", "", notes=notes, metadata=metadata)
    base.shadow, base.shadow_policy = shadow, shadow_policy or None
    if "rules" not in config:
        base.reason = "no rules: nothing enforced" + (f"; {notes[0]}" if notes else "")
        return base
    res = run_engine(as_obj(config["rules"]), facts)
    base.action, base.policy = res.action, res.matched
    what = _describe(res)
    if res.action == "LOG":
        base.reason = f"{what}; LOG: allowed (logged)" if res.matched else f"{what}; LOG: allowed"
        return base
    if res.allowed is None:
        base.effect = "unknown"
        base.depends = res.why
        base.reason = what
        return base
    if res.allowed:
        base.reason = f"{what}: allowed"
        return base
    base.effect = "deny"
    base.why = what
    base.status = None if network else 403
    answer = "Envoy closes the connection" if network else "403 RBAC: access denied"
    base.reason = f"{what}: {answer}"
    return base
