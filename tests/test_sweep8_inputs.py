"""Inputs the correctness sweep (sweep8) found mishandled, each as it was and as it is.

- stdin (``-``) refused every text document from its head: a YAML dump (``YAML ok``),
  text ``/stats`` and Prometheus (``pdebug stats -`` said "this looks like Envoy's /stats
  ... hint: read it with: pdebug stats -", the very command), ``istioctl proxy-status -o
  yaml`` (``status --file -``); the same bytes from a file were read.
- ``pdebug stats`` of UTF-16 text said "binary data" (other readers name the encoding).
- A ``/stats?format=json`` value that is null or an object printed as Python
  (``None``, ``{'a': 1}``).
- A JSON scalar (``null``, ``"x"``, ``3``) was called "not JSON".
"""

from __future__ import annotations

import io
import json

import pytest
import yaml

from tests.harness import FIXTURES, ISTIOCTL

DUMP = ISTIOCTL / "proxy-config-all/config_dump.json"
SYNCZ = sorted((FIXTURES / "istioctl/proxy-status/xds").glob("*.json"))[0]


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_a_yaml_dump_on_stdin_reads_as_the_same_file(pdebug, monkeypatch, tmp_path):
    text = yaml.safe_dump(json.loads(DUMP.read_bytes())).encode()
    path = tmp_path / "dump.yaml"
    path.write_bytes(text)
    want = pdebug("clusters", path)
    assert want.code == 0 and "httpbin" in want.out, want
    _stdin(monkeypatch, text)
    assert pdebug("clusters", "-") == want


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"server.live: 1\ncluster_manager.cds.update_rejected: 2\n", "update_rejected     2"),
        (b"# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n", "envoy_server_live{}"),
        (b'{"stats": [{"name": "server.live", "value": 1}]}', "server.live"),
    ],
)
def test_stats_on_stdin(pdebug, monkeypatch, data, needle):
    _stdin(monkeypatch, data)
    result = pdebug("stats", "-")
    assert result.code == 0 and needle in result.out, result


def test_status_yaml_on_stdin(pdebug, monkeypatch, tmp_path):
    text = yaml.safe_dump(json.loads(SYNCZ.read_bytes())).encode()
    path = tmp_path / "status.yaml"
    path.write_bytes(text)
    want = pdebug("status", "--file", path)
    assert want.code == 0 and want.out, want
    _stdin(monkeypatch, text)
    assert pdebug("status", "--file", "-") == want


@pytest.mark.parametrize(
    ("data", "command", "needle"),
    [
        (b"y\n" * 50_000, "clusters", "not JSON (starts with 'y')"),  # refused from its head
        (b"server.live: 1\n", "clusters", "this looks like Envoy's text /stats"),
        (b"a: b\n", "clusters", "YAML without a 'configs' list"),
        (b"\x00\x01binary", "stats", "binary data"),
    ],
)
def test_other_text_on_stdin_is_still_one_line(pdebug, monkeypatch, data, command, needle):
    _stdin(monkeypatch, data)
    result = pdebug(command, "-")
    assert result.code == 4 and result.out == "", result
    assert result.err.startswith("pdebug: error: stdin: ") and needle in result.err, result.err


def test_stats_in_utf16_names_the_encoding(pdebug, tmp_path):
    path = tmp_path / "stats.txt"
    path.write_bytes("server.live: 1\n".encode("utf-16"))
    result = pdebug("stats", path)
    assert result.code == 4, result
    assert f"{path}: this is UTF-16 text" in result.err and "iconv" in result.err


def test_a_null_stat_value_prints_as_json(pdebug, tmp_path):
    path = tmp_path / "stats.json"
    path.write_bytes(b'{"stats": [{"name": "a", "value": null}]}')
    result = pdebug("stats", path)
    assert result.code == 0 and result.out.splitlines()[1].split() == ["a", "null"], result


