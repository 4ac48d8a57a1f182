"""review10: where two of the tenth session's branches met on one input (each test
fails without its fix)."""

from __future__ import annotations

import json
from pathlib import Path

from tests import harness as eh

WARMING_111 = (
    eh.FIXTURES / "corpus" / "handmade" / "envoy-1.11-warming-circuit-breakers-v2alpha.json"
)


def _cut(tmp_path: Path, list_key: str) -> Path:
    """The Envoy 1.11 dump with a paste's ``{"...": "..."}`` first in ``list_key``."""
    text = WARMING_111.read_text()
    cut = text.replace(f'"{list_key}": [', f'"{list_key}": [\n {{"...": "..."}},', 1)
    assert cut != text
    out = tmp_path / f"cut-{list_key}.json"
    out.write_text(cut)
    return out


def test_a_placeholder_entry_is_not_also_an_unread_member(pdebug, tmp_path: Path) -> None:
    """sweep26 says a section cut with ``{"...": "..."}`` once; unknownsec then also said
    "member ... of dynamic_active_listeners entries is not read by pdebug" (and check's
    "Not checked", `unread_members` in -o json, the report's "Not read by pdebug" row)
    about the same three dots: one cut, two stories. The cut is said once now."""
    for key, view in (("dynamic_active_listeners", "listeners"),):
        path = _cut(tmp_path, key)
        got = pdebug(view, path)
        assert got.code == 0, got.err
        assert got.err.count('holds a "..." placeholder') == 1, got.err
        assert "member ..." not in got.err, got.err
        checked = pdebug("check", path, "-o", "json")
        assert checked.code in (0, 1), checked.err
        assert "unread_members" not in json.loads(checked.out), checked.out
    routes = _cut(tmp_path, "dynamic_route_configs")
    got = pdebug("routes", routes)
    assert "member ..." not in got.err, got.err
    assert got.err.count('holds a "..." placeholder') == 1, got.err


def test_a_real_unread_member_is_still_named_next_to_a_placeholder(pdebug, tmp_path: Path) -> None:
    """Only the placeholder is folded into the cut's warning: a member Envoy may write
    one day (a listener entry's ``future_state``) is still named."""
    text = _cut(tmp_path, "dynamic_active_listeners").read_text()
    doc = json.loads(text)
    for sec in doc["configs"]:
        if sec["@type"].endswith("ListenersConfigDump"):
            sec["dynamic_active_listeners"][1]["future_state"] = {}
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    got = pdebug("listeners", path)
    assert "member future_state of dynamic_active_listeners entries" in got.err, got.err
    assert "member ..." not in got.err, got.err


def test_a_pasted_section_field_in_braces_is_named_as_without(pdebug, tmp_path: Path) -> None:
    """sweep26 named a pasted `"dynamic_warming_clusters": [ ... ]` (read as YAML) "a piece
    of a config dump"; the same paste with its braces (JSON) still said "not an Envoy
    config dump (no 'configs' list)". Both say the same now (exit 4 either way)."""
    doc = json.loads(WARMING_111.read_text())
    clusters = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    warming = clusters["dynamic_warming_clusters"]
    assert warming
    for name, text in (
        ("braces.json", json.dumps({"dynamic_warming_clusters": warming}, indent=1)),
        ("compact.json", json.dumps({"dynamicWarmingClusters": warming})),
        ("bare.yaml", '"dynamic_warming_clusters": ' + json.dumps(warming, indent=1)),
    ):
        path = tmp_path / name
        path.write_text(text)
        got = pdebug("clusters", path)
        assert got.code == 4, got.err
        assert "a piece of a config dump" in got.err, (name, got.err)
        assert "alone, as pasted" in got.err, got.err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"dynamic_warming_clusters": warming, "x": 1}))
    assert "no 'configs' list" in pdebug("clusters", other).err


def test_auto_host_rewrite_reads_a_v2_clusters_hosts(pdebug, tmp_path: Path) -> None:
    """sweep25 read a v2 cluster's ``hosts`` (Envoy <= 1.14) in clusters and report;
    traceleft's ``auto_host_rewrite`` read only ``load_assignment`` and said of Contour
    0.8's STRICT_DNS ``contour`` cluster "Host kept, contour is not a DNS cluster", one
    line above "STRICT_DNS". Its DNS name is the Host the upstream sees."""
    contour = eh.FIXTURES / "corpus" / "handmade" / "contour-0.8-envoy-1.8-tls-context.json"
    doc = json.loads(contour.read_text())
    for sec in doc["configs"]:
        if sec["@type"].endswith("RoutesConfigDump"):
            vhost = sec["dynamicRouteConfigs"][0]["routeConfig"]["virtualHosts"][0]
            route = {"cluster": "contour", "autoHostRewrite": True}
            vhost["routes"].insert(0, {"match": {"prefix": "/auto"}, "route": route})
    path = tmp_path / "contour-auto-host.json"
    path.write_text(json.dumps(doc, indent=1))
    got = pdebug("trace", path, "http://kuard.random.io:8080/auto", "-o", "json")
    steps = json.loads(got.out)["steps"]
    rewrite = next(st for st in steps if st.get("name") == "rewrite")
    assert rewrite.get("host") == "contour", rewrite
    assert "not a DNS cluster" not in json.dumps(steps)


def test_diff_says_a_side_was_cut_by_hand(pdebug, tmp_path: Path) -> None:
    """sweep26 made every view say a section holds a paste's "..." placeholder; `diff`
    read the sections its own way and said "Clusters Match" (exit 0) of a cut paste
    against the whole dump without a word. The cut side is said on stderr now (the
    verdict and exit code are as before: what is shown does match)."""
    for key in ("dynamic_active_clusters", "dynamic_active_listeners"):
        cut = _cut(tmp_path, key)
        got = pdebug("diff", cut, WARMING_111)
        assert got.code in (0, 1), got.err
        assert got.err.count('holds a "..." placeholder') == 1, got.err
    whole = pdebug("diff", WARMING_111, WARMING_111)
    assert "placeholder" not in whole.err, whole.err
