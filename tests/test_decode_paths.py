"""The fast decode paths take either key spelling (#17): istiod's lowerCamelCase dumps are
read in the same single pass as Envoy's snake_case ones, and only a resource that mixes the
spellings is decoded field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pdebug.model import load as loader
from pdebug.model import schema as s
from pdebug.model.camel import snake_keys, to_camel
from pdebug.model.dump import MODES, decode_items, decoder

ROOT = Path(__file__).resolve().parent.parent
SIDECAR = ROOT / "fixtures" / "real" / "sidecar" / "config_dump.json"
CLUSTERS = ("dynamic_active_clusters", "static_clusters", "dynamic_warming_clusters")
LISTENERS = ("dynamic_listeners", "static_listeners")
ROUTES = ("dynamic_route_configs", "static_route_configs")
KEEP = {"filter_metadata", "labels", "key_values", "fields", "annotations"}


def _camel(value: Any, parent: str = "") -> Any:
    """protojson's lowerCamelCase, as istiod writes it (map keys kept)."""
    if isinstance(value, list):
        return [_camel(v, parent) for v in value]
    if not isinstance(value, dict) or parent in KEEP:
        return value
    return {to_camel(k): _camel(v, k) for k, v in value.items()}


def _plain(value: Any) -> Any:
    """Decoded values by attribute (not wire) name; a Raw as its snake_case JSON."""
    if isinstance(value, msgspec.Raw):
        return snake_keys(json.loads(bytes(value)))
    if isinstance(value, msgspec.Struct):
        names = [f for f in value.__struct_fields__ if not f.startswith("pd_")]
        return {f: _plain(getattr(value, f)) for f in names}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _summary(dump: Any, plan: tuple[str, ...]) -> list[Any]:
    out = []
    for sec in dump.sections:
        cached = {k: _plain(v) for (k, _), v in sec._cache.items() if k in plan}
        out.append((sec.type_url, sec.kind, cached))
    return out


