"""#17, perfreport12: what ``pdebug report``'s worker does less, with the same cells.

- The wide clusters table reads the light decode (:func:`pdebug.model.light.clusters_of`,
  what the plain table reads) when the section has not been decoded fully yet, as in the
  report's worker; :func:`pdebug.model.clusters.locality_weighted` (the wide endpoints
  table) reads those light clusters too, instead of decoding the section's bytes again.
  The rows are those of the full decode, on every fixture dump, the benchmark
  generator's mesh and Envoy Gateway's weighted backends.
- The wide endpoints table finds whether an assignment's locality weights change the
  split (``_splits_by_locality``) in its row loop: the same cells as the row-object path
  (``_row_weight``), on seeded assignments with every kind of weight.

The report's page itself is compared with one process's (``PDEBUG_JOBS=1``, where the
checks decode the clusters fully first) on every fork input by
``tests/test_report_perf8.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from pdebug.model import ProxyData, light
from pdebug.model import schema as s
from pdebug.model.clusters import STATE_KEYS, locality_weighted
from pdebug.model.load import load
from pdebug.views import clusters, endpoints
from tests.harness import FIXTURES, camelize, generated_dump
from tests.test_leftovers2 import _weighted_dump

NOT_LOADED = ("egctl-out/", "-to-xds.all.json", "2018-06-pilot/")  # not one proxy's dump
DUMPS = sorted(
    p
    for p in FIXTURES.rglob("*.json")
    if b'"configs"' in p.read_bytes()[:4096]
    and b"ClustersConfigDump" in p.read_bytes()
    and not any(n in p.as_posix() for n in NOT_LOADED)
)


def _proxy(data: bytes) -> ProxyData:
    return ProxyData("t", load(data, "t").dump)


def _rows(data: bytes, full: bool) -> tuple[Any, list[str], frozenset[str] | None]:
    """The wide clusters rows of a fresh load (``full``: the section decoded fully first,
    as the checks do in one process), the warnings, and ``locality_weighted`` after."""
    proxy = _proxy(data)
    dump = proxy.dump
    assert dump is not None
    if full:
        for key in STATE_KEYS.values():
            dump.cluster_entries(key)
    try:
        rows: Any = clusters._wide_rows(proxy, True)
    except Exception as exc:  # noqa: BLE001 - both ways must say the same
        rows = repr(exc)
    try:
        weighted: frozenset[str] | None = locality_weighted(dump)
    except Exception:  # noqa: BLE001
        weighted = None
    return rows, list(dump.warnings), weighted


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_wide_clusters_rows_are_the_full_decodes(path: Path) -> None:
    data = path.read_bytes()
    assert _rows(data, False) == _rows(data, True)


def _light_taken(proxy: ProxyData) -> None:
    dump = proxy.dump
    assert dump is not None
    sec = dump.section("clusters")
    assert sec is not None
    assert sec._cache.get(light.CLUSTERS_KEY) is not None  # the light decode read it
    for key in ("dynamic_active_clusters", "static_clusters"):
        assert sec.whole(key, list[s.ClusterEntry]) is None  # and nothing decoded it fully
        assert (key, list[s.LbWeightedEntry]) not in sec._cache  # nor again for weights


def test_the_generated_mesh_takes_the_light_decode(tmp_path: Path) -> None:
    data = generated_dump(tmp_path / "mesh.json", 60).read_bytes()
    light_rows = _rows(data, False)
    assert light_rows == _rows(data, True)
    assert len(light_rows[0]) > 100
    assert any(row[5] for row in light_rows[0])  # DESTINATION RULE cells read
    proxy = _proxy(data)
    clusters._wide_rows(proxy, True)
    _light_taken(proxy)
    # the wide endpoints table then reads the localities from the light clusters
    assert endpoints._eds_endpoint_cells(proxy, endpoints.EndpointFilter(), True)
    _light_taken(proxy)
    # a camelCase rendering is refused by the light decode: the full one, same rows
    camel = json.dumps(camelize(json.loads(data))).encode()
    assert _rows(camel, False)[0] == light_rows[0]


def test_locality_weighted_reads_the_light_clusters(tmp_path: Path) -> None:
    eg = "httproute/default/backend/rule/0"
    istio = "outbound|9080||reviews.default.svc.cluster.local"
    for camel in (False, True):
        path, _ = _weighted_dump(tmp_path, camel)
        data = path.read_bytes()
        assert _rows(data, False) == _rows(data, True)
        proxy = _proxy(data)
        clusters._wide_rows(proxy, True)
        assert proxy.dump is not None
        assert locality_weighted(proxy.dump) == {eg, istio}
        if not camel:
            _light_taken(proxy)
        weights = {
            row[0]: row[6]
            for row in endpoints._eds_endpoint_cells(proxy, endpoints.EndpointFilter(), True) or []
        }
        assert weights["10.0.0.2:8080"] == "1 (locality 40)"
        assert weights["10.1.0.1:9080"] == "3"


# --- the endpoints table's locality split, found in its row loop ------------------------

STATUSES = ("HEALTHY", "UNHEALTHY", "DRAINING", "UNKNOWN", None)


def _weighted_mesh(rng: random.Random) -> bytes:
    """Clusters, some splitting by locality weight, and one assignment each with
    localities whose weight is their endpoints' sum, another number, or none."""
    eds = {"ads": {}, "resource_api_version": "V3"}
    active: list[dict[str, Any]] = []
    clas: list[dict[str, Any]] = []
    for c in range(rng.randint(1, 12)):
        name = f"outbound|{rng.choice((80, 9080))}||svc{c}.ns.svc.cluster.local"
        cluster: dict[str, Any] = {
            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            "name": name,
            "type": "EDS",
            "eds_cluster_config": {"eds_config": eds, "service_name": name},
        }
        if rng.random() < 0.7:
            cluster["common_lb_config"] = {"locality_weighted_lb_config": {}}
        active.append({"cluster": cluster})
        groups = []
        for g in range(rng.randint(0, 3)):
            lbs = []
            total = 0
            for _ in range(rng.randint(0, 4)):
                weight = rng.choice((None, 1, 2, 5))
                total += weight or 1
                lb: dict[str, Any] = {
                    "endpoint": {
                        "address": {
                            "socket_address": {
                                "address": f"10.{rng.randint(0, 2)}.0.{rng.randint(1, 4)}",
                                "port_value": rng.choice((80, 8080, 9080)),
                            }
                        }
                    }
                }
                if weight is not None:
                    lb["load_balancing_weight"] = weight
                status = rng.choice(STATUSES)
                if status is not None:
                    lb["health_status"] = status
                lbs.append(lb)
            group: dict[str, Any] = {"lb_endpoints": lbs}
            if rng.random() < 0.6:
                group["locality"] = {"region": f"r{g}", "zone": rng.choice(("", "z"))}
            how = rng.random()
            if how < 0.45:
                group["load_balancing_weight"] = total  # istiod's: nothing to add
            elif how < 0.8:
                group["load_balancing_weight"] = rng.randint(1, 50)
            groups.append(group)
        clas.append({"endpoint_config": {"cluster_name": name, "endpoints": groups}})
    rng.shuffle(clas)
    doc = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "dynamic_active_clusters": active,
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
                "dynamic_endpoint_configs": clas,
            },
        ]
    }
    return json.dumps(doc).encode()


