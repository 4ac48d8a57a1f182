"""ztunnel config dumps of older releases (fixtures/corpus/ztunnel/) through ``pdebug zc``.

istioctl's own test dump in three earlier shapes (provenance: fixtures/corpus/MANIFEST.md):
2023-03 (workloads keyed by IP with one ``workloadIp``, no service objects), 2023-05
(``services_by_hostname`` with ``addresses``), 2024-03 (ztunnel <= 1.21: ``by_uid``,
``by_addr``, ``by_vip``, snake_case); the istio.io blog's 1.18 paste (2023-02-blog) and a
whole ztunnel 1.24 dump from Kiali's test data (2025-05-kiali), and a hand-made dump of
ztunnel main of 2026-08 (handmade-2026-main: every field its serde structs write today,
with connections and workload states). Every ``zc`` table must
come out without a crash and with the workloads and services the JSON holds, counted here
with the plain ``json`` module; the 2024-03 dump's workload table is compared with
istioctl's golden of the time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import FIXTURES

ZT = FIXTURES / "corpus" / "ztunnel"
DUMPS = sorted(p.parent.name for p in ZT.glob("*/dump.json"))
TABLES = ("workload", "service", "policy", "certificate", "connections", "all")


def _dump(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ZT / name / "dump.json").read_bytes())
    return data


def _workloads(d: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("workloads", "by_uid", "by_addr"):
        if isinstance(d.get(key), dict):
            return list(d[key].values())
        if isinstance(d.get(key), list):
            return list(d[key])
    return []


def _service_names(d: dict[str, Any]) -> set[tuple[str, str]]:
    for key in ("services", "by_vip", "services_by_hostname"):
        if isinstance(d.get(key), dict):
            return {(s["namespace"], s["name"]) for s in d[key].values()}
        if isinstance(d.get(key), list):
            return {(s["namespace"], s["name"]) for s in d[key]}
    return set()


#: Column names of the tables read here (some hold a space).
HEADERS = (
    "NAMESPACE", "POD NAME", "NAME", "NETWORK", "ADDRESS", "IP", "NODE", "WAYPOINT",
    "PROTOCOL", "SERVICE NAME", "SERVICE VIP", "ENDPOINTS",
)  # fmt: skip


def _rows(out: str) -> list[list[str]]:
    """The cells of a table, cut at the header's column starts (Go tabwriter)."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    head, starts, at = lines[0], [], 0
    while at < len(head):
        name = max((h for h in HEADERS if head.startswith(h + " ", at) or head[at:] == h), key=len)
        starts.append(at)
        at += len(name)
        while at < len(head) and head[at] == " ":
            at += 1
    ends = [*starts[1:], None]
    return [[ln[a:b].strip() for a, b in zip(starts, ends, strict=True)] for ln in lines]


def test_the_corpus_shapes() -> None:
    assert DUMPS == [
        "2023-02-blog", "2023-03", "2023-05", "2024-03", "2025-05-kiali", "handmade-2026-main"
    ]  # fmt: skip


@pytest.mark.parametrize("name", DUMPS)
@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("fmt", ["table", "json", "yaml"])
def test_zc_reads_older_dumps(pdebug: Any, name: str, table: str, fmt: str) -> None:
    path = ZT / name / "dump.json"
    res = pdebug("zc", table, path, "-o", fmt)
    assert res.code == 0, res.err
    assert "Traceback" not in res.err + res.out


@pytest.mark.parametrize("name", DUMPS)
def test_every_workload_listed_with_its_address(pdebug: Any, name: str) -> None:
    d = _dump(name)
    res = pdebug("zc", "workload", ZT / name / "dump.json")
    assert res.code == 0, res.err
    rows = _rows(res.out)[1:]
    want = sorted(
        (
            w["namespace"],
            w["name"],
            ",".join(w.get("workloadIps") or [w.get("workloadIp") or w.get("hostname")]),
        )
        for w in _workloads(d)
    )
    assert sorted((r[0], r[1], r[2]) for r in rows) == want


@pytest.mark.parametrize("name", ["2023-05", "2024-03", "2025-05-kiali", "handmade-2026-main"])
def test_every_service_listed_once(pdebug: Any, name: str) -> None:
    res = pdebug("zc", "service", ZT / name / "dump.json")
    assert res.code == 0, res.err
    got = [(r[0], r[1]) for r in _rows(res.out)[1:]]
    assert len(got) == len(set(got))
    assert set(got) == _service_names(_dump(name))


