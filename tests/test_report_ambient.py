"""``pdebug report`` on an ambient capture: each workload, its ztunnel, waypoint and certificate.

The bundles (tests/harness/ambient.py) are made as ``pdebug snapshot --ambient`` writes them.
tests/test_report_browser.py checks that the section renders in Chromium.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.harness import FIXTURES
from tests.harness import istiod_double as idd
from tests.harness import ztunnel_double as zd
from tests.harness.ambient import NOW, Z1, Z2, make_bundle, stamp, worker, worker2

SIDECAR_DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"
DATA_BLOCK = re.compile(r'<script type="application/json" id="pdebug-data">(.*?)</script>', re.S)
Json = dict[str, Any]


def report(pdebug: Any, src: Path, *args: str) -> Json:
    page = src.with_suffix(".html")
    r = pdebug("report", src, "-o", page, *args)
    assert r.code == 0, r.err
    text = page.read_text()
    m = DATA_BLOCK.search(text)
    assert m
    doc = json.loads(m.group(1))
    doc["_html"] = text
    return doc


def by_name(section: Json) -> dict[str, dict[str, str]]:
    cols = section["columns"]
    return {row[1]: dict(zip(cols, row, strict=True)) for row in section["rows"]}


@pytest.fixture
def ambient_bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "ambient.tar.gz", worker(), worker2())


def test_each_ambient_workload_of_the_captured_namespace_gets_a_row(pdebug, ambient_bundle):
    doc = report(pdebug, ambient_bundle)
    section = doc["ambient"]
    assert section["columns"] == [
        "NAMESPACE",
        "NAME",
        "NODE",
        "ZTUNNEL",
        "PROTOCOL",
        "WAYPOINT",
        "CERTIFICATE",
        "CERT EXPIRES",
        "STATUS",
        "PROBLEMS",
    ]
    rows = by_name(section)
    # bookinfo only (the captured namespace), each on its node's ztunnel, sorted by name
    assert list(rows) == sorted(rows) and len(rows) == 8
    assert {r["NAMESPACE"] for r in rows.values()} == {"bookinfo"}
    for r in rows.values():
        assert r["ZTUNNEL"] == {"ambient-worker": Z1, "ambient-worker2": Z2}[r["NODE"]]
    page = rows["productpage-v1-675fc69cf-jscn2"]
    assert page["NODE"] == "ambient-worker2" and page["PROTOCOL"] == "HBONE"
    assert page["WAYPOINT"] == "bookinfo-productpage-istio-waypoint"
    assert page["CERTIFICATE"] == "Available" and page["STATUS"] == "OK"
    assert page["CERT EXPIRES"] == stamp(NOW + dt.timedelta(days=30))
    assert page["PROBLEMS"] == "-"
    # a waypoint itself is not captured by ztunnel: TCP, no waypoint, no mesh certificate
    wp = rows["namespace-istio-waypoint-d94944bf6-z89g2"]
    assert (wp["PROTOCOL"], wp["WAYPOINT"], wp["CERTIFICATE"], wp["STATUS"]) == (
        "TCP",
        "none",
        "-",
        "OK",
    )


def test_certificate_and_waypoint_problems_are_flagged_as_check_flags_them(pdebug, ambient_bundle):
    rows = by_name(report(pdebug, ambient_bundle)["ambient"])
    details = rows["details-v1-698d88b-dqrbr"]
    assert details["WAYPOINT"] == "unresolved" and details["CERTIFICATE"] == "expiring"
    assert details["STATUS"] == "ERROR"  # PD704 is an error, PD703 a warning
    assert "PD704 waypoint '/10.96.9.9' matches no service" in details["PROBLEMS"]
    assert "PD703 leaf certificate expires in 2.0 days" in details["PROBLEMS"]
    ratings = rows["ratings-v1-6484c4d9bb-mdxm5"]
    assert ratings["WAYPOINT"] == "namespace-istio-waypoint"
    assert (ratings["CERTIFICATE"], ratings["STATUS"]) == ("expired", "ERROR")
    assert ratings["PROBLEMS"].startswith("PD702 Leaf certificate (serial 4d2) is not valid now")
    for name in ("reviews-v1-5b5d6494f4-qwjv4", "reviews-v2-5b667bcbf8-q5pn2"):
        reviews = rows[name]
        assert (reviews["NODE"], reviews["CERTIFICATE"], reviews["STATUS"]) == (
            "ambient-worker",
            "missing",
            "WARNING",
        )
        assert reviews["CERT EXPIRES"] == "-"
        assert "no certificate for its identity in its ztunnel" in reviews["PROBLEMS"]


def test_the_cert_days_option_moves_the_expiring_line(pdebug, ambient_bundle):
    rows = by_name(report(pdebug, ambient_bundle, "--cert-days", "1")["ambient"])
    details = rows["details-v1-698d88b-dqrbr"]
    assert details["CERTIFICATE"] == "Available" and "PD703" not in details["PROBLEMS"]
    rows = by_name(report(pdebug, ambient_bundle, "--cert-days", "40")["ambient"])
    assert rows["productpage-v1-675fc69cf-jscn2"]["CERTIFICATE"] == "expiring"


def test_a_ztunnel_that_was_not_captured_leaves_its_workloads_unknown(pdebug, tmp_path):
    doc = report(pdebug, make_bundle(tmp_path / "half.tar.gz", None, worker2()))
    rows = by_name(doc["ambient"])
    reviews = rows["reviews-v3-5b9bd44f4-7fff4"]  # named by the other ztunnel's list
    assert reviews["ZTUNNEL"] == f"{Z1} (not captured: pod/{Z1}: connection refused)"
    assert (reviews["CERTIFICATE"], reviews["WAYPOINT"], reviews["STATUS"]) == (
        "unknown",
        "unknown",
        "WARNING",
    )
    assert rows["productpage-v1-675fc69cf-jscn2"]["STATUS"] == "OK"


def test_an_ambient_namespace_without_sidecars_is_reported(pdebug, tmp_path):
    src = make_bundle(tmp_path / "only.tar.gz", worker(), worker2(), sidecar=False)
    doc = report(pdebug, src)
    assert doc["proxies"] == []
    assert len(doc["ambient"]["rows"]) == 8


def test_the_section_is_in_the_script_free_copy_too(pdebug, ambient_bundle):
    text = report(pdebug, ambient_bundle)["_html"]
    static = text[text.index('<div id="pdebug-static">') : text.index("</main>")]
    assert "<h2>Ambient workloads" in static
    assert "details-v1-698d88b-dqrbr" in static and "unresolved" in static


def test_a_sidecar_report_has_no_ambient_section(pdebug, tmp_path):
    r = pdebug("report", SIDECAR_DUMP, "-o", tmp_path / "r.html")
    assert r.code == 0
    doc = json.loads(DATA_BLOCK.search((tmp_path / "r.html").read_text()).group(1))
    assert "ambient" not in doc


def test_hostile_names_stay_text(pdebug, tmp_path):
    z2 = worker2()
    evil = "</script><img src=x onerror=alert(1)>"
    page = next(w for w in z2["workloads"] if w["name"] == "productpage-v1-675fc69cf-jscn2")
    page["name"] = evil
    doc = report(pdebug, make_bundle(tmp_path / "evil.tar.gz", worker(), copy.deepcopy(z2)))
    assert evil in by_name(doc["ambient"])
    assert evil not in doc["_html"]  # escaped in the data block and in the static copy


# --- through a real snapshot --------------------------------------------------------------


@pytest.fixture
def kube_reads():
    """snapshot --ambient also lists the ztunnel DaemonSet's pods."""
    return frozenset(
        {
            ("get", "pods"),
            ("list", "pods"),
            ("get", "daemonsets"),
            ("create", "pods/portforward"),
        }
    )


