"""``pdebug check`` on crafted dumps: every check, skipped checks, bad input, exit codes.

Dumps are crafted from the real Envoy 1.40 sidecar capture in fixtures/real/sidecar/
(one field changed per test), so everything else in them is what Envoy writes.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pdebug.checks import ALL_CHECKS, BY_CODE, CheckOptions, Finding, Severity, run_checks
from pdebug.checks.listeners import envoy_reason
from pdebug.model import ProxyData
from pdebug.model.load import load
from tests.harness import FIXTURES, ISTIOCTL

SIDECAR = FIXTURES / "real/sidecar"
SEED = FIXTURES / "real/seed-demo"
DUMP = SIDECAR / "config_dump.json"
CLUSTERS = SIDECAR / "clusters.json"
RATINGS = "outbound|9080||ratings.default.svc.cluster.local"
REVIEWS_V1 = "outbound|9080|v1|reviews.default.svc.cluster.local"
Json = dict[str, Any]

_BASE = json.loads(DUMP.read_text())
_BASE_CLUSTERS = json.loads(CLUSTERS.read_text())


def sidecar_dump() -> Json:
    return copy.deepcopy(_BASE)


def section(doc: Json, kind: str) -> Json:
    return next(s for s in doc["configs"] if s["@type"].endswith("." + kind))


def drop(doc: Json, kind: str) -> Json:
    doc["configs"] = [s for s in doc["configs"] if not s["@type"].endswith("." + kind)]
    return doc


def listener(doc: Json, name: str) -> Json:
    dyn = section(doc, "ListenersConfigDump")["dynamic_listeners"]
    return next(lst for lst in dyn if lst["name"] == name)


def save(tmp_path: Path, doc: Json, name: str = "dump.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def check_json(pdebug, *args: Any, code: int | None = None) -> Json:
    result = pdebug("check", *map(str, args), "-o", "json")
    assert result.code in ((code,) if code is not None else (0, 1)), result.err
    return json.loads(result.out)


def found(report: Json, code: str, resource: str | None = None) -> list[Json]:
    return [
        f
        for f in report["findings"]
        if f["code"] == code and (resource is None or f["resource"] == resource)
    ]


def proxy(doc: Json | None = None, clusters: Json | None = None) -> ProxyData:
    data = ProxyData("test")
    if doc is not None:
        data.dump = load(json.dumps(doc).encode(), "test").dump
    if clusters is not None:
        data.health = load(json.dumps(clusters).encode(), "clusters").clusters
    return data


def findings_of(doc: Json, code: str) -> list[Finding]:
    """The findings of check ``code`` on the dump ``doc``, in the report's order."""
    return [f for f in run_checks(proxy(doc)).findings if f.code == code]


def codes(report: Any) -> set[str]:
    return {f.code for f in report.findings}


# --- the registry ----------------------------------------------------------------------


def test_codes_are_unique_sorted_and_well_formed():
    all_codes = [c.code for c in ALL_CHECKS]
    assert all_codes == sorted(set(all_codes))
    for chk in ALL_CHECKS:
        assert re.fullmatch(r"PD[1-7]\d\d", chk.code), chk.code
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", chk.name), chk.name
        assert chk.summary.endswith(".") and chk.needs
        assert isinstance(chk.severity, Severity)
    names = [c.name for c in ALL_CHECKS]
    assert len(names) == len(set(names))


def test_codes_are_stable():
    """Codes are a contract: this list only ever grows."""
    assert {c: (BY_CODE[c].name, BY_CODE[c].severity.label) for c in BY_CODE} == {
        "PD101": ("listener-rejected", "error"),
        "PD102": ("listener-warming", "warning"),
        "PD103": ("filter-without-stat-prefix", "error"),
        "PD104": ("tcp-proxy-unknown-cluster", "error"),
        "PD201": ("cluster-warming", "warning"),
        "PD202": ("cluster-no-healthy-endpoints", "error"),
        "PD203": ("cluster-no-endpoints", "warning"),
        "PD301": ("route-unknown-cluster", "error"),
        "PD302": ("route-duplicate-domain", "error"),
        "PD401": ("endpoint-failing-health-checks", "warning"),
        "PD402": ("endpoint-ejected", "warning"),
        "PD403": ("endpoint-eds-unhealthy", "warning"),
        "PD404": ("endpoint-eds-draining", "info"),
        "PD501": ("cert-expired", "error"),
        "PD502": ("cert-expiring", "warning"),
        "PD503": ("secret-warming", "warning"),
        "PD601": ("server-initializing", "error"),
        "PD602": ("outbound-traffic-policy", "info"),
        "PD603": ("xds-update-rejected", "warning"),
    }


# --- whole runs, output shapes, exit codes --------------------------------------------


