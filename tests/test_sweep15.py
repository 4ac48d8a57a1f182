"""Correctness sweep 15: ambient (ztunnel, waypoints) and istiod inputs of other eras.

Each test names the input that showed the bug; the inputs are in fixtures/corpus
(provenance in fixtures/corpus/MANIFEST.md).
"""

from __future__ import annotations

from tests.harness import FIXTURES

ZT120 = FIXTURES / "corpus/handmade/ztunnel-1.20-indexes.json"


def test_zc_1_20_headless_service_only_in_by_host(pdebug):
    # ztunnel 1.19-1.21 keep a service without a VIP only in by_host (hostname ->
    # [service]); zc service listed only the by_vip services: db was missing
    result = pdebug("zc", "service", "-f", ZT120)
    assert result.code == 0, result.err
    rows = [line.split() for line in result.out.splitlines()[1:]]
    assert rows == [
        ["default", "db", "None", "1/1"],
        ["default", "sleep", "10.96.10.10", "None", "1/1"],
    ]


def test_zc_1_20_policies_in_by_key(pdebug):
    # ztunnel 1.19-1.21 keep the policies in by_key (ns/name -> policy): zc policy said
    # "No policies found." and check warned PD709 (a policy ztunnel does not have)
    result = pdebug("zc", "policy", "-f", ZT120)
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].split() == [
        "default",
        "allow-sleep",
        "Allow",
        "WorkloadSelector",
    ]
    check = pdebug("check", ZT120)
    assert "PD709" not in check.out
    assert "PD701" in check.out  # the Initializing certificate is still reported
