"""No section of a dump is dropped silently (unknownsec).

Every ``configs[]`` entry is a section pdebug reads or an unread one: ``all -o json|yaml``
print an unread one where it was, the text views name its type on stderr, ``check`` says
it did not check it, and ``diff`` of two dumps compares it as written. One level down,
members of known sections and of listener and route entries that pdebug does not know
are named too (a future ``dynamic_xxx_clusters``, a listener state it does not know).

The inputs are real dumps of others (fixtures/real, fixtures/corpus, istioctl's test
data) with a section or member added; tests/test_fuzz_unread.py adds them at seeded
random places in every fixture dump, in several layouts, and checks the same promises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdebug.model.load import _layout, load
from pdebug.model.sections import unread, unread_members
from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
ACME = "type.googleapis.com/acme.mesh.PolicyConfigDump"
STRUCT = "type.googleapis.com/google.protobuf.Struct"


def _with(
    path: Path, tmp: Path, at: int | None, section: dict[str, Any], indent: int | None = 2
) -> tuple[Path, dict[str, Any]]:
    doc = json.loads(path.read_text())
    configs = doc["configs"]
    configs.insert(len(configs) if at is None else at, section)
    out = tmp / "dump.json"
    out.write_text(json.dumps(doc, indent=indent))
    return out, doc


@pytest.mark.parametrize("at", [None, 0, 2])
@pytest.mark.parametrize("type_url", [ACME, STRUCT])
@pytest.mark.parametrize("indent", [2, 1, None])
def test_all_json_keeps_an_unread_section_where_it_was(pdebug, tmp_path, at, type_url, indent):
    """It was left out of `all -o json` without a word (exit 0, nothing on stderr),
    found or not by the layout search (a type ending in ConfigDump, or not), last, first
    or between Envoy's sections, pretty-printed or not."""
    section = {"@type": type_url, "policies": [{"name": "x", "port": 80}], "z": None}
    dump, doc = _with(SIDECAR, tmp_path, at, section, indent)
    for fmt in ("json", "yaml"):
        got = pdebug("all", dump, "-o", fmt)
        assert got.code == 0, got.err
        assert got.err == ""
        if fmt == "json":
            assert json.loads(got.out) == doc
        else:
            assert type_url in got.out and "policies:" in got.out


def test_text_views_name_each_unread_type_on_stderr(pdebug, tmp_path):
    doc = json.loads(SIDECAR.read_text())
    doc["configs"] += [
        {"@type": ACME, "policies": []},
        {"@type": ACME, "policies": [{"name": "y"}]},
        {"@type": STRUCT, "fields": {}},
    ]
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc, indent=2))
    plain = {args: pdebug(*args, SIDECAR) for args in (("all",), ("clusters",), ("secrets",))}
    for args, before in plain.items():
        got = pdebug(*args, dump)
        assert got.code == before.code == 0
        assert got.out == before.out
        assert got.err == before.err + (
            "note: section acme.mesh.PolicyConfigDump (2 entries) is not read by pdebug; "
            "`pdebug all -o json` keeps it\n"
            "note: section google.protobuf.Struct (1 entry) is not read by pdebug; "
            "`pdebug all -o json` keeps it\n"
        ), args
    assert pdebug("clusters", dump, "-o", "json").err == ""
    url = "http://reviews.default.svc.cluster.local:9080/"
    before, got = pdebug("trace", SIDECAR, url), pdebug("trace", dump, url)
    assert (got.code, got.out) == (before.code, before.out)
    assert got.err == before.err + (
        "note: section acme.mesh.PolicyConfigDump (2 entries) is not read by pdebug; "
        "`pdebug all -o json` keeps it\n"
        "note: section google.protobuf.Struct (1 entry) is not read by pdebug; "
        "`pdebug all -o json` keeps it\n"
    )


def test_an_unread_type_is_named_escaped(pdebug, tmp_path):
    """Nothing from the input reaches the terminal raw: ESC, CR and a bidi override."""
    odd = "type.googleapis.com/acme.\x1b[31mred\r\u202eXConfigDump"
    dump, _ = _with(SIDECAR, tmp_path, None, {"@type": odd, "a": 1})
    got = pdebug("listeners", dump)
    assert got.code == 0
    note = [line for line in got.err.splitlines() if line.startswith("note: section")]
    assert note == [
        "note: section acme.\\x1b[31mred\\r\\u202eXConfigDump (1 entry) is not read by pdebug; "
        "`pdebug all -o json` keeps it"
    ]
    assert "\x1b" not in got.err and "\r" not in got.err
    assert json.loads(pdebug("all", dump, "-o", "json").out)["configs"][-1]["@type"] == odd


def test_the_layout_search_finds_any_config_dump_section() -> None:
    """Envoy's sections and an extension's, by the `ConfigDump"` end of their types, in
    one search (no special case for Cilium, whose bootstrap this one does not name)."""
    doc = json.loads(SIDECAR.read_text())
    doc["configs"].insert(3, {"@type": ACME, "x": [{}]})
    body = json.dumps(doc, indent=2).encode()
    found = _layout(body)
    assert found is not None
    types, starts, ends = found
    assert types == [c["@type"] for c in doc["configs"]]
    assert [json.loads(body[a:b]) for a, b in zip(starts, ends, strict=True)] == doc["configs"]
    dump = load(body, "t").dump
    assert dump is not None
    assert unread(dump) == [(ACME, 1)]
    assert [s.type_url for s in dump.sections] == types


