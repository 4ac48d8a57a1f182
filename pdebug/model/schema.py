"""Typed, partial schema of Envoy admin documents (decoded with msgspec).

Only the fields pdebug's views, checks and traces read are declared; msgspec skips
every other subtree while scanning, which is what keeps a 240 MB dump cheap. Fields
holding protobuf ``Any`` values (``typed_config``) are kept as :class:`msgspec.Raw`
and decoded on demand by the filter's name. Names are Envoy's snake_case;
:func:`pdebug.model.camel.camel_twin` derives the lowerCamelCase decoders.

All structs use ``gc=False``: decoded trees are acyclic, and cyclic-GC tracking of
millions of small objects is most of the cost of a naive decode.

One module over 500 lines because it is one schema: clusters, listeners, routes and
the admin answers refer to the same shared structs (addresses, metadata, matchers,
transport sockets), and it holds declarations only, no logic.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Raw, Struct, field

NULL = Raw(b"null")


class _S(Struct, gc=False, omit_defaults=True):
    """Base of every schema struct."""


# --- shared ---------------------------------------------------------------------------


class SocketAddress(_S):
    address: str = ""
    port_value: int = 0
    named_port: str = ""
    #: TCP (absent, ``"TCP"``, 0) or UDP (``"UDP"``, or 1: the enum's number): see
    #: :func:`pdebug.model.address.is_udp`.
    protocol: str | int = ""
    #: ``::`` takes IPv4 connections too only with this (else Envoy sets IPV6_V6ONLY).
    ipv4_compat: bool = False


class Pipe(_S):
    path: str = ""


class EnvoyInternalAddress(_S):
    server_listener_name: str = ""
    endpoint_id: str = ""


class Address(_S):
    socket_address: SocketAddress | None = None
    pipe: Pipe | None = None
    envoy_internal_address: EnvoyInternalAddress | None = None


class AdditionalAddress(_S):
    address: Address | None = None


class Metadata(_S):
    # Values stay undecoded: only ``istio`` is read, and only by some views.
    filter_metadata: dict[str, Raw] = {}


class TypedExtension(_S):
    """A named extension (filter, transport socket) whose config is a protobuf Any."""

    name: str = ""
    typed_config: Raw = NULL
    #: Envoy <= 1.14 (v2): a filter's config as a Struct (no ``@type``), instead of
    #: ``typed_config``; read with :func:`pdebug.model.listeners.filter_config`.
    config: Raw = NULL
    #: An HTTP filter off unless a route turns it on (``FilterConfig``); read by trace.
    disabled: bool = False


# --- clusters -------------------------------------------------------------------------


class Locality(_S):
    region: str = ""
    zone: str = ""
    sub_zone: str = ""


class Endpoint(_S):
    address: Address | None = None
    additional_addresses: list[AdditionalAddress] = []
    hostname: str = ""


class LbEndpoint(_S):
    endpoint: Endpoint | None = None
    health_status: str = ""
    load_balancing_weight: int | None = None
    #: Kept as bytes: only trace reads it (``envoy.transport_socket_match``).
    metadata: Raw = NULL


class LocalityLbEndpoints(_S):
    locality: Locality | None = None
    lb_endpoints: list[LbEndpoint] = []
    priority: int = 0
    load_balancing_weight: int | None = None
    #: Kept as bytes: only trace reads it (``envoy.transport_socket_match``).
    metadata: Raw = NULL


class ClaPolicy(_S):
    #: Percent; Envoy's default is 140 (a priority at 1/1.4 healthy takes all its load).
    overprovisioning_factor: int | None = None


class ClusterLoadAssignment(_S):
    cluster_name: str = ""
    endpoints: list[LocalityLbEndpoints] = []
    policy: ClaPolicy | None = None


class Percent(_S):
    value: float = 0.0


class CommonLbConfig(_S):
    #: Percent of usable hosts under which a priority is in panic; Envoy's default 50, 0: off.
    healthy_panic_threshold: Percent | None = None
    #: set (``{}``): the cluster splits traffic by its localities' ``load_balancing_weight``
    locality_weighted_lb_config: Raw = NULL


class EdsClusterConfig(_S):
    service_name: str = ""


class CustomClusterType(_S):
    name: str = ""
    #: The extension's config (an aggregate cluster's ``clusters``), read by trace.
    typed_config: Raw = NULL


class LoadBalancingPolicyEntry(_S):
    typed_extension_config: TypedExtension | None = None


class LoadBalancingPolicy(_S):
    """The typed load balancer (Envoy >= 1.27); Envoy takes it over ``lb_policy``."""

    policies: list[LoadBalancingPolicyEntry] = []


class TransportSocketMatch(_S):
    """One of a cluster's ``transport_socket_matches``.

    The socket for the endpoints whose ``envoy.transport_socket_match`` metadata holds
    every key of ``match`` (Istio's ``tlsMode-istio``: mTLS to the endpoints labelled
    ``tlsMode: istio``).
    """

    name: str = ""
    match: dict[str, Raw] = {}
    transport_socket: TypedExtension | None = None


class Cluster(_S):
    name: str = ""
    type: str = ""
    cluster_type: CustomClusterType | None = None
    lb_policy: str = ""
    load_balancing_policy: LoadBalancingPolicy | None = None
    connect_timeout: str = ""
    eds_cluster_config: EdsClusterConfig | None = None
    load_assignment: ClusterLoadAssignment | None = None
    metadata: Metadata | None = None
    transport_socket: TypedExtension | None = None
    #: Kept as bytes: decoded on demand by :func:`pdebug.model.clusters.socket_matches`
    #: (the clusters table never reads it).
    transport_socket_matches: Raw = NULL
    health_checks: list[Raw] = []
    outlier_detection: Raw = NULL
    common_lb_config: CommonLbConfig | None = None
    #: Envoy <= 1.14 (v2): a static cluster's addresses, before ``load_assignment``.
    hosts: list[Address] = []
    tls_context: Raw = NULL  # Envoy <= 1.16 (v2): the cluster's UpstreamTlsContext


class LbWeightedCluster(_S):
    """Only what says whether a cluster balances by locality weight (the endpoints view)."""

    name: str = ""
    common_lb_config: CommonLbConfig | None = None


class LbWeightedEntry(_S):
    cluster: LbWeightedCluster = msgspec.field(default_factory=LbWeightedCluster)


# --- listeners ------------------------------------------------------------------------


class CidrRange(_S):
    address_prefix: str = ""
    prefix_len: int = 0


class FilterChainMatch(_S):
    destination_port: int | None = None
    prefix_ranges: list[CidrRange] = []
    direct_source_prefix_ranges: list[CidrRange] = []
    source_type: str = ""
    source_prefix_ranges: list[CidrRange] = []
    source_ports: list[int] = []
    server_names: list[str] = []
    transport_protocol: str = ""
    application_protocols: list[str] = []


class FilterChain(_S):
    name: str = ""
    filter_chain_match: FilterChainMatch | None = None
    filters: list[TypedExtension] = []
    transport_socket: TypedExtension | None = None
    tls_context: Raw = NULL  # Envoy <= 1.16 (v2): the chain's DownstreamTlsContext


class ApiListener(_S):
    """``api_listener``: a listener an application uses in-process, not a socket.

    Proxyless gRPC's, as istiod sends them, and Envoy Mobile's: a connection manager as an
    Any.
    """

    api_listener: Raw = NULL


class ListenerV1(_S):
    """``deprecated_v1`` of a listener (Envoy <= 1.16): where ``bind_to_port`` was."""

    bind_to_port: bool | None = None


class Listener(_S):
    name: str = ""
    address: Address | None = None
    additional_addresses: list[AdditionalAddress] = []
    filter_chains: list[FilterChain] = []
    default_filter_chain: FilterChain | None = None
    use_original_dst: bool = False
    bind_to_port: bool | None = None
    traffic_direction: str = ""
    listener_filters: list[TypedExtension] = []
    internal_listener: Raw = NULL
    filter_chain_matcher: Raw = NULL
    api_listener: ApiListener | None = None
    #: Envoy <= 1.16 (Istio <= 1.8's outbound listeners): ``{bind_to_port: false}``.
    deprecated_v1: ListenerV1 | None = None
    #: Envoy 1.15-1.17 wrote ``use_original_dst`` so in v3 dumps (Istio 1.6-1.8's
    #: virtualOutbound), the field being deprecated in those protos.
    hidden_envoy_deprecated_use_original_dst: bool = False

    @property
    def binds(self) -> bool:
        """Whether Envoy binds the listener's address (``bind_to_port`` is not false).

        Read where Envoy <= 1.16 wrote it too, in ``deprecated_v1``.
        """
        if self.bind_to_port is not None:
            return self.bind_to_port
        v1 = self.deprecated_v1
        return v1 is None or v1.bind_to_port is not False

    @property
    def hands_off(self) -> bool:
        """``use_original_dst``: it hands each connection to its original destination's.

        Read under Envoy 1.15-1.17's hidden name too.
        """
        return self.use_original_dst or self.hidden_envoy_deprecated_use_original_dst


# --- routes ---------------------------------------------------------------------------


class RegexMatcher(_S):
    regex: str = ""


class StringMatcher(_S):
    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    contains: str | None = None
    safe_regex: RegexMatcher | None = None
    ignore_case: bool = False


class Int64Range(_S):
    start: int = 0
    end: int = 0


class HeaderMatcher(_S):
    name: str = ""
    exact_match: str | None = None
    prefix_match: str | None = None
    suffix_match: str | None = None
    contains_match: str | None = None
    safe_regex_match: RegexMatcher | None = None
    #: Envoy <= 1.14 (v2): an ECMAScript regex, matched whole.
    regex_match: str | None = None
    present_match: bool | None = None
    string_match: StringMatcher | None = None
    invert_match: bool = False
    treat_missing_header_as_empty: bool = False
    range_match: Int64Range | None = None


class QueryParameterMatcher(_S):
    name: str = ""
    string_match: StringMatcher | None = None
    present_match: bool | None = None


class TlsContextMatch(_S):
    """``match.tls_context``: whether the client presented (and had validated) a cert."""

    presented: bool | None = None
    validated: bool | None = None


class RouteMatch(_S):
    prefix: str | None = None
    path: str | None = None
    safe_regex: RegexMatcher | None = None
    #: Envoy <= 1.14 (v2): an ECMAScript regex on the path, matched whole.
    regex: str | None = None
    path_separated_prefix: str | None = None
    connect_matcher: Raw = NULL
    case_sensitive: bool | None = None
    headers: list[HeaderMatcher] = []
    query_parameters: list[QueryParameterMatcher] = []
    grpc: Raw = NULL
    runtime_fraction: Raw = NULL
    tls_context: TlsContextMatch | None = None
    dynamic_metadata: list[Raw] = []
    path_match_policy: Raw = NULL


class WeightedCluster(_S):
    name: str = ""
    weight: int | None = None
    cluster_header: str = ""  # instead of name: the cluster is the header's value
    #: What the upstream sees through this cluster (before the route's own edits).
    host_rewrite_literal: str = ""
    request_headers_to_add: list[Raw] = []
    request_headers_to_remove: list[str] = []


class WeightedClusters(_S):
    clusters: list[WeightedCluster] = []
    total_weight: int | None = None


class ClusterSpecifierPlugin(_S):
    """A route's ``inline_cluster_specifier_plugin``: an extension picks the cluster."""

    extension: TypedExtension | None = None
    is_optional: bool = False