def test_clean_dump_exits_0_and_says_what_was_skipped(pdebug):
    result = pdebug("check", SEED / "config_dump.json")
    assert result.code == 0, result.err
    assert result.out == (
        "No findings (15 checks run).\n"
        "Skipped PD401, PD402: needs live endpoint health (GET /clusters?format=json): "
        "add --clusters-json FILE, or check the live proxy.\n"
        "Skipped PD602: no virtualOutbound listener (not an Istio sidecar).\n"
        "Skipped PD603: needs Envoy's /stats: check the live proxy, or a pdebug dump/snapshot "
        "bundle.\n"
    )


def test_clusters_json_runs_the_health_checks(pdebug):
    report = check_json(
        pdebug, SEED / "config_dump.json", "--clusters-json", SEED / "clusters.json"
    )
    assert [s["code"] for s in report["skipped"]] == ["PD602", "PD603"]
    assert report["summary"]["checks_run"] == 17


def test_json_shape_is_stable(pdebug):
    report = check_json(pdebug, DUMP, code=1)
    assert list(report) == [
        "source",
        "findings",
        "skipped",
        "ignored",
        "summary",
        "fail_on",
        "failed",
    ]
    assert report["source"] == str(DUMP)
    for f in report["findings"]:
        assert list(f) == ["code", "severity", "resource", "message", "hint"]
        assert f["severity"] in ("error", "warning", "info")
        assert f["message"] and f["hint"] and "\n" not in f["message"] + f["hint"]
    for s in report["skipped"]:
        assert list(s) == ["code", "name", "reason", "error"]
    assert list(report["summary"]) == ["checks_run", "error", "warning", "info"]
    assert report["fail_on"] == "warning" and report["failed"] is True


def test_findings_are_sorted_errors_first(tmp_path, pdebug):
    doc = sidecar_dump()
    rc = section(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    rc["virtual_hosts"][0]["routes"][0]["route"]["cluster"] = "nope"
    report = check_json(pdebug, save(tmp_path, doc), code=1)
    order = [(f["severity"], f["code"]) for f in report["findings"]]
    rank = {"error": 0, "warning": 1, "info": 2}
    assert order == sorted(order, key=lambda sc: (rank[sc[0]], sc[1]))
    assert order[0] == ("error", "PD301")


def test_table_puts_each_hint_under_its_finding(pdebug):
    out = pdebug("check", DUMP).out.splitlines()
    assert out[0].split() == ["CODE", "SEVERITY", "RESOURCE", "MESSAGE"]
    message_col = out[0].index("MESSAGE")
    rows = out[1 : out.index("")]
    assert len(rows) % 2 == 0
    for finding, hint in zip(rows[::2], rows[1::2], strict=True):
        assert re.match(r"PD\d{3}  (ERROR|WARNING|INFO) ", finding)
        assert hint[:message_col].strip() == "" and hint[message_col:].startswith("hint: ")
    assert out[-3].startswith("Found 3 warnings, 2 info (16 checks run).")
    assert out[-2].startswith("Skipped PD401, PD402: needs live endpoint health")
    assert out[-1].startswith("Skipped PD603: needs Envoy's /stats")


def test_wide_and_markdown_have_a_hint_column(pdebug):
    wide = pdebug("check", DUMP, "-o", "wide").out.splitlines()
    assert wide[0].split() == ["CODE", "SEVERITY", "RESOURCE", "MESSAGE", "HINT"]
    assert not any(line.lstrip().startswith("hint:") for line in wide)
    md = pdebug("check", DUMP, "-o", "markdown").out
    assert md.startswith("### Findings\n\n| CODE ")
    assert "| HINT" in md and "### Summary" in md
    assert "outbound\\|9080\\|\\|ratings" in md


def test_yaml_is_the_json_report(pdebug):
    as_json = check_json(pdebug, DUMP)
    as_yaml = yaml.safe_load(pdebug("check", DUMP, "-o", "yaml").out)
    assert as_yaml == as_json


@pytest.mark.parametrize(
    ("fail_on", "code"), [("error", 0), ("warning", 1), ("info", 1), ("never", 0), ("WARNING", 1)]
)
def test_fail_on(pdebug, fail_on, code):
    """The sidecar capture has warnings (an UNHEALTHY endpoint) and infos, no errors."""
    result = pdebug("check", DUMP, "--fail-on", fail_on)
    assert result.code == code, result.err


def test_fail_on_never_even_with_errors(pdebug, tmp_path):
    doc = sidecar_dump()
    listener(doc, "virtualOutbound")["error_state"] = {"details": "boom"}
    assert pdebug("check", save(tmp_path, doc)).code == 1
    assert pdebug("check", save(tmp_path, doc), "--fail-on", "never").code == 0


def test_info_only_passes_by_default(pdebug):
    result = pdebug("check", DUMP, "--ignore", "PD403")
    assert result.code == 0
    assert "Ignored PD403 (--ignore)." in result.out


def test_ignore_is_repeatable_takes_lists_and_any_case(pdebug):
    report = check_json(pdebug, DUMP, "--ignore", "pd403,PD404", "--ignore", "PD602", code=0)
    assert report["findings"] == []
    assert report["ignored"] == ["PD403", "PD404", "PD602"]
    assert report["summary"]["checks_run"] == 13


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ignore", "PD999"), "--ignore PD999: no check has this code"),
        (("--fail-on", "fatal"), "--fail-on fatal: unknown"),
        (("-o", "xml"), "unknown output format 'xml'"),
        (("--cert-days", "-1"), "Invalid value for '--cert-days'"),
    ],
)
def test_usage_errors_exit_2(pdebug, args, message):
    result = pdebug("check", DUMP, *args)
    assert result.code == 2
    assert message in result.err


