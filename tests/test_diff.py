"""pdebug diff: istioctl's verdicts, then named resources and fields; exit 0/1/>1."""

from __future__ import annotations

import copy
import json
import random
import socket
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from pdebug.model.camel import to_camel
from tests import harness as eh
from tests.harness import FIXTURES, ISTIOCTL

PSD = ISTIOCTL / "proxy-status-diff"
SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def test_istioctl_diff_match_current(pdebug):
    dump = PSD / "current/configdump.json"
    result = pdebug("diff", dump, "--expected", dump)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "Clusters Match",
        "Listeners Match",
        "Routes Match (RDS last loaded at Mon, 04 Mar 2024 08:37:44 UTC)",
    ]


def test_istioctl_diff_match_2020_camel_v2_against_snake(pdebug):
    result = pdebug(
        "diff",
        PSD / "historical-2020/envoyconfigdump2020.json",
        "--expected",
        PSD / "historical-2020/pilotconfigdump2020.json",
    )
    assert result.code == 0, result.out
    assert result.out.splitlines() == [
        "Clusters Match",
        "Listeners Match",
        "Routes Match (RDS last loaded at Fri, 06 Mar 2020 21:51:34 UTC)",
    ]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _section(doc: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(c for c in doc["configs"] if c["@type"].endswith("." + suffix))


def _write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _cluster(doc: dict[str, Any], name: str) -> dict[str, Any]:
    entries = _section(doc, "ClustersConfigDump")["dynamic_active_clusters"]
    return next(e["cluster"] for e in entries if e["cluster"]["name"] == name)


def test_identical_dumps_match(pdebug):
    result = pdebug("diff", SIDECAR, SIDECAR)
    assert result.code == ExitCode.OK
    assert result.out.startswith("Clusters Match\nListeners Match\nRoutes Match")


def test_changed_field_added_and_removed_resources(pdebug, tmp_path):
    after = _load(SIDECAR)
    _cluster(after, eh.REVIEWS)["connect_timeout"] = "7s"
    entries = _section(after, "ClustersConfigDump")["dynamic_active_clusters"]
    entries[:] = [e for e in entries if e["cluster"]["name"] != eh.RATINGS]
    extra = copy.deepcopy(entries[0])
    extra["cluster"]["name"] = "outbound|80||new.default.svc.cluster.local"
    entries.append(extra)
    result = pdebug("diff", SIDECAR, _write(tmp_path, "after.json", after))
    assert result.code == ExitCode.FINDINGS
    lines = result.out.splitlines()
    assert lines[:3] == ["Clusters Don't Match", "Listeners Match", lines[2]] and lines[
        2
    ].startswith("Routes Match")
    assert f"  - {eh.RATINGS}: only in {SIDECAR}" in lines
    assert (
        "  + outbound|80||new.default.svc.cluster.local: only in " + str(tmp_path / "after.json")
        in lines
    )
    i = lines.index(f"  ~ {eh.REVIEWS}")
    old = _cluster(_load(SIDECAR), eh.REVIEWS)["connect_timeout"]
    assert lines[i + 1] == f'      connect_timeout: "{old}" -> "7s"'


def test_order_spelling_types_and_defaults_do_not_matter(pdebug, tmp_path):
    doc = _load(SIDECAR)
    other = copy.deepcopy(doc)
    random.Random(7).shuffle(_section(other, "ClustersConfigDump")["dynamic_active_clusters"])
    for entry in _section(other, "RoutesConfigDump")["dynamic_route_configs"]:
        entry["route_config"]["virtual_hosts"].reverse()
        entry["version_info"] = "999"
    cluster = _cluster(other, eh.REVIEWS)
    cluster["@type"] = "type.googleapis.com/envoy.api.v2.Cluster"
    cluster["respect_dns_ttl"] = False  # an explicit proto3 default
    camel = _camelize(other)
    result = pdebug("diff", SIDECAR, _write(tmp_path, "camel.json", camel))
    assert result.code == ExitCode.OK, result.out


def _camelize(value: Any, parent: str = "") -> Any:
    if isinstance(value, list):
        return [_camelize(v, parent) for v in value]
    if isinstance(value, dict):
        if parent in ("filter_metadata", "metadata") and parent != "":
            if parent == "filter_metadata":
                return value
        return {
            (k if parent == "filter_metadata" else to_camel(k)): _camelize(v, k)
            for k, v in value.items()
        }
    return value


def test_ignore_regex_and_json_report(pdebug, tmp_path):
    after = _load(SIDECAR)
    _cluster(after, eh.REVIEWS)["connect_timeout"] = "7s"
    path = _write(tmp_path, "after.json", after)
    assert pdebug("diff", SIDECAR, path, "--ignore", r"^connect_timeout$").code == ExitCode.OK
    result = pdebug("diff", SIDECAR, path, "-o", "json")
    assert result.code == ExitCode.FINDINGS
    report = json.loads(result.out)
    assert report["match"] is False
    clusters = report["kinds"][0]
    assert clusters["verdict"] == "Clusters Don't Match"
    assert clusters["changes"] == [
        {
            "name": eh.REVIEWS,
            "status": "changed",
            "fields": [
                {
                    "path": "connect_timeout",
                    "left": _cluster(_load(SIDECAR), eh.REVIEWS)["connect_timeout"],
                    "right": "7s",
                }
            ],
        }
    ]


def test_unified_diff_like_istioctl(pdebug, tmp_path):
    after = _load(SIDECAR)
    _cluster(after, eh.REVIEWS)["connect_timeout"] = "7s"
    result = pdebug(
        "diff", _write(tmp_path, "after.json", after), "--expected", SIDECAR, "--unified"
    )
    assert result.code == ExitCode.FINDINGS
    assert f"--- expected ({SIDECAR}) Clusters" in result.out
    assert '+    "connect_timeout": "7s",' in result.out.replace("  ", " ") or '"7s"' in result.out


def test_include_secrets_and_endpoints(pdebug, tmp_path):
    after = _load(SIDECAR)
    eps = _section(after, "EndpointsConfigDump")["dynamic_endpoint_configs"]
    cla = next(
        e["endpoint_config"] for e in eps if e["endpoint_config"]["cluster_name"] == eh.RATINGS
    )
    cla["endpoints"][0]["lb_endpoints"].pop()
    path = _write(tmp_path, "after.json", after)
    assert pdebug("diff", SIDECAR, path).code == ExitCode.OK
    result = pdebug("diff", SIDECAR, path, "--include", "endpoints,secrets")
    assert result.code == ExitCode.FINDINGS
    assert "Endpoints Don't Match" in result.out and "Secrets Match" in result.out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--include", "bogus"], "--include bogus"),
        (["--expected", "x.json", "y.json"], "not both"),
        ([str(SIDECAR), "-o", "markdown"], "-o markdown: not supported by pdebug diff"),
        ([str(SIDECAR), "-o", "md"], "use -o table, wide, json or yaml"),
    ],
)
def test_usage_errors(pdebug, args, needle):
    result = pdebug("diff", SIDECAR, *args)
    assert result.code == ExitCode.USAGE and needle in result.err