@pytest.mark.parametrize("plan", [CLUSTERS, LISTENERS, ROUTES])
@pytest.mark.parametrize("sliced", [True, False])
def test_camel_dump_is_decoded_in_the_one_pass(
    plan: tuple[str, ...], sliced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    snake = SIDECAR.read_bytes()
    camel = json.dumps(_camel(json.loads(snake)), indent=None if not sliced else 2).encode()
    want = loader.load(snake, "t", plan).dump
    assert want is not None

    def no_second_scan(*args: Any) -> Any:
        raise AssertionError("the planned sections were read again")

    if not sliced:
        monkeypatch.setattr(loader, "_sliced_configs", lambda data, keys: None)
    monkeypatch.setattr(loader, "_decode_top", no_second_scan)
    got = loader.load(camel, "t", plan).dump
    assert got is not None
    assert _summary(got, plan) == _summary(want, plan)
    assert any(v for *_, v in _summary(got, plan))


def test_a_camel_section_is_not_read_as_an_empty_snake_one() -> None:
    section = {
        "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
        "dynamicActiveClusters": [{"cluster": {"name": "a", "type": "EDS"}}],
    }
    dec = loader._section_decoder(CLUSTERS)
    with pytest.raises(msgspec.ValidationError):
        dec.decode(json.dumps(section).encode())
    got = loader._decode_section(CLUSTERS, json.dumps(section).encode())
    assert [e.cluster.name for e in got.dynamic_active_clusters] == ["a"]


def test_only_mixed_resources_take_the_both_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    snake = {"version_info": "1", "cluster": {"name": "a", "lb_policy": "RING_HASH"}}
    camel = {"versionInfo": "2", "cluster": {"name": "b", "lbPolicy": "MAGLEV"}}
    mixed = {"version_info": "3", "cluster": {"name": "c", "lbPolicy": "RANDOM"}}
    raw = msgspec.Raw(json.dumps([snake, camel, mixed]).encode())
    both_calls: list[bytes] = []
    both = decoder(s.ClusterEntry, MODES[-1])
    real_decoder = decoder

    class Counting:
        def decode(self, data: Any) -> Any:
            both_calls.append(bytes(data))
            return both.decode(data)

    def spy(tp: Any, mode: Any = "snake") -> Any:
        if tp is s.ClusterEntry and mode == "both":
            return Counting()
        return real_decoder(tp, mode)

    monkeypatch.setattr("pdebug.model.dump.decoder", spy)
    warnings: list[str] = []
    items = decode_items(raw, s.ClusterEntry, "t", warnings.append)
    assert [(e.version_info, e.cluster.name, e.cluster.lb_policy) for e in items] == [
        ("1", "a", "RING_HASH"),
        ("2", "b", "MAGLEV"),
        ("3", "c", "RANDOM"),
    ]
    assert warnings == []
    assert len(both_calls) == 1 and b'"c"' in both_calls[0]


def test_the_raw_free_fields_are_the_schemas() -> None:
    from pdebug.model.dump import KEY_TYPES

    assert {k for k in KEY_TYPES if not loader.holds_raw(k)} == loader.RAW_FREE


def test_a_mapped_file_lets_go_of_its_pages_and_still_reads_alike(tmp_path: Path) -> None:
    """The lazy path releases the mapped pages after each decode (peak memory, #17);
    the Raw slices it keeps read the same bytes afterwards (from the page cache)."""
    import mmap

    path = tmp_path / "d.json"
    path.write_bytes(SIDECAR.read_bytes())
    want = loader.load(SIDECAR.read_bytes(), "t").dump
    assert want is not None
    with path.open("rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        got = loader.load(memoryview(mapped), "t").dump
        assert got is not None
        assert all(sec.release is not None for sec in got.sections)
        for key in CLUSTERS:
            a, b = got.cluster_entries(key).items, want.cluster_entries(key).items
            assert [_plain(x) for x in a] == [_plain(x) for x in b]
        assert got.bootstrap() == want.bootstrap()
        assert [sec.plain() for sec in got.sections] == [sec.plain() for sec in want.sections]


# --- ztunnel: a dump already in ztunnel's spelling is kept as decoded -----------------


DATA_MAPS = {"ports", "endpoints", "port", "workloadstate"}


def _respell(value: Any, how: Any, data: bool = False) -> Any:
    """Field names respelled with ``how``; the keys of data maps (UIDs, ports) kept."""
    if isinstance(value, list):
        return [_respell(v, how) for v in value]
    if isinstance(value, dict):
        if data:
            return {k: _respell(v, how) for k, v in value.items()}
        return {
            how(k): _respell(v, how, k.replace("_", "").lower() in DATA_MAPS)
            for k, v in value.items()
        }
    return value


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _ztunnel_docs() -> list[Any]:
    docs = []
    for name in ("dump.json", "connectionsdump.json"):
        doc = json.loads((ROOT / "fixtures/istioctl/ztunnel-config" / name).read_text())
        if isinstance(doc, list):  # the workload states alone
            doc = {"workloadState": {f"uid-{i}": state for i, state in enumerate(doc)}}
        docs += [doc, _respell(doc, _snake), _respell(doc, str.lower), _respell(doc, str.upper)]
    return docs


@pytest.mark.parametrize("index", range(8))
def test_same_says_exactly_when_canonical_changes_nothing(index: int) -> None:
    import copy

    from pdebug.model import ztunnel as z

    doc = _ztunnel_docs()[index]
    objects: list[Any] = []
    for value in doc.values() if isinstance(doc, dict) else []:
        items = list(value.values()) if isinstance(value, dict) else value
        if isinstance(items, list):
            objects += [v for v in items if isinstance(v, dict)]
    assert objects
    for obj in objects:
        before = copy.deepcopy(obj)
        same = z._same(obj)
        after = z.canonical(copy.deepcopy(obj))
        assert same == (json.dumps(after) == json.dumps(before)), obj
    assert z._same(objects[0]) == (index % 4 == 0)


def test_ztunnel_parse_reads_every_spelling_alike() -> None:
    from pdebug.model import ztunnel as z

    docs = _ztunnel_docs()
    for base in (0, 4):
        want = z.parse(json.dumps(docs[base]).encode(), "t")
        for other in docs[base + 1 : base + 4]:
            got = z.parse(json.dumps(other).encode(), "t")
            for part in ("workloads", "services", "policies", "certificates", "workload_state"):
                assert getattr(got, part) == getattr(want, part), part


# --- without a plan: each section read from its own bytes, on first use ---------------

V3 = "type.googleapis.com/envoy.admin.v3."


def _old_way(data: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(loader, "_layout", lambda data: None)
        return loader.load(data, "t").dump


def _everything(dump: Any) -> Any:
    out = []
    for key in loader.KEY_TYPES:
        for sec in dump.sections:
            if loader.KEY_KINDS[key] == sec.kind:
                items = sec.typed(key, list[loader.KEY_TYPES[key]], list, key)
                out.append((key, _plain(list(items)), getattr(items, "positions", None)))
    return out


@pytest.mark.parametrize("camel", [False, True])
def test_a_dump_without_plan_reads_each_section_once(
    camel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = json.loads(SIDECAR.read_bytes())
    data = json.dumps(_camel(doc) if camel else doc, indent=2).encode()
    want = _old_way(data, monkeypatch)

    def no_whole_scan(*args: Any) -> Any:
        raise AssertionError("the whole document was scanned")

    monkeypatch.setattr(loader, "_decode_top", no_whole_scan)
    got = loader.load(data, "t").dump
    assert got is not None and want is not None
    assert [(s.type_url, s.kind, s.index) for s in got.sections] == [
        (s.type_url, s.kind, s.index) for s in want.sections
    ]
    assert _everything(got) == _everything(want)
    assert got.bootstrap() == want.bootstrap()
    assert [s.plain() for s in got.sections] == [s.plain() for s in want.sections]


def _two_sections(clusters: bytes) -> bytes:
    boot = b'{"@type": "' + V3.encode() + b'BootstrapConfigDump", "bootstrap": {"node": {}}}'
    head = b'{"@type": "' + V3.encode() + b'ClustersConfigDump", '
    return b'{"configs": [\n' + boot + b",\n" + head + clusters + b"}\n]}\n"


def test_a_damaged_section_reports_the_whole_documents_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pdebug.errors import InvalidInput

    data = _two_sections(b'"dynamic_active_clusters": [{"cluster": {"name": "a",}}]')
    with pytest.raises(InvalidInput) as old:
        _old_way(data, monkeypatch)
    dump = loader.load(data, "t").dump  # found by the byte search; read on use
    assert dump is not None
    assert dump.bootstrap() == {"node": {}}
    with pytest.raises(InvalidInput) as new:
        dump.cluster_entries("dynamic_active_clusters")
    assert str(new.value) == str(old.value)
    assert new.value.hint == old.value.hint


def test_a_wrong_resource_is_skipped_with_the_same_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _two_sections(
        b'"dynamic_active_clusters": [{"cluster": {"name": "a"}}, {"cluster": {"name": 7}}]'
    )
    want = _old_way(data, monkeypatch)
    got = loader.load(data, "t").dump
    assert want is not None and got is not None
    a = got.cluster_entries("dynamic_active_clusters")
    b = want.cluster_entries("dynamic_active_clusters")
    assert [e.cluster.name for e in a.items] == [e.cluster.name for e in b.items] == ["a"]
    assert got.warnings == want.warnings and got.warnings
    assert got.cluster_entries("static_clusters").items == []
