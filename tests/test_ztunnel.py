"""``pdebug ztunnel-config``: istioctl's goldens, dump eras, filters, sources, bad input.

Conformance data: fixtures/istioctl/ztunnel-config (istioctl's own test dump and goldens,
Apache-2.0, see fixtures/istioctl/MANIFEST.md). ztunnel cannot run here, so live tests
serve that recorded dump from tests/harness/ztunnel_double.py behind the Kubernetes API double.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import FIXTURES, ISTIOCTL
from tests.harness import kube_double as kd
from tests.harness import ztunnel_double as zd

ZC = ISTIOCTL / "ztunnel-config"
DUMP = ZC / "dump.json"
#: Inside every certificate's validity in the goldens (they hold until 2033-03-22).
NOW = "2026-06-01T00:00:00Z"
READS = frozenset(
    {
        ("get", "pods"),
        ("list", "pods"),
        ("get", "daemonsets"),
        ("create", "pods/portforward"),
    }
)


def doc() -> dict[str, Any]:
    return json.loads(DUMP.read_bytes())


def write(tmp_path: Path, obj: Any, name: str = "zt.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


# --- conformance -------------------------------------------------------------------------

GOLDENS = [
    (["workload"], "workloadsummary.txt"),
    (["policy"], "policies.txt"),
    (["certificate", "--now", NOW], "secretsummary.txt"),
    (["connections"], "connectionsummary.txt"),
    (["all", "--now", NOW], "allsummary.txt"),
]


@pytest.mark.parametrize(("args", "golden"), GOLDENS, ids=[g for _, g in GOLDENS])
@pytest.mark.parametrize("group", ["ztunnel-config", "zc"])
def test_istioctl_goldens_byte_for_byte(pdebug, group, args, golden):
    r = pdebug(group, *args, "-f", DUMP)
    assert r.code == 0, r.err
    assert r.out == (ZC / golden).read_text()


def test_connections_json_is_istioctls_data(pdebug):
    r = pdebug("zc", "cons", "-f", DUMP, "-o", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == json.loads((ZC / "connectionsdump.json").read_bytes())


def test_service_table_alone_matches_the_all_golden(pdebug):
    r = pdebug("zc", "svc", "-f", DUMP)
    assert r.code == 0, r.err
    assert r.out in (ZC / "allsummary.txt").read_text()
    assert r.out.count("\n") == 20  # header + 19 services


def test_parse_finds_istioctls_27_workloads():
    from pdebug.model.ztunnel import parse

    dump = parse(DUMP.read_bytes(), "dump.json")
    assert len(dump.workloads) == 27
    assert len(dump.services) == 19
    assert len(dump.certificates) == 4
    assert len(dump.workload_state) == 6


def test_with_headers_titles_each_table(pdebug):
    r = pdebug("zc", "all", "-f", DUMP, "--with-headers", "--now", NOW)
    assert r.code == 0, r.err
    titles = [line for line in r.out.splitlines() if line.startswith("------")]
    assert titles == [
        "------ WORKLOAD INFO ------",
        "------ SERVICE INFO ------",
        "------ POLICY INFO ------",
        "------ SECRET INFO ------",
        "------ CONNECTIONS INFO ------",
    ]


def test_all_json_is_the_whole_dump(pdebug):
    r = pdebug("zc", "all", "-f", DUMP, "-o", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == doc()


def test_certificate_validity_follows_the_clock(pdebug):
    after = pdebug("zc", "cert", "-f", DUMP, "--now", "2034-01-01T00:00:00Z")
    assert after.code == 0
    assert "true" not in after.out  # the leaf expired on 2033-03-22
    bad = pdebug("zc", "cert", "-f", DUMP, "--now", "yesterday")
    assert bad.code == 2 and "RFC 3339" in bad.err


# --- dump eras and spellings ----------------------------------------------------------


def as_lists(d: dict[str, Any]) -> dict[str, Any]:
    """ztunnel >= 1.23: workloads/services/policies as lists (sorted as ztunnel does)."""
    out = copy.deepcopy(d)
    out["workloads"] = sorted(d["workloads"].values(), key=lambda w: w["uid"])
    out["services"] = list(d["services"].values())
    return out


def rename_keys(obj: Any, rename: Callable[[str], str]) -> Any:
    """``obj`` with every field name renamed (map keys, those with a ``/`` or a leading
    digit, are kept as they are)."""
    if isinstance(obj, list):
        return [rename_keys(v, rename) for v in obj]
    if isinstance(obj, dict):
        return {
            k if ("/" in k or k[:1].isdigit()) else rename(k): rename_keys(v, rename)
            for k, v in obj.items()
        }
    return obj


def lower_keys(obj: Any) -> Any:
    """Every key in lower case (Go's decoder matches keys case-insensitively)."""
    return rename_keys(obj, str.lower)


def snake_keys(obj: Any) -> Any:
    """Pre-1.22 snake_case field names (cert_chain, workload_ips...)."""
    import re

    return rename_keys(obj, lambda k: re.sub(r"([A-Z])", r"_\1", k).lower())


def split_roots(d: dict[str, Any]) -> dict[str, Any]:
    """ztunnel >= 1.26: the root moves from the end of certChain to rootCerts."""
    out = copy.deepcopy(d)
    for cert in out["certificates"]:
        if len(cert.get("certChain") or []) > 1:
            cert["rootCerts"] = [cert["certChain"].pop()]
    return out


@pytest.mark.parametrize(
    "variant",
    [as_lists, lower_keys, snake_keys, split_roots, lambda d: lower_keys(as_lists(d))],
    ids=["lists", "lowercase", "snake_case", "rootCerts", "lists+lowercase"],
)
def test_every_era_prints_the_same_tables(pdebug, tmp_path, variant):
    path = write(tmp_path, variant(doc()))
    for view, golden in (("workload", "workloadsummary.txt"), ("policy", "policies.txt")):
        r = pdebug("zc", view, "-f", path)
        assert r.code == 0, r.err
        assert r.out == (ZC / golden).read_text()
    r = pdebug("zc", "all", "-f", path, "--now", NOW)
    assert r.out == (ZC / "allsummary.txt").read_text()


def test_unknown_fields_are_kept_in_json(pdebug, tmp_path):
    d = as_lists(doc())
    d["workloads"][0]["futureField"] = {"x": 1}
    r = pdebug("zc", "workload", "-f", write(tmp_path, d), "-o", "json")
    assert r.code == 0
    assert any(w.get("futureField") == {"x": 1} for w in json.loads(r.out))


def test_gzip_and_stdin(pdebug, tmp_path, monkeypatch):
    import io
    import sys

    gz = tmp_path / "zt.json.gz"
    gz.write_bytes(gzip.compress(DUMP.read_bytes()))
    assert pdebug("zc", "policy", "-f", gz).out == (ZC / "policies.txt").read_text()
    stdin = io.TextIOWrapper(io.BytesIO(DUMP.read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert pdebug("zc", "policy", "-f", "-").out == (ZC / "policies.txt").read_text()


# --- filters ----------------------------------------------------------------------------


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()[1:]]


def test_workload_filters(pdebug):
    ns = pdebug("zc", "w", "-f", DUMP, "--workload-namespace", "BOOKINFO")
    assert {r[0] for r in rows(ns.out)} == {"bookinfo"} and len(rows(ns.out)) == 8
    ip = pdebug("zc", "w", "-f", DUMP, "--address", "10.244.2.53")
    assert [r[1] for r in rows(ip.out)] == ["productpage-v1-675fc69cf-jscn2"]
    node = pdebug("zc", "w", "-f", DUMP, "--workload-node", "ambient-control-plane")
    assert len(rows(node.out)) == 4
    name = pdebug("zc", "w", "-f", DUMP, "--workload-name", "httpbin-7447985f87-t8hv7")
    assert [r[0] for r in rows(name.out)] == ["default"]
    none = pdebug("zc", "w", "-f", DUMP, "--address", "192.0.2.1")
    assert none.code == 0 and rows(none.out) == [] and "No workload matches" in none.err


def test_service_and_policy_namespace_filters(pdebug):
    svc = pdebug("zc", "svc", "-f", DUMP, "--service-namespace", "kube-system")
    assert rows(svc.out) == [["kube-system", "kube-dns", "10.96.0.10", "None", "2/2"]]
    pol = pdebug("zc", "pol", "-f", DUMP, "--policy-namespace", "other")
    assert rows(pol.out) == []


def test_connection_filters(pdebug):
    out = pdebug("zc", "cons", "-f", DUMP, "--direction", "outbound").out
    assert {r[1] for r in rows(out)} == {"Outbound"}
    inbound = pdebug("zc", "cons", "-f", DUMP, "--direction", "inbound").out
    assert {r[1] for r in rows(inbound)} == {"Inbound"}
    pod = pdebug("zc", "cons", "-f", DUMP, "--workload-name", "ratings-v1-779dfc6dc5-5q5wz").out
    assert {r[0] for r in rows(pod)} == {"ratings-v1-779dfc6dc5-5q5wz.bookinfo"}


def test_connections_resolve_names_unless_raw(pdebug, tmp_path):
    d = doc()
    state = next(iter(d["workloadState"].values()))
    state["connections"] = {
        "inbound": [],
        "outbound": [
            {
                "src": "10.244.2.53:40000",
                "originalDst": "10.96.74.131:9080",
                "actualDst": "10.244.1.37:15008",
                "protocol": "HBONE",
            }
        ],
    }
    path = write(tmp_path, d)
    line = next(r for r in rows(pdebug("zc", "cons", "-f", path).out) if r[1] == "Outbound")
    assert line[2:] == [
        "productpage-v1-675fc69cf-jscn2.bookinfo:40000",
        "reviews-v1-5b5d6494f4-qwjv4.bookinfo:15008",
        "reviews.bookinfo.svc.cluster.local:9080",
        "HBONE",
    ]
    raw = next(r for r in rows(pdebug("zc", "cons", "-f", path, "--raw").out) if r[1] == "Outbound")
    assert raw[2:5] == ["10.244.2.53:40000", "10.244.1.37:15008", "10.96.74.131:9080"]


def test_waypoint_resolution_rules():
    from pdebug.model.ztunnel import waypoint_name

    services = [
        {
            "name": "wp",
            "namespace": "ns",
            "hostname": "wp.ns.svc.cluster.local",
            "vips": ["/10.0.0.9"],
        }
    ]
    assert waypoint_name(None, services) == "None"
    assert waypoint_name({"destination": "/10.0.0.9"}, services) == "wp"
    assert waypoint_name({"destination": "ns/wp.ns.svc.cluster.local"}, services) == "wp"
    assert waypoint_name({"destination": "/10.0.0.10"}, services) == "NA"


def test_serials_and_times():
    from pdebug.model.ztunnel import parse_time, serial_hex

    assert (
        serial_hex("305554775863395697262503895661564044819") == "e5dfb59150b2ba7f108d93dcec5aa613"
    )
    assert serial_hex("-255") == "-ff"
    assert (
        serial_hex("") == "<nil>" and serial_hex("12ab") == "<nil>" and serial_hex(None) == "<nil>"
    )
    assert parse_time("2023-03-21T13:02:57Z") is not None
    assert parse_time("2023-03-21T13:02:57.123456789+02:00") is not None
    assert parse_time("2023-03-21 13:02:57Z") is None  # not RFC 3339
    assert parse_time("2023-03-21T13:02:57") is None  # no offset


@pytest.mark.parametrize("fmt", ["wide", "markdown", "yaml", "json", "short"])
@pytest.mark.parametrize("view", ["workload", "service", "policy", "certificate", "connections"])
def test_every_view_in_every_format(pdebug, view, fmt):
    r = pdebug("zc", view, "-f", DUMP, "-o", fmt)
    assert r.code == 0, r.err
    assert r.out.strip()
    if fmt in ("json", "yaml"):
        import yaml

        assert yaml.safe_load(r.out) is not None


def test_wide_shows_what_istioctl_hides(pdebug):
    w = pdebug(
        "zc", "w", "-f", DUMP, "-o", "wide", "--workload-name", "ratings-v1-6484c4d9bb-mdxm5"
    )
    assert "STATUS" in w.out and "Healthy" in w.out and "bookinfo-ratings" in w.out
    assert "network1" in w.out
    p = pdebug("zc", "pol", "-f", DUMP, "-o", "wide")
    assert "DRY RUN" in p.out


# --- the wrong kind of dump, bad input --------------------------------------------------


def test_an_envoy_dump_is_named_as_such(pdebug):
    r = pdebug("zc", "workload", "-f", FIXTURES / "real" / "sidecar" / "config_dump.json")
    assert r.code == 4
    assert "Envoy config dump" in r.err and "pdebug clusters" in r.err


def test_a_ztunnel_dump_given_to_an_envoy_view_says_which_command_reads_it(pdebug):
    r = pdebug("clusters", DUMP)
    assert r.code == 4
    assert "ztunnel config dump" in r.err and "pdebug ztunnel-config" in r.err


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "empty"),
        (DUMP.read_bytes()[:500], "truncated"),
        (b"[1, 2]", "array"),
        (b'{"workloads": "x"}', "not a list or an object"),
        (b'{"workloadState": [1]}', "not an object"),
        (b'{"hello": 1}', "not a ztunnel config dump"),
        (b"<html>oops</html>", "HTML"),
    ],
)
def test_bad_input_is_one_line_and_exit_4(pdebug, tmp_path, content, what):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    r = pdebug("zc", "all", "-f", path)
    assert r.code == 4, r.err
    assert what in r.err
    assert "Traceback" not in r.err