def test_bad_input_exits_4(pdebug, tmp_path):
    path = tmp_path / "x.json"
    path.write_text("<html>oops</html>")
    result = pdebug("check", path)
    assert result.code == 4 and "HTML" in result.err
    assert pdebug("check", tmp_path / "missing.json").code == 3


def test_a_damaged_section_is_reported_and_exits_4(pdebug, tmp_path):
    """Other checks still report; the damaged ones say why they could not run."""
    doc = sidecar_dump()
    section(doc, "ListenersConfigDump")["dynamic_listeners"] = [{"name": 42}]
    path = save(tmp_path, doc)
    result = pdebug("check", path)
    assert result.code == 4
    assert "pdebug: error: some checks could not read the input" in result.err
    assert re.search(
        r"Could not run PD101.*: could not read the input: .*dynamic_listeners", result.out
    )
    assert "PD403" in result.out  # endpoints were fine
    report = check_json(pdebug, path, code=4)
    broken = [s for s in report["skipped"] if s["error"]]
    assert {s["code"] for s in broken} >= {"PD101", "PD102"}


def test_stdin(pdebug, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(DUMP.read_bytes())))
    assert pdebug("check", "-").out == pdebug("check", DUMP).out.replace(str(DUMP), "stdin")


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in ISTIOCTL.rglob("*.json")
        if b'"configs"' in p.read_bytes()[:4096] or p.name == "clusters.json"
    ),
    ids=lambda p: str(p.relative_to(ISTIOCTL)),
)
def test_istioctl_dumps_check_without_errors(pdebug, path):
    """istiod/istioctl dumps (camelCase, v2, partial): findings or not, never a crash."""
    result = pdebug("check", path, "-o", "json")
    assert result.code in (0, 1), result.err
    json.loads(result.out)


# --- skipped checks ----------------------------------------------------------------------


def test_skipped_checks_name_the_missing_data():
    doc = drop(drop(sidecar_dump(), "EndpointsConfigDump"), "SecretsConfigDump")
    report = run_checks(proxy(doc))
    reasons = {s.code: s.reason for s in report.skipped}
    eds = "needs endpoints: a dump taken with config_dump?include_eds, or --clusters-json FILE"
    assert reasons == {
        "PD202": eds,
        "PD203": eds,
        "PD401": reasons["PD401"],
        "PD402": reasons["PD402"],
        "PD403": eds,
        "PD404": eds,
        "PD603": "needs Envoy's /stats: check the live proxy, or a pdebug dump/snapshot bundle",
    }  # a full dump without a secrets section: no secrets, so PD5xx run (#11.5)
    assert "GET /clusters?format=json" in reasons["PD401"]
    assert not report.inconclusive


def test_a_clusters_document_alone_runs_the_health_checks(pdebug):
    report = check_json(pdebug, CLUSTERS)
    run = {c.code for c in ALL_CHECKS} - {s["code"] for s in report["skipped"]}
    assert run == {"PD202", "PD401", "PD402", "PD403", "PD404"}
    reason = next(s["reason"] for s in report["skipped"] if s["code"] == "PD101")
    assert reason == f"needs a config dump; {CLUSTERS} is a /clusters?format=json document"


# --- listeners ---------------------------------------------------------------------------

_DEBUG_DETAILS = (
    'goo.gle/debugstr  \nroute_config {\n  name: "x"\n}\nnormalize_path {\n  value: true\n}\n'
    ": Proto constraint validation failed (HttpConnectionManagerValidationError.StatPrefix: "
    "value length must be at least 1 characters)"
)


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        ("cannot bind '127.0.0.1:80': Address already in use", None),
        (
            _DEBUG_DETAILS,
            "Proto constraint validation failed (HttpConnectionManagerValidationError."
            "StatPrefix: value length must be at least 1 characters)",
        ),
        ("", "(no details)"),
        ("x" * 500, "x" * 237 + "..."),
        ("first line\nsecond line", "first line"),
    ],
)
def test_envoy_reason(details, reason):
    assert envoy_reason(details) == (reason or details)