class RouteAction(_S):
    cluster: str = ""
    cluster_header: str = ""
    weighted_clusters: WeightedClusters | None = None
    cluster_specifier_plugin: str = ""
    inline_cluster_specifier_plugin: ClusterSpecifierPlugin | None = None
    timeout: str = ""
    cluster_not_found_response_code: str = ""
    #: What the upstream sees (trace: :mod:`pdebug.trace.rewrites`).
    prefix_rewrite: str | None = None
    regex_rewrite: Raw = NULL
    path_rewrite_policy: Raw = NULL
    host_rewrite_literal: str = ""
    host_rewrite_header: str = ""
    host_rewrite_path_regex: Raw = NULL
    auto_host_rewrite: bool = False
    append_x_forwarded_host: bool = False
    request_mirror_policies: list[Raw] = []
    #: The v2 API's single mirror (Envoy <= 1.18; request_mirror_policies replaced it).
    request_mirror_policy: Raw = NULL
    #: What the router's x-envoy-expected-rq-timeout-ms reads (trace: forwarded.py).
    retry_policy: Raw = NULL
    hedge_policy: Raw = NULL
    max_stream_duration: Raw = NULL
    max_grpc_timeout: Raw = NULL
    grpc_timeout_offset: Raw = NULL


class DirectResponse(_S):
    status: int = 0
    body: DataSource | None = None