def test_entries_that_are_not_objects_are_skipped_with_a_warning(pdebug, tmp_path):
    d = as_lists(doc())
    d["workloads"].insert(0, "garbage")
    r = pdebug("zc", "w", "-f", write(tmp_path, d))
    assert r.code == 0
    assert "workloads[0] is not an object; skipped" in r.err
    assert r.out == (ZC / "workloadsummary.txt").read_text()


def test_usage_errors(pdebug):
    r = pdebug("zc", "w", "-f", DUMP, "--node", "n1")
    assert r.code == 2 and "at most one" in r.err
    r = pdebug("zc", "w", "-f", DUMP, "--proxy-admin-port", "70000")
    assert r.code == 2
    r = pdebug("zc", "w", "-f", DUMP, "-o", "toml")
    assert r.code == 2


# --- live: admin URL and the cluster ------------------------------------------------------


@pytest.fixture
def ztunnel_admin() -> Iterator[zd.ZtunnelAdminDouble]:
    with zd.ZtunnelAdminDouble(DUMP.read_bytes()) as admin:
        yield admin


def test_admin_url(pdebug, ztunnel_admin):
    host, port = ztunnel_admin.address
    r = pdebug("zc", "policy", f"http://{host}:{port}")
    assert r.code == 0, r.err
    assert r.out == (ZC / "policies.txt").read_text()
    assert ztunnel_admin.requests == ["/config_dump"]


