"""The clusters table's light decode gives the full decode's table, or is not used (#17).

Every case runs ``pdebug clusters`` and ``pdebug all`` twice: as shipped, and with the
light decode switched off (the full decode of before). stdout, stderr and the exit code
must be the same. The cases the light decode must refuse (and leave to the full decode,
with its warnings and skipped resources) also check that it did refuse: without that
fallback their tables would differ.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pdebug.cli import main
from pdebug.model import light
from pdebug.model import load as loader
from tests.harness import FIXTURES, generated_dump

V3 = "type.googleapis.com/envoy.admin.v3."
DUMPS = sorted(
    p
    for p in FIXTURES.rglob("*.json")
    if b'"configs"' in p.read_bytes()[:4096] and b"ClustersConfigDump" in p.read_bytes()
)
DR = "/apis/networking.istio.io/v1alpha3/namespaces/ns/destination-rule/reviews"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _both(
    path: Path, command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[int, str, str], list[bool]]:
    """(the run as shipped, whether each light decode took the section); the full run equal."""
    took: list[bool] = []
    real = light.decode_clusters

    def spy(raw: Any, type_url: str) -> Any:
        found = real(raw, type_url)
        took.append(found is not None)
        return found

    with monkeypatch.context() as m:
        m.setattr(light, "decode_clusters", spy)
        shipped = _run([command, str(path)], capsys)
    with monkeypatch.context() as m:
        m.setattr(light, "decode_clusters", lambda raw, type_url: None)
        m.setenv("PDEBUG_JOBS", "1")  # nor the two halves at once (model/light.split_rows)
        full = _run([command, str(path)], capsys)
    assert shipped == full
    return shipped, took


@pytest.mark.parametrize("command", ["clusters", "all"])
@pytest.mark.parametrize("path", DUMPS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_reads_alike(
    path: Path, command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _both(path, command, capsys, monkeypatch)


def test_a_generated_mesh_takes_the_light_decode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = generated_dump(tmp_path / "mesh.json", 60)
    for command in ("clusters", "all"):
        (code, out, _), took = _both(path, command, capsys, monkeypatch)
        assert code == 0 and took == [True], command
        assert out.count("\n") > 100


def _entry(name: str, **cluster: Any) -> dict[str, Any]:
    return {
        "version_info": "1",
        "cluster": {
            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            "name": name,
            "type": "EDS",
            "connect_timeout": "10s",
            "eds_cluster_config": {"service_name": name},
            **cluster,
        },
        "last_updated": "2024-05-01T12:00:00Z",
    }


def _dump(tmp_path: Path, active: list[Any], **section: Any) -> Path:
    clusters = {
        "@type": V3 + "ClustersConfigDump",
        "version_info": "1",
        "static_clusters": [
            {"cluster": {"name": "BlackHoleCluster", "type": "STATIC"}, "last_updated": "x"}
        ],
        "dynamic_active_clusters": active,
        **section,
    }
    listeners = {"@type": V3 + "ListenersConfigDump", "dynamic_listeners": []}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"configs": [clusters, listeners]}, indent=2))
    return path


GOOD = [
    _entry("outbound|80||a.ns.svc.cluster.local"),
    _entry(
        "outbound|9080|v1|reviews.ns.svc.cluster.local",
        metadata={"filter_metadata": {"istio": {"config": DR, "services": [{"host": "x"}]}}},
    ),
    _entry("outbound|443||b.ns.svc.cluster.local"),
]

#: Dumps the full decode reads differently from a decode that skips what it does not
#: show: the light decode must refuse each (the full decode's answer is then printed).
REFUSED: dict[str, list[Any]] = {
    # A wrong type: the full decode skips this cluster with a warning.
    "wrong type": [_entry("outbound|1||x.ns", connect_timeout=5)],
    "wrong type deep": [
        _entry(
            "outbound|1||x.ns",
            load_assignment={"endpoints": [{"lb_endpoints": [{"health_status": 3}]}]},
        )
    ],
    # A field in the other spelling (a hand-merged or re-saved dump): read per resource.
    "mixed spellings": [_entry("outbound|1||x.ns", connectTimeout="1s")],
    "mixed spellings in a raw field's owner": [
        _entry("outbound|1||x.ns", transport_socket={"name": "tls", "typedConfig": {}})
    ],
    "mixed spellings of a raw field": [
        _entry("outbound|1||x.ns", outlierDetection={"consecutive_5xx": 1})
    ],
    "mixed spellings in metadata": [
        _entry("outbound|1||x.ns", metadata={"filterMetadata": {"istio": {"config": DR}}})
    ],
    # istio metadata that is not an object: the full decode shows no DESTINATION RULE.
    "istio not an object": [
        _entry("outbound|1||x.ns", metadata={"filter_metadata": {"istio": "config"}})
    ],
    # protojson's null map: the full decode skips the cluster with a warning.
    "null filter_metadata": [_entry("outbound|1||x.ns", metadata={"filter_metadata": None})],
    "null cluster": [{"cluster": None, "last_updated": "x"}],
}


@pytest.mark.parametrize("command", ["clusters", "all"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_the_light_decode_does_not_take_is_decoded_fully(
    case: str,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _dump(tmp_path, [*GOOD, *REFUSED[case]])
    (code, out, err), took = _both(path, command, capsys, monkeypatch)
    assert took and not any(took)  # refused: the table is the full decode's
    assert code == 0 and "reviews.ns" in out


def test_the_refused_cases_do_read_differently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the fallback is for: each refused case's table or warnings are the full decode's."""
    path = _dump(tmp_path, [*GOOD, *REFUSED["wrong type"]])
    _, out, err = _run(["clusters", str(path)], capsys)
    assert "x.ns" not in out and "skipped" in err
    path = _dump(tmp_path, [*GOOD, *REFUSED["mixed spellings"]])
    _, out, err = _run(["clusters", str(path)], capsys)
    assert "x.ns" in out and not err
    path = _dump(tmp_path, [*GOOD, *REFUSED["null cluster"]])
    _, out, err = _run(["clusters", str(path)], capsys)
    assert "skipped" in err


