"""``--clusters-json`` of another proxy: the health would be that proxy's, so say so.

The corpus's consul-k8s pair is one proxy's dump and /clusters (no warning); the
istioctl all-in-one dump with a hand-made /clusters of an unrelated cluster warns once,
on stderr, and still answers (exit codes unchanged).
"""

from __future__ import annotations

import json

import pytest

from tests.harness import FIXTURES, ISTIOCTL

CONSUL = FIXTURES / "corpus/consul-k8s"
WARNING = "is in the config dump"


def other(tmp_path) -> str:
    doc = {
        "cluster_statuses": [
            {
                "name": "outbound|80||elsewhere.other.svc.cluster.local",
                "host_statuses": [
                    {
                        "address": {"socket_address": {"address": "10.9.9.9", "port_value": 80}},
                        "health_status": {"eds_health_status": "HEALTHY"},
                    }
                ],
            }
        ]
    }
    path = tmp_path / "clusters.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("command", ["endpoints", "check", "report"])
def test_same_proxy_no_warning(pdebug, tmp_path, command):
    extra = ["-o", str(tmp_path / "r.html")] if command == "report" else []
    result = pdebug(
        command,
        str(CONSUL / "test_config_dump.json"),
        "--clusters-json",
        str(CONSUL / "test_clusters.json"),
        *extra,
    )
    assert WARNING not in result.err, result.err


@pytest.mark.parametrize(("command", "code"), [("endpoints", 0), ("check", 1), ("report", 0)])
def test_another_proxys_clusters_warn(pdebug, tmp_path, command, code):
    extra = ["-o", str(tmp_path / "r.html")] if command == "report" else []
    dump = str(ISTIOCTL / "proxy-config-all/config_dump.json")
    result = pdebug(command, dump, "--clusters-json", other(tmp_path), *extra)
    assert result.code == code, result
    warnings = [line for line in result.err.splitlines() if WARNING in line]
    assert warnings == [
        f"pdebug: warning: {tmp_path}/clusters.json: none of its clusters (1) is in the config "
        "dump (3): is it the same proxy's /clusters?"
    ], result.err
