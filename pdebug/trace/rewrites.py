"""What the upstream sees of a routed request: the route's path and Host rewrites, mirrors.

Envoy's router applies them after the route is picked and the HTTP filters ran, so
nothing before it (route matching, RBAC, ``cluster_header``) sees the rewritten request.
Checked against Envoy 1.40 by ``tests/test_trace_left.py``:

* ``prefix_rewrite`` replaces the part the route's ``prefix`` (``path``,
  ``path_separated_prefix``) matched; ``regex_rewrite`` substitutes every match in the
  path without its query; ``path_rewrite_policy`` (a URI template rewrite) fills the
  template with the variables the route's ``path_match_policy`` captured. The query
  string stays after each.
* ``host_rewrite_literal`` sets the Host; ``host_rewrite_header`` copies a request
  header's value when the request has it (else the Host stays); ``host_rewrite_path_regex``
  substitutes in the path; ``auto_host_rewrite`` takes the endpoint's DNS name (a
  STRICT_DNS or LOGICAL_DNS cluster's; other clusters leave the Host).
* With a path rewrite (whatever it gives, even the same path) the router adds
  ``x-envoy-original-path`` (the path before it, query included); with a Host rewrite
  (any of the four above, when it gives a Host) ``x-envoy-original-host`` (the Host
  before it); neither when the router has ``suppress_envoy_headers``. A rewritten Host
  is appended to ``x-forwarded-host`` with ``append_x_forwarded_host`` (comma-joined,
  not when it is that header's last value already), suppressed or not. The route's
  header edits come first: ``host_rewrite_header`` reads a header they added (checked
  against Envoy 1.40 by ``tests/test_leftovers8.py``).
* ``request_mirror_policies`` send a copy of the rewritten request to each mirror's
  cluster (its share by ``runtime_fraction``'s default, 100% without one), Host suffixed
  ``-shadow`` (before the port) unless ``disable_shadow_host_suffix_append``; the
  mirror's answer is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pdebug.errors import InvalidInput
from pdebug.model import schema as s
from pdebug.model.dump import plain_json
from pdebug.trace.matchers import fullmatch_bounded, is_set, snake_tree
from pdebug.trace.request import HttpRequest, split_host_port
from pdebug.trace.routes import _regex_rewrite, bad_numerator
from pdebug.trace.uritemplate import template_regex, uri_template


@dataclass
class Upstream:
    """The request as the upstream gets it, and how it came to be so."""

    path: str
    host: str
    #: what changed it: ``prefix_rewrite /a/ -> /b/``, ``host_rewrite_literal``
    how: list[str] = field(default_factory=list)
    #: what pdebug cannot tell (the rewrite is not shown)
    caveats: list[str] = field(default_factory=list)
    #: the headers the router adds for the rewrites (``x-envoy-original-path``...)
    added: dict[str, list[str]] = field(default_factory=dict)


ORIGINAL_PATH = "x-envoy-original-path"
ORIGINAL_HOST = "x-envoy-original-host"
FORWARDED_HOST = "x-forwarded-host"


def upstream_request(
    route: s.Route,
    act: s.RouteAction,
    http: HttpRequest,
    prefix: str | None,
    headers: dict[str, list[str]] | None = None,
) -> Upstream:
    """The path and Host the route's rewrites give the upstream.

    ``headers``: the request's headers after the route's header edits (the router
    applies those first; ``host_rewrite_header`` reads them), ``http``'s when None.
    """
    path, query = http.path_only, http.query
    out = Upstream(http.path, http.authority)
    path_rewritten = True  # Envoy gives a new path (the same one, maybe) and says so
    if act.prefix_rewrite is not None and prefix is not None:
        path = act.prefix_rewrite + path[len(prefix) :]
        out.how.append(f"prefix_rewrite {prefix} -> {act.prefix_rewrite}")
    elif is_set(act.regex_rewrite):
        rewritten = _regex_rewrite(act.regex_rewrite, path)
        if rewritten is None:
            out.caveats.append("regex_rewrite not applied to the path shown")
        elif rewritten != path:
            out.how.append("regex_rewrite")
            path = rewritten
        else:
            out.how.append("regex_rewrite matches nothing: path kept")
    elif is_set(act.path_rewrite_policy):
        rewritten, why = _template_rewrite(route, act.path_rewrite_policy, path)
        if rewritten is None:
            path_rewritten = False
            out.caveats.append(
                f"path_rewrite_policy not applied to the path shown: {why} (nor "
                f"{ORIGINAL_PATH}, which Envoy adds when it applies)"
            )
        else:
            out.how.append(why)
            path = rewritten
    else:
        path_rewritten = False
    out.path = path + (f"?{query}" if query else "")
    if path_rewritten:
        out.added[ORIGINAL_PATH] = [http.path]
    given = (lambda name: headers.get(name.lower(), [])) if headers is not None else http.values
    host = None  # the Host the route sets (Envoy sets none that is empty)
    if act.host_rewrite_literal:
        host = act.host_rewrite_literal
        out.how.append("host_rewrite_literal")
    elif act.host_rewrite_header:
        values = given(act.host_rewrite_header)
        if values and values[0]:
            host = values[0]
            out.how.append(f"host_rewrite_header {act.host_rewrite_header.lower()}")
        else:
            out.how.append(
                f"host_rewrite_header {act.host_rewrite_header.lower()} is absent: Host kept"
            )
    elif is_set(act.host_rewrite_path_regex):
        found = _regex_rewrite(act.host_rewrite_path_regex, http.path_only)
        if found is None:
            out.caveats.append(
                f"host_rewrite_path_regex not applied to the Host shown (nor {ORIGINAL_HOST}, "
                "which Envoy adds when it gives a Host)"
            )
        elif found:
            host = found
            out.how.append("host_rewrite_path_regex")
        else:
            out.how.append("host_rewrite_path_regex gives an empty Host: Host kept")
    elif act.auto_host_rewrite:
        out.how.append(
            "auto_host_rewrite: the endpoint's DNS name for a STRICT_DNS or LOGICAL_DNS "
            "cluster (other clusters keep the Host)"
        )
    if host is not None:
        out.host = host
        host_rewritten(out, act, http.authority, given(FORWARDED_HOST) or [])
    return out


def host_rewritten(up: Upstream, act: s.RouteAction, before: str, forwarded: list[str]) -> None:
    """The headers the router adds when a route rewrites the Host (``before`` it was)."""
    up.added[ORIGINAL_HOST] = [before]
    if act.append_x_forwarded_host and before:
        joined = ",".join(forwarded)  # the values the request has, as Envoy joins them
        if not joined or joined.split(",")[-1] != before:
            joined = f"{joined},{before}" if joined else before
        up.added[FORWARDED_HOST] = [joined]


def envoy_added(up: Upstream, suppressed: bool | None) -> dict[str, list[str]]:
    """What the router adds for ``up``'s rewrites, as shown: redacted, suppressed or not.

    ``suppressed``: the router's ``suppress_envoy_headers`` (None: unknown, said by the
    caller). ``x-forwarded-host`` is added either way.
    """
    from pdebug.redact import redact_text

    return {
        name: [redact_text(v) for v in values]
        for name, values in up.added.items()
        if not (suppressed and name.startswith("x-envoy-"))
    }


def mirrors(act: s.RouteAction, host: str) -> list[str]:
    """One sentence per ``request_mirror_policies`` entry: where the copy goes."""
    out = []
    policies = list(act.request_mirror_policies)
    if is_set(act.request_mirror_policy) and not policies:  # the v2 API's single mirror
        policies.append(act.request_mirror_policy)
    for raw in policies:
        policy = _plain(raw, "request_mirror_policies")
        cluster = str(policy.get("cluster", ""))
        header = str(policy.get("cluster_header", ""))
        where = f"cluster {cluster}" if cluster else f"the cluster named by header {header}"
        bad = _bad_share(policy.get("runtime_fraction"))
        if bad is not None:
            out.append(f"a copy to {where} is not followed: {bad}")
            continue
        share = _share(policy.get("runtime_fraction"))
        key = policy.get("runtime_key")
        if isinstance(key, str) and key and not isinstance(policy.get("runtime_fraction"), dict):
            # the v2 API's runtime_key alone: a share out of 10000, none while unset
            share = f"the share runtime key {key} gives, none while it is unset"
        shadow = host
        if not policy.get("disable_shadow_host_suffix_append"):
            bare, port = split_host_port(host)
            shadow = f"{bare}-shadow" + (f":{port}" if port is not None else "")
        out.append(f"a copy goes to {where} ({share}), Host {shadow}; Envoy ignores its answer")
    return out


#: ``append_action`` by number, as a dump may give it.
_ACTIONS = (
    "APPEND_IF_EXISTS_OR_ADD",
    "ADD_IF_ABSENT",
    "OVERWRITE_IF_EXISTS_OR_ADD",
    "OVERWRITE_IF_EXISTS",
)
_FORMATTER = re.compile(r"%[A-Z][A-Z0-9_]*(\([^%]*\))?(:[0-9]+)?%")


@dataclass
class HeaderEdits:
    """What the route's ``request_headers_to_add``/``_remove`` leave the upstream."""

    #: each header an edit touched -> the values the upstream gets ([]: none), in order
    #: (a removal only of a header the request had, or an edit added)
    headers: dict[str, list[str]] = field(default_factory=dict)
    #: the levels that edited, in Envoy's order: ``route``, ``virtual host vh``, ...
    where: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    #: every header of the request after the edits, as they are (never shown: what the
    #: router's Host rewrite reads)
    after: dict[str, list[str]] = field(default_factory=dict)