@pytest.fixture
def kube_reads():
    return READS


@pytest.fixture
def ambient(kube: kd.KubeDouble, no_ambient_config: None) -> Iterator[dict[str, Any]]:
    """Two nodes, a ztunnel on each (each serving its own copy of the dump), a workload pod."""
    d1, d2 = doc(), doc()
    d2["policies"] = []  # tell the two ztunnels apart
    with (
        zd.ZtunnelAdminDouble(json.dumps(d1).encode()) as z1,
        zd.ZtunnelAdminDouble(json.dumps(d2).encode()) as z2,
    ):
        pods = zd.register(kube, {"ambient-worker": z1, "ambient-worker2": z2})
        kube.add_pod(
            "productpage-v1-675fc69cf-jscn2",
            "bookinfo",
            containers=("productpage",),
            node_name="ambient-worker2",
        )
        kube.add_pod("unscheduled", "bookinfo", containers=("app",), node_name=None)
        yield {"pods": pods, "z1": z1, "z2": z2}


def test_node_picks_that_nodes_ztunnel(pdebug, kubeconfig, ambient):
    r = pdebug("zc", "policy", "--node", "ambient-worker", "--kubeconfig", kubeconfig)
    assert r.code == 0, r.err
    assert r.out == (ZC / "policies.txt").read_text()
    assert ambient["z1"].requests == ["/config_dump"] and ambient["z2"].requests == []
    r = pdebug("zc", "policy", "--node", "ambient-worker2", "-c", kubeconfig)
    assert rows(r.out) == []


