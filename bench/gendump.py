"""Generate a synthetic, Istio-shaped Envoy v3 ``/config_dump?include_eds`` document.

The output is meant for benchmarking parsers, so what matters is that its *size and shape*
look like a real sidecar dump of a large mesh: the section order, the snake_case keys, the
pretty-printed (2-space indented) layout Envoy's admin endpoint emits, and the per-resource
bulk Istio pushes (TLS transport sockets, HTTP filter chains, retry policies, locality
endpoints, ...). Nothing here is copied from Istio or Envoy; the structures were written from
the public API field names.

The document is fully deterministic: it depends only on ``--services``, ``--seed`` and
``--namespaces`` (fixed timestamps, seeded RNG, no wall clock). It is written as a stream with
orjson so that even 20k services stay fast and light on memory.

Usage::

    python bench/gendump.py --services 5000 -o bench/out/dump-5000.json [--seed 1]
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

# --------------------------------------------------------------------------------------------
# Constants shared by many resources (orjson serialises shared references as copies, so the
# output is exactly as bulky as if each resource had its own dict).
# --------------------------------------------------------------------------------------------

ADMIN = "type.googleapis.com/envoy.admin.v3."
T_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
T_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
T_ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
T_CLA = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
T_SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
T_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network."
    "http_connection_manager.v3.HttpConnectionManager"
)
T_TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
T_UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
T_DOWNSTREAM_TLS = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
)
T_TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct"
T_HTTP_OPTS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HTTP_OPTS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

ISTIO_VERSION = "1.22.3"
PROXY_NS = "default"
PROXY_IP = "10.0.0.1"
PROXY_POD = "productpage-v1-xyz"
NODE_ID = f"sidecar~{PROXY_IP}~{PROXY_POD}.{PROXY_NS}~{PROXY_NS}.svc.cluster.local"
XDS_VERSION = "2024-05-01T12:00:00Z/42"
BASE_TS = "2024-05-01T12:"  # every last_updated lies within 12:00-12:59 on that day
MAXU32 = 4294967295

# A fixed, self-signed dummy certificate (generated once with `cryptography`; the private key
# was discarded). It only has to *look* like the PEM bundle Istio hands to Envoy over SDS.
DUMMY_CERT_PEM = b"""-----BEGIN CERTIFICATE-----
MIIC5DCCAcygAwIBAgICXu0wDQYJKoZIhvcNAQELBQAwHTEbMBkGA1UECgwScGRl
YnVnLWJlbmNoIGR1bW15MB4XDTI0MDEwMTAwMDAwMFoXDTMzMTIyOTAwMDAwMFow
ADCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBANHKiAnfDNFOkJC/yrDG
BVrJiRFiXXaX5wbVnwRqt40H6FAOLD7FUYUWc5te2JUZ8VSLZiCEfwFx+yhkIJvU
eptCGE00QBZ2ClUE38tytzzkovu2kdt7M8DulIV6bqd2yiKjLOTfSm1jmxtALw2M
DoG1qdbi5S5gsG3sv+3gL/KvLBndUdY24BEM7DJHsG5YqX/BwDcDgAnTgxaStppn
5WQfxSF6gItj6I1LxHBTnDv+rSe8kaV9YM4EGYzTd0uyslr3SOfdMeZIEQj5VwNI
Krh8LiNFIROACTrdEjNnyiJ0WyA2erXExrKJBJ63I8GqcD77A99JCh05p7VcM+Ir
D40CAwEAAaNLMEkwRwYDVR0RAQH/BD0wO4Y5c3BpZmZlOi8vY2x1c3Rlci5sb2Nh
bC9ucy9kZWZhdWx0L3NhL2Jvb2tpbmZvLXByb2R1Y3RwYWdlMA0GCSqGSIb3DQEB
CwUAA4IBAQCtt3HxnCODoUBSetHD76vdWOwI0LHt0RmhjPR9EpARhAIIJuxGduMb
dMBRO2p/ogWRLc2bosQsUstoMkDZE35mDsguPYF6gL/AWvIgBcn44jgLRMddL0yX
x3lkby8jI4yVuTGvlyo/+YzjdJdSXxiugBqv22+dKtwU0RMkQ/zk9YBHW/foilC0
NsXjoVyWPNG0gWeUD1ezvlZSex/LtsrovEzKI2w2fn7LifN7ZQ9ej7o+wFgV04TG
jxALnL9657P9lwvcxag5Cyzsi3eQuxSlKlAxH6DOGGhYqiw1N8dC7X+i4k4ODc1i
kR39bTjvTwQYimfhOIwVrb9rJFuSo13N
-----END CERTIFICATE-----
"""
CERT_B64 = base64.b64encode(DUMMY_CERT_PEM).decode()
REDACTED_B64 = base64.b64encode(b"[redacted]").decode()  # what Envoy prints for private keys

ADS = {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}
SDS_CONFIG = {
    "api_config_source": {
        "api_type": "GRPC",
        "transport_api_version": "V3",
        "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}],
        "set_node_on_first_message_only": True,
    },
    "initial_fetch_timeout": "0s",
    "resource_api_version": "V3",
}
CIRCUIT_BREAKERS = {
    "thresholds": [
        {
            "max_connections": MAXU32,
            "max_pending_requests": MAXU32,
            "max_requests": MAXU32,
            "max_retries": MAXU32,
            "track_remaining": True,
        }
    ]
}
TLS_PARAMS = {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"}
RAW_BUFFER_SOCKET = {
    "name": "envoy.transport_sockets.raw_buffer",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
    },
}
UPSTREAM_MX_FILTER = {
    "name": "istio.metadata_exchange",
    "typed_config": {
        "@type": T_TYPED_STRUCT,
        "type_url": "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange",
        "value": {"protocol": "istio-peer-exchange", "enable_discovery": True},
    },
}
ACCESS_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)
ACCESS_LOG = [
    {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": "/dev/stdout",
            "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}},
        },
    }
]
RETRY_POLICY = {
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "num_retries": 2,
    "retry_host_predicate": [
        {
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3."
                "PreviousHostsPredicate"
            },
        }
    ],
    "host_selection_retry_max_attempts": "5",
    "retriable_status_codes": [503],
}
MAX_STREAM_DURATION = {"max_stream_duration": "0s", "grpc_timeout_header_max": "0s"}


def _tracing() -> dict[str, Any]:
    tags = [
        {"tag": "istio.authorization.dry_run.allow_policy.name", "metadata": _dry_run("allow")},
        {"tag": "istio.authorization.dry_run.deny_policy.name", "metadata": _dry_run("deny")},
        {"tag": "istio.canonical_revision", "literal": {"value": "v1"}},
        {"tag": "istio.canonical_service", "literal": {"value": "productpage"}},
        {"tag": "istio.mesh_id", "literal": {"value": "cluster.local"}},
        {"tag": "istio.namespace", "literal": {"value": PROXY_NS}},
    ]
    return {
        "client_sampling": {"value": 100},
        "random_sampling": {"value": 1},
        "overall_sampling": {"value": 100},
        "custom_tags": tags,
        "provider": {
            "name": "envoy.tracers.zipkin",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
                "collector_cluster": "zipkin",
                "collector_endpoint": "/api/v2/spans",
                "trace_id_128bit": True,
                "shared_span_context": False,
                "collector_endpoint_version": "HTTP_JSON",
            },
        },
    }


def _dry_run(kind: str) -> dict[str, Any]:
    return {
        "kind": {"request": {}},
        "metadata_key": {
            "key": "envoy.filters.http.rbac",
            "path": [{"key": f"istio_dry_run_{kind}_shadow_effective_policy_id"}],
        },
    }


TRACING = _tracing()


def _wasm_stats(direction: str) -> dict[str, Any]:
    conf = (
        '{\n  "debug": "false",\n  "stat_prefix": "istio",\n  "disable_host_header_fallback": '
        + ("true" if direction == "outbound" else "false")
        + ',\n  "metrics": [\n    {\n      "dimensions": {\n        "source_cluster": '
        '"node.metadata[\'CLUSTER_ID\']",\n        "destination_cluster": '
        '"upstream_peer.cluster_id"\n      }\n    }\n  ]\n}\n'
    )
    return {
        "name": "istio.stats",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "root_id": f"stats_{direction}",
                "vm_config": {
                    "vm_id": f"stats_{direction}",
                    "runtime": "envoy.wasm.runtime.null",
                    "code": {"local": {"inline_string": "envoy.wasm.stats"}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": conf,
                },
            },
        },
    }


def _http_filters(direction: str) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [
        {
            "name": "istio.metadata_exchange",
            "typed_config": {
                "@type": T_TYPED_STRUCT,
                "type_url": "type.googleapis.com/io.istio.http.peer_metadata.Config",
                "value": {
                    ("downstream_discovery" if direction == "inbound" else "upstream_discovery"): [
                        {"istio_headers": {}},
                        {"workload_discovery": {}},
                    ],
                    (
                        "downstream_propagation"
                        if direction == "inbound"
                        else "upstream_propagation"
                    ): [{"istio_headers": {}}],
                },
            },
        },
    ]
    if direction == "outbound":
        filters.append(
            {
                "name": "envoy.filters.http.grpc_stats",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3."
                    "FilterConfig",
                    "emit_filter_state": True,
                    "stats_for_all_methods": False,
                },
            }
        )
        filters.append(
            {
                "name": "istio.alpn",
                "typed_config": {
                    "@type": "type.googleapis.com/istio.envoy.config.filter.http.alpn.v2alpha1."
                    "FilterConfig",
                    "alpn_override": [
                        {"alpn_override": ["istio-http/1.0", "istio", "http/1.0"]},
                        {
                            "upstream_protocol": "HTTP11",
                            "alpn_override": ["istio-http/1.1", "istio", "http/1.1"],
                        },
                        {
                            "upstream_protocol": "HTTP2",
                            "alpn_override": ["istio-h2", "istio", "h2"],
                        },
                    ],
                },
            }
        )
    else:
        filters.append(
            {
                "name": "envoy.filters.http.rbac",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                    "rules": {},
                    "shadow_rules_stat_prefix": "istio_dry_run_allow_",
                },
            }
        )
    filters += [
        {
            "name": "envoy.filters.http.fault",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
            },
        },
        {
            "name": "envoy.filters.http.cors",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
            },
        },
        _wasm_stats(direction),
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
            },
        },
    ]
    return filters


HTTP_FILTERS_OUT = _http_filters("outbound")
HTTP_FILTERS_IN = _http_filters("inbound")
REQUEST_ID = {
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
        "use_request_id_for_trace_sampling": True,
    }
}


# --------------------------------------------------------------------------------------------
# Mesh model
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Port:
    number: int
    name: str
    protocol: str  # HTTP | GRPC | TCP | TLS
    target: int


@dataclass(slots=True)
class Endpoint:
    ip: str
    version: str
    region: str
    zone: str
    health: str


@dataclass(slots=True)
class Service:
    idx: int
    name: str
    ns: str
    fqdn: str
    ip: str
    ports: list[Port]
    subsets: bool
    virtual_service: bool
    endpoints: list[Endpoint] = field(default_factory=list)
    external: bool = False


SUBSET_FRACTION = 0.08  # services with a DestinationRule defining subsets v1/v2
TCP_PORTS = [3306, 5432, 6379, 9092, 27017, 11211]
REGIONS = {"us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"], "us-west1": ["us-west1-a"]}
INBOUND_PORTS = [
    Port(9080, "http", "HTTP", 9080),
    Port(9081, "grpc", "GRPC", 9081),
    Port(9443, "tcp", "TCP", 9443),
]


def build_mesh(n: int, seed: int, namespaces: int) -> list[Service]:
    """Return the services of the synthetic mesh (deterministic for a given seed)."""
    rng = random.Random(seed)
    services: list[Service] = []
    pod = 0
    regions = list(REGIONS)
    for i in range(n):
        ns = f"ns-{i % namespaces}"
        name = f"svc-{i}"
        c = i + 10
        ip = f"10.{96 + (c >> 16)}.{(c >> 8) & 255}.{c & 255}"
        r = rng.random()
        if r < 0.6:
            ports = [Port(80, "http", "HTTP", 8080), Port(8080, "http-alt", "HTTP", 8080)]
        elif r < 0.75:  # 15%
            ports = [
                Port(80, "http", "HTTP", 8080),
                Port(9090, "grpc", "GRPC", 9090),
                Port(8080, "http-metrics", "HTTP", 8081),
            ]
        else:
            tcp = rng.choice(TCP_PORTS)
            ports = [
                Port(rng.choice([80, 8080]), "http", "HTTP", 8080),
                Port(tcp, "tcp", "TCP", tcp),
            ]
            if rng.random() < 0.1:
                ports.append(Port(9090, "grpc", "GRPC", 9090))
        subsets = rng.random() < SUBSET_FRACTION
        vs = subsets and rng.random() < 0.8 or rng.random() < 0.05
        svc = Service(i, name, ns, f"{name}.{ns}.svc.cluster.local", ip, ports, subsets, vs)
        region = rng.choice(regions)
        for k in range(rng.randint(3, 6)):
            pod += 1
            h = rng.random()
            health = "HEALTHY" if h < 0.94 else ("UNHEALTHY" if h < 0.98 else "DRAINING")
            svc.endpoints.append(
                Endpoint(
                    ip=f"10.{128 + (pod >> 16)}.{(pod >> 8) & 255}.{pod & 255}",
                    version="v2" if subsets and k % 2 else "v1",
                    region=region,
                    zone=rng.choice(REGIONS[region]),
                    health=health,
                )
            )
        services.append(svc)
    # A few ServiceEntries for external TLS hosts (STRICT_DNS, SNI-routed on 0.0.0.0_443).
    for j in range(max(1, n // 100)):
        host = f"api-{j}.partner-{j % 7}.example.com"
        svc = Service(
            n + j,
            f"api-{j}",
            "istio-system",
            host,
            "",
            [Port(443, "tls", "TLS", 443)],
            False,
            False,
        )
        svc.external = True
        svc.endpoints.append(Endpoint(host, "", "", "", "HEALTHY"))
        services.append(svc)
    return services


def ts(n: int) -> str:
    """Fixed, deterministic timestamp that varies with the resource index."""
    return f"{BASE_TS}{(n // 60) % 60:02d}:{n % 60:02d}.{(n * 37) % 1000:03d}Z"


def sock(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}


# --------------------------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------------------------


def cluster_name(svc: Service, port: Port, subset: str) -> str:
    return f"outbound|{port.number}|{subset}|{svc.fqdn}"


def sni(svc: Service, port: Port, subset: str) -> str:
    return f"outbound_.{port.number}_.{subset}_.{svc.fqdn}"


def istio_tls_context(alpn: list[str], san: dict[str, str]) -> dict[str, Any]:
    """A sidecar's mTLS ``common_tls_context``: SDS ``default`` and ``ROOTCA``, URI SAN ``san``."""
    return {
        "tls_params": TLS_PARAMS,
        "alpn_protocols": alpn,
        "tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": SDS_CONFIG}],
        "combined_validation_context": {
            "default_validation_context": {
                "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": san}]
            },
            "validation_context_sds_secret_config": {"name": "ROOTCA", "sds_config": SDS_CONFIG},
        },
    }


