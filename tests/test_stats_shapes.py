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
