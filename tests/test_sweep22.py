"""Sweep 22: the rest of Kuma's e2e xDS goldens, fed to a real Envoy 1.40, held to pdebug.

The sweep ran ``tools/xds_goldens.py`` over Kuma's e2e goldens (kumahq/kuma@348b652
``test/e2e_env/universal/envoyconfig/testdata``, and the builtin-gateway goldens of its
parent commit bc8a7b6 before they were removed); each test names the input that showed its
fix and builds its input in the golden's shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
                "host_statuses": [
                    _host({"socket_address": {"address": "127.0.0.1", "port_value": 0}})
                ],
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