def test_2024_workloads_match_istioctl_golden_of_the_time(pdebug: Any) -> None:
    """istioctl of 2024-03 printed NETWORK too; every other cell must agree."""
    golden = _rows((ZT / "2024-03" / "workloadsummary.txt").read_text())
    res = pdebug("zc", "workload", ZT / "2024-03" / "dump.json")
    mine = _rows(res.out)
    assert len(golden[0]) == len(mine[0]) + 1
    net = golden[0].index("NETWORK")
    want = sorted(tuple(r[:net] + r[net + 1 :]) for r in golden[1:])
    assert sorted(tuple(r) for r in mine[1:]) == want


def test_pre_122_dump_as_one_workload_fixture(pdebug: Any, tmp_path: Path) -> None:
    """A hand-made ztunnel <= 1.21 dump: a dual-stack service under both VIPs is one row,
    a workload under two addresses is one row."""
    w = {
        "uid": "Kubernetes//Pod/ns/a-1",
        "name": "a-1",
        "namespace": "ns",
        "workloadIps": ["10.0.0.1", "fd00::1"],
        "protocol": "HBONE",
        "node": "n1",
        "status": "Healthy",
    }
    svc = {
        "name": "a",
        "namespace": "ns",
        "hostname": "a.ns.svc.cluster.local",
        "vips": ["/10.96.0.1", "/fd00:96::1"],
        "ports": {"80": 8080},
        "endpoints": {"Kubernetes//Pod/ns/a-1:/10.0.0.1": {"workloadUid": w["uid"]}},
    }
    dump = {
        "by_addr": {"/10.0.0.1": w, "/fd00::1": w},
        "by_uid": {w["uid"]: w},
        "by_vip": {"/10.96.0.1": svc, "/fd00:96::1": svc},
        "certificates": [],
    }
    path = tmp_path / "zt.json"
    path.write_text(json.dumps(dump))
    res = pdebug("zc", "workload", path)
    assert res.code == 0, res.err
    assert [r[:3] for r in _rows(res.out)[1:]] == [["ns", "a-1", "10.0.0.1,fd00::1"]]
    res = pdebug("zc", "service", path)
    assert res.code == 0, res.err
    rows = _rows(res.out)[1:]
    assert len(rows) == 1 and rows[0][:2] == ["ns", "a"] and rows[0][-1] == "1/1", res.out


def test_2023_ca_cert_is_a_root_row(pdebug: Any) -> None:
    """ztunnel 1.18-1.21 wrote ``ca_cert`` (despite its name, the leaf) beside
    ``cert_chain`` (the rest): both rows are listed, leaf first, not dropped."""
    d = _dump("2023-03")
    entry = d["certificates"][0]
    res = pdebug("zc", "certificate", ZT / "2023-03" / "dump.json")
    assert res.code == 0, res.err
    rows = [ln.split() for ln in res.out.splitlines()[1:] if ln.startswith(entry["identity"])]
    assert [r[1] for r in rows] == ["Leaf", "Root"]
    assert len(entry["ca_cert"]) == 1 and len(entry["cert_chain"]) == 1


def test_2023_tagged_waypoint_destination(pdebug: Any) -> None:
    """ztunnel 1.19 wrote a waypoint's destination as ``{"address": "Address", "content":
    "network/ip"}``: it names its service (no false PD704 "matches no service")."""
    path = ZT / "2023-05" / "dump.json"
    res = pdebug("zc", "workload", path)
    rows = {r[1]: r for r in _rows(res.out)[1:]}
    assert rows["httpbin-797587ddc5-b74np"][4] == "httpbin-istio-waypoint"
    res = pdebug("check", path, "-o", "json")
    assert res.code in (0, 1), res.err
    assert "PD704" not in {f["code"] for f in json.loads(res.out)["findings"]}


