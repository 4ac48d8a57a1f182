"""pdebug diff compares what resources mean, whatever their layout or key spelling (#17).

A re-indented copy or a lowerCamelCase copy (as istiod writes it) is equal; a real change
inside such a copy is still found; and the fast digest never calls equal what the full
comparison calls different (names inside metadata and label maps are data).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from pdebug import diff as d
from pdebug.errors import ExitCode
from pdebug.model.camel import to_camel

ROOT = Path(__file__).resolve().parent.parent
SIDECAR = ROOT / "fixtures" / "real" / "sidecar" / "config_dump.json"
#: Maps whose keys are data: protojson keeps them as they are.
KEEP = {"filter_metadata", "labels", "key_values", "fields", "annotations"}
TYPED = {"typed_filter_metadata", "typed_extension_protocol_options", "typed_per_filter_config"}


def _load() -> dict[str, Any]:
    return json.loads(SIDECAR.read_text())


def _camelize(value: Any, parent: str = "") -> Any:
    """lowerCamelCase field names, as protojson (istiod) writes them; map keys kept."""
    if isinstance(value, list):
        return [_camelize(v, parent) for v in value]
    if not isinstance(value, dict):
        return value
    if parent in KEEP:
        return value
    if parent in TYPED:
        return {k: _camelize(v) for k, v in value.items()}
    return {to_camel(k): _camelize(v, k) for k, v in value.items()}


def _reindent(doc: Any) -> bytes:
    """Four-space indents and a space before each colon: a re-saved file."""
    text = json.dumps(doc, indent=4)
    return re.sub(r'^( +)"', lambda m: m.group(1) + '"', text, flags=re.M).encode()


def _first_cluster(doc: dict[str, Any]) -> dict[str, Any]:
    for section in doc["configs"]:
        if section.get("@type", "").endswith("ClustersConfigDump"):
            entry: dict[str, Any] = section["dynamic_active_clusters"][0]["cluster"]
            return entry
    raise AssertionError("no clusters")


def test_reindented_copy_is_equal(pdebug, tmp_path):
    other = tmp_path / "reindented.json"
    other.write_bytes(_reindent(_load()))
    result = pdebug("diff", SIDECAR, other)
    assert result.code == ExitCode.OK, result.out


def test_compact_camel_copy_is_equal(pdebug, tmp_path):
    other = tmp_path / "camel.json"
    other.write_bytes(orjson.dumps(_camelize(_load())))
    result = pdebug("diff", SIDECAR, other)
    assert result.code == ExitCode.OK, result.out
    # and in the other direction, against a re-indented snake_case copy
    reindented = tmp_path / "reindented.json"
    reindented.write_bytes(_reindent(_load()))
    assert pdebug("diff", other, reindented).code == ExitCode.OK


def test_change_inside_a_reindented_copy_is_found(pdebug, tmp_path):
    doc = _load()
    cluster = _first_cluster(doc)
    cluster["connect_timeout"] = "42s"
    other = tmp_path / "changed.json"
    other.write_bytes(_reindent(doc))
    result = pdebug("diff", SIDECAR, other)
    assert result.code == ExitCode.FINDINGS
    assert f"~ {cluster['name']}" in result.out
    assert '-> "42s"' in result.out
    camel = tmp_path / "changed-camel.json"
    camel.write_bytes(orjson.dumps(_camelize(doc), option=orjson.OPT_INDENT_2))
    result = pdebug("diff", SIDECAR, camel)
    assert result.code == ExitCode.FINDINGS
    assert f"~ {cluster['name']}" in result.out


def _res(value: Any) -> d.Resource:
    return d.Resource("r", msgspec.Raw(orjson.dumps(value, option=orjson.OPT_INDENT_2)))


def _full(a: Any, b: Any) -> bool:
    """The full comparison's answer (no digest): equal after normalising."""
    return d._canonical(_res(a)) == d._canonical(_res(b))


def _fast(a: Any, b: Any) -> bool:
    return d._same_meaning(_res(a).raw, _res(b).raw)


