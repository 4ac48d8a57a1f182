"""trace through a filter_chain_matcher (how ambient waypoints pick chains), on real Envoy.

Envoy 1.40 evaluates the same xDS matcher tree on an ordinary listener: one listener on
three loopback ports whose matcher sends each port (and, nested, each source range) to a
different chain answering its own status. pdebug's trace must predict, for each port, the
status Envoy really answers. Then the waypoint path itself on istioctl's waypoint dump,
and on a waypoint-shaped config run by Envoy 1.40 (connect_terminate -> main_internal ->
inbound-vip cluster -> connect_originate), with real CONNECTs through it.
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
    from pdebug.trace import matchers as mt

    tree = {
        "matcher_tree": {
            "input": {"typed_config": {"@type": "x.y.FilterStateInput"}},
            "exact_match_map": {"map": {}},
        }
    }
    assert mt.evaluate(tree, mt.Inputs(destination_port=80)).unsupported
    ip_tree = {
        "matcher_tree": {
            "input": {"typed_config": {"@type": "a.DestinationIPInput"}},
            "exact_match_map": {"map": {}},
        }
    }
    assert "not known" in mt.evaluate(ip_tree, mt.Inputs(destination_ip=None)).unsupported


def test_matcher_list_predicates():
    from pdebug.trace import matchers as mt

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


# --- a waypoint on real Envoy: connect_terminate -> main_internal -> connect_originate --------

VIP = "10.96.0.10"
SERVICE = "echo.default.svc.cluster.local"
SERVED = f"inbound-vip|8000|http|{SERVICE}"  # a backend behind connect_originate
EMPTY = f"inbound-vip|8002|http|{SERVICE}"  # no endpoints
TYPES = "type.googleapis.com/envoy.extensions."
NETWORK_INPUT = TYPES + "matching.common_inputs.network.v3."
ORIGINAL_DST = {
    "name": "envoy.filters.listener.original_dst",
    "typed_config": {"@type": TYPES + "filters.listener.original_dst.v3.OriginalDst"},
}
RAW_BUFFER = {
    "name": "raw_buffer",
    "typed_config": {"@type": TYPES + "transport_sockets.raw_buffer.v3.RawBuffer"},
}


def _internal_upstream(**extra: Any) -> Json:
    """The transport socket of a cluster whose endpoints are internal listeners."""
    typed = {
        "@type": TYPES + "transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
        "transport_socket": RAW_BUFFER,
        **extra,
    }
    return {"name": "internal_upstream", "typed_config": typed}


def _routed(name: str, route: Json, filters: list[Json] | None = None, **hcm: Any) -> Json:
    """A chain whose connection manager sends every request (``route``) somewhere."""
    rc = {"name": name, "virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}]}
    typed = {
        "@type": TYPES + "filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name.replace("|", "_"),
        "route_config": rc,
        "http_filters": [*(filters or []), eh.router()],
        **hcm,
    }
    return {
        "name": name,
        "filters": [
            {"name": "envoy.filters.network.http_connection_manager", "typed_config": typed}
        ],
    }


def _waypoint_bootstrap(terminate_port: int, backend_port: int) -> Json:
    """A waypoint as istiod shapes one, minus mTLS: HBONE CONNECT in on ``connect_terminate``
    (its authority becomes the original destination of the internal connection), the
    internal listener ``main_internal`` picking a chain per service VIP and port with a
    ``filter_chain_matcher``, and ``inbound-vip|...`` clusters whose endpoints are
    ``envoy://connect_originate/IP:PORT`` (an internal listener tcp-proxying to the original
    destination: here the backend on 127.0.0.1, not a pod's HBONE port)."""
    original = "envoy.filters.listener.original_dst"
    connect_authority = {
        "name": "connect_authority",
        "typed_config": {
            "@type": TYPES + "filters.http.set_filter_state.v3.Config",
            "on_request_headers": [
                {
                    "object_key": f"{original}.{key}",
                    "format_string": {"text_format_source": {"inline_string": value}},
                    "shared_with_upstream": "ONCE",
                }
                for key, value in (
                    ("local_ip", "%REQ(:AUTHORITY)%"),
                    ("remote_ip", "%DOWNSTREAM_REMOTE_ADDRESS%"),
                )
            ],
        },
    }
    tunnel = {
        "match": {"connect_matcher": {}},
        "route": {
            "cluster": "main_internal",
            "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}],
        },
    }
    terminate = {
        "name": "connect_terminate",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": terminate_port}},
        "filter_chains": [
            _routed(
                "default",
                tunnel,
                [connect_authority],
                http2_protocol_options={"allow_connect": True},
                upgrade_configs=[{"upgrade_type": "CONNECT"}],
            )
        ],
    }
    by_port = {
        "matcher_tree": {
            "input": {
                "name": "port",
                "typed_config": {"@type": NETWORK_INPUT + "DestinationPortInput"},
            },
            "exact_match_map": {"map": {"8000": _action(SERVED), "8002": _action(EMPTY)}},
        }
    }
    by_vip = {
        "matcher_tree": {
            "input": {
                "name": "ip",
                "typed_config": {"@type": NETWORK_INPUT + "DestinationIPInput"},
            },
            "custom_match": {
                "name": "ip",
                "typed_config": {
                    "@type": IP_MATCHER,
                    "range_matchers": [
                        {
                            "ranges": [{"address_prefix": VIP, "prefix_len": 32}],
                            "on_match": {"matcher": by_port},
                        }
                    ],
                },
            },
        }
    }
    main_internal = {
        "name": "main_internal",
        "internal_listener": {},
        "traffic_direction": "INBOUND",
        "listener_filters": [ORIGINAL_DST],
        "filter_chains": [
            _routed(name, {"name": "default", "match": {"prefix": "/"}, "route": {"cluster": name}})
            for name in (SERVED, EMPTY)
        ],
        "filter_chain_matcher": by_vip,
    }
    tcp_proxy = {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": TYPES + "filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "connect_originate",
            "cluster": "connect_originate",
        },
    }
    connect_originate = {
        "name": "connect_originate",
        "internal_listener": {},
        "listener_filters": [ORIGINAL_DST],
        "filter_chains": [{"filters": [tcp_proxy]}],
    }
    backend = f"127.0.0.1:{backend_port}"

    def internal(listener: str, endpoint_id: str = "", **extra: Any) -> Json:
        address = {"server_listener_name": listener, "endpoint_id": endpoint_id}
        return {"endpoint": {"address": {"envoy_internal_address": address}}, **extra}

    def static(name: str, endpoints: list[Json], **extra: Any) -> Json:
        cla = {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": endpoints}] if endpoints else [],
        }
        return {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": cla,
            **extra,
        }

    metadata = {"filter_metadata": {original: {"local": backend}}}
    clusters = [
        static("main_internal", [internal("main_internal")], transport_socket=_internal_upstream()),
        static(
            SERVED,
            [internal("connect_originate", backend, metadata=metadata)],
            transport_socket=_internal_upstream(
                passthrough_metadata=[{"kind": {"host": {}}, "name": original}]
            ),
        ),
        static(EMPTY, []),
        {
            "name": "connect_originate",
            "type": "ORIGINAL_DST",
            "lb_policy": "CLUSTER_PROVIDED",
            "connect_timeout": "1s",
        },
    ]
    internal_listeners = {
        "name": "envoy.bootstrap.internal_listener",
        "typed_config": {"@type": TYPES + "bootstrap.internal_listener.v3.InternalListener"},
    }
    return {
        "bootstrap_extensions": [internal_listeners],
        "static_resources": {
            "listeners": [terminate, main_internal, connect_originate],
            "clusters": clusters,
        },
    }