def test_istiod_117_ztunnel_answer_keeps_the_address(pdebug: Any, tmp_path: Path) -> None:
    """istiod's ``/debug/config_dump?proxyID=<ztunnel>`` of Istio 1.17 (istio/istio PR
    #42547) listed workloads as ``{Name, Namespace, Address, Identity, Node}``: the
    ADDRESS column shows ``Address`` (hand-made input of that shape)."""
    dump = {
        "workloads": [
            {"Name": "a-1", "Namespace": "ns", "Address": "10.0.0.7", "Node": "n1"},
            {"Name": "b-1", "Namespace": "ns", "Address": "10.0.0.8", "Node": "n2"},
        ]
    }
    path = tmp_path / "istiod-ztunnel.json"
    path.write_text(json.dumps(dump))
    res = pdebug("zc", "workload", path)
    assert res.code == 0, res.err
    assert [r[:4] for r in _rows(res.out)[1:]] == [
        ["ns", "a-1", "10.0.0.7", "n1"],
        ["ns", "b-1", "10.0.0.8", "n2"],
    ]


def _services_by_hostname(d: dict[str, Any]) -> list[dict[str, Any]]:
    return list(d["services_by_hostname"].values())


def test_endpoints_without_workload_uid_found_by_address(pdebug):
    """ztunnel 1.19's endpoints name no ``workloadUid``: each is the workload at its
    ``network/ip`` (the dump keys workloads so). ENDPOINTS counts those that are Healthy,
    and check raises no PD705/PD707 about a waypoint or endpoint it could not resolve."""
    d = _dump("2023-05")
    status = {key: w.get("status") for key, w in d["workloads"].items()}
    want = {}
    for svc in _services_by_hostname(d):
        eps = svc["endpoints"]
        assert eps and all("workloadUid" not in ep for ep in eps.values())
        healthy = sum(status.get(ep["address"]) == "Healthy" for ep in eps.values())
        want[(svc["namespace"], svc["name"])] = f"{healthy}/{len(eps)}"
    assert "1/1" in want.values()
    got = pdebug("zc", "service", "-f", ZT / "2023-05" / "dump.json", "-o", "json")
    assert got.code == 0, got.err
    table = pdebug("zc", "service", "-f", ZT / "2023-05" / "dump.json")
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in table.out.splitlines()[1:]}
    assert rows == want
    check = pdebug("check", ZT / "2023-05" / "dump.json", "-o", "json")
    codes = {f["code"] for f in json.loads(check.out)["findings"]}
    assert not codes & {"PD705", "PD707"}, codes


def test_endpoint_at_no_workload_address_is_dangling(pdebug, tmp_path):
    """An endpoint without ``workloadUid`` whose address no workload has: PD707 names it."""
    d = _dump("2023-05")
    svc = d["services_by_hostname"]["default/httpbin.default.svc.cluster.local"]
    svc["endpoints"] = {"/10.9.9.9": {"address": "/10.9.9.9", "port": {"8000": 80}}}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(d))
    check = pdebug("check", path, "-o", "json")
    [finding] = [f for f in json.loads(check.out)["findings"] if f["code"] == "PD707"]
    assert "/10.9.9.9" in finding["message"]
    table = pdebug("zc", "service", "-f", path)
    [row] = [line for line in table.out.splitlines() if line.split()[:2] == ["default", "httpbin"]]
    assert row.split()[-1] == "0/1"


def test_2023_blog_policy_groups_are_its_rules(pdebug: Any, tmp_path: Path) -> None:
    """ztunnel 1.18 named a policy's rules ``groups`` (the istio.io blog's pasted dump):
    they are its rules, so no false PD708 ("ALLOW policy with no rules matches nothing")."""
    path = ZT / "2023-02-blog" / "dump.json"
    res = pdebug("check", path, "-o", "json")
    assert res.code == 0, res.out + res.err
    assert json.loads(res.out)["findings"] == []
    res = pdebug("zc", "policy", path, "-o", "wide")
    assert res.out.splitlines()[1].split() == [
        "default", "hw-viewer", "Allow", "WorkloadSelector", "1", "false"
    ]  # fmt: skip
    # a 1.18 policy with empty groups is still an ALLOW that matches nothing
    d = _dump("2023-02-blog")
    d["policies"]["default/hw-viewer"]["groups"] = []
    empty = tmp_path / "empty-groups.json"
    empty.write_text(json.dumps(d))
    res = pdebug("check", "-o", "json", empty)
    assert [f["code"] for f in json.loads(res.out)["findings"]] == ["PD708"]
    assert "each workload it selects denies" in json.loads(res.out)["findings"][0]["message"]


