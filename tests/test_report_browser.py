"""``pdebug report`` pages in a real headless Chromium: they render, sort, filter and scale.

Each page is opened with ``#selftest[=TERM]`` after :func:`with_selftest` injected
``tests/harness/report_selftest.js`` into a copy of it (the shipped page has no test
code): after the page rendered, that script sorts and filters every table through the
DOM, searches and clicks the topology, switches proxies, and writes what it saw as JSON
into ``<pre id="pdebug-selftest">``; ``--dump-dom`` hands that DOM back. A screenshot of
the sidecar report is kept under the test's tmp dir (its path is printed: run with ``-s``
to see it).

Needs Chromium (Debian: ``apt-get install chromium``; or ``PDEBUG_CHROMIUM=/path``):
without it every test here is skipped, saying how to install it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import re
import struct
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.harness import FIXTURES, ROOT, find_chromium, generated_dump, page_graph
from tests.test_report import HOSTILE, hostile_dump, make_bundle, page_data

SIDECAR = FIXTURES / "real/sidecar"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL = (
    "Chromium is not installed, so the report browser tests are skipped. Install it with "
    "`apt-get install chromium` (Debian/Ubuntu; as root), or point PDEBUG_CHROMIUM at a "
    "Chromium/Chrome binary."
)
_profiles = itertools.count()


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(INSTALL)
    try:
        probe = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"{path} does not start ({exc}). {INSTALL}")
    if probe.returncode != 0:
        pytest.skip(f"{path} --version failed: {probe.stderr.strip()[-300:]}. {INSTALL}")
    return path


def run_chromium(chromium: str, tmp_path: Path, url: str, *args: str) -> tuple[str, float]:
    """Run one headless Chromium on ``url``; its stdout and the wall time it took."""
    profile = tmp_path / f"chromium-profile-{next(_profiles)}"
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *args, url]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, seconds


HARNESS = ROOT / "tests" / "harness" / "report_selftest.js"
DATA_TAG = '<script type="application/json" id="pdebug-data">'


def with_selftest(page: Path) -> Path:
    """A copy of ``page`` that runs the self-test script too (allowed by its hash in the CSP)."""
    script = HARNESS.read_text()
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    text = page.read_text()
    assert text.count("script-src 'sha256-") == 1 and text.count(DATA_TAG) == 1
    text = text.replace("script-src 'sha256-", f"script-src 'sha256-{digest}' 'sha256-")
    # Ahead of the page's own script, so that it sees any error the page throws.
    tag = f'<script id="pdebug-selftest-harness">{script}</script>\n'
    text = text.replace(DATA_TAG, tag + DATA_TAG)
    copy = page.with_name(page.stem + "-selftest.html")
    copy.write_text(text)
    return copy


def selftest(
    chromium: str, tmp_path: Path, page: Path, term: str = "", extra: str = ""
) -> tuple[dict[str, Any], str, float]:
    """Load ``page#selftest=TERM`` with the self-test; its findings, the DOM and the time."""
    fragment = "#selftest" + ("=" + urllib.parse.quote(term) if term else "") + extra
    dom, seconds = run_chromium(
        chromium,
        tmp_path,
        with_selftest(page).as_uri() + fragment,
        "--virtual-time-budget=30000",
        "--dump-dom",
    )
    m = re.search(r'<pre id="pdebug-selftest"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, "the page did not write its self test; end of the DOM:\n" + dom[-2000:]
    result = json.loads(html.unescape(m.group(1)))
    assert result.get("errors") == [], result.get("errors")
    assert result["images"] == 0 and result["resources"] == [], result
    return result, dom, seconds


def make_report(pdebug: Any, out: Path, *args: Any) -> Path:
    result = pdebug("report", *args, "-o", out)
    assert result.code == 0, result.err
    return out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


KINDS = ("Listener", "Route config", "Virtual host", "Cluster", "Endpoint")


def tooltips(graph: dict[str, Any]) -> list[str]:
    """Each node's tooltip as the page writes it, in node order."""
    return [
        f"{label}\n{KINDS[kind]}, {status}"
        + (f"\n{detail}" if detail else "")
        + (f"\nfindings: {codes}" if codes else "")
        for kind, label, status, detail, codes in graph["nodes"]
    ]


def test_sidecar_report_renders_sorts_filters_and_draws(pdebug, chromium, tmp_path):
    page = make_report(
        pdebug,
        tmp_path / "sidecar.html",
        SIDECAR / "config_dump.json",
        "--clusters-json",
        SIDECAR / "clusters.json",
    )
    result, dom, seconds = selftest(chromium, tmp_path, page, "reviews")
    print(f"\nsidecar report: loaded and self-tested in Chromium in {seconds:.1f} s")
    assert result["proxies"] == 1 and result["scripts"] == 2
    assert 'id="pdebug-static"' not in dom  # the script-free copy gives way to the full page
    r = result["results"][0]
    tables = r["tables"]
    assert set(tables) == {"findings", "clusters", "listeners", "routes", "endpoints", "secrets"}
    for tid, t in tables.items():
        assert t["shown"] == t["rows"] > 0, tid
        assert t["sortedAsc"] and t["sortedDesc"], tid
        assert t["allContain"] and t["afterClear"] == t["rows"], tid
        assert t["filteredShown"] == t["matched"], tid
    assert tables["clusters"]["rows"] == 12 and tables["clusters"]["matched"] == 3
    assert tables["endpoints"]["rows"] == 15 and tables["endpoints"]["matched"] == 6
    assert tables["listeners"]["matched"] == 0
    graph = r["graph"]
    assert graph["total"] == graph["drawn"] == 40 and graph["edges"] == 35
    # The nodes the page drew are the topology's, endpoints included: the page carries
    # those as references to its endpoints table and its script builds them.
    assert graph["tips"] == tooltips(page_graph(page_data(page.read_text())["proxies"][0]))
    assert 1 < graph["highlighted"] < graph["drawn"]  # a click lit one node's paths only
    assert 0 < graph["searchDrawn"] < graph["total"]
    assert "outbound|9080|v2|reviews.default.svc.cluster.local" in graph["searchLabels"]
    assert "0.0.0.0_9080" in graph["searchLabels"]  # the search keeps whole paths
    # The DOM itself: six tables and one drawn topology.
    assert dom.count('<table class="data">') == 6
    assert dom.count('<g class="node ') == 40
    assert 'class="card bad"' in dom  # the unhealthy endpoint card
    assert "0 errors, 1 warning, 4 info (" in dom and "1 warnings" not in dom  # counted words
    shot = tmp_path / "sidecar-report.png"
    run_chromium(
        chromium,
        tmp_path,
        page.as_uri(),
        "--hide-scrollbars",
        "--window-size=1400,1700",
        "--virtual-time-budget=5000",
        f"--screenshot={shot}",
    )
    print(f"screenshot: {shot}")
    assert png_size(shot) == (1400, 1700)
    assert shot.stat().st_size > 50_000, "the screenshot looks blank"


def test_the_page_draws_the_endpoint_nodes_its_table_carries(pdebug, chromium, tmp_path):
    """From EDS, the page names each cluster's endpoints by its rows of the endpoints
    table (some clusters with endpoints of several statuses); its script draws the same
    nodes as the topology's."""
    page = make_report(pdebug, tmp_path / "eds.html", SIDECAR / "config_dump.json")
    doc = page_data(page.read_text())["proxies"][0]
    runs = doc["graph"]["endpoints"]["runs"]
    assert runs and all(isinstance(run[2], int) for run in runs)
    assert None in [run[1] for run in runs] and doc["graph"]["endpoints"]["status"]
    result, _, _ = selftest(chromium, tmp_path, page)
    graph = result["results"][0]["graph"]
    assert graph["total"] == graph["drawn"] == len(page_graph(doc)["nodes"])
    assert graph["tips"] == tooltips(page_graph(doc))


def test_hostile_names_render_as_text(pdebug, chromium, tmp_path):
    page = make_report(
        pdebug, tmp_path / "hostile.html", hostile_dump(tmp_path), "--title", HOSTILE
    )
    result, dom, _ = selftest(chromium, tmp_path, page, "onerror")
    assert result["title"].startswith(HOSTILE)
    tables = result["results"][0]["tables"]
    assert tables["clusters"]["matched"] >= 1 and tables["endpoints"]["matched"] >= 1
    assert "<img" not in dom
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom
    labels = result["results"][0]["graph"]["searchLabels"]
    assert HOSTILE in labels


def test_a_bundle_has_a_proxy_picker_and_a_summary_across_proxies(pdebug, chromium, tmp_path):
    src = tmp_path / "incident.tar.gz"
    make_bundle(src)
    page = make_report(pdebug, tmp_path / "incident.html", src)
    result, dom, _ = selftest(chromium, tmp_path, page)
    assert result["proxies"] == 3
    assert result["overview"] == {"rows": 3, "shown": 3}
    names = [r["name"] for r in result["results"]]
    assert names == ["productpage-v1-abc.default", "seed-demo", "reviews-v2-xyz.default"]
    first, seed, broken = result["results"]
    assert first["tables"]["clusters"]["rows"] == 12 and first["graph"]["drawn"] == 40
    assert seed["tables"]["clusters"]["rows"] > 0 and seed["graph"]["drawn"] > 0
    assert broken["tables"]["clusters"]["rows"] == 0 and broken["graph"]["total"] == 0
    assert dom.count("<option ") == 3
    assert '<section class="block" data-table="overview">' in dom


def test_a_thousand_cluster_report_loads_quickly(pdebug, chromium, tmp_path):
    dump = generated_dump(tmp_path / "dump-500.json", 500)
    page = make_report(pdebug, tmp_path / "big.html", dump)
    size = page.stat().st_size
    result, dom, seconds = selftest(chromium, tmp_path, page, "svc-42.", "&showall")
    r = result["results"][0]
    graph = r["graph"]
    print(
        f"\n500-service report: {size / 1e6:.1f} MB, {r['tables']['clusters']['rows']} clusters, "
        f"{graph['total']} graph nodes; Chromium load + self test {seconds:.1f} s "
        f"(render {result['renderMs']} ms, show-all draw {graph['allMs']} ms)"
    )
    assert size < 6e6
    assert seconds < 90, "the page took too long to load in Chromium"
    clusters = r["tables"]["clusters"]
    assert clusters["rows"] > 1000 and clusters["shown"] == 500  # paged; filter sees all
    assert clusters["matched"] >= 1 and clusters["allContain"]
    assert r["tables"]["endpoints"]["rows"] > 5000
    # Collapsed by default, searchable, and everything on request.
    assert graph["total"] > 5000
    assert 0 < graph["drawn"] <= 1000 and "collapsed" in graph["status"]
    assert 0 < graph["searchDrawn"] < 200
    assert graph["allDrawn"] == graph["total"]


def test_the_ambient_section_renders_its_workloads_and_flags(pdebug, chromium, tmp_path):
    from tests.harness.ambient import make_bundle, worker, worker2

    src = make_bundle(tmp_path / "ambient.tar.gz", worker(), worker2())
    page = make_report(pdebug, tmp_path / "ambient.html", src)
    result, dom, _ = selftest(chromium, tmp_path, page, "unresolved")
    amb = result["ambient"]
    # 8 bookinfo workloads; STATUS badges: 2 errors (details, ratings), 3 warnings (the
    # reviews without a certificate) and 3 OK
    assert (amb["rows"], amb["shown"]) == (8, 8)
    assert (amb["bad"], amb["warn"], amb["ok"]) == (2, 3, 3)
    [details] = amb["filtered"]
    assert details[1] == "details-v1-698d88b-dqrbr" and details[5] == "unresolved"
    assert details[6] == "expiring" and details[8] == "ERROR"
    assert '<section class="block" data-table="ambient">' in dom
    assert "ambient ztunnels: ztunnel-xljhg.istio-system (node ambient-worker)" in dom
    assert result["proxies"] == 1 and result["results"][0]["tables"]["clusters"]["rows"] > 0


def test_an_ambient_capture_without_sidecars_renders(pdebug, chromium, tmp_path):
    from tests.harness.ambient import make_bundle, worker, worker2

    src = make_bundle(tmp_path / "only.tar.gz", worker(), worker2(), sidecar=False)
    page = make_report(pdebug, tmp_path / "only.html", src)
    result, dom, _ = selftest(chromium, tmp_path, page)
    assert result["proxies"] == 0 and result["ambient"]["rows"] == 8
    assert "No sidecar or waypoint proxy in this capture." in dom
