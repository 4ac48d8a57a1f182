"""``pdebug dump`` asks for text ``/clusters`` and saves its JSON form (#17).

Against an admin double that records what it was asked: the text converted (one GET,
compact JSON in the bundle, redacted like any document), and the JSON form asked for
after all when the text rounds a value (a positive outlier ejection threshold) or holds
a line the conversion cannot place. The conversion itself is checked against a real
Envoy in tests/test_textforms_envoy.py.
"""

from __future__ import annotations

import json
import tarfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import orjson
import pytest

from pdebug.errors import InvalidInput
from pdebug.model import textforms as tf
from tests import harness as eh

DUMP = (eh.ISTIOCTL / "proxy-config-all/config_dump.json").read_bytes()
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
HOST = "outbound|80||web.shop::10.1.2.3:8080::"
#: Envoy 1.40's text /clusters for one cluster of one host (the shape of its answer).
TEXT = (
    "outbound|80||web.shop::observability_name::outbound|80||web.shop\n"
    "outbound|80||web.shop::outlier::success_rate_average::-1\n"
    "outbound|80||web.shop::outlier::success_rate_ejection_threshold::-1\n"
    "outbound|80||web.shop::outlier::local_origin_success_rate_average::-1\n"
    "outbound|80||web.shop::outlier::local_origin_success_rate_ejection_threshold::-1\n"
    + "".join(
        f"outbound|80||web.shop::{p}_priority::{k}::{v}\n"
        for p in ("default", "high")
        for k, v in (
            ("max_connections", 1024),
            ("max_pending_requests", 1024),
            ("max_requests", 1024),
            ("max_retries", 3),
        )
    )
    + "outbound|80||web.shop::added_via_api::true\n"
    + "".join(
        f"{HOST}{k}::{v}\n"
        for k, v in (
            ("cx_active", 2),
            ("cx_connect_fail", 0),
            ("cx_total", 5),
            ("rq_active", 0),
            ("rq_error", 1),
            ("rq_pending_active", 0),
            ("rq_success", 9),
            ("rq_timeout", 0),
            ("rq_total", 10),
            ("hostname", JWT),
            ("health_flags", "/failed_outlier_check"),
            ("weight", 1),
            ("region", "r1"),
            ("zone", ""),
            ("sub_zone", ""),
            ("canary", "false"),
            ("priority", 0),
            ("success_rate", 90),
            ("local_origin_success_rate", -1),
        )
    )
).encode()
#: Envoy 1.40's text /stats: a counter, a text readout (here holding a token) and histograms.
STATS = (
    "cluster_manager.cds.update_rejected: 2\n"
    f'cluster_manager.cds.version_text: "{JWT}"\n'
    "cluster.a.upstream_rq_time: P0(nan,1) P25(nan,1.025) P50(nan,2) P75(nan,3) P90(nan,4) "
    "P95(nan,5) P99(nan,6) P99.5(nan,7) P99.9(nan,8) P100(nan,9)\n"
    "cluster.b.upstream_rq_time: No recorded values\n"
).encode()
JSON_FORM = json.dumps({"cluster_statuses": [{"name": "from-json"}]}, indent=1).encode()


class Admin(eh.LoopbackHTTPServer):
    """An admin whose text /clusters is ``text``; it records each path asked for."""

    def __init__(self, text: bytes) -> None:
        super().__init__(thread_name="textforms-admin")
        self.text = text
        self.asked: list[str] = []

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        path = request.path
        self.asked.append(path)
        if path.startswith("/config_dump"):
            return 200, DUMP, "application/json"
        if path == "/clusters":
            return 200, self.text, "text/plain"
        if path.startswith("/clusters"):
            return 200, JSON_FORM, "application/json"
        if path in ("/stats", "/stats?usedonly"):  # every stat, or those written (#17)
            return 200, STATS, "text/plain"
        if path.startswith("/stats"):
            return 200, b'{"stats": [{"name": "server.live", "value": 1}]}', "application/json"
        return 200, b'{"state": "LIVE"}', "application/json"


def _saved_clusters(path: Path) -> bytes:
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/clusters.json"))
        fh = tar.extractfile(member)
        assert fh is not None
        return fh.read()


def _member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(f"/{name}"))
        fh = tar.extractfile(member)
        assert fh is not None
        return fh.read()


def _dump(pdebug, tmp_path: Path, text: bytes) -> tuple[Admin, bytes]:
    out = tmp_path / "d.tar.gz"
    with Admin(text) as admin:
        result = pdebug("dump", admin.url, "-o", str(out), "--timeout", "5")
    assert result.code == 0, result.err
    return admin, _saved_clusters(out)