class RedirectAction(_S):
    """A route's ``redirect`` (decoded on demand from :attr:`Route.redirect`)."""

    scheme_redirect: str = ""
    https_redirect: bool = False
    host_redirect: str = ""
    port_redirect: int = 0
    path_redirect: str = ""
    prefix_rewrite: str | None = None
    regex_rewrite: Raw = NULL
    response_code: str | int = ""
    strip_query: bool = False


class Route(_S):
    name: str = ""
    match: RouteMatch | None = None
    route: RouteAction | None = None
    redirect: Raw = NULL
    direct_response: DirectResponse | None = None
    #: A gRPC server's route (proxyless, istiod's grpc generator): the application's own
    #: handlers answer; Envoy does not implement it.
    non_forwarding_action: Raw = NULL
    metadata: Metadata | None = None
    #: HTTP filters' per-route configs by filter name (read: on_demand's ``odcds``).
    typed_per_filter_config: dict[str, Raw] = {}
    #: Header edits the router makes for the upstream (trace: :mod:`pdebug.trace.rewrites`).
    request_headers_to_add: list[Raw] = []
    request_headers_to_remove: list[str] = []


class VirtualHost(_S):
    name: str = ""
    domains: list[str] = []
    routes: list[Route] = []
    require_tls: str = ""
    matcher: Raw = NULL
    typed_per_filter_config: dict[str, Raw] = {}
    request_headers_to_add: list[Raw] = []
    request_headers_to_remove: list[str] = []
    #: The routes' defaults for what the router adds (trace: forwarded.py).
    retry_policy: Raw = NULL
    hedge_policy: Raw = NULL
    include_request_attempt_count: bool = False


