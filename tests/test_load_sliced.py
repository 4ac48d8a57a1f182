"""The sliced load: each needed section decoded from its own bytes, same answer as a full scan."""

from __future__ import annotations

import json
import mmap
from pathlib import Path

import pytest

from pdebug.errors import InvalidInput
from pdebug.model import load as loader
from pdebug.model.dump import KEY_TYPES, ConfigDump
from tests.harness import FIXTURES, generated_dump

V3 = "type.googleapis.com/envoy.admin.v3."
PLANS = [
    ("dynamic_active_clusters", "static_clusters", "dynamic_warming_clusters"),
    ("dynamic_endpoint_configs", "static_endpoint_configs"),
    ("dynamic_listeners", "static_listeners"),
    ("dynamic_route_configs", "static_route_configs"),
    ("dynamic_active_secrets", "dynamic_warming_secrets", "static_secrets"),
    ("ecds_filters",),
]
DUMPS = sorted(
    p
    for p in FIXTURES.rglob("*.json")
    if b'"configs"' in p.read_bytes()[:4096] and b"ConfigDump" in p.read_bytes()
)


def _full(data: bytes, plan: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> ConfigDump:
    with monkeypatch.context() as m:
        m.setattr(loader, "_sliced_configs", lambda data, keys: None)
        dump = loader.load(data, "t", plan).dump
    assert dump is not None
    return dump


def _summary(dump: ConfigDump, plan: tuple[str, ...]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for sec in dump.sections:
        cached = {k: v for (k, _), v in sec._cache.items() if k in plan}
        out.append((sec.type_url, sec.kind, sec.index, cached))
    return out


def _dump(*sections: dict[str, object], indent: int | None = None) -> bytes:
    return json.dumps({"configs": list(sections)}, indent=indent).encode()


def _clusters(*names: str) -> dict[str, object]:
    return {
        "@type": V3 + "ClustersConfigDump",
        "dynamic_active_clusters": [{"cluster": {"name": n, "type": "EDS"}} for n in names],
    }


def test_every_plan_covers_its_kind() -> None:
    assert set(loader.KEY_KINDS) == set(KEY_TYPES)


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: str(p.relative_to(FIXTURES)))
@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p[0])
def test_same_sections_and_values_as_the_whole_decode(
    path: Path, plan: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = path.read_bytes()
    try:
        full = _full(data, plan, monkeypatch)
    except InvalidInput as exc:
        with pytest.raises(InvalidInput) as again:
            loader.load(data, "t", plan)
        assert str(again.value) == str(exc)
        return
    sliced = loader.load(data, "t", plan).dump
    assert sliced is not None
    assert _summary(sliced, plan) == _summary(full, plan)


def test_envoys_layout_is_sliced(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _dump({"@type": V3 + "BootstrapConfigDump"}, _clusters("a", "b"), indent=2)
    configs = loader._sliced_configs(data, PLANS[0])
    assert configs is not None
    assert [c.type_url for c in configs] == [V3 + "BootstrapConfigDump", V3 + "ClustersConfigDump"]
    assert [e.cluster.name for e in configs[1].dynamic_active_clusters] == ["a", "b"]


def test_a_memory_mapped_file_is_sliced(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(_dump(_clusters("a"), {"@type": V3 + "ListenersConfigDump"}))
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        configs = loader._sliced_configs(view, PLANS[0])
        assert configs is not None and len(configs) == 2
        del configs
        view.release()


@pytest.mark.parametrize(
    "data",
    [
        # @type not the first key of a section
        b'{"configs": [{"x": 1, "@type": "' + V3.encode() + b'ClustersConfigDump"}]}',
        # an escaped slash in a type URL: the section is not found by the search
        _dump(_clusters("a")).replace(b".com/envoy", b".com\\/envoy"),
        # another top-level key, before or after configs
        b'{"x": 1, ' + _dump(_clusters("a"))[1:],
        _dump(_clusters("a"))[:-1] + b', "x": 1}',
        # ?resource= entries
        _dump({"@type": V3 + "ClustersConfigDump.DynamicCluster", "cluster": {"name": "a"}}),
        # no admin section at all
        _dump({"@type": "type.googleapis.com/foo.Bar"}),
    ],
    ids=["type-not-first", "escaped", "key-before", "key-after", "entries", "no-admin-type"],
)
def test_other_layouts_take_the_whole_decode(data: bytes) -> None:
    assert loader._sliced_configs(data, PLANS[0]) is None


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (_dump(_clusters("a"))[:-3], "truncated"),
        (_dump(_clusters("a")).replace(b'"EDS"', b'["EDS"]'), "unexpected value"),
        (_dump(_clusters("a")).replace(b'"EDS"}', b'"EDS",}'), "invalid JSON"),
    ],
    ids=["truncated", "wrong-type", "bad-json-in-the-section"],
)
def test_errors_in_the_needed_section_are_the_whole_decodes(data: bytes, needle: str) -> None:
    try:
        assert loader._sliced_configs(data, PLANS[0]) is None
    except loader._Refused:  # a wrong type: read lazily, where one resource can be skipped
        assert needle == "unexpected value"
    with pytest.raises(InvalidInput, match=needle):
        dump = loader.load(data, "t", PLANS[0]).dump
        assert dump is not None
        dump.cluster_entries("dynamic_active_clusters")


def test_damage_in_a_section_the_view_does_not_read_goes_unnoticed() -> None:
    """As when a live proxy is asked for the clusters only."""
    data = _dump(_clusters("a"), {"@type": V3 + "ListenersConfigDump", "x": "DAMAGE"})
    data = data.replace(b'"DAMAGE"', b"[}")
    dump = loader.load(data, "t", PLANS[0]).dump
    assert dump is not None
    assert [s.kind for s in dump.sections] == ["clusters", "listeners"]
    entries = dump.cluster_entries("dynamic_active_clusters").items
    assert [e.cluster.name for e in entries] == ["a"]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An Istio-shaped dump from the benchmark's generator, pretty-printed as Envoy does."""
    path = tmp_path_factory.mktemp("mesh") / "dump.json"
    return generated_dump(path, 60).read_bytes()


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p[0])
def test_generated_mesh_is_sliced_alike(
    mesh: bytes, plan: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert loader._sliced_configs(mesh, plan) is not None
    sliced = loader.load(mesh, "t", plan).dump
    assert sliced is not None
    assert _summary(sliced, plan) == _summary(_full(mesh, plan, monkeypatch), plan)


def _no_second_scan(*_: object) -> None:
    raise AssertionError("the whole document was scanned again")


@pytest.mark.parametrize(
    "data",
    [
        _dump(_clusters("a"), {"@type": V3 + "ListenersConfigDump"}, indent=2),
        _dump({**_clusters("a"), "static_clusters": None}),
        _dump(_clusters("a")).replace(b"dynamic_active_clusters", b"dynamicActiveClusters"),
        _dump(_clusters("a"))[:-1] + b', "x": 1}',  # not Envoy's layout: one planned scan
    ],
    ids=["absent", "null", "camel-case", "whole-decode"],
)
def test_a_planned_list_the_section_lacks_is_empty_without_a_second_scan(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#17: `pdebug secrets` scanned all 161 MB again to learn there are no warming secrets."""
    dump = loader.load(data, "t", PLANS[0]).dump
    assert dump is not None
    monkeypatch.setattr(loader, "_decode_top", _no_second_scan)
    active = dump.cluster_entries("dynamic_active_clusters").items
    assert [e.cluster.name for e in active] == ["a"]
    assert dump.cluster_entries("static_clusters").items == []
    assert dump.cluster_entries("dynamic_warming_clusters").items == []


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: str(p.relative_to(FIXTURES)))
@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p[0])
def test_planned_lists_read_as_the_fields_themselves(
    path: Path, plan: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each planned list (present, absent or null) is what reading the field gives."""
    data = path.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(loader, "_sliced_dump", lambda data, source: None)
        try:
            fields = loader.load(data, "t").dump
        except InvalidInput:
            return
    planned = loader.load(data, "t", plan).dump
    assert fields is not None and planned is not None
    # The planned lists, and every other section's lists and fields (read on use).
    for key in (*plan, *(k for k in KEY_TYPES if k not in plan)):
        tp = list[KEY_TYPES[key]]  # type: ignore[valid-type]
        for one, other in zip(planned.sections, fields.sections, strict=True):
            if one.kind == loader.KEY_KINDS[key]:
                got = one.typed(key, tp, list, key)
                want = other.typed(key, tp, list, key)
                assert got == want, (key, one.type_url)
    assert [sec.plain() for sec in planned.sections] == [sec.plain() for sec in fields.sections]


def _endpoints(*names: str) -> dict[str, object]:
    return {
        "@type": V3 + "EndpointsConfigDump",
        "dynamic_endpoint_configs": [{"endpoint_config": {"cluster_name": n}} for n in names],
    }


def test_a_section_the_plan_left_out_is_read_from_its_own_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """#17: `clusters -o wide` read the EDS section by scanning the whole dump again."""
    data = _dump(_clusters("a"), {"@type": V3 + "ListenersConfigDump"}, _endpoints("a"), indent=2)
    dump = loader.load(data, "t", PLANS[0]).dump
    assert dump is not None
    monkeypatch.setattr(loader, "_decode_top", _no_second_scan)
    configs = dump.endpoint_entries("dynamic_endpoint_configs").items
    assert [e.endpoint_config.cluster_name for e in configs] == ["a"]
    assert dump.sections[1].plain() == {"@type": V3 + "ListenersConfigDump"}


def test_damage_in_a_section_read_later_is_the_whole_documents_error() -> None:
    data = _dump(_clusters("a"), _endpoints("a")).replace(b'"cluster_name": "a"}', b'"x": [}')
    dump = loader.load(data, "t", PLANS[0]).dump
    assert dump is not None
    assert [e.cluster.name for e in dump.cluster_entries("dynamic_active_clusters").items] == ["a"]
    with pytest.raises(InvalidInput, match="invalid JSON"):
        dump.endpoint_entries("dynamic_endpoint_configs")
