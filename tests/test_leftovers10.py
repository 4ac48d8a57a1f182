"""leftovers10: what ``check`` and ``report`` left unsaid (the twelfth session's items).

The report page did not show check's ``Not checked`` lines; ``check BUNDLE`` did not count
them; PD203 missed an HTTP filter wrapped in a TypedStruct, counted a filter every route
turns off, and said nothing of an EDS cluster the dump has no assignment for. Each test
failed before its fix. Inputs: public dumps (fixtures/corpus, istioctl's test dumps),
Envoy's own configs (fixtures/envoy-examples) run by Envoy 1.40.
"""

from __future__ import annotations

import copy
import html as htmllib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pdebug import bundle
from tests.harness import FIXTURES, ISTIOCTL
from tests.harness import envoy as eh
from tests.test_bundle_views import NO_CERTS, make_snapshot, proxy
from tests.test_sweep29 import ROUTER, _loopback, _status

CORPUS = FIXTURES / "corpus"
#: Istio 1.4's productpage: every listener and cluster reads /etc/certs (two files).
PRODUCTPAGE = CORPUS / "istio/2020-01-productpage/productpage_config_dump.json"
SECRETS = ISTIOCTL / "proxy-config-secret/istio/config_dump.json"
SIDECAR = FIXTURES / "real/sidecar/config_dump.json"


def _data(page: str) -> dict[str, Any]:
    """The page's data block (what its script draws)."""
    found = re.search(
        r'<script type="application/json" id="pdebug-data">(.*?)</script>', page, re.S
    )
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def _not_checked_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("Not checked")]


# --------------------------------------------------------------------------- 1. the report


def test_report_shows_checks_not_checked_lines(pdebug, tmp_path: Path) -> None:
    """Istio 1.4's productpage: `check` says two certificate files were not checked; the
    report's findings said "No findings." alone, as if every certificate had been judged."""
    said = _not_checked_lines(pdebug("check", PRODUCTPAGE).out)
    assert len(said) == 2
    page = tmp_path / "r.html"
    got = pdebug("report", PRODUCTPAGE, "-o", page)
    assert got.code == 0, got.err
    text = page.read_text()
    (proxy_data,) = _data(text)["proxies"]
    assert proxy_data["findings"]["rows"]  # under its findings
    assert proxy_data["findings"]["note"] == " ".join(said)
    # the copy for viewers without scripts shows it too, escaped as every page text
    assert '<p class="note">' + htmllib.escape(" ".join(said)) + "</p>" in text