def test_check_says_what_it_did_not_check(pdebug, tmp_path):
    dump, _ = _with(SIDECAR, tmp_path, 1, {"@type": ACME, "policies": []})
    before, got = pdebug("check", SIDECAR), pdebug("check", dump)
    assert got.code == before.code
    added = "Not checked: section acme.mesh.PolicyConfigDump (1 entry), which pdebug does not read."
    assert got.out.rstrip("\n").endswith(added)
    assert added not in before.out
    plain = json.loads(pdebug("check", dump, "-o", "json").out)
    assert plain["unread_sections"] == [{"type": ACME, "entries": 1}]
    # a dump without one: the report's keys are what they were
    assert "unread_sections" not in json.loads(pdebug("check", SIDECAR, "-o", "json").out)


def test_diff_compares_unread_sections_as_written(pdebug, tmp_path):
    left = tmp_path / "left.json"
    doc = json.loads(SIDECAR.read_text())
    doc["configs"].append({"@type": ACME, "policies": [{"name": "x", "port": 1}]})
    left.write_text(json.dumps(doc, indent=2))
    same = tmp_path / "same.json"  # its members in another order: the same section
    doc["configs"][-1] = {"policies": [{"port": 1, "name": "x"}], "@type": ACME}
    same.write_text(json.dumps(doc))
    changed = tmp_path / "changed.json"
    doc["configs"][-1] = {"@type": ACME, "policies": [{"name": "y", "port": 1}]}
    changed.write_text(json.dumps(doc, indent=2))

    got = pdebug("diff", SIDECAR, left)
    assert got.code == 1, got.out
    assert "Section acme.mesh.PolicyConfigDump Don't Match" in got.out
    assert f"+ acme.mesh.PolicyConfigDump: only in {left}" in got.out
    got = pdebug("diff", left, same)
    assert got.code == 0, got.out
    assert "Section acme.mesh.PolicyConfigDump Match" in got.out
    got = pdebug("diff", left, changed)
    assert got.code == 1
    assert 'policies[0].name: "x" -> "y"' in got.out
    plain = json.loads(pdebug("diff", left, changed, "-o", "json").out)
    assert plain["kinds"][-1]["kind"] == ACME and plain["kinds"][-1]["match"] is False
    unified = pdebug("diff", left, changed, "--unified").out
    assert '-        "name": "x"' in unified and '+        "name": "y"' in unified
    # istiod's answer never holds an extension's section: not compared against one
    assert "Section" not in pdebug("diff", "--expected", SIDECAR, left).out


def test_members_pdebug_does_not_read_are_named(pdebug, tmp_path):
    """A future clusters list and a listener state pdebug does not know: the listener
    was missing from `listeners` and its json without a word."""
    doc = json.loads(SIDECAR.read_text())
    for sec in doc["configs"]:
        if sec["@type"].endswith(".ClustersConfigDump"):
            sec["dynamic_quarantined_clusters"] = [{"cluster": {"name": "q"}}]
        if sec["@type"].endswith(".ListenersConfigDump"):
            sec["dynamic_listeners"].append({"name": "future-l", "future_state": {"a": 1}})
        if sec["@type"].endswith(".RoutesConfigDump"):
            sec["dynamic_route_configs"].append({"route_config_v4": {"name": "r4"}})
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc, indent=2))
    loaded = load(dump.read_bytes(), "t").dump
    assert loaded is not None
    assert unread_members(loaded) == [
        "member dynamic_quarantined_clusters of the clusters section",
        "member future_state of dynamic_listeners entries (1 entry, first future-l)",
        "member route_config_v4 of dynamic_route_configs entries (1 entry)",
    ]
    tail = " is not read by pdebug; `pdebug all -o json` keeps it"
    got = pdebug("all", dump)
    assert got.code == 0
    assert f"note: member dynamic_quarantined_clusters of the clusters section{tail}" in got.err
    got = pdebug("listeners", dump)
    assert got.err.splitlines() == [
        f"note: member future_state of dynamic_listeners entries (1 entry, first future-l){tail}"
    ]
    assert "route_config_v4" in pdebug("routes", dump).err
    assert json.loads(pdebug("all", dump, "-o", "json").out) == doc
    check = pdebug("check", dump, "-o", "json")
    assert len(json.loads(check.out)["unread_members"]) == 3
    assert pdebug("listeners", SIDECAR).err == ""


@pytest.mark.parametrize(
    ("view", "kind"), [("bootstrap", "Bootstrap"), ("secrets", "Secrets"), ("eds", "Endpoints")]
)
def test_each_view_names_the_members_of_its_section(pdebug, tmp_path, view, kind):
    doc = json.loads(SIDECAR.read_text())
    for sec in doc["configs"]:
        if sec["@type"].endswith(f".{kind}ConfigDump"):
            sec["pd_new_member"] = {"x": 1}
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc, indent=2))
    before, got = pdebug(view, SIDECAR), pdebug(view, dump)
    assert (got.code, got.out) == (before.code, before.out)
    assert got.err == before.err + (
        f"note: member pd_new_member of the {kind.lower()} section is not read by pdebug; "
        "`pdebug all -o json` keeps it\n"
    )