def upstream_tls_match(svc: Service, port: Port, subset: str) -> list[dict[str, Any]]:
    san = f"spiffe://cluster.local/ns/{svc.ns}/sa/{svc.name}"
    return [
        {
            "name": "tlsMode-istio",
            "match": {"tlsMode": "istio"},
            "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": T_UPSTREAM_TLS,
                    "common_tls_context": istio_tls_context(
                        ["istio-peer-exchange", "istio"], {"exact": san}
                    ),
                    "sni": sni(svc, port, subset),
                },
            },
        },
        {"name": "tlsMode-disabled", "match": {}, "transport_socket": RAW_BUFFER_SOCKET},
    ]


def http_protocol_options(protocol: str) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "@type": T_HTTP_OPTS,
        "common_http_protocol_options": {"idle_timeout": "3600s"},
    }
    if protocol == "GRPC":
        opts["explicit_http_config"] = {
            "http2_protocol_options": {"max_concurrent_streams": 1073741824}
        }
    else:
        opts["use_downstream_protocol_config"] = {
            "http_protocol_options": {},
            "http2_protocol_options": {"max_concurrent_streams": 1073741824},
        }
    return {HTTP_OPTS_KEY: opts}


def outbound_cluster(svc: Service, port: Port, subset: str) -> dict[str, Any]:
    name = cluster_name(svc, port, subset)
    istio: dict[str, Any] = {
        "services": [{"host": svc.fqdn, "name": svc.name, "namespace": svc.ns}],
        "default_original_port": port.number,
    }
    if svc.subsets:
        istio["config"] = (
            f"/apis/networking.istio.io/v1/namespaces/{svc.ns}/destination-rule/{svc.name}"
        )
    if subset:
        istio["subset"] = subset
    c: dict[str, Any] = {"@type": T_CLUSTER, "name": name}
    if svc.external:
        c["type"] = "STRICT_DNS"
        c["connect_timeout"] = "10s"
        c["lb_policy"] = "LEAST_REQUEST"
        c["load_assignment"] = {
            "cluster_name": name,
            "endpoints": [
                {
                    "locality": {},
                    "lb_endpoints": [
                        {
                            "endpoint": {"address": sock(svc.fqdn, port.number)},
                            "metadata": {
                                "filter_metadata": {
                                    "istio": {"workload": ";;;;"},
                                }
                            },
                            "load_balancing_weight": 1,
                        }
                    ],
                    "load_balancing_weight": 1,
                }
            ],
        }
        c["dns_refresh_rate"] = "60s"
        c["respect_dns_ttl"] = True
        c["dns_lookup_family"] = "V4_ONLY"
    else:
        c["type"] = "EDS"
        c["eds_cluster_config"] = {"eds_config": ADS, "service_name": name}
        c["connect_timeout"] = "10s"
        if not svc.subsets:
            c["lb_policy"] = "LEAST_REQUEST"  # a DR with ROUND_ROBIN omits the (default) enum
    c["circuit_breakers"] = CIRCUIT_BREAKERS
    if svc.subsets:
        c["outlier_detection"] = {
            "consecutive_5xx": 5,
            "interval": "10s",
            "base_ejection_time": "30s",
            "max_ejection_percent": 50,
            "enforcing_consecutive_5xx": 100,
            "enforcing_success_rate": 0,
        }
    c["common_lb_config"] = {"locality_weighted_lb_config": {}}
    c["metadata"] = {"filter_metadata": {"istio": istio}}
    if not svc.external:
        c["transport_socket_matches"] = upstream_tls_match(svc, port, subset)
    if port.protocol in ("HTTP", "GRPC"):
        c["typed_extension_protocol_options"] = http_protocol_options(port.protocol)
    return c