def test_report_escapes_a_not_checked_file_name(pdebug, tmp_path: Path) -> None:
    """istioctl's secret test dump with `default` read from a file whose name is markup
    and a terminal escape: the page shows it as text, on both renderings."""
    doc = json.loads(SECRETS.read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_active_secrets", []):
            if entry["name"] == "default":
                chain = {"filename": "/etc/<img src=x onerror=alert(1)>\x1b[31mchain.pem"}
                entry["secret"]["tls_certificate"]["certificate_chain"] = chain
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    page = tmp_path / "r.html"
    got = pdebug("report", dump, "-o", page)
    assert got.code == 0, got.err
    text = page.read_text()
    assert "<img" not in text and "\x1b" not in text
    assert "/etc/&lt;img src=x onerror=alert(1)&gt;\\x1b[31mchain.pem on the proxy" in text
    (proxy_data,) = _data(text)["proxies"]
    note = proxy_data["findings"]["note"]
    assert "Not checked (PD501, PD502): secret/default: its certificate is the file" in note
    # no finding: the note says so first, as it always did
    assert note.startswith("No findings. Not checked") == (not proxy_data["findings"]["rows"])


def test_report_without_anything_not_checked_keeps_its_note(pdebug, tmp_path: Path) -> None:
    """A dump whose certificates are inline and every section read: the findings keep
    the note they had (None under findings, "No findings." alone otherwise)."""
    for source in (SIDECAR, SECRETS):
        assert not _not_checked_lines(pdebug("check", source).out)
        page = tmp_path / "r.html"
        assert pdebug("report", source, "-o", page).code == 0
        findings = _data(page.read_text())["proxies"][0]["findings"]
        assert findings["note"] in (None, "No findings.")
        assert (findings["note"] is None) == bool(findings["rows"])


# --------------------------------------------------------------------------- 2. check BUNDLE


def _bundle(tmp_path: Path) -> Path:
    """A bundle whose productpage proxy is Istio 1.4's (two certificate files)."""
    snap = make_snapshot(tmp_path / "snap.tar.gz")
    proxies = [
        proxy("productpage-v1-abc.default", PRODUCTPAGE.read_bytes()),
        proxy("seed.demo", (FIXTURES / "real/seed-demo/config_dump.json").read_bytes()),
    ]
    bundle.write_bundle(str(snap), proxies, {"kind": "snapshot", "source": "test"})
    return snap


def test_check_of_a_bundle_says_and_counts_what_was_not_checked(pdebug, tmp_path) -> None:
    """`check BUNDLE` printed "1 clean" of a proxy whose certificate files it could not
    judge, and never said them; `check FILE` of the same dump says two lines."""
    snap = _bundle(tmp_path)
    alone = _not_checked_lines(pdebug("check", PRODUCTPAGE).out)
    got = pdebug("check", snap)
    lines = got.out.splitlines()
    total = next(ln for ln in lines if ln.startswith("Checked "))
    assert total == (
        "Checked 2 proxies: 0 with errors, 0 with warnings, 2 clean; "
        "2 things not checked in 1 proxy (below)."
    )
    who = "productpage-v1-abc.default"
    assert _not_checked_lines(got.out) == [
        line.replace("Not checked (", f"Not checked in {who} (", 1) for line in alone
    ]
    plain = json.loads(pdebug("check", snap, "-o", "json").out)
    by = {p["name"]: p for p in plain["proxies"]}
    assert by[who]["not_checked"] == 2 and by["seed.demo"]["not_checked"] == 0
    assert plain["not_checked"] == 2
    assert len(by[who]["report"]["not_checked"]) == 4  # the single-proxy key, per code


def test_check_of_a_bundle_with_nothing_not_checked_says_no_more(pdebug, tmp_path) -> None:
    """The same bundle with the certificate checks ignored: nothing added to the totals
    (the golden of tests/test_bundle_views.py holds the table and totals themselves)."""
    got = pdebug("check", _bundle(tmp_path), *NO_CERTS)
    assert not _not_checked_lines(got.out)
    assert "not checked" not in got.out
    plain = json.loads(pdebug("check", _bundle(tmp_path), *NO_CERTS, "-o", "json").out)
    assert plain["not_checked"] == 0
    assert [p["not_checked"] for p in plain["proxies"]] == [0, 0]


# --------------------------------------------------------------------------- 3. PD203

needs_envoy = pytest.mark.skipif(not eh.envoy_available(), reason="envoy not installed")

#: How the authorization filter of Envoy's `configs/envoy_ext_authz.yaml` is written, and
#: how routes turn it off: each variant a listener of its own calling a cluster of its own.
_FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"
_OFF = {"@type": _FILTER_CONFIG, "disabled": True}
VARIANTS = (
    "plain",
    "typed_struct_udpa",  # as Istio's own EnvoyFilters write filters (the aeraki dump)
    "typed_struct_xds",
    "route_filter_config_off",
    "vhost_filter_config_off",
    "route_config_filter_config_off",
    "route_per_route_off",
    "route_per_route_off_in_typed_struct",
    "manager_off",
    "manager_off_route_on",
)


def _variant(boot: dict[str, Any], variant: str) -> dict[str, Any]:
    """The listener of ``boot`` (Envoy's ext_authz config) as ``variant`` writes it."""
    listener = copy.deepcopy(boot["static_resources"]["listeners"][0])
    listener["name"] = variant
    listener["address"]["socket_address"]["port_value"] = eh.free_port()
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][1] = copy.deepcopy(ROUTER)
    rc = hcm["route_config"]
    route = rc["virtual_hosts"][0]["routes"][0]
    route.pop("route")
    route["direct_response"] = {"status": 200}  # the answer when the filter lets it by
    authz = hcm["http_filters"][0]
    authz["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"] = f"authz-{variant}"
    if variant.startswith("typed_struct"):
        inner = authz["typed_config"]
        wrap = "udpa.type.v1" if variant.endswith("udpa") else "xds.type.v3"
        authz["typed_config"] = {
            "@type": f"type.googleapis.com/{wrap}.TypedStruct",
            "type_url": inner.pop("@type"),
            "value": inner,
        }
    elif variant == "route_filter_config_off":
        route["typed_per_filter_config"] = {authz["name"]: _OFF}
    elif variant == "vhost_filter_config_off":
        rc["virtual_hosts"][0]["typed_per_filter_config"] = {authz["name"]: _OFF}
    elif variant == "route_config_filter_config_off":
        rc["typed_per_filter_config"] = {authz["name"]: _OFF}
    elif variant == "route_per_route_off":
        route["typed_per_filter_config"] = {authz["name"]: {"@type": _PER_ROUTE, "disabled": True}}
    elif variant == "route_per_route_off_in_typed_struct":
        route["typed_per_filter_config"] = {
            authz["name"]: {
                "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                "type_url": _PER_ROUTE,
                "value": {"disabled": True},
            }
        }
    elif variant.startswith("manager_off"):
        authz["disabled"] = True
        if variant == "manager_off_route_on":
            route["typed_per_filter_config"] = {
                authz["name"]: {
                    "@type": _FILTER_CONFIG,
                    "config": {"@type": _PER_ROUTE, "check_settings": {}},
                }
            }
    return listener