def test_pd101_rejected_listener_once_with_envoys_reason():
    doc = sidecar_dump()
    failed = copy.deepcopy(listener(doc, "virtualOutbound")["active_state"]["listener"])
    failed["name"] = "held_port"
    err = {
        "failed_configuration": failed,
        "last_update_attempt": "2026-11-25T22:01:58.176Z",
        "details": "cannot bind '127.0.0.1:4242': Address already in use",
    }
    dyn = section(doc, "ListenersConfigDump")["dynamic_listeners"]
    dyn.append({"name": "held_port", "error_state": err})
    dyn.append({"error_state": {k: v for k, v in err.items() if k != "last_update_attempt"}})
    listener(doc, "virtualInbound")["error_state"] = {"details": _DEBUG_DETAILS}
    report = run_checks(proxy(doc))
    rejected = [f for f in report.findings if f.code == "PD101"]
    assert [(f.resource, f.message) for f in rejected] == [
        (
            "listener/held_port",
            "Envoy rejected an update at 2026-11-25T22:01:58.176Z: "
            "cannot bind '127.0.0.1:4242': Address already in use",
        ),
        (
            "listener/virtualInbound",
            "Envoy rejected an update: Proto constraint validation failed "
            "(HttpConnectionManagerValidationError.StatPrefix: value length must be at least "
            "1 characters)",
        ),
    ]
    assert rejected[0].hint.startswith("nothing is serving this listener; another listener")
    assert rejected[1].hint.startswith("Envoy keeps serving the previous version; the config")


def _warm(doc: Json, name: str, rds: str) -> None:
    lst = copy.deepcopy(listener(doc, "0.0.0.0_9080")["active_state"])
    lst["listener"]["name"] = name
    hcm = lst["listener"]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["rds"]["route_config_name"] = rds
    section(doc, "ListenersConfigDump")["dynamic_listeners"].append(
        {"name": name, "warming_state": lst}
    )


def test_pd102_warming_listener_names_missing_rds():
    doc = sidecar_dump()
    _warm(doc, "warm", "never")
    _warm(doc, "warm_known", "9080")
    listener(doc, "virtualInbound")["warming_state"] = listener(doc, "virtualInbound")[
        "active_state"
    ]
    found_ = {f.resource: f.message for f in findings_of(doc, "PD102")}
    since = section(doc, "ListenersConfigDump")["dynamic_listeners"][2]["active_state"][
        "last_updated"
    ]
    assert found_ == {
        "listener/warm": f"warming since {since}: waiting for RDS 'never' (not received); "
        "not serving yet",
        "listener/warm_known": f"warming since {since}: waiting for its RDS, SDS secrets or "
        "ECDS filters; not serving yet",
        "listener/virtualInbound": found_["listener/virtualInbound"],
    }
    assert found_["listener/virtualInbound"].endswith("the previous version still serves")


def test_pd103_filters_without_stat_prefix():
    doc = sidecar_dump()
    inbound = listener(doc, "virtualInbound")["active_state"]["listener"]
    del inbound["filter_chains"][1]["filters"][0]["typed_config"]["stat_prefix"]
    outbound = listener(doc, "virtualOutbound")["active_state"]["listener"]
    outbound["default_filter_chain"]["filters"][0]["typed_config"]["stat_prefix"] = ""
    found_ = [(f.resource, f.message) for f in findings_of(doc, "PD103")]
    assert found_ == [
        (
            "listener/virtualInbound",
            "filter chain 0.0.0.0_9080: HTTP connection manager has no stat_prefix",
        ),
        (
            "listener/virtualOutbound",
            "filter chain PassthroughFilterChain: tcp_proxy has no stat_prefix",
        ),
    ]


def test_pd104_tcp_proxy_to_unknown_cluster():
    doc = sidecar_dump()
    inbound = listener(doc, "virtualInbound")["active_state"]["listener"]
    tcp = inbound["filter_chains"][3]["filters"][0]
    tcp["name"] = "some.custom.name"  # still recognised by its @type
    tcp["typed_config"]["cluster"] = "gone"
    found_ = [(f.resource, f.message) for f in findings_of(doc, "PD104")]
    assert found_ == [
        (
            "listener/virtualInbound",
            "filter chain virtualInbound: tcp_proxy sends to unknown cluster 'gone'",
        )
    ]


# --- clusters ---------------------------------------------------------------------------


