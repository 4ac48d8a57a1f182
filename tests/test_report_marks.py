"""The report's findings are check's, whatever the report searched first (#17).

``pdebug report`` searches the clusters section once for the marks its readers look for
(``inline``, a certificate provider instance, ``filename``: ``model.dump.marks_held``),
and then skips each cluster's own search when the section holds none. ``pdebug check`` in
one process searches cluster by cluster. Both must say the same findings and "Not
checked" lines on every real dump of fixtures/ and on dumps that hold each mark in one
cluster only. A wrong answer of the one pass (a mark said absent) shows here as a report
that says less than check.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pdebug.cli import main
from tests import harness as eh
from tests.harness import FIXTURES

PRODUCTPAGE = FIXTURES / "corpus/istio/2020-01-productpage/productpage_config_dump.json"
SIDECAR = FIXTURES / "real/sidecar/config_dump.json"

#: Real dumps whose clusters section holds one of the marks, and the bench's sidecar.
DUMPS = [
    p
    for p in [*eh.corpus_config_dumps(), SIDECAR]
    if any(m in p.read_bytes() for m in (b"filename", b"inline", b"rovider_instance"))
]


def _run(args: list[str], jobs: str, capsys: Any, monkeypatch: Any) -> str:
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setenv("PDEBUG_JOBS", jobs)
        main(args)
    return str(capsys.readouterr().out)


def _page_findings(page: str) -> tuple[list[Any], str]:
    found = re.search(
        r'<script type="application/json" id="pdebug-data">(.*?)</script>', page, re.S
    )
    assert found
    (proxy,) = json.loads(found.group(1))["proxies"]
    return proxy["findings"]["rows"], proxy["findings"]["note"]


def _check_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("Not checked")]


def _expired_pem(tmp: Path) -> str:
    ended = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    return eh.make_test_pki(tmp / "pki", leaf_not_after=ended).cert_pem.decode()


def _one_cluster_holding(tmp: Path, mark: str) -> Path:
    """The sidecar's dump with one cluster's TLS context taking its certificate as ``mark``
    says (a file, or inline bytes of an expired certificate)."""
    doc = json.loads(SIDECAR.read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_active_clusters", []):
            cluster = entry["cluster"]
            if cluster["name"].startswith("outbound|9080||reviews"):
                source = (
                    {"filename": "/etc/certs/cert-chain.pem"}
                    if mark == "filename"
                    else {"inline_string": _expired_pem(tmp)}
                )
                cluster["transport_socket"] = {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets"
                        ".tls.v3.UpstreamTlsContext",
                        "common_tls_context": {"tls_certificates": [{"certificate_chain": source}]},
                    },
                }
                path = tmp / f"{mark}.json"
                path.write_text(json.dumps(doc))
                return path
    raise AssertionError("no reviews cluster in the sidecar dump")


def _same(dump: Path, tmp: Path, capsys: Any, monkeypatch: Any) -> None:
    """The forked report's findings rows and note say what one-process check says."""
    out = _run(["check", str(dump), "-o", "json"], "1", capsys, monkeypatch)
    check = json.loads(out)
    page = tmp / "r.html"
    _run(["report", str(dump), "-o", str(page)], "2", capsys, monkeypatch)
    rows, note = _page_findings(page.read_text())
    assert sorted((r[0], r[2], r[3]) for r in rows) == sorted(
        (f["code"], f["resource"], f["message"]) for f in check["findings"]
    )
    lines = _check_lines(_run(["check", str(dump)], "1", capsys, monkeypatch))
    for line in lines:
        assert line in (note or ""), (line, note)


@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_forked_report_says_what_check_says(
    dump: Path, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    _same(dump, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize("mark", ["filename", "inline"])
def test_a_mark_in_one_cluster_only(
    mark: str, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    dump = _one_cluster_holding(tmp_path, mark)
    check = _run(["check", str(dump)], "1", capsys, monkeypatch)
    assert "reviews" in check  # the cluster's certificate is judged (or said not checked)
    _same(dump, tmp_path, capsys, monkeypatch)
    page = tmp_path / "r.html"
    rows, note = _page_findings(page.read_text())
    assert "reviews" in json.dumps(rows) + (note or "")


def test_the_productpage_dump_is_among_them() -> None:
    assert PRODUCTPAGE in DUMPS