def test_one_tables_json_rows_are_named_for_what_they_are(pdebug: Any) -> None:
    """istioctl's ``zc connections -o json`` (a JSON array of one table's rows, its test
    data ``connectionsdump.json``) given to ``pdebug zc``: it said "not an Envoy config
    dump" with a hint about Envoy's ``configs`` list; it names the ztunnel dump to save."""
    res = pdebug("zc", "connections", FIXTURES / "istioctl/ztunnel-config/connectionsdump.json")
    assert res.code == 4
    assert "this is a JSON array, not a ztunnel config dump" in res.err
    assert "istioctl zc all -o json" in res.err and "Envoy" not in res.err


def test_kiali_ztunnel_124_dump(pdebug: Any) -> None:
    """A whole ztunnel 1.24 dump (Kiali's test data): services bound to the bookinfo
    waypoint name it, endpoints keyed by workload UID count, and a healthy mesh has no
    finding."""
    path = ZT / "2025-05-kiali" / "dump.json"
    rows = {(r[0], r[1]): r for r in _rows(pdebug("zc", "service", path).out)[1:]}
    assert rows[("bookinfo", "reviews")][3:] == ["waypoint", "3/3"]
    assert rows[("bookinfo", "waypoint")][3:] == ["None", "1/1"]
    assert rows[("keycloak", "keycloak-headless")][2:] == ["", "None", "1/1"]
    res = pdebug("check", path, "-o", "json")
    assert (res.code, json.loads(res.out)["findings"]) == (0, []), res.out


MAIN = ZT / "handmade-2026-main" / "dump.json"


def test_main_2026_dump_findings(pdebug: Any) -> None:
    """ztunnel main (2026-08) writes ``weightedWaypoints``, ``cidrVips`` objects,
    ``visibility``, ``networkGateway`` by hostname, ``applicationTunnel``, DOUBLEHBONE
    connections: each finding is the one the dump holds, no more (the leaf expired in 2023)."""
    res = pdebug("check", MAIN, "-o", "json")
    found = sorted((f["code"], f["resource"]) for f in json.loads(res.out)["findings"])
    assert found == [
        ("PD701", "certificate/spiffe://cluster.local/ns/bookinfo/sa/waypoint"),
        ("PD702", "certificate/spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"),
        ("PD704", "service/reviews.bookinfo"),
        ("PD708", "policy/istio-mesh.istio-system"),
        ("PD709", "workload/reviews-v1-abc.bookinfo"),
        ("PD710", "policy/audit-deny.bookinfo"),
        ("PD712", "connection/reviews-v1-abc.bookinfo"),
        ("PD713", "workload/waypoint-7d9f.bookinfo"),
    ], res.out


@pytest.mark.parametrize("form", ["object", "string"])
def test_address_in_a_cidr_vip_is_known(pdebug: Any, tmp_path: Path, form: str) -> None:
    """ztunnel resolves an address inside a service's ``cidrVips`` (a ServiceEntry address
    with a prefix) to that service: PD712 said "no workload or service ztunnel knows" for a
    connection to 10.50.3.4 inside 10.50.0.0/16; only 203.0.113.9 is unknown."""
    d = json.loads(MAIN.read_bytes())
    [api] = [s for s in d["services"] if s["name"] == "api"]
    if form == "string":
        api["cidrVips"] = ["net1/10.50.0.0/16"]
        path = tmp_path / "zt.json"
        path.write_text(json.dumps(d))
    else:
        path = MAIN
    assert api["vips"] == []
    res = pdebug("check", path, "-o", "json")
    msgs = [f["message"] for f in json.loads(res.out)["findings"] if f["code"] == "PD712"]
    assert len(msgs) == 1 and "203.0.113.9:443" in msgs[0], msgs
    # a range that does not hold it: the address is unknown again
    api["cidrVips"] = [{"network": "net1", "cidr": "10.60.0.0/16"}, "bad", 7]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(d))
    res = pdebug("check", other, "-o", "json")
    msgs = [f["message"] for f in json.loads(res.out)["findings"] if f["code"] == "PD712"]
    assert any("10.50.3.4:443" in m for m in msgs), msgs


