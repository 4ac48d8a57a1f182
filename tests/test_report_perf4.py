"""perfreport4 (#17): what the report's second decodes are replaced by gives the same answers.

- ``model/clusters.locality_weighted`` reads the clusters decoded whole already (the
  report's worker builds the clusters table first) instead of decoding them again: the
  same names on every corpus dump, and on clusters the whole decode left out (then the
  bytes are decoded again, as before).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdebug.model import clusters as mc
from pdebug.model import schema as s
from pdebug.model.load import load
from tests import harness as eh

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _dumps() -> list[Path]:
    extra = [FIXTURES / "real" / "sidecar" / "config_dump.json"]
    return [*extra, *eh.corpus_config_dumps()]


def _weighted(data: bytes, whole_first: bool) -> frozenset[str]:
    dump = load(data, "x").dump
    assert dump is not None
    if whole_first:
        list(mc.records(dump, ("ACTIVE", "STATIC", "WARMING")))  # as the clusters table does
    return mc.locality_weighted(dump)


@pytest.mark.parametrize("path", _dumps(), ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_locality_weighted_after_the_whole_decode_is_the_same(path: Path) -> None:
    data = path.read_bytes()
    try:
        cold = _weighted(data, False)
    except Exception as exc:  # noqa: BLE001 - not a dump this reads: nothing to compare
        pytest.skip(f"{type(exc).__name__}")
    assert _weighted(data, True) == cold


def _cluster(name: str, **extra: object) -> dict[str, object]:
    return {
        "cluster": {
            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            "name": name,
            "type": "EDS",
            "common_lb_config": {"locality_weighted_lb_config": {}},
            **extra,
        }
    }


def _doc(entries: list[object], camel: bool = False) -> bytes:
    doc = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "dynamic_active_clusters": entries,
                "static_clusters": [_cluster("static-w")],
            }
        ]
    }
    return json.dumps(eh.camelize(doc) if camel else doc).encode()


@pytest.mark.parametrize("camel", [False, True])
def test_locality_weighted_reads_again_what_the_whole_decode_left_out(camel: bool) -> None:
    """A cluster the whole decode skips (a field of the wrong type) still counts, as before."""
    entries = [
        _cluster("good"),
        _cluster("bad-type", connect_timeout=[1, 2]),  # skipped by the whole decode
        {"cluster": {"name": "plain", "type": "EDS"}},
        {"error_state": {"details": "rejected"}},
        None,
    ]
    data = _doc(entries, camel)
    dump = load(data, "x").dump
    assert dump is not None
    whole = list(mc.records(dump, ("ACTIVE", "STATIC", "WARMING")))
    assert "bad-type" not in {r.name for r in whole}  # the whole decode left it out
    sec = dump.sections_of("clusters")[0]
    assert sec.whole("dynamic_active_clusters", list[s.ClusterEntry]) is None  # so: read again
    assert sec.whole("static_clusters", list[s.ClusterEntry]) is not None
    want = {"good", "bad-type", "static-w"}
    assert mc.locality_weighted(dump) == want
    assert _weighted(data, False) == want


def test_locality_weighted_reads_the_whole_decode_when_it_kept_everything() -> None:
    data = _doc([_cluster("a"), {"cluster": {"name": "b"}}])
    dump = load(data, "x").dump
    assert dump is not None
    list(mc.records(dump, ("ACTIVE", "STATIC", "WARMING")))
    sec = dump.sections_of("clusters")[0]
    got = sec.whole("dynamic_active_clusters", list[s.ClusterEntry])
    assert got is not None and [e.cluster.name for e in got] == ["a", "b"]
    assert mc.locality_weighted(dump) == {"a", "static-w"}
    # nothing was decoded again: no lighter list of the section's entries was made
    assert ("dynamic_active_clusters", list[s.LbWeightedEntry]) not in sec._cache
