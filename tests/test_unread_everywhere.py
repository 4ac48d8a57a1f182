"""Unread sections and members said by `report`, `check` of a bundle and `clusters` (unread2).

unknownsec made every ``configs[]`` entry a section pdebug reads or an unread one, named by
the text views, ``check`` and ``diff``. These are the commands that still said nothing:
the HTML report (its summary and its stderr), ``check`` of a snapshot bundle (per proxy),
and the ``clusters`` table about a member of its own section it does not know (from what
its reading already knows: no other pass over the bytes).

The inputs are real dumps of others (fixtures/real) with a section or a member added.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdebug import bundle
from pdebug.model.load import light_tables, load
from pdebug.model.sections import unread_members
from tests.harness import FIXTURES
from tests.test_bundle_views import NO_CERTS, make_snapshot

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
SEED = FIXTURES / "real" / "seed-demo" / "config_dump.json"
ACME = "type.googleapis.com/acme.mesh.PolicyConfigDump"
#: A type whose name would be markup and a terminal escape if written as it is.
HOSTILE = "type.googleapis.com/acme.<img src=x onerror=alert(1)>\x1b[31mConfigDump"
QUARANTINED = "member dynamic_quarantined_clusters of the clusters section"


def _doc(path: Path = SIDECAR, *, section: dict[str, Any] | None = None, member: bool = False):
    doc = json.loads(path.read_text())
    if section is not None:
        doc["configs"].insert(1, section)
    if member:
        for sec in doc["configs"]:
            if sec["@type"].endswith(".ClustersConfigDump"):
                sec["dynamic_quarantined_clusters"] = [{"cluster": {"name": "q"}}]
    return doc


def _write(tmp: Path, doc: dict[str, Any], indent: int | None = 2, name: str = "dump.json"):
    out = tmp / name
    out.write_text(json.dumps(doc, indent=indent))
    return out


# --------------------------------------------------------------------------- report


def test_report_says_what_it_did_not_read(pdebug, tmp_path):
    """The page and its stderr said nothing of a section or member pdebug does not read."""
    dump = _write(tmp_path, _doc(section={"@type": ACME, "p": [1]}, member=True))
    page = tmp_path / "r.html"
    got = pdebug("report", dump, "-o", page)
    assert got.code == 0, got.err
    html = page.read_text()
    assert (
        "<dt>Not read by pdebug</dt><dd>section acme.mesh.PolicyConfigDump (1 entry); "
        f"{QUARANTINED}</dd>"
    ) in html
    assert f"note: {dump}: section acme.mesh.PolicyConfigDump (1 entry) is not read" in got.err
    assert f"note: {dump}: {QUARANTINED} is not read by pdebug" in got.err
    # a dump without either: the page has no such row, stderr no note
    clean = pdebug("report", SIDECAR, "-o", tmp_path / "c.html")
    assert "Not read by pdebug" not in (tmp_path / "c.html").read_text()
    assert "note:" not in clean.err


def test_report_escapes_an_unread_type(pdebug, tmp_path):
    dump = _write(tmp_path, _doc(section={"@type": HOSTILE}))
    page = tmp_path / "r.html"
    got = pdebug("report", dump, "-o", page)
    assert got.code == 0, got.err
    html = page.read_text()
    assert "<img" not in html and "\x1b" not in html
    assert "acme.&lt;img src=x onerror=alert(1)&gt;\\x1b[31mConfigDump (1 entry)" in html
    assert "\x1b" not in got.err and "acme.<img src=x onerror=alert(1)>\\x1b[31m" in got.err


def test_report_of_a_bundle_names_the_proxy(pdebug, tmp_path):
    doc = _doc(SEED, section={"@type": ACME})
    snap = make_snapshot(tmp_path / "snap.tar.gz", extra=False)
    proxies = [
        bundle.CapturedProxy(
            "seed.demo", "pod/seed.demo", {bundle.DUMP: json.dumps(doc).encode()}, [], {}
        ),
        bundle.CapturedProxy(
            "clean.demo", "pod/clean.demo", {bundle.DUMP: SEED.read_bytes()}, [], {}
        ),
    ]
    bundle.write_bundle(str(snap), proxies, {"kind": "snapshot", "source": "test"})
    got = pdebug("report", snap, "-o", tmp_path / "r.html")
    assert got.code == 0, got.err
    notes = [line for line in got.err.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: seed.demo: section acme.mesh.PolicyConfigDump (1 entry) is not read by pdebug"
    ]


# --------------------------------------------------------------------------- check of a bundle


def test_check_of_a_bundle_says_each_proxys_unread_sections(pdebug, tmp_path):
    """`check BUNDLE` printed its table and totals as if every section had been checked."""
    clean = make_snapshot(tmp_path / "clean.tar.gz")
    doc = _doc(section={"@type": ACME, "p": []}, member=True)
    snap = make_snapshot(tmp_path / "snap.tar.gz", json.dumps(doc, indent=2).encode())
    before, got = pdebug("check", clean, *NO_CERTS), pdebug("check", snap, *NO_CERTS)
    assert got.code == before.code
    added = [
        "Not checked in productpage-v1-abc.default: section acme.mesh.PolicyConfigDump "
        "(1 entry), which pdebug does not read.",
        f"Not checked in productpage-v1-abc.default: {QUARANTINED}, which pdebug does not read.",
    ]
    # the totals count them too, with the gateway's line both bundles have (leftovers10)
    expected = before.out.replace(str(clean), str(snap)).replace(
        "1 thing not checked in 1 proxy", "3 things not checked in 2 proxies"
    )
    gateway = [ln for ln in expected.splitlines() if ln.startswith("Not checked in gateway")]
    assert len(gateway) == 1
    table = [ln for ln in expected.splitlines() if not ln.startswith("Not checked in")]
    assert got.out.splitlines() == table + added + gateway
    # json said it already, per proxy (the single-proxy report's keys)
    plain = json.loads(pdebug("check", snap, *NO_CERTS, "-o", "json").out)
    page = plain["proxies"][0]["report"]
    assert page["unread_sections"] == [{"type": ACME, "entries": 1}]
    assert page["unread_members"] == [QUARANTINED]


def test_check_of_a_bundle_escapes_an_unread_type(pdebug, tmp_path):
    doc = _doc(section={"@type": HOSTILE})
    snap = make_snapshot(tmp_path / "snap.tar.gz", json.dumps(doc).encode())
    got = pdebug("check", snap, *NO_CERTS)
    assert "\x1b" not in got.out
    assert "section acme.<img src=x onerror=alert(1)>\\x1b[31mConfigDump (1 entry)" in got.out


# --------------------------------------------------------------------------- clusters


@pytest.mark.parametrize("indent", [2, None])
@pytest.mark.parametrize("args", [(), ("-o", "wide"), ("--fqdn", "reviews"), ("-o", "short")])
def test_clusters_names_an_unknown_member_of_its_section(pdebug, tmp_path, indent, args):
    """`clusters` said nothing of a `dynamic_quarantined_clusters` list, as listeners and
    routes do of theirs."""
    dump = _write(tmp_path, _doc(member=True), indent)
    before, got = pdebug("clusters", SIDECAR, *args), pdebug("clusters", dump, *args)
    assert (got.code, got.out) == (before.code, before.out)
    assert got.err == before.err + (
        f"note: {QUARANTINED} is not read by pdebug; `pdebug all -o json` keeps it\n"
    )
    assert pdebug("clusters", dump, "-o", "json").err == ""  # structured: stdout alone


def test_clusters_reads_no_section_again_to_know(tmp_path):
    """A section neither read strictly nor split yet is passed over, not split to look."""
    data = _write(tmp_path, _doc(member=True)).read_bytes()
    dump = load(data, "t").dump
    assert dump is not None
    sec = dump.section("clusters")
    assert sec is not None and not sec.members_known and sec.complete is not None
    assert unread_members(dump, ("clusters",), read_only=True) == []
    assert sec.complete is not None  # still not split
    assert unread_members(dump, ("clusters",)) == [QUARANTINED]  # the full look splits it
    # the light decode of a clean section: known clean, nothing split
    with light_tables("clusters"):
        clean = load(SIDECAR.read_bytes(), "t").dump
    assert clean is not None
    sec = clean.section("clusters")
    assert sec is not None
    assert unread_members(clean, ("clusters",), read_only=True) == []
