"""Envoy dumps from other eras and meshes (sweep6): what pdebug says must be what they hold."""

from __future__ import annotations

from tests.harness import FIXTURES

#: an Istio sidecar of 2019 talking to Traffic Director: every cluster and listener warming
TD_WARMING = FIXTURES / "corpus/handmade/istio-2019-trafficdirector-warming-v2alpha.json"


def test_an_empty_table_says_the_warming_clusters_it_leaves_out(pdebug):
    # it said only "No clusters found." over 4 clusters waiting for EDS
    result = pdebug("clusters", TD_WARMING)
    assert result.code == 0
    assert result.out == ""
    assert result.err.startswith("No clusters found: 4 warming (received, not serving yet)")
    assert "-o wide lists them" in result.err
    wide = pdebug("clusters", TD_WARMING, "-o", "wide")
    assert wide.out.count(" WARMING ") == 4


def test_an_empty_table_says_the_warming_listeners_it_leaves_out(pdebug):
    # it said only "No listeners found." over the warming 15001 interception listener
    for args in ((), ("-o", "short")):
        result = pdebug("listeners", TD_WARMING, *args)
        assert result.code == 0
        assert result.out == ""
        assert result.err.startswith("No listeners found: 1 warming (not serving)")
    assert "No listeners match the filter." in pdebug("listeners", TD_WARMING, "--port", "1").err