@pytest.mark.parametrize("value", [{"x": 1}, [1], json.loads("[" * 600 + "]" * 600)])
def test_a_stat_value_that_is_an_object_or_list_is_refused(pdebug, tmp_path, value):
    """Was Python's repr ({'x': 1}); 600 levels deep, exit 5 (found by test_fuzz.py)."""
    path = tmp_path / "stats.json"
    path.write_text(
        json.dumps({"stats": [{"name": "a", "value": 1}, {"name": "b", "value": value}]})
    )
    result = pdebug("stats", path)
    assert result.code == 4 and result.out == "", result
    assert result.err.startswith(f"pdebug: error: {path}: the value of stat 'b' is a JSON ")


@pytest.mark.parametrize(
    ("data", "what"),
    [(b"null", "null"), (b'"x"\n', "string"), (b" 3 ", "number"), (b"true", "boolean")],
)
def test_a_json_scalar_is_named_as_one(pdebug, tmp_path, data, what):
    path = tmp_path / "d.json"
    path.write_bytes(data)
    result = pdebug("clusters", path)
    assert result.code == 4, result
    assert f"{path}: this is a JSON {what}, not an Envoy config dump" in result.err


@pytest.mark.parametrize("data", [b"NaN", b"1e999", b"nulls"])
def test_not_json_stays_not_json(pdebug, tmp_path, data):
    path = tmp_path / "d.json"
    path.write_bytes(data)
    result = pdebug("clusters", path)
    assert result.code == 4 and "not JSON (starts with" in result.err, result


@pytest.mark.parametrize("depth", [150, 500, 900])
@pytest.mark.parametrize(
    "argv", [["zc", "all"], ["zc", "workload", "-o", "yaml"], ["check"], ["diff"]]
)
def test_a_deeply_nested_ztunnel_field_is_one_line(pdebug, tmp_path, depth, argv):
    """A workload's field nested some 500 levels was exit 5 (RecursionError in the
    respelling walk); now refused as Envoy dumps are, beyond 100 levels."""
    doc = json.loads((ISTIOCTL / "ztunnel-config/dump.json").read_bytes())
    first = next(iter(doc["workloads"].values()))
    first["namespace"] = json.loads("[" * depth + "1" + "]" * depth)
    path = tmp_path / "zt.json"
    path.write_text(json.dumps(doc))
    if argv == ["diff"]:
        argv = ["diff", str(ISTIOCTL / "ztunnel-config/dump.json"), str(path)]
    else:
        argv = [*argv[:-2], str(path), *argv[-2:]] if "-o" in argv else [*argv, str(path)]
    result = pdebug(*argv)
    assert result.code == 4, result
    assert result.err.startswith(f"pdebug: error: {path}: nested deeper than 100 levels")


@pytest.mark.parametrize(
    ("histograms", "needle"),
    [
        (
            {"supported_quantiles": 3.5, "computed_quantiles": []},
            "supported_quantiles: a JSON number",
        ),
        ({"supported_quantiles": [0], "computed_quantiles": 3.5}, "computed_quantiles: a JSON"),
        (
            {"supported_quantiles": [0], "computed_quantiles": [{"name": "h", "values": 7}]},
            "the values of histogram 'h': a JSON number",
        ),
        (  # was read as quantiles 'a' and 'b': "Pa=1"
            {"supported_quantiles": "ab", "computed_quantiles": [{"name": "h", "values": [{}]}]},
            "supported_quantiles: a JSON string",
        ),
        ({"supported_percentiles": [0], "details": {"x": 1}}, "details: a JSON object"),
        ([{"name": "h", "buckets": 7}], "the buckets of histogram 'h': a JSON number"),
    ],
)
def test_stats_histograms_of_the_wrong_shape_are_one_line(pdebug, tmp_path, histograms, needle):
    """Were exit 5 ("'float' object is not iterable"), found by tests/test_fuzz.py."""
    path = tmp_path / "stats.json"
    path.write_text(json.dumps({"stats": [{"name": "a", "value": 1}, {"histograms": histograms}]}))
    result = pdebug("stats", path)
    assert result.code == 4 and result.out == "", result
    assert result.err.startswith(f"pdebug: error: {path}: {needle}"), result.err


def test_stats_histograms_with_null_lists_are_empty(pdebug, tmp_path):
    path = tmp_path / "stats.json"
    doc = {"histograms": {"supported_quantiles": None, "computed_quantiles": [{"name": "h"}]}}
    path.write_text(json.dumps({"stats": [doc]}))
    result = pdebug("stats", path)
    assert result.code == 0 and result.out.splitlines()[1].split() == ["h", "-"], result


