"""Facts: clusters. Istio's cluster names, each cluster's type and state.

istioctl keeps these facts (``util/configdump/cluster.go``) apart from the code that
prints them; so does pdebug: ``views/clusters.py`` prints, ``checks/clusters.py`` judges,
the report draws, ``trace`` follows, and all of them read clusters from here.

* **Name**: Istio names a cluster ``direction|port|subset|fqdn`` (``outbound|80||x``);
  DNS-SRV style names (``outbound_.80_._.x``) use ``_.``. A name with fewer than three
  separators (``BlackHoleCluster``, ``xds-grpc``) is not an Istio name: its fqdn is the
  whole name (istioctl's rule, see :class:`ClusterName`).
* **State**: ``ACTIVE`` (``dynamic_active_clusters``), ``STATIC`` (``static_clusters``)
  or ``WARMING`` (``dynamic_warming_clusters``: received, waiting for its endpoints or
  secrets; the active version, if any, still serves).
* **Type**: see :func:`table_type`, :func:`kind` and :func:`extension_type`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from pdebug.model import schema as s

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump, Entries, Ref

#: Cluster list of the clusters section -> the state it means.
STATE_KEYS = {
    "ACTIVE": "dynamic_active_clusters",
    "STATIC": "static_clusters",
    "WARMING": "dynamic_warming_clusters",
}


class ClusterName(msgspec.Struct):
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
        """Split ``name`` (:func:`split_name`); a non-Istio name is all fqdn."""
        parts = split_name(name)
        if parts is None:
            return cls("", 0, "", name, False)
        direction, port, subset, host = parts
        return cls(direction, port, subset, host, True)

    def sort_key(self) -> tuple[str, str, int, str]:
        """Istioctl's cluster order: fqdn, subset, port, direction."""
        return (self.fqdn, self.subset, self.port, self.direction)


#: ``ConfigDump.facts`` key: cluster name -> its sort key (:meth:`ClusterName.sort_key`,
#: from :func:`split_name`), left by the clusters table for the endpoints table.
SORT_KEYS = "clusters.sort_keys"
LIGHT_KEY = ("light", "clusters")  #: ``Section._cache`` key of ``light.clusters_of``'s
#: Envoy's aggregate cluster type (Consul's failover): its clusters in priority order.
AGGREGATE = "envoy.clusters.aggregate"


def split_name(name: str) -> tuple[str, int, str, str] | None:
    """``direction|port|subset|fqdn`` of an Istio cluster name, or None for another name.

    DNS-SRV names (``outbound_.80_._.x``) use ``_.`` as separator; a port that is not a
    number reads 0, and an fqdn that still holds the separator reads empty (istioctl's
    rule). A plain function so the clusters table's fast path splits with this same rule.
    """
    if name.count("|") < 3:
        return None
    sep = "_." if name.startswith(("outbound_", "inbound_")) else "|"
    parts = name.split(sep, 3)
    if len(parts) < 4:
        return None
    direction, port_text, subset, host = parts
    try:
        port = int(port_text)
    except ValueError:
        port = 0
    return direction, port, subset, "" if sep in host else host


def destination_rule_name(config: object) -> str:
    """DESTINATION RULE from ``filter_metadata.istio.config``: istioctl's ``NAME.NAMESPACE``.

    A path ``/apis/networking.istio.io/VERSION/namespaces/NS/destination-rule/NAME`` gives
    ``NAME.NS``; another string or value ``<unknown>``; that prefix with another shape "".
    """
    if config is None:
        return ""
    if not isinstance(config, str) or not config.startswith("/apis/networking.istio.io/"):
        return "<unknown>"
    parts = config.split("/")
    if len(parts) != 8:
        return ""
    return f"{parts[7]}.{parts[5]}"


def table_type(cluster: s.Cluster) -> str:
    """Istioctl's TYPE column: the discovery ``type``, ``STATIC`` when unset.

    A cluster with a ``cluster_type`` extension (aggregate, dynamic forward proxy) has
    no ``type`` and reads ``STATIC`` too, as in istioctl.
    """
    return cluster.type or "STATIC"


#: The typed DNS cluster (Envoy >= 1.33), and the names Envoy registers its legacy DNS
#: discovery types under as cluster_type extensions.
DNS_CLUSTER = "envoy.cluster.dns"
_DNS_KINDS = {"envoy.cluster.strict_dns": "STRICT_DNS", "envoy.cluster.logical_dns": "LOGICAL_DNS"}