def special_clusters() -> list[dict[str, Any]]:
    passthrough_opts = {
        HTTP_OPTS_KEY: {
            "@type": T_HTTP_OPTS,
            "common_http_protocol_options": {"idle_timeout": "3600s"},
            "use_downstream_protocol_config": {
                "http_protocol_options": {},
                "http2_protocol_options": {},
            },
        }
    }
    out = [
        {
            "@type": T_CLUSTER,
            "name": "BlackHoleCluster",
            "type": "STATIC",
            "connect_timeout": "10s",
        },
        {
            "@type": T_CLUSTER,
            "name": "PassthroughCluster",
            "type": "ORIGINAL_DST",
            "connect_timeout": "10s",
            "lb_policy": "CLUSTER_PROVIDED",
            "circuit_breakers": CIRCUIT_BREAKERS,
            "typed_extension_protocol_options": passthrough_opts,
            "filters": [UPSTREAM_MX_FILTER],
        },
        {
            "@type": T_CLUSTER,
            "name": "InboundPassthroughCluster",
            "type": "ORIGINAL_DST",
            "connect_timeout": "10s",
            "lb_policy": "CLUSTER_PROVIDED",
            "circuit_breakers": CIRCUIT_BREAKERS,
            "upstream_bind_config": {"source_address": sock("127.0.0.6", 0)},
            "typed_extension_protocol_options": passthrough_opts,
            "filters": [UPSTREAM_MX_FILTER],
        },
    ]
    for p in INBOUND_PORTS:
        c = {
            "@type": T_CLUSTER,
            "name": f"inbound|{p.number}||",
            "type": "ORIGINAL_DST",
            "connect_timeout": "10s",
            "lb_policy": "CLUSTER_PROVIDED",
            "circuit_breakers": CIRCUIT_BREAKERS,
            "cleanup_interval": "60s",
            "upstream_bind_config": {"source_address": sock("127.0.0.6", 0)},
            "metadata": {
                "filter_metadata": {
                    "istio": {
                        "services": [
                            {
                                "host": f"productpage.{PROXY_NS}.svc.cluster.local",
                                "name": "productpage",
                                "namespace": PROXY_NS,
                            }
                        ]
                    }
                }
            },
            "original_dst_lb_config": {"upstream_port_override": p.target},
        }
        if p.protocol != "TCP":
            c["typed_extension_protocol_options"] = http_protocol_options(p.protocol)
        out.append(c)
    return out