def test_bad_input_side_is_an_error_not_a_difference(pdebug, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("<html>oops</html>")
    result = pdebug("diff", SIDECAR, bad)
    assert result.code == ExitCode.INVALID_INPUT
    assert "HTML page" in result.err


# --- the real Envoy scenario --------------------------------------------------------


@pytest.mark.envoy
@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")
def test_rejected_listener_and_changed_cluster_on_a_real_envoy(pdebug, tmp_path):
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    port = held.getsockname()[1]
    try:
        with eh.istio_sidecar() as run:
            v2 = copy.deepcopy(run.resources)
            # a cluster change Envoy applies (expected == actual afterwards) ...
            next(c for c in v2.clusters if c["name"] == eh.DETAILS)["connect_timeout"] = "4s"
            # ... and one it rejects, silently: it keeps the old cluster
            rejected = next(c for c in v2.clusters if c["name"] == eh.RATINGS)
            old_timeout = rejected.get("connect_timeout")
            rejected["connect_timeout"] = "3s"
            rejected["lb_policy"] = "CLUSTER_PROVIDED"  # invalid for an EDS cluster
            bad = copy.deepcopy(next(x for x in v2.listeners if x["name"] == "virtualOutbound"))
            bad["name"] = "held_port"
            bad["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
            v2.listeners.append(bad)
            run.xds.write_cds(v2.clusters)
            run.xds.write_lds(v2.listeners)
            run.envoy.wait_for(
                lambda: (
                    b"held_port" in (body := run.envoy.get("/config_dump"))
                    and b'"4s"' in body
                    and b"error_state" in body
                ),
                15,
                message="v2 applied with a rejected listener",
            )
            actual = tmp_path / "envoy.json"
            actual.write_bytes(run.envoy.get("/config_dump"))
            expected = _write(tmp_path, "istiod.json", v2.config_dump())
            result = pdebug("diff", actual, "--expected", expected)
            live = pdebug("diff", run.envoy.admin_url, "--expected", expected)
    finally:
        held.close()
    assert result.code == ExitCode.FINDINGS, result.out
    lines = result.out.splitlines()
    assert lines[0] == "Clusters Don't Match"
    assert lines[1] == "Listeners Don't Match"
    assert lines[2].startswith("Routes Match (RDS last loaded at ")
    # the rejected listener, with Envoy's own reason
    notes = [line for line in lines if line.startswith("  ! held_port: Envoy rejected an update")]
    assert notes and "127.0.0.1:" + str(port) in notes[0], result.out
    assert any(line.startswith("  - held_port: only in expected") for line in lines)
    # the cluster Envoy silently kept at v1, field by field, and nothing else
    i = lines.index(f"  ~ {eh.RATINGS}")
    assert lines[i + 1 : i + 3] == [
        f'      connect_timeout: "3s" -> "{old_timeout}"',
        '      lb_policy: "CLUSTER_PROVIDED" -> "LEAST_REQUEST"',
    ], result.out
    changed = [line.split(":")[0] for line in lines if line.startswith(("  ~", "  -", "  +"))]
    assert changed == [f"  ~ {eh.RATINGS}".split(":")[0], "  - held_port"]
    assert live.code == ExitCode.FINDINGS and live.out.splitlines()[:2] == lines[:2]


def test_a_rejection_left_only_in_the_nameless_twin_is_still_seen(pdebug, tmp_path):
    # sweep5: a dump whose only trace of a rejected listener is a name-less entry with
    # `error_state` (the model and `pdebug check` count it) lost it in diff: the same
    # rejection read "- held_port: only in A", and a new one was no difference at all.
    envoy = FIXTURES / "diff" / "envoy.json"
    doc = _load(envoy)
    section = _section(doc, "ListenersConfigDump")
    only_twin = copy.deepcopy(doc)
    _section(only_twin, "ListenersConfigDump")["dynamic_listeners"] = [
        e for e in section["dynamic_listeners"] if e.get("name") != "held_port"
    ]
    same = pdebug("diff", envoy, _write(tmp_path, "twin.json", only_twin))
    assert same.code == ExitCode.OK, same.out + same.err
    assert "! held_port: Envoy rejected an update" in same.out
    assert "only in" not in same.out
    clean = copy.deepcopy(doc)
    _section(clean, "ListenersConfigDump")["dynamic_listeners"] = [
        e for e in section["dynamic_listeners"] if "error_state" not in e
    ]
    new = pdebug(
        "diff", _write(tmp_path, "clean.json", clean), _write(tmp_path, "t.json", only_twin)
    )
    assert new.code == ExitCode.FINDINGS, new.out + new.err
    assert "! held_port: Envoy rejected an update" in new.out
    assert "+ held_port: only in" in new.out


def test_a_duplicate_resource_name_is_said_not_silently_dropped(pdebug, tmp_path):
    # sweep5: a dump listing one cluster twice (merged or hand-edited captures) compared
    # only the last copy and said nothing: the first copy's fields vanished unseen.
    doc = _load(SIDECAR)
    entries = _section(doc, "ClustersConfigDump")["dynamic_active_clusters"]
    twin = copy.deepcopy(entries[0])
    twin["cluster"]["connect_timeout"] = "99s"
    entries.append(twin)
    name = twin["cluster"]["name"]
    r = pdebug("diff", SIDECAR, _write(tmp_path, "dup.json", doc), "-o", "json")
    assert r.code == ExitCode.FINDINGS
    json.loads(r.out)  # warnings stay on stderr
    assert f"cluster '{name}' appears more than once; the last one is compared" in r.err
    assert r.err.count("\n") == 1 and "Traceback" not in r.err


def test_stdin_for_both_sides_is_a_usage_error(pdebug, monkeypatch):
    # sweep5: `pdebug diff - - < dump.json` read the dump for one side and an empty
    # stdin for the other: "stdin: the input is empty", exit 4 (damaged input).
    import io

    for args in (("-", "-"), ("-", "--expected", "-")):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(SIDECAR.read_bytes())))
        r = pdebug("diff", *args)
        assert r.code == ExitCode.USAGE, r.err
        assert "read only once" in r.err and r.err.count("\n") <= 2