def dns_kind(cluster: s.Cluster) -> str | None:
    """``STRICT_DNS`` or ``LOGICAL_DNS`` for a DNS cluster given as a ``cluster_type``.

    ``envoy.cluster.dns`` (``DnsCluster``) resolves like ``STRICT_DNS``, or like
    ``LOGICAL_DNS`` with ``all_addresses_in_single_endpoint``. None for any other.
    """
    ct = cluster.cluster_type
    if ct is None:
        return None
    if ct.name in _DNS_KINDS:
        return _DNS_KINDS[ct.name]
    if (
        ct.name != DNS_CLUSTER
        and b".clusters.dns.v3.DnsCluster" not in bytes(ct.typed_config)[:200]
    ):
        return None
    try:
        cfg = msgspec.json.decode(bytes(ct.typed_config))
    except (msgspec.DecodeError, UnicodeDecodeError):
        cfg = None
    single = isinstance(cfg, dict) and (
        cfg.get("all_addresses_in_single_endpoint") or cfg.get("allAddressesInSingleEndpoint")
    )
    return "LOGICAL_DNS" if single is True else "STRICT_DNS"


def kind(cluster: s.Cluster) -> str:
    """``EDS``, ``STATIC``...; a ``cluster_type``: ``CUSTOM``, or the DNS kind it resolves as."""
    if cluster.cluster_type is not None:
        return dns_kind(cluster) or "CUSTOM"
    return cluster.type or "STATIC"


_LB_PACKAGE = "envoy.extensions.load_balancing_policies."


def own_assignment(cluster: s.Cluster) -> s.ClusterLoadAssignment | None:
    """The hosts a cluster's own config lists (None for EDS, ORIGINAL_DST...).

    Its ``load_assignment``, else (Envoy <= 1.14, v2) its ``hosts`` as one locality.
    """
    if cluster.load_assignment is not None:
        return cluster.load_assignment
    if not cluster.hosts:
        return None
    lb = [s.LbEndpoint(endpoint=s.Endpoint(address=a)) for a in cluster.hosts]
    return s.ClusterLoadAssignment(
        cluster_name=cluster.name, endpoints=[s.LocalityLbEndpoints(lb_endpoints=lb)]
    )


def lb_policy(cluster: s.Cluster) -> str:
    """The load balancer Envoy uses: ``load_balancing_policy``'s, else ``lb_policy``.

    A typed policy reads as the legacy enum's spelling of its package
    (``LEAST_REQUEST``, ``MAGLEV``, ``CLIENT_SIDE_WEIGHTED_ROUND_ROBIN``...); Envoy
    takes the first policy of the list it supports (pdebug: the first one).
    ``wrr_locality`` is named with the policy it picks endpoints by.
    """
    lbp = cluster.load_balancing_policy
    if lbp is None or not lbp.policies:
        return cluster.lb_policy or "ROUND_ROBIN"
    ext = lbp.policies[0].typed_extension_config
    return _typed_lb_name(ext) if ext is not None else cluster.lb_policy or "ROUND_ROBIN"


def _typed_lb_name(ext: s.TypedExtension, depth: int = 0) -> str:
    try:
        cfg = msgspec.json.decode(bytes(ext.typed_config))
    except (msgspec.DecodeError, UnicodeDecodeError):
        cfg = None
    url = cfg.get("@type") if isinstance(cfg, dict) else None
    if not isinstance(url, str) or _LB_PACKAGE not in url:
        return ext.name or (url.rsplit("/", 1)[-1] if isinstance(url, str) else "") or "?"
    package = url.split(_LB_PACKAGE, 1)[1].split(".", 1)[0]
    name = package.upper()
    if package == "wrr_locality" and isinstance(cfg, dict) and depth < 4:
        inner = cfg.get("endpoint_picking_policy") or cfg.get("endpointPickingPolicy")
        policies = inner.get("policies") if isinstance(inner, dict) else None
        first = policies[0] if isinstance(policies, list) and policies else None
        tec = (
            (first.get("typed_extension_config") or first.get("typedExtensionConfig"))
            if isinstance(first, dict)
            else None
        )
        if isinstance(tec, dict):
            picked = s.TypedExtension(
                name=str(tec.get("name", "")),
                typed_config=msgspec.Raw(
                    msgspec.json.encode(tec.get("typed_config") or tec.get("typedConfig"))
                ),
            )
            name += f"({_typed_lb_name(picked, depth + 1)})"
    return name


def extension_type(cluster: s.Cluster) -> str:
    """The ``cluster_type`` extension's name when there is one, else :func:`table_type`."""
    if cluster.cluster_type is not None and cluster.cluster_type.name:
        return cluster.cluster_type.name
    return table_type(cluster)


