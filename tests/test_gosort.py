"""pdebug.gosort against Go's own ``sort.Slice``.

tests/vectors/gosort/vectors.json was printed by gen.go (next to it) under a real Go
toolchain: for each input and comparator, the permutation Go left and how many times it
called ``less``. The port must reproduce both exactly. The last tests build small dumps
from the ``view-*`` cases and check that the views put rows in Go's order.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pdebug import gosort
from pdebug.gosort import go_sort_by_key, go_sort_slice
from pdebug.model import ProxyData
from pdebug.model.load import load
from pdebug.views import listeners, routes

VECTORS = json.loads((Path(__file__).parent / "vectors" / "gosort" / "vectors.json").read_text())
CASES: list[dict[str, Any]] = VECTORS["cases"]
BY_NAME = {c["name"]: c for c in CASES}
MASK64 = (1 << 64) - 1

# Kinds whose comparator is a strict weak order on the input values: key(a) < key(b).
KEYED = {"int": False, "listener": False, "dest_desc": True}  # kind -> descending


def _scramble(x: int, y: int) -> bool:
    """gen.go's comparator that is no order at all."""
    h = ((x * 0x9E3779B97F4A7C15) & MASK64) ^ ((y * 0xC2B2AE3D27D4EB4F) & MASK64)
    h ^= h >> 29
    return h % 3 == 0


def _values(case: dict[str, Any]) -> list[Any]:
    if case["kind"] == "listener":
        return [tuple(x) for x in case["input"]]
    return list(case["input"])


def _less(case: dict[str, Any]) -> Callable[[Any, Any], bool]:
    """The comparator of a case, on values (``lie`` is stateful, like in gen.go)."""
    kind = case["kind"]
    if kind == "lie":
        seen = [0]

        def lie(a: int, b: int) -> bool:
            seen[0] += 1
            return seen[0] <= case["lies"] or a < b

        return lie
    simple: dict[str, Callable[[Any, Any], bool]] = {
        "int": lambda a, b: a < b,
        "listener": lambda a, b: a < b,
        "dest_desc": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "always": lambda a, b: True,
        "scramble": _scramble,
        "route": routes._less,  # pdebug's emulation of istioctl + strconv.Atoi
    }
    return simple[kind]


def _replay(case: dict[str, Any]) -> tuple[list[int], int]:
    """Sort the input indexes with the port; return the permutation and the less calls."""
    values = _values(case)
    less = _less(case)
    calls = 0

    def counted(i: int, j: int) -> bool:
        nonlocal calls
        calls += 1
        return less(values[i], values[j])

    perm = list(range(len(values)))
    go_sort_slice(perm, counted)
    return perm, calls


def _stable(case: dict[str, Any]) -> list[int]:
    values = _values(case)
    return sorted(range(len(values)), key=values.__getitem__, reverse=KEYED[case["kind"]])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_port_reproduces_go(case: dict[str, Any]) -> None:
    assert sorted(case["perm"]) == list(range(len(case["input"])))
    perm, calls = _replay(case)
    assert perm == case["perm"]
    assert calls == case["calls"]


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] in KEYED], ids=lambda c: c["name"])
def test_sort_by_key_reproduces_go(case: dict[str, Any]) -> None:
    values = _values(case)
    perm = list(range(len(values)))
    go_sort_by_key(perm, values.__getitem__, descending=KEYED[case["kind"]])
    assert perm == case["perm"]


def test_vectors_are_not_what_a_stable_sort_gives() -> None:
    keyed = [c for c in CASES if c["kind"] in KEYED]
    small = [c for c in keyed if len(c["input"]) <= 12]
    large = [c for c in keyed if len(c["input"]) > 12]
    # Up to 12 items Go runs a stable insertion sort ...
    assert all(c["perm"] == _stable(c) for c in small)
    # ... above, ties come out in pdqsort's order, which these vectors pin down.
    differ = [c["name"] for c in large if c["perm"] != _stable(c)]
    assert len(differ) >= 20, differ
    assert {"view-listeners", "view-chains", "dests-n30", "listeners-n300"} <= set(differ)


def _route_pair_less(p: tuple[str, int], q: tuple[str, int]) -> bool:
    return routes._less(p[0], q[0])


def test_route_vectors_are_not_what_insertion_sort_gives() -> None:
    # pdebug used to run only Go's insertion sort, whatever the number of routes.
    for name in ("routes-n20", "routes-mixed-n60", "view-routes"):
        case = BY_NAME[name]
        pairs = [(n, i) for i, n in enumerate(case["input"])]
        gosort._insertion_sort(pairs, _route_pair_less, 0, len(pairs))
        assert [i for _, i in pairs] != case["perm"], name