Level = tuple[str, list[str], list[msgspec.Raw]]


def header_levels(
    rc: s.RouteConfiguration | None,
    vhost: s.VirtualHost | None,
    route: s.Route,
    cluster: s.WeightedCluster | None = None,
) -> list[Level]:
    """The header edits' levels in the order Envoy 1.40 applies them.

    A weighted cluster's own edits come first; then the route, its virtual host and the
    route configuration, or the reverse with ``most_specific_header_mutations_wins``
    (checked by tests/test_trace_left2.py).
    """
    levels: list[Level] = [("route", route.request_headers_to_remove, route.request_headers_to_add)]
    if vhost is not None:
        levels.append(
            (
                f"virtual host {vhost.name}",
                vhost.request_headers_to_remove,
                vhost.request_headers_to_add,
            )
        )
    if rc is not None:
        levels.append(
            (
                f"route configuration {rc.name}",
                rc.request_headers_to_remove,
                rc.request_headers_to_add,
            )
        )
        if rc.most_specific_header_mutations_wins:
            levels.reverse()
    if cluster is not None:
        levels.insert(
            0,
            (
                f"weighted cluster {cluster.name}",
                cluster.request_headers_to_remove,
                cluster.request_headers_to_add,
            ),
        )
    return [lv for lv in levels if lv[1] or lv[2]]