@pytest.fixture(scope="module")
def authz_variants(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Envoy 1.40 running every variant: its dump, and each listener's answer to GET /."""
    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    boot = _loopback("envoy_ext_authz.yaml")
    listeners = [_variant(boot, v) for v in VARIANTS]
    boot["static_resources"]["listeners"] = listeners
    boot["static_resources"]["clusters"] = [
        {"name": f"authz-{v}", "type": "STATIC", "connect_timeout": "1s",
         "load_assignment": {"cluster_name": f"authz-{v}"}}  # no endpoints
        for v in VARIANTS
    ]  # fmt: skip
    dump = tmp_path_factory.mktemp("authz") / "dump.json"
    answers: dict[str, int] = {}
    with eh.Envoy(boot, wait_live=False, fmt="json") as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
        for lst in listeners:
            answers[lst["name"]] = _status(lst["address"]["socket_address"]["port_value"], {})
    return dump, answers


@needs_envoy
def test_pd203_says_an_authorization_service_without_endpoints_where_envoy_calls_it(
    pdebug, authz_variants
) -> None:
    """Envoy's ext_authz config, its service's cluster emptied, written ten ways. Where
    Envoy 1.40 answers 503 (the filter could not reach its service), PD203 names the
    cluster; where it answers the route's 200 (every route turned the filter off), PD203
    says nothing. It missed the filter in a TypedStruct (Envoy: 503) and named the
    filters the routes turn off (Envoy: 200)."""
    dump, answers = authz_variants
    assert answers["plain"] == 503 and answers["route_filter_config_off"] == 200  # facts
    assert set(answers.values()) == {200, 503}
    report = json.loads(pdebug("check", dump, "-o", "json").out)
    named = {
        f["resource"].removeprefix("cluster/authz-"): f
        for f in report["findings"]
        if f["code"] == "PD203"
    }
    assert set(named) == {v for v, status in answers.items() if status == 503}
    assert {v for v, status in answers.items() if status == 503} == {
        "plain", "typed_struct_udpa", "typed_struct_xds", "manager_off_route_on"
    }  # fmt: skip
    for variant, finding in named.items():
        assert finding["message"].endswith(
            f"; the HTTP filter envoy.ext_authz of listener/{variant} sends traffic to it"
        ), finding
        assert "the filter cannot reach its service" in finding["hint"]
    # the TypedStruct as Envoy dumps it: the wrapper kept, its value in snake_case
    text = dump.read_text()
    assert '"@type": "type.googleapis.com/udpa.type.v1.TypedStruct"' in text
    assert '"@type": "type.googleapis.com/xds.type.v3.TypedStruct"' in text


def test_typed_struct_as_istio_writes_it_is_unwrapped() -> None:
    """The aeraki dump (Istio 1.8's sidecar) wraps Istio's own filters in
    ``udpa.type.v1.TypedStruct``: the unwrapped message is the one ``type_url`` names."""
    from pdebug.model.listeners import unwrap_typed_struct

    doc = json.loads((CORPUS / "aeraki/thrift-sample-client-configdump.json").read_text())
    wrapped = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("@type", "")).endswith("TypedStruct"):
                wrapped.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert len(wrapped) > 20
    for node in wrapped:
        got = unwrap_typed_struct(node)
        assert got["@type"] == node["type_url"]
        assert {k: v for k, v in got.items() if k != "@type"} == node.get("value", {})
    assert unwrap_typed_struct({"@type": "x/Other", "type_url": "y"}) == {
        "@type": "x/Other", "type_url": "y"
    }  # fmt: skip


