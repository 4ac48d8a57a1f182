"""``/stats`` in every shape Envoy 1.40 writes, histograms included (shapes captured from
the harness's real Envoy: ``/stats?format=json`` with ``histogram_buckets=cumulative``,
``disjoint`` and ``detailed``, and text ``/stats?histogram_buckets=cumulative``).

Before: the three JSON bucket shapes dropped every histogram without a word ("No stats
match the filter"), and text bucket histograms had no TYPE.
"""

from __future__ import annotations

import json

import pytest

from pdebug.model import stats as st

NAME = "cluster.service_google.upstream_rq_time"
COUNTER = {"name": "cluster.service_google.upstream_rq_total", "value": 6}
DEFAULT = {
    "histograms": {
        "supported_quantiles": [0, 50, 99.5, 100],
        "computed_quantiles": [
            {
                "name": NAME,
                "values": [{"cumulative": 1.05, "interval": 1.05}] * 2
                + [{"cumulative": 42.8, "interval": None}] * 2,
            },
            {"name": "idle", "values": [{"cumulative": None, "interval": None}] * 4},
        ],
    }
}
DETAILED = {
    "histograms": {
        "supported_percentiles": [0, 50, 99.5, 100],
        "details": [
            {
                "name": NAME,
                "totals": [{"lower_bound": 1, "width": 0.1, "count": 1}],
                "intervals": [],
                "percentiles": [{"cumulative": 1.05, "interval": 1.05}] * 2
                + [{"cumulative": 42.8, "interval": 42.8}] * 2,
            },
            {"name": "idle", "totals": [], "intervals": [], "percentiles": []},
        ],
    }
}
BUCKETS = {
    "histograms": [
        {
            "name": NAME,
            "buckets": [
                {"upper_bound": 0.5, "interval": 0, "cumulative": 0},
                {"upper_bound": 1, "interval": 1, "cumulative": 1},
                {"upper_bound": 1800000, "interval": 6, "cumulative": 6},
            ],
        },
        {"name": "idle", "buckets": []},
    ]
}


def parse(*entries: object) -> list[st.Stat]:
    return st.parse(json.dumps({"stats": [COUNTER, *entries]}).encode(), "stats.json")


@pytest.mark.parametrize(
    ("entry", "value"),
    [
        (DEFAULT, "P0=1.05 P50=1.05 P99.5=42.8 P100=42.8"),
        (DETAILED, "P0=1.05 P50=1.05 P99.5=42.8 P100=42.8"),
        (BUCKETS, "B0.5=0 B1=1 B1800000=6"),
    ],
    ids=["quantiles", "detailed", "cumulative-or-disjoint"],
)
def test_every_json_histogram_shape_is_read(entry, value):
    got = parse(entry)
    assert got[0] == st.Stat(COUNTER["name"], "6")
    assert got[1:] == [st.Stat(NAME, value, "histogram"), st.Stat("idle", "-", "histogram")]


def test_text_bucket_histograms_are_histograms():
    text = (
        f"{COUNTER['name']}: 6\n"
        f"{NAME}: B0.5(0,0) B1(1,1) B1.8e+06(6,6)\n"
        "idle: No recorded values\n"
        "other: P0(nan,0) P25(nan,0)\n"
    ).encode()
    kinds = [s.kind for s in st.parse(text, "stats.txt")]
    assert kinds == ["", "histogram", "histogram", "histogram"]


def test_cli_shows_bucket_histograms(pdebug, tmp_path):
    path = tmp_path / "stats.json"
    path.write_text(json.dumps({"stats": [COUNTER, BUCKETS]}))
    result = pdebug("stats", str(path), "--filter", "upstream_rq_time$", "-o", "wide")
    assert result.code == 0, result.err
    assert NAME in result.out and "B1800000=6" in result.out and "histogram" in result.out


PROMETHEUS = (
    b"# HELP envoy_server_live help text\n"
    b"# TYPE envoy_server_live gauge\n"
    b"envoy_server_live{} 1\n"
    b'envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="a b}c",le="+Inf"} 6\n'
    b"envoy_cluster_upstream_rq_time_sum{} NaN 1700000000000\n"
    b"istio_requests_total -Inf\n"
    b"\n"
    b"# EOF\n"
)


def test_prometheus_text_with_help_nan_inf_and_timestamps():
    got = st.parse(PROMETHEUS, "prom.txt")
    assert [(s.name.split("{")[0], s.value, s.kind) for s in got] == [
        ("envoy_server_live", "1", "gauge"),
        ("envoy_cluster_upstream_rq_time_bucket", "6", ""),
        ("envoy_cluster_upstream_rq_time_sum", "NaN", ""),
        ("istio_requests_total", "-Inf", ""),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"hello {world}\nfoo bar\n",  # was read as Prometheus: two made-up stats, exit 0
        b"# TYPE a counter\na 1\n<html>oops</html>\n",
        b"envoy_server_live{} one\n",
    ],
)
def test_text_that_is_not_prometheus_is_refused(pdebug, tmp_path, data):
    path = tmp_path / "stats.txt"
    path.write_bytes(data)
    result = pdebug("stats", str(path))
    assert result.code == 4 and result.out == "", result
    assert result.err.startswith(f"pdebug: error: {path}: not Envoy stats (line "), result.err


@pytest.mark.parametrize(
    ("data", "code", "needle"),
    [
        # a Windows editor's UTF-8 byte-order mark: was read as Prometheus, nothing, exit 0
        (b'\xef\xbb\xbf{"stats": [{"name": "server.live", "value": 1}]}', 0, "server.live"),
        (b'\xef\xbb\xbf{"configs": []}', 4, "this is a config dump"),
    ],
)
def test_a_byte_order_mark_is_skipped(pdebug, tmp_path, data, code, needle):
    path = tmp_path / "stats.json"
    path.write_bytes(data)
    result = pdebug("stats", str(path))
    assert result.code == code, result
    assert needle in (result.out if code == 0 else result.err)


def test_no_stats_at_all_says_so(pdebug, tmp_path):
    """Was no output at all, exit 0 (every other view says "No ... found.")."""
    path = tmp_path / "stats.json"
    path.write_bytes(b'{"stats": []}')
    result = pdebug("stats", str(path))
    assert (result.code, result.out, result.err) == (0, "", "No stats found.\n")
