"""Decoding never escapes the error funnel: exit 4, or one resource skipped with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
CLUSTERS = FIXTURES / "real" / "sidecar" / "clusters.json"
SYNCZ = FIXTURES / "istioctl/proxy-status/xds/xds_syncz_single_pilot.reconstructed.json"
DEEP = "[" * 100_000 + "]" * 100_000


def _doc() -> dict[str, Any]:
    return json.loads(SIDECAR.read_bytes())


def _clusters(doc: dict[str, Any]) -> list[dict[str, Any]]:
    sec = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    return sec["dynamic_active_clusters"]


def _write(tmp_path: Path, text: str | bytes, name: str = "d.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _one_error(result: Any, source: Path) -> None:
    assert result.code == ExitCode.INVALID_INPUT, (result.code, result.err)
    lines = [x for x in result.err.splitlines() if not x.startswith("pdebug: warning: ")]
    assert lines[0].startswith("pdebug: error: "), result.err
    assert "Traceback" not in result.err and "internal error" not in result.err


@pytest.mark.parametrize(
    "args",
    [
        ["clusters"],
        ["listeners"],
        ["routes"],
        ["endpoints"],
        ["secrets"],
        ["all", "-o", "json"],
        ["check"],
        ["trace", "@", "http://reviews:9080/"],
    ],
    ids=lambda a: a[0],
)
@pytest.mark.parametrize("where", ["section", "resource", "top"])
def test_deep_nesting_is_exit_4(pdebug, tmp_path: Path, args: list[str], where: str) -> None:
    doc = _doc()
    if where == "section":
        sec = next(c for c in doc["configs"] if c["@type"].endswith("ListenersConfigDump"))
        sec["dynamic_listeners"] = "@DEEP@"
        for c in doc["configs"]:
            c["x"] = "@DEEP@"
    elif where == "resource":
        _clusters(doc)[0]["cluster"]["name"] = "@DEEP@"
    else:
        doc["x"] = "@DEEP@"
    path = _write(tmp_path, json.dumps(doc).replace('"@DEEP@"', DEEP))
    argv = [str(path) if a == "@" else a for a in args]
    if "@" not in args:
        argv.insert(1, str(path))
    result = pdebug(*argv)
    assert result.code in (ExitCode.OK, ExitCode.FINDINGS, ExitCode.INVALID_INPUT), result.err
    assert "Traceback" not in result.err and "internal error" not in result.err


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"connect_timeout"', '"connect_timeout": 123456789012345678901234567890, "x"'),
        ('"connect_timeout"', '"connect_timeout": 1e999, "x"'),
        ('"name": "outbound', '"name": "\xff\xfeoutbound'),
    ],
    ids=["int-beyond-64-bits", "infinity", "invalid-utf8-in-a-name"],
)
def test_bad_numbers_and_bytes_are_exit_4_or_one_resource(
    pdebug, tmp_path: Path, old: str, new: str
) -> None:
    text = SIDECAR.read_bytes().decode()
    path = _write(
        tmp_path,
        text.replace(old, new, 1).encode("latin-1", "ignore")
        if "\xff" in new
        else text.replace(old, new, 1),
    )
    for args in (["clusters", "-o", "wide"], ["all", "-o", "json"], ["diff", SIDECAR], ["check"]):
        result = pdebug(args[0], path, *args[1:])
        assert result.code in (0, 1, 4), (args, result.err)
        assert "internal error" not in result.err
        if result.code == 4:
            _one_error(result, path)
            assert args[0] == "check" or str(path) in result.err


def test_a_wrong_type_in_one_cluster_skips_it_with_a_warning(pdebug, tmp_path: Path) -> None:
    doc = _doc()
    clusters = _clusters(doc)
    victim = clusters[1]["cluster"]["name"]
    clusters[1]["cluster"]["type"] = {"not": "an enum"}
    clusters[2]["cluster"]["eds_cluster_config"] = 5
    path = _write(tmp_path, json.dumps(doc))
    result = pdebug("clusters", path, "-o", "wide")
    assert result.code == ExitCode.OK, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("pdebug: warning:")]
    assert len(warnings) == 2, result.err
    assert (
        "dynamic_active_clusters[1] skipped" in warnings[0] and "$[1].cluster.type" in warnings[0]
    )
    full = pdebug("clusters", SIDECAR, "-o", "wide")
    assert len(result.out.splitlines()) == len(full.out.splitlines()) - 2
    # -o json still prints each kept resource as it is in the dump (not a shifted one)
    js = pdebug("clusters", path, "-o", "json")
    names = [c["name"] for c in json.loads(js.out)]
    every = [c["name"] for c in json.loads(pdebug("clusters", SIDECAR, "-o", "json").out)]
    assert victim not in names and len(names) == len(every) - 2


def test_a_wrong_type_in_one_listener_route_endpoint_secret(pdebug, tmp_path: Path) -> None:
    doc = _doc()
    by = {c["@type"].rsplit(".", 1)[-1]: c for c in doc["configs"]}
    by["ListenersConfigDump"]["dynamic_listeners"][0]["active_state"] = "oops"
    by["RoutesConfigDump"]["static_route_configs"][0]["route_config"]["virtual_hosts"] = 7
    eps = by["EndpointsConfigDump"]["dynamic_endpoint_configs"]
    eps[0]["endpoint_config"]["endpoints"] = {"x": 1}
    by["SecretsConfigDump"]["dynamic_active_secrets"][0]["secret"] = []
    path = _write(tmp_path, json.dumps(doc))
    for view in ("listeners", "routes", "endpoints", "secrets", "all", "check"):
        result = pdebug(view, path)
        assert result.code in (0, 1), (view, result.err)
        assert "skipped" in result.err, view


def test_clusters_json_and_status_file_damage_is_exit_4(pdebug, tmp_path: Path) -> None:
    for name, data in [
        ("deep.json", '{"cluster_statuses": ' + DEEP + "}"),
        ("utf8.json", b'{"cluster_statuses": [{"name": "\xff"}]}'),
        ("top.json", "7"),
    ]:
        path = _write(tmp_path, data, name)
        result = pdebug("endpoints", SIDECAR, "--clusters-json", path)
        assert result.code == ExitCode.INVALID_INPUT, (name, result.err)
        result = pdebug("endpoints", path)
        assert result.code == ExitCode.INVALID_INPUT, (name, result.err)
    for name, data in [
        ("deep.json", DEEP),
        ("utf8.json", b"\xff[1]"),
        ("utf8b.json", b'[{"a": "\xff"}]'),
    ]:
        path = _write(tmp_path, data, name)
        result = pdebug("status", "--file", path)
        _one_error(result, path)


def test_one_bad_cluster_status_is_skipped(pdebug, tmp_path: Path) -> None:
    doc = json.loads(CLUSTERS.read_bytes())
    doc["cluster_statuses"][0]["host_statuses"] = "x"
    path = _write(tmp_path, json.dumps(doc))
    result = pdebug("endpoints", path)
    assert result.code == ExitCode.OK, result.err
    assert "cluster_statuses[0] skipped" in result.err


def test_invalid_utf8_inside_undecoded_subtrees(pdebug, tmp_path: Path) -> None:
    """Raw subtrees (metadata, typed_config) are checked only when read: still never exit 5."""
    data = SIDECAR.read_bytes()
    for needle in (b'"/apis/networking.istio.io', b'"type.googleapis.com/envoy.extensions'):
        assert needle in data
        path = _write(tmp_path, data.replace(needle, needle[:1] + b"\xff" + needle[1:]))
        for args in (["clusters", "-o", "wide"], ["listeners"], ["check"], ["all"]):
            result = pdebug(args[0], path, *args[1:])
            assert result.code in (0, 1, 4), (args, result.err)
            assert "internal error" not in result.err, (args, result.err)


def test_a_null_list_is_empty(pdebug, tmp_path: Path) -> None:
    doc = _doc()
    sec = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    sec["dynamic_active_clusters"] = None
    result = pdebug("clusters", _write(tmp_path, json.dumps(doc)))
    assert result.code == ExitCode.OK, result.err
    assert "xds-grpc" in result.out  # a static cluster


@pytest.mark.parametrize("depth", [150, 300, 600, 900])
def test_nesting_that_json_libraries_accept_is_still_bounded(pdebug, tmp_path: Path, depth: int):
    """Deep enough for orjson/msgspec, too deep for recursive walkers: exit 4, never 5."""
    doc = _doc()
    sec = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    sec["dynamic_active_clusters"][2]["cluster"]["metadata"] = {"filter_metadata": {"x": "@D@"}}
    boot = next(c for c in doc["configs"] if c["@type"].endswith("BootstrapConfigDump"))
    boot["bootstrap"]["node"]["metadata"]["X"] = "@D@"
    nested = "[" * depth + "]" * depth
    path = _write(tmp_path, json.dumps(doc).replace('"@D@"', nested))
    for args in (
        ["clusters", path, "-o", "json"],
        ["clusters", path, "-o", "yaml"],
        ["bootstrap", path],
        ["bootstrap", path, "-o", "yaml"],
        ["all", path, "-o", "json"],
        ["diff", SIDECAR, path],
        ["check", path],
        ["report", path, "-o", tmp_path / "r.html"],
    ):
        result = pdebug(*args)
        assert result.code in (0, 1, 4), (args, result.err)
        assert "internal error" not in result.err, (args, result.err)
    syncz = _write(tmp_path, "[" + nested + "]", "syncz.json")
    assert pdebug("status", "--file", syncz, "-o", "json").code == ExitCode.INVALID_INPUT


def test_depth_bound_without_lowering_the_limit_in_threads(monkeypatch) -> None:
    """With other threads running, the shared recursion limit is left alone."""
    import sys
    import threading

    from pdebug.errors import InvalidInput
    from pdebug.model import dump as d

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not d.can_bound()
        limit = sys.getrecursionlimit()
        monkeypatch.setattr(sys, "setrecursionlimit", lambda n: pytest.fail("limit changed"))
        with pytest.raises(InvalidInput, match="nested deeper than"):
            d.plain_json(b"[" * 150 + b"]" * 150, "x")
        assert d.plain_json(b"[" * 50 + b"]" * 50, "x")
        assert sys.getrecursionlimit() == limit
    finally:
        stop.set()
        worker.join()