def header_edits(levels: list[Level], http: HttpRequest) -> HeaderEdits:
    """Apply the levels' edits to the request's headers, as Envoy's router does.

    Per level: its removals first, then its additions by ``append_action`` (the
    overwriting ones after the others, all at once); an empty value is skipped unless
    ``keep_empty_value``. A value with a ``%...%`` command is shown as written.
    """
    out = HeaderEdits()
    current = {k: list(v) for k, v in http.headers.items()}
    added: set[str] = set()
    for where, removes, adds in levels:
        out.where.append(where)
        for name in removes:
            key = name.lower()
            if key.startswith(":") or key == "host":
                continue  # Envoy refuses these
            current.pop(key, None)
            out.headers.setdefault(key, [])
        overwrite: list[tuple[str, str]] = []
        for raw in adds:
            option = _plain(raw, "request_headers_to_add")
            header = option.get("header")
            if not isinstance(header, dict) or not isinstance(header.get("key"), str):
                out.caveats.append(f"a header to add at the {where} level not read")
                continue
            key = header["key"].lower()
            value = _header_value(header)
            if value is None:
                out.caveats.append(f"{key}'s value at the {where} level not read")
                continue
            if key.startswith(":") or key == "host":
                continue
            if _FORMATTER.search(value):
                out.caveats.append(f"{key}: its value has %...% commands Envoy fills per request")
            if not value and not option.get("keep_empty_value"):
                continue
            action = _action(option)
            out.headers.setdefault(key, [])
            added.add(key)
            if action == "ADD_IF_ABSENT":
                if not current.get(key):
                    current[key] = [value]
            elif action == "OVERWRITE_IF_EXISTS":
                if current.get(key):
                    overwrite.append((key, value))
            elif action == "OVERWRITE_IF_EXISTS_OR_ADD":
                overwrite.append((key, value))
            else:
                current.setdefault(key, []).append(value)
        for key, _ in overwrite:
            current.pop(key, None)
        for key, value in overwrite:
            current.setdefault(key, []).append(value)
    from pdebug.redact import REDACTED, redact_text, secret_header

    out.after = current
    # a removal says something only of a header the request had or a level added
    out.headers = {k: v for k, v in out.headers.items() if k in http.headers or k in added}
    for key in out.headers:
        values = current.get(key, [])
        # never a credential on the screen: the config's or the client's
        hidden = secret_header(key)
        out.headers[key] = [REDACTED if hidden and v else redact_text(v) for v in values]
    return out