#: Dumps the light decode takes: the same table as the full decode's.
TAKEN: dict[str, Any] = {
    "plain": ([*GOOD], {}),
    "error_state only": (
        [*GOOD, {"error_state": {"details": "rejected", "last_update_attempt": "x"}}],
        {},
    ),
    "nameless with error_state and a cluster": (
        [*GOOD, {"cluster": {"type": "EDS"}, "error_state": {"details": "rejected"}}],
        {},
    ),
    "config not a string": (
        [_entry("outbound|1||x.ns", metadata={"filter_metadata": {"istio": {"config": 5}}})],
        {},
    ),
    "config elsewhere": (
        [_entry("outbound|1||x.ns", metadata={"filter_metadata": {"other": {"config": DR}}})],
        {},
    ),
    "istio null": (
        [_entry("outbound|1||x.ns", metadata={"filter_metadata": {"istio": None}})],
        {},
    ),
    "config with escapes": (
        [
            _entry(
                "outbound|1||x.ns",
                metadata={"filter_metadata": {"istio": {"con\u0066ig": DR + "\u202e"}}},
            )
        ],
        {},
    ),
    "aggregate cluster": (
        [
            {
                "cluster": {
                    "name": "outbound|1||agg.ns",
                    "cluster_type": {"name": "envoy.clusters.aggregate", "typed_config": {}},
                    "transport_socket": {"name": "tls", "typed_config": {"@type": "x"}},
                    "outlier_detection": {"consecutive_5xx": 3},
                }
            }
        ],
        {},
    ),
    "warming": (
        [*GOOD],
        {"dynamic_warming_clusters": [_entry("outbound|8||warm.ns")]},
    ),
    "no active": ([], {"dynamic_warming_clusters": [_entry("outbound|8||warm.ns")]}),
    "null lists": (None, {"static_clusters": None}),
    "duplicate istio": (
        [
            {
                "cluster": {
                    "name": "outbound|1||x.ns",
                    "metadata": {"filter_metadata": {"istio": {"config": "x"}}},
                }
            }
        ],
        {},
    ),
}


@pytest.mark.parametrize("command", ["clusters", "all"])
@pytest.mark.parametrize("case", sorted(TAKEN))
def test_what_the_light_decode_takes_reads_alike(
    case: str,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    active, section = TAKEN[case]
    path = _dump(tmp_path, copy.deepcopy(active), **section)
    if case == "duplicate istio":  # two "istio" keys: the last one counts, in both decodes
        text = path.read_text().replace(
            '"istio": {\n', f'"istio": {{"config": "{DR}"}}, "istio": {{\n', 1
        )
        path.write_text(text)
    _, took = _both(path, command, capsys, monkeypatch)
    assert took == [True]


def test_a_warming_list_that_the_full_decode_refuses_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The light decode checks the whole section's planned lists, not just the shown ones."""
    path = _dump(tmp_path, [*GOOD], dynamic_warming_clusters=[{"cluster": {"name": 5}}])
    for command in ("clusters", "all"):
        _, took = _both(path, command, capsys, monkeypatch)
        assert took and not any(took)


def test_the_light_lists_are_the_tables_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o wide, json and filters read the full decode (the light one is never asked for)."""
    path = _dump(tmp_path, [*GOOD])
    for args in (["-o", "wide"], ["-o", "json"], ["--fqdn", "reviews"]):
        _, out, _ = _run(["clusters", str(path), *args], capsys)
        assert "reviews" in out
    data = path.read_bytes()
    plan = ("dynamic_active_clusters", "static_clusters", "dynamic_warming_clusters")
    dump = loader.load(data, "t", plan).dump
    assert dump is not None
    assert light.clusters_of(dump) is None  # decoded fully by the plan: the table reads that
    with loader.light_tables("clusters"):
        dump = loader.load(data, "t", plan).dump
    assert dump is not None
    found = light.clusters_of(dump)
    assert found is not None and len(found.dynamic_active_clusters) == 3
    # Any other reader gets the full entries, decoded from the section's bytes.
    entries = dump.cluster_entries("dynamic_active_clusters").items
    assert [e.cluster.name for e in entries] == [e["cluster"]["name"] for e in GOOD]
    assert type(entries[0]).__name__.startswith("ClusterEntry")


@pytest.mark.parametrize(
    "key",
    [b"\xff", b"\\ud800", b"caf\xc3"],
    ids=["invalid-utf8", "lone-surrogate", "cut-utf8"],
)
def test_map_keys_are_checked_as_the_full_decode_checks_them(
    key: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ``filter_metadata`` key the full decode refuses is refused (not skipped) here too."""
    odd = _entry("outbound|1||x.ns", metadata={"filter_metadata": {"KEY": {"config": DR}}})
    path = _dump(tmp_path, [*GOOD, odd])
    path.write_bytes(path.read_bytes().replace(b'"KEY"', b'"' + key + b'"'))
    for command in ("clusters", "all"):
        (code, out, err), took = _both(path, command, capsys, monkeypatch)
        assert took == [False]
        # The full decode skips that cluster with a warning (or, for a broken escape,
        # refuses the file): a decode that skipped the key would have shown it.
        assert "x.ns" not in out and ("skipped" in err or code == 4)