def test_a_workload_pod_reads_its_nodes_ztunnel_filtered_to_it(pdebug, kubeconfig, ambient):
    r = pdebug(
        "zc", "workload", "pod/productpage-v1-675fc69cf-jscn2", "-n", "bookinfo", "-c", kubeconfig
    )
    assert r.code == 0, r.err
    assert [row[1] for row in rows(r.out)] == ["productpage-v1-675fc69cf-jscn2"]
    assert ambient["z2"].requests == ["/config_dump"] and ambient["z1"].requests == []


def test_a_ztunnel_pod_by_name(pdebug, kubeconfig, ambient):
    name = ambient["pods"]["ambient-worker"]
    r = pdebug("zc", "policy", name, "-c", kubeconfig)  # bare NAME: the Istio namespace
    assert r.code == 0, r.err
    assert ambient["z1"].requests == ["/config_dump"]


def test_per_ztunnel_views_need_one_ztunnel(pdebug, kubeconfig, ambient):
    r = pdebug("zc", "certificate", "-c", kubeconfig)
    assert r.code == 2
    assert "2 ztunnel pods" in r.err
    ok = pdebug("zc", "workload", "-c", kubeconfig)  # any ztunnel will do
    assert ok.code == 0, ok.err


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["pod/unscheduled", "-n", "bookinfo"], "not scheduled to a node"),
        (["--node", "nowhere"], "no ztunnel pod on node nowhere"),
        (["pod/missing", "-n", "bookinfo"], "missing"),
    ],
)
def test_live_failures_are_one_line(pdebug, kubeconfig, ambient, args, what):
    r = pdebug("zc", "workload", *args, "-c", kubeconfig)
    assert r.code == 3, r.err
    assert what in r.err and "Traceback" not in r.err


