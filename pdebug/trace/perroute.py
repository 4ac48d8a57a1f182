"""A filter's per-route override: the most specific ``typed_per_filter_config`` entry.

Envoy's rules (checked against a real Envoy 1.40 by ``tests/test_trace_filters.py`` and
``tests/test_sweep29.py``): the route's, else its virtual host's, else the route
configuration's entry for the filter's name; a ``FilterConfig`` turns the filter off or on
(``disabled``) or replaces its config, an ``RBACPerRoute`` replaces the policy (without
``rbac`` it turns the filter off), the ext_proc, ext_authz and jwt_authn per-route
messages turn their filter off with ``disabled``; any other message replaces the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from pdebug.model.listeners import unwrap_typed_struct
from pdebug.model.routes import OFF_PER_ROUTE as _OFF_PER_ROUTE
from pdebug.trace.filters import Json, config_of
from pdebug.trace.matchers import as_obj, is_set


@dataclass
class PerRoute:
    """A filter's per-route override: off, a replacement config, or nothing."""

    where: str = ""  # "route", "virtual host", "route configuration"
    disabled: bool | None = None
    config: Json | None = None


def per_route(name: str, levels: list[tuple[str, dict[str, msgspec.Raw]]]) -> PerRoute:
    """The most specific ``typed_per_filter_config[name]`` (route, vhost, route config)."""
    for where, table in levels:
        raw = table.get(name)
        if raw is None or not is_set(raw):
            continue
        cfg = as_obj(unwrap_typed_struct(config_of(raw, f"typed_per_filter_config {name}")))
        tp = str(cfg.get("@type", ""))
        if tp.endswith(".FilterConfig"):
            inner = as_obj(cfg.get("config"))
            return PerRoute(where, bool(cfg.get("disabled", False)), inner or None)
        if tp.endswith(".RBACPerRoute"):
            if "rbac" not in cfg:
                return PerRoute(where, True, None)
            return PerRoute(where, None, as_obj(cfg["rbac"]))
        if tp.endswith(_OFF_PER_ROUTE) and cfg.get("disabled") is True:
            return PerRoute(where, True, None)
        return PerRoute(where, None, cfg)
    return PerRoute()