def test_a_side_without_a_whole_section_is_not_compared(pdebug, tmp_path):
    # sweep7: a masked capture (secrets only: fixtures/corpus/istio/2023-06-secret)
    # called every cluster, listener and route of the other side "only in" it, as if
    # the proxy had lost them. The verdict now says the kind was not compared and why;
    # still exit 1, since nothing proves the two the same.
    masked = FIXTURES / "corpus" / "istio" / "2023-06-secret" / "config_dump.json"
    r = pdebug("diff", SIDECAR, masked, "--include", "secrets")
    assert r.code == ExitCode.FINDINGS, r.err
    lines = r.out.splitlines()
    assert lines[:3] == [
        f"{title} Not Compared ({masked} has no {kind} section)"
        for title, kind in (("Clusters", "clusters"), ("Listeners", "listeners"))
        + (("Routes", "routes"),)
    ]
    assert lines[3].startswith("Secrets ") and "only in" not in r.out.split("Secrets:")[0]
    doc = json.loads(pdebug("diff", masked, SIDECAR, "-o", "json").out)
    assert doc["match"] is False
    assert [k["not_compared"] for k in doc["kinds"]] == [
        f"{masked} has no {kind} section" for kind in ("clusters", "listeners", "routes")
    ]
    assert all(k["changes"] == [] for k in doc["kinds"])
    unified = pdebug("diff", masked, SIDECAR, "--unified")
    assert unified.code == ExitCode.FINDINGS and "---" not in unified.out
    # a section both sides lack is compared as before (nothing on either side)
    assert pdebug("diff", masked, masked).code == ExitCode.OK
    # a whole dump without secrets (older Envoys write none then) holds none: compared
    doc = _load(SIDECAR)
    doc["configs"] = [c for c in doc["configs"] if "SecretsConfigDump" not in c["@type"]]
    none = _write(tmp_path, "no-secrets.json", doc)
    r = pdebug("diff", SIDECAR, none, "--include", "secrets")
    assert "Secrets Don't Match" in r.out and f"- default: only in {SIDECAR}" in r.out