def test_no_ztunnel_installed(pdebug, kube, kubeconfig):
    r = pdebug("zc", "workload", "-c", kubeconfig)
    assert r.code == 3
    assert "ztunnel" in r.err


# --- check -------------------------------------------------------------------------------


def codes(pdebug, path: str, *extra: str) -> set[str]:
    r = pdebug("check", path, "-o", "json", "--fail-on", "never", *extra)
    assert r.code == 0, r.err
    return {f["code"] for f in json.loads(r.out)["findings"]}


def test_check_on_istioctls_dump(pdebug):
    r = pdebug("check", DUMP)
    assert r.code == 1  # errors: the inverted root, the allow-nothing policy
    found = codes(pdebug, str(DUMP))
    assert {"PD702", "PD708", "PD701", "PD712"} <= found
    assert "PD706" not in found  # default/kubernetes has no workload endpoints, by design


def test_check_reads_a_ztunnel_dump_from_stdin(pdebug, monkeypatch):
    """The ztunnel dump is read from the source already opened, not from stdin again."""
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(Path(DUMP).read_bytes())))
    r = pdebug("check", "-", "-o", "json", "--fail-on", "never")
    assert r.code == 0, r.err
    assert {"PD702", "PD708"} <= {f["code"] for f in json.loads(r.out)["findings"]}


def _first_lists(d: dict[str, Any]) -> dict[str, Any]:
    return as_lists(d)


def _when(days: float) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cert(state: str, after: str = "2099-01-01T00:00:00Z", before: str = "2020-01-01T00:00:00Z"):
    chain = [{"pem": "", "serialNumber": "1", "validFrom": before, "expirationTime": after}]
    return {
        "identity": "spiffe://td/ns/a/sa/b",
        "state": state,
        "certChain": chain,
        "rootCerts": [],
    }


def _svc(d, name):
    return next(s for s in d["services"] if s["name"] == name)


MUTATIONS = {
    "PD701": lambda d: d["certificates"].append(_cert("Initializing") | {"certChain": []}),
    "PD702": lambda d: d["certificates"].append(_cert("Available", after=_when(-30))),
    "PD703": lambda d: d["certificates"].append(_cert("Available", after=_when(2))),
    "PD704": lambda d: d["workloads"][0].__setitem__("waypoint", {"destination": "/192.0.2.9"}),
    "PD705": lambda d: _svc(d, "namespace-istio-waypoint").__setitem__("endpoints", {}),
    "PD706": lambda d: _svc(d, "details").__setitem__("endpoints", {}),
    "PD707": lambda d: _svc(d, "ratings")["endpoints"].update({"x": {"workloadUid": "gone"}}),
    "PD708": lambda d: None,
    "PD709": lambda d: d["workloads"][0].__setitem__("authorizationPolicies", ["ns/missing"]),
    "PD710": lambda d: d["policies"][0].__setitem__("dryRun", True),
    "PD711": lambda d: next(iter(d["workloadState"].values()))["connections"]["outbound"].append(
        {
            "src": "1.1.1.1:1",
            "originalDst": None,
            "actualDst": "10.244.2.53:9080",
            "protocol": "TCP",
        }
    ),
    "PD712": lambda d: None,
    "PD713": lambda d: next(iter(d["workloadState"].values())).__setitem__("state", "Pending"),
    "PD714": lambda d: next(w for w in d["workloads"] if w["protocol"] == "TCP").__setitem__(
        "waypoint", {"destination": "/10.96.65.117"}
    ),
}