def socket_matches(cluster: s.Cluster, warn: Callable[[str], None]) -> list[s.TransportSocketMatch]:
    """The cluster's ``transport_socket_matches``, in order (Envoy takes the first that fits).

    Istio writes two on every outbound cluster: ``tlsMode-istio`` (mTLS, for endpoints
    labelled ``tlsMode: istio``) and ``tlsMode-disabled`` (plaintext, for the rest). A
    damaged match is left out with a warning; a value that is not a list is one warning.
    """
    raw = cluster.transport_socket_matches
    if bytes(raw) in (b"null", b"", b"[]"):
        return []
    from pdebug.errors import InvalidInput
    from pdebug.model.dump import decode_items

    what = f"cluster {cluster.name!r} transport_socket_matches"
    try:
        return decode_items(raw, s.TransportSocketMatch, what, warn)
    except InvalidInput as exc:
        warn(f"{exc.message}; its transport socket matches not read")
        return []


def _search(mark: bytes, cluster: s.Cluster) -> bool:
    """Whether the cluster's matches' bytes hold ``mark``.

    Searched where they lie, not copied: a 5000-service Istio mesh has 47 MB of them.
    """
    return _pattern(mark).search(cluster.transport_socket_matches) is not None


@functools.cache
def _pattern(mark: bytes) -> re.Pattern[bytes]:
    return re.compile(re.escape(mark))


def match_sockets(
    name: str, cluster: s.Cluster, warn: Callable[[str], None], mark: bytes
) -> list[tuple[str, s.TypedExtension | None]]:
    """``(cluster/NAME match M, its socket)`` of each of the cluster's :func:`socket_matches`.

    The matches are decoded only when their bytes hold ``mark`` (what the caller looks
    for, e.g. ``inline``): Istio gives 10k clusters two each, most with nothing to find.
    """
    if len(cluster.transport_socket_matches) < 8 or not _search(mark, cluster):
        return []
    return [
        (f"cluster/{name} match {m.name or '(unnamed)'}", m.transport_socket)
        for m in socket_matches(cluster, warn)
    ]


#: The metadata key Envoy matches ``transport_socket_matches`` against.
SOCKET_MATCH_KEY = "envoy.transport_socket_match"


def _labels(metadata: msgspec.Raw) -> dict[str, Any] | None:
    """The ``envoy.transport_socket_match`` labels of a Metadata message, else None."""
    if bytes(metadata) in (b"null", b"") or SOCKET_MATCH_KEY.encode() not in bytes(metadata):
        return None
    try:
        doc = msgspec.json.decode(bytes(metadata))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    fm = doc.get("filter_metadata", doc.get("filterMetadata")) if isinstance(doc, dict) else None
    labels = fm.get(SOCKET_MATCH_KEY) if isinstance(fm, dict) else None
    return labels if isinstance(labels, dict) else None