# --- an EDS cluster the dump holds no assignment for


def _eds_dump(tmp: Path) -> Path:
    """Envoy 1.40 with an EDS cluster (file EDS) that got no assignment, a route to it."""
    with eh.XdsFiles() as xds:
        cla = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
        xds._write(xds.eds_path("svc"), cla, [])
        port = eh.free_port()
        source = {**xds.eds_config("svc"), "initial_fetch_timeout": "0.5s"}
        hcm = {
            "@type": "type.googleapis.com/envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "in",
            "http_filters": [ROUTER],
            "route_config": {"name": "r", "virtual_hosts": [{
                "name": "v", "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "svc"}}]}]},
        }  # fmt: skip
        boot = {
            "node": {"id": "n", "cluster": "c"},
            "static_resources": {
                "listeners": [{
                    "name": "in",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": hcm}]}]}],
                "clusters": [{
                    "name": "svc", "type": "EDS", "connect_timeout": "1s",
                    "eds_cluster_config": {"eds_config": source, "service_name": "svc"}}],
            },
        }  # fmt: skip
        dump = tmp / "dump.json"
        with eh.Envoy(boot, wait_live=True, fmt="json") as envoy:
            dump.write_bytes(envoy.get("/config_dump?include_eds"))
            assert _status(port, {}) == 503  # no healthy upstream
    return dump


@needs_envoy
def test_eds_cluster_without_an_assignment_is_not_checked(pdebug, tmp_path) -> None:
    """Envoy 1.40 writes an empty assignment for an EDS cluster that got none (PD203:
    no endpoints). The same dump without that assignment said nothing at all; it is now
    a Not checked line (the dump does not say its endpoints), no finding."""
    dump = _eds_dump(tmp_path)
    doc = json.loads(dump.read_text())
    (eds,) = [c for c in doc["configs"] if c["@type"].endswith("EndpointsConfigDump")]
    assert [e["endpoint_config"]["cluster_name"] for e in eds["static_endpoint_configs"]] == [
        "svc"
    ]  # the fact: an entry, empty
    report = json.loads(pdebug("check", dump, "-o", "json").out)
    assert [(f["code"], f["resource"]) for f in report["findings"]] == [("PD203", "cluster/svc")]
    eds["static_endpoint_configs"] = []
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(doc))
    got = pdebug("check", cut, "--fail-on", "info")
    assert got.code == 0, got.out
    # PD202 too (trace13): hosts unknown, so whether one is healthy is unknown; one line
    assert _not_checked_lines(got.out) == [
        "Not checked (PD202, PD203): cluster/svc: an EDS cluster something sends traffic to has no "
        "assignment in the dump's endpoints section (Envoy writes one, empty or not, for "
        "every active EDS cluster): its endpoints are unknown (a dump cut or filtered? take "
        "it again with config_dump?include_eds, or give the proxy's GET "
        "/clusters?format=json (--clusters-json FILE))."
    ]


def test_nameless_assignments_of_consul_leave_its_clusters_not_checked(pdebug) -> None:
    """consul-k8s's test dump: two EDS clusters, two assignments without cluster_name
    that nothing attributes. PD203 said nothing of either; now a Not checked line says
    why, and the live /clusters the hint names attributes them (no line)."""
    dump = CORPUS / "consul-k8s/test_config_dump.json"
    (line,) = _not_checked_lines(pdebug("check", dump).out)
    assert line.startswith(
        "Not checked (PD203): cluster/client.default.dc1.internal."
        "bc3815c2-1a0f-f3ff-a2e9-20d791f08d00.consul (and 1 more): no assignment of the "
        "dump's endpoints section names this EDS cluster"
    )
    assert "(2 there name no cluster, and the dump does not tell whose they are)" in line
    live = pdebug("check", dump, "--clusters-json", CORPUS / "consul-k8s/test_clusters.json")
    assert not _not_checked_lines(live.out)


def test_istioctl_waypoint_dump_lacks_one_assignment(pdebug) -> None:
    """istioctl's proxy-config-all test dump (a waypoint): its endpoints section holds
    inbound-vip|8100 but not inbound-vip|8000, which its listener routes to."""
    (line,) = _not_checked_lines(
        pdebug("check", ISTIOCTL / "proxy-config-all/config_dump.json").out
    )
    assert line.startswith(  # PD202 too (trace13): one line for both codes
        "Not checked (PD202, PD203): "
        "cluster/inbound-vip|8000|http|httpbin.default.svc.cluster.local: an EDS "
        "cluster something sends traffic to has no assignment"
    )


# --- seeded: whether a filter runs on some route, against what the generator wrote

_ENTRIES: dict[str, tuple[Any, bool]] = {
    # label: (the typed_per_filter_config entry, whether it turns the filter off)
    "filter_config_off": ({"@type": _FILTER_CONFIG, "disabled": True}, True),
    "filter_config_on": ({"@type": _FILTER_CONFIG, "config": {"@type": _PER_ROUTE}}, False),
    "filter_config_inner_off": (
        {"@type": _FILTER_CONFIG, "config": {"@type": _PER_ROUTE, "disabled": True}},
        True,
    ),
    "filter_config_inner_typed_struct_off": (
        {
            "@type": _FILTER_CONFIG,
            "config": {
                "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                "type_url": _PER_ROUTE,
                "value": {"disabled": True},
            },
        },
        True,
    ),  # fmt: skip
    "per_route_off": ({"@type": _PER_ROUTE, "disabled": True}, True),
    "per_route_on": ({"@type": _PER_ROUTE, "check_settings": {}}, False),
    "typed_struct_off": (
        {
            "@type": "type.googleapis.com/xds.type.v3.TypedStruct",
            "typeUrl": _PER_ROUTE,
            "value": {"disabled": True},
        },
        True,
    ),  # fmt: skip
    "typed_struct_list": (
        {
            "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
            "type_url": _PER_ROUTE,
            "value": [True],
        },
        False,
    ),  # fmt: skip
    "disabled_as_text": ({"@type": _PER_ROUTE, "disabled": "true"}, False),
    "rbac_off_is_not_ours": ({"@type": "x/envoy.RBACPerRoute", "disabled": True}, False),
    "not_an_object": ([1, {"disabled": True}], False),
    "a_number": (7, False),
}


def test_filter_runs_as_its_routes_say_seeded() -> None:
    """300 route configurations: each route's most specific entry (route, virtual
    host, configuration) decides; none leaves the manager's default."""
    import random

    import msgspec

    from pdebug.model import schema as s
    from pdebug.model.routes import filter_runs

    labels = [*[None] * 8, *sorted(_ENTRIES)]
    for seed in range(300):
        rng = random.Random(seed)
        name = rng.choice(["envoy.filters.http.ext_authz", "ext\x1b[2Jauthz"])
        off_by_default = rng.random() < 0.4

        def entry(rng: random.Random = rng, name: str = name) -> tuple[dict[str, Any], str | None]:
            label = rng.choice(labels)
            if label is None:
                return ({"other": {"@type": _PER_ROUTE, "disabled": True}} if rng.random() < 0.3
                        else {}), None  # fmt: skip
            return {name: _ENTRIES[label][0]}, label

        top, top_label = entry()
        expected = False
        vhosts = []
        for _ in range(rng.randint(0, 3)):
            vh_cfg, vh_label = entry()
            routes = []
            for _ in range(rng.randint(0, 3)):
                r_cfg, r_label = entry()
                routes.append({"match": {"prefix": "/"}, "typed_per_filter_config": r_cfg})
                label = r_label or vh_label or top_label
                runs = not off_by_default if label is None else not _ENTRIES[label][1]
                expected = expected or runs
            vhosts.append({"name": "v", "routes": routes, "typed_per_filter_config": vh_cfg})
        doc = {"name": "r", "virtual_hosts": vhosts, "typed_per_filter_config": top}
        rc = msgspec.json.decode(json.dumps(doc).encode(), type=s.RouteConfiguration)
        assert filter_runs(rc, name, off_by_default) is expected, seed
