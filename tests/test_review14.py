"""Review of the twelfth session's merges (bugreport, perfreport11, trace13, marks_held).

A folder holding two unpacked ``istioctl bug-report`` folders (two clusters' reports
unpacked side by side) was read as the first of them alone: ``pdebug check FOLDER``
printed one cluster's proxies and said nothing of the other's. An archive of two
reports merged them (their istiods' sync status too). Both are now refused, naming the
reports; each one alone still reads.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from pdebug.errors import ExitCode
from tests import harness as eh
from tests.harness import bugreport as br

#: istioctl's own test dump (../shared/peers/istioctl), as a sidecar's config_dump answer.
DUMP = (eh.ISTIOCTL / "proxy-config-all" / "config_dump.json").read_bytes()
SYNCZ = (
    eh.ISTIOCTL / "proxy-status" / "legacy-http-syncz" / "http_syncz_multi_pilot.reconstructed.json"
)

EAST = {("default", "web-1"): {"config_dump?include_eds": DUMP, "istio-proxy.log": b"x\n"}}
WEST = {("prod", "api-1"): {"config_dump?include_eds": DUMP, "istio-proxy.log": b"y\n"}}


def _istiod(pod: str) -> dict[tuple[str, str], br.Folder]:
    items = next(iter(json.loads(SYNCZ.read_bytes()).values()))
    return {("istio-system", pod): {"debug/syncz": json.dumps(items).encode()}}


def _two(tmp: Path) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    east = br.members(EAST, _istiod("istiod-east"), root="bug-report-east")
    west = br.members(WEST, _istiod("istiod-west"), root="bug-report-west")
    return east, west


def _assert_one_error(result: eh.Result, code: int) -> None:
    assert result.code == code, result
    assert "Traceback" not in result.err
    errors = [line for line in result.err.splitlines() if line.startswith("pdebug: error: ")]
    assert len(errors) == 1, result.err


def _checked(result: eh.Result) -> str:
    """The one proxy ``check -o json`` of a one-proxy report checked."""
    assert result.code in (0, 1), result
    source: str = json.loads(result.out)["source"]
    return source.rpartition(":")[2]


def test_a_folder_of_two_unpacked_bug_reports_is_refused_not_half_read(pdebug, tmp_path):
    east, west = _two(tmp_path)
    folder = tmp_path / "reports"
    br.unpack(east + west, folder)
    for args in (["check", folder], ["clusters", f"{folder}:web-1.default"]):
        result = pdebug(*args)
        _assert_one_error(result, ExitCode.USAGE)
        assert "bug-report-east" in result.err and "bug-report-west" in result.err, result.err
    # each report alone reads (its own proxies only)
    for name, proxy in (("bug-report-east", "web-1.default"), ("bug-report-west", "api-1.prod")):
        one = pdebug("check", folder / name, "-o", "json")
        assert _checked(one) == proxy, one.err
    # a folder holding one report beside other things is still that report
    lone = tmp_path / "lone"
    br.unpack(east, lone)
    (lone / "notes").mkdir()
    got = pdebug("check", lone, "-o", "json")
    assert _checked(got) == "web-1.default", got.err


def test_an_archive_of_two_bug_reports_is_refused(pdebug, tmp_path):
    east, west = _two(tmp_path)
    both = br.write(tmp_path / "both.tar.gz", east + west)
    result = pdebug("check", both)
    _assert_one_error(result, ExitCode.INVALID_INPUT)
    assert "bug-report-east" in result.err and "bug-report-west" in result.err, result.err
    # a report without a root folder beside one with it: two reports too
    bare = br.members(WEST, {}, root="")
    mixed = br.write(tmp_path / "mixed.tar.gz", east + bare)
    _assert_one_error(pdebug("clusters", f"{mixed}:web-1.default"), ExitCode.INVALID_INPUT)
    # one report, with or without its root folder, with folder entries (tar czf): read
    for items, folders in ((east, False), (east, True), (bare, False)):
        one = br.write(tmp_path / "one.tar.gz", items, folders=folders)
        got = pdebug("check", one, "-o", "json")
        assert _checked(got) == ("web-1.default" if items is east else "api-1.prod"), got.err
    with tarfile.open(both) as tar:  # the archive's two roots, as istioctl never writes
        assert {n.split("/")[0] for n in tar.getnames()} == {"bug-report-east", "bug-report-west"}


# --- a connection manager in a TypedStruct ----------------------------------------------


_HCM_WRAPS = {  # listener -> (the filter's name, the wrapper's type; "" plain)
    "hcm-plain": ("envoy.filters.network.http_connection_manager", ""),
    "hcm-xds": ("envoy.filters.network.http_connection_manager", "xds.type.v3.TypedStruct"),
    "hcm-udpa": ("envoy.filters.network.http_connection_manager", "udpa.type.v1.TypedStruct"),
    "hcm-named": ("my-hcm", "xds.type.v3.TypedStruct"),  # known by its type_url alone
}


@pytest.fixture(scope="module")
def wrapped_hcm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Envoy 1.40 running a connection manager plain and in either TypedStruct: its dump,
    and each listener's answer to ``GET /`` (200 from the route's direct_response)."""
    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    from tests.test_sweep29 import _status
    from tests.test_trace13 import _listener

    cors = {
        "name": "envoy.filters.http.cors",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"},
    }
    listeners = []
    for name, (filter_name, wrapper) in _HCM_WRAPS.items():
        lst = _listener(name, cors, eh.free_port())
        hcm = lst["filter_chains"][0]["filters"][0]
        hcm["name"] = filter_name
        if wrapper:
            value = dict(hcm["typed_config"])
            url = value.pop("@type")
            hcm["typed_config"] = {
                "@type": f"type.googleapis.com/{wrapper}",
                "type_url": url,
                "value": value,
            }
        listeners.append(lst)
    boot = {"static_resources": {"listeners": listeners, "clusters": []}}
    dump = tmp_path_factory.mktemp("hcm") / "dump.json"
    answers: dict[str, int] = {}
    with eh.Envoy(boot, wait_live=False, fmt="json") as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
        for lst in listeners:
            answers[lst["name"]] = _status(lst["address"]["socket_address"]["port_value"], {})
    ports = {lst["name"]: lst["address"]["socket_address"]["port_value"] for lst in listeners}
    assert answers == dict.fromkeys(_HCM_WRAPS, 200), answers  # Envoy runs every one
    return dump, ports


@pytest.mark.envoy
def test_a_wrapped_connection_manager_is_read_as_envoy_runs_it(pdebug, wrapped_hcm):
    """``pdebug check`` said PD103 ERROR "no stat_prefix, Envoy rejects this listener" of
    a working one, ``listeners`` said HTTP for its inline route, and trace UNKNOWN "no
    route config": each read the TypedStruct wrapper as the connection manager."""
    dump, ports = wrapped_hcm
    got = pdebug("check", dump, "-o", "json")
    assert got.code == 0, got
    assert json.loads(got.out)["findings"] == []
    rows = pdebug("listeners", dump, "-o", "json")
    assert rows.code == 0, rows.err
    table = pdebug("listeners", dump)
    assert table.out.count("Inline Route: /*") == len(_HCM_WRAPS), table.out
    for name, port in ports.items():
        traced = pdebug("trace", dump, f"http://127.0.0.1:{port}/", "-o", "json")
        verdict = json.loads(traced.out)["verdict"]
        assert (verdict["outcome"], verdict["status"]) == ("OK", 200), (name, verdict)
