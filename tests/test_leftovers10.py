"""leftovers10: what ``check`` and ``report`` left unsaid (the twelfth session's items).

The report page did not show check's ``Not checked`` lines; ``check BUNDLE`` did not count
them; PD203 missed an HTTP filter wrapped in a TypedStruct, counted a filter every route
turns off, and said nothing of an EDS cluster the dump has no assignment for. Each test
failed before its fix. Inputs: public dumps (fixtures/corpus, istioctl's test dumps),
Envoy's own configs (fixtures/envoy-examples) run by Envoy 1.40.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path
from typing import Any

from pdebug import bundle
from tests.harness import FIXTURES, ISTIOCTL
from tests.test_bundle_views import NO_CERTS, make_snapshot, proxy

CORPUS = FIXTURES / "corpus"
#: Istio 1.4's productpage: every listener and cluster reads /etc/certs (two files).
PRODUCTPAGE = CORPUS / "istio/2020-01-productpage/productpage_config_dump.json"
SECRETS = ISTIOCTL / "proxy-config-secret/istio/config_dump.json"
SIDECAR = FIXTURES / "real/sidecar/config_dump.json"


def _data(page: str) -> dict[str, Any]:
    """The page's data block (what its script draws)."""
    found = re.search(
        r'<script type="application/json" id="pdebug-data">(.*?)</script>', page, re.S
    )
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def _not_checked_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("Not checked")]


# --------------------------------------------------------------------------- 1. the report


def test_report_shows_checks_not_checked_lines(pdebug, tmp_path: Path) -> None:
    """Istio 1.4's productpage: `check` says two certificate files were not checked; the
    report's findings said "No findings." alone, as if every certificate had been judged."""
    said = _not_checked_lines(pdebug("check", PRODUCTPAGE).out)
    assert len(said) == 2
    page = tmp_path / "r.html"
    got = pdebug("report", PRODUCTPAGE, "-o", page)
    assert got.code == 0, got.err
    text = page.read_text()
    (proxy_data,) = _data(text)["proxies"]
    assert proxy_data["findings"]["rows"]  # under its findings
    assert proxy_data["findings"]["note"] == " ".join(said)
    # the copy for viewers without scripts shows it too, escaped as every page text
    assert '<p class="note">' + htmllib.escape(" ".join(said)) + "</p>" in text


def test_report_escapes_a_not_checked_file_name(pdebug, tmp_path: Path) -> None:
    """istioctl's secret test dump with `default` read from a file whose name is markup
    and a terminal escape: the page shows it as text, on both renderings."""
    doc = json.loads(SECRETS.read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_active_secrets", []):
            if entry["name"] == "default":
                chain = {"filename": "/etc/<img src=x onerror=alert(1)>\x1b[31mchain.pem"}
                entry["secret"]["tls_certificate"]["certificate_chain"] = chain
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    page = tmp_path / "r.html"
    got = pdebug("report", dump, "-o", page)
    assert got.code == 0, got.err
    text = page.read_text()
    assert "<img" not in text and "\x1b" not in text
    assert "/etc/&lt;img src=x onerror=alert(1)&gt;\\x1b[31mchain.pem on the proxy" in text
    (proxy_data,) = _data(text)["proxies"]
    note = proxy_data["findings"]["note"]
    assert "Not checked (PD501, PD502): secret/default: its certificate is the file" in note


def test_report_without_anything_not_checked_keeps_its_note(pdebug, tmp_path: Path) -> None:
    """A dump whose certificates are inline and every section read: the findings keep
    the note they had (None under findings, "No findings." alone otherwise)."""
    for source in (SIDECAR, SECRETS):
        assert not _not_checked_lines(pdebug("check", source).out)
        page = tmp_path / "r.html"
        assert pdebug("report", source, "-o", page).code == 0
        findings = _data(page.read_text())["proxies"][0]["findings"]
        assert findings["note"] in (None, "No findings.")
        assert (findings["note"] is None) == bool(findings["rows"])


# --------------------------------------------------------------------------- 2. check BUNDLE


def _bundle(tmp_path: Path) -> Path:
    """A bundle whose productpage proxy is Istio 1.4's (two certificate files)."""
    snap = make_snapshot(tmp_path / "snap.tar.gz")
    proxies = [
        proxy("productpage-v1-abc.default", PRODUCTPAGE.read_bytes()),
        proxy("seed.demo", (FIXTURES / "real/seed-demo/config_dump.json").read_bytes()),
    ]
    bundle.write_bundle(str(snap), proxies, {"kind": "snapshot", "source": "test"})
    return snap


def test_check_of_a_bundle_says_and_counts_what_was_not_checked(pdebug, tmp_path) -> None:
    """`check BUNDLE` printed "1 clean" of a proxy whose certificate files it could not
    judge, and never said them; `check FILE` of the same dump says two lines."""
    snap = _bundle(tmp_path)
    alone = _not_checked_lines(pdebug("check", PRODUCTPAGE).out)
    got = pdebug("check", snap)
    lines = got.out.splitlines()
    total = next(ln for ln in lines if ln.startswith("Checked "))
    assert total == (
        "Checked 2 proxies: 0 with errors, 0 with warnings, 2 clean; "
        "2 things not checked in 1 proxy (below)."
    )
    who = "productpage-v1-abc.default"
    assert _not_checked_lines(got.out) == [
        line.replace("Not checked (", f"Not checked in {who} (", 1) for line in alone
    ]
    plain = json.loads(pdebug("check", snap, "-o", "json").out)
    by = {p["name"]: p for p in plain["proxies"]}
    assert by[who]["not_checked"] == 2 and by["seed.demo"]["not_checked"] == 0
    assert plain["not_checked"] == 2
    assert len(by[who]["report"]["not_checked"]) == 4  # the single-proxy key, per code


def test_check_of_a_bundle_with_nothing_not_checked_says_no_more(pdebug, tmp_path) -> None:
    """The same bundle with the certificate checks ignored: nothing added to the totals
    (the golden of tests/test_bundle_views.py holds the table and totals themselves)."""
    got = pdebug("check", _bundle(tmp_path), *NO_CERTS)
    assert not _not_checked_lines(got.out)
    assert "not checked" not in got.out
    plain = json.loads(pdebug("check", _bundle(tmp_path), *NO_CERTS, "-o", "json").out)
    assert plain["not_checked"] == 0
    assert [p["not_checked"] for p in plain["proxies"]] == [0, 0]
