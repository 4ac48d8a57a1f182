"""An Istio-shaped ``productpage`` sidecar: real Envoy fed by file xDS from data templates.

The resources are data, not code: ``templates/sidecar-bootstrap.yaml`` and
``templates/sidecar-resources.yaml`` hold them as istiod would push them, and
:func:`resources.render` fills in what varies per run (ports, file config sources,
certificates). This module adds the names tests refer to (:data:`REVIEWS`, ...) and
:func:`istio_sidecar` (start it and wait until every resource is active).
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .envoy import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    Envoy,
    EnvoyError,
    LoopbackUpstream,
    XdsFiles,
    _port_clash,
    config_section,
    free_port,
)
from .pki import TestPki, make_test_pki
from .resources import lb_endpoint, parsed_template, render

__all__ = [
    "BLACKHOLE",
    "DETAILS",
    "INBOUND_9080",
    "INBOUND_PASSTHROUGH",
    "ISTIO_VERSION",
    "PASSTHROUGH",
    "RATINGS",
    "REVIEWS",
    "REVIEWS_V1",
    "REVIEWS_V2",
    "SIDECAR_NODE_ID",
    "SidecarPorts",
    "SidecarResources",
    "SidecarRun",
    "cluster_hosts",
    "istio_sidecar",
    "istio_sidecar_bootstrap",
    "istio_sidecar_resources",
    "publish_all_unhealthy",
    "sidecar_is_ready",
]

Json = dict[str, Any]

SIDECAR_NODE_ID = "sidecar~127.0.0.1~productpage-v1-abc.default~default.svc.cluster.local"
ISTIO_VERSION = "1.24.0"

REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"
REVIEWS_V1 = "outbound|9080|v1|reviews.default.svc.cluster.local"
REVIEWS_V2 = "outbound|9080|v2|reviews.default.svc.cluster.local"
RATINGS = "outbound|9080||ratings.default.svc.cluster.local"
DETAILS = "outbound|9080||details.default.svc.cluster.local"
INBOUND_9080 = "inbound|9080||"
BLACKHOLE = "BlackHoleCluster"
PASSTHROUGH = "PassthroughCluster"
INBOUND_PASSTHROUGH = "InboundPassthroughCluster"


def _xds_values(xds: XdsFiles) -> dict[str, Any]:
    return {
        "cds": xds.cds_config,
        "lds": xds.lds_config,
        "sds": xds.sds_config,
        "eds": xds.eds_cluster_config,
        "rds": xds.rds_config,
    }


# --------------------------------------------------------------------------- the sidecar


@dataclass(frozen=True)
class SidecarPorts:
    """The loopback ports of one sidecar (all on ``127.0.0.1``).

    Attributes:
        admin: Admin port; ``prometheus_stats`` points at it.
        outbound: Port of ``virtualOutbound`` (Istio's 15001).
        inbound: Port of ``virtualInbound`` (Istio's 15006).
        stats: Port of the static Prometheus listener (Istio's 15090).
        upstream: Port of the local app behind ``inbound|9080||``.
    """

    admin: int
    outbound: int
    inbound: int
    stats: int
    upstream: int

    @classmethod
    def allocate(cls, upstream: int) -> SidecarPorts:
        """Pick free ports for the admin and the listeners (``prometheus_stats`` needs the
        admin port up front)."""
        return cls(
            admin=free_port(),
            outbound=free_port(),
            inbound=free_port(),
            stats=free_port(),
            upstream=upstream,
        )

    def values(self) -> dict[str, int]:
        """The template values ``$admin_port``, ``$outbound_port``, ..."""
        return {
            "admin_port": self.admin,
            "outbound_port": self.outbound,
            "inbound_port": self.inbound,
            "stats_port": self.stats,
            "upstream_port": self.upstream,
        }


@dataclass
class SidecarResources:
    """The xDS resources that feed an Istio-shaped sidecar.

    Attributes:
        clusters: CDS clusters.
        listeners: LDS listeners.
        route_configs: RDS route configurations (each gets its own file).
        endpoints: File-EDS assignments by cluster name.
        secrets: SDS secrets (``default`` and ``ROOTCA``).
    """

    clusters: list[Json] = field(default_factory=list)
    listeners: list[Json] = field(default_factory=list)
    route_configs: list[Json] = field(default_factory=list)
    endpoints: dict[str, Json] = field(default_factory=dict)
    secrets: list[Json] = field(default_factory=list)

    def write(self, xds: XdsFiles) -> None:
        """Write every resource file (SDS, EDS, RDS, CDS, LDS) through ``xds``."""
        for secret in self.secrets:
            xds.write_sds(secret)
        for cluster_name, cla in self.endpoints.items():
            xds.write_eds(cluster_name, cla)
        for route_config in self.route_configs:
            xds.write_rds(route_config)
        xds.write_cds(self.clusters)
        xds.write_lds(self.listeners)

    @property
    def cluster_names(self) -> list[str]:
        """Names of the CDS clusters."""
        return [str(c["name"]) for c in self.clusters]

    @property
    def listener_names(self) -> list[str]:
        """Names of the LDS listeners."""
        return [str(lst["name"]) for lst in self.listeners]

    @property
    def route_config_names(self) -> list[str]:
        """Names of the RDS route configurations."""
        return [str(r["name"]) for r in self.route_configs]

    @property
    def secret_names(self) -> list[str]:
        """Names of the SDS secrets."""
        return [str(s["name"]) for s in self.secrets]

    def config_dump(self) -> Json:
        """The CDS, LDS and RDS resources as a ``/config_dump``: what this proxy should have.

        istiod's view of the sidecar, before :func:`istiod_double.istiod_view` shapes it
        the way istiod answers, or an ``--expected`` file for ``pdebug diff``.
        """
        admin = "type.googleapis.com/envoy.admin.v3."
        return {
            "configs": [
                {
                    "@type": admin + "ClustersConfigDump",
                    "dynamic_active_clusters": [
                        {"cluster": {"@type": CLUSTER_TYPE, **c}} for c in self.clusters
                    ],
                },
                {
                    "@type": admin + "ListenersConfigDump",
                    "dynamic_listeners": [
                        {
                            "name": lst["name"],
                            "active_state": {"listener": {"@type": LISTENER_TYPE, **lst}},
                        }
                        for lst in self.listeners
                    ],
                },
                {
                    "@type": admin + "RoutesConfigDump",
                    "dynamic_route_configs": [
                        {"route_config": {"@type": ROUTE_TYPE, **r}} for r in self.route_configs
                    ],
                },
            ]
        }


def istio_sidecar_bootstrap(xds: XdsFiles, ports: SidecarPorts) -> Json:
    """The bootstrap of the Istio-shaped ``productpage`` sidecar on loopback.

    ``templates/sidecar-bootstrap.yaml`` with the node's identity, ``ports`` and the CDS/LDS
    files of ``xds``.
    """
    values = {
        "node_id": SIDECAR_NODE_ID,
        "istio_version": ISTIO_VERSION,
        **ports.values(),
        **_xds_values(xds),
    }
    boot: Json = render(parsed_template("sidecar-bootstrap.yaml"), values)
    return boot


def istio_sidecar_resources(xds: XdsFiles, ports: SidecarPorts, pki: TestPki) -> SidecarResources:
    """The CDS/LDS/RDS/EDS/SDS resources of the ``productpage`` sidecar.

    ``templates/sidecar-resources.yaml`` (what is in it is said at its top) with ``ports``,
    the file config sources of ``xds`` and ``pki`` in the ``default``/``ROOTCA`` secrets.
    Call :meth:`SidecarResources.write` to publish them.
    """

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    values: dict[str, Any] = {
        **ports.values(),
        **_xds_values(xds),
        "cert_b64": b64(pki.cert_pem),
        "key_b64": b64(pki.key_pem),
        "ca_b64": b64(pki.ca_pem),
    }
    data = render(parsed_template("sidecar-resources.yaml"), values)
    return SidecarResources(
        clusters=data["clusters"],
        listeners=data["listeners"],
        route_configs=data["route_configs"],
        endpoints=data["endpoints"],
        secrets=data["secrets"],
    )


def sidecar_is_ready(envoy: Envoy, resources: SidecarResources) -> bool:
    """Tell whether every resource in ``resources`` is active in Envoy's dump.

    Checks that each CDS cluster is in ``dynamic_active_clusters``, each listener has
    an ``active_state`` and no ``error_state``, each route config is in
    ``dynamic_route_configs``, each file-EDS cluster has a
    ``dynamic_endpoint_configs`` entry with endpoints, each secret is in
    ``dynamic_active_secrets``, and nothing is warming.

    Args:
        envoy: The running sidecar.
        resources: What was fed to it.
    """
    dump = envoy.config_dump(include_eds=True)
    clusters = config_section(dump, "ClustersConfigDump")
    active = {c["cluster"]["name"] for c in clusters.get("dynamic_active_clusters", [])}
    if clusters.get("dynamic_warming_clusters") or not set(resources.cluster_names) <= active:
        return False
    listeners = {
        lst.get("name"): lst
        for lst in config_section(dump, "ListenersConfigDump").get("dynamic_listeners", [])
    }
    for name in resources.listener_names:
        lst = listeners.get(name)
        if not lst or "active_state" not in lst or "warming_state" in lst or "error_state" in lst:
            return False
    routes = {
        r["route_config"]["name"]
        for r in config_section(dump, "RoutesConfigDump").get("dynamic_route_configs", [])
    }
    if not set(resources.route_config_names) <= routes:
        return False
    eds = {
        e["endpoint_config"]["cluster_name"]: e["endpoint_config"]
        for e in config_section(dump, "EndpointsConfigDump").get("dynamic_endpoint_configs", [])
    }
    if any(not eds.get(name, {}).get("endpoints") for name in resources.endpoints):
        return False
    secrets = config_section(dump, "SecretsConfigDump")
    active_secrets = {s["name"] for s in secrets.get("dynamic_active_secrets", [])}
    return (
        not secrets.get("dynamic_warming_secrets") and set(resources.secret_names) <= active_secrets
    )


@dataclass
class SidecarRun:
    """A running Istio-shaped sidecar and what feeds it.

    Attributes:
        envoy: The running Envoy.
        xds: Its xDS files; write updates through it.
        resources: The resources last written (mutate and :meth:`SidecarResources.write`).
        ports: Its ports.
        pki: The test certificates behind the SDS secrets.
        upstream: The local app behind ``inbound|9080||``.
    """

    envoy: Envoy
    xds: XdsFiles
    resources: SidecarResources
    ports: SidecarPorts
    pki: TestPki
    upstream: LoopbackUpstream

    @property
    def stats_url(self) -> str:
        """``http://127.0.0.1:<stats port>`` (the static Prometheus listener)."""
        return f"http://127.0.0.1:{self.ports.stats}"


@contextlib.contextmanager
def istio_sidecar(
    *,
    ports: SidecarPorts | None = None,
    xds_dir: str | os.PathLike[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    base_id: int | None = None,
    startup_timeout: float = 20.0,
    attempts: int = 3,
) -> Iterator[SidecarRun]:
    """Start the Istio-shaped sidecar and wait until all of its xDS is active.

    Args:
        ports: The ports to use (``ports.upstream`` is where the local app is
            started); default :meth:`SidecarPorts.allocate` around an ephemeral app.
        xds_dir: Directory for the xDS files and certificates; default a temp dir.
        workdir: Envoy's working directory (see :class:`Envoy`).
        base_id: Envoy's ``--base-id`` (see :class:`Envoy`).
        startup_timeout: Seconds to wait for Envoy, then again for the xDS.
        attempts: Tries with fresh ports if a listener could not bind (only when
            ``ports`` is not given).

    Yields:
        The running sidecar; Envoy, the app and the temp dirs go on exit.
    """
    app_port = ports.upstream if ports is not None else 0
    with LoopbackUpstream("productpage", port=app_port) as upstream, XdsFiles(xds_dir) as xds:
        pki = make_test_pki(xds.directory / "certs")
        for attempt in range(1, attempts + 1):
            run_ports = ports if ports is not None else SidecarPorts.allocate(upstream.port)
            resources = istio_sidecar_resources(xds, run_ports, pki)
            resources.write(xds)
            boot = istio_sidecar_bootstrap(xds, run_ports)
            envoy = Envoy(boot, startup_timeout=startup_timeout, workdir=workdir, base_id=base_id)
            try:
                envoy.start()
                envoy.wait_for(
                    lambda: sidecar_is_ready(envoy, resources),  # noqa: B023 - used right away
                    startup_timeout,
                    message="sidecar CDS/LDS/RDS/EDS/SDS to be active",
                )
            except BaseException as err:
                envoy.stop()
                if (
                    isinstance(err, EnvoyError)
                    and ports is None
                    and attempt < attempts
                    and _port_clash(err)
                ):
                    continue
                raise
            try:
                yield SidecarRun(envoy, xds, resources, run_ports, pki, upstream)
            finally:
                envoy.stop()
            return


def cluster_hosts(run: SidecarRun, name: str) -> list[Json] | None:
    """The ``host_statuses`` of cluster ``name`` in ``/clusters?format=json`` (``None``: no
    such cluster; warming clusters are not listed)."""
    for status in run.envoy.clusters_json().get("cluster_statuses", []):
        if status["name"] == name:
            return list(status.get("host_statuses", []))
    return None


def publish_all_unhealthy(run: SidecarRun, cluster: str = RATINGS) -> None:
    """Publish two UNHEALTHY endpoints (``127.0.0.21``/``.22:9080``) as file-EDS ``cluster``'s
    only ones, and wait until Envoy shows exactly them, both UNHEALTHY per EDS."""
    endpoints = [
        lb_endpoint(f"127.0.0.{i}", 9080, "UNHEALTHY", version="v1", app="r") for i in (21, 22)
    ]
    run.xds.write_eds(cluster, {"endpoints": [{"lb_endpoints": endpoints}]})

    def all_unhealthy() -> bool:
        hosts = cluster_hosts(run, cluster) or []
        return len(hosts) == 2 and all(
            h["health_status"]["eds_health_status"] == "UNHEALTHY" for h in hosts
        )

    run.envoy.wait_for(all_unhealthy, 10, message=f"{cluster} all UNHEALTHY")