def clean(d: dict[str, Any]) -> dict[str, Any]:
    """istioctl's dump less what fires by itself: a clean baseline for each check."""
    d = as_lists(d)
    d["certificates"] = []
    d["policies"] = [p for p in d["policies"] if p["rules"]]
    for state in d["workloadState"].values():
        state["connections"] = {"inbound": [], "outbound": []}
    return d


@pytest.mark.parametrize("code", sorted(MUTATIONS))
def test_each_check_fires_on_its_fault_and_not_without(pdebug, tmp_path, code):
    base = clean(doc())
    found = codes(pdebug, write(tmp_path, base, "clean.json"))
    assert found == set(), found  # the baseline is clean
    broken = clean(doc())
    if code == "PD708":
        broken["policies"].append(
            {"name": "deny", "namespace": "a", "action": "Allow", "rules": [], "scope": "Namespace"}
        )
    elif code == "PD712":
        next(iter(broken["workloadState"].values()))["connections"]["outbound"].append(
            {
                "src": "10.244.2.53:1",
                "originalDst": "203.0.113.7:443",
                "actualDst": "203.0.113.7:443",
                "protocol": "TCP",
            }
        )
    else:
        MUTATIONS[code](broken)
    assert code in codes(pdebug, write(tmp_path, broken, "broken.json"))


def test_pd703_waits_for_half_a_lifetime(pdebug, tmp_path):
    """Istio's 24-hour leaf is inside the 7-day window from its first hour: fresh, it is
    healthy (ztunnel rotates it at half its life); 13 hours in, its rotation was missed."""
    fresh = clean(doc())
    fresh["certificates"].append(_cert("Available", after=_when(23 / 24), before=_when(-1 / 24)))
    assert "PD703" not in codes(pdebug, write(tmp_path, fresh, "fresh.json"))
    stuck = clean(doc())
    stuck["certificates"].append(_cert("Available", after=_when(11 / 24), before=_when(-13 / 24)))
    assert "PD703" in codes(pdebug, write(tmp_path, stuck, "stuck.json"))


def test_check_ignore_takes_ztunnel_codes(pdebug):
    found = codes(pdebug, str(DUMP), "--ignore", "PD702,PD708")
    assert "PD702" not in found and "PD708" not in found


# --- diff --------------------------------------------------------------------------------


def test_diff_of_one_dump_in_two_eras_matches(pdebug, tmp_path):
    r = pdebug("diff", DUMP, write(tmp_path, lower_keys(as_lists(doc()))))
    assert r.code == 0, r.out + r.err
    assert r.out.splitlines()[:4] == [
        "Workloads Match",
        "Services Match",
        "Policies Match",
        "Certificates Match",
    ]


def test_diff_names_what_changed(pdebug, tmp_path):
    d = as_lists(doc())
    d["workloads"][3]["status"] = "Unhealthy"
    d["policies"] = d["policies"][:1]
    r = pdebug("diff", DUMP, write(tmp_path, d))
    assert r.code == 1
    assert "Workloads Don't Match" in r.out and 'status: "Healthy" -> "Unhealthy"' in r.out
    assert "- default/allow-waypoint: only in" in r.out
    j = pdebug("diff", DUMP, write(tmp_path, d), "-o", "json")
    assert json.loads(j.out)["match"] is False
    quiet = pdebug("diff", DUMP, write(tmp_path, d), "--ignore", "^status$")
    assert "Workloads Match" in quiet.out
    bad = pdebug("diff", DUMP, write(tmp_path, d), "--ignore", "(")
    assert bad.code == 2


