"""``pdebug report``: the HTML file itself (self-contained, escaped, complete, atomic).

The page is checked as text and as parsed HTML here; tests/test_report_browser.py loads
it in a real headless Chromium.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html.parser
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from pdebug import bundle
from pdebug.checks import CheckOptions, run_checks
from pdebug.checks.context import Context
from pdebug.model import ProxyData
from pdebug.model.load import load
from pdebug.report import ReportMeta, assets, build_report, embed_json, report_data
from pdebug.report.topology import BAD, MISSING, OK, WARN, build_graph
from pdebug.views import clusters, endpoints, listeners, routes, secrets
from pdebug.views.table import Table
from pdebug.views.wide import wide_tables
from tests import harness as eh
from tests.harness import FIXTURES, ISTIOCTL, ROOT, generated_dump

SIDECAR = FIXTURES / "real/sidecar"
SEED = FIXTURES / "real/seed-demo"
DUMP = SIDECAR / "config_dump.json"
CLUSTERS = SIDECAR / "clusters.json"
DETAILS = "outbound|9080||details.default.svc.cluster.local"
HOSTILE = "</script><img src=x onerror=alert(1)>"
HOSTILE_LISTENER = '"><svg onload=alert(2)>'
HOSTILE_VHOST = "<!--<script>alert(3)</script>"
DATA_BLOCK = re.compile(r'<script type="application/json" id="pdebug-data">(.*?)</script>', re.S)
Json = dict[str, Any]


def page_data(text: str) -> Json:
    """The JSON the page embeds."""
    m = DATA_BLOCK.search(text)
    assert m, "no data block"
    return json.loads(m.group(1))


def outside_data(text: str) -> str:
    """The page without its data block (what pdebug wrote itself)."""
    return DATA_BLOCK.sub("", text)


def table(proxy: Json, tid: str) -> Json:
    return next(t for t in proxy["tables"] if t["id"] == tid)


def hostile_dump(tmp_path: Path) -> Path:
    """The real sidecar dump with markup in a cluster, a listener and a virtual host name."""
    text = DUMP.read_text()
    text = text.replace(json.dumps(DETAILS), json.dumps(HOSTILE))
    text = text.replace('"0.0.0.0_9080"', json.dumps(HOSTILE_LISTENER))
    text = text.replace('"details.default.svc.cluster.local:9080"', json.dumps(HOSTILE_VHOST))
    assert HOSTILE in text and HOSTILE_LISTENER in text and HOSTILE_VHOST in text
    path = tmp_path / "hostile.json"
    path.write_text(text)
    return path


def proxy_of(path: Path, health: Path | None = None) -> ProxyData:
    loaded = load(path.read_bytes(), str(path))
    proxy = ProxyData(str(path), loaded.dump, loaded.clusters)
    if health is not None:
        proxy.health = load(health.read_bytes(), str(health)).clusters
    return proxy


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(text: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(text)
    return parser.tags


def assert_self_contained(text: str) -> None:
    """No external resource can be loaded, and nothing but our two scripts runs."""
    tags = tags_of(text)
    names = {t for t, _ in tags}
    assert names <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "p",
        "svg",
        "div",
        "script",
        # the script-free copy of the summary and findings
        "header",
        "h1",
        "h2",
        "span",
        "main",
        "section",
        "dl",
        "dt",
        "dd",
        "table",
        "tr",
        "th",
        "td",
        "ul",
        "li",
    }, names
    for tag, attrs in tags:
        for key, value in attrs:
            assert key not in ("src", "href", "srcset", "action", "formaction"), (tag, key)
            assert not key.startswith("on"), (tag, key)
            assert not re.search(r"(https?:)?//", value or "") or key == "content", (tag, value)
    assert "<link" not in text.lower()
    mine = outside_data(text)
    assert "http://" not in mine and "https://" not in mine
    assert "@import" not in mine and "url(" not in mine
    assert text.count("<script") == 2 and text.count("</script>") == 2
    assert "<!--" not in text
    # The CSP forbids every fetch and allows exactly the one inline script, by hash.
    csp = next(
        dict(a)["content"]
        for t, a in tags
        if dict(a).get("http-equiv") == ("Content-Security-Policy")
    )
    assert csp is not None and "default-src 'none'" in csp
    digest = base64.b64encode(hashlib.sha256(assets.js().encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert f"<script>{assets.js()}</script>" in text


# --- one dump ----------------------------------------------------------------------------


def test_sidecar_report_is_self_contained_and_complete(pdebug, tmp_path):
    out = tmp_path / "report.html"
    result = pdebug("report", DUMP, "--clusters-json", CLUSTERS, "-o", out)
    assert result.code == 0, result.err
    assert result.out == ""
    assert result.err == f"wrote {out} (1 proxy)\n"
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert_self_contained(text)
    doc = page_data(text)
    assert doc["format"] == "pdebug-report/2" and len(doc["proxies"]) == 1
    p = doc["proxies"][0]
    summary = dict(p["summary"]["rows"])
    assert summary["Istio Version"] == "1.24.0"
    assert summary["Envoy Version"].startswith("1.40.0")
    assert summary["Node ID"].startswith("sidecar~127.0.0.1~productpage-v1-abc.default")
    assert summary["Sync state"] == "unknown"
    assert summary["Endpoint health from"].startswith("/clusters?format=json")
    counts = {label: value for label, value, _ in p["summary"]["counts"]}
    assert counts == {
        "Clusters": "12",
        "Listeners": "4",
        # every inline config, as `pdebug routes` lists them: virtualInbound's two
        # chains each hold an `inbound|9080||` (sweep18; 3 and 6 counted them once)
        "Route configs": "4",
        "Virtual hosts": "7",
        "Endpoints": "15",
        "Healthy": "11",
        "Draining / degraded": "3",
        "Unhealthy": "1",
        "Secrets": "2",
        "Errors": "0",
        "Warnings": "1",
        "Info": "4",
    }
    # Findings are pdebug check's, in its order.
    check = json.loads(pdebug("check", DUMP, "--clusters-json", CLUSTERS, "-o", "json").out)
    assert p["findings"]["rows"] == [
        [f["code"], f["severity"].upper(), f["resource"], f["message"], f["hint"]]
        for f in check["findings"]
    ]
    assert p["checks"]["warning"] == 1 and p["checks"]["top"].startswith("PD403 cluster/")
    # Each table is the view's -o wide table, cell for cell.
    proxy = proxy_of(DUMP, CLUSTERS)
    for tid, view, wide_only in (
        ("clusters", lambda: clusters.view(proxy, clusters.ClusterFilter(), True), "LB POLICY"),
        ("listeners", lambda: listeners.view(proxy, listeners.ListenerFilter(), True), "STATE"),
        ("routes", lambda: routes.view(proxy, routes.RouteFilter(), True), "ACTION"),
        (
            "endpoints",
            lambda: endpoints.endpoints_view(proxy, endpoints.EndpointFilter(), True),
            "HEALTH FLAGS",
        ),
        ("secrets", lambda: secrets.view(proxy, True), "DAYS LEFT"),
    ):
        got = table(p, tid)
        want = view().table
        assert isinstance(want, Table)
        headers, rows = want.visible(True)
        assert got["columns"] == headers and wide_only in headers, tid
        if tid == "secrets":  # DAYS LEFT moves with the clock
            rows = [r[:-4] for r in rows]
            got["rows"] = [r[:-4] for r in got["rows"]]
        assert got["rows"] == [list(r) for r in rows], tid
        assert got["rows"], tid
    # Never key material, never the raw dump.
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
    assert "type.googleapis.com" not in text
    assert "inline_bytes" not in text and "typed_config" not in text


def test_the_topology_follows_listeners_to_endpoint_health():
    proxy = proxy_of(DUMP, CLUSTERS)
    report = run_checks(proxy)
    graph = build_graph(Context(proxy, CheckOptions()), report.findings).plain()
    nodes = graph["nodes"]
    by = {(n[0], n[1]): i for i, n in enumerate(nodes)}
    edges = {(a, b) for a, b in graph["edges"]}

    def node(kind: int, label: str) -> list[Any]:
        return nodes[by[(kind, label)]]

    def linked(a: tuple[int, str], b: tuple[int, str]) -> bool:
        return (by[a], by[b]) in edges

    ratings = "outbound|9080||ratings.default.svc.cluster.local"
    assert linked((0, "0.0.0.0_9080"), (1, "9080"))
    assert linked((1, "9080"), (2, "ratings.default.svc.cluster.local:9080"))
    assert linked((2, "ratings.default.svc.cluster.local:9080"), (3, ratings))
    assert linked((3, ratings), (4, "127.0.0.22:9080"))
    assert linked((0, "virtualOutbound"), (3, "PassthroughCluster"))  # a tcp_proxy
    assert node(4, "127.0.0.22:9080")[2] == BAD
    assert node(3, ratings)[2] == WARN and "PD403" in node(3, ratings)[4]
    assert node(3, "outbound|9080||details.default.svc.cluster.local")[2] == OK
    # Upstream nodes take the health of what they lead to.
    assert node(2, "ratings.default.svc.cluster.local:9080")[2] == WARN
    assert node(2, "details.default.svc.cluster.local:9080")[2] == OK
    assert node(0, "0.0.0.0_9080")[2] == WARN
    assert graph["counts"] == [4, 3, 6, 12, 15]
    # Columns come in order: every edge goes to a later column.
    assert all(nodes[a][0] < nodes[b][0] for a, b in graph["edges"])


def test_a_route_to_a_missing_cluster_is_drawn_missing_and_its_route_bad():
    doc = json.loads(DUMP.read_text())
    text = json.dumps(doc).replace(
        '"cluster": "outbound|9080||details.default.svc.cluster.local"',
        '"cluster": "outbound|9080||gone.default.svc.cluster.local"',
    )
    assert "gone.default" in text
    loaded = load(text.encode(), "t")
    proxy = ProxyData("t", loaded.dump)
    report = run_checks(proxy)
    graph = build_graph(Context(proxy, CheckOptions()), report.findings).plain()
    nodes = {(n[0], n[1]): n for n in graph["nodes"]}
    assert nodes[(3, "outbound|9080||gone.default.svc.cluster.local")][2] == MISSING
    assert nodes[(1, "9080")][2] == BAD and "PD301" in nodes[(1, "9080")][4]
    assert nodes[(2, "details.default.svc.cluster.local:9080")][2] == BAD


def test_hostile_names_never_become_markup(pdebug, tmp_path):
    out = tmp_path / "report.html"
    result = pdebug("report", hostile_dump(tmp_path), "--title", HOSTILE, "-o", out)
    assert result.code == 0, result.err
    text = out.read_text()
    for raw in (HOSTILE, HOSTILE_LISTENER, HOSTILE_VHOST, "<img", "<svg onload", "alert(1)>"):
        assert raw not in text, raw
    assert_self_contained(text)
    assert [t for t, _ in tags_of(text)].count("img") == 0
    # ... and yet the page has the names, exactly (JSON decodes the \u003c escapes).
    doc = page_data(text)
    assert doc["title"] == HOSTILE
    p = doc["proxies"][0]
    assert any(HOSTILE in row for row in table(p, "endpoints")["rows"])
    labels = {n[1] for n in eh.page_graph(p)["nodes"]}
    assert {HOSTILE, HOSTILE_LISTENER, HOSTILE_VHOST} <= labels
    # The renderer only ever writes text.
    for bad in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert bad not in assets.js(), bad


def without_scripts(text: str) -> str:
    """What a viewer that strips scripts shows: the text outside every <script> element."""
    text = re.sub(r"<script\b[^>]*>.*?</script>", "", text, flags=re.S | re.I)
    text = re.sub(r"<style\b[^>]*>.*?</style>", "", text, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    return html.unescape(re.sub(r"\s+", " ", text))


def test_the_summary_and_findings_are_readable_without_scripts(pdebug, tmp_path):
    out = tmp_path / "report.html"
    assert pdebug("report", DUMP, "--clusters-json", CLUSTERS, "-o", out).code == 0
    page = out.read_text()
    text = without_scripts(page)
    p = page_data(page)["proxies"][0]
    for label, value in p["summary"]["rows"]:
        assert f"{label} {value}" in text, label
    assert "Istio Version 1.24.0" in text and "Sync state unknown" in text
    for label, value, _ in p["summary"]["counts"]:
        assert f"{label} {value}" in text, label
    finding = p["findings"]["rows"][0]
    assert finding[0].startswith("PD403")
    for cell in finding:
        assert cell in text, cell
    assert "0 errors, 1 warning, 4 info (" in text and "1 warnings" not in text
    assert "drawn by the JavaScript embedded in this file" in text
    # A bundle: every proxy, its sync state, and istiod's failed replicas.
    src = tmp_path / "incident.tar.gz"
    make_bundle(src)
    out = tmp_path / "incident.html"
    assert pdebug("report", src, "--title", "INC-1234", "-o", out).code == 0
    page = out.read_text()
    text = without_scripts(page)
    doc = page_data(page)
    assert "INC-1234" in text and "bundle of 3 proxies" in text
    assert doc["capture"]["source"] == "3 pods"
    assert "Sync state CDS SYNCED, LDS SYNCED, EDS STALE" in text
    assert "capture: GET /config_dump: connection refused" in text


def test_the_static_copy_names_istiods_failed_replicas():
    line = "istiod: 1 of 3 replicas did not answer (istiod-2: timeout)"
    page = build_report([proxy_of(DUMP, CLUSTERS)], ReportMeta("x", capture={"istiod": line}))
    assert line in without_scripts(page)


def test_the_static_copy_is_escaped(pdebug, tmp_path):
    out = tmp_path / "report.html"
    result = pdebug("report", hostile_dump(tmp_path), "--title", HOSTILE, "-o", out)
    assert result.code == 0, result.err
    text = without_scripts(out.read_text())
    assert HOSTILE in text  # as text: the markup checks are in the test above
    assert "@CSS@" not in out.read_text()


def test_embedded_json_cannot_end_its_script_block():
    nasty = {"a": "</script><!--<script>&amp;\u2028\u2029", "b": ["</SCRIPT>", "]]>"]}
    text = embed_json(nasty)
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == nasty
    # A lone surrogate (a \ud800 escape in a dump) still embeds.
    assert json.loads(embed_json({"x": "\ud800"})) == {"x": "\ud800"}


def test_assets_cannot_break_out_of_their_elements():
    assert "</script" not in assets.js().lower() and "<!--" not in assets.js()
    assert "</style" not in assets.css().lower()
    assert "@DATA@" not in assets.js() + assets.css()
    assert "http" not in assets.js() + assets.css()  # not even the SVG namespace: read from the DOM


def test_build_report_is_pure_and_deterministic():
    from datetime import UTC, datetime

    meta = ReportMeta("x", generated=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), tables=wide_tables)
    one = build_report([proxy_of(DUMP, CLUSTERS)], meta)
    two = build_report([proxy_of(DUMP, CLUSTERS)], meta)
    assert one == two
    assert page_data(one)["generated"] == "2026-01-02T03:04:05Z"


def test_the_page_written_as_bytes_is_the_page_as_text(pdebug, tmp_path):
    from datetime import UTC, datetime

    from pdebug import cli
    from pdebug.report import render_page, render_page_bytes
    from pdebug.report.static import embed_json_bytes

    meta = ReportMeta(HOSTILE, generated=datetime(2026, 1, 2, tzinfo=UTC), tables=wide_tables)
    doc = report_data([proxy_of(DUMP, CLUSTERS)], meta)
    assert render_page_bytes(doc) == render_page(doc).encode()
    for nasty in ({"a": "</script>&\u2028\u2029é"}, {"x": "\ud800"}, {"plain": [1, "a"]}):
        assert embed_json_bytes(nasty) == embed_json(nasty).encode()
    # the command writes that page (its topology does not depend on the time); run from
    # code (main(argv)), it keeps nothing for the process's end
    out = tmp_path / "r.html"
    assert pdebug("report", DUMP, "--clusters-json", CLUSTERS, "-o", out).code == 0
    assert page_data(out.read_text())["proxies"][0]["graph"] == doc["proxies"][0]["graph"]
    assert cli._LINGER is None
    cli.linger(doc)
    assert cli._LINGER is None


def test_a_clusters_document_alone_still_makes_a_report(pdebug, tmp_path):
    out = tmp_path / "r.html"
    result = pdebug("report", ISTIOCTL / "proxy-config-endpoints/clusters.json", "-o", out)
    assert result.code == 0, result.err
    p = page_data(out.read_text())["proxies"][0]
    assert table(p, "endpoints")["rows"]
    assert "config dump" in table(p, "clusters")["note"]
    assert dict(p["summary"]["rows"])["Istio Version"] == "unknown"
    assert p["graph"]["counts"][3] > 0 and p["graph"]["counts"][0] == 0


def test_camel_case_istioctl_dumps_work(pdebug, tmp_path):
    for src in (
        ISTIOCTL / "proxy-config-all/config_dump.json",
        ISTIOCTL / "proxy-config-secret/istio/config_dump.json",
        ISTIOCTL / "proxy-status-diff/current/configdump.json",
    ):
        out = tmp_path / "r.html"
        result = pdebug("report", src, "-o", out)
        assert result.code == 0, (src, result.err)
        assert page_data(out.read_text())["proxies"][0]["tables"]


def test_stdout(pdebug):
    result = pdebug("report", DUMP, "-o", "-")
    assert result.code == 0
    assert result.out.startswith("<!DOCTYPE html>") and result.err == ""


# --- bundles -----------------------------------------------------------------------------


def make_bundle(path: Path) -> None:
    proxies = [
        bundle.CapturedProxy(
            "productpage-v1-abc.default",
            "pod/productpage-v1-abc.default",
            {bundle.DUMP: DUMP.read_bytes(), bundle.CLUSTERS: CLUSTERS.read_bytes()},
            info={"sync": {"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "STALE"}},
        ),
        bundle.CapturedProxy(
            "seed-demo",
            "http://127.0.0.1:9901",
            {
                bundle.DUMP: (SEED / "config_dump.json").read_bytes(),
                bundle.CLUSTERS: (SEED / "clusters.json").read_bytes(),
            },
            info={"sync": "SYNCED"},
        ),
        bundle.CapturedProxy(
            "reviews-v2-xyz.default",
            "pod/reviews-v2-xyz.default",
            {},
            errors=["GET /config_dump: connection refused"],
        ),
    ]
    bundle.write_bundle(str(path), proxies, {"source": "3 pods"})


def test_a_bundle_reports_every_proxy_with_a_summary_across_them(pdebug, tmp_path):
    src = tmp_path / "incident.tar.gz"
    make_bundle(src)
    out = tmp_path / "incident.html"
    result = pdebug("report", src, "--title", "INC-1234", "-o", out)
    assert result.code == 0, result.err
    assert result.err == f"wrote {out} (3 proxies)\n"
    text = out.read_text()
    assert_self_contained(text)
    doc = page_data(text)
    assert doc["title"] == "INC-1234"
    assert doc["capture"]["source"] == "3 pods" and doc["capture"]["created"]
    names = [p["name"] for p in doc["proxies"]]
    assert names == ["productpage-v1-abc.default", "seed-demo", "reviews-v2-xyz.default"]
    assert doc["overview"]["columns"][:3] == ["PROXY", "ERRORS", "WARNINGS"]
    rows = {r[0]: r for r in doc["overview"]["rows"]}
    assert rows["productpage-v1-abc.default"][1:3] == ["0", "1"]
    assert rows["productpage-v1-abc.default"][6] == "CDS SYNCED, LDS SYNCED, EDS STALE"
    assert rows["productpage-v1-abc.default"][7].startswith("PD403 ")
    assert rows["seed-demo"][6] == "SYNCED"
    assert rows["reviews-v2-xyz.default"][6] == "unknown"
    assert rows["reviews-v2-xyz.default"][7] == (
        "not captured: GET /config_dump: connection refused"
    )
    assert rows["reviews-v2-xyz.default"][1:4] == ["-", "-", "-"]  # unknown, not 0
    broken = doc["proxies"][2]
    assert broken["summary"]["errors"] == ["GET /config_dump: connection refused"]
    assert all(t["note"] and not t["rows"] for t in broken["tables"])
    # The bundle's /clusters gave the first proxy its live health.
    first = doc["proxies"][0]
    assert dict(first["summary"]["rows"])["Endpoint health from"].startswith("/clusters")
    assert dict(first["summary"]["rows"])["Source"] == f"{src}:productpage-v1-abc.default"


def test_bundle_member_and_clusters_json_rules(pdebug, tmp_path):
    src = tmp_path / "b.tar.gz"
    make_bundle(src)
    out = tmp_path / "one.html"
    result = pdebug("report", f"{src}:seed-demo", "-o", out)
    assert result.code == 0, result.err
    doc = page_data(out.read_text())
    assert [p["name"] for p in doc["proxies"]] == ["seed-demo"]
    assert doc["proxies"][0]["summary"]["rows"][0] == ["Source", f"{src}:seed-demo"]
    both = pdebug("report", src, "--clusters-json", CLUSTERS, "-o", out)
    assert both.code == 2 and "--clusters-json is one proxy's" in both.err
    missing = pdebug("report", f"{src}:nope", "-o", tmp_path / "n.html")
    assert missing.code == 3 and "no proxy 'nope'" in missing.err
    assert not (tmp_path / "n.html").exists()


# --- errors and the write ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["README.md"], 4, "not JSON"),
        ([str(ISTIOCTL / "proxy-config-bootstrap/bootstrapdump.json")], 4, "not an Envoy config"),
        (["/nonexistent/dump.json"], 3, "no such file"),
        ([str(DUMP), "--clusters-json", str(DUMP)], 4, "--clusters-json needs"),
        ([str(DUMP), "--ignore", "PD999"], 2, "no check has this code"),
    ],
)
def test_bad_input_is_one_error_line_and_no_file(pdebug, tmp_path, args, code, needle):
    out = tmp_path / "report.html"
    old = ["report", *[str(ROOT / a) if a == "README.md" else a for a in args], "-o", out]
    result = pdebug(*old)
    assert result.code == code, result.err
    lines = result.err.splitlines()
    assert lines[0].startswith("pdebug: error: ") and needle in lines[0]
    assert all(line.startswith("hint: ") for line in lines[1:])
    assert result.out == ""
    assert os.listdir(tmp_path) == []


def test_usage_errors(pdebug, tmp_path):
    assert pdebug("report", DUMP).code == 2  # no -o
    missing_dir = pdebug("report", DUMP, "-o", tmp_path / "no/such/dir/r.html")
    assert missing_dir.code == 3 and "does not exist" in missing_dir.err
    assert pdebug("report", "-o", tmp_path / "r.html").code == 2  # no SOURCE


def test_a_failed_write_leaves_the_old_report_and_no_partial_file(pdebug, tmp_path, monkeypatch):
    out = tmp_path / "report.html"
    out.write_text("previous report")

    def broken_fsync(fd: int) -> None:
        os.write(fd, b"<!DOCTYPE html> partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    result = pdebug("report", DUMP, "-o", out)
    assert result.code == 3
    assert result.err.startswith(f"pdebug: error: {out}: cannot write the report (No space left")
    assert out.read_text() == "previous report"
    assert sorted(os.listdir(tmp_path)) == ["report.html"]  # no temp file left behind


def test_an_interrupted_write_leaves_nothing(pdebug, tmp_path, monkeypatch):
    out = tmp_path / "report.html"

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    assert pdebug("report", DUMP, "-o", out).code == 130
    assert os.listdir(tmp_path) == []


def test_a_damaged_section_still_makes_a_report_and_exits_4(pdebug, tmp_path):
    doc = json.loads(DUMP.read_text())
    listeners = next(s for s in doc["configs"] if s["@type"].endswith("ListenersConfigDump"))
    listeners["dynamic_listeners"] = [{"name": 42}]
    src = tmp_path / "damaged.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "r.html"
    result = pdebug("report", src, "--clusters-json", CLUSTERS, "-o", out)
    assert result.code == 4
    assert result.err.splitlines()[-1] == "pdebug: error: some checks could not read the input"
    p = page_data(out.read_text())["proxies"][0]
    assert p["checks"]["inconclusive"]
    assert "dynamic_listeners" in table(p, "listeners")["note"]
    assert table(p, "clusters")["rows"] and table(p, "endpoints")["rows"]
    assert p["graph"]["notes"] and "dynamic_listeners" in p["graph"]["notes"][0]
    assert p["graph"]["counts"][1:] == [1, 4, 12, 15]  # the rest is drawn
    counts = {label: value for label, value, _ in p["summary"]["counts"]}
    assert counts["Listeners"] == "?" and counts["Clusters"] == "12"


def test_a_bad_input_keeps_the_previous_report(pdebug, tmp_path):
    out = tmp_path / "report.html"
    out.write_text("previous report")
    assert pdebug("report", ROOT / "README.md", "-o", out).code == 4
    assert out.read_text() == "previous report"


# --- scale -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_dump(tmp_path_factory) -> Path:
    """A generated 500-service sidecar dump: ~1,270 clusters, ~5,300 endpoints."""
    return generated_dump(tmp_path_factory.mktemp("big") / "dump-500.json", 500)


def test_a_thousand_cluster_report_stays_small_and_quick(pdebug, big_dump, tmp_path):
    out = tmp_path / "big.html"
    start = time.perf_counter()
    result = pdebug("report", big_dump, "-o", out)
    seconds = time.perf_counter() - start
    assert result.code == 0, result.err
    size = out.stat().st_size
    print(f"\n500-service report: {size / 1e6:.2f} MB in {seconds:.2f} s")
    assert size < 6e6, size  # the dump is 16 MB; the page carries only what it shows
    assert seconds < 30
    doc = page_data(out.read_text())
    p = doc["proxies"][0]
    assert len(table(p, "clusters")["rows"]) > 1000
    assert p["graph"]["counts"][3] > 1000


# --- live --------------------------------------------------------------------------------


@pytest.mark.envoy
@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")
def test_a_live_envoy_report(pdebug, tmp_path):
    with eh.LoopbackUpstream("app") as up:
        boot = eh.seed_demo_bootstrap(eh.free_port(), eh.free_port(), up.port)
        with eh.Envoy(boot) as envoy:
            out = tmp_path / "live.html"
            result = pdebug("report", envoy.admin_url, "-o", out)
            assert result.code == 0, result.err
            admin = pdebug("report", "--admin", envoy.admin_url, "-o", tmp_path / "a.html")
            assert admin.code == 0, admin.err
            saved = tmp_path / "dump.json"
            saved.write_text(json.dumps(envoy.config_dump(include_eds=True)))
            health = tmp_path / "clusters.json"
            health.write_text(json.dumps(envoy.clusters_json()))
    doc = page_data(out.read_text())
    p = doc["proxies"][0]
    assert p["source"] == envoy.admin_url
    assert dict(p["summary"]["rows"])["Endpoint health from"].startswith("/clusters")
    assert p["graph"]["counts"][0] >= 1
    # What the live proxy gave is what a saved dump of it gives.
    offline = tmp_path / "offline.html"
    assert pdebug("report", saved, "--clusters-json", health, "-o", offline).code == 0
    q = page_data(offline.read_text())["proxies"][0]
    for tid in ("clusters", "listeners", "routes", "endpoints"):
        assert table(p, tid)["rows"] == table(q, tid)["rows"], tid
    assert p["graph"] == q["graph"]


def test_report_data_round_trips_through_json():
    meta = ReportMeta("x", tables=wide_tables)
    doc = report_data([proxy_of(DUMP, CLUSTERS)], meta)
    assert table(doc["proxies"][0], "clusters")["rows"]
    assert json.loads(json.dumps(doc)) == doc
    doc2 = copy.deepcopy(doc)
    assert doc2["proxies"][0]["graph"]["kinds"] == [
        "listener",
        "route",
        "vhost",
        "cluster",
        "endpoint",
    ]


def _summary_counts(path: Path) -> dict[str, str]:
    doc = report_data([proxy_of(path)], ReportMeta("x"))
    return {label: value for label, value, _ in doc["proxies"][0]["summary"]["counts"]}


def test_the_endpoint_counts_agree_with_the_endpoints_view(tmp_path):
    # OSM: a LOGICAL_DNS and a STRICT_DNS cluster whose resolved hosts the EDS section lists
    osm = FIXTURES / "corpus/osm/sample-envoy-config-dump-bookstore.json"
    rows = endpoints.endpoints_view(proxy_of(osm), endpoints.EndpointFilter()).table.rows
    counts = _summary_counts(osm)
    assert (counts["Endpoints"], counts["Healthy"]) == (str(len(rows)), "7")
    # An endpoints-only dump (istioctl proxy-config endpoints' input): not "0 endpoints"
    dump = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
                "static_endpoint_configs": [
                    {
                        "endpoint_config": {
                            "cluster_name": "outbound|80||a.default.svc.cluster.local",
                            "endpoints": [
                                {
                                    "lb_endpoints": [
                                        {
                                            "endpoint": {
                                                "address": {
                                                    "socket_address": {
                                                        "address": "10.0.0.1",
                                                        "port_value": 80,
                                                    }
                                                }
                                            },
                                            "health_status": "HEALTHY",
                                        }
                                    ]
                                }
                            ],
                        }
                    }
                ],
            }
        ]
    }
    path = tmp_path / "eds-only.json"
    path.write_text(json.dumps(dump))
    counts = _summary_counts(path)
    assert (counts["Endpoints"], counts["Healthy"], counts["Clusters"]) == ("1", "1", "-")


def _summary(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    s = report_data([proxy_of(path)], ReportMeta("x"))["proxies"][0]["summary"]
    return {k: v for k, v, _ in s["counts"]}, dict(s["rows"])


def test_the_listener_count_and_its_not_serving_listeners():
    # aeraki: two name-less static listeners are two listeners (listeners -o json: 20)
    counts, _ = _summary(FIXTURES / "corpus/aeraki/thrift-sample-client-configdump.json")
    assert counts["Listeners"] == "20"
    # a listener still warming is said, as warming clusters are
    _, rows = _summary(FIXTURES / "corpus/handmade/istio-2019-trafficdirector-warming-v2alpha.json")
    assert (rows["Warming clusters"], rows["Warming listeners"]) == ("4", "1")
    # a rejected update (and its name-less twin) is one line, as PD101 says
    _, rows = _summary(FIXTURES / "diff/envoy.json")
    assert rows["Rejected listener updates"] == "1"


def test_endpoints_no_cluster_could_be_given_are_said():
    # Consul: 4 EDS endpoints in assignments without cluster_name, two candidate clusters;
    # pdebug endpoints lists 6 rows, the summary's 2 (local_app, local_agent) plus these.
    counts, rows = _summary(FIXTURES / "corpus/consul-k8s/test_config_dump.json")
    assert counts["Endpoints"] == "2"
    assert rows["Endpoints without a known cluster"].startswith("4 ")


# --- a plain SOURCE is read as check reads it ----------------------------------------------


def _yaml_dump(path: Path) -> None:
    import yaml

    path.write_text(yaml.safe_dump(json.loads(DUMP.read_bytes())))


def _gzip_dump(path: Path) -> None:
    import gzip

    path.write_bytes(gzip.compress(DUMP.read_bytes()))


_SOURCES = {
    # name: (file name, how to write it, whether it is read)
    "yaml-dump": ("dump.yaml", _yaml_dump, True),
    "empty-object": ("empty.json", lambda p: p.write_text("{}"), False),
    "gzip": ("dump.json.gz", _gzip_dump, True),
    "truncated": ("cut.json", lambda p: p.write_bytes(DUMP.read_bytes()[:500]), False),
    "bundle": ("incident.tar.gz", make_bundle, True),
}


@pytest.mark.parametrize("kind", sorted(_SOURCES))
def test_report_reads_a_plain_source_as_check_does(pdebug, tmp_path, kind):
    """Same acceptance, exit code and first line of stderr as ``check`` (#14)."""
    name, write, readable = _SOURCES[kind]
    src = tmp_path / name
    write(src)
    out = tmp_path / "report.html"
    checked = pdebug("check", src)
    reported = pdebug("report", src, "-o", out)
    if readable:
        assert checked.code in (0, 1), checked.err  # 1: findings
        assert reported.code == 0, reported.err
        assert out.read_text().startswith("<!DOCTYPE html>")
    else:
        assert checked.code not in (0, 1)
        first = checked.err.splitlines()[0], reported.err.splitlines()[0]
        assert (reported.code, first[1]) == (checked.code, first[0])
        assert not out.exists()