def static_clusters() -> list[dict[str, Any]]:
    def static(name: str, addr: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "@type": T_CLUSTER,
            "name": name,
            "type": "STATIC",
            "connect_timeout": "0.250s",
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": addr}}]}],
            },
            **extra,
        }

    h2 = {
        HTTP_OPTS_KEY: {
            "@type": T_HTTP_OPTS,
            "explicit_http_config": {"http2_protocol_options": {}},
        }
    }
    return [
        static("prometheus_stats", sock("127.0.0.1", 15000)),
        static("agent", sock("127.0.0.1", 15020)),
        static(
            "sds-grpc",
            {"pipe": {"path": "./var/run/secrets/workload-spiffe-uds/socket"}},
            typed_extension_protocol_options=h2,
        ),
        static(
            "xds-grpc",
            {"pipe": {"path": "./etc/istio/proxy/XDS"}},
            circuit_breakers={
                "thresholds": [
                    {
                        "max_connections": 100000,
                        "max_pending_requests": 100000,
                        "max_requests": 100000,
                    },
                    {
                        "priority": "HIGH",
                        "max_connections": 100000,
                        "max_pending_requests": 100000,
                        "max_requests": 100000,
                    },
                ]
            },
            typed_extension_protocol_options=h2,
            max_requests_per_connection=1,
        ),
        {
            "@type": T_CLUSTER,
            "name": "zipkin",
            "type": "STRICT_DNS",
            "connect_timeout": "1s",
            "dns_lookup_family": "V4_ONLY",
            "load_assignment": {
                "cluster_name": "zipkin",
                "endpoints": [
                    {"lb_endpoints": [{"endpoint": {"address": sock("zipkin.istio-system", 9411)}}]}
                ],
            },
            "respect_dns_ttl": True,
        },
    ]


# --------------------------------------------------------------------------------------------
# Listeners
# --------------------------------------------------------------------------------------------


def hcm(stat_prefix: str, direction: str, *, rds: str = "", route_config: Any = None) -> Any:
    tc: dict[str, Any] = {"@type": T_HCM, "stat_prefix": stat_prefix}
    if rds:
        tc["rds"] = {"config_source": ADS, "route_config_name": rds}
    else:
        tc["route_config"] = route_config
    tc["http_filters"] = HTTP_FILTERS_OUT if direction == "outbound" else HTTP_FILTERS_IN
    tc["tracing"] = TRACING
    tc["access_log"] = ACCESS_LOG
    tc["use_remote_address"] = False
    if direction == "inbound":
        tc["forward_client_cert_details"] = "APPEND_FORWARD"
        tc["set_current_client_cert_details"] = {"subject": True, "dns": True, "uri": True}
        tc["server_name"] = "istio-envoy"
    tc["upgrade_configs"] = [{"upgrade_type": "websocket"}]
    tc["stream_idle_timeout"] = "0s"
    tc["normalize_path"] = True
    tc["request_id_extension"] = REQUEST_ID
    tc["path_with_escaped_slashes_action"] = "KEEP_UNCHANGED"
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": tc}


def tcp_proxy(cluster: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": T_TCP_PROXY,
            "stat_prefix": cluster,
            "cluster": cluster,
            "access_log": ACCESS_LOG,
        },
    }


TCP_STATS = {
    "name": "istio.stats",
    "typed_config": {
        "@type": "type.googleapis.com/stats.PluginConfig",
        "tcp_reporting_duration": "5s",
    },
}
PASSTHROUGH_CHAIN = {
    "filters": [TCP_STATS, tcp_proxy("PassthroughCluster")],
    "name": "PassthroughFilterChain",
}


def listener_filter(name: str, short: str, disabled: dict[str, Any] | None = None) -> Any:
    f: dict[str, Any] = {
        "name": name,
        "typed_config": {
            "@type": f"type.googleapis.com/envoy.extensions.filters.listener.{short}.v3."
            + "".join(part.capitalize() for part in short.split("_"))
        },
    }
    if disabled:
        f["filter_disabled"] = disabled
    return f


NOT_HTTP_PORTS = {
    "or_match": {"rules": [{"destination_port_range": {"start": 15006, "end": 15007}}]}
}
OUTBOUND_LISTENER_FILTERS = [
    listener_filter("envoy.filters.listener.tls_inspector", "tls_inspector"),
    listener_filter("envoy.filters.listener.http_inspector", "http_inspector"),
]


def outbound_listener(
    name: str, address: dict[str, Any], chains: list[dict[str, Any]]
) -> dict[str, Any]:
    """An outbound listener (not bound: virtualOutbound hands it connections), passthrough
    by default."""
    return {
        "@type": T_LISTENER,
        "name": name,
        "address": address,
        "filter_chains": chains,
        "default_filter_chain": PASSTHROUGH_CHAIN,
        "listener_filters": OUTBOUND_LISTENER_FILTERS,
        "listener_filters_timeout": "0s",
        "continue_on_listener_filters_timeout": True,
        "traffic_direction": "OUTBOUND",
        "bind_to_port": False,
    }


def outbound_http_listener(port: int) -> dict[str, Any]:
    name = f"0.0.0.0_{port}"
    chain = {
        "filter_chain_match": {
            "transport_protocol": "raw_buffer",
            "application_protocols": ["http/1.1", "h2c"],
        },
        "filters": [hcm(f"outbound_0.0.0.0_{port}", "outbound", rds=str(port))],
        "name": name,
    }
    return outbound_listener(name, sock("0.0.0.0", port), [chain])


def outbound_tcp_listener(svc: Service, port: Port) -> dict[str, Any]:
    cluster = cluster_name(svc, port, "")
    chains = [{"filters": [TCP_STATS, tcp_proxy(cluster)]}]
    return outbound_listener(f"{svc.ip}_{port.number}", sock(svc.ip, port.number), chains)


def outbound_tls_listener(externals: list[Service]) -> dict[str, Any]:
    chains = []
    for svc in externals:
        cluster = cluster_name(svc, svc.ports[0], "")
        chains.append(
            {
                "filter_chain_match": {"server_names": [svc.fqdn]},
                "filters": [TCP_STATS, tcp_proxy(cluster)],
            }
        )
    return outbound_listener("0.0.0.0_443", sock("0.0.0.0", 443), chains)


def virtual_outbound() -> dict[str, Any]:
    return {
        "@type": T_LISTENER,
        "name": "virtualOutbound",
        "address": sock("0.0.0.0", 15001),
        "filter_chains": [
            {
                "filter_chain_match": {
                    "prefix_ranges": [{"address_prefix": PROXY_IP, "prefix_len": 32}]
                },
                "filters": [TCP_STATS, tcp_proxy("BlackHoleCluster")],
                "name": "virtualOutbound-blackhole",
            },
            {
                "filters": [TCP_STATS, tcp_proxy("PassthroughCluster")],
                "name": "virtualOutbound-catchall-tcp",
            },
        ],
        "use_original_dst": True,
        "traffic_direction": "OUTBOUND",
    }


def inline_route(name: str, vhost: str, cluster: str, operation: str) -> dict[str, Any]:
    return {
        "name": name,
        "virtual_hosts": [
            {
                "name": vhost,
                "domains": ["*"],
                "routes": [
                    {
                        "name": "default",
                        "match": {"prefix": "/"},
                        "route": {
                            "cluster": cluster,
                            "timeout": "0s",
                            "max_stream_duration": MAX_STREAM_DURATION,
                        },
                        "decorator": {"operation": operation},
                    }
                ],
            }
        ],
        "validate_clusters": False,
    }


