"""Derivation rules shared by several views (istioctl's, see docs/istioctl rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from pdebug.model import schema as s

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump


class _IstioMeta(msgspec.Struct, gc=False):
    """``filter_metadata.istio``: only ``config`` is read (services etc. are skipped)."""

    config: Any = None


_ISTIO_META = msgspec.json.Decoder(_IstioMeta)


@dataclass(slots=True)
class ClusterName:
    """An Istio cluster name ``direction|port|subset|fqdn`` split into its parts.

    ``istio`` is False for names with fewer than three separators (``BlackHoleCluster``,
    ``xds-grpc``): then ``fqdn`` is the whole name and the other parts are empty.
    """

    direction: str
    port: int
    subset: str
    fqdn: str
    istio: bool

    @classmethod
    def parse(cls, name: str) -> ClusterName:
        """Split ``name``; DNS-SRV names (``outbound_.80_._.x``) use ``_.`` as separator."""
        if name.count("|") < 3:
            return cls("", 0, "", name, False)
        sep = "_." if name.startswith(("outbound_", "inbound_")) else "|"
        parts = name.split(sep, 3)
        if len(parts) < 4:
            return cls("", 0, "", name, False)
        direction, port_text, subset, host = parts
        try:
            port = int(port_text)
        except ValueError:
            port = 0
        if sep in host:
            host = ""
        return cls(direction, port, subset, host, True)

    def sort_key(self) -> tuple[str, str, int, str]:
        """Istioctl's cluster order: fqdn, subset, port, direction."""
        return (self.fqdn, self.subset, self.port, self.direction)


def istio_config_ref(metadata: s.Metadata | None) -> str:
    """Render ``filter_metadata.istio.config`` as ``name.namespace`` (DESTINATION RULE)."""
    if metadata is None:
        return ""
    raw = metadata.filter_metadata.get("istio")
    if raw is None:
        return ""
    try:
        istio = _ISTIO_META.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return ""
    if not isinstance(istio, _IstioMeta) or istio.config is None:
        return ""
    value = istio.config
    if not isinstance(value, str) or not value.startswith("/apis/networking.istio.io/"):
        return "<unknown>"
    parts = value.split("/")
    if len(parts) != 8:
        return ""
    return f"{parts[7]}.{parts[5]}"


def match_description(match: s.RouteMatch | None) -> str:
    """``/get*``, ``PathPrefix:/x``, ``/exact``, ``regex ...``; headers are not shown."""
    if match is None:
        return ""
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


def inline_route_description(rc: s.RouteConfiguration) -> str:
    """Describe an HCM's inline route config the way istioctl's DESTINATION does."""
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
        if vh.domains != ["*"]:
            text = "/".join(vh.domains) + " " + text
        described.append(text)
    return "Inline Route: " + "; ".join(described)


def summarize_domains(domains: list[str]) -> str:
    """Istioctl's DOMAINS cell: drop ``:port`` and ``.svc[.cluster.local]`` variants."""
    if not domains:
        return ""
    if len(domains) == 1:
        return domains[0]
    kept = [d for d in domains if ":" not in d or (d.count(":") > 2 and d.endswith("]"))]
    present = set(kept)
    result = []
    for d in kept:
        if d.endswith(".svc.cluster.local") and d[: -len(".svc.cluster.local")] in present:
            continue
        if d.endswith(".svc") and d[: -len(".svc")] in present:
            continue
        result.append(d)
    if len(result) > 2:
        return f"{result[0]}, {result[1]} + {len(result) - 2} more..."
    return ", ".join(result)


def socket_or_pipe(address: s.Address | None) -> str:
    """Listener address: socket address, else pipe path, else empty (internal)."""
    if address is None:
        return ""
    if address.socket_address is not None:
        return address.socket_address.address
    if address.pipe is not None:
        return address.pipe.path
    return ""


def port_of(address: s.Address | None) -> int:
    """The socket port of ``address``, or 0."""
    if address is None or address.socket_address is None:
        return 0
    return address.socket_address.port_value


def eds_address(address: s.Address | None) -> str:
    """An EDS endpoint address as istioctl's eds table prints it."""
    if address is None:
        return "unknown"
    if address.socket_address is not None:
        sa = address.socket_address
        return f"{sa.address}:{sa.port_value}"
    if address.pipe is not None:
        return address.pipe.path
    if address.envoy_internal_address is not None:
        ia = address.envoy_internal_address
        return f"envoy://{ia.server_listener_name}/{ia.endpoint_id}"
    return "unknown"


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
        return {k: v for k, v in message.items() if k != "@type"}
    return message


#: Sections every full ``/config_dump`` of a running Envoy has.
FULL_DUMP = ("bootstrap", "clusters", "listeners")
#: Sections a full dump leaves out when the proxy has none of them: Envoy writes the ECDS
#: section only once an ECDS filter exists, and older Envoys (Istio <= 1.6) no secrets
#: section without secrets.
NONE_WHEN_ABSENT = ("secrets", "ecds")


def is_full_dump(dump: ConfigDump) -> bool:
    """Whether ``dump`` is a whole ``/config_dump`` (not one taken with a mask)."""
    return all(dump.has(kind) for kind in FULL_DUMP)


def none_when_absent(dump: ConfigDump, kind: str) -> bool:
    """Whether a missing ``kind`` section means "none" (a full dump) not "not captured"."""
    return kind in NONE_WHEN_ABSENT and not dump.has(kind) and is_full_dump(dump)
