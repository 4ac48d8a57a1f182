"""Sweep 28: a dynamic module HTTP filter with ``terminal_filter`` answers the request
itself (Envoy's API: "a terminal filter to use without an upstream", the module sends the
response), so trace must not say "routed to CLUSTER" for a route that runs one (Envoy
Gateway's dynamicmodule xDS golden, fixtures/corpus/envoy-gateway/xds-ir/, and edits of
it); kgateway's translator goldens (fixtures/corpus/kgateway/outputs/, wrapped by the same
wrap.py): a dynamic forward proxy cluster, Lambda clusters with upstream HTTP filters and
an inline AWS credential. Each test below failed before its fix unless it says otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import harness as eh

XDS_IR = eh.FIXTURES / "corpus" / "envoy-gateway" / "xds-ir"
KGATEWAY = eh.FIXTURES / "corpus" / "kgateway" / "outputs"
KG_NAMES = ("dfp-simple", "backends-aws_lambda")
DUMP = XDS_IR / "dynamicmodule.config_dump.json"
TERMINAL = (
    "envoy.filters.http.dynamic_modules/envoyextensionpolicy/default/policy-terminal/"
    "dynamic-module/0"
)


def _trace(pdebug: Any, src: Path, url: str) -> tuple[int, dict[str, Any]]:
    result = pdebug("trace", str(src), url, "-o", "json")
    assert result.code in (0, 1, 6), result.err
    out: dict[str, Any] = json.loads(result.out)
    return result.code, out


def test_terminal_dynamic_module_answers_not_routed(pdebug: Any) -> None:
    # the route /terminal enables (typed_per_filter_config) a module the listener lists
    # with terminalFilter: true: Envoy hands the request to the module, the router never
    # runs. trace said "OK, routed to httproute/default/httproute-3/rule/0" (exit 0)
    code, out = _trace(pdebug, DUMP, "http://www.example.com:10080/terminal")
    verdict = out["verdict"]
    assert code == 6 and verdict["outcome"] == "UNKNOWN", verdict
    assert verdict["kind"] == "inconclusive"
    assert "not routed" in verdict["summary"]
    assert f"answered by the dynamic module {TERMINAL}" in verdict["summary"]
    assert verdict["clusters"] == []
    steps = [st for st in out["steps"] if st["kind"] == "http_filter"]
    assert [st["name"] for st in steps] == [TERMINAL]
    assert not any(st["kind"] in ("cluster", "endpoints") for st in out["steps"])


def test_other_modules_still_route(pdebug: Any) -> None:
    # passes before and after: non-terminal modules enabled on /bar do not answer
    code, out = _trace(pdebug, DUMP, "http://www.example.com:10080/bar")
    assert code == 0 and out["verdict"]["outcome"] == "OK"
    assert "httproute-2" in out["verdict"]["summary"]


def _edited(tmp_path: Path, listener_on: bool, route_off: bool) -> Path:
    doc = json.loads(DUMP.read_text())
    lst = doc["configs"][2]["dynamic_listeners"][0]["active_state"]["listener"]
    hcm = lst["defaultFilterChain"]["filters"][0]["typedConfig"]
    for f in hcm["httpFilters"]:
        if f["name"] == TERMINAL:
            f["disabled"] = not listener_on
    for rc in doc["configs"][3]["dynamic_route_configs"]:
        for vh in rc["route_config"].get("virtualHosts", []):
            for r in vh["routes"]:
                if TERMINAL in r.get("typedPerFilterConfig", {}):
                    del r["typedPerFilterConfig"][TERMINAL]
                    if route_off:
                        r["typedPerFilterConfig"][TERMINAL] = {
                            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                            "disabled": True,
                        }
    out = tmp_path / "edited.json"
    out.write_text(json.dumps(doc))
    return out


def test_terminal_module_on_or_off_by_listener_and_route(pdebug: Any, tmp_path: Path) -> None:
    # on the listener and not turned off by the route: it answers every request, /bar too
    code, out = _trace(pdebug, _edited(tmp_path, True, False), "http://www.example.com:10080/bar")
    assert code == 6 and TERMINAL in out["verdict"]["summary"]
    # on the listener, off on the route (FilterConfig disabled): routed
    code, out = _trace(
        pdebug, _edited(tmp_path, True, True), "http://www.example.com:10080/terminal"
    )
    assert code == 0 and "httproute-3" in out["verdict"]["summary"]
    # off on the listener, not enabled by the route: routed
    code, out = _trace(
        pdebug, _edited(tmp_path, False, False), "http://www.example.com:10080/terminal"
    )
    assert code == 0 and "httproute-3" in out["verdict"]["summary"]


def test_kgateway_dumps_are_the_goldens() -> None:
    # passes before and after: the fixtures are what wrap.py (given DIR/NAME) makes of the
    # byte copies, and wrap.py still makes Envoy Gateway's the same way (test_sweep27.py)
    import importlib.util

    import yaml

    spec = importlib.util.spec_from_file_location("wrap", XDS_IR / "wrap.py")
    assert spec is not None and spec.loader is not None
    wrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wrap)
    for name in KG_NAMES:
        saved = json.loads((KGATEWAY / f"{name}.config_dump.json").read_text())
        assert saved == wrap.wrap(name, KGATEWAY), name
        golden = yaml.safe_load((KGATEWAY / f"{name}.yaml").read_text())
        assert len(saved["configs"][1]["dynamic_active_clusters"]) == len(golden["Clusters"])
        assert len(saved["configs"][2]["dynamic_listeners"]) == len(golden["Listeners"])
        assert saved["configs"][0]["bootstrap"]["node"]["id"] == f"kgateway-{name}"


def test_dynamic_forward_proxy_cluster_names_the_host_it_resolves(pdebug: Any) -> None:
    # kgateway's DFP backend: a cluster_type envoy.clusters.dynamic_forward_proxy has no
    # endpoints in any dump; Envoy resolves the request's host when it comes. trace said
    # only "pdebug does not follow envoy.clusters.dynamic_forward_proxy clusters"
    code, out = _trace(pdebug, KGATEWAY / "dfp-simple.config_dump.json", "http://example.com/x")
    assert code == 6 and out["verdict"]["outcome"] == "UNKNOWN"
    summary = out["verdict"]["summary"]
    assert "backend_default_dfp-backend_0" in summary
    assert "dynamic forward proxy" in summary and "example.com" in summary
    assert "does not follow" not in " ".join(out.get("notes", []))
    ends = [st for st in out["steps"] if st["kind"] == "endpoints"]
    assert len(ends) == 1 and not ends[0]["matched"] and "by DNS" in ends[0]["reason"]


def test_inline_aws_credential_is_not_saved(pdebug: Any, tmp_path: Path) -> None:
    # passes before and after: the aws_request_signing upstream filter's inlineCredential
    # (protojson spelling, AWS's documented example pair) is redacted in saved output
    # (a report) and in what the views print
    src = KGATEWAY / "backends-aws_lambda.config_dump.json"
    raw = src.read_text()
    assert "wJalrXUtnFEMI" in raw and "AKIAIOSFODNN7EXAMPLE" in raw
    report = tmp_path / "r.html"
    assert pdebug("report", str(src), "-o", str(report)).code == 0
    res = pdebug("clusters", str(src), "--fqdn", "backend_default_lambda-backend_0", "-o", "json")
    assert res.code == 0 and '"secretAccessKey": "[redacted]"' in res.out
    for text in (report.read_text(), res.out):
        assert "wJalrXUtnFEMI" not in text and "AKIAIOSFODNN7EXAMPLE" not in text
