"""Derivation rules shared by several views (istioctl's, see docs/istioctl rules).

Facts the views share with checks, the report and trace (cluster names, addresses,
which sections a dump has) live in the model and are re-exported here for the views:
:mod:`pdebug.model.clusters`, :mod:`pdebug.model.address`, :mod:`pdebug.model.sections`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from pdebug.model import schema as s
from pdebug.model.address import address_text as eds_address
from pdebug.model.address import bind_host as socket_or_pipe
from pdebug.model.address import port_of
from pdebug.model.clusters import ClusterName, destination_rule_name
from pdebug.model.routes import summarize_domains
from pdebug.model.sections import is_full_dump, none_when_absent

__all__ = [
    "ClusterName",
    "bare",
    "cluster_label",
    "eds_address",
    "inline_route_description",
    "is_full_dump",
    "istio_config_ref",
    "match_description",
    "none_when_absent",
    "or_dash",
    "port_of",
    "socket_or_pipe",
    "summarize_domains",
]


class _IstioMeta(msgspec.Struct, gc=False):
    """``filter_metadata.istio``: only ``config`` is read (services etc. are skipped)."""

    config: Any = None


_ISTIO_META = msgspec.json.Decoder(_IstioMeta)


def istio_config_ref(metadata: s.Metadata | None) -> str:
    """Render ``filter_metadata.istio.config`` as ``name.namespace`` (DESTINATION RULE)."""
    if metadata is None:
        return ""
    raw = metadata.filter_metadata.get("istio")
    if raw is None:
        return ""
    text = bytes(raw)
    if b"config" not in text and b"\\u" not in text:
        return ""  # no "config" key, spelled plainly or escaped: nothing to decode
    try:
        istio = _ISTIO_META.decode(text)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return ""
    if not isinstance(istio, _IstioMeta):
        return ""
    return destination_rule_name(istio.config)


def match_description(match: s.RouteMatch | None) -> str:
    """``/get*``, ``PathPrefix:/x``, ``/exact``, ``regex ...``, ``CONNECT``; no headers.

    A ``connect_matcher`` route (it matches CONNECT requests only: Envoy's
    ``configs/proxy_connect.yaml``, Istio's ``connect_terminate`` on 15008) is ``CONNECT``,
    where istioctl prints nothing, as if it matched every request.
    """
    if match is None:
        return ""
    if bytes(match.connect_matcher) not in (b"", b"null"):
        return "CONNECT"
    parts: list[str] = []
    if match.prefix:
        parts.append(f"{match.prefix}*")
    if match.path_separated_prefix:
        parts.append(f"PathPrefix:{match.path_separated_prefix}")
    if match.path:
        parts.append(match.path)
    if match.safe_regex is not None and match.safe_regex.regex:
        parts.append(f"regex {match.safe_regex.regex}")
    return " ".join(parts)


def cluster_label(name: str) -> str:
    """``Cluster: x``, or bare ``x`` when the name itself says Cluster (PassthroughCluster)."""
    return name if "Cluster" in name else f"Cluster: {name}"


def inline_route_description(
    rc: s.RouteConfiguration, tree_matches: Callable[[s.VirtualHost], list[str]] | None = None
) -> str:
    """Describe an HCM's inline route config the way istioctl's DESTINATION does.

    ``tree_matches`` gives the MATCH of each route a host's ``matcher`` tree can pick
    (a host without ``routes``, which istioctl describes as nothing).
    """
    vhosts = rc.virtual_hosts
    if len(vhosts) == 1 and vhosts[0].domains == ["*"] and len(vhosts[0].routes) == 1:
        route = vhosts[0].routes[0]
        action = route.route
        if (
            route.match is not None
            and route.match.prefix == "/"
            and action is not None
            and action.cluster
        ):
            return cluster_label(action.cluster)
    described = []
    for vh in vhosts:
        text = ", ".join(match_description(r.match) for r in vh.routes)
        if tree_matches is not None and not vh.routes and bytes(vh.matcher) != b"null":
            text = ", ".join(tree_matches(vh))  # a matcher tree's routes, as `routes` shows
        if vh.domains != ["*"]:
            text = "/".join(vh.domains) + " " + text
        described.append(text)
    return "Inline Route: " + "; ".join(described)


def or_dash(value: Any) -> str:
    """``-`` for an empty cell (istioctl's habit for missing parts)."""
    text = str(value) if value is not None else ""
    return text if text else "-"


def bare(message: Any) -> Any:
    """A resource as istioctl's ``-o json`` prints it: without the ``@type`` of its Any.

    Envoy's dump holds each resource (a Cluster, a ClusterLoadAssignment, the
    BootstrapConfigDump...) in a protobuf Any, written as ``{"@type": URL, fields}``;
    istioctl unpacks it and prints the message itself. Nested Anys keep their ``@type``.
    """
    if isinstance(message, dict) and "@type" in message:
        if type(message) is dict:  # decoded JSON: a C copy, then one key out (2x faster)
            out = message.copy()
            del out["@type"]
            return out
        return {k: v for k, v in message.items() if k != "@type"}
    return message