def test_vectors_reach_every_part_of_the_algorithm(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Counter[str] = Counter()

    def spy(name: str) -> None:
        real = getattr(gosort, name)

        def wrapper(*args: Any) -> Any:
            out = real(*args)
            seen[name] += 1
            seen[f"{name}={out}"] += 1
            return out

        monkeypatch.setattr(gosort, name, wrapper)

    for name in ("_heap_sort", "_partition_equal", "_break_patterns", "_partition"):
        spy(name)
    real_pis = gosort._partial_insertion_sort
    real_pivot = gosort._choose_pivot

    def pis(*args: Any) -> bool:
        out = real_pis(*args)
        seen[f"partial-sorted={out}"] += 1
        return out

    def pivot(*args: Any) -> tuple[int, int]:
        out = real_pivot(*args)
        seen[f"hint={out[1]}"] += 1
        return out

    monkeypatch.setattr(gosort, "_partial_insertion_sort", pis)
    monkeypatch.setattr(gosort, "_choose_pivot", pivot)
    for case in CASES:
        _replay(case)
    for part in (
        "_heap_sort",
        "_partition_equal",
        "_break_patterns",
        "partial-sorted=True",
        "partial-sorted=False",
        f"hint={gosort._DECREASING}",
        f"hint={gosort._UNKNOWN}",
    ):
        assert seen[part] > 0, part
    assert any(k.startswith("_partition=(") and k.endswith("True)") for k in seen)


def test_go_sort_slice_handles_trivial_inputs() -> None:
    for items in ([], [1], [2, 1]):
        copy = list(items)
        go_sort_slice(copy, lambda a, b: a < b)
        assert copy == sorted(items)


# -- views ------------------------------------------------------------------------------


def _dump(listener_list: list[dict[str, Any]], route_names: list[str]) -> ProxyData:
    doc = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "dynamic_listeners": [
                    {"name": lst["name"], "active_state": {"listener": lst}}
                    for lst in listener_list
                ],
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                "dynamic_route_configs": [{"route_config": _route_config(n)} for n in route_names],
            },
        ]
    }
    return ProxyData("test", load(json.dumps(doc).encode(), "test").dump)


def _route_config(name: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "name": name,
        "virtual_hosts": [
            {
                "name": "vh",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "c"}}],
            }
        ],
    }


def _listener(name: str, address: str, port: int, chains: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": name,
        "address": {"socket_address": {"address": address, "port_value": port}},
        "filter_chains": chains,
    }


def _tcp_chain(cluster: str, match: dict[str, Any] | None = None) -> dict[str, Any]:
    tcp = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
    chain: dict[str, Any] = {
        "filters": [
            {
                "name": "envoy.filters.network.tcp_proxy",
                "typed_config": {"@type": tcp, "stat_prefix": cluster, "cluster": cluster},
            }
        ]
    }
    if match is not None:
        chain["filter_chain_match"] = match
    return chain


def _http_chain() -> dict[str, Any]:
    hcm = (
        "type.googleapis.com/"
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    )
    return {
        "filters": [
            {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": hcm,
                    "stat_prefix": "x",
                    "rds": {"route_config_name": "80"},
                },
            }
        ]
    }


def test_routes_view_orders_like_go() -> None:
    case = BY_NAME["view-routes"]
    names: list[str] = case["input"]
    assert len(set(names)) == len(names) > 12
    data = _dump([], names)
    table = routes.view(data, routes.RouteFilter()).table
    shown = [row[0] for row in table.rows]
    assert shown == [names[i] for i in case["perm"]]
    # The name filter applies after the sort, and keeps one config.
    assert [r.entry.route_config.name for r in routes.select(data, routes.RouteFilter("80"))] == [
        "80"
    ]


def test_listeners_view_orders_like_go() -> None:
    case = BY_NAME["view-listeners"]
    specs = [tuple(x) for x in case["input"]]
    built = []
    for i, (port, address, kind) in enumerate(specs):
        chain = _http_chain() if kind == "HTTP" else _tcp_chain("outbound|80||x")
        built.append(_listener(f"l{i:02d}", address, port, [chain]))
    data = _dump(built, [])
    rows = listeners.select(data, listeners.ListenerFilter(), include_inactive=False)
    assert [(r.port, r.addresses[0], r.type) for r in rows] == [specs[i] for i in case["perm"]]
    assert [r.listener.name for r in rows] == [f"l{i:02d}" for i in case["perm"]]
    assert case["perm"] != _stable(case)  # a stable sort would print another order


def test_listener_chains_order_like_go() -> None:
    case = BY_NAME["view-chains"]
    dests: list[str] = case["input"]
    chains = [
        _tcp_chain(d.removeprefix("Cluster: "), {"destination_port": 1000 + i})
        for i, d in enumerate(dests)
    ]
    data = _dump([_listener("virtualInbound", "0.0.0.0", 15006, chains)], [])
    (row,) = listeners.select(data, listeners.ListenerFilter(), include_inactive=False)
    got = listeners.chain_rows(row)
    assert [d for _, d in got] == [dests[i] for i in case["perm"]]
    assert [m for m, _ in got] == [f"Addr: *:{1000 + i}" for i in case["perm"]]
    assert case["perm"] != _stable(case)
