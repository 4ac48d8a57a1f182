"""Envoy resources for tests: the data templates and small builders.

* :func:`load_template` / :func:`render`: the YAML files in ``templates/`` (whole-string
  placeholders ``$name`` and ``$name(arg)``, filled from a mapping);
* builders for tests that write resources of their own: :func:`sock`, :func:`tcp_proxy`,
  :func:`hcm` (Istio's HTTP connection manager, taken from the sidecar template), :func:`router`,
  :func:`lb_endpoint`, :func:`load_assignment`, :func:`static_cluster`,
  :func:`never_answers`.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "HCM_TYPE",
    "PROXY_PROTOCOL",
    "ROUTER",
    "TEMPLATES",
    "hcm",
    "lb_endpoint",
    "load_assignment",
    "load_template",
    "never_answers",
    "parsed_template",
    "render",
    "router",
    "sock",
    "static_cluster",
    "tcp_proxy",
]

Json = dict[str, Any]

#: Where the data templates live.
TEMPLATES = Path(__file__).resolve().parent / "templates"

_TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
_ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
#: The HTTP connection manager's ``@type``, for tests that write one of their own.
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
#: The PROXY protocol listener filter: a test's request carries the client's address.
PROXY_PROTOCOL: Json = {
    "name": "envoy.filters.listener.proxy_protocol",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3"
        ".ProxyProtocol"
    },
}
SPIFFE_TYPE = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig"
)


# --------------------------------------------------------------------------- templates

#: A whole string ``$name`` or ``$name(argument)``: a placeholder.
_PLACEHOLDER = re.compile(r"\$(\w+)(?:\((.*)\))?")


@functools.cache
def parsed_template(name: str) -> Any:
    """The data of ``templates/NAME``, parsed once (shared: :func:`render` or copy it)."""
    return yaml.safe_load((TEMPLATES / name).read_text())


def load_template(name: str) -> Any:
    """The data of ``templates/NAME``, unfilled (a fresh copy: callers may change it)."""
    return copy.deepcopy(parsed_template(name))


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """Fill the placeholders of ``template`` (a copy; YAML aliases become separate objects).

    A string that is a whole placeholder is replaced: ``$name`` by ``values[name]``,
    ``$name(arg)`` by ``values[name](arg)``. Anything else is copied as it is.

    Raises:
        KeyError: A placeholder has no value.
    """
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    if isinstance(template, str) and (m := _PLACEHOLDER.fullmatch(template)):
        value = values[m.group(1)]
        return value(m.group(2)) if m.group(2) is not None else copy.deepcopy(value)
    return template


# --------------------------------------------------------------------------- builders


def sock(address: str, port: int) -> Json:
    """A ``socket_address`` address."""
    return {"socket_address": {"address": address, "port_value": port}}


def tcp_proxy(cluster: str) -> Json:
    """A ``tcp_proxy`` network filter to ``cluster`` (its stat prefix is the cluster)."""
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": _TCP_PROXY_TYPE, "stat_prefix": cluster, "cluster": cluster},
    }


def spiffe_validator(typed_config: Json) -> Json:
    """A ``validation_context`` whose custom validator is Envoy's SPIFFE one, with this
    config (``trust_domains``...)."""
    return {
        "custom_validator_config": {
            "name": "envoy.tls.cert_validator.spiffe",
            "typed_config": {"@type": SPIFFE_TYPE, **typed_config},
        }
    }


def router() -> Json:
    """The HTTP router filter, the last of every HTTP filter chain."""
    return {"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER_TYPE}}


#: :func:`router`'s filter, one shared value (for module-level filter lists).
ROUTER = router()


def hcm(stat_prefix: str, *, rds: Json | None = None, route_config: Json | None = None) -> Json:
    """An Istio-style HTTP connection manager (cors, fault, router), with RDS or inline routes."""
    resources = load_template("sidecar-resources.yaml")
    outbound = next(lst for lst in resources["listeners"] if lst["name"] == "0.0.0.0_9080")
    typed: Json = outbound["filter_chains"][0]["filters"][0]["typed_config"]
    typed["stat_prefix"] = stat_prefix
    del typed["rds"]
    if rds is not None:
        typed["rds"] = rds
    if route_config is not None:
        typed["route_config"] = route_config
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": typed}


def lb_endpoint(
    ip: str, port: int, health: str | None, *, version: str, app: str, weight: int = 1
) -> Json:
    """An Istio endpoint (``tlsMode: istio``, the workload metadata) in a health state."""
    ep: Json = {
        "endpoint": {"address": sock(ip, port)},
        "metadata": {
            "filter_metadata": {
                "envoy.transport_socket_match": {"tlsMode": "istio"},
                "istio": {"workload": f"{app}-{version};default;{app};{version};Kubernetes"},
            }
        },
        "load_balancing_weight": weight,
    }
    if health is not None:
        ep["health_status"] = health
    return ep


def load_assignment(addresses: Iterable[tuple[str, int]], cluster_name: str | None = None) -> Json:
    """A ``ClusterLoadAssignment`` with one locality of these ``(address, port)`` endpoints.

    ``cluster_name`` is set when given (inside a STATIC cluster); a file-EDS resource may
    leave it out.
    """
    lb_endpoints = [{"endpoint": {"address": sock(a, p)}} for a, p in addresses]
    cla: Json = {} if cluster_name is None else {"cluster_name": cluster_name}
    cla["endpoints"] = [{"lb_endpoints": lb_endpoints}]
    return cla


def static_cluster(
    name: str, port: int, *, address: str = "127.0.0.1", connect_timeout: str = "1s"
) -> Json:
    """A STATIC cluster with one endpoint."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": load_assignment([(address, port)], name),
    }


def never_answers(cluster: str = "agent") -> Json:
    """A ConfigSource that never answers: REST via ``cluster`` (which has no xDS server
    behind it) and no initial fetch timeout, so what waits on it stays warming."""
    return {
        "api_config_source": {
            "api_type": "REST",
            "transport_api_version": "V3",
            "cluster_names": [cluster],
            "refresh_delay": "1s",
        },
        "initial_fetch_timeout": "0s",
        "resource_api_version": "V3",
    }
