"""Inputs made by others (and their shapes) that showed a wrong answer in sweep 2."""

from __future__ import annotations

import json
from pathlib import Path

_CLUSTERS = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"


def test_a_cluster_entry_holding_only_error_state_is_no_row(pdebug, tmp_path: Path):
    """A ``dynamic_active_clusters`` entry with only ``error_state`` has no cluster: it
    was a nameless STATIC row in every table."""
    ok = {"name": "outbound|80||a.default.svc.cluster.local", "type": "EDS"}
    failed = {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "bad"}
    dump = {
        "configs": [
            {
                "@type": _CLUSTERS,
                "dynamic_active_clusters": [
                    {"version_info": "1", "cluster": ok},
                    {"error_state": {"failed_configuration": failed, "details": "rejected"}},
                ],
            }
        ]
    }
    f = tmp_path / "dump.json"
    f.write_text(json.dumps(dump))
    for args in ((), ("-o", "wide"), ("--direction", "outbound", "-o", "wide")):
        out = pdebug("clusters", f, *args).out
        assert "STATIC" not in out, args
        assert len(out.splitlines()) == 2, out
    assert [c["name"] for c in json.loads(pdebug("clusters", f, "-o", "json").out)] == [ok["name"]]


def test_a_deprecated_v1_tcp_proxy_names_the_cluster_of_its_routes(pdebug):
    """Istio 1.0's tcp_proxy (``deprecated_v1``) has no ``cluster``, its one route does:
    DESTINATION was ``Cluster: `` (empty) while trace followed the route."""
    from tests.harness import FIXTURES

    dump = FIXTURES / "corpus" / "istio" / "2020-02-writer" / "configdump.json"
    out = pdebug("listeners", dump, "--port", "443").out
    assert "Cluster: outbound|443||istio-galley.istio-system.svc.cluster.local" in out
