"""The one-pass table paths give the rows of the general paths, in the same order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdebug.model import ProxyData
from pdebug.model.load import load
from pdebug.render.text import render_table
from pdebug.views import clusters, endpoints
from pdebug.views.table import Column, Table
from tests.harness import FIXTURES, generated_dump

V3 = "type.googleapis.com/envoy.admin.v3."
#: fixtures/corpus/ keeps egctl's outputs (dumps wrapped per pod) and an Envoy <= 1.7 dump
#: (configs as a map) beside its dumps: not dumps these paths load.
NOT_LOADED = ("egctl-out/", "-to-xds.all.json", "2018-06-pilot/")
#: Several CLAs without cluster_name (one shared empty name): the general path, by design.
SHARED_CLA_NAMES = ("consul-k8s/test_config_dump.json",)
DUMPS = sorted(
    p
    for p in FIXTURES.rglob("*.json")
    if b'"configs"' in p.read_bytes()[:4096]
    and b"ConfigDump" in p.read_bytes()
    and not any(n in p.as_posix() for n in NOT_LOADED)
)
EDS_KEYS = ("dynamic_endpoint_configs", "static_endpoint_configs")
WITH_CLUSTERS = [p for p in DUMPS if b"ClustersConfigDump" in p.read_bytes()]
WITH_EDS = [
    p
    for p in DUMPS
    if b"EndpointsConfigDump" in p.read_bytes()
    and not any(p.as_posix().endswith(n) for n in SHARED_CLA_NAMES)
]


def _proxy(data: bytes, plan: tuple[str, ...] = ()) -> ProxyData:
    return ProxyData("t", load(data, "t", plan).dump)


def _general_eds_cells(proxy: ProxyData, flt: endpoints.EndpointFilter) -> list[tuple[str, ...]]:
    return [
        (r.addresses[0], r.lb.health_status or "UNKNOWN", "-", r.cluster or endpoints.UNATTRIBUTED)
        for r in endpoints._eds_endpoint_rows(proxy, flt)
    ]


@pytest.mark.parametrize("path", WITH_CLUSTERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_clusters_plain_rows(path: Path) -> None:
    proxy = _proxy(path.read_bytes())
    assert proxy.dump is not None and proxy.dump.has("clusters")
    general = [clusters.cells(r) for r in clusters.select(proxy, clusters.ClusterFilter(), False)]
    assert clusters._plain_rows(proxy) == general


@pytest.mark.parametrize("path", WITH_EDS, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize(
    "flt",
    [
        endpoints.EndpointFilter(),
        endpoints.EndpointFilter(status="healthy"),
        endpoints.EndpointFilter(port=9080),
        endpoints.EndpointFilter(address="10.244.0.22"),
    ],
    ids=["none", "status", "port", "address"],
)
def test_endpoints_cells(path: Path, flt: endpoints.EndpointFilter) -> None:
    proxy = _proxy(path.read_bytes(), EDS_KEYS)
    assert proxy.dump is not None and proxy.dump.has("endpoints")
    fast = endpoints._eds_endpoint_cells(proxy, flt, wide=False)
    if fast is None:  # only when two assignments end up with one CLUSTER cell
        rows = endpoints.eds_select(proxy, endpoints.EndpointFilter())
        cells = {id(r.cla): r.cluster or endpoints.UNATTRIBUTED for r in rows}
        assert len(set(cells.values())) < len(cells)
        return
    assert fast == _general_eds_cells(proxy, flt)


def test_two_clas_of_one_cluster_take_the_general_path() -> None:
    def cla(ip: str) -> dict[str, object]:
        return {
            "endpoint_config": {
                "cluster_name": "outbound|80||a",
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {"endpoint": {"address": {"socket_address": {"address": ip}}}}
                        ]
                    }
                ],
            }
        }

    section = {
        "@type": V3 + "EndpointsConfigDump",
        "dynamic_endpoint_configs": [cla("b"), cla("a")],
    }
    proxy = _proxy(json.dumps({"configs": [section]}).encode(), EDS_KEYS)
    assert endpoints._eds_endpoint_cells(proxy, endpoints.EndpointFilter(), wide=False) is None
    view = endpoints.endpoints_view(proxy, endpoints.EndpointFilter())
    assert isinstance(view.table, Table)
    assert [row[0] for row in view.table.rows] == ["a:0", "b:0"]


def test_render_cleans_only_the_rows_that_need_it() -> None:
    table = Table((Column("A"), Column("B")), padding=1)
    table.rows = [("x\ty", "1"), ("ok", "line\nmore"), ("fine", "2")]
    # #12.4: a tab or newline from the input is shown escaped, never cut or replaced by "?"
    assert render_table(table, False) == "A    B\nx\\ty 1\nok   line\\nmore\nfine 2\n"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An Istio-shaped dump from the benchmark's generator: subsets, DRs, mixed health."""
    path = tmp_path_factory.mktemp("mesh") / "dump.json"
    return generated_dump(path, 60).read_bytes()


def test_generated_mesh_clusters(mesh: bytes) -> None:
    proxy = _proxy(mesh, ("dynamic_active_clusters", "static_clusters"))
    rows = clusters.select(proxy, clusters.ClusterFilter(), False)
    assert any(clusters.cells(r)[5] for r in rows)  # DESTINATION RULE cells are there
    assert clusters._plain_rows(proxy) == [clusters.cells(r) for r in rows]


@pytest.mark.parametrize(
    "flt",
    [
        endpoints.EndpointFilter(),
        endpoints.EndpointFilter(status="UNHEALTHY"),
        endpoints.EndpointFilter(port=8080),
        endpoints.EndpointFilter(cluster="PICK"),
    ],
    ids=["none", "status", "port", "cluster"],
)
def test_generated_mesh_endpoints(mesh: bytes, flt: endpoints.EndpointFilter) -> None:
    proxy = _proxy(mesh, EDS_KEYS)
    if flt.cluster == "PICK":  # an EDS cluster of the mesh, in upper case (the test ignores case)
        assert proxy.dump is not None
        clas = proxy.dump.endpoint_entries("dynamic_endpoint_configs").items
        name = next(e.endpoint_config.cluster_name for e in clas if e.endpoint_config.endpoints)
        flt = endpoints.EndpointFilter(cluster=name.upper())
    fast = endpoints._eds_endpoint_cells(proxy, flt, wide=False)
    assert fast is not None and fast
    assert fast == _general_eds_cells(proxy, flt)