def test_pd201_warming_cluster_and_its_config_source():
    doc = sidecar_dump()
    clusters = section(doc, "ClustersConfigDump")
    warming = copy.deepcopy(clusters["dynamic_active_clusters"][4])
    warming["cluster"]["name"] = "outbound|1|x|warm.default.svc.cluster.local"
    warming["cluster"]["eds_cluster_config"]["eds_config"] = {
        "ads": {},
        "initial_fetch_timeout": "0s",
    }
    dns = copy.deepcopy(warming)
    dns["cluster"] = {"name": "dns", "type": "STRICT_DNS"}
    clusters["dynamic_warming_clusters"] = [warming, dns]
    found_ = {f.resource: f.message for f in findings_of(doc, "PD201")}
    since = warming["last_updated"]
    assert found_ == {
        "cluster/outbound|1|x|warm.default.svc.cluster.local": f"warming since {since}: waiting "
        "for EDS from ADS (initial_fetch_timeout 0s: it waits forever)",
        "cluster/dns": f"warming since {since}: waiting for its first DNS answer or its TLS "
        "secrets",
    }


def test_pd201_config_source_names_the_file():
    report = run_checks(proxy(sidecar_dump()))
    assert "PD201" not in codes(report)
    doc = sidecar_dump()
    clusters = section(doc, "ClustersConfigDump")
    clusters["dynamic_warming_clusters"] = [clusters["dynamic_active_clusters"].pop(4)]
    [finding] = findings_of(doc, "PD201")
    assert re.search(
        r"waiting for EDS from file /\S+/eds-outbound_9080_v1_reviews", finding.message
    )


def _eds(doc: Json, cluster: str) -> Json:
    configs = section(doc, "EndpointsConfigDump")["dynamic_endpoint_configs"]
    return next(c for c in configs if c["endpoint_config"]["cluster_name"] == cluster)


def test_pd202_no_healthy_endpoint_from_eds():
    doc = sidecar_dump()
    for group in _eds(doc, RATINGS)["endpoint_config"]["endpoints"]:
        for lb in group["lb_endpoints"]:
            lb["health_status"] = "UNHEALTHY"
    [finding] = findings_of(doc, "PD202")
    assert finding.resource == f"cluster/{RATINGS}"
    assert finding.message == "no healthy endpoint: its 4 endpoints: 4 UNHEALTHY per EDS"
    assert finding.hint.endswith("; active health checks and ejections need --clusters-json")


def test_pd202_degraded_endpoints_still_count():
    doc = sidecar_dump()
    for group in _eds(doc, RATINGS)["endpoint_config"]["endpoints"]:
        for lb in group["lb_endpoints"]:
            lb["health_status"] = "DEGRADED"
    assert "PD202" not in codes(run_checks(proxy(doc)))


def _host_flags(clusters: Json, cluster: str, **flags: Any) -> None:
    status = next(c for c in clusters["cluster_statuses"] if c["name"] == cluster)
    for host in status["host_statuses"]:
        host.setdefault("health_status", {}).update(flags)


def test_pd202_pd401_pd402_from_live_health():
    health = copy.deepcopy(_BASE_CLUSTERS)
    _host_flags(health, RATINGS, failed_active_health_check=True)
    _host_flags(health, REVIEWS_V1, failed_outlier_check=True)
    report = run_checks(proxy(sidecar_dump(), health))
    got = {(f.code, f.resource): f.message for f in report.findings if f.code < "PD403"}
    assert got == {
        ("PD202", f"cluster/{RATINGS}"): "no healthy endpoint: its 4 endpoints: 4 fail active "
        "health checks, 1 UNHEALTHY per EDS",
        ("PD202", f"cluster/{REVIEWS_V1}"): "no healthy endpoint: its endpoint: 1 ejected by "
        "outlier detection",
        ("PD401", f"cluster/{RATINGS}"): "4 of 4 endpoints fail active health checks: "
        "127.0.0.21:9080, 127.0.0.22:9080, 127.0.0.23:9080 (+1 more)",
        ("PD402", f"cluster/{REVIEWS_V1}"): "1 of 1 endpoints are ejected by outlier "
        "detection: 127.0.0.11:9080",
    }


def test_pd203_empty_cluster_that_a_route_uses():
    doc = sidecar_dump()
    _eds(doc, REVIEWS_V1)["endpoint_config"].pop("endpoints")
    report = run_checks(proxy(doc))
    assert [(f.resource, f.message) for f in report.findings if f.code == "PD203"] == [
        (
            f"cluster/{REVIEWS_V1}",
            "no endpoints (EDS sent no endpoints); route/9080 sends traffic to it",
        )
    ]