def _same(a: Any, b: Any) -> bool:
    """Protobuf ``Value`` equality: a number is no bool and no string (``1`` is not ``"1"``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _fits(match: s.TransportSocketMatch, labels: dict[str, Any] | None) -> bool:
    """Every key of the match is a label, of the same value (an empty match fits all)."""
    for key, raw in match.match.items():
        if labels is None or key not in labels:
            return False
        try:
            if not _same(msgspec.json.decode(bytes(raw)), labels[key]):
                return False
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # hostile: fits nothing
            return False
    return True


def socket_for(
    own: s.TypedExtension | None,
    matches: list[s.TransportSocketMatch],
    endpoint: msgspec.Raw,
    locality: msgspec.Raw,
) -> tuple[str | None, s.TypedExtension | None]:
    """(the match's name, or None for the cluster's own; the socket) an endpoint gets.

    As Envoy 1.40 picks it (tests/test_socket_matches.py holds it to a real one): the
    first match that fits the endpoint's ``envoy.transport_socket_match`` metadata, else
    the first that fits its locality's, else the cluster's ``transport_socket``. A match's
    keys must all be in one of the two (not some in each). ``own``: the cluster's socket
    (its ``transport_socket``, or a v2 ``tls_context``).
    """
    for labels in (_labels(endpoint), _labels(locality)):
        for m in matches:
            if _fits(m, labels):
                return m.name, m.transport_socket
    return None, own


#: A TLS socket's names (``tls_context``: Envoy <= 1.16's field, as model/secrets.py names it).
_TLS_NAMES = ("envoy.transport_sockets.tls", "tls", "tls_context")
_CLIENT_CERT = (
    "tls_certificates",
    "tlsCertificates",
    "tls_certificate_sds_secret_configs",
    "tlsCertificateSdsSecretConfigs",
    "tls_certificate_provider_instance",
    "tlsCertificateProviderInstance",
)


def transport_text(socket: s.TypedExtension | None) -> str:
    """What a socket speaks to the upstream.

    ``plaintext``, ``mTLS`` (a client certificate), ``TLS``, or the socket's name
    (``envoy.transport_sockets.internal_upstream``...).
    """
    raw = bytes(socket.typed_config) if socket is not None else b"null"
    if socket is None or socket.name.endswith("raw_buffer") or b".RawBuffer" in raw[:200]:
        return "plaintext"
    if socket.name in _TLS_NAMES or b"UpstreamTlsContext" in raw[:200]:
        try:
            doc = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return "TLS"
        common = (
            doc.get("common_tls_context", doc.get("commonTlsContext"))
            if isinstance(doc, dict)
            else None
        )
        if isinstance(common, dict) and any(common.get(k) for k in _CLIENT_CERT):
            return "mTLS"
        return "TLS"
    return socket.name or "an unnamed transport socket"


def aggregate_clusters(cluster: s.Cluster) -> list[str] | None:
    """The clusters of an aggregate cluster (``envoy.clusters.aggregate``), in order.

    None when ``cluster`` is not one, or its config is not a list of names.
    """
    ct = cluster.cluster_type
    if ct is None or not (ct.name == AGGREGATE or b".aggregate." in bytes(ct.typed_config)[:200]):
        return None
    try:
        cfg = msgspec.json.decode(bytes(ct.typed_config))
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    names = cfg.get("clusters") if isinstance(cfg, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return names


class ClusterRecord:
    """One cluster as the dump holds it: where it is, its state, its parsed name.

    The name is split on first use (:attr:`key`): a check over 20k clusters that never
    asks for the parts does not pay for them.
    """

    __slots__ = ("_key", "entries", "entry", "index", "state")

    def __init__(
        self,
        entries: Entries[s.ClusterEntry],
        index: int,
        entry: s.ClusterEntry,
        state: str,
        key: ClusterName | None = None,
    ) -> None:
        self.entries = entries
        self.index = index
        self.entry = entry
        self.state = state
        self._key = key

    @property
    def cluster(self) -> s.Cluster:
        """The typed cluster."""
        return self.entry.cluster

    @property
    def name(self) -> str:
        """The cluster's name."""
        return self.entry.cluster.name

    @property
    def key(self) -> ClusterName:
        """The name split into direction, port, subset and fqdn."""
        if self._key is None:
            self._key = ClusterName.parse(self.entry.cluster.name)
        return self._key

    @property
    def since(self) -> str:
        """``last_updated`` of the entry."""
        return self.entry.last_updated

    @property
    def ref(self) -> Ref:
        """Where the cluster sits in the dump (for ``-o json`` and plain reads)."""
        return self.entries.ref(self.index, "cluster")


def records(dump: ConfigDump, states: Iterable[str]) -> Iterator[ClusterRecord]:
    """The clusters of ``states`` (in that order), each list in dump order."""
    for state in states:
        entries = dump.cluster_entries(STATE_KEYS[state])
        for i, entry in enumerate(entries.items):
            if not entry.absent:
                yield ClusterRecord(entries, i, entry, state)


def by_name(dump: ConfigDump) -> dict[str, ClusterRecord]:
    """Clusters by name: active and static first, then warming ones not yet active."""
    out: dict[str, ClusterRecord] = {}
    for rec in records(dump, ("ACTIVE", "STATIC", "WARMING")):
        out.setdefault(rec.name, rec)
    return out


def locality_weighted(dump: ConfigDump) -> frozenset[str]:
    """The clusters that split traffic by locality weight (``locality_weighted_lb_config``).

    Envoy reads a locality's ``load_balancing_weight`` only for those (Envoy Gateway's
    weighted backendRefs). Clusters decoded already, whole or light (the report's table:
    :data:`LIGHT_KEY`, #17), are read as they are; else the section is searched for the
    field's name first (a dump without it decodes nothing more).
    """
    names: set[str] = set()
    for sec in dump.sections_of("clusters"):
        for key in STATE_KEYS.values():
            full: Any = sec.whole(key, list[s.ClusterEntry])
            if full is None and key != STATE_KEYS["WARMING"]:  # every entry, same fields
                full = getattr(sec._cache.get(LIGHT_KEY), key, None)
            if full is not None:  # every entry decoded: the same names, no second decode
                for whole in full:
                    common = whole.cluster.common_lb_config
                    if common is not None and common.locality_weighted_lb_config != s.NULL:
                        names.add(whole.cluster.name)
                continue
            raw = sec.raw(key)
            if raw is None:
                continue
            text = bytes(raw)
            if (
                b"locality_weighted_lb_config" not in text
                and b"localityWeightedLbConfig" not in text
            ):
                continue
            entries = sec.typed(key, list[s.LbWeightedEntry], list, key)
            for entry in entries:
                common = entry.cluster.common_lb_config
                if common is not None and common.locality_weighted_lb_config != s.NULL:
                    names.add(entry.cluster.name)
    return frozenset(names)