class RouteConfiguration(_S):
    name: str = ""
    virtual_hosts: list[VirtualHost] = []
    ignore_port_in_host_matching: bool = False
    #: Headers Envoy removes from a request whose client is not internal.
    internal_only_headers: list[str] = []
    request_headers_to_add: list[Raw] = []
    request_headers_to_remove: list[str] = []
    #: The header edits' order: route configuration first (else the route's first).
    most_specific_header_mutations_wins: bool = False
    #: The plugins a route's ``cluster_specifier_plugin`` names (by extension name).
    cluster_specifier_plugins: list[ClusterSpecifierPlugin] = []
    #: HTTP filters' configs for every route of the configuration, by filter name.
    typed_per_filter_config: dict[str, Raw] = {}
    #: On-demand virtual hosts (VHDS): more hosts than the dump holds may arrive later.
    vhds: Raw = NULL


# --- typed configs of the network filters pdebug understands -----------------------


class Rds(_S):
    route_config_name: str = ""


class HttpConnectionManager(_S):
    type_url: str = field(default="", name="@type")
    stat_prefix: str = ""
    rds: Rds | None = None
    route_config: RouteConfiguration | None = None
    scoped_routes: Raw = NULL
    http_filters: list[TypedExtension] = []
    strip_any_host_port: bool = False
    strip_matching_host_port: bool = False
    normalize_path: bool | None = None
    merge_slashes: bool = False
    path_with_escaped_slashes_action: str = ""  # KEEP_UNCHANGED, UNESCAPE_AND_FORWARD...
    strip_trailing_host_dot: bool = False
    use_remote_address: bool | None = None
    #: A uint32: Envoy refuses a negative one, so does the model (the listener is skipped).
    xff_num_trusted_hops: Annotated[int, msgspec.Meta(ge=0)] = 0
    skip_xff_append: bool = False
    generate_request_id: bool | None = None  # absent: true
    preserve_external_request_id: bool = False
    #: Which clients are internal (absent: none is, so Envoy strips their x-envoy-* edits).
    internal_address_config: Raw = NULL
    forward_client_cert_details: str | int = ""  # absent: SANITIZE
    #: Headers the connection manager adds to every request (trace: forwarded.py).
    via: str = ""
    append_x_forwarded_port: bool = False
    set_current_client_cert_details: Raw = NULL
    #: Read by trace's ``envoy headers`` step (the tracer's context headers).
    tracing: Raw = NULL