CASES: list[tuple[Any, Any]] = [
    # map keys are data: a respelled label or metadata key is a real difference
    (
        {"name": "c", "metadata": {"filter_metadata": {"x": {"fooBar": 1}}}},
        {"name": "c", "metadata": {"filterMetadata": {"x": {"foo_bar": 1}}}},
    ),
    ({"name": "c", "labels": {"appName": "a"}}, {"name": "c", "labels": {"app_name": "a"}}),
    (
        {"name": "c", "metadata": {"fooBar": {"a": 1}}},
        {"name": "c", "metadata": {"foo_bar": {"a": 1}}},
    ),
    (
        {"name": "c", "typed_per_filter_config": {"myFilter": {"a": 1}}},
        {"name": "c", "typed_per_filter_config": {"my_filter": {"a": 1}}},
    ),
    ({"name": "c", "metadata": [{"fooBar": 1}]}, {"name": "c", "metadata": [{"foo_bar": 1}]}),
    # respelled field names are the same field
    (
        {"name": "c", "connect_timeout": "1s", "lb_policy": "RING_HASH"},
        {"name": "c", "connectTimeout": "1s", "lbPolicy": "RING_HASH"},
    ),
    (
        {"name": "c", "outlier_detection": {"consecutive_5xx": 3}},
        {"name": "c", "outlierDetection": {"consecutive5xx": 3}},
    ),
    (
        {"name": "c", "metadata": {"filter_metadata": {"istio": {"a_b": 1}}}},
        {"name": "c", "metadata": {"filterMetadata": {"istio": {"a_b": 1}}}},
    ),
    (
        {"name": "c", "typed_per_filter_config": {"envoy.x": {"fooBar": 1}}},
        {"name": "c", "typedPerFilterConfig": {"envoy.x": {"foo_bar": 1}}},
    ),
    # keys that respell twice, strings that look like keys, order, escapes
    ({"name": "c", "aBC": 1}, {"name": "c", "a_bC": 1}),
    ({"name": "c", "s": 'x,"fooBar":1'}, {"name": "c", "s": 'x,"foo_bar":1'}),
    ({"name": "c", "a": 1, "b": {"y": 2, "x": 1}}, {"b": {"x": 1, "y": 2}, "a": 1, "name": "c"}),
    ({"name": "c", "s": "é"}, {"name": "c", "s": "\u00e9"}),
    ({"name": "c", "s": "a b"}, {"name": "c", "s": "ab"}),
    ({"name": "c", "s": 'q": x'}, {"name": "c", "s": 'q":x'}),
]


@pytest.mark.parametrize(("a", "b"), CASES)
def test_digest_is_never_looser_than_the_full_comparison(a, b):
    if _fast(a, b):
        assert _full(a, b), (a, b)
    if _fast(b, a):
        assert _full(b, a), (a, b)


def test_digest_finds_respelled_and_reindented_resources_equal():
    cluster = _first_cluster(_load())
    camel = _camelize(copy.deepcopy(cluster))
    assert _fast(cluster, camel)
    raw = msgspec.Raw(json.dumps(cluster, indent="\t").encode())
    assert d._same_meaning(_res(cluster).raw, raw)


