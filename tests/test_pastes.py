"""What users paste from issue threads and terminals: one section of a dump without its
``configs`` wrapper (a ``?mask=``/``?resource=`` answer cut, a copy of one section), a
list of such sections, and kubectl's "command terminated with exit code 137" after a
capture it killed. Each test fails without its fix (they were refused, or said
"damaged")."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests import harness as eh

ADMIN = "type.googleapis.com/envoy.admin.v3"
SIDECAR = eh.FIXTURES / "real/sidecar/config_dump.json"
ECHO_2020 = eh.FIXTURES / "corpus/istio/2020-07-echo/config_dump.json"
GATEWAY_2024 = eh.FIXTURES / "corpus/istio/2024-08-istio-gateway/configdump.json"

#: The view that shows each section, by its message name.
VIEW = {
    "ClustersConfigDump": "clusters",
    "ListenersConfigDump": "listeners",
    "RoutesConfigDump": "routes",
    "SecretsConfigDump": "secrets",
    "BootstrapConfigDump": "bootstrap",
    "EndpointsConfigDump": "eds",
}
VIEWS = ("clusters", "listeners", "routes", "secrets", "bootstrap", "eds", "endpoints")


def _sections(path: Path) -> dict[str, object]:
    configs = json.loads(path.read_text())["configs"]
    return {c["@type"].rsplit(".", 1)[-1]: c for c in configs}


def _write(tmp_path: Path, doc: object, indent: int | None = 2) -> Path:
    path = tmp_path / "paste.json"
    path.write_text(json.dumps(doc, indent=indent))
    return path


CASES = [
    (dump, name)
    for dump in (SIDECAR, ECHO_2020, GATEWAY_2024)
    for name in _sections(dump)
    if name in VIEW
]


@pytest.mark.parametrize(("dump", "name"), CASES, ids=[f"{d.parent.name}-{n}" for d, n in CASES])
def test_one_section_reads_as_a_dump_of_that_section(pdebug, tmp_path, dump, name):
    """Every view over one real section pasted bare: its own view prints what the whole
    dump's does; every other says, in one line, that only that section was pasted."""
    path = _write(tmp_path, _sections(dump)[name])
    own = VIEW[name]
    whole = pdebug(own, dump)
    got = pdebug(own, path)
    assert got.code == whole.code == 0, got.err
    if own != "routes":  # the routes view names VirtualServices from the listeners
        assert got.out == whole.out
    else:
        assert got.out.splitlines()[0] == whole.out.splitlines()[0]
    for view in VIEWS:
        if view == own or (view, own) == ("endpoints", "eds"):
            continue
        other = pdebug(view, path)
        assert other.code == 4, (view, other.err)
        assert f"{path}: only the {name} section was pasted (no 'configs' wrapper)" in other.err
        assert len(other.err.splitlines()) == 2, other.err
        assert "Traceback" not in other.err


def test_a_list_of_sections_reads_as_the_dump(pdebug, tmp_path):
    """A bare list of every section (``jq .configs``) reads as the dump: every view, check
    and trace print what the whole dump's do."""
    path = _write(tmp_path, json.loads(SIDECAR.read_text())["configs"])
    for args in (
        *((v,) for v in VIEWS),
        ("all",),
        ("check",),
        ("trace", "http://productpage:9080/"),
        ("trace", "http://reviews:9080/"),
    ):
        whole = pdebug(args[0], SIDECAR, *args[1:])
        got = pdebug(args[0], path, *args[1:])
        assert (got.code, got.out) == (whole.code, whole.out), args


def test_trace_over_a_partial_paste_is_unknown_not_fail(pdebug, tmp_path):
    sections = _sections(SIDECAR)
    clusters = _write(tmp_path, sections["ClustersConfigDump"])
    got = pdebug("trace", clusters, "http://productpage:9080/")
    assert got.code == 6, got.out + got.err
    assert "VERDICT: UNKNOWN" in got.out
    assert "only the ClustersConfigDump section was pasted: no listeners section" in got.out

    lr = _write(tmp_path, [sections["ListenersConfigDump"], sections["RoutesConfigDump"]])
    got = pdebug("trace", lr, "http://productpage:9080/")
    assert got.code == 6, got.out + got.err
    assert "VERDICT: UNKNOWN" in got.out
    assert (
        "only the ListenersConfigDump, RoutesConfigDump sections were pasted: no clusters "
        "section" in got.out
    )


def test_check_and_all_say_what_the_paste_lacks(pdebug, tmp_path):
    path = _write(tmp_path, _sections(SIDECAR)["ClustersConfigDump"], indent=None)
    got = pdebug("check", path)
    assert got.code == 0, got.err
    assert "(only the ClustersConfigDump section was pasted, without the 'configs' wrapper)" in (
        got.out
    )
    got = pdebug("all", path)
    assert got.code == 0, got.err
    assert "Only the ClustersConfigDump section was pasted (no 'configs' wrapper)" in got.err


def test_one_resource_entry_reads(pdebug, tmp_path):
    """One entry of a ``config_dump?resource=dynamic_active_clusters`` answer, bare."""
    section = _sections(SIDECAR)["ClustersConfigDump"]
    entry = dict(section["dynamic_active_clusters"][0])  # type: ignore[index]
    entry = {"@type": f"{ADMIN}.ClustersConfigDump.DynamicCluster"} | entry
    got = pdebug("clusters", _write(tmp_path, entry), "-o", "json")
    assert got.code == 0, got.err
    names = [c["name"] for c in json.loads(got.out)]
    assert names == [entry["cluster"]["name"]]


