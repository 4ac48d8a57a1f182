"""The jwt_authn filter: whether a request without a JWT gets through.

Envoy's rules (checked against a real Envoy 1.40 by ``tests/test_sweep29.py``, on
Envoy's own ``configs/jwt_authn.yaml``): the first of ``rules`` whose ``match`` (a route
match) matches the request gives its requirement (``requires``, or ``requirement_name``
into ``requirement_map``); a route's ``PerRouteConfig`` replaces it (``requirement_name``) or
turns the filter off (``disabled``); no matching rule: nothing required. A provider finds
its token in its ``from_headers`` (with their ``value_prefix``), ``from_params`` and
``from_cookies``; with none of them, in ``Authorization: Bearer ...`` or the
``access_token`` query parameter. A requirement that finds no token answers
``401 Jwt is missing``; ``allow_missing`` and ``allow_missing_or_failed`` let such a
request through; ``requires_any`` passes when one of its requirements does,
``requires_all`` when all do.

pdebug cannot verify a token (signature, JWKS, expiry): a request that carries one
passes with a note saying so. A requirement pdebug does not read (``filter_state_rules``,
an unknown kind) leaves the answer unknown.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from pdebug.model import schema as s
from pdebug.model.dump import decode_raw
from pdebug.trace.filters import FilterResult, Json
from pdebug.trace.matchers import as_obj, as_seq
from pdebug.trace.request import HttpRequest

#: A requirement's answer: passes, a token is missing (401), or a token pdebug cannot
#: verify is there.
Answer = Literal["ok", "missing", "unverified"]

_MAX_DEPTH = 16


class _Unread(Exception):
    """A requirement pdebug does not read."""


def _token(provider: Json, http: HttpRequest) -> bool | None:
    """Whether the request carries a token where ``provider`` looks (None: cannot tell)."""
    headers = as_seq(provider.get("from_headers"))
    params = as_seq(provider.get("from_params"))
    cookies = as_seq(provider.get("from_cookies"))
    if not (headers or params or cookies):
        headers = [{"name": "authorization", "value_prefix": "Bearer "}]
        params = ["access_token"]
    unsure = False
    for h in headers:
        h = as_obj(h)
        values = http.values(str(h.get("name", "")))
        if not values:
            continue
        prefix = str(h.get("value_prefix", ""))
        if any(v.startswith(prefix) and v[len(prefix) :].strip() for v in values):
            return True
        if any(v.lower().startswith(prefix.lower()) for v in values):
            unsure = True  # the prefix in another case: Envoy's comparison not checked
    query = http.query_params()
    if any(str(p) in query and query[str(p)] for p in params):
        return True
    if cookies:
        jar = ";".join(http.values("cookie") or [])
        names = {c.split("=", 1)[0].strip() for c in jar.split(";") if "=" in c}
        if any(str(c) in names for c in cookies):
            return True
    return None if unsure else False


def _requirement(req: Json, providers: Json, http: HttpRequest, depth: int = 0) -> Answer:
    if depth > _MAX_DEPTH:
        raise _Unread
    if "provider_name" in req or "provider_and_audiences" in req:
        name = req.get("provider_name")
        if name is None:
            name = as_obj(req["provider_and_audiences"]).get("provider_name")
        provider = providers.get(str(name))
        if not isinstance(provider, dict):
            raise _Unread
        found = _token(provider, http)
        if found is None:
            raise _Unread
        return "unverified" if found else "missing"
    if "requires_any" in req or "requires_all" in req:
        listed = as_seq(
            as_obj(req.get("requires_any") or req.get("requires_all")).get("requirements")
        )
        answers = [_requirement(as_obj(r), providers, http, depth + 1) for r in listed]
        if not answers:
            raise _Unread
        if "requires_any" in req:
            for want in ("ok", "unverified"):
                if want in answers:
                    return want
            return "missing"
        for want in ("missing", "unverified"):
            if want in answers:
                return want
        return "ok"
    if "allow_missing_or_failed" in req:
        return "ok"
    if "allow_missing" in req:
        anywhere = [_token(as_obj(p), http) for p in providers.values()]
        if None in anywhere:
            raise _Unread
        return "unverified" if any(anywhere) else "ok"
    raise _Unread


def _rule_matches(rule: Json, http: HttpRequest) -> bool | None:
    from pdebug.trace.routes import match_route

    raw = msgspec.json.encode({"match": as_obj(rule.get("match"))})
    route = decode_raw(msgspec.Raw(raw), s.Route, False, "a jwt_authn rule")
    ok, _, caveats = match_route(route, http)
    return None if caveats else ok


def jwt_authn(config: Json, per_route: Json | None, http: HttpRequest) -> FilterResult:
    """One jwt_authn filter over the request (``per_route``: the route's PerRouteConfig)."""
    providers = as_obj(config.get("providers"))
    requirement: Any = None
    where = ""
    if per_route is not None and "requirement_name" in per_route:
        name = str(per_route["requirement_name"])
        requirement = as_obj(config.get("requirement_map")).get(name)
        where = f"the route's requirement {name}"
        if not isinstance(requirement, dict):
            return _unread(f"requirement_name {name} (not in requirement_map)")
    else:
        if "filter_state_rules" in config:
            return _unread("filter_state_rules")
        for i, rule in enumerate(as_seq(config.get("rules"))):
            rule = as_obj(rule)
            ok = _rule_matches(rule, http)
            if ok is None:
                return _unread(f"rule #{i}'s match")
            if not ok:
                continue
            if "requirement_name" in rule:
                requirement = as_obj(config.get("requirement_map")).get(
                    str(rule["requirement_name"])
                )
            else:
                requirement = rule.get("requires")
            where = f"rule #{i}"
            break
        else:
            return FilterResult("pass", "no rule matches the request: no JWT required")
        if requirement is None:
            return FilterResult("pass", f"{where} requires nothing")
        if not isinstance(requirement, dict):
            return _unread(f"{where}'s requirement")
    try:
        answer = _requirement(requirement, providers, http)
    except (_Unread, RecursionError):
        return _unread(f"{where}'s requirement")
    if answer == "ok":
        return FilterResult("pass", f"{where}: the request passes without a JWT")
    if answer == "missing":
        res = FilterResult("deny", f"{where} requires a JWT and the request has none")
        res.status = 401
        res.why = f"{where} requires a JWT, the request carries none"
        return res
    res = FilterResult("pass", f"{where}: the request carries a JWT (not verified by pdebug)")
    res.notes.append(
        "jwt_authn: pdebug does not verify the request's JWT (signature, issuer, audience, "
        "expiry); Envoy answers 401 if it is not valid"
    )
    return res


def _unread(what: str) -> FilterResult:
    return FilterResult(
        "unknown",
        f"jwt_authn: {what} (not evaluated by pdebug)",
        depends=f"the jwt_authn filter's {what}",
    )
