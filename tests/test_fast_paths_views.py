"""#17: the text views' one-pass paths give the rows of their general paths, in order.

``pdebug eds`` / the ENDPOINTS part of ``pdebug all`` (:func:`endpoints.eds_cells`), the
CLUSTER part of ``pdebug all`` (``all._plain_clusters``) and the DESTINATION RULE cell's
shortcut (:func:`common.istio_config_ref`), on every dump of fixtures/ (the corpus of
real dumps included), on the benchmark generator's mesh, and on their lowerCamelCase and
mixed-spelling renderings.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec
import pytest

from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.load import load
from pdebug.views import all as all_view
from pdebug.views import clusters, endpoints
from pdebug.views.common import istio_config_ref
from pdebug.views.table import Table
from tests.harness import FIXTURES, camelize, generated_dump

NOT_LOADED = ("egctl-out/", "-to-xds.all.json", "2018-06-pilot/")
DUMPS = sorted(
    p
    for p in FIXTURES.rglob("*.json")
    if b'"configs"' in p.read_bytes()[:4096]
    and b"ConfigDump" in p.read_bytes()
    and not any(n in p.as_posix() for n in NOT_LOADED)
)
WITH_CLUSTERS = [p for p in DUMPS if b"ClustersConfigDump" in p.read_bytes()]
WITH_EDS = [p for p in DUMPS if b"EndpointsConfigDump" in p.read_bytes()]
EDS_FILTERS = [
    endpoints.EndpointFilter(),
    endpoints.EndpointFilter(status="healthy"),
    endpoints.EndpointFilter(port=9080),
    endpoints.EndpointFilter(address="10.244.0.22"),
    endpoints.EndpointFilter(address="10.244.0.22:9080"),
    # Empty values are filters too (flt.empty says otherwise): no row has them.
    endpoints.EndpointFilter(status=""),
    endpoints.EndpointFilter(cluster="", status=""),
    endpoints.EndpointFilter(address=""),
    endpoints.EndpointFilter(cluster=""),
    endpoints.EndpointFilter(cluster=endpoints.UNATTRIBUTED),
]
EDS_IDS = [
    *("none", "status", "port", "ip", "ip-port", "no-status", "no-cluster", "no-address"),
    *("nameless", "unattributed"),
]


def _proxy(data: bytes) -> ProxyData:
    return ProxyData("t", load(data, "t").dump)


def _general_eds_cells(
    proxy: ProxyData, flt: endpoints.EndpointFilter, prefix: str
) -> list[tuple[str, ...]]:
    """The eds table as it was built: a row object per endpoint, then its cells."""
    return [
        (
            prefix + ",".join(r.addresses),
            r.lb.health_status or "UNKNOWN",
            r.locality,
            r.cluster or endpoints.UNATTRIBUTED,
        )
        for r in endpoints.eds_select(proxy, flt)
    ]


def _check_eds(proxy: ProxyData, flt: endpoints.EndpointFilter) -> list[tuple[str, ...]]:
    fast = endpoints.eds_cells(proxy, flt, "endpoint/")
    assert fast == _general_eds_cells(proxy, flt, "endpoint/")
    assert endpoints.eds_cells(proxy, flt) == _general_eds_cells(proxy, flt, "")
    return fast


def _check_endpoints(proxy: ProxyData, flt: endpoints.EndpointFilter) -> None:
    """The endpoints table's cells (no /clusters): as from a row object per endpoint."""
    fast = endpoints._eds_endpoint_cells(proxy, flt, wide=False)
    if fast is None:  # two assignments with one CLUSTER cell: the general path, by design
        return
    general = [
        (r.addresses[0], r.lb.health_status or "UNKNOWN", "-", r.cluster or endpoints.UNATTRIBUTED)
        for r in endpoints._eds_endpoint_rows(proxy, flt)
    ]
    assert fast == general
    wide = [
        (
            r.addresses[0],
            r.lb.health_status or "UNKNOWN",
            "-",
            r.cluster or endpoints.UNATTRIBUTED,
            "-",
            r.locality or "-",
            str(r.lb.load_balancing_weight or 1),
        )
        for r in endpoints._eds_endpoint_rows(proxy, flt)
    ]
    assert endpoints._eds_endpoint_cells(proxy, flt, wide=True) == wide


def _check_all_clusters(proxy: ProxyData) -> Table:
    fast = all_view._plain_clusters(proxy)
    general = all_view._general_clusters(proxy, clusters.ClusterFilter(), False)
    assert fast.columns == general.columns
    assert fast.padding == general.padding and fast.empty_message == general.empty_message
    assert fast.rows == general.rows
    return fast