class TcpProxyV1Route(_S):
    """A route of the v1 TCP proxy (Envoy <= 1.8, Istio 1.0): the first that matches wins."""

    cluster: str = ""
    destination_ip_list: list[str] = []  # "172.21.134.116/32"
    destination_ports: str = ""  # "443,8000-8090"
    source_ip_list: list[str] = []
    source_ports: str = ""


class TcpProxyV1RouteConfig(_S):
    routes: list[TcpProxyV1Route] = []


class TcpProxyV1(_S):
    stat_prefix: str = ""
    route_config: TcpProxyV1RouteConfig | None = None


class TcpTunneling(_S):
    hostname: str = ""
    use_post: bool | None = None


class TcpProxy(_S):
    type_url: str = field(default="", name="@type")
    stat_prefix: str = ""
    cluster: str = ""
    weighted_clusters: WeightedClusters | None = None
    # Envoy <= 1.8: config {deprecated_v1: true, value: {route_config: {routes: [...]}}}
    deprecated_v1: bool | None = None
    value: TcpProxyV1 | None = None
    #: On-demand cluster discovery (ODCDS): a cluster not yet known is asked for.
    on_demand: Raw = NULL
    #: The connection goes upstream inside an HTTP CONNECT (or POST) to ``hostname``.
    tunneling_config: TcpTunneling | None = None


class AnyType(_S):
    """Just the ``@type`` of a protobuf Any."""

    type_url: str = field(default="", name="@type")


# --- admin dump entries -----------------------------------------------------------------


class ClusterEntry(_S):
    """``static_clusters[]`` / ``dynamic_*_clusters[]``.

    ``error_state`` (Envoy: not implemented for clusters) is kept raw: an entry holding
    only it has no cluster (:attr:`absent`) and is not a row. Nor is an entry whose
    cluster has no name (Envoy rejects one): a pasted dump's ``{"...": "..."}``
    placeholder (``ConfigDump.cluster_entries`` says it was skipped).
    """

    version_info: str = ""
    cluster: Cluster = msgspec.field(default_factory=Cluster)
    last_updated: str = ""
    error_state: Raw = NULL

    @property
    def absent(self) -> bool:
        """No cluster here: only an ``error_state`` (a rejected update), or a placeholder."""
        return not self.cluster.name


class ListenerState(_S):
    version_info: str = ""
    listener: Listener | None = None
    last_updated: str = ""


class UpdateFailureState(_S):
    failed_configuration: Raw = NULL
    last_update_attempt: str = ""
    details: str = ""
    version_info: str = ""


class DynamicListener(_S):
    name: str = ""
    active_state: ListenerState | None = None
    warming_state: ListenerState | None = None
    draining_state: ListenerState | None = None
    error_state: UpdateFailureState | None = None
    client_status: str = ""