def _tracing_listener(custom_tags: list[dict[str, Any]]) -> dict[str, Any]:
    """A sidecar's outbound listener as Envoy dumps it, with tracing custom tags."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "outbound_0.0.0.0_8080",
        "rds": {
            "config_source": {
                "ads": {},
                "initial_fetch_timeout": "0s",
                "resource_api_version": "V3",
            },
            "route_config_name": "8080",
        },
        "tracing": {
            "client_sampling": {"value": 100},
            "random_sampling": {"value": 1},
            "overall_sampling": {"value": 100},
            "custom_tags": custom_tags,
        },
        "http_filters": [{"name": "envoy.filters.http.router"}],
    }
    listener = {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": "0.0.0.0_8080",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
        "traffic_direction": "OUTBOUND",
    }
    return {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "dynamic_listeners": [
                    {
                        "name": "0.0.0.0_8080",
                        "active_state": {"version_info": "1", "listener": listener},
                    }
                ],
            }
        ]
    }


CUSTOM_TAGS = [
    {"tag": "istio.canonical_revision", "literal": {"value": "latest"}},
    {
        "tag": "istio.mesh_id",
        "metadata": {
            "kind": {"host": {}},
            "metadata_key": {"key": "istio", "path": [{"key": "mesh_id"}]},
        },
    },
    {
        "tag": "upstream_cluster",
        "metadata": {
            "kind": {"cluster": {}},
            "metadata_key": {"key": "istio", "path": [{"key": "service_name"}]},
        },
    },
]


def test_camel_custom_tag_metadata_is_not_a_difference(pdebug, tmp_path):
    """``custom_tags[].metadata`` is CustomTag.Metadata, not a map: its names respell."""
    doc = _tracing_listener(copy.deepcopy(CUSTOM_TAGS))
    snake = tmp_path / "snake.json"
    snake.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    camel_doc = _camelize(doc)
    tags = camel_doc["configs"][0]["dynamicListeners"][0]["activeState"]["listener"]
    hcm = tags["filterChains"][0]["filters"][0]["typedConfig"]
    assert "metadataKey" in hcm["tracing"]["customTags"][1]["metadata"]
    camel = tmp_path / "camel.json"
    camel.write_bytes(orjson.dumps(camel_doc, option=orjson.OPT_INDENT_2))
    for a, b in ((snake, camel), (camel, snake)):
        result = pdebug("diff", a, b)
        assert result.code == ExitCode.OK, result.out
    # the full comparison and the digest agree
    listener = doc["configs"][0]["dynamic_listeners"][0]["active_state"]["listener"]
    assert _full(listener, _camelize(listener))
    assert _fast(listener, _camelize(listener))
    # a real change in the tag's metadata key is still a difference
    changed = copy.deepcopy(doc)
    entry = changed["configs"][0]["dynamic_listeners"][0]["active_state"]["listener"]
    typed = entry["filter_chains"][0]["filters"][0]["typed_config"]
    typed["tracing"]["custom_tags"][1]["metadata"]["metadata_key"]["key"] = "other"
    other = tmp_path / "changed-camel.json"
    other.write_bytes(orjson.dumps(_camelize(changed), option=orjson.OPT_INDENT_2))
    result = pdebug("diff", snake, other)
    assert result.code == ExitCode.FINDINGS, result.out
    assert '"istio" -> "other"' in result.out


@pytest.mark.parametrize("name", ["metadataKey", "metadataKind"])
def test_custom_tag_metadata_names_respell_in_both_paths(name):
    snake_name = name.replace("K", "_k")
    a = {"name": "c", "metadata": {snake_name: {"key": "istio"}}}
    b = {"name": "c", "metadata": {name: {"key": "istio"}}}
    assert _full(a, b)
    assert _fast(a, b)
    # a Struct key beside them is still data
    assert not _full(
        {"name": "c", "metadata": {"fooBar": 1}}, {"name": "c", "metadata": {"foo_bar": 1}}
    )


def test_fast_hump_regex_splits_as_the_plain_one():
    """The possessive form of the respelled-name regex finds exactly the same keys."""
    import random

    plain = re.compile(rb'"(?<=[{,]")(%s)":' % d._HUMP.encode())
    rng = random.Random(3)
    alphabet = b'aZ0_"{},:5xc'
    for _ in range(20_000):
        text = b'{"' + bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert plain.split(text) == d._HUMP_KEY.split(text), text
    text = b'{"fooBar":1,"consecutive5xx":2,"aB0C":3,"a_bC":1,"abc":{"xY":[]},"s":"q,\\"zZ\\":"}'
    assert plain.split(text) == d._HUMP_KEY.split(text)
    assert len(d._HUMP_KEY.split(text)) == 9


def test_a_newline_in_a_name_or_key_does_not_forge_a_line(pdebug, tmp_path):
    """A resource name or a map key holding a newline is one escaped line of the report,
    never a line of its own (a forged verdict such as "Listeners Match")."""
    doc = _load()
    cluster = _first_cluster(doc)
    old_name = cluster["name"]
    cluster["name"] = "evil\nFORGED Match"
    other = tmp_path / "evil.json"
    other.write_bytes(orjson.dumps(doc))
    result = pdebug("diff", SIDECAR, other)
    assert result.code == ExitCode.FINDINGS
    lines = result.out.splitlines()
    assert "  + evil\\nFORGED Match: only in " + str(other) in lines
    assert f"  - {old_name}: only in {SIDECAR}" in lines
    assert not [ln for ln in lines if ln.startswith("FORGED")]
    # and a changed resource's field path (map keys are data)
    doc = _load()
    meta = _first_cluster(doc).setdefault("metadata", {}).setdefault("filter_metadata", {})
    meta["k\nFORGED Match"] = {"x": 1}
    other.write_bytes(orjson.dumps(doc))
    result = pdebug("diff", SIDECAR, other)
    assert result.code == ExitCode.FINDINGS
    assert "k\\nFORGED Match" in result.out
    assert not [ln for ln in result.out.splitlines() if ln.startswith("FORGED")]


def test_node_metadata_struct_keys_are_data_all_the_way_down():
    # sweep7: snake_keys kept a node metadata key (LABELS) but respelled the keys inside
    # its value (myLabel -> my_label, PROXY_CONFIG's binaryPath -> binary_path)
    from pdebug.model.camel import snake_keys

    node = {"metadata": {"LABELS": {"myLabel": "a"}, "PROXY_CONFIG": {"binaryPath": "/x"}}}
    assert snake_keys({"node": node}) == {"node": node}
    # a respelled key inside such an entry is a difference, in both paths
    a = {"name": "c", "metadata": {"LABELS": {"myLabel": "a"}}}
    b = {"name": "c", "metadata": {"LABELS": {"my_label": "a"}}}
    assert not _full(a, b)
    assert not _fast(a, b)
    assert _full(a, a) and _fast(a, copy.deepcopy(a))


def test_an_rbac_metadata_matcher_respells_in_both_paths():
    # sweep7: keeping node metadata's Struct entries whole must not keep a MetadataMatcher
    # (an RBAC principal on a JWT claim: filter/path/value) unrespelled: istiod's
    # lowerCamelCase copy of such a listener is the same listener
    snake = {
        "filter": "istio_authn",
        "path": [{"key": "request.auth.claims"}, {"key": "groups"}],
        "value": {"list_match": {"one_of": {"string_match": {"exact": "admins"}}}},
    }
    camel = {**snake, "value": {"listMatch": {"oneOf": {"stringMatch": {"exact": "admins"}}}}}
    a = {"name": "c", "principals": [{"metadata": snake}]}
    b = {"name": "c", "principals": [{"metadata": camel}]}
    assert _full(a, b)
    assert _fast(a, b)
    other = {**snake, "value": {"string_match": {"exact": "users"}}}
    assert not _full(a, {"name": "c", "principals": [{"metadata": other}]})


def _learned(pairs: list[tuple[Any, Any]]) -> tuple[d._Seen, d._Seen]:
    """What each side respelled after comparing ``pairs`` (left, right) as compare_kind does."""
    seen = (d._Seen(), d._Seen())
    for a, b in pairs:
        d._same_meaning(_res(a).raw, _res(b).raw, seen)
    return seen


def _warm_pairs() -> list[tuple[Any, Any]]:
    """istiod's camelCase (left) against Envoy's snake_case (right), then a right-side
    resource spelling ``appVersion``, ``fooBar`` and ``tlsMode`` (its learned names)."""
    cluster = _first_cluster(_load())
    many = {"name": "v", "aaBb": 1, "ccDd": 2, "eeFf": 3, "ggHh": 4, "iiJj": 5}
    snake = {"name": "v", "aa_bb": 1, "cc_dd": 2, "ee_ff": 3, "gg_hh": 4, "ii_jj": 5}
    odd = {"name": "w", "x": {"appVersion": 1, "fooBar": 2, "tlsMode": "istio"}}
    odd_snake = {"name": "w", "x": {"app_version": 1, "foo_bar": 2, "tls_mode": "istio"}}
    return [(_camelize(copy.deepcopy(cluster)), cluster), (many, snake), (odd_snake, odd)]


#: Right sides holding a learned name where the left side spells it snake_case: in a map
#: whose keys are data (a difference) and as a field (the same field).
LEARNED_CASES: list[tuple[Any, Any, bool]] = [
    (
        {"name": "c", "fooBar": 1, "labels": {"app_version": "1"}},
        {"name": "c", "foo_bar": 1, "labels": {"appVersion": "1"}},
        False,
    ),
    (
        {"name": "c", "metadata": {"filterMetadata": {"x": {"app_version": 1}}}},
        {"name": "c", "metadata": {"filter_metadata": {"x": {"appVersion": 1}}}},
        False,
    ),
    (
        {"name": "c", "typedPerFilterConfig": {"app_version": {"fooBar": 1}}},
        {"name": "c", "typed_per_filter_config": {"appVersion": {"foo_bar": 1}}},
        False,
    ),
    (
        {"name": "c", "appVersion": 1, "fooBar": 2},
        {"name": "c", "app_version": 1, "fooBar": 2},
        True,
    ),
    ({"name": "c", "app_version": 1}, {"name": "c", "appVersion": 1}, True),
    ({"name": "c", "app_version": 1, "b": 2}, {"name": "c", "appVersion": 1, "b": 3}, False),
    # a name the right side has not respelled before: the ordinary way decides
    ({"name": "c", "new_name": 1}, {"name": "c", "newName": 1}, True),
    (
        {"name": "c", "s": 'a\\"b', "app_version": 1},
        {"name": "c", "s": 'a\\"b', "appVersion": 1},
        True,
    ),
]


@pytest.mark.parametrize(("a", "b", "same"), LEARNED_CASES)
def test_learned_names_give_the_same_answer(a, b, same):
    """The shortcut for the side with few names to respell answers as the ordinary way."""
    assert _full(a, b) is same
    for left, right in ((a, b), (b, a)):
        for warm in (_warm_pairs(), [(y, x) for x, y in _warm_pairs()]):
            seen = _learned(warm)
            assert all(s.learned for s in seen)
            assert {b"appVersion", b"fooBar"} <= (seen[0].names | seen[1].names)
            assert d._same_meaning(_res(left).raw, _res(right).raw, seen) is same, (left, right)
            assert d._same_meaning(_res(left).raw, _res(right).raw) is same


@pytest.mark.parametrize(("a", "b"), CASES)
def test_learned_names_never_loosen_the_digest(a, b):
    seen = _learned(_warm_pairs())
    for left, right in ((a, b), (b, a)):
        fast = d._same_meaning(_res(left).raw, _res(right).raw, seen)
        assert fast is d._same_meaning(_res(left).raw, _res(right).raw), (left, right)


def test_learned_names_inside_an_escaped_key_answer_as_the_ordinary_way():
    # ``"appVersion":`` is the end of the key ``x"appVersion`` here, not a key of its own
    left, right = {"name": "c", 'x"app_version': 1}, {"name": "c", 'x"appVersion': 1}
    seen = _learned(_warm_pairs())
    for a, b in ((left, right), (right, left)):
        ordinary = d._same_meaning(_res(a).raw, _res(b).raw)
        assert d._same_meaning(_res(a).raw, _res(b).raw, seen) is ordinary


def test_learned_names_stop_being_tried_after_misses_in_a_row():
    seen = _learned(_warm_pairs())
    light = min(seen, key=lambda s: len(s.names))
    assert light.worth_trying()
    left, right = {"name": "c", "fooBar": 1}, {"name": "c", "foo_bar": 2}
    pair = (left, right) if light is seen[1] else (right, left)
    for _ in range(d._TRIES):
        assert not d._same_meaning(_res(pair[0]).raw, _res(pair[1]).raw, seen)
    assert light.tries == 0 and not light.worth_trying()
    # a success resets the count
    light.tries = 1
    same = (left, {"name": "c", "foo_bar": 1})
    same = same if light is seen[1] else (same[1], same[0])
    assert d._same_meaning(_res(same[0]).raw, _res(same[1]).raw, seen)
    assert light.tries == d._TRIES