@pytest.mark.parametrize("path", WITH_EDS, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("flt", EDS_FILTERS, ids=EDS_IDS)
def test_eds_cells(path: Path, flt: endpoints.EndpointFilter) -> None:
    _check_eds(_proxy(path.read_bytes()), flt)


@pytest.mark.parametrize("path", WITH_EDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_eds_cells_each_cluster(path: Path) -> None:
    proxy = _proxy(path.read_bytes())
    names = {row[3] for row in endpoints.eds_cells(proxy, endpoints.EndpointFilter())}
    for name in sorted(names)[:20]:
        _check_eds(proxy, endpoints.EndpointFilter(cluster=name.upper()))


@pytest.mark.parametrize("path", WITH_CLUSTERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_all_clusters_plain(path: Path) -> None:
    _check_all_clusters(_proxy(path.read_bytes()))


@pytest.mark.parametrize(
    "path",
    [p for p in WITH_EDS if p in WITH_CLUSTERS],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_eds_cells_after_the_clusters_table(path: Path) -> None:
    """``pdebug all``: the endpoints table reuses the clusters table's name keys and the
    EDS attribution of the same dump; its rows are still the general path's."""
    from pdebug.model.clusters import SORT_KEYS
    from pdebug.model.eds import attribute

    proxy = _proxy(path.read_bytes())
    assert proxy.dump is not None
    _check_all_clusters(proxy)
    assert SORT_KEYS in proxy.dump.facts
    for flt in EDS_FILTERS:
        _check_eds(proxy, flt)
    assert attribute(proxy.dump) is attribute(proxy.dump)  # worked out once per dump
    fresh = _proxy(path.read_bytes())
    flt = endpoints.EndpointFilter()
    assert endpoints.eds_cells(proxy, flt, "endpoint/") == endpoints.eds_cells(
        fresh, flt, "endpoint/"
    )


@pytest.mark.parametrize("spelling", ["camel", "mixed"])
@pytest.mark.parametrize(
    "path", WITH_EDS[:6] + WITH_CLUSTERS[:6], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_other_spellings(path: Path, spelling: str) -> None:
    keep = 0.5 if spelling == "mixed" else 0.0
    doc = camelize(json.loads(path.read_bytes()), keep=keep, rng=random.Random(17))
    proxy = _proxy(json.dumps(doc).encode())
    assert proxy.dump is not None
    if proxy.dump.has("endpoints"):
        for flt in EDS_FILTERS:
            _check_eds(proxy, flt)
            _check_endpoints(proxy, flt)
    if proxy.dump.has("clusters"):
        _check_all_clusters(proxy)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An Istio-shaped dump from the benchmark's generator: subsets, DRs, mixed health."""
    path = tmp_path_factory.mktemp("mesh") / "dump.json"
    return generated_dump(path, 60).read_bytes()


@pytest.mark.parametrize("spelling", ["snake", "camel", "mixed"])
def test_generated_mesh(mesh: bytes, spelling: str) -> None:
    data = mesh
    if spelling != "snake":
        keep = 0.5 if spelling == "mixed" else 0.0
        data = json.dumps(camelize(json.loads(mesh), keep=keep, rng=random.Random(3))).encode()
    proxy = _proxy(data)
    cells = _check_eds(proxy, endpoints.EndpointFilter())
    assert len(cells) > 100
    _check_endpoints(proxy, endpoints.EndpointFilter())
    _check_endpoints(proxy, endpoints.EndpointFilter(status="HEALTHY"))
    for flt in (
        endpoints.EndpointFilter(status="UNHEALTHY"),
        endpoints.EndpointFilter(port=8080),
        endpoints.EndpointFilter(cluster=cells[len(cells) // 2][3]),
        endpoints.EndpointFilter(address=cells[7][0].removeprefix("endpoint/")),
    ):
        assert _check_eds(proxy, flt)
    table = _check_all_clusters(proxy)
    assert any(row[6] for row in table.rows if len(row) == 7)  # DESTINATION RULE cells
    _check_eds(proxy, endpoints.EndpointFilter())  # with the clusters table's keys now


def test_eds_cells_odd_addresses() -> None:
    """Pipes, additional addresses, no address, a nameless CLA: as the row objects say."""

    def lb(endpoint: object, status: str = "") -> dict[str, object]:
        out: dict[str, object] = {"endpoint": endpoint} if endpoint is not None else {}
        if status:
            out["health_status"] = status
        return out

    sa = {"socket_address": {"address": "10.0.0.1", "port_value": 80}}
    cla_a = {
        "cluster_name": "outbound|80||a.ns.svc.cluster.local",
        "endpoints": [
            {
                "locality": {"region": "r", "zone": "z", "sub_zone": "s"},
                "lb_endpoints": [
                    lb({"address": sa}, "HEALTHY"),
                    lb({"address": sa, "additional_addresses": [{"address": sa}]}),
                    lb({"address": {"pipe": {"path": "/tmp/sock"}}}, "DRAINING"),
                    lb(None),
                    lb({"address": {"socket_address": {"address": "10.0.0.1"}}}),
                ],
            }
        ],
    }
    cla_b = {"cluster_name": "", "endpoints": [{"lb_endpoints": [lb({"address": sa})]}]}
    cla_c = {"cluster_name": "BlackHoleCluster", "endpoints": [{"lb_endpoints": [lb(None)]}]}
    section = {
        "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
        "dynamic_endpoint_configs": [{"endpoint_config": c} for c in (cla_a, cla_b, cla_c)],
    }
    proxy = _proxy(json.dumps({"configs": [section]}).encode())
    for flt in EDS_FILTERS + [
        endpoints.EndpointFilter(address="10.0.0.1:80"),
        endpoints.EndpointFilter(address="/TMP/sock"),
        endpoints.EndpointFilter(port=0),
        endpoints.EndpointFilter(status="unknown"),
        endpoints.EndpointFilter(cluster=""),
        endpoints.EndpointFilter(cluster=endpoints.UNATTRIBUTED),
    ]:
        _check_eds(proxy, flt)
        _check_endpoints(proxy, flt)
    assert len(endpoints.eds_cells(proxy, endpoints.EndpointFilter())) == 7


@pytest.mark.parametrize(
    "istio",
    [
        b'{"config": "/apis/networking.istio.io/v1/namespaces/ns/destination-rule/dr"}',
        b'{"\\u0063onfig": "/apis/networking.istio.io/v1/namespaces/ns/destination-rule/dr"}',
        b'{"services": [{"host": "a", "name": "config"}]}',
        b'{"services": []}',
        b'{"config": 7}',
        b'{"config": null}',
        b"[1, 2]",
        b'"config"',
        b"{not json",
    ],
)
def test_istio_config_ref_shortcut(istio: bytes) -> None:
    """Skipping the decode when no ``config`` key can be there changes no cell."""
    meta = s.Metadata(filter_metadata={"istio": msgspec.Raw(istio)})
    try:
        decoded = msgspec.json.decode(istio)
    except msgspec.DecodeError:
        decoded = None
    config = decoded.get("config") if isinstance(decoded, dict) else None
    if config is None:
        want = ""
    elif not isinstance(config, str) or not config.startswith("/apis/networking.istio.io/"):
        want = "<unknown>"
    else:
        parts = config.split("/")
        want = f"{parts[7]}.{parts[5]}" if len(parts) == 8 else ""
    assert istio_config_ref(meta) == want


@pytest.mark.parametrize(
    "cell",
    ["plain", "café", "x\ny", "a\x1b[31mred", "evil\u202etxt", "tab\there", "\x7f", "zw\u200bsp"],
)
def test_render_checks_the_text_as_the_cells(cell: str) -> None:
    """The whole-text test escapes exactly what the per-cell test escapes (#12.4)."""
    from pdebug.render.escape import escape_cell
    from pdebug.render.text import render_table, tabwrite
    from pdebug.views.table import Column

    table = Table((Column("A"), Column("B")), padding=1)
    table.rows = [("x", "1"), (cell, "2"), ("y", cell)]
    rows = [tuple(escape_cell(c) for c in row) for row in table.rows]
    assert render_table(table, False) == tabwrite([("A", "B"), *rows], 1)


def test_endpoint_cells_ties_keep_dump_order() -> None:
    """Rows tying on address, port and cluster (or on some of them) keep the dump's order.

    The endpoints table sorts by address, port, cluster and then dump order; the fast
    path does it with one stable sort per key. Shuffled assignments, one endpoint in
    several clusters, one endpoint twice in a cluster (told apart by health and weight),
    ports that order differently as numbers and as text.
    """
    rng = random.Random(5)

    def lb(ip: str, port: int, status: str, weight: int) -> dict[str, object]:
        address = {"socket_address": {"address": ip, "port_value": port}}
        return {"endpoint": {"address": address}, "health_status": status,
                "load_balancing_weight": weight}  # fmt: skip

    clas = []
    for c in range(12):
        eps = [
            lb(f"10.0.0.{rng.randrange(4)}", rng.choice([80, 9, 8080, 443]), st, rng.randrange(9))
            for st in rng.choices(["HEALTHY", "UNHEALTHY", "DRAINING", ""], k=8)
        ]
        eps.append(dict(eps[0], health_status="DEGRADED"))  # the same address twice
        name = f"outbound|{rng.choice([80, 9])}|{rng.choice(['', 'v1'])}|s{c}.ns"
        clas.append({"cluster_name": name, "endpoints": [{"lb_endpoints": eps}]})
    rng.shuffle(clas)
    section = {
        "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
        "dynamic_endpoint_configs": [{"endpoint_config": c} for c in clas],
    }
    proxy = _proxy(json.dumps({"configs": [section]}).encode())
    assert endpoints._eds_endpoint_cells(proxy, endpoints.EndpointFilter(), wide=False)
    for flt in EDS_FILTERS + [endpoints.EndpointFilter(address="10.0.0.1")]:
        _check_endpoints(proxy, flt)


def _layout_by_hand(table: Table, wide: bool) -> str:
    """Go tabwriter's layout of the shown cells, each escaped: the renderer's meaning."""
    from pdebug.render.escape import escape_cell

    keep = [i for i, c in enumerate(table.columns) if wide or not c.wide]
    lines = [tuple(c.name for c in table.columns)] if table.header else []
    lines += [tuple(row) for row in table.rows]
    cut = [[escape_cell(line[i]) for i in keep if i < len(line)] for line in lines]
    if not table.rows and not table.header_when_empty:
        return ""
    out = []
    for r, line in enumerate(cut):
        cells = []
        for k, cell in enumerate(line[:-1]):
            block = [r]  # the run of neighbouring lines that have a cell after column k
            for step in (-1, 1):
                j = r + step
                while 0 <= j < len(cut) and len(cut[j]) > k + 1:
                    block.append(j)
                    j += step
            cells.append(cell.ljust(max(len(cut[j][k]) for j in block) + table.padding))
        out.append("".join(cells) + (line[-1] if line else ""))
    return "".join(s + "\n" for s in out)


@pytest.mark.parametrize("seed", range(40))
def test_render_hidden_tail_is_the_general_layout(seed: int) -> None:
    """#17: a table whose wide columns come last is laid out skipping them in place.

    Against a layout written out by hand, on random tables: wide columns last or not,
    rows as long as the columns or shorter (istioctl's ragged rows), lists for rows,
    cells to escape in shown and in hidden columns, no header, empty tables, -o wide.
    """
    from pdebug.render.text import _shown_prefix, render_table
    from pdebug.views.table import Column

    rng = random.Random(seed)
    ncol = rng.randint(1, 6)
    nwide = rng.randint(0, ncol - 1)  # a table shows at least one column
    flags = [False] * (ncol - nwide) + [True] * nwide
    if seed % 5 == 0:
        rng.shuffle(flags)
    columns = tuple(Column(f"C{i}" * rng.randint(1, 3), wide=w) for i, w in enumerate(flags))
    alphabet = ["a", "bb", "10.0.0.1:80", "", "é", "\x1b[1m", "\n", "\t", "outbound|80||x"]
    rows: list[tuple[str, ...]] = []
    for _ in range(rng.randint(0, 30)):
        ragged = seed % 3 == 0 and seed % 5 != 0 and rng.random() < 0.15
        n = rng.randint(1, ncol) if ragged else ncol
        cells = tuple(
            "".join(rng.choice(alphabet[:6] if seed % 2 else alphabet) for _ in range(2))
            for _ in range(n)
        )
        rows.append(list(cells) if seed % 7 == 3 else cells)  # type: ignore[arg-type]
    table = Table(columns, rows, padding=rng.choice([1, 3, 5]), header=seed % 4 != 1)
    table.header_when_empty = seed % 6 == 0
    for wide in (False, True):
        assert render_table(table, wide) == _layout_by_hand(table, wide), (seed, wide)
    shown = _shown_prefix(table, False)
    fast = 0 < sum(not f for f in flags) < ncol and flags == sorted(flags)
    fast = fast and all(type(r) is tuple and len(r) == ncol for r in rows)
    assert bool(shown) == fast