def test_main_2026_tables(pdebug: Any) -> None:
    """istioctl's cells on today's fields: a hostname-only workload's ADDRESS is its
    hostname, a CIDR-only service has no SERVICE VIP, the weighted canary waypoint is not
    the WAYPOINT (istioctl ignores it); ``-o json`` keeps what istioctl drops."""
    rows = {r[1]: r for r in _rows(pdebug("zc", "workload", MAIN).out)[1:]}
    assert rows["ext"][2:] == ["api.example.com", "", "None", "TCP"]
    assert rows["reviews-v1-abc"][4] == "waypoint"
    svc = {r[1]: r for r in _rows(pdebug("zc", "service", MAIN).out)[1:]}
    assert svc["api"][2:] == ["", "None", "1/1"]
    assert svc["reviews"][2:] == ["10.96.5.5,fd00:96::5", "waypoint", "1/2"]
    out = json.loads(pdebug("zc", "service", MAIN, "-o", "json").out)
    api = next(s for s in out if s["name"] == "api")
    assert api["cidrVips"] == [{"network": "net1", "cidr": "10.50.0.0/16"}]
    assert api["visibility"] == "Namespace"
    reviews = next(s for s in out if s["name"] == "reviews")
    assert [w["weight"] for w in reviews["weightedWaypoints"]] == [90, 10]
    conns = pdebug("zc", "connections", MAIN).out.splitlines()
    [double] = [ln.split() for ln in conns if ln.endswith(" DOUBLEHBONE")]
    assert double[3:] == ["172.18.0.50:15008", "ratings-remote.bookinfo:9080", "DOUBLEHBONE"]
    res = pdebug("diff", MAIN, MAIN)
    assert res.code == 0 and "Services Match" in res.out


def test_service_entry_endpoint_with_waypoint_is_not_pd714(pdebug: Any, tmp_path: Path) -> None:
    """istiod gives a ServiceEntry's endpoints the waypoint of their namespace (or label)
    while they stay TCP: nothing to capture, the client's ztunnel applies the waypoint. PD714
    ("label its namespace istio.io/dataplane-mode=ambient") was noise on each; a pod of the
    same shape still raises it."""
    d = json.loads(MAIN.read_bytes())
    [se] = [w for w in d["workloads"] if w["name"] == "legacy-db"]
    assert se["protocol"] == "TCP" and se["waypoint"]
    res = pdebug("check", MAIN, "-o", "json")
    assert "PD714" not in {f["code"] for f in json.loads(res.out)["findings"]}
    se["uid"] = "cluster1//Pod/bookinfo/legacy-db-0"
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(d))
    res = pdebug("check", path, "-o", "json")
    found = [f["resource"] for f in json.loads(res.out)["findings"] if f["code"] == "PD714"]
    assert found == ["workload/legacy-db.bookinfo"]


def test_dry_run_allow_without_rules_is_not_pd708(pdebug: Any, tmp_path: Path) -> None:
    """ztunnel leaves dry-run ALLOW policies out of its decision (it only logs whether they
    would match): an empty one denies nothing, so no PD708 error; PD710 says what enforcing
    it would do. Enforced, the same policy is PD708 again."""
    d = json.loads(MAIN.read_bytes())
    [mesh] = [p for p in d["policies"] if p["name"] == "istio-mesh"]
    assert mesh["rules"] == [] and mesh["action"] == "Allow"
    mesh["dryRun"] = True
    path = tmp_path / "dry.json"
    path.write_text(json.dumps(d))
    found = json.loads(pdebug("check", path, "-o", "json").out)["findings"]
    mine = [f for f in found if f["resource"] == "policy/istio-mesh.istio-system"]
    assert [f["code"] for f in mine] == ["PD710"]
    assert "enforced it would deny" in mine[0]["message"]
    found = json.loads(pdebug("check", MAIN, "-o", "json").out)["findings"]
    mine = [f["code"] for f in found if f["resource"] == "policy/istio-mesh.istio-system"]
    assert mine == ["PD708"]