class StaticListener(_S):
    listener: Listener | None = None
    last_updated: str = ""


class RouteConfigEntry(_S):
    version_info: str = ""
    route_config: RouteConfiguration = msgspec.field(default_factory=RouteConfiguration)
    last_updated: str = ""


class EndpointConfigEntry(_S):
    version_info: str = ""
    endpoint_config: ClusterLoadAssignment = msgspec.field(default_factory=ClusterLoadAssignment)
    last_updated: str = ""


class DataSource(_S):
    inline_bytes: str = ""
    inline_string: str = ""
    filename: str = ""


class TlsCertificate(_S):
    certificate_chain: DataSource | None = None


class TrustDomain(_S):
    name: str = ""
    trust_bundle: DataSource | None = None


class SpiffeValidatorConfig(_S):
    type_url: str = field(default="", name="@type")
    trust_domains: list[TrustDomain] = []
    trust_bundles: DataSource | None = None  # a SPIFFE bundle map (JSON); wins over the above


class CustomValidatorConfig(_S):
    name: str = ""
    typed_config: Raw = NULL


class CertificateProviderPluginInstance(_S):
    """Certificates from a provider plugin (gRPC's xDS, Istio's proxyless gRPC), by name."""

    instance_name: str = ""
    certificate_name: str = ""


class ValidationContext(_S):
    trusted_ca: DataSource | None = None
    custom_validator_config: CustomValidatorConfig | None = None
    ca_certificate_provider_instance: CertificateProviderPluginInstance | None = None


class CombinedValidationContext(_S):
    default_validation_context: ValidationContext | None = None
    #: deprecated (its type's fields are the same two names)
    validation_context_certificate_provider_instance: CertificateProviderPluginInstance | None = (
        None
    )


class Secret(_S):
    name: str = ""
    tls_certificate: TlsCertificate | None = None
    validation_context: ValidationContext | None = None


class CommonTlsContext(_S):
    """What a TLS transport socket holds inline (Consul writes every certificate so)."""

    tls_certificates: list[TlsCertificate] = []
    validation_context: ValidationContext | None = None
    combined_validation_context: CombinedValidationContext | None = None
    tls_certificate_provider_instance: CertificateProviderPluginInstance | None = None
    #: deprecated (its type's fields are the same two names)
    tls_certificate_certificate_provider_instance: CertificateProviderPluginInstance | None = None


class TlsContext(_S):
    """A Downstream/UpstreamTlsContext, as far as its inline certificates go."""

    common_tls_context: CommonTlsContext | None = None


class SecretEntry(_S):
    name: str = ""
    version_info: str = ""
    last_updated: str = ""
    secret: Secret | None = None


class EcdsEntry(_S):
    version_info: str = ""
    ecds_filter: TypedExtension | None = None
    last_updated: str = ""


# --- /clusters?format=json ------------------------------------------------------------


class HostHealthStatus(_S):
    failed_active_health_check: bool = False
    failed_outlier_check: bool = False
    failed_active_degraded_check: bool = False
    pending_dynamic_removal: bool = False
    pending_active_hc: bool = False
    excluded_via_immediate_hc_fail: bool = False
    active_hc_timeout: bool = False
    eds_health_status: str = ""


class HostStat(_S):
    name: str = ""
    value: int | str = 0
    type: str = ""


class HostStatus(_S):
    address: Address | None = None
    # Envoy 1.8 and later: a list; the Envoy master builds of mid-2018 (Istio 1.0) wrote a
    # map of stat name -> {value, type}
    stats: list[HostStat] | dict[str, HostStat] = []
    health_status: HostHealthStatus | None = None
    success_rate: Raw = NULL
    weight: int = 0
    hostname: str = ""
    priority: int = 0
    locality: Locality | None = None


class ClusterStatus(_S):
    name: str = ""
    added_via_api: bool = False
    host_statuses: list[HostStatus] = []
    observability_name: str = ""


class ClustersDocument(_S):
    cluster_statuses: list[ClusterStatus] = []
