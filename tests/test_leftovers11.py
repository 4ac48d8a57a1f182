"""Small things the twelfth session left (leftovers11).

* A bug report whose two istiod replicas share a pod name in two namespaces (two control
  planes captured in one report) kept the first replica's sync status and dropped the
  other's without a word: both are now read, named ``POD.NAMESPACE``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import harness as eh
from tests.harness import bugreport as br

SYNCZ = (
    eh.ISTIOCTL / "proxy-status" / "legacy-http-syncz" / "http_syncz_multi_pilot.reconstructed.json"
)
DUMP = (eh.ISTIOCTL / "proxy-config-all" / "config_dump.json").read_bytes()


def _same_pod_in_two_namespaces() -> list[tuple[str, bytes]]:
    """istioctl's multi-replica sync status, its first two replicas both called ``istiod-0``."""
    replicas = list(json.loads(SYNCZ.read_bytes()).values())
    istiod = {
        ("istio-system", "istiod-0"): {"debug/syncz": json.dumps(replicas[0]).encode()},
        ("istio-canary", "istiod-0"): {"debug/syncz": json.dumps(replicas[1]).encode()},
        ("istio-system", "istiod-1"): {"debug/syncz": json.dumps(replicas[2]).encode()},
    }
    proxies = {("default", "web-1"): {"config_dump?include_eds": DUMP, "istio-proxy.log": b"x\n"}}
    return br.members(proxies, istiod)


@pytest.mark.parametrize("form", ["archive", "folder"])
def test_two_istiods_of_one_pod_name_are_both_read(pdebug, tmp_path: Path, form: str):
    items = _same_pod_in_two_namespaces()
    if form == "archive":
        source = br.write(tmp_path / "bug-report.tar.gz", items)
    else:
        source = br.unpack(items, tmp_path / "unpacked")
    result = pdebug("status", "--file", source, "-o", "json")
    assert result.code == 0, result
    replicas = json.loads(result.out)
    assert set(replicas) == {"istiod-0.istio-system", "istiod-0.istio-canary", "istiod-1"}
    table = pdebug("status", "--file", source)
    assert table.code == 0, table
    lines = {line.split()[0]: line for line in table.out.splitlines()[1:]}
    assert "istiod-0.istio-system" in lines["proxy1"]
    assert "istiod-0.istio-canary" in lines["proxy2"]  # was dropped without a word
    assert "istiod-1" in lines["proxy3"]