def test_diff_a_section_one_side_lacks_is_not_compared(pdebug, tmp_path):
    # sweep7: ztunnel <= 1.21 dumped no policies (fixtures/corpus/ztunnel/2024-03): every
    # policy of a newer dump was "only in" it, as if all were deleted
    old = FIXTURES / "corpus" / "ztunnel" / "2024-03" / "dump.json"
    r = pdebug("diff", old, DUMP)
    assert r.code == 1
    assert f"Policies Not Compared ({old} has no policies section)" in r.out.splitlines()
    assert "allow-waypoint" not in r.out
    d = as_lists(doc())
    del d["certificates"]
    r = pdebug("diff", DUMP, write(tmp_path, d), "-o", "json")
    kinds = {k["kind"]: k for k in json.loads(r.out)["kinds"]}
    assert kinds["certificates"]["changes"] == [] and kinds["certificates"]["match"] is False
    assert kinds["certificates"]["not_compared"].endswith("has no certificates section")


def _agentgateway_dump() -> dict[str, Any]:
    """The shape of agentgateway's /config_dump (an ambient waypoint), hand-made after a
    published e2e capture: ztunnel-like workloads and services, endpoints as its load
    balancer's ``active``/``rejected`` maps, and its own binds/routes/backends."""
    uid = "//Pod/agw-waypoint-e2e/backend-69cf876bf4-6bgtc"
    workload = {
        "workloadIps": ["10.244.0.37"], "protocol": "HBONE", "uid": uid,
        "name": "backend-69cf876bf4-6bgtc", "namespace": "agw-waypoint-e2e",
        "status": "Healthy", "node": "kind-control-plane",
    }  # fmt: skip
    endpoint = {"endpoint": {"workloadUid": uid, "port": {"80": 8080}, "status": "Healthy"}}
    service = {
        "name": "backend", "namespace": "agw-waypoint-e2e",
        "hostname": "backend.agw-waypoint-e2e.svc.cluster.local", "vips": ["/10.96.161.234"],
        "ports": {"80": 8080}, "endpoints": [{"active": {uid: endpoint}, "rejected": {}}],
    }  # fmt: skip
    return {
        "workloads": [workload], "services": [service], "policies": [], "backends": [],
        "binds": [{"key": "15008/agw-waypoint-e2e/agw-waypoint", "address": "[::]:15008"}],
        "routes": {"httpMesh": {}, "tcpMesh": {}, "routeGroups": {}},
    }  # fmt: skip


@pytest.mark.parametrize(
    "args", [("zc", "service"), ("check",), ("clusters",), ("diff", str(DUMP))]
)
def test_an_agentgateway_dump_is_named_not_read_as_ztunnel(pdebug, tmp_path, args):
    # sweep7: read as a ztunnel dump, every service of agentgateway's dump was 0/0 (its
    # endpoints are its load balancer's state) and check raised PD706 for each; an Envoy
    # view called it "a ztunnel config dump"
    path = write(tmp_path, _agentgateway_dump())
    r = pdebug(*args, path) if args[0] != "diff" else pdebug("diff", args[1], path)
    assert r.code == 4, r.out + r.err
    assert "this is an agentgateway config dump (binds, routes, backends)" in r.err
    assert "PD706" not in r.out and r.err.count("\n") <= 2


# --- hostile dumps: seeded mutations never escape the error funnel -------------------------

_REPLACEMENTS: list[Any] = [None, "", "x\x1b[31m", 0, -1, 10**30, 1.5, True, [], {}, [1], {"a": 1}]


def _mutate(obj: Any, rng: Any, rate: float) -> Any:
    if rng.random() < rate:
        return rng.choice(_REPLACEMENTS)
    if isinstance(obj, dict):
        return {k: _mutate(v, rng, rate) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_mutate(v, rng, rate) for v in obj]
    return obj