def downstream_tls() -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": T_DOWNSTREAM_TLS,
            "common_tls_context": istio_tls_context(
                ["h2", "http/1.1"], {"prefix": "spiffe://cluster.local/"}
            ),
            "require_client_certificate": True,
        },
    }


DOWNSTREAM_TLS = downstream_tls()


def virtual_inbound() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the virtualInbound listener and the inline route configs it embeds."""
    inline: list[dict[str, Any]] = []
    chains: list[dict[str, Any]] = [
        {
            "filter_chain_match": {"destination_port": 15006},
            "filters": [TCP_STATS, tcp_proxy("BlackHoleCluster")],
            "name": "virtualInbound-blackhole",
        }
    ]
    for p in INBOUND_PORTS:
        cluster = f"inbound|{p.number}||"
        for tls in (True, False):
            match: dict[str, Any] = {
                "destination_port": p.number,
                "transport_protocol": "tls" if tls else "raw_buffer",
            }
            if tls:
                match["application_protocols"] = [
                    "istio-peer-exchange",
                    "istio",
                    "istio-http/1.0",
                    "istio-http/1.1",
                    "istio-h2",
                ]
            if p.protocol == "TCP":
                filters = [TCP_STATS, tcp_proxy(cluster)]
            else:
                rc = inline_route(
                    cluster,
                    f"inbound|http|{p.number}",
                    cluster,
                    f"productpage.{PROXY_NS}.svc.cluster.local:{p.number}/*",
                )
                inline.append(rc)
                filters = [hcm(f"inbound_0.0.0.0_{p.number}", "inbound", route_config=rc)]
            chain: dict[str, Any] = {"filter_chain_match": match, "filters": filters}
            if tls:
                chain["transport_socket"] = DOWNSTREAM_TLS
            chain["name"] = f"0.0.0.0_{p.number}"
            chains.append(chain)
    for tls in (True, False):
        for http in (True, False):
            match = {
                "prefix_ranges": [{"address_prefix": "0.0.0.0", "prefix_len": 0}],
                "transport_protocol": "tls" if tls else "raw_buffer",
            }
            if http:
                match["application_protocols"] = (
                    ["istio-http/1.0", "istio-http/1.1", "istio-h2"] if tls else ["http/1.1", "h2c"]
                )
                rc = inline_route(
                    "InboundPassthroughCluster",
                    "inbound|http|0",
                    "InboundPassthroughCluster",
                    ":0/*",
                )
                inline.append(rc)
                filters = [hcm("inbound_0.0.0.0_0", "inbound", route_config=rc)]
            else:
                filters = [TCP_STATS, tcp_proxy("InboundPassthroughCluster")]
            chain = {"filter_chain_match": match, "filters": filters}
            if tls:
                chain["transport_socket"] = DOWNSTREAM_TLS
            chain["name"] = "virtualInbound" + ("-catchall-http" if http else "")
            chains.append(chain)
    listener = {
        "@type": T_LISTENER,
        "name": "virtualInbound",
        "address": sock("0.0.0.0", 15006),
        "filter_chains": chains,
        "listener_filters": [
            listener_filter("envoy.filters.listener.original_dst", "original_dst"),
            listener_filter("envoy.filters.listener.tls_inspector", "tls_inspector"),
            listener_filter(
                "envoy.filters.listener.http_inspector", "http_inspector", NOT_HTTP_PORTS
            ),
        ],
        "listener_filters_timeout": "0s",
        "continue_on_listener_filters_timeout": True,
        "traffic_direction": "INBOUND",
    }
    return listener, inline


def static_listeners() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    prom = inline_route("local_route", "backend", "prometheus_stats", "")
    prom["virtual_hosts"][0]["routes"][0]["match"] = {"prefix": "/stats/prometheus"}
    health = inline_route("local_route", "backend", "agent", "")
    health["virtual_hosts"][0]["routes"][0]["match"] = {"prefix": "/healthz/ready"}
    out = []
    for port, rc in ((15090, prom), (15021, health)):
        out.append(
            {
                "@type": T_LISTENER,
                "address": sock("0.0.0.0", port),
                "filter_chains": [
                    {
                        "filters": [
                            {
                                "name": "envoy.filters.network.http_connection_manager",
                                "typed_config": {
                                    "@type": T_HCM,
                                    "stat_prefix": "stats" if port == 15090 else "agent",
                                    "route_config": rc,
                                    "http_filters": [HTTP_FILTERS_OUT[-1]],
                                },
                            }
                        ]
                    }
                ],
            }
        )
    return out, [prom, health]


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


def vs_meta(svc: Service) -> dict[str, Any]:
    return {
        "filter_metadata": {
            "istio": {
                "config": f"/apis/networking.istio.io/v1/namespaces/{svc.ns}/"
                f"virtual-service/{svc.name}"
            }
        }
    }


def virtual_host(svc: Service, port: Port) -> dict[str, Any]:
    p = port.number
    short = svc.fqdn.split(".")
    names = [svc.fqdn, f"{short[0]}.{short[1]}.svc", f"{short[0]}.{short[1]}", short[0], svc.ip]
    domains = []
    for d in names:
        domains.append(d)
        domains.append(f"{d}:{p}")
    op = f"{svc.fqdn}:{p}/*"
    default_cluster = cluster_name(svc, port, "")
    if svc.virtual_service and svc.subsets:
        meta = vs_meta(svc)
        routes: list[dict[str, Any]] = [
            {
                "name": "canary",
                "match": {
                    "prefix": "/",
                    "case_sensitive": True,
                    "headers": [{"name": "end-user", "string_match": {"exact": "jason"}}],
                },
                "route": {
                    "cluster": cluster_name(svc, port, "v2"),
                    "timeout": "15s",
                    "retry_policy": RETRY_POLICY,
                    "max_stream_duration": MAX_STREAM_DURATION,
                },
                "metadata": meta,
                "decorator": {"operation": f"{svc.name}.{svc.ns}.svc.cluster.local:{p}/*"},
            },
            {
                "match": {"prefix": "/"},
                "route": {
                    "weighted_clusters": {
                        "clusters": [
                            {"name": cluster_name(svc, port, "v1"), "weight": 90},
                            {"name": cluster_name(svc, port, "v2"), "weight": 10},
                        ]
                    },
                    "timeout": "15s",
                    "retry_policy": RETRY_POLICY,
                    "max_stream_duration": MAX_STREAM_DURATION,
                },
                "metadata": meta,
                "decorator": {"operation": op},
            },
        ]
    elif svc.virtual_service:
        routes = [
            {
                "match": {"prefix": "/"},
                "route": {
                    "cluster": default_cluster,
                    "timeout": "30s",
                    "retry_policy": dict(RETRY_POLICY, num_retries=3, per_try_timeout="10s"),
                    "max_stream_duration": MAX_STREAM_DURATION,
                },
                "metadata": vs_meta(svc),
                "decorator": {"operation": op},
            }
        ]
    else:
        routes = [
            {
                "name": "default",
                "match": {"prefix": "/"},
                "route": {
                    "cluster": default_cluster,
                    "timeout": "0s",
                    "retry_policy": RETRY_POLICY,
                    "max_stream_duration": MAX_STREAM_DURATION,
                },
                "decorator": {"operation": op},
            }
        ]
    return {
        "name": f"{svc.fqdn}:{p}",
        "domains": domains,
        "routes": routes,
        "include_request_attempt_count": True,
    }


ALLOW_ANY = {
    "name": "allow_any",
    "domains": ["*"],
    "routes": [
        {
            "name": "allow_any",
            "match": {"prefix": "/"},
            "route": {
                "cluster": "PassthroughCluster",
                "timeout": "0s",
                "max_stream_duration": MAX_STREAM_DURATION,
            },
        }
    ],
    "include_request_attempt_count": True,
}


# --------------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------------


def cla(name: str, svc: Service, port: Port, subset: str) -> dict[str, Any]:
    by_locality: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ep in svc.endpoints:
        if subset and ep.version != subset:
            continue
        lb_ep = {
            "endpoint": {"address": sock(ep.ip, port.target), "health_check_config": {}},
            "health_status": ep.health,
            "metadata": {
                "filter_metadata": {
                    "envoy.transport_socket_match": {"tlsMode": "istio"},
                    "istio": {
                        "workload": f"{svc.name}-{ep.version};{svc.ns};{svc.name};"
                        f"{ep.version};Kubernetes"
                    },
                }
            },
            "load_balancing_weight": 1,
        }
        by_locality.setdefault((ep.region, ep.zone), []).append(lb_ep)
    endpoints = [
        {
            "locality": {"region": region, "zone": zone},
            "lb_endpoints": eps,
            "load_balancing_weight": len(eps),
        }
        for (region, zone), eps in by_locality.items()
    ]
    out: dict[str, Any] = {"@type": T_CLA, "cluster_name": name}
    if endpoints:
        out["endpoints"] = endpoints
    out["policy"] = {"overprovisioning_factor": 140}
    return out


def empty_cla(name: str) -> dict[str, Any]:
    return {"@type": T_CLA, "cluster_name": name, "policy": {"overprovisioning_factor": 140}}


def static_cla(c: dict[str, Any]) -> dict[str, Any]:
    la = c["load_assignment"]
    return {
        "@type": T_CLA,
        "cluster_name": c["name"],
        "endpoints": [
            {
                "locality": {},
                "lb_endpoints": [
                    dict(e, health_status="HEALTHY", load_balancing_weight=1)
                    for e in group["lb_endpoints"]
                ],
            }
            for group in la["endpoints"]
        ],
        "policy": {"overprovisioning_factor": 140},
    }


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------

EXTENSION_CATEGORIES = {
    "envoy.access_loggers": [
        "file",
        "http_grpc",
        "open_telemetry",
        "stderr",
        "stdout",
        "tcp_grpc",
        "wasm",
    ],
    "envoy.clusters": [
        "eds",
        "logical_dns",
        "original_dst",
        "static",
        "strict_dns",
        "aggregate",
        "dynamic_forward_proxy",
    ],
    "envoy.filters.http": [
        "buffer",
        "compressor",
        "cors",
        "csrf",
        "ext_authz",
        "ext_proc",
        "fault",
        "grpc_stats",
        "grpc_web",
        "header_to_metadata",
        "health_check",
        "jwt_authn",
        "local_ratelimit",
        "lua",
        "ratelimit",
        "rbac",
        "router",
        "wasm",
        "alpn",
        "istio_stats",
        "peer_metadata",
    ],
    "envoy.filters.listener": [
        "http_inspector",
        "original_dst",
        "original_src",
        "proxy_protocol",
        "tls_inspector",
    ],
    "envoy.filters.network": [
        "connection_limit",
        "ext_authz",
        "http_connection_manager",
        "local_ratelimit",
        "mongo_proxy",
        "mysql_proxy",
        "ratelimit",
        "rbac",
        "redis_proxy",
        "sni_cluster",
        "tcp_proxy",
        "wasm",
        "metadata_exchange",
        "forward_downstream_sni",
    ],
    "envoy.health_checkers": ["grpc", "http", "tcp", "redis"],
    "envoy.matching.input_matchers": ["cel_matcher", "ip"],
    "envoy.retry_host_predicates": ["omit_canary_hosts", "omit_host_metadata", "previous_hosts"],
    "envoy.stats_sinks": ["dog_statsd", "metrics_service", "statsd", "wasm"],
    "envoy.tracers": ["datadog", "opentelemetry", "skywalking", "zipkin"],
    "envoy.transport_sockets.downstream": ["raw_buffer", "tls", "starttls", "alts"],
    "envoy.transport_sockets.upstream": [
        "raw_buffer",
        "tls",
        "upstream_proxy_protocol",
        "internal_upstream",
        "http_11_proxy",
    ],
    "envoy.upstreams": ["envoy.upstreams.http.http_protocol_options"],
    "envoy.wasm.runtime": ["null", "v8"],
}


def node_extensions() -> list[dict[str, Any]]:
    out = []
    for cat, names in EXTENSION_CATEGORIES.items():
        for n in names:
            full = n if n.startswith("envoy.") else f"{cat}.{n}"
            tail = "".join(p.capitalize() for p in n.split(".")[-1].split("_"))
            out.append(
                {
                    "name": full,
                    "category": cat,
                    "type_urls": [f"envoy.extensions.{cat.split('.', 1)[-1]}.{n}.v3.{tail}"],
                }
            )
    return out


def bootstrap() -> dict[str, Any]:
    proxy_config = {
        "binaryPath": "/usr/local/bin/envoy",
        "concurrency": 2,
        "configPath": "./etc/istio/proxy",
        "controlPlaneAuthPolicy": "MUTUAL_TLS",
        "discoveryAddress": "istiod.istio-system.svc:15012",
        "drainDuration": "45s",
        "proxyAdminPort": 15000,
        "serviceCluster": "istio-proxy",
        "statNameLength": 189,
        "statusPort": 15020,
        "terminationDrainDuration": "5s",
        "tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}},
    }
    metadata = {
        "ANNOTATIONS": {
            "istio.io/rev": "default",
            "kubectl.kubernetes.io/default-container": "productpage",
            "kubectl.kubernetes.io/default-logs-container": "productpage",
            "kubernetes.io/config.seen": "2024-05-01T11:58:02.123456789Z",
            "kubernetes.io/config.source": "api",
            "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/port": "15020",
            "prometheus.io/scrape": "true",
            "sidecar.istio.io/status": '{"initContainers":["istio-init"],"containers":'
            '["istio-proxy"],"volumes":["workload-socket","credential-socket",'
            '"workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token",'
            '"istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}',
        },
        "APP_CONTAINERS": "productpage",
        "CLUSTER_ID": "Kubernetes",
        "ENVOY_PROMETHEUS_PORT": 15090,
        "ENVOY_STATUS_PORT": 15021,
        "INSTANCE_IPS": PROXY_IP,
        "INTERCEPTION_MODE": "REDIRECT",
        "ISTIO_PROXY_SHA": "0123456789abcdef0123456789abcdef01234567",
        "ISTIO_VERSION": ISTIO_VERSION,
        "LABELS": {
            "app": "productpage",
            "pod-template-hash": "xyz",
            "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": "productpage",
            "service.istio.io/canonical-revision": "v1",
            "version": "v1",
        },
        "MESH_ID": "cluster.local",
        "NAME": PROXY_POD,
        "NAMESPACE": PROXY_NS,
        "NODE_NAME": "node-1",
        "OWNER": f"kubernetes://apis/apps/v1/namespaces/{PROXY_NS}/deployments/productpage-v1",
        "PILOT_SAN": ["istiod.istio-system.svc"],
        "POD_PORTS": '[{"name":"http","containerPort":9080,"protocol":"TCP"}]',
        "PROXY_CONFIG": proxy_config,
        "SERVICE_ACCOUNT": "bookinfo-productpage",
        "WORKLOAD_NAME": "productpage-v1",
    }
    tag_names = [
        ("cluster_name", r"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)"),
        ("tcp_prefix", r"^tcp\.((.*?)\.)\w+?$"),
        ("response_code", r"_rq(_(\d{3}))$"),
        ("response_code_class", r"_rq(_(\dxx))$"),
        (
            "http_conn_manager_listener_prefix",
            r"^listener(?=\.).*?\.http\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)",
        ),
        (
            "http_conn_manager_prefix",
            r"^http\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)",
        ),
        ("listener_address", r"^listener\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)"),
        ("mongo_prefix", r"^mongo\.(.+?)\.(collection|cmd|cx_|op_|delays_|decoding_)(.*?)$"),
        ("reporter", r"(reporter=\.=(.*?);\.;)"),
        ("source_namespace", r"(source_namespace=\.=(.*?);\.;)"),
        ("source_workload", r"(source_workload=\.=(.*?);\.;)"),
        ("destination_service", r"(destination_service=\.=(.*?);\.;)"),
        ("destination_workload", r"(destination_workload=\.=(.*?);\.;)"),
        ("response_flags", r"(response_flags=\.=(.*?);\.;)"),
        ("connection_security_policy", r"(connection_security_policy=\.=(.*?);\.;)"),
    ]
    static_l, _ = static_listeners()
    return {
        "node": {
            "id": NODE_ID,
            "cluster": f"productpage.{PROXY_NS}",
            "metadata": metadata,
            "locality": {"region": "us-east1", "zone": "us-east1-b"},
            "user_agent_name": "envoy",
            "user_agent_build_version": {
                "version": {"major_number": 1, "minor_number": 30, "patch": 4},
                "metadata": {
                    "build.type": "RELEASE",
                    "revision.sha": "fedcba9876543210fedcba9876543210fedcba98",
                    "revision.status": "Clean",
                    "ssl.version": "BoringSSL",
                },
            },
            "extensions": node_extensions(),
        },
        "static_resources": {"listeners": static_l, "clusters": static_clusters()},
        "dynamic_resources": {
            "lds_config": ADS,
            "cds_config": ADS,
            "ads_config": {
                "api_type": "GRPC",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}],
                "set_node_on_first_message_only": True,
                "transport_api_version": "V3",
            },
        },
        "stats_config": {
            "stats_tags": [{"tag_name": n, "regex": r} for n, r in tag_names],
            "use_all_default_tags": False,
            "stats_matcher": {
                "inclusion_list": {
                    "patterns": [
                        {"prefix": p}
                        for p in (
                            "reporter=",
                            "cluster_manager",
                            "listener_manager",
                            "server",
                            "cluster.xds-grpc",
                            "wasm",
                            "component",
                        )
                    ]
                    + [{"suffix": "rbac.allowed"}, {"suffix": "rbac.denied"}]
                }
            },
        },
        "admin": {
            "address": sock("127.0.0.1", 15000),
            "profile_path": "/var/lib/istio/data/envoy.prof",
        },
        "layered_runtime": {
            "layers": [
                {
                    "name": "global config",
                    "static_layer": {
                        "envoy.reloadable_features.no_extension_lookup_by_name": "false",
                        "envoy.reloadable_features.http_reject_path_with_fragment": "false",
                        "overload.global_downstream_max_connections": "2147483647",
                        "re2.max_program_size.error_level": "32768",
                    },
                },
                {"name": "admin", "admin_layer": {}},
            ]
        },
        "bootstrap_extensions": [
            {
                "name": "envoy.bootstrap.internal_listener",
                "typed_config": {
                    "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                    "type_url": "type.googleapis.com/envoy.extensions.bootstrap."
                    "internal_listener.v3.InternalListener",
                    "value": {"buffer_size_kb": 64},
                },
            }
        ],
    }


# --------------------------------------------------------------------------------------------
# Streaming writer
# --------------------------------------------------------------------------------------------


class Obj(dict):  # type: ignore[type-arg]
    """Marker: written key by key so that iterator values inside it are streamed."""


def _pad(level: int) -> bytes:
    return b"  " * level


def write_value(w: Callable[[bytes], Any], value: Any, level: int) -> None:
    """Write ``value`` pretty-printed (2 spaces, like Envoy's admin) at nesting ``level``."""
    if isinstance(value, Obj):
        if not value:
            w(b"{}")
            return
        sep = b"{"
        for k, v in value.items():
            w(sep + b"\n" + _pad(level + 1) + orjson.dumps(k) + b": ")
            write_value(w, v, level + 1)
            sep = b","
        w(b"\n" + _pad(level) + b"}")
    elif isinstance(value, Iterator):
        sep = b"["
        for item in value:
            w(sep + b"\n" + _pad(level + 1))
            write_value(w, item, level + 1)
            sep = b","
        w(b"[]" if sep == b"[" else b"\n" + _pad(level) + b"]")
    else:
        data = orjson.dumps(value, option=orjson.OPT_INDENT_2)
        if level:
            data = data.replace(b"\n", b"\n" + _pad(level))
        w(data)


# --------------------------------------------------------------------------------------------
# Document
# --------------------------------------------------------------------------------------------


@dataclass
class Counts:
    clusters: int = 0
    listeners: int = 0
    route_configs: int = 0
    virtual_hosts: int = 0
    endpoint_configs: int = 0
    lb_endpoints: int = 0


def document(services: list[Service], seed: int, counts: Counts) -> Obj:
    rng = random.Random(seed + 1)
    internal = [s for s in services if not s.external]
    externals = [s for s in services if s.external]

    # (service, port, subset) for every outbound cluster, in Envoy's arbitrary hash order.
    specs: list[tuple[Service, Port, str]] = []
    for svc in services:
        for port in svc.ports:
            specs.append((svc, port, ""))
            if svc.subsets:
                specs.append((svc, port, "v1"))
                specs.append((svc, port, "v2"))
    rng.shuffle(specs)
    specials = special_clusters()
    counts.clusters = len(specs) + len(specials)

    def dynamic_clusters() -> Iterator[dict[str, Any]]:
        for n, c in enumerate(specials):
            yield {"version_info": XDS_VERSION, "cluster": c, "last_updated": ts(n)}
        for n, (svc, port, subset) in enumerate(specs, len(specials)):
            yield {
                "version_info": XDS_VERSION,
                "cluster": outbound_cluster(svc, port, subset),
                "last_updated": ts(n),
            }

    # Listeners: one 0.0.0.0_<port> per HTTP/gRPC port, one <ip>_<port> per TCP service port.
    http_ports = sorted({p.number for s in internal for p in s.ports if p.protocol != "TCP"})
    tcp_listeners = [(s, p) for s in internal for p in s.ports if p.protocol == "TCP"]
    rng.shuffle(tcp_listeners)
    vin, inline_routes = virtual_inbound()
    static_l, static_routes = static_listeners()
    counts.listeners = 2 + len(http_ports) + len(tcp_listeners) + (1 if externals else 0)

    def dynamic_listeners() -> Iterator[dict[str, Any]]:
        lst: list[Any] = [virtual_outbound(), vin]
        lst += [outbound_http_listener(p) for p in http_ports]
        if externals:
            lst.append(outbound_tls_listener(externals))
        for n, listener in enumerate(lst):
            yield _dyn_listener(listener, n)
        for n, (svc, port) in enumerate(tcp_listeners, len(lst)):
            yield _dyn_listener(outbound_tcp_listener(svc, port), n)

    # Routes: one RouteConfiguration per HTTP port, one virtual host per service on that port.
    counts.route_configs = len(http_ports)

    def dynamic_routes() -> Iterator[Obj]:
        for n, port in enumerate(http_ports):
            members = [(s, p) for s in internal for p in s.ports if p.number == port]
            counts.virtual_hosts += len(members) + 1

            def vhosts(members: list[tuple[Service, Port]] = members) -> Iterator[Any]:
                for s, p in members:
                    yield virtual_host(s, p)
                yield ALLOW_ANY

            yield Obj(
                version_info=XDS_VERSION,
                route_config=Obj(
                    {
                        "@type": T_ROUTE,
                        "name": str(port),
                        "virtual_hosts": vhosts(),
                        "validate_clusters": False,
                        "max_direct_response_body_size_bytes": 1048576,
                        "ignore_port_in_host_matching": True,
                    }
                ),
                last_updated=ts(n),
            )

    def static_route_configs() -> Iterator[dict[str, Any]]:
        for n, rc in enumerate(inline_routes + static_routes):
            yield {"route_config": dict({"@type": T_ROUTE}, **rc), "last_updated": ts(n)}

    # Endpoints (include_eds): one ClusterLoadAssignment per dynamic cluster.
    eds_order = list(range(len(specs)))
    rng.shuffle(eds_order)

    def static_endpoints() -> Iterator[dict[str, Any]]:
        for c in static_clusters():
            yield {"endpoint_config": static_cla(c)}

    def dynamic_endpoints() -> Iterator[dict[str, Any]]:
        for c in specials:
            counts.endpoint_configs += 1
            yield {"endpoint_config": empty_cla(c["name"])}
        for k in eds_order:
            svc, port, subset = specs[k]
            name = cluster_name(svc, port, subset)
            if svc.external:
                ep = static_cla(outbound_cluster(svc, port, subset))
            else:
                ep = cla(name, svc, port, subset)
            counts.endpoint_configs += 1
            counts.lb_endpoints += sum(len(g["lb_endpoints"]) for g in ep.get("endpoints", ()))
            yield {"endpoint_config": ep}

    secrets = [
        {
            "name": "default",
            "version_info": "2024-05-01 12:00:00.123456789 +0000 UTC m=+0.512345678",
            "last_updated": ts(1),
            "secret": {
                "@type": T_SECRET,
                "name": "default",
                "tls_certificate": {
                    "certificate_chain": {"inline_bytes": CERT_B64},
                    "private_key": {"inline_bytes": REDACTED_B64},
                },
            },
        },
        {
            "name": "ROOTCA",
            "version_info": "2024-05-01 12:00:00.123456789 +0000 UTC m=+0.512345678",
            "last_updated": ts(2),
            "secret": {
                "@type": T_SECRET,
                "name": "ROOTCA",
                "validation_context": {"trusted_ca": {"inline_bytes": CERT_B64}},
            },
        },
    ]

    def configs() -> Iterator[Any]:
        yield {
            "@type": ADMIN + "BootstrapConfigDump",
            "bootstrap": bootstrap(),
            "last_updated": ts(0),
        }
        yield Obj(
            {
                "@type": ADMIN + "ClustersConfigDump",
                "version_info": XDS_VERSION,
                "static_clusters": iter(
                    [{"cluster": c, "last_updated": ts(0)} for c in static_clusters()]
                ),
                "dynamic_active_clusters": dynamic_clusters(),
            }
        )
        yield {"@type": ADMIN + "EcdsConfigDump"}
        yield Obj(
            {
                "@type": ADMIN + "ListenersConfigDump",
                "version_info": XDS_VERSION,
                "static_listeners": iter(
                    [
                        {"listener": dict({"@type": T_LISTENER}, **sl), "last_updated": ts(0)}
                        for sl in static_l
                    ]
                ),
                "dynamic_listeners": dynamic_listeners(),
            }
        )
        yield {"@type": ADMIN + "ScopedRoutesConfigDump"}
        yield Obj(
            {
                "@type": ADMIN + "RoutesConfigDump",
                "static_route_configs": static_route_configs(),
                "dynamic_route_configs": dynamic_routes(),
            }
        )
        yield {"@type": ADMIN + "SecretsConfigDump", "dynamic_active_secrets": secrets}
        yield Obj(
            {
                "@type": ADMIN + "EndpointsConfigDump",
                "static_endpoint_configs": static_endpoints(),
                "dynamic_endpoint_configs": dynamic_endpoints(),
            }
        )

    return Obj(configs=configs())


def _dyn_listener(listener: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "name": listener["name"],
        "active_state": {
            "version_info": XDS_VERSION,
            "listener": listener,
            "last_updated": ts(n),
        },
    }


def generate(out: BinaryIO, services: int, seed: int = 1, namespaces: int = 20) -> Counts:
    """Write the whole document to ``out`` and return what it contains."""
    counts = Counts()
    doc = document(build_mesh(services, seed, namespaces), seed, counts)
    write_value(out.write, doc, 0)
    out.write(b"\n")
    return counts


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", "-n", type=int, required=True, help="number of services")
    ap.add_argument("-o", "--output", required=True, help="output file ('-' for stdout)")
    ap.add_argument("--seed", type=int, default=1, help="RNG seed (default 1)")
    ap.add_argument("--namespaces", type=int, default=20, help="namespaces K (default 20)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.services < 1 or args.namespaces < 1:
        ap.error("--services and --namespaces must be >= 1")

    t0 = time.perf_counter()
    if args.output == "-":
        counts = generate(sys.stdout.buffer, args.services, args.seed, args.namespaces)
        size = -1
    else:
        with open(args.output, "wb", buffering=8 << 20) as f:
            counts = generate(f, args.services, args.seed, args.namespaces)
            size = f.tell()
    dt = time.perf_counter() - t0
    if not args.quiet:
        print(
            f"gendump: services={args.services} seed={args.seed} "
            f"clusters={counts.clusters} listeners={counts.listeners} "
            f"route_configs={counts.route_configs} virtual_hosts={counts.virtual_hosts} "
            f"endpoint_configs={counts.endpoint_configs} lb_endpoints={counts.lb_endpoints} "
            + (f"bytes={size} ({size / 1e6:.1f} MB) " if size >= 0 else "")
            + f"seconds={dt:.2f}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