def test_a_resource_with_two_name_keys_is_named_by_the_last_as_every_view_names_it(
    pdebug, tmp_path
):
    # sweep12: JSON decoders keep the last of duplicate keys (so does every view), while
    # diff's shortcut read the first: it reported the cluster under a name no view shows.
    doc = _load(SIDECAR)
    entries = _section(doc, "ClustersConfigDump")["dynamic_active_clusters"]
    old = entries[0]["cluster"]["name"]
    entries[0]["cluster"]["zz-second-name"] = "renamed-by-its-last-key"
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(doc, indent=2).replace('"zz-second-name"', '"name"'))
    r = pdebug("diff", SIDECAR, path, "-o", "json")
    assert r.code == ExitCode.FINDINGS, r.err
    changes = {
        (c["name"], c["status"])
        for k in json.loads(r.out)["kinds"]
        if k["kind"] == "clusters"
        for c in k["changes"]
    }
    assert changes == {(old, "only-left"), ("renamed-by-its-last-key", "only-right")}
    assert "renamed-by-its-last-key" in pdebug("pc", "cluster", path, "-o", "json").out
    # The unified diff finds both under the same names.
    r = pdebug("diff", SIDECAR, path, "--unified")
    assert "renamed-by-its-last-key" in r.out, r.out