@pytest.mark.parametrize(("port", "flagged"), [("15009", False), ("15008", False), ("15010", True)])
def test_double_hbone_to_a_gateway_found_by_dns(
    pdebug: Any, tmp_path: Path, port: str, flagged: bool
) -> None:
    """A remote workload's ``networkGateway`` names the east-west gateway by hostname with
    ``hboneMtlsPort`` 15009; the dump has no address for it (ztunnel resolves it by DNS),
    so a DOUBLEHBONE connection to its IP on 15009 is what the dump asks for: PD711 said
    "not port 15008". Another port is still flagged."""
    d = json.loads(MAIN.read_bytes())
    [remote] = [w for w in d["workloads"] if w["name"] == "ratings-remote"]
    assert remote["networkGateway"]["hboneMtlsPort"] == 15009
    assert not [s for s in d["services"] if "eastwest" in s["hostname"]]
    conns = d["workloadState"]["cluster1//Pod/bookinfo/reviews-v1-abc"]["connections"]
    [double] = [c for c in conns["outbound"] if c["protocol"] == "DOUBLEHBONE"]
    double["actualDst"] = f"172.18.0.50:{port}"
    path = tmp_path / "zt.json"
    path.write_text(json.dumps(d))
    found = json.loads(pdebug("check", path, "-o", "json").out)["findings"]
    msgs = [f["message"] for f in found if f["code"] == "PD711"]
    assert bool(msgs) == flagged, msgs
    if flagged:
        assert msgs == [f"DOUBLEHBONE connection to 172.18.0.50:{port}, not port 15008 or 15009"]


def test_namespace_visible_service_from_another_namespace(pdebug: Any, tmp_path: Path) -> None:
    """ztunnel resolves a service of ``visibility: Namespace`` (by VIP or inside its
    ``cidrVips``) only for clients of its own namespace. From another namespace the
    connection is passed through: PD712 names the service and why, instead of calling
    the address known (silence) or "of no service"."""
    d = json.loads(MAIN.read_bytes())
    [db] = [s for s in d["services"] if s["name"] == "legacy-db"]
    db["visibility"] = "Namespace"
    state = d["workloadState"]["cluster1//Pod/bookinfo/reviews-v1-abc"]
    state["connections"]["outbound"].append(
        {"src": "10.244.1.5:40104", "originalDst": "240.240.0.7:5432",
         "actualDst": "240.240.0.7:5432", "protocol": "TCP"}
    )  # fmt: skip
    path = tmp_path / "same.json"
    path.write_text(json.dumps(d))
    found = json.loads(pdebug("check", path, "-o", "json").out)["findings"]
    msgs = [f["message"] for f in found if f["code"] == "PD712"]
    assert len(msgs) == 1 and "203.0.113.9" in msgs[0], msgs  # same namespace: resolved
    state["info"]["namespace"] = "shop"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(d))
    found = json.loads(pdebug("check", other, "-o", "json").out)["findings"]
    msgs = sorted(f["message"] for f in found if f["code"] == "PD712")
    assert len(msgs) == 3, msgs
    assert msgs[0].startswith("outbound to 10.50.3.4:443, an address of bookinfo/api, visible only")
    assert msgs[1].startswith("outbound to 203.0.113.9:443, an address of no workload")
    assert msgs[2].startswith(
        "outbound to 240.240.0.7:5432, an address of bookinfo/legacy-db, visible only in its "
        "own namespace (visibility Namespace): ztunnel does not resolve it for a client of "
        "namespace shop (passed through, unmanaged)"
    )


def test_passthrough_service_without_endpoints_is_not_pd706(pdebug: Any, tmp_path: Path) -> None:
    """A ServiceEntry of resolution NONE reaches ztunnel as a service with
    ``loadBalancer.mode: Passthrough`` and no endpoints: ztunnel sends each connection to
    the address asked (istio/ztunnel ``build_request_passthrough_svc``), so "no endpoints:
    connections to it fail" (PD706) was false. The ENDPOINTS cell stays istioctl's 0/0;
    in Standard mode it is PD706 again."""
    d = json.loads(MAIN.read_bytes())
    [svc] = [s for s in d["services"] if s["name"] == "any-egress"]
    assert svc["endpoints"] == {} and svc["loadBalancer"]["mode"] == "Passthrough"
    found = json.loads(pdebug("check", MAIN, "-o", "json").out)["findings"]
    assert "PD706" not in {f["code"] for f in found}
    rows = {r[1]: r for r in _rows(pdebug("zc", "service", MAIN).out)[1:]}
    assert rows["any-egress"][2:] == ["240.240.0.9", "None", "0/0"]
    svc["loadBalancer"]["mode"] = "Standard"
    path = tmp_path / "std.json"
    path.write_text(json.dumps(d))
    found = json.loads(pdebug("check", path, "-o", "json").out)["findings"]
    assert [f["resource"] for f in found if f["code"] == "PD706"] == ["service/any-egress.bookinfo"]