def _as_dns_cluster(doc: Json, name: str, **extra: Any) -> Json:
    """Make cluster ``name`` a STRICT_DNS cluster of ``backend.example.com:8443`` whose name
    resolved to nothing (no endpoints in the dump)."""
    clusters = section(doc, "ClustersConfigDump")["dynamic_active_clusters"]
    cluster = next(c["cluster"] for c in clusters if c["cluster"]["name"] == name)
    cluster.pop("eds_cluster_config", None)
    cluster["type"] = "STRICT_DNS"
    cluster["load_assignment"] = {
        "cluster_name": name,
        "endpoints": [
            {
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "address": {
                                "socket_address": {
                                    "address": "backend.example.com",
                                    "port_value": 8443,
                                }
                            }
                        }
                    }
                ]
            }
        ],
    }
    cluster.update(extra)
    _eds(doc, name)["endpoint_config"].pop("endpoints")
    return cluster


def test_pd203_dns_cluster_hint_points_at_dns_not_endpointslices():
    """A STRICT_DNS cluster has no EndpointSlices: the hint said `kubectl get
    endpointslices` (Emissary's services outside their cluster, sweep21)."""
    doc = sidecar_dump()
    _as_dns_cluster(doc, REVIEWS_V1, dns_lookup_family="V4_ONLY").pop("metadata")
    (f,) = findings_of(doc, "PD203")
    assert f.message == (
        "no endpoints (its DNS name resolved to no address); route/9080 sends traffic to it"
    )
    assert "endpointslices" not in f.hint
    assert "backend.example.com:8443" in f.hint
    assert "dns_lookup_family V4_ONLY" in f.hint
    assert "/etc/resolv.conf" in f.hint
    assert "ServiceEntry" not in f.hint


def test_pd203_dns_cluster_of_a_service_entry_names_it_and_the_resolver():
    doc = sidecar_dump()
    _as_dns_cluster(
        doc,
        REVIEWS_V1,
        type="LOGICAL_DNS",
        typed_dns_resolver_config={
            "name": "envoy.network.dns_resolver.cares",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3"
                ".CaresDnsResolverConfig",
                "resolvers": [{"socket_address": {"address": "10.0.0.10", "port_value": 53}}],
            },
        },
        metadata={
            "filter_metadata": {
                "istio": {
                    "services": [
                        {
                            "host": "backend.example.com",
                            "name": "backend.example.com",
                            "namespace": "shop",
                        }
                    ]
                }
            }
        },
    )
    (f,) = findings_of(doc, "PD203")
    assert "endpointslices" not in f.hint
    assert "dns_lookup_family AUTO (the default)" in f.hint
    assert "cares asking 10.0.0.10:53" in f.hint
    assert "ServiceEntry with resolution DNS (host backend.example.com, namespace shop)" in f.hint
    assert "kubectl get serviceentries -n shop" in f.hint


def test_pd203_dns_cluster_of_an_external_name_service():
    """Istio makes a DNS cluster of a Kubernetes ExternalName Service (its metadata names
    the Service's host, as for a ServiceEntry)."""
    doc = sidecar_dump()
    _as_dns_cluster(doc, REVIEWS_V1)
    (f,) = findings_of(doc, "PD203")
    assert "endpointslices" not in f.hint
    assert "ServiceEntry" not in f.hint
    assert "the Kubernetes Service reviews -n default of type ExternalName" in f.hint


