"""The #17 fast paths of ``check`` and ``report`` give what the plain code gives.

* PD403/PD404 read each host set's EDS status and address lists instead of a ``Host``
  per endpoint: compared with the per-host code they replaced;
* the topology sorts endpoint and virtual host nodes in one bucket per parent: compared
  with the one sort over every node's ``(kind, sort, key)`` it replaced, including two
  clusters whose names split alike (``outbound|80||x`` and ``outbound|080||x``: port 80 both);
* endpoint nodes are found by label without an index.

On the corpus, the real Envoy captures (with and without ``/clusters``), a generated
mesh, and the same dumps in lowerCamelCase and in mixed spellings.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from bench.gendump import generate
from pdebug.checks import CheckOptions, Finding
from pdebug.checks import endpoints as echecks
from pdebug.checks.base import Check
from pdebug.checks.context import Context
from pdebug.errors import PdebugError
from pdebug.model import ProxyData
from pdebug.model.health import UNHEALTHY_EDS
from pdebug.report import topology
from pdebug.report.topology import CLUSTER, ENDPOINT, VHOST, Graph
from tests.harness import (
    camelize,
    eds_dump,
    graph_by_one_sort,
    proxy_or_skip,
    report_graph,
    saved_dumps,
)

NOW = CheckOptions().now

#: Cluster -> its hosts' EDS statuses (four and more bad ones: the listing says "+N more").
_STATUSES = {
    "outbound|80||x": ["UNHEALTHY", "HEALTHY", "TIMEOUT", "UNHEALTHY", "UNHEALTHY", "DEGRADED"],
    "outbound|080||x": ["DRAINING", "DEGRADED", "HEALTHY", "DEGRADED", "DEGRADED", "DRAINING"],
    "outbound|81||y": ["HEALTHY", "HEALTHY"],
    "outbound|82||z": ["TIMEOUT"],
    "BlackHoleCluster": [],
}


def _sock(c: str, i: int) -> dict[str, Any]:
    # The two clusters that sort alike get interleaved addresses.
    return {"socket_address": {"address": f"10.0.{9 - i}.{len(c) % 7}", "port_value": 80}}


def _synthetic(live: bool) -> tuple[bytes, bytes | None]:
    health = None
    if live:
        statuses = [
            {
                "name": c,
                "host_statuses": [
                    {
                        "address": _sock(c, i),
                        "health_status": {"eds_health_status": st, "failed_outlier_check": i == 1},
                    }
                    for i, st in enumerate(sts)
                ],
            }
            for c, sts in _STATUSES.items()
        ]
        health = json.dumps({"cluster_statuses": statuses}).encode()
    return eds_dump(_STATUSES, _sock), health


def _inputs() -> Iterator[tuple[str, bytes, bytes | None]]:
    yield from saved_dumps()
    buf = io.BytesIO()
    generate(buf, 40, seed=5, namespaces=3)
    mesh = buf.getvalue()
    yield "gendump-40", mesh, None
    yield "synthetic", *_synthetic(False)
    yield "synthetic+clusters", *_synthetic(True)
    # The same data as istiod writes it (lowerCamelCase), and in mixed spellings.
    for name, data in (("gendump-40", mesh), ("synthetic", _synthetic(False)[0])):
        doc = json.loads(data)
        yield f"{name}-camel", json.dumps(camelize(doc)).encode(), None
        mixed = camelize(doc, keep=0.5, rng=random.Random(7))
        yield f"{name}-mixed", json.dumps(mixed).encode(), None


INPUTS = {name: (dump, live) for name, dump, live in _inputs()}


def _proxy(name: str) -> ProxyData:
    proxy: ProxyData = proxy_or_skip(name, *INPUTS[name])
    return proxy


def _plain_eds(ctx: Context, this: Check, states: frozenset[str], unhealthy: bool) -> list[Finding]:
    """PD403 (``unhealthy``) or PD404 as written before: a Host per endpoint."""
    out = []
    for name, hs in ctx.hosts.items():
        bad = [h for h in hs.hosts if h.eds in states]
        if not bad:
            continue
        kinds = sorted({h.eds for h in bad})
        shown = ", ".join(h.address for h in bad[:3])
        more = len(bad) - 3
        listing = shown + (f" (+{more} more)" if more > 0 else "")
        message = f"{len(bad)} of {len(hs.hosts)} endpoints are {'/'.join(kinds)} per EDS: "
        if unhealthy:
            hint = (
                "the control plane says so (pod not ready, failing readiness probe?): "
                "kubectl get endpointslices; kubectl describe the pods"
                + ("" if hs.live else echecks._EDS_SOURCE_NOTE)
            )
        else:
            hints = {
                "DEGRADED": "DEGRADED endpoints get traffic only when no healthy one is left",
                "DRAINING": "DRAINING endpoints get no new requests (pods terminating, a rollout)",
            }
            hint = "; ".join(hints[k] for k in kinds)
        out.append(this.finding(f"cluster/{name}", message + listing, hint))
    return out


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_eds_status_checks_match_per_host_code(name: str) -> None:
    ctx = Context(_proxy(name), CheckOptions(now=NOW))
    try:
        ctx.hosts  # noqa: B018 - a damaged section: nothing to compare
    except PdebugError:
        pytest.skip("damaged section")
    unhealthy = echecks.check_eds_unhealthy
    draining = echecks.check_eds_draining
    assert unhealthy.run(ctx) == _plain_eds(ctx, unhealthy, UNHEALTHY_EDS, True)
    assert draining.run(ctx) == _plain_eds(ctx, draining, echecks._DRAINING_EDS, False)


def test_inputs_have_eds_findings_dump_and_live() -> None:
    """The comparison above sees both checks find something, from a dump and from /clusters."""
    for name in ("synthetic", "synthetic+clusters", "synthetic-camel", "synthetic-mixed"):
        ctx = Context(_proxy(name), CheckOptions(now=NOW))
        assert ctx.hosts and (ctx.hosts["outbound|80||x"].live == name.endswith("clusters"))
        found = echecks.check_eds_unhealthy.run(ctx)
        assert any("(+1 more)" in f.message for f in found), found
        assert echecks.check_eds_draining.run(ctx)


def _sorted_plainly(g: Graph) -> list[tuple[int, str]]:
    nodes = g._nodes
    return sorted(nodes, key=lambda k: (k[0], nodes[k].sort, k[1]))


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_topology_order_matches_one_sort(name: str) -> None:
    proxy = _proxy(name)
    options = CheckOptions(now=NOW)
    from pdebug.checks import run_checks

    g = report_graph(proxy, options, run_checks(proxy, options).findings)
    fast = g.plain()
    plain = graph_by_one_sort(g)
    assert [n[:3] for n in fast["nodes"]] == plain["nodes"]
    assert fast["edges"] == plain["edges"]
    for kind in range(len(topology.KIND_NAMES)):
        keys = [k for k in g._nodes if k[0] == kind]
        assert g._ordered(keys) == [k for k in _sorted_plainly(g) if k[0] == kind]


def test_clusters_that_sort_alike_interleave_their_endpoints() -> None:
    """``outbound|80||x`` and ``outbound|080||x`` share a sort tuple: their endpoints mix."""
    ctx = Context(_proxy("synthetic"), CheckOptions(now=NOW))
    g = topology.build_graph(ctx, [])
    a = g.node((CLUSTER, "outbound|80||x")).sort
    b = g.node((CLUSTER, "outbound|080||x")).sort
    assert a == b and a is not b
    order = [k for k in g._ordered([k for k in g._nodes if k[0] == ENDPOINT])]
    parents = [k[1].split("\x00")[0] for k in order]
    assert parents == [k[1].split("\x00")[0] for k in _sorted_plainly(g) if k[0] == ENDPOINT]
    shared = [p for p in parents if p.endswith("x")]
    switches = sum(1 for a, b in zip(shared, shared[1:], strict=False) if a != b)
    assert len(set(shared)) == 2 and switches > 1  # interleaved by address, not grouped


def test_unorderable_parent_sorts_fall_back_to_one_sort() -> None:
    g = Graph()
    g.add(VHOST, "a", "a", sort=(("r", 1), "a"))
    g.add(VHOST, "b", "b", sort=(("r", "x"), "b"))  # int vs str: the plain sort's TypeError
    with pytest.raises(TypeError):
        g._ordered([(VHOST, "a"), (VHOST, "b")])
    g2 = Graph()
    g2.add(VHOST, "b", "b", sort=(("r", ["l"]), "b"))  # unhashable: sorted as they are
    g2.add(VHOST, "a", "a", sort=(("q", ["l"]), "a"))
    assert g2._ordered([(VHOST, "b"), (VHOST, "a")]) == [(VHOST, "a"), (VHOST, "b")]


def test_endpoint_nodes_found_by_label() -> None:
    ctx = Context(_proxy("synthetic"), CheckOptions(now=NOW))
    g = topology.build_graph(ctx, [])
    some = next(k for k in g._nodes if k[0] == ENDPOINT)
    label = g.node(some).label
    assert g.labelled(ENDPOINT, label) == [
        k for k, n in g._nodes.items() if k[0] == ENDPOINT and n.label == label
    ]
    assert g.labelled(ENDPOINT, "no such address") == []


def _graph_with_endpoints(names: list[str]) -> Graph:
    """Clusters ``names`` with endpoints: repeated addresses, live flags, one without hosts."""
    from pdebug.model import schema as s
    from pdebug.model.hosts import Host, HostSet

    hosts = [
        [Host("10.0.0.2:80", "HEALTHY"), Host("10.0.0.1:80", "UNHEALTHY")]
        + [Host("10.0.0.2:80", "DRAINING"), Host("10.0.0.10:80", "DEGRADED")],
        [Host("10.0.0.1:80", "HEALTHY"), Host("10.0.0.3:80", "HEALTHY")],
        [],
        [Host("b:1", "HEALTHY", s.HostHealthStatus(failed_outlier_check=True))]
        + [Host("a:1", "HEALTHY", s.HostHealthStatus()), Host("a:1", "UNHEALTHY")],
    ]
    g = Graph()
    g.add(topology.LISTENER, "l", "l", status=topology.OK)
    for i, name in enumerate(names):
        k = g.add(CLUSTER, name, name, sort=topology._cluster_sort(name))
        g.link((topology.LISTENER, "l"), k)
        live = i == 3
        hs = HostSet(name, hosts[i % len(hosts)], live)
        g.add_endpoints(k, hs, [topology.endpoint_status(h) for h in hs.hosts])
    return g


@pytest.mark.parametrize(
    "names",
    [
        ["outbound|80||x", "outbound|080||x", "c", "live", "outbound|9080||y", "BlackHole"],
        ["outbound|80||x", "a\x00b", "a", "live"],  # a NUL in a name: ordinary nodes
    ],
)
def test_endpoints_kept_as_columns_give_the_ordinary_nodes(names: list[str]) -> None:
    """:meth:`Graph.plain` from endpoint columns is what ordinary nodes and edges give."""
    kept = _graph_with_endpoints(names)
    ordinary = _graph_with_endpoints(names)
    assert ordinary._nodes  # made ordinary
    assert bool(kept._eps) == ("a\x00b" not in names)
    got = kept.plain()
    assert got == ordinary.plain() == _plain_graph_full(ordinary)
    assert got["counts"][ENDPOINT] == sum(1 for n in got["nodes"] if n[0] == ENDPOINT)
    # asked one by one afterwards, the endpoint nodes are there as before
    assert kept.labelled(ENDPOINT, "10.0.0.1:80") == ordinary.labelled(ENDPOINT, "10.0.0.1:80")
    assert kept.plain() == got


def _plain_graph_full(g: Graph) -> dict[str, Any]:
    """:func:`tests.harness.graph_by_one_sort` with details and codes, in Graph.plain's shape."""
    keys = _sorted_plainly(g)
    index = {k: i for i, k in enumerate(keys)}
    nodes = g._nodes
    return {
        "kinds": list(topology.KIND_NAMES),
        "nodes": [
            [
                nodes[k].kind,
                nodes[k].label,
                nodes[k].status,
                nodes[k].detail,
                " ".join(nodes[k].codes),
            ]
            for k in keys
        ],
        "edges": sorted([index[a], index[b]] for a, b in g._edges),
        "counts": [sum(1 for k in keys if k[0] == kind) for kind in range(5)],
        "notes": [],
    }


