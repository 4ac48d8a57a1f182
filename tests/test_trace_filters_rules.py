"""``pdebug trace``'s filter rules on small crafted dumps: what a real Envoy cannot show here.

The client's identity (a TLS chain and ``--source-principal``), Istio's CUSTOM action
(shadow rules and an ext_authz filter gated on their metadata), JWT metadata, partial and
header-controlled faults, disabled filters and the network RBAC filter. The rules
themselves are checked against Envoy 1.40 in ``test_trace_filters.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdebug import trace as t
from pdebug.errors import ExitCode, UsageError

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
NET_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
SLEEP = "spiffe://cluster.local/ns/default/sa/sleep"


def _principal_policy(spiffe: str) -> dict[str, Any]:
    ids = [{"authenticated": {"principal_name": {"exact": spiffe}}}]
    return {
        "permissions": [{"any": True}],
        "principals": [{"and_ids": {"ids": [{"or_ids": {"ids": ids}}]}}],
    }


def _dump(
    tmp_path: Path,
    http_filters: list[Any],
    tls: bool = False,
    routes: list[Any] | None = None,
    network: list[Any] | None = None,
) -> Path:
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": "in",
        "http_filters": [*http_filters, ROUTER],
        "route_config": {
            "name": "r",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": routes or [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}],
                }
            ],
        },
    }
    chain: dict[str, Any] = {
        "filters": [
            *(network or []),
            {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm},
        ]
    }
    if tls:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {"@type": TLS, "require_client_certificate": True},
        }
    listener = {
        "name": "in",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
        "filter_chains": [chain],
    }
    cluster = {
        "name": "app",
        "type": "STATIC",
        "load_assignment": {
            "cluster_name": "app",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "10.0.0.9", "port_value": 80}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    admin = "type.googleapis.com/envoy.admin.v3."
    dump = {
        "configs": [
            {
                "@type": admin + "ListenersConfigDump",
                "static_listeners": [{"listener": listener}],
            },
            {"@type": admin + "ClustersConfigDump", "static_clusters": [{"cluster": cluster}]},
        ]
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    return path


def _trace(pdebug, path: Path, url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = pdebug("trace", str(path), url, "-o", "json", *args)
    assert result.code in (0, 1, 6), result.err
    return result.code, json.loads(result.out)


def _filter_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in doc["steps"] if s["kind"] == "http_filter"]


def test_a_rule_on_the_client_identity_needs_source_principal(pdebug, tmp_path):
    rules = {"policies": {"ns[default]-policy[only-sleep]-rule[0]": _principal_policy(SLEEP)}}
    path = _dump(
        tmp_path,
        [{"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC, "rules": rules}}],
        tls=True,
    )
    url = "https://10.0.0.1:8080/"
    code, doc = _trace(pdebug, path, url)
    assert code == ExitCode.UNKNOWN
    assert doc["verdict"]["kind"] == "inconclusive"
    assert "--source-principal" in doc["verdict"]["summary"]
    step = _filter_steps(doc)[0]
    assert step["effect"] == "unknown" and step["reason"].count("--source-principal") == 1
    assert "--source-principal" in step["depends_on"]
    code, doc = _trace(pdebug, path, url, "--source-principal", SLEEP)
    assert code == ExitCode.OK and doc["verdict"]["kind"] == "upstream"
    step = _filter_steps(doc)[0]
    assert (step["effect"], step["action"], step["policy"]) == (
        "pass",
        "ALLOW",
        "ns[default]-policy[only-sleep]-rule[0]",
    )
    other = "spiffe://cluster.local/ns/other/sa/x"
    code, doc = _trace(pdebug, path, url, "--source-principal", other)
    assert code == ExitCode.FINDINGS
    assert (doc["verdict"]["kind"], doc["verdict"]["status"]) == ("denied", 403)
    assert "403 RBAC: access denied" in doc["verdict"]["summary"]


def test_a_plaintext_chain_has_no_principal(pdebug, tmp_path):
    rules = {"policies": {"p": _principal_policy(SLEEP)}}
    path = _dump(
        tmp_path,
        [{"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC, "rules": rules}}],
    )
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/", "--source-principal", SLEEP)
    assert code == ExitCode.FINDINGS and doc["verdict"]["kind"] == "denied"
    assert "no client certificate" in _filter_steps(doc)[0]["reason"], doc


def test_istio_filter_state_peer_principal(pdebug, tmp_path):
    ids = [{"filter_state": {"key": "io.istio.peer_principal", "string_match": {"exact": SLEEP}}}]
    rules = {
        "action": "DENY",
        "policies": {"deny-sleep": {"permissions": [{"any": True}], "principals": ids}},
    }
    path = _dump(
        tmp_path,
        [{"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC, "rules": rules}}],
        tls=True,
    )
    code, doc = _trace(pdebug, path, "https://10.0.0.1:8080/", "--source-principal", SLEEP)
    assert code == ExitCode.FINDINGS and doc["verdict"]["kind"] == "denied"
    assert _filter_steps(doc)[0]["policy"] == "deny-sleep"


def test_istio_custom_action_depends_on_the_ext_authz_provider(pdebug, tmp_path):
    shadow = {
        "policies": {
            "istio-ext-authz-ns[default]-policy[ext]-rule[0]": {
                "permissions": [{"url_path": {"path": {"prefix": "/private/"}}}],
                "principals": [{"any": True}],
            }
        }
    }
    filters = [
        {
            "name": "envoy.filters.http.rbac",
            "typed_config": {
                "@type": RBAC,
                "shadow_rules": shadow,
                "shadow_rules_stat_prefix": "istio_ext_authz_",
            },
        },
        {
            "name": "envoy.filters.http.ext_authz",
            "typed_config": {
                "@type": EXT_AUTHZ,
                "grpc_service": {"envoy_grpc": {"cluster_name": "outbound|9000||authz.local"}},
                "filter_enabled_metadata": {
                    "filter": "envoy.filters.http.rbac",
                    "path": [{"key": "istio_ext_authz_shadow_effective_policy_id"}],
                    "value": {"string_match": {"prefix": "istio-ext-authz"}},
                },
            },
        },
    ]
    path = _dump(tmp_path, filters)
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/private/x")
    assert code == ExitCode.UNKNOWN
    assert "ext_authz provider cluster outbound|9000||authz.local" in doc["verdict"]["summary"]
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/public")
    assert code == ExitCode.OK, doc["verdict"]
    assert [s["effect"] for s in _filter_steps(doc)] == ["pass", "pass"]
    assert "HTTP filters not evaluated" not in doc["steps"][-5]["reason"]


def test_jwt_claims_are_not_guessed(pdebug, tmp_path):
    claim = {
        "metadata": {
            "filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, {"key": "groups"}],
            "value": {"list_match": {"one_of": {"string_match": {"exact": "admin"}}}},
        }
    }
    rules = {"policies": {"jwt": {"permissions": [{"any": True}], "principals": [claim]}}}
    path = _dump(
        tmp_path,
        [{"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC, "rules": rules}}],
    )
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/")
    assert code == ExitCode.UNKNOWN
    assert "jwt_authn" in doc["verdict"]["summary"]


def test_partial_and_header_faults(pdebug, tmp_path):
    half = {
        "@type": FAULT,
        "abort": {"http_status": 503, "percentage": {"numerator": 50}},
        "delay": {"fixed_delay": "2s", "percentage": {"numerator": 100}},
    }
    header = {"@type": FAULT, "abort": {"header_abort": {}, "percentage": {"numerator": 100}}}
    routes = [
        {
            "match": {"prefix": "/half"},
            "route": {"cluster": "app"},
            "typed_per_filter_config": {"envoy.filters.http.fault": half},
        },
        {
            "match": {"prefix": "/hdr"},
            "route": {"cluster": "app"},
            "typed_per_filter_config": {"envoy.filters.http.fault": header},
        },
        {"match": {"prefix": "/"}, "route": {"cluster": "app"}},
    ]
    fault = {"name": "envoy.filters.http.fault", "typed_config": {"@type": FAULT}}
    path = _dump(tmp_path, [fault], routes=routes)
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/half")
    assert code == ExitCode.OK
    assert any("aborts 50% of these requests with HTTP 503" in n for n in doc["notes"])
    assert any("delays 2s on 100% of requests" in n for n in doc["notes"])
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/hdr")
    assert code == ExitCode.OK
    code, doc = _trace(
        pdebug, path, "http://10.0.0.1:8080/hdr", "-H", "x-envoy-fault-abort-request:429"
    )
    assert code == ExitCode.FINDINGS
    assert (doc["verdict"]["kind"], doc["verdict"]["status"]) == ("fault_abort", 429)


def test_filters_turned_off(pdebug, tmp_path):
    deny_all = {"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC, "rules": {}}}
    routes = [
        {
            "match": {"prefix": "/open"},
            "route": {"cluster": "app"},
            "typed_per_filter_config": {
                "envoy.filters.http.rbac": {"@type": FILTER_CONFIG, "disabled": True}
            },
        },
        {"match": {"prefix": "/"}, "route": {"cluster": "app"}},
    ]
    path = _dump(tmp_path, [deny_all], routes=routes)
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/closed")
    assert code == ExitCode.FINDINGS and doc["verdict"]["status"] == 403
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/open")
    assert code == ExitCode.OK
    assert "disabled by the route" in _filter_steps(doc)[0]["reason"]
    off = dict(deny_all, disabled=True)
    path = _dump(tmp_path, [off])
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/closed")
    assert code == ExitCode.OK


def test_network_rbac_closes_the_connection(pdebug, tmp_path):
    rules = {
        "policies": {
            "from-10-8": {
                "permissions": [{"any": True}],
                "principals": [
                    {"direct_remote_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}
                ],
            }
        }
    }
    net = {
        "name": "envoy.filters.network.rbac",
        "typed_config": {"@type": NET_RBAC, "stat_prefix": "tcp.", "rules": rules},
    }
    path = _dump(tmp_path, [], network=[net])
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/", "--source-ip", "192.168.1.1")
    assert code == ExitCode.FINDINGS and doc["verdict"]["kind"] == "denied"
    assert doc["verdict"]["summary"].startswith("Envoy closes the connection")
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/", "--source-ip", "10.2.3.4")
    assert code == ExitCode.OK
    code, doc = _trace(pdebug, path, "http://10.0.0.1:8080/")
    assert code == ExitCode.UNKNOWN and "--source-ip" in doc["verdict"]["summary"]


def test_table_shows_the_filter_step(pdebug, tmp_path):
    rules = {
        "action": "DENY",
        "policies": {
            "deny-delete": {
                "permissions": [
                    {"header": {"name": ":method", "string_match": {"exact": "DELETE"}}}
                ],
                "principals": [{"any": True}],
            }
        },
    }
    path = _dump(
        tmp_path,
        [{"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC, "rules": rules}}],
    )
    result = pdebug("trace", str(path), "http://10.0.0.1:8080/", "-X", "DELETE")
    assert result.code == ExitCode.FINDINGS
    assert "http filter" in result.out and "DENY policy deny-delete matches" in result.out
    assert "VERDICT: FAIL, 403 RBAC: access denied" in result.out


def test_source_principal_must_be_an_identity():
    with pytest.raises(UsageError):
        t.parse_request("http://a/", source_principal="  ")
    assert t.parse_request("http://a/", source_principal=SLEEP).source_principal == SLEEP


def _mutate(rng: Any, value: Any, depth: int = 0) -> Any:
    junk = [None, True, 7, -1, 2**70, "x", "", [], {}, 1.5, "99999999999999999999"]
    if rng.random() < 0.15 or depth > 8:
        return rng.choice(junk)
    if isinstance(value, dict):
        out = {k: _mutate(rng, v, depth + 1) for k, v in value.items()}
        if rng.random() < 0.2:
            out[rng.choice(["any", "header", "and_ids", "not_rule", "prefix_len", "abort"])] = (
                rng.choice(junk)
            )
        return out
    if isinstance(value, list):
        return [_mutate(rng, v, depth + 1) for v in value]
    return value


def test_damaged_filter_configs_never_crash(tmp_path):
    """Seeded damage to RBAC and fault configs: a verdict or a PdebugError, no traceback."""
    import random

    from pdebug.errors import PdebugError
    from pdebug.trace import filters as fl
    from pdebug.trace import rbac as rb
    from pdebug.trace.request import HttpRequest, ip_of

    rules = {
        "action": "DENY",
        "policies": {
            "p": {
                "permissions": [
                    {"and_rules": {"rules": [{"url_path": {"path": {"prefix": "/a"}}}]}},
                    {"destination_port_range": {"start": 1, "end": 9}},
                    {
                        "header": {
                            "name": ":method",
                            "string_match": {"safe_regex": {"regex": "G.*"}},
                        }
                    },
                ],
                "principals": [
                    {
                        "or_ids": {
                            "ids": [{"remote_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}]
                        }
                    },
                    {"not_id": {"authenticated": {"principal_name": {"suffix": "/sa/x"}}}},
                ],
            }
        },
    }
    fault = {
        "abort": {"http_status": 503, "percentage": {"numerator": 100, "denominator": "MILLION"}},
        "delay": {"fixed_delay": "1s", "percentage": {"numerator": 5}},
        "headers": [{"name": "x", "present_match": True}],
    }
    http = HttpRequest("a", "/a", "GET", "http", {":path": ["/a"], ":method": ["GET"], "x": ["1"]})
    facts = fl.Facts(http, ip_of("10.0.0.1"), 80, ip_of("10.0.0.2"), None, "?", "", True, None)
    rng = random.Random(7)
    for _ in range(400):
        try:
            rb.rbac(fl.as_obj(_mutate(rng, {"rules": rules, "shadow_rules": rules})), facts)
            fl.fault(fl.as_obj(_mutate(rng, fault)), facts, None)
        except PdebugError:
            pass