def test_pd203_ignores_blackhole_and_unused_clusters():
    doc = sidecar_dump()
    rc = section(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    rc["virtual_hosts"] = [vh for vh in rc["virtual_hosts"] if not vh["name"].startswith("reviews")]
    _eds(doc, REVIEWS_V1)["endpoint_config"].pop("endpoints")
    # BlackHoleCluster is empty and used by virtualOutbound: on purpose.
    assert "PD203" not in codes(run_checks(proxy(doc)))


# --- routes ----------------------------------------------------------------------------


def test_pd301_route_and_weighted_cluster_to_unknown_clusters():
    doc = sidecar_dump()
    rc = section(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    rc["virtual_hosts"][0]["routes"][0]["route"]["cluster"] = "gone"
    reviews = next(vh for vh in rc["virtual_hosts"] if vh["name"].startswith("reviews"))
    reviews["routes"][1]["route"]["weighted_clusters"]["clusters"][0]["name"] = "gone"
    reviews["routes"][1]["route"]["weighted_clusters"]["clusters"][1]["name"] = "gone-too"
    got = [(f.resource, f.message) for f in findings_of(doc, "PD301")]
    vhost = rc["virtual_hosts"][0]["name"]
    assert got == [
        (
            "route/9080",
            f"virtual host {vhost!r} route 'default' sends to unknown cluster 'gone': "
            "Envoy answers 503 NC",
        ),
        (
            "route/9080",
            "virtual host 'reviews.default.svc.cluster.local:9080' route "
            "'reviews-split' sends to unknown cluster 'gone-too': Envoy answers 503 NC",
        ),
    ]


def test_pd301_needs_the_clusters_section():
    report = run_checks(proxy(drop(sidecar_dump(), "ClustersConfigDump")))
    assert {s.code: s.reason for s in report.skipped}["PD301"] == (
        "the dump has no clusters section (taken with a mask? capture the whole /config_dump)"
    )


def test_pd302_duplicate_domains_case_insensitive_and_within_one_vhost():
    doc = sidecar_dump()
    rc = section(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    first, second = rc["virtual_hosts"][0], rc["virtual_hosts"][1]
    second["domains"].append(first["domains"][2].upper())
    first["domains"].append(first["domains"][0])
    got = [f.message for f in findings_of(doc, "PD302")]
    assert got == [  # one resource: in dump order
        f"domain {first['domains'][0]!r} is listed twice in virtual host {first['name']!r}",
        f"domain {first['domains'][2].upper()!r} is claimed by virtual hosts "
        f"{first['name']!r} and {second['name']!r}",
    ]


# --- endpoints -------------------------------------------------------------------------


def test_pd403_pd404_from_live_health_tell_draining_apart():
    report = run_checks(proxy(sidecar_dump(), _BASE_CLUSTERS))
    got = {(f.code, f.resource): f.message for f in report.findings if f.code in ("PD403", "PD404")}
    assert got == {
        ("PD403", f"cluster/{RATINGS}"): "1 of 4 endpoints are UNHEALTHY per EDS: 127.0.0.22:9080",
        ("PD404", f"cluster/{RATINGS}"): "1 of 4 endpoints are DEGRADED per EDS: 127.0.0.24:9080",
        (
            "PD404",
            "cluster/outbound|9080|v2|reviews.default.svc.cluster.local",
        ): "1 of 2 endpoints are DRAINING per EDS: 127.0.0.13:9080",
        (
            "PD404",
            "cluster/outbound|9080||reviews.default.svc.cluster.local",
        ): "1 of 3 endpoints are DRAINING per EDS: 127.0.0.13:9080",
    }


def test_pd403_from_a_dump_warns_that_draining_looks_unhealthy():
    report = run_checks(proxy(sidecar_dump()))
    v2 = [f for f in report.findings if f.code == "PD403" and "|v2|" in f.resource]
    assert len(v2) == 1
    assert v2[0].hint.endswith(
        "(config_dump reports DRAINING as UNHEALTHY: --clusters-json tells them apart)"
    )


# --- secrets ---------------------------------------------------------------------------


def _cert_days(report: Any) -> dict[str, str]:
    return {f.resource: f.message for f in report.findings if f.code in ("PD501", "PD502")}


def test_pd502_cert_days_window(pdebug):
    """The capture's certificates last 10 years. Fresh, they are not expiring even within a
    window wider than their life (Istio rotates at half a lifetime); past half of it,
    --cert-days decides."""
    assert not found(check_json(pdebug, DUMP), "PD502")
    assert not found(check_json(pdebug, DUMP, "--cert-days", "4000"), "PD502")
    from cryptography import x509

    doc = sidecar_dump()
    secret = section(doc, "SecretsConfigDump")["dynamic_active_secrets"][0]
    pem = base64.b64decode(secret["secret"]["tls_certificate"]["certificate_chain"]["inline_bytes"])
    later = x509.load_pem_x509_certificate(pem).not_valid_after_utc - timedelta(days=1000)
    got = _cert_days(run_checks(proxy(doc), CheckOptions(now=later, cert_days=1100)))
    assert set(got) == {"secret/default", "secret/ROOTCA"}
    assert re.match(r"CA certificate expires in 1000\.\d days \(20\d\d-", got["secret/ROOTCA"])
    assert not _cert_days(run_checks(proxy(doc), CheckOptions(now=later, cert_days=900)))


def test_pd501_expired_and_not_yet_valid():
    future = datetime.now(UTC) + timedelta(days=4000)
    got = _cert_days(run_checks(proxy(sidecar_dump()), CheckOptions(now=future)))
    assert set(got) == {"secret/default", "secret/ROOTCA"}
    assert re.match(r"certificate expired \d+\.\d days ago \(not after 20", got["secret/default"])
    past = datetime(2000, 1, 1, tzinfo=UTC)
    got = _cert_days(run_checks(proxy(sidecar_dump()), CheckOptions(now=past)))
    assert re.match(r"certificate is not valid until 20\d\d-", got["secret/default"])


def test_pd501_hours_when_close():
    doc = sidecar_dump()
    report = run_checks(proxy(doc))
    assert not _cert_days(report)
    from cryptography import x509

    secret = section(doc, "SecretsConfigDump")["dynamic_active_secrets"][0]
    pem = base64.b64decode(secret["secret"]["tls_certificate"]["certificate_chain"]["inline_bytes"])
    end = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    got = _cert_days(run_checks(proxy(doc), CheckOptions(now=end - timedelta(hours=5))))
    assert got["secret/default"].startswith("certificate expires in 5.0 hours (")


def test_pd501_static_secrets_are_checked():
    doc = sidecar_dump()
    secrets = section(doc, "SecretsConfigDump")
    secrets["static_secrets"] = [
        {"name": "static-cert", "secret": secrets["dynamic_active_secrets"][0]["secret"]}
    ]
    future = datetime.now(UTC) + timedelta(days=4000)
    assert "secret/static-cert" in _cert_days(run_checks(proxy(doc), CheckOptions(now=future)))


def test_pd503_warming_secret():
    doc = sidecar_dump()
    section(doc, "SecretsConfigDump")["dynamic_warming_secrets"] = [
        {"name": "kubernetes://my-cred", "last_updated": "2026-11-25T22:00:00Z"}
    ]
    got = [(f.resource, f.message) for f in findings_of(doc, "PD503")]
    assert got == [
        (
            "secret/kubernetes://my-cred",
            "SDS secret not received yet (warming since 2026-11-25T22:00:00Z)",
        )
    ]


# --- server ----------------------------------------------------------------------------


def test_pd601_no_dynamic_listeners_while_static_ones_exist():
    doc = sidecar_dump()
    listeners = section(doc, "ListenersConfigDump")
    listeners.pop("dynamic_listeners")
    version = listeners.pop("version_info")
    [finding] = findings_of(doc, "PD601")
    assert finding.resource == "server/listeners"
    assert finding.message == (
        "no dynamic listeners while 1 static listener exist: LDS has delivered nothing yet"
    )
    listeners["version_info"] = version
    [finding] = findings_of(doc, "PD601")
    assert finding.message.endswith(f"LDS delivered version {version} without listeners")


def test_pd601_not_for_a_static_only_envoy():
    doc = json.loads((SEED / "config_dump.json").read_text())
    assert "PD601" not in codes(run_checks(proxy(doc)))


@pytest.mark.parametrize(
    ("cluster", "policy"),
    [
        ("PassthroughCluster", "outbound traffic policy is ALLOW_ANY"),
        ("BlackHoleCluster", "outbound traffic policy is REGISTRY_ONLY"),
        (
            "egress-gw",
            "outbound traffic policy is unknown: the default filter chain goes to egress-gw",
        ),
    ],
)
def test_pd602_outbound_traffic_policy(cluster, policy):
    doc = sidecar_dump()
    outbound = listener(doc, "virtualOutbound")["active_state"]["listener"]
    outbound["default_filter_chain"]["filters"][0]["typed_config"]["cluster"] = cluster
    [finding] = findings_of(doc, "PD602")
    assert finding.severity is Severity.INFO
    assert finding.message.startswith(policy)


def test_many_findings_are_counted_per_code(pdebug, tmp_path):
    doc = sidecar_dump()
    rc = section(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    route = rc["virtual_hosts"][0]["routes"][0]
    rc["virtual_hosts"][0]["routes"] = [
        {**route, "route": {**route["route"], "cluster": f"gone-{i}"}} for i in range(11)
    ]
    out = pdebug("check", save(tmp_path, doc)).out.splitlines()
    assert "Found 11 errors, 3 warnings, 2 info (16 checks run)." in out
    assert "By code: PD301 11, PD403 3, PD404 1, PD602 1." in out
    assert "By code:" not in pdebug("check", DUMP).out


def test_a_report_is_built_whole_with_its_counts() -> None:
    """#14: the views read counts and the worst severity as data, counted when it is built."""
    import dataclasses

    from pdebug.checks.base import CheckReport

    def finding(code: str, severity: Severity) -> Finding:
        return Finding(code, severity, f"cluster/{code}", "m", "h")

    found = [finding("PD1", Severity.WARNING), finding("PD2", Severity.INFO)]
    report = CheckReport("dump.json", found + [finding("PD3", Severity.WARNING)], run=3)
    assert report.counts == {Severity.ERROR: 0, Severity.WARNING: 2, Severity.INFO: 1}
    assert report.worst is Severity.WARNING
    assert report.count(Severity.WARNING) == 2
    assert report.fails(Severity.WARNING) and not report.fails(Severity.ERROR)
    assert not report.fails(None)
    clean = CheckReport("dump.json")
    assert clean.worst is None and not clean.fails(Severity.INFO)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.findings = []  # type: ignore[misc]