def test_text_clusters_are_saved_converted_and_redacted(pdebug, tmp_path):
    admin, saved = _dump(pdebug, tmp_path, TEXT)
    assert [p for p in admin.asked if p.startswith("/clusters")] == ["/clusters"]
    want = orjson.loads(tf.clusters_document(TEXT, "t"))
    want["cluster_statuses"][0]["host_statuses"][0]["hostname"] = "[redacted]"
    assert orjson.loads(saved) == want
    assert JWT.encode() not in saved
    host = want["cluster_statuses"][0]["host_statuses"][0]
    assert host["health_status"] == {"failed_outlier_check": True, "eds_health_status": "HEALTHY"}
    assert host["success_rate"] == {"value": 90}
    assert [s for s in host["stats"] if "value" in s][0] == {"value": "5", "name": "cx_total"}
    shown = pdebug("endpoints", str(tmp_path / "d.tar.gz"))
    assert shown.code == 0, shown.err
    assert "10.1.2.3:8080" in shown.out and "FAILED" in shown.out


@pytest.mark.parametrize(
    "text",
    [
        TEXT.replace(
            b"::success_rate_ejection_threshold::-1", b"::success_rate_ejection_threshold::87.3512"
        ),
        TEXT.replace(b"::weight::1\n", b"::weight::1\nsomething else\n"),
        TEXT.replace(b"/failed_outlier_check", b"/a_flag_of_a_later_envoy"),
        b'{"cluster_statuses": []}',
    ],
    ids=["rounded-threshold", "stray-line", "unknown-flag", "json-already"],
)
def test_text_that_cannot_be_converted_exactly_asks_for_the_json(pdebug, tmp_path, text):
    admin, saved = _dump(pdebug, tmp_path, text)
    asked = [p for p in admin.asked if p.startswith("/clusters")]
    assert asked == ["/clusters", "/clusters?format=json"]
    assert saved == JSON_FORM


def test_text_stats_are_saved_as_text_redacted_and_read_as_json(pdebug, tmp_path):
    admin, _ = _dump(pdebug, tmp_path, TEXT)
    # the text form, of the stats written since Envoy started (the default since #17)
    assert "/stats?usedonly" in admin.asked and "/stats?format=json" not in admin.asked
    out = tmp_path / "d.tar.gz"
    saved = _member(out, "stats.txt")
    assert JWT.encode() not in saved and b"[redacted]" in saved
    shown = pdebug("stats", str(out), "-o", "json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out) == [
        {"name": "cluster_manager.cds.update_rejected", "value": "2"},
        {"name": "cluster_manager.cds.version_text", "value": "[redacted]"},
        {
            "name": "cluster.a.upstream_rq_time",
            "value": "P0=1 P25=1.025 P50=2 P75=3 P90=4 P95=5 P99=6 P99.5=7 P99.9=8 P100=9",
            "type": "histogram",
        },
        {"name": "cluster.b.upstream_rq_time", "value": "-", "type": "histogram"},
    ]
    checked = json.loads(pdebug("check", str(out), "-o", "json").out)
    assert [f["resource"] for f in checked["findings"] if f["code"] == "PD603"] == [
        "stats/cluster_manager.cds.update_rejected"
    ]


def test_a_text_too_large_to_convert_asks_for_the_json(pdebug, tmp_path, monkeypatch):
    from pdebug.snapshot import capture

    monkeypatch.setattr(capture, "_CONVERT_MAX", len(TEXT) - 1)
    admin, saved = _dump(pdebug, tmp_path, TEXT)
    assert [p for p in admin.asked if p.startswith("/clusters")] == [
        "/clusters",
        "/clusters?format=json",
    ]
    assert saved == JSON_FORM


def test_a_relative_pipe_is_converted_a_bare_word_is_not():
    """Every Istio sidecar's xds-grpc host is the pipe ./etc/istio/proxy/XDS (Envoy's JSON
    form says ``{"pipe": {"path": "./etc/istio/proxy/XDS"}}``, tests/test_snapshot.py)."""
    relative = TEXT.replace(b"10.1.2.3:8080", b"./etc/istio/proxy/XDS")
    (cluster,) = orjson.loads(tf.clusters_document(relative, "t"))["cluster_statuses"]
    assert cluster["host_statuses"][0]["address"] == {"pipe": {"path": "./etc/istio/proxy/XDS"}}
    with pytest.raises(InvalidInput, match="'XDS' is neither IP:PORT nor a pipe path"):
        tf.clusters_document(TEXT.replace(b"10.1.2.3:8080", b"XDS"), "t")