def _embed_as_text(doc: Any) -> str:
    """:func:`embed_json` as written before: the escapes replaced in the decoded text."""
    import orjson

    text = orjson.dumps(doc).decode()
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


@pytest.mark.parametrize(
    "doc",
    [
        {"a": "</script><!--<script>&amp;\u2028\u2029", "b": ["</SCRIPT>", "]]>"]},
        {"é": "naïve ✓ \u2028x\u2029 € 𝄞 & <b>", "n": [1, 2.5, None, True]},
        {"plain": "ascii only", "deep": [[{"x": "y"}]]},
    ],
)
def test_embed_json_escapes_bytes_as_it_did_text(doc: Any) -> None:
    from pdebug.report import embed_json

    assert embed_json(doc) == _embed_as_text(doc)


# --- each endpoint carried once (the page's topology refers to the endpoints table) -------


def _page_graph(name: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The topology of input ``name``: in full (``plain()``), as the page carries it, tables."""
    from pdebug.checks import run_checks
    from pdebug.report import _endpoint_rows
    from pdebug.views.wide import wide_tables

    proxy = _proxy(name)
    options = CheckOptions(now=NOW)
    g = report_graph(proxy, options, run_checks(proxy, options).findings)
    tables = wide_tables(proxy, NOW)
    return g.plain(), g.plain(_endpoint_rows(tables)), tables


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_the_page_topology_gives_every_node_back(name: str) -> None:
    """The page carries endpoint nodes as references to the endpoints table's rows;
    ``topology.expand`` (what the page's script does) gives back every node and edge."""
    full, page, tables = _page_graph(name)
    assert topology.expand(page, tables) == full
    assert page["counts"] == full["counts"]
    if page.get("endpoints", {}).get("runs"):  # then no endpoint node is in nodes too
        assert not [n for n in page["nodes"] if n[0] == ENDPOINT]


def test_the_page_refers_to_rows_rather_than_repeating_them() -> None:
    """From EDS, each cluster's endpoints are the table's rows under its name (a group
    number); from /clusters, row indexes, and the nodes whose detail has live flags in full."""
    _, page, tables = _page_graph("gendump-40")
    runs = page["endpoints"]["runs"]
    assert runs and all(isinstance(run[2], int) for run in runs)
    assert len(page["endpoints"]["rows"]) == len(tables[3]["rows"])
    assert not [n for n in page["nodes"] if n[0] == ENDPOINT]
    _, live, _ = _page_graph("synthetic+clusters")
    items = [i for run in live["endpoints"]["runs"] for i in run[2]]
    assert any(isinstance(i, int) for i in items)
    assert any(isinstance(i, list) and "(ejected by outlier" in i[3] for i in items), items
    # the clusters that sort alike mix their endpoints: several runs for one cluster
    _, mixed, _ = _page_graph("synthetic")
    parents = [run[0] for run in mixed["endpoints"]["runs"]]
    assert len(parents) > len(set(parents))