@pytest.mark.parametrize("seed", range(40))
def test_mutated_dumps_never_crash(pdebug, tmp_path, seed):
    import random

    rng = random.Random(seed)
    base = as_lists(doc()) if seed % 2 else doc()
    path = write(tmp_path, _mutate(base, rng, rate=0.02 + 0.01 * (seed % 5)))
    runs = [
        ("zc", "all", "-f", path, "--now", NOW),
        ("zc", "w", "-f", path, "-o", "wide"),
        ("zc", "svc", "-f", path, "-o", "json"),
        ("zc", "cons", "-f", path, "-o", "yaml"),
        ("zc", "cert", "-f", path, "-o", "wide"),
        ("check", path, "-o", "json"),
        ("diff", str(DUMP), path),
    ]
    for args in runs:
        r = pdebug(*args)
        assert r.code in (0, 1, 4), (args, r.code, r.err)
        assert "Traceback" not in r.err and "internal error" not in r.err, (args, r.err)
        if "json" not in args and "yaml" not in args:
            assert "\x1b" not in r.out, args  # escaped by the text renderer


# --- snapshot --ambient: the nodes' ztunnels in the bundle ---------------------------------


def test_snapshot_ambient_captures_the_nodes_ztunnels(pdebug, kube, kubeconfig, ambient, tmp_path):
    from tests.harness import FIXTURES
    from tests.harness import istiod_double as idd

    sidecar = FIXTURES / "real" / "sidecar" / "config_dump.json"
    with idd.EnvoyAdminDouble(sidecar.read_bytes()) as envoy:
        kube.add_pod(
            "sleep-1", "bookinfo", node_name="ambient-worker2", forwards={15000: envoy.address}
        )
        out = tmp_path / "snap.tar.gz"
        r = pdebug(
            "snapshot", "-n", "bookinfo", "--ambient", "--no-istiod", "-o", out, "-c", kubeconfig
        )
        # 1: the recorded sidecar serves /config_dump only, its other documents are missing
        assert r.code == 1 and "2 proxies captured" in r.err, r.err
    z2 = ambient["pods"]["ambient-worker2"]
    member = f"{z2}.istio-system"
    # only the ztunnel of the node the selected pods run on
    assert ambient["z2"].requests == ["/config_dump"] and ambient["z1"].requests == []
    # zc reads the bundle's only ztunnel (its policies were emptied: the node's own dump)
    pol = pdebug("zc", "policy", out)
    assert pol.code == 0, pol.err
    assert rows(pol.out) == []
    named = pdebug("zc", "workload", f"{out}:{member}", "--workload-namespace", "bookinfo")
    assert named.code == 0 and len(rows(named.out)) == 8
    # check: the sidecar's row and the ztunnel's PD7xx row; report: the ambient line
    chk = pdebug("check", out, "-o", "json", "--fail-on", "never")
    assert chk.code == 0, chk.err
    assert member in chk.out and "sleep-1.bookinfo" in chk.out
    page = tmp_path / "r.html"
    rep = pdebug("report", out, "-o", page)
    assert rep.code == 0, rep.err
    assert "ambient ztunnels: " + member in page.read_text()
    # an Envoy view on the ztunnel member names the command that reads it
    wrong = pdebug("clusters", f"{out}:{member}")
    assert wrong.code == 4 and "pdebug ztunnel-config" in wrong.err


def test_snapshot_of_ambient_pods_captures_their_ztunnels_unasked(
    pdebug, kube, kubeconfig, ambient, tmp_path
):
    pod = kube.add_pod(
        "reviews-v1-x", "bookinfo", containers=("reviews",), node_name="ambient-worker2"
    )
    pod["metadata"]["annotations"]["ambient.istio.io/redirection"] = "enabled"  # istio-cni's mark
    out = tmp_path / "s.tar.gz"
    r = pdebug("snapshot", "-n", "bookinfo", "--no-istiod", "-o", out, "-c", kubeconfig)
    assert r.code == 0, r.err
    assert ambient["z2"].requests == ["/config_dump"]
    assert pdebug("zc", "policy", out).code == 0


def test_snapshot_without_ambient_refuses_a_namespace_without_sidecars(
    pdebug, kubeconfig, ambient, tmp_path
):
    r = pdebug(
        "snapshot", "-n", "bookinfo", "--no-istiod", "-o", tmp_path / "s.tar.gz", "-c", kubeconfig
    )
    assert r.code == 3 and "--ambient captures its ztunnels" in r.err
    ok = pdebug(
        "snapshot",
        "-n",
        "bookinfo",
        "--ambient",
        "--no-istiod",
        "-o",
        tmp_path / "a.tar.gz",
        "-c",
        kubeconfig,
    )
    assert ok.code == 0, ok.err