def _through_tunnel(port: int, destination: str) -> tuple[int, int | None, bytes]:
    """An HTTP CONNECT to ``destination`` (as ztunnel's HBONE, in HTTP/1.1 and without
    mTLS), then a GET through the tunnel: (CONNECT status, GET status or None, GET body)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"CONNECT {destination} HTTP/1.1\r\nHost: {destination}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        connect_status = int(answer.split(b" ", 2)[1])
        if connect_status != 200:
            return connect_status, None, b""
        request = f"GET /hello HTTP/1.1\r\nHost: {SERVICE}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return connect_status, int(head.split(b" ", 2)[1]), body


@pytest.mark.envoy
@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")
def test_trace_follows_hbone_through_a_real_waypoint(pdebug, tmp_path):
    """What Envoy 1.40 does with each CONNECT is what pdebug's trace of its dump says."""
    destinations = [f"{VIP}:8000", f"{VIP}:8002", f"{VIP}:8001", "10.96.0.99:8000"]
    with eh.LoopbackUpstream("echo") as backend:
        port, backend_port = eh.free_port(), backend.port
        with eh.Envoy(_waypoint_bootstrap(port, backend_port)) as envoy:
            seen = {dest: _through_tunnel(port, dest) for dest in destinations}
            dump = tmp_path / "waypoint.json"
            dump.write_bytes(envoy.get("/config_dump"))
            live = tmp_path / "clusters.json"
            live.write_bytes(envoy.get("/clusters?format=json"))
    # what Envoy did: the served VIP:port reaches the backend through both internal
    # listeners; a port or a VIP the matcher does not route fails the CONNECT itself
    assert seen[f"{VIP}:8000"][:2] == (200, 200)
    assert json.loads(seen[f"{VIP}:8000"][2])["upstream"] == "echo"
    assert seen[f"{VIP}:8002"][:2] == (200, 503)  # tunnel up, no healthy upstream
    assert seen[f"{VIP}:8001"][0] == 503
    assert seen["10.96.0.99:8000"][0] == 503

    def trace(url: str) -> tuple[int, Json]:
        r = pdebug("trace", dump, url, "--clusters-json", live, "-o", "json")
        assert r.code in (0, 1), r.err
        return r.code, json.loads(r.out)

    for dest, (connect, inner, _) in seen.items():
        code, got = trace(f"http://{dest}/hello")
        verdict = got["verdict"]
        if connect != 200:
            assert (code, verdict["kind"], verdict["status"]) == (1, "no_filter_chain", connect), (
                dest
            )
        elif inner == 200:
            assert (code, verdict["kind"]) == (0, "upstream"), dest
        else:
            assert (code, verdict["kind"], verdict["status"]) == (1, "no_endpoints", inner), dest

    code, got = trace(f"http://{VIP}:8000/hello")
    path = [(s["kind"], s["name"]) for s in got["steps"] if s["matched"]]
    assert path == [
        ("listener", "connect_terminate"),
        ("filter_chain", "default (#0)"),
        ("network_filter", "envoy.filters.network.http_connection_manager"),
        ("route_config", "default"),
        ("virtual_host", "default"),
        ("route", "#0"),
        ("action", "cluster"),
        ("cluster", "main_internal"),
        ("listener", "main_internal"),
        ("connection", f"unknown client -> {VIP}:8000"),
        ("filter_chain", SERVED),
        ("network_filter", "envoy.filters.network.http_connection_manager"),
        ("route_config", SERVED),
        ("virtual_host", SERVED),
        ("route", "default"),
        ("action", "cluster"),
        ("action", "envoy headers"),  # x-forwarded-proto... (trace12)
        ("cluster", SERVED),
        ("endpoints", SERVED),
    ]
    endpoints = got["steps"][-1]
    assert endpoints["health_source"] == "/clusters"  # Envoy's own view of the endpoint
    assert [e["address"] for e in endpoints["endpoints"]] == [
        f"envoy://connect_originate/127.0.0.1:{backend_port}"
    ]
    # connect_originate (an internal listener with original_dst) is no capture listener
    assert all(s["name"] != "connect_originate" for s in got["steps"] if s["kind"] == "listener")
    # the service's name instead of its VIP: the matcher tells which VIP it stands for
    by_name = trace("http://echo.default:8000/hello")[1]
    assert by_name["verdict"]["kind"] == "upstream"