def _header_value(header: dict[str, Any]) -> str | None:
    value = header.get("value")
    if isinstance(value, str):
        return value
    raw = header.get("raw_value")
    if isinstance(raw, str):
        import base64
        import binascii

        try:
            return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
    return "" if value is None and raw is None else None


def _action(option: dict[str, Any]) -> str:
    action = option.get("append_action")
    if isinstance(action, int) and 0 <= action < len(_ACTIONS):
        return _ACTIONS[action]
    if isinstance(action, str) and action in _ACTIONS:
        return action
    append = option.get("append")
    if isinstance(append, dict):
        append = append.get("value")
    return "OVERWRITE_IF_EXISTS_OR_ADD" if append is False else "APPEND_IF_EXISTS_OR_ADD"


def edits_text(edits: HeaderEdits) -> str:
    """``the upstream gets x-a: 1; no x-b (request_headers_to_add/remove: route, ...)``."""
    parts = [
        f"{name}: {', '.join(repr(v) for v in values)}" if values else f"no {name}"
        for name, values in edits.headers.items()
    ]
    return (
        f"the upstream gets {'; '.join(parts) or 'no header changed'} "
        f"(request_headers_to_add/remove of the {', '.join(edits.where)})"
    )


def _bad_share(fraction: Any) -> str | None:
    """Why Envoy rejects a mirror's ``runtime_fraction`` (a numerator not a uint32)."""
    default = fraction.get("default_value") if isinstance(fraction, dict) else None
    return bad_numerator(default.get("numerator")) if isinstance(default, dict) else None


def _share(fraction: Any) -> str:
    if not isinstance(fraction, dict):
        return "every request"
    default = fraction.get("default_value")
    numerator = default.get("numerator", 0) if isinstance(default, dict) else 0
    denominator = default.get("denominator", "HUNDRED") if isinstance(default, dict) else ""
    scales = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
    if isinstance(denominator, int) and 0 <= denominator < len(scales):
        denominator = list(scales)[denominator]
    scale = scales.get(str(denominator), 100)
    pct = f"{min(int(numerator) / scale, 1) * 100:g}%" if isinstance(numerator, int) else "?"
    key = fraction.get("runtime_key")
    return f"{pct} of requests by default" + (f", runtime key {key}" if key else "")


def _template_rewrite(route: s.Route, raw: msgspec.Raw, path: str) -> tuple[str | None, str]:
    """``path`` rewritten by a URI template rewrite: (new path or None, how or why not)."""
    policy = _plain(raw, "path_rewrite_policy")
    config = policy.get("typed_config")
    rewrite = config.get("path_template_rewrite") if isinstance(config, dict) else None
    if not isinstance(rewrite, str):
        return None, "not a URI template rewrite"
    m = route.match
    template = uri_template(m.path_match_policy) if m is not None else None
    rx = _capture_regex(template) if template is not None else None
    # bounded first: a hostile template backtracks (the route matched, so one exists)
    found = rx.fullmatch(path) if rx is not None and fullmatch_bounded(rx, path) else None
    if found is None:
        return None, "the route's path_match_policy template is unreadable"
    values = found.groupdict()
    missing = [v for v in re.findall(r"\{([^}]*)\}", rewrite) if v not in values]
    if missing:
        return None, f"{', '.join(missing)} not captured by the route's template"
    new = re.sub(r"\{([^}]*)\}", lambda g: values[g.group(1)], rewrite)
    return new, f"path_template_rewrite {rewrite} (match {template})"


def _capture_regex(template: str) -> re.Pattern[str] | None:
    """Envoy's URI template as a regex with a named group per variable (None: unreadable)."""
    pattern = template_regex(template, capture=True)
    try:
        return re.compile(pattern) if pattern is not None else None
    except re.error:
        return None


def _plain(raw: msgspec.Raw, what: str) -> dict[str, Any]:
    try:
        value = snake_tree(plain_json(raw, what))
    except InvalidInput:
        return {}
    return value if isinstance(value, dict) else {}
