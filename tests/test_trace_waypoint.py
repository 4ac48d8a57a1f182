"""trace through a filter_chain_matcher (how ambient waypoints pick chains), on real Envoy.

Envoy 1.40 evaluates the same xDS matcher tree on an ordinary listener: one listener on
three loopback ports whose matcher sends each port (and, nested, each source range) to a
different chain answering its own status. pdebug's trace must predict, for each port, the
status Envoy really answers. Then the waypoint path itself on istioctl's waypoint dump.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import harness as eh
from tests.harness import ISTIOCTL

WAYPOINT = ISTIOCTL / "proxy-config-all" / "config_dump.json"
PORT_INPUT = (
    "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput"
)
SOURCE_INPUT = (
    "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput"
)
STRING = "type.googleapis.com/google.protobuf.StringValue"
IP_MATCHER = "type.googleapis.com/xds.type.matcher.v3.IPMatcher"
Json = dict[str, Any]


def _action(chain: str) -> Json:
    return {"action": {"name": chain, "typed_config": {"@type": STRING, "value": chain}}}


def _chain(name: str, status: int) -> Json:
    route = {
        "name": f"rc-{name}",
        "virtual_hosts": [
            {
                "name": name,
                "domains": ["*"],
                "routes": [
                    {
                        "match": {"prefix": "/"},
                        "direct_response": {"status": status, "body": {"inline_string": name}},
                    }
                ],
            }
        ],
    }
    return {"name": name, "filters": [eh.hcm(name, route_config=route)]}


def _bootstrap(ports: list[int]) -> Json:
    p1, p2, _ = ports
    matcher = {
        "matcher_tree": {
            "input": {"name": "port", "typed_config": {"@type": PORT_INPUT}},
            "exact_match_map": {
                "map": {
                    str(p1): _action("by-port"),
                    str(p2): {
                        "matcher": {
                            "matcher_tree": {
                                "input": {"name": "src", "typed_config": {"@type": SOURCE_INPUT}},
                                "custom_match": {
                                    "name": "ip",
                                    "typed_config": {
                                        "@type": IP_MATCHER,
                                        "range_matchers": [
                                            {
                                                "ranges": [
                                                    {"address_prefix": "127.0.0.0", "prefix_len": 8}
                                                ],
                                                "on_match": _action("loopback-source"),
                                            },
                                            {
                                                "ranges": [
                                                    {
                                                        "address_prefix": "127.0.0.1",
                                                        "prefix_len": 32,
                                                    }
                                                ],
                                                "on_match": _action("exact-source"),
                                            },
                                        ],
                                    },
                                },
                            }
                        }
                    },
                }
            },
        },
        "on_no_match": _action("fallback"),
    }
    listener = {
        "name": "matched",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": p1}},
        "additional_addresses": [
            {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}
            for p in ports[1:]
        ],
        "filter_chains": [
            _chain("by-port", 201),
            _chain("loopback-source", 202),
            _chain("exact-source", 203),
            _chain("fallback", 418),
        ],
        "filter_chain_matcher": matcher,
    }
    return {"static_resources": {"listeners": [listener], "clusters": []}}


@pytest.mark.envoy
@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")
def test_trace_predicts_the_chain_real_envoy_picks(pdebug, tmp_path):
    ports = [eh.free_port() for _ in range(3)]
    with eh.Envoy(_bootstrap(ports)) as envoy:
        dump = tmp_path / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        for port in ports:
            status, body = eh.http_get(f"http://127.0.0.1:{port}/")
            r = pdebug(
                "trace", dump, f"http://127.0.0.1:{port}/", "--source-ip", "127.0.0.1", "-o", "json"
            )
            assert r.code == 0, r.out + r.err
            verdict = json.loads(r.out)["verdict"]
            assert verdict["kind"] == "direct_response" and verdict["status"] == status, (
                port,
                body,
            )
            chain = [
                s
                for s in json.loads(r.out)["steps"]
                if s["kind"] == "filter_chain" and s["matched"]
            ]
            assert chain[0]["name"] == body.decode(), (port, chain)
        # the most specific range wins: 127.0.0.1/32 over 127.0.0.0/8
        assert eh.http_get(f"http://127.0.0.1:{ports[1]}/")[0] == 203


def test_unsupported_inputs_are_unknown_not_failure():
    from pdebug import matcher as mt

    tree = {
        "matcher_tree": {
            "input": {"typed_config": {"@type": "x.y.FilterStateInput"}},
            "exact_match_map": {"map": {}},
        }
    }
    with pytest.raises(mt.Unsupported):
        mt.evaluate(tree, mt.Inputs(destination_port=80))
    ip_tree = {
        "matcher_tree": {
            "input": {"typed_config": {"@type": "a.DestinationIPInput"}},
            "exact_match_map": {"map": {}},
        }
    }
    with pytest.raises(mt.Unsupported, match="not known"):
        mt.evaluate(ip_tree, mt.Inputs(destination_ip=None))


def test_matcher_list_predicates():
    from pdebug import matcher as mt

    sni = {"typed_config": {"@type": "a.ServerNameInput"}}
    tree = {
        "matcher_list": {
            "matchers": [
                {
                    "predicate": {
                        "single_predicate": {
                            "input": sni,
                            "value_match": {"suffix": ".example.com"},
                        }
                    },
                    "on_match": _action("example"),
                },
                {
                    "predicate": {
                        "not_matcher": {
                            "single_predicate": {"input": sni, "value_match": {"exact": ""}}
                        }
                    },
                    "on_match": _action("any-sni"),
                },
            ]
        },
        "on_no_match": _action("no-sni"),
    }
    assert mt.evaluate(tree, mt.Inputs(server_name="a.example.com")).action == "example"
    assert mt.evaluate(tree, mt.Inputs(server_name="other.org")).action == "any-sni"
    assert mt.evaluate(tree, mt.Inputs(server_name="")).action == "no-sni"


def test_waypoint_trace_follows_the_tunnel_into_main_internal(pdebug):
    r = pdebug("trace", WAYPOINT, "http://10.104.171.68:8000/", "-o", "json")
    got = json.loads(r.out)
    steps = [(s["kind"], s["name"], s["matched"]) for s in got["steps"] if not s.get("candidate")]
    assert ("listener", "main_internal", True) in steps
    assert (
        "filter_chain",
        "inbound-vip|8000||httpbin.default.svc.cluster.local-http",
        True,
    ) in steps
    assert ("action", "cluster", True) in steps
    assert [c["name"] for c in got["verdict"]["clusters"]] == [
        "inbound-vip|8000|http|httpbin.default.svc.cluster.local"
    ]
    assert r.code == 6  # the dump has no EDS for it: UNKNOWN, and says what to capture
    by_name = pdebug("trace", WAYPOINT, "http://httpbin.default:8000/")
    assert "httpbin.default taken as 10.104.171.68" in by_name.out + by_name.err
    other = pdebug("trace", WAYPOINT, "http://10.9.9.9:8000/", "-o", "json")
    assert json.loads(other.out)["verdict"]["kind"] == "no_filter_chain"


def test_check_knows_a_waypoint_from_a_sidecar(pdebug):
    r = pdebug("check", WAYPOINT, "-o", "json")
    skipped = {s["code"]: s["reason"] for s in json.loads(r.out)["skipped"]}
    assert skipped["PD602"].startswith("an ambient waypoint")


def test_a_camel_case_waypoint_dump_is_traced_the_same(pdebug, tmp_path):
    """istiod's rendering (lowerCamelCase) of the waypoint: the matcher's field names are
    respelled, its map keys (ports, chain names) are data and kept."""
    from pdebug.model.camel import to_camel

    def camel(obj: Any, data: bool = False) -> Any:
        if isinstance(obj, list):
            return [camel(v) for v in obj]
        if isinstance(obj, dict):
            return {
                (k if data or k.startswith("@") else to_camel(k)): camel(v, k == "map")
                for k, v in obj.items()
            }
        return obj

    doc = json.loads(WAYPOINT.read_bytes())
    for section in doc["configs"]:
        for entry in section.get("dynamic_listeners", []):
            lst = entry.get("active_state", {}).get("listener", {})
            if "filter_chain_matcher" in lst:
                lst["filterChainMatcher"] = camel(lst.pop("filter_chain_matcher"))
    path = tmp_path / "camel.json"
    path.write_text(json.dumps(doc))
    want = pdebug("trace", WAYPOINT, "http://10.104.171.68:8000/", "-o", "json")
    got = pdebug("trace", path, "http://10.104.171.68:8000/", "-o", "json")
    assert json.loads(got.out)["verdict"] == json.loads(want.out)["verdict"]