def test_a_legacy_ztunnel_index_with_an_object_namespace(pdebug, tmp_path):
    """ztunnel 1.19's services_by_hostname with a namespace that is an object: exit 5
    (unhashable type: 'dict'), found by tests/test_fuzz.py."""
    doc = json.loads((FIXTURES / "corpus/ztunnel/2023-05/dump.json").read_bytes())
    first = next(iter(doc["services_by_hostname"].values()))
    first["namespace"] = {"x": 1}
    path = tmp_path / "zt.json"
    path.write_text(json.dumps(doc))
    for argv in (["zc", "service", str(path)], ["check", str(path)]):
        result = pdebug(*argv)
        assert result.code in (0, 1), result
        assert "internal error" not in result.err


def _with_route(tmp_path, match: dict) -> str:
    doc = json.loads((FIXTURES / "real/sidecar/config_dump.json").read_bytes())
    for sec in doc["configs"]:
        for rc in sec.get("dynamic_route_configs", []):
            for vh in rc["route_config"].get("virtual_hosts", []):
                if any(d.startswith("reviews") for d in vh["domains"]):
                    route = {"match": match, "route": {"cluster": "BlackHoleCluster"}}
                    vh["routes"].insert(0, {**route, "name": "evil"})
    path = tmp_path / "redos.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize(
    "match",
    [
        {"safe_regex": {"regex": "/(a+)+"}},
        {"prefix": "/", "headers": [{"name": "x", "safe_regex_match": {"regex": "(a|aa)+"}}]},
        {
            "prefix": "/",
            "headers": [{"name": "x", "string_match": {"safe_regex": {"regex": "(a+)+"}}}],
        },
    ],
)
def test_a_backtracking_route_regex_is_bounded(pdebug, tmp_path, match):
    """Python's re is exponential on these (RE2 is linear): trace ran for minutes."""
    import time

    dump = _with_route(tmp_path, match)
    url = "http://reviews:9080/" + "a" * 60 + "!"
    start = time.monotonic()
    result = pdebug("trace", dump, url, "-H", "x: " + "a" * 60 + "!")
    assert time.monotonic() - start < 8, result
    assert result.code in (0, 1, 6), result
    if "safe_regex" in match:  # a path regex is a caveat of the verdict
        assert "pdebug gave up after 0.5s" in result.out + result.err, result


def test_a_backtracking_matcher_tree_regex_is_unknown_in_bounded_time():
    import time

    from pdebug.trace import matchers

    start = time.monotonic()
    got = matchers._string_match({"safe_regex": {"regex": "(a+)+"}}, "a" * 60 + "!")
    assert time.monotonic() - start < 3
    assert isinstance(got, matchers._Unknown) and "gave up" in got.why
    assert matchers._string_match({"safe_regex": {"regex": "a+"}}, "aaa") is True


def test_a_backtracking_redirect_regex_rewrite_is_bounded(pdebug, tmp_path):
    """A redirect's regex_rewrite (sweep6) runs under the same budget as route regexes."""
    import time

    doc = json.loads((FIXTURES / "real/sidecar/config_dump.json").read_bytes())
    for sec in doc["configs"]:
        for rc in sec.get("dynamic_route_configs", []):
            for vh in rc["route_config"].get("virtual_hosts", []):
                if any(d.startswith("reviews") for d in vh["domains"]):
                    rewrite = {"pattern": {"regex": "(a+)+$"}, "substitution": "x"}
                    redirect = {"regex_rewrite": rewrite}
                    route = {"match": {"prefix": "/"}, "redirect": redirect, "name": "evil"}
                    vh["routes"].insert(0, route)
    path = tmp_path / "redos-redirect.json"
    path.write_text(json.dumps(doc))
    start = time.monotonic()
    result = pdebug("trace", str(path), "http://reviews:9080/" + "a" * 60 + "!")
    assert time.monotonic() - start < 8, result
    assert result.code in (0, 1, 6), result
    assert "redirect regex_rewrite not applied" in result.out + result.err, result