def test_the_connect_is_routed_by_the_dump_not_assumed(pdebug, tmp_path):
    """istiod's waypoint listeners with only part of the clusters (istioctl's diff data):
    the CONNECT route names main_internal, which this dump lacks; without a clusters
    section at all pdebug cannot tell (UNKNOWN), it does not guess."""
    dump = ISTIOCTL / "proxy-status-diff" / "current" / "configdump.json"
    r = pdebug("trace", dump, "http://details.default:9080/", "-o", "json")
    got = json.loads(r.out)
    assert (r.code, got["verdict"]["kind"], got["verdict"]["status"]) == (1, "unknown_cluster", 503)
    assert [(s["kind"], s["name"]) for s in got["steps"]][-3:] == [
        ("route", "#0"),
        ("action", "cluster"),
        ("cluster", "main_internal"),
    ]
    doc = json.loads(dump.read_bytes())
    doc["configs"] = [c for c in doc["configs"] if "Clusters" not in c["@type"]]
    partial = tmp_path / "no-clusters.json"
    partial.write_text(json.dumps(doc))
    r = pdebug("trace", partial, "http://details.default:9080/", "-o", "json")
    assert (r.code, json.loads(r.out)["verdict"]["kind"]) == (6, "incomplete")


@pytest.mark.parametrize("url", ["http://10.104.171.68:8000/", "http://reviews:9080/"])
def test_a_lone_surrogate_in_a_matcher_is_damage_not_a_crash(pdebug, tmp_path, url):
    """A lone surrogate written as UTF-8 bytes (``ED B2 80``, as Python's surrogatepass
    writes it), which no plain string can hold: in a filter_chain_matcher it is one line
    naming the listener and exit 4, not exit 5 (found by `make fuzz`, seed 12)."""
    doc = json.loads(WAYPOINT.read_bytes())
    for section in doc["configs"]:
        for entry in section.get("dynamic_listeners", []):
            lst = entry.get("active_state", {}).get("listener", {})
            if "filter_chain_matcher" in lst:
                lst["filter_chain_matcher"]["on_no_match"] = {"action": {"name": "\udc80"}}
    path = tmp_path / "surrogate.json"
    path.write_bytes(json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    r = pdebug("trace", path, url)
    assert r.code == 4, r.err
    assert "filter_chain_matcher" in r.err and "internal error" not in r.err
    assert len(r.err.strip().splitlines()) == 2  # the error and its hint


def _range_matchers(m: Json) -> list[Json]:
    return m["matcher_tree"]["custom_match"]["typed_config"]["range_matchers"]  # type: ignore[no-any-return]


_RETYPED = {
    "tree": lambda m: m.update(matcher_tree="x"),
    "range_matchers": lambda m: m["matcher_tree"]["custom_match"]["typed_config"].update(
        range_matchers="x"
    ),
    "range_matcher": lambda m: _range_matchers(m).insert(0, "x"),
    "on_match": lambda m: _range_matchers(m)[0].update(on_match=["x"]),
    "map_entry": lambda m: _range_matchers(m)[0]["on_match"]["matcher"]["matcher_tree"][
        "exact_match_map"
    ]["map"].update({"8000": "x"}),
    "action": lambda m: _range_matchers(m)[0]["on_match"]["matcher"]["matcher_tree"][
        "exact_match_map"
    ]["map"]["8000"].update(action=7),
    "range": lambda m: _range_matchers(m)[0]["ranges"].insert(0, "x"),
}


@pytest.mark.parametrize("where", sorted(_RETYPED))
def test_a_retyped_waypoint_matcher_node_is_not_a_crash(pdebug, tmp_path, where):
    """A host name traced through a waypoint whose matcher holds a string (or list, or
    number) where an object belongs: a trace verdict, not exit 5 with AttributeError
    (found by `make fuzz`, seed 3003)."""
    doc = json.loads(WAYPOINT.read_bytes())
    for section in doc["configs"]:
        for entry in section.get("dynamic_listeners", []):
            lst = entry.get("active_state", {}).get("listener", {})
            if "filter_chain_matcher" in lst:
                _RETYPED[where](lst["filter_chain_matcher"])
    path = tmp_path / "retyped.json"
    path.write_text(json.dumps(doc))
    r = pdebug("trace", path, "http://httpbin.default:8000/")
    assert r.code in (0, 1, 4, 6), r.err
    assert "internal error" not in r.err and "Traceback" not in r.err
