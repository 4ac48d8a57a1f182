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
from pdebug.trace.routes import _regex_rewrite, _uri_template


@dataclass
class Upstream:
    """The request as the upstream gets it, and how it came to be so."""

    path: str
    host: str
    #: what changed it: ``prefix_rewrite /a/ -> /b/``, ``host_rewrite_literal``
    how: list[str] = field(default_factory=list)
    #: what pdebug cannot tell (the rewrite is not shown)
    caveats: list[str] = field(default_factory=list)


def upstream_request(
    route: s.Route, act: s.RouteAction, http: HttpRequest, prefix: str | None
) -> Upstream:
    """The path and Host the route's rewrites give the upstream."""
    path, query = http.path_only, http.query
    out = Upstream(http.path, http.authority)
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
    elif is_set(act.path_rewrite_policy):
        rewritten, why = _template_rewrite(route, act.path_rewrite_policy, path)
        if rewritten is None:
            out.caveats.append(f"path_rewrite_policy not applied to the path shown: {why}")
        else:
            out.how.append(why)
            path = rewritten
    out.path = path + (f"?{query}" if query else "")
    if act.host_rewrite_literal:
        out.host = act.host_rewrite_literal
        out.how.append("host_rewrite_literal")
    elif act.host_rewrite_header:
        values = http.values(act.host_rewrite_header)
        if values and values[0]:
            out.host = values[0]
            out.how.append(f"host_rewrite_header {act.host_rewrite_header.lower()}")
        else:
            out.how.append(
                f"host_rewrite_header {act.host_rewrite_header.lower()} is absent: Host kept"
            )
    elif is_set(act.host_rewrite_path_regex):
        host = _regex_rewrite(act.host_rewrite_path_regex, http.path_only)
        if host is None:
            out.caveats.append("host_rewrite_path_regex not applied to the Host shown")
        else:
            out.host = host
            out.how.append("host_rewrite_path_regex")
    elif act.auto_host_rewrite:
        out.how.append(
            "auto_host_rewrite: the endpoint's DNS name for a STRICT_DNS or LOGICAL_DNS "
            "cluster (other clusters keep the Host)"
        )
    return out


def mirrors(act: s.RouteAction, host: str) -> list[str]:
    """One sentence per ``request_mirror_policies`` entry: where the copy goes."""
    out = []
    for raw in act.request_mirror_policies:
        policy = _plain(raw, "request_mirror_policies")
        cluster = str(policy.get("cluster", ""))
        header = str(policy.get("cluster_header", ""))
        where = f"cluster {cluster}" if cluster else f"the cluster named by header {header}"
        share = _share(policy.get("runtime_fraction"))
        shadow = host
        if not policy.get("disable_shadow_host_suffix_append"):
            bare, port = split_host_port(host)
            shadow = f"{bare}-shadow" + (f":{port}" if port is not None else "")
        out.append(f"a copy goes to {where} ({share}), Host {shadow}; Envoy ignores its answer")
    return out


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
    template = _uri_template(m.path_match_policy) if m is not None else None
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


_SEGMENT = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=]+"
_TEXT = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=/]*"


def _capture_regex(template: str) -> re.Pattern[str] | None:
    """Envoy's URI template as a regex with a named group per variable (None: unreadable)."""
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
        name, eq, sub = template[i + 1 : max(end, i)].partition("=")
        if end < 0 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name in names:
            return None
        names.add(name)
        out.append(f"(?P<{name}>{_glob(sub) if eq else _SEGMENT})")
        i = end + 1
    try:
        return re.compile("".join(out))
    except re.error:
        return None


def _glob(text: str) -> str:
    """A template's literal text as a regex: ``*`` one path segment, ``**`` any text."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            out.append(_TEXT)
            i += 2
        elif text[i] == "*":
            out.append(_SEGMENT)
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return "".join(out)


def _plain(raw: msgspec.Raw, what: str) -> dict[str, Any]:
    try:
        value = snake_tree(plain_json(raw, what))
    except InvalidInput:
        return {}
    return value if isinstance(value, dict) else {}
