"""Correctness sweep 15: ambient (ztunnel, waypoints) and istiod inputs of other eras.

Each test names the input that showed the bug; the inputs are in fixtures/corpus
(provenance in fixtures/corpus/MANIFEST.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import harness as eh
from tests.harness import FIXTURES
from tests.harness import kube_double as kd

ZT120 = FIXTURES / "corpus/ztunnel/handmade-1.20-indexes/indexes.json"


def test_zc_1_20_headless_service_only_in_by_host(pdebug):
    # ztunnel 1.19-1.21 keep a service without a VIP only in by_host (hostname ->
    # [service]); zc service listed only the by_vip services: db was missing
    result = pdebug("zc", "service", "-f", ZT120)
    assert result.code == 0, result.err
    rows = [line.split() for line in result.out.splitlines()[1:]]
    assert rows == [
        ["default", "db", "None", "1/1"],
        ["default", "sleep", "10.96.10.10", "None", "1/1"],
    ]


def test_zc_1_20_policies_in_by_key(pdebug):
    # ztunnel 1.19-1.21 keep the policies in by_key (ns/name -> policy): zc policy said
    # "No policies found." and check warned PD709 (a policy ztunnel does not have)
    result = pdebug("zc", "policy", "-f", ZT120)
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].split() == [
        "default",
        "allow-sleep",
        "Allow",
        "WorkloadSelector",
    ]
    check = pdebug("check", ZT120)
    assert "PD709" not in check.out
    assert "PD701" in check.out  # the Initializing certificate is still reported


# --- pdebug waypoints: istiod's binding rules (istio/istio@86c9f01,
# pilot/pkg/serviceregistry/ambient/waypoints.go: GetUseWaypoint, fetchWaypointForTarget,
# fetchWaypointForService, makeAllowedRoutes); objects made by hand in the double ---


@pytest.fixture
def kube_reads():
    return eh.WAYPOINT_READS


def _wide_json(pdebug, kubeconfig: str) -> dict[str, dict[str, object]]:
    r = pdebug("waypoints", "-A", "-o", "json", "--kubeconfig", kubeconfig)
    assert r.code == 0, r.err
    return {f"{w['namespace']}/{w['name']}": w for w in json.loads(r.out)}


def test_waypoints_cross_namespace_needs_allowed_routes(
    pdebug, kube: kd.KubeDouble, kubeconfig: str, no_ambient_config: None
):
    # a Service in another namespace asking for a waypoint whose HBONE listener keeps
    # the Gateway API default (allowedRoutes from: Same) is refused by istiod
    # ("attachment denied"); pdebug listed it as bound
    kube.add_namespace("shared")
    kube.add_namespace("app", {"team": "a"})
    kube.add_namespace("other")
    kube.add_gateway("same-only", "shared")
    open_gw = kube.add_gateway("open", "shared")
    open_gw["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    picky = kube.add_gateway("picky", "shared")
    picky["spec"]["listeners"][0]["allowedRoutes"] = {
        "namespaces": {"from": "Selector", "selector": {"matchLabels": {"team": "a"}}}
    }
    far = {"istio.io/use-waypoint-namespace": "shared"}
    kube.add_service("a1", "app", labels={"istio.io/use-waypoint": "same-only", **far})
    kube.add_service("a2", "app", labels={"istio.io/use-waypoint": "open", **far})
    kube.add_service("a3", "app", labels={"istio.io/use-waypoint": "picky", **far})
    kube.add_service("o3", "other", labels={"istio.io/use-waypoint": "picky", **far})
    kube.add_service("s1", "shared", labels={"istio.io/use-waypoint": "same-only"})
    got = _wide_json(pdebug, kubeconfig)
    assert got["shared/same-only"]["services"] == ["shared/s1"]
    assert got["shared/open"]["services"] == ["app/a2"]
    assert got["shared/picky"]["services"] == ["app/a3"]


def test_waypoints_namespace_override_read_where_the_binding_is(
    pdebug, kube: kd.KubeDouble, kubeconfig: str, no_ambient_config: None
):
    # the object's own istio.io/use-waypoint goes with its own
    # istio.io/use-waypoint-namespace only; an inherited one with the namespace's. pdebug
    # mixed them: the namespace's override moved a Service's own binding elsewhere
    kube.add_namespace("app", {"istio.io/use-waypoint-namespace": "shared"})
    kube.add_namespace("shared")
    for ns in ("app", "shared"):
        gw = kube.add_gateway("wp", ns)
        gw["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    kube.add_service("mine", "app", labels={"istio.io/use-waypoint": "wp"})
    got = _wide_json(pdebug, kubeconfig)
    assert got["app/wp"]["services"] == ["app/mine"]
    assert got["shared/wp"]["services"] == []


def test_waypoints_east_west_gateway_service_never_bound(
    pdebug, kube: kd.KubeDouble, kubeconfig: str, no_ambient_config: None
):
    # istiod never gives a waypoint to a Service managed as a waypoint or an east-west
    # gateway (gateway.istio.io/managed), e.g. an older waypoint's
    # "<gateway>-istio-waypoint" Service in a namespace bound to it
    kube.add_namespace("app", {"istio.io/use-waypoint": "waypoint"})
    kube.add_gateway("waypoint", "app")
    kube.add_service(
        "waypoint-istio-waypoint",
        "app",
        labels={"gateway.istio.io/managed": "istio.io-mesh-controller"},
    )
    kube.add_service(
        "eastwest", "app", labels={"gateway.istio.io/managed": "istio.io-eastwest-controller"}
    )
    kube.add_service("productpage", "app")
    got = _wide_json(pdebug, kubeconfig)
    assert got["app/waypoint"]["services"] == ["app/productpage"]


def test_waypoints_empty_labels_print_as_istioctl(
    pdebug, kube: kd.KubeDouble, kubeconfig: str, no_ambient_config: None
):
    # istioctl prints REVISION "default" and TRAFFIC TYPE "none" for an EMPTY label too
    kube.add_namespace("default")
    kube.add_gateway("wp", "default", labels={"istio.io/rev": "", "istio.io/waypoint-for": ""})
    r = pdebug("waypoints", "--kubeconfig", kubeconfig)
    assert r.code == 0, r.err
    assert r.out.splitlines()[1].split() == ["wp", "default", "none", "True"]


ISTIOD_ZT = FIXTURES / "corpus/istiod/handmade-1.28-ztunnel/config_dump.json"


@pytest.mark.parametrize(
    "args",
    [("zc", "workload", "-f"), ("zc", "service", "-f"), ("clusters",), ("check",), ("all",)],
)
def test_istiod_view_of_a_ztunnel_is_named(pdebug, args: tuple[str, ...]):
    # istiod's /debug/config_dump?proxyID=<ztunnel> (istio.workload.Address resources):
    # zc said "this is an Envoy config dump, not a ztunnel one" (hint: pdebug clusters),
    # and the Envoy views "the dump has no section pdebug knows"
    result = pdebug(*args, ISTIOD_ZT)
    assert result.code == 4
    assert f"{ISTIOD_ZT}: this is istiod's view of a ztunnel" in result.err
    assert "not an Envoy config dump, not a ztunnel one" not in result.err
    assert "hint: read the ztunnel's own dump: pdebug zc all ZTUNNEL_POD" in result.err
    assert result.out == ""


# --- trace through a multi-network waypoint (istiod with AMBIENT_ENABLE_MULTI_NETWORK:
# istio/istio@86c9f01 pilot/pkg/networking/core/listener_waypoint.go puts an exact map on
# the filter state io.istio.connect_authority, which connect_terminate's connect_authority
# filter sets from the CONNECT's :authority, before the destination-IP matcher) ---

WAYPOINT = FIXTURES / "istioctl/proxy-config-all/config_dump.json"
_FILTER_STATE = (
    "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.FilterStateInput"
)


def _multi_network_waypoint(tmp_path: Path) -> Path:
    doc = json.loads(WAYPOINT.read_bytes())
    for section in doc["configs"]:
        for entry in section.get("dynamic_listeners", []):
            lst = entry.get("active_state", {}).get("listener", {})
            if lst.get("name") != "main_internal":
                continue
            chain = "inbound-vip|8000||httpbin.default.svc.cluster.local-http"
            action = {
                "action": {
                    "name": chain,
                    "typed_config": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": chain,
                    },
                }
            }
            lst["filter_chain_matcher"] = {
                "matcher_tree": {
                    "input": {
                        "name": "authority-filter-state",
                        "typed_config": {
                            "@type": _FILTER_STATE,
                            "key": "io.istio.connect_authority",
                        },
                    },
                    "exact_match_map": {"map": {"httpbin.default.svc.cluster.local:8000": action}},
                },
                "on_no_match": {"matcher": lst["filter_chain_matcher"]},
            }
    path = tmp_path / "waypoint-multi-network.json"
    path.write_text(json.dumps(doc))
    return path


def test_trace_multi_network_waypoint_reads_the_connect_authority(pdebug, tmp_path: Path):
    # the filter state input stopped the walk: "UNKNOWN ... matcher input FilterStateInput";
    # ztunnel's CONNECT authority for a VIP is VIP:port, which no hostname key matches,
    # so Envoy falls through to the IP matcher
    dump = _multi_network_waypoint(tmp_path)
    want = pdebug("trace", WAYPOINT, "http://10.104.171.68:8000/", "-o", "json")
    got = pdebug("trace", dump, "http://10.104.171.68:8000/", "-o", "json")
    assert json.loads(got.out)["verdict"] == json.loads(want.out)["verdict"]
    chains = [
        s["name"]
        for s in json.loads(got.out)["steps"]
        if s["kind"] == "filter_chain" and s["matched"]
    ]
    assert "inbound-vip|8000||httpbin.default.svc.cluster.local-http" in chains
    other = pdebug("trace", dump, "http://10.9.9.9:8000/", "-o", "json")
    assert json.loads(other.out)["verdict"]["kind"] == "no_filter_chain"
    by_name = pdebug("trace", dump, "http://httpbin.default:8000/")
    assert "httpbin.default taken as 10.104.171.68" in by_name.out + by_name.err
    assert by_name.code == pdebug("trace", WAYPOINT, "http://httpbin.default:8000/").code


def test_trace_waypoint_host_name_through_a_protocol_matcher(pdebug, tmp_path: Path):
    # a port whose protocol istiod does not know maps to a matcher on the application
    # protocol (match.NewAppProtocol), not to a chain: a host name was "destination IP
    # unknown" (UNKNOWN) because the VIP's chain for the port was not found
    doc = json.loads(WAYPOINT.read_bytes())
    chain = "inbound-vip|8000||httpbin.default.svc.cluster.local-http"

    def action(name: str) -> dict[str, object]:
        sv = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": name}
        return {"action": {"name": name, "typed_config": sv}}

    alpn = _FILTER_STATE.replace("FilterStateInput", "ApplicationProtocolInput")
    for section in doc["configs"]:
        for entry in section.get("dynamic_listeners", []):
            lst = entry.get("active_state", {}).get("listener", {})
            if lst.get("name") != "main_internal":
                continue
            ranges = lst["filter_chain_matcher"]["matcher_tree"]["custom_match"]["typed_config"]
            ports = ranges["range_matchers"][0]["on_match"]["matcher"]["matcher_tree"]
            ports["exact_match_map"]["map"]["8000"] = {
                "matcher": {
                    "matcher_tree": {
                        "input": {"name": "application-protocol", "typed_config": {"@type": alpn}},
                        "exact_match_map": {
                            "map": {"'h2c'": action(chain), "'http/1.1'": action(chain)}
                        },
                    },
                    "on_no_match": action(chain),
                }
            }
    dump = tmp_path / "waypoint-app-protocol.json"
    dump.write_text(json.dumps(doc))
    by_name = pdebug("trace", dump, "http://httpbin.default:8000/")
    assert "httpbin.default taken as 10.104.171.68" in by_name.out + by_name.err
    assert "destination IP unknown" not in by_name.out + by_name.err


# --- ztunnel 1.18-1.21 certificates: ``ca_cert`` is the LEAF (istio/ztunnel@1.20.0
# src/admin.rs dump_certs writes dump_cert(certs.x509()) there), ``cert_chain`` the rest ---

ZT_CERTS_120 = FIXTURES / "corpus/ztunnel/2023-08-ztunnel-1.20-test-certs/certificates.json"


def _cert_rows(out: str, identity: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.startswith(identity + " ")]


def test_zc_certificate_1_20_ca_cert_is_the_leaf(pdebug):
    # ztunnel's own expected output of its 1.20 test: the 7-hour certificate of sa-0 is
    # under ca_cert; pdebug printed it as the Root and the CA (valid to 2296) as the Leaf
    result = pdebug("zc", "certificate", "-f", ZT_CERTS_120)
    assert result.code == 0, result.err
    rows = _cert_rows(result.out, "spiffe://trust_domain/ns/namespace/sa/sa-0")
    leaf = f"{588850990443535479077311695632745359443207891470:x}"
    assert [(r[1], r[4], r[5]) for r in rows] == [
        ("Leaf", leaf, "2023-03-11T12:57:26Z"),
        ("Root", f"{67955938755654933561614970125599055831405010529:x}", "2296-12-24T18:31:28Z"),
    ]
    check = pdebug("check", ZT_CERTS_120)
    assert f"Leaf certificate (serial {leaf}) is not valid now" in check.out


def test_zc_certificate_2023_dump_agrees_with_todays_golden(pdebug):
    # istioctl's test dump of 2023 (ca_cert/cert_chain) holds the same istiod certificates
    # as today's dump.json (certChain, leaf first): the rows must be the same; pdebug
    # swapped Leaf and Root
    old = pdebug("zc", "certificate", "-f", FIXTURES / "corpus/ztunnel/2023-03/dump.json")
    golden = (FIXTURES / "istioctl/ztunnel-config/secretsummary.txt").read_text()
    identity = "spiffe://cluster.local/ns/istio-system/sa/istiod"
    want = [r for r in _cert_rows(golden, identity) if r[2] == "Available"]
    got = [r for r in _cert_rows(old.out, identity) if r[2] == "Available"]
    assert [r[1] for r in got] == ["Leaf", "Root"]
    assert [r[1:] for r in got] == [r[1:] for r in want]


@pytest.mark.parametrize("configs", ["5", '{"a": 1}', "[1]", '[{"@type": 3}]'])
def test_zc_odd_configs_is_one_line(pdebug, tmp_path: Path, configs: str):
    # the istiod-view probe must not trip over a damaged "configs" (exit 4, not 5)
    path = tmp_path / "odd.json"
    path.write_text('{"configs": ' + configs + "}")
    result = pdebug("zc", "workload", "-f", path)
    assert result.code == 4, result.err
    assert "internal error" not in result.err


# --- pdebug status on istiod >= 1.24's HTTP /debug/syncz (``resources``: what each proxy
# watches; istio/istio@1.28.0 pilot/pkg/xds/debug.go) ---

HTTP_SYNCZ_128 = FIXTURES / "corpus/istiod/handmade-1.28-http-syncz/syncz.json"


def test_status_http_syncz_unwatched_type_is_ignored(pdebug):
    # the waypoint never subscribed to ECDS (not in its resources): pdebug said
    # "ECDS NOT SENT" and counted it in SUBSCRIBED TYPES ("6 (...,ECDS,SDS)"); istiod's
    # xDS answer for the same state leaves ECDS out, which istioctl shows IGNORED / "5 (...)"
    types = pdebug("status", "-f", HTTP_SYNCZ_128, "--layout", "types")
    assert types.code == 0, types.err
    rows = {line.split()[0]: line for line in types.out.splitlines()[1:]}
    assert rows["waypoint-7d6c9b8f7-abcde.bookinfo"].endswith("5 (CDS,LDS,EDS,RDS,SDS)")
    assert rows["ztunnel-5x7kq.istio-system"].endswith("2 (WADS,WDS)")
    fixed = pdebug("status", "-f", HTTP_SYNCZ_128, "--layout", "fixed")
    cells = {line.split()[0]: line.split() for line in fixed.out.splitlines()[1:]}
    assert cells["waypoint-7d6c9b8f7-abcde.bookinfo"][2:7] == [
        "ERROR",  # CDS: its last push NACKed (lastError), as istioctl says (was STALE)
        "SYNCED",
        "SYNCED",
        "SYNCED",
        "IGNORED",
    ]
    assert cells["ztunnel-5x7kq.istio-system"][2:7] == ["IGNORED"] * 5


def test_istiod_1_18_view_of_a_ztunnel_is_named(pdebug, tmp_path: Path):
    # istiod 1.18 answered a ztunnel's config_dump with istio.workload.Workload resources
    # (pilot/pkg/xds/debug.go at tag 1.18.0); later ones with istio.workload.Address
    path = tmp_path / "istiod-1.18-ztunnel.json"
    workload = {"@type": "type.googleapis.com/istio.workload.Workload", "name": "sleep-1"}
    path.write_text(json.dumps({"configs": [workload]}))
    for args in (("zc", "workload", "-f"), ("listeners",)):
        result = pdebug(*args, path)
        assert result.code == 4 and "this is istiod's view of a ztunnel" in result.err


# --- istioctl zc all -o yaml: the whole dump as YAML (sigs.k8s.io/yaml JSONToYAML) ---

ZC_DUMP = FIXTURES / "istioctl/ztunnel-config/dump.json"


def _as_istioctl_yaml(tmp_path: Path, quote_times: bool = True) -> Path:
    import yaml

    text = yaml.safe_dump(json.loads(ZC_DUMP.read_bytes()), sort_keys=True)
    if not quote_times:  # a converter that leaves RFC 3339 times unquoted
        text = text.replace("'20", "20").replace("Z'", "Z")
    path = tmp_path / "zc-all.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("quote_times", [True, False])
@pytest.mark.parametrize("view", ["workload", "service", "policy", "certificate", "connections"])
def test_zc_reads_istioctl_zc_all_yaml(pdebug, tmp_path: Path, view: str, quote_times: bool):
    # `istioctl zc all -o yaml > dump.yaml` was "not JSON (starts with 'certificates:')"
    # with a hint about /clusters; it is now read as the dump it holds
    path = _as_istioctl_yaml(tmp_path, quote_times)
    now = ("--now", "2026-01-01T00:00:00Z") if view == "certificate" else ()
    got = pdebug("zc", view, "-f", path, *now)
    want = pdebug("zc", view, "-f", ZC_DUMP, *now)
    assert got.code == 0, got.err
    assert got.out == want.out


def test_zc_all_yaml_is_named_as_ztunnel_by_the_other_commands(pdebug, tmp_path: Path):
    path = _as_istioctl_yaml(tmp_path)
    listeners = pdebug("listeners", path)
    assert listeners.code == 4
    assert "this is a ztunnel config dump (Istio ambient)" in listeners.err
    check = pdebug("check", path, "-o", "json")
    want = pdebug("check", ZC_DUMP, "-o", "json")
    assert check.code == want.code
    assert json.loads(check.out)["findings"] == json.loads(want.out)["findings"]
    assert pdebug("diff", path, ZC_DUMP).code == 0


@pytest.mark.parametrize("top", ["workloads", "configs"])
@pytest.mark.parametrize("args", [("zc", "workload", "-f"), ("clusters",)])
def test_yaml_alias_bomb_is_refused_at_once(pdebug, tmp_path: Path, top: str, args):
    # nine lines of YAML aliases expand to 10^9 strings once turned back into JSON: the
    # YAML readers (the ztunnel one new here, the Envoy one) went past 8 GB
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    lines.append(f"{top}: [*i]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = pdebug(*args, path)
    assert result.code == 4
    if not (args[0] == "zc" and top == "configs"):  # (that one is no ztunnel YAML at all)
        assert "YAML with aliases (*name)" in result.err


def test_status_yaml_alias_bomb_is_refused_at_once(pdebug, tmp_path: Path):
    # istioctl proxy-status -o yaml is read too: with aliases, -o json (which prints the
    # answer back) went past 12 GB
    lines = ["controlPlane: {identifier: x}", 'a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    cc = "type.googleapis.com/envoy.service.status.v3.ClientConfig"
    lines.append(f"resources: [{{'@type': {cc}, node: {{id: p.ns, metadata: {{X: *i}}}}}}]")
    lines.append("typeUrl: istio.io/debug/syncz")
    path = tmp_path / "syncz.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = pdebug("status", "-f", path, "-o", "json")
    assert result.code == 4
    assert "YAML with aliases (*name)" in result.err


def test_waypoints_n_says_other_namespaces_may_attach(
    pdebug, kube: kd.KubeDouble, kubeconfig: str, no_ambient_config: None
):
    # with -n, only that namespace's services and pods are read: a waypoint open to other
    # namespaces showed "SERVICES -" as if nothing used it
    kube.add_namespace("shared")
    kube.add_namespace("app")
    open_gw = kube.add_gateway("open", "shared")
    open_gw["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    kube.add_gateway("closed", "shared")
    kube.add_service(
        "a2",
        "app",
        labels={"istio.io/use-waypoint": "open", "istio.io/use-waypoint-namespace": "shared"},
    )
    r = pdebug("waypoints", "-n", "shared", "-o", "wide", "--kubeconfig", kubeconfig)
    assert r.code == 0, r.err
    assert "note: waypoint open lets other namespaces attach (allowedRoutes from: All)" in r.err
    assert "waypoint closed" not in r.err
    table = pdebug("waypoints", "-n", "shared", "--kubeconfig", kubeconfig)
    assert table.err == ""  # istioctl's table says nothing of bindings
    every = _wide_json(pdebug, kubeconfig)
    assert every["shared/open"]["services"] == ["app/a2"]
    assert every["shared/open"]["attach_from"] == "All"