def test_a_snapshot_ambient_bundle_reports_its_workloads(
    pdebug, kube, kubeconfig, no_ambient_config, tmp_path
):
    """The manifest ``snapshot --ambient`` writes carries what the section needs."""
    z1 = json.dumps(worker()).encode()
    z2 = json.dumps(worker2()).encode()
    with (
        zd.ZtunnelAdminDouble(z1) as d1,
        zd.ZtunnelAdminDouble(z2) as d2,
        idd.EnvoyAdminDouble(SIDECAR_DUMP.read_bytes()) as envoy,
    ):
        pods = zd.register(kube, {"ambient-worker": d1, "ambient-worker2": d2})
        kube.add_pod(
            "sleep-1", "bookinfo", node_name="ambient-worker2", forwards={15000: envoy.address}
        )
        kube.add_pod(
            "reviews-v1-x", "bookinfo", containers=("reviews",), node_name="ambient-worker"
        )
        out = tmp_path / "snap.tar.gz"
        r = pdebug(
            "snapshot", "-n", "bookinfo", "--ambient", "--no-istiod", "-o", out, "-c", kubeconfig
        )
        assert "3 proxies captured" in r.err, r.err
    rows = by_name(report(pdebug, out)["ambient"])
    assert len(rows) == 8 and {r["NAMESPACE"] for r in rows.values()} == {"bookinfo"}
    member = {node: f"{pod}.istio-system" for node, pod in pods.items()}
    assert rows["reviews-v1-5b5d6494f4-qwjv4"]["ZTUNNEL"] == member["ambient-worker"]
    assert rows["ratings-v1-6484c4d9bb-mdxm5"]["ZTUNNEL"] == member["ambient-worker2"]
    assert rows["ratings-v1-6484c4d9bb-mdxm5"]["CERTIFICATE"] == "expired"
