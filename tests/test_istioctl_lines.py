"""istioctl command lines as users type them (docs, runbooks, issues), with pdebug in its place."""

from __future__ import annotations

import pytest

from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real/sidecar/config_dump.json"
WARMING = FIXTURES / "corpus/handmade/istio-2019-trafficdirector-warming-v2alpha.json"


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_clusters_json_says_nothing_of_warming_when_it_prints_clusters(pdebug, output):
    # `istioctl pc clusters --file dump.json -o json`: pdebug printed the clusters and said on
    # stderr "No clusters found: 12 warming" of a dump with none warming.
    got = pdebug("pc", "clusters", "--file", SIDECAR, "-o", output)
    assert got.code == 0
    assert "inbound|9080||" in got.out
    assert got.err == ""
    warming = pdebug("clusters", WARMING, "-o", output)
    assert "No clusters found: 4 warming" in warming.err