def test_a_view_without_type_is_still_one_views_output(pdebug, tmp_path):
    section = dict(_sections(SIDECAR)["SecretsConfigDump"])  # type: ignore[call-overload]
    del section["@type"]
    got = pdebug("clusters", _write(tmp_path, section))
    assert got.code == 4
    assert "this is one view's output (istioctl proxy-config secret -o json" in got.err


# --- kubectl exec killed: "command terminated with exit code 137" ---------------------------


@pytest.mark.parametrize("cut", [0.5, 1.0])
def test_a_killed_capture_says_so(pdebug, tmp_path, cut):
    """kubectl's line after the bytes curl wrote before the OOM killer stopped it (or
    after a whole dump): said killed, with how to capture instead, not "damaged"."""
    data = SIDECAR.read_bytes()
    data = data[: int(len(data) * cut)]
    path = tmp_path / "dump.json"
    path.write_bytes(data + b"\ncommand terminated with exit code 137\n")
    for args in (("clusters", path), ("trace", path, "http://productpage:9080/"), ("check", path)):
        got = pdebug(*args)
        assert got.code == 4, got.err
        assert f"{path}: the capture was killed (OOM: 'command terminated with exit code 137'" in (
            got.err
        )
        assert "hint: capture without kubectl exec's pipe: pdebug dump pod/NAME -n NS" in got.err
        assert len(got.err.splitlines()) == 2


def test_another_exit_code_is_a_failed_capture(pdebug, tmp_path):
    data = SIDECAR.read_bytes()[:5000]
    got_path = tmp_path / "dump.json"
    got_path.write_bytes(data + b"command terminated with exit code 28")
    got = pdebug("listeners", got_path)
    assert got.code == 4
    assert "the capture failed ('command terminated with exit code 28')" in got.err


def test_a_truncated_paste_of_one_section_says_truncated(pdebug, tmp_path):
    """Not "invalid JSON at byte N" past the end of the file (the wrapper's bytes)."""
    path = tmp_path / "paste.json"
    path.write_text(json.dumps(_sections(SIDECAR)["ClustersConfigDump"], indent=2)[:20000])
    for view in ("clusters", "listeners"):
        got = pdebug(view, path)
        assert got.code == 4
        assert f"{path}: the JSON is truncated (the capture was cut off)" in got.err


FUZZ_SEED = 26
FUZZ_CASES = 30


def test_fuzzed_pastes_end_in_one_line(pdebug, tmp_path):
    """Seeded: random sets of real sections, bare or listed, cut or whole, with or without
    kubectl's last line; every view, check and trace ends with a documented code and at
    most one error line (and its hint), never a traceback."""
    rng = random.Random(FUZZ_SEED)
    pool = [c for dump in (SIDECAR, ECHO_2020, GATEWAY_2024) for c in _sections(dump).values()]
    for _ in range(FUZZ_CASES):
        picked = rng.sample(pool, rng.randint(1, 3))
        doc: object = picked[0] if len(picked) == 1 and rng.random() < 0.6 else picked
        text = json.dumps(doc, indent=rng.choice([None, 2]))
        if rng.random() < 0.3:
            text = text[: rng.randint(1, len(text))]
        if rng.random() < 0.2:
            text += f"\ncommand terminated with exit code {rng.choice([137, 1, 28])}\n"
        path = tmp_path / "fuzz.json"
        path.write_text(text)
        args = rng.choice([(v,) for v in VIEWS] + [("check",), ("all",)])
        if rng.random() < 0.3:
            args = ("trace", "http://productpage:9080/")
        got = pdebug(args[0], path, *args[1:])
        assert got.code in (0, 1, 4, 6), (args, got.code, got.err)
        assert "Traceback" not in got.err
        if got.code == 4:
            errors = [line for line in got.err.splitlines() if line.startswith("pdebug: error")]
            assert len(errors) == 1, got.err


# --- diff: list items equal in Python, not as JSON ------------------------------------------


def test_diff_says_a_retyped_list_item_differs(pdebug, tmp_path):
    """``[503]`` and ``[503.0]`` (a dump rewritten by a tool that writes floats) read
    "Routes Match" (DeepDiff compares a list of plain values by hash)."""
    doc = json.loads(SIDECAR.read_text())
    routes = next(c for c in doc["configs"] if "dynamic_route_configs" in c)
    vhost = routes["dynamic_route_configs"][0]["route_config"]["virtual_hosts"][0]
    policy = vhost["routes"][0]["route"]["retry_policy"]
    assert policy["retriable_status_codes"] == [503]  # the premise
    policy["retriable_status_codes"] = [503.0]
    other = tmp_path / "after.json"
    other.write_text(json.dumps(doc))
    got = pdebug("diff", SIDECAR, other)
    assert got.code == 1, got.out + got.err
    assert "Routes Don't Match" in got.out
    assert "routes[0].route.retry_policy.retriable_status_codes[0]: 503 -> 503.0" in got.out
    assert "Clusters Match" in got.out


@pytest.mark.parametrize(
    ("left", "right", "path"),
    [
        ([True, 2], [1, 2], "a[0]"),
        ([0, 2], [False, 2], "a[0]"),
        ([[1]], [[True]], "a[0][0]"),
        ([True, {"x": 1}], [1, {"x": 1}], "a[0]"),  # DeepDiff says this one: said once
    ],
)
def test_diff_tells_bool_from_number_in_a_list(left, right, path):
    from pdebug import diff as d

    fields = d._field_changes({"a": left}, {"a": right}, None)
    assert [f.path for f in fields] == [path]


def test_diff_of_equal_lists_stays_quiet():
    from pdebug import diff as d

    assert d._field_changes({"a": [1, True, 2.5]}, {"a": [1, True, 2.5]}, None) == []