def _general_wide(proxy: ProxyData, flt: endpoints.EndpointFilter) -> list[tuple[str, ...]]:
    """The wide rows as the row-object path makes them (``_endpoints_from_eds``)."""
    assert proxy.dump is not None
    weighted = locality_weighted(proxy.dump)
    memo: dict[int, bool] = {}
    return [
        (
            r.addresses[0],
            r.lb.health_status or "UNKNOWN",
            "-",
            r.cluster or endpoints.UNATTRIBUTED,
            "-",
            r.locality or "-",
            endpoints._row_weight(r, weighted, memo),
        )
        for r in endpoints._eds_endpoint_rows(proxy, flt)
    ]


@pytest.mark.parametrize("seed", range(60))
def test_the_locality_split_found_in_the_row_loop(seed: int) -> None:
    rng = random.Random(seed)
    data = _weighted_mesh(rng)
    filters = [
        endpoints.EndpointFilter(),
        endpoints.EndpointFilter(port=9080),
        endpoints.EndpointFilter(status="healthy"),
        endpoints.EndpointFilter(address="10.1.0.2"),
    ]
    split = 0
    for flt in filters:
        for full in (False, True):  # the light clusters' localities, or the full decode's
            proxy = _proxy(data)
            if full:
                assert proxy.dump is not None
                proxy.dump.cluster_entries("dynamic_active_clusters")
            else:
                clusters._wide_rows(proxy, True)
            cells = endpoints._eds_endpoint_cells(proxy, flt, True)
            assert cells == _general_wide(proxy, flt), (seed, flt)
            plain = endpoints._eds_endpoint_cells(proxy, flt, False)
            assert plain == [row[:4] for row in cells or []]
            split += sum("(locality" in row[6] for row in cells or [])
    if seed == 0:
        assert split  # the seeds do make splits (and rows without)


def test_only_the_reports_table_takes_the_light_decode(tmp_path: Path) -> None:
    """The report's clusters table (its worker reads no other part of the clusters) takes
    the light decode; ``pdebug clusters -o wide`` and ``pdebug all -o wide`` (which reads
    the clusters fully after) keep the full one: not both decodes."""
    from datetime import UTC, datetime

    from pdebug.views import wide

    data = generated_dump(tmp_path / "mesh.json", 30).read_bytes()
    proxy = _proxy(data)
    builders = wide.table_builders(proxy, datetime(2026, 1, 1, tzinfo=UTC))
    table = builders[0][1]()
    assert table["id"] == "clusters"
    _light_taken(proxy)
    plain = _proxy(data)
    view = clusters.view(plain, clusters.ClusterFilter(), True)
    assert plain.dump is not None
    sec = plain.dump.section("clusters")
    assert sec is not None and sec._cache.get(light.CLUSTERS_KEY) is None
    assert [list(r) for r in view.table.rows] == [list(r) for r in table["rows"]]
