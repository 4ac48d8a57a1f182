"""The model's facts layer: cluster names, the endpoint-health rule, addresses, listener
states, route records and the byte sniffer (each the one place its rule lives)."""

from __future__ import annotations

import json

import msgspec
import pytest

from pdebug.checks import CheckOptions, run_checks
from pdebug.checks.context import Context
from pdebug.errors import InvalidInput
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.address import address_text, bind_host, host_port, port_of
from pdebug.model.clusters import ClusterName, by_name, extension_type, kind, records, table_type
from pdebug.model.health import (
    DEGRADED,
    DRAINING,
    HEALTHY,
    UNHEALTHY,
    endpoint_health,
    host_health,
    host_lb_health,
    is_usable,
    lb_health,
    unusable_reasons,
)
from pdebug.model.hosts import Host
from pdebug.model.listeners import ListenerFacts, network_kind
from pdebug.model.load import load
from pdebug.model.routes import configs, find, rds_by_name, route_targets, tcp_targets
from pdebug.model.sniff import sniff, sniff_bytes
from pdebug.report.topology import BAD, OK, WARN, endpoint_status
from pdebug.views import listeners as listener_view

V3 = "type.googleapis.com/envoy.admin.v3."


def _dump(*sections: dict) -> bytes:
    return json.dumps({"configs": list(sections)}).encode()


# --- cluster names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        (
            "outbound|9080|v1|reviews.default.svc.cluster.local",
            ("outbound", 9080, "v1", "reviews.default.svc.cluster.local", True),
        ),
        ("outbound|80||", ("outbound", 80, "", "", True)),
        ("inbound|8080||", ("inbound", 8080, "", "", True)),
        ("inbound|9080||", ("inbound", 9080, "", "", True)),
        ("outbound|http|v1|x", ("outbound", 0, "v1", "x", True)),
        ("outbound|80||a|b", ("outbound", 80, "", "", True)),  # the host holds a separator
        ("outbound|http||x", ("outbound", 0, "", "x", True)),  # a non-numeric port reads 0
        (
            "outbound_.80_._.x.default.svc.cluster.local",
            ("", 0, "", "outbound_.80_._.x.default.svc.cluster.local", False),
        ),
        ("outbound_.80_.v1_.x|y|z|w", ("outbound", 80, "v1", "x|y|z|w", True)),  # DNS-SRV
        (
            "inbound-vip|9080|http|reviews.default.svc.cluster.local",
            ("inbound-vip", 9080, "http", "reviews.default.svc.cluster.local", True),
        ),
        (
            "inbound-vip|8000|http|httpbin.default.svc.cluster.local",
            ("inbound-vip", 8000, "http", "httpbin.default.svc.cluster.local", True),
        ),
        (
            "outbound_.80_._.reviews.default.svc.cluster.local",
            ("", 0, "", "outbound_.80_._.reviews.default.svc.cluster.local", False),
        ),
        ("BlackHoleCluster", ("", 0, "", "BlackHoleCluster", False)),
        ("PassthroughCluster", ("", 0, "", "PassthroughCluster", False)),
        ("xds-grpc", ("", 0, "", "xds-grpc", False)),
        ("a|b", ("", 0, "", "a|b", False)),
        ("", ("", 0, "", "", False)),
    ],
)
def test_cluster_name_split(name: str, parts: tuple) -> None:
    n = ClusterName.parse(name)
    assert (n.direction, n.port, n.subset, n.fqdn, n.istio) == parts


def test_cluster_name_sort_key_is_istioctls_order() -> None:
    names = ["outbound|80|v2|b", "outbound|80|v1|b", "inbound|80|v1|b", "outbound|9|v1|a"]
    ordered = sorted(names, key=lambda x: ClusterName.parse(x).sort_key())
    assert ordered == ["outbound|9|v1|a", "inbound|80|v1|b", "outbound|80|v1|b", "outbound|80|v2|b"]


def test_cluster_types() -> None:
    eds = s.Cluster(name="a", type="EDS")
    plain = s.Cluster(name="b")
    aggregate = s.Cluster(name="c", cluster_type=s.TypedExtension(name="envoy.clusters.aggregate"))
    assert [table_type(c) for c in (eds, plain, aggregate)] == ["EDS", "STATIC", "STATIC"]
    assert [kind(c) for c in (eds, plain, aggregate)] == ["EDS", "STATIC", "CUSTOM"]
    assert extension_type(aggregate) == "envoy.clusters.aggregate"
    assert extension_type(eds) == "EDS"


def test_cluster_records_and_states() -> None:
    def section(key: str, *names: str) -> list[dict]:
        return [{"cluster": {"name": n}, "last_updated": f"t-{n}"} for n in names]

    dump = load(
        _dump(
            {
                "@type": V3 + "ClustersConfigDump",
                "static_clusters": section("static_clusters", "BlackHoleCluster"),
                "dynamic_active_clusters": section("x", "outbound|80||a", "outbound|80||b"),
                "dynamic_warming_clusters": section("y", "outbound|80||b", "outbound|80||c"),
            }
        ),
        "t",
    ).dump
    assert dump is not None
    got = [(r.name, r.state) for r in records(dump, ("ACTIVE", "STATIC", "WARMING"))]
    assert got == [
        ("outbound|80||a", "ACTIVE"),
        ("outbound|80||b", "ACTIVE"),
        ("BlackHoleCluster", "STATIC"),
        ("outbound|80||b", "WARMING"),
        ("outbound|80||c", "WARMING"),
    ]
    named = by_name(dump)
    # a warming update of an active cluster: the active one is the record
    assert {n: r.state for n, r in named.items()} == {
        "outbound|80||a": "ACTIVE",
        "outbound|80||b": "ACTIVE",
        "BlackHoleCluster": "STATIC",
        "outbound|80||c": "WARMING",
    }
    rec = named["outbound|80||c"]
    assert rec.key.fqdn == "c" and rec.key.port == 80 and rec.since == "t-outbound|80||c"
    assert rec.ref.resolve() == {"name": "outbound|80||c"}


# --- endpoint health --------------------------------------------------------------------

FLAGS = (
    "failed_active_health_check",
    "failed_outlier_check",
    "failed_active_degraded_check",
    "pending_dynamic_removal",
    "pending_active_hc",
    "excluded_via_immediate_hc_fail",
    "active_hc_timeout",
)


@pytest.mark.parametrize(
    ("eds", "level"),
    [
        ("", HEALTHY),
        ("UNKNOWN", HEALTHY),
        ("HEALTHY", HEALTHY),
        ("UNHEALTHY", UNHEALTHY),
        ("TIMEOUT", UNHEALTHY),
        ("DRAINING", DRAINING),
        ("DEGRADED", DEGRADED),
    ],
)
def test_health_of_every_eds_status(eds: str, level: str) -> None:
    assert endpoint_health(eds) == level
    assert endpoint_health(eds, s.HostHealthStatus(eds_health_status=eds)) == level


@pytest.mark.parametrize(
    ("flag", "level"),
    [
        ("failed_active_health_check", UNHEALTHY),
        ("failed_outlier_check", UNHEALTHY),
        ("excluded_via_immediate_hc_fail", UNHEALTHY),
        ("failed_active_degraded_check", DEGRADED),
        # Envoy keeps load-balancing to a host EDS dropped while it passes health checks
        ("pending_dynamic_removal", HEALTHY),
        ("pending_active_hc", HEALTHY),
        ("active_hc_timeout", HEALTHY),  # set together with failed_active_health_check
    ],
)
def test_health_of_every_flag(flag: str, level: str) -> None:
    flags = s.HostHealthStatus(**{flag: True})
    assert endpoint_health("HEALTHY", flags) == level


def test_failure_beats_degraded_and_draining() -> None:
    failing = s.HostHealthStatus(failed_active_health_check=True)
    assert endpoint_health("DEGRADED", failing) == UNHEALTHY
    assert endpoint_health("DRAINING", failing) == UNHEALTHY
    assert endpoint_health("DRAINING", s.HostHealthStatus(failed_active_degraded_check=True)) == (
        DRAINING
    )


def test_usable_load_balancer_and_report_words() -> None:
    assert [is_usable(x) for x in (HEALTHY, DEGRADED, DRAINING, UNHEALTHY)] == [
        True,
        True,
        False,
        False,
    ]
    assert [lb_health(e) for e in ("HEALTHY", "DEGRADED", "DRAINING", "TIMEOUT")] == [
        HEALTHY,
        DEGRADED,
        UNHEALTHY,
        UNHEALTHY,
    ]
    words = [endpoint_status(Host("a", e)) for e in ("HEALTHY", "DEGRADED", "DRAINING", "TIMEOUT")]
    assert words == [OK, WARN, WARN, BAD]
    ejected = Host("a", "HEALTHY", s.HostHealthStatus(failed_outlier_check=True))
    assert endpoint_status(ejected) == BAD and not ejected.usable


def test_live_host_helpers_agree_with_the_rule() -> None:
    for eds in ("", "HEALTHY", "UNHEALTHY", "DRAINING", "DEGRADED", "TIMEOUT"):
        for flag in (None, *FLAGS):
            hs = s.HostHealthStatus(eds_health_status=eds, **({flag: True} if flag else {}))
            host = s.HostStatus(health_status=hs)
            level = endpoint_health(eds, hs)
            assert host_health(host) == level
            assert host_lb_health(host) == (UNHEALTHY if level == DRAINING else level)
            assert Host("x", eds or "UNKNOWN", hs).usable == is_usable(level)
    assert host_health(s.HostStatus()) == HEALTHY  # no health_status at all


def test_unusable_reasons() -> None:
    flags = s.HostHealthStatus(failed_active_health_check=True, failed_outlier_check=True)
    assert unusable_reasons("DRAINING", flags) == [
        "fail active health checks",
        "ejected by outlier detection",
        "DRAINING per EDS",
    ]
    assert unusable_reasons("DEGRADED") == []


# --- addresses --------------------------------------------------------------------------


def test_address_formatter() -> None:
    v4 = s.Address(socket_address=s.SocketAddress(address="10.0.0.1", port_value=80))
    v6 = s.Address(socket_address=s.SocketAddress(address="::1", port_value=80))
    pipe = s.Address(pipe=s.Pipe(path="/var/run/x.sock"))
    internal = s.Address(
        envoy_internal_address=s.EnvoyInternalAddress(
            server_listener_name="connect_originate", endpoint_id="10.0.0.1:80"
        )
    )
    assert address_text(v4) == "10.0.0.1:80"
    assert address_text(v6) == "::1:80"
    assert address_text(v6, bracket_ipv6=True) == "[::1]:80"
    assert address_text(pipe) == "/var/run/x.sock"
    assert address_text(pipe, pipe_scheme=True) == "unix:///var/run/x.sock"
    assert address_text(internal) == "envoy://connect_originate/10.0.0.1:80"
    assert address_text(None) == address_text(s.Address()) == "unknown"
    assert host_port(v4) == ("10.0.0.1", 80)
    assert host_port(pipe, pipe_scheme=True) == ("unix:///var/run/x.sock", 0)
    assert host_port(internal) == ("envoy://connect_originate/10.0.0.1:80", 0)
    assert host_port(None) == ("unknown", 0)
    assert [bind_host(a) for a in (v4, pipe, internal, None)] == [
        "10.0.0.1",
        pipe.pipe.path,
        "",
        "",
    ]
    assert [port_of(a) for a in (v4, pipe, internal, None)] == [80, 0, 0, 0]


# --- listener states --------------------------------------------------------------------


def _lst(name: str, port: int) -> dict:
    return {
        "name": name,
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy"}]}],
    }


def _state(name: str, port: int, version: str = "1") -> dict:
    return {"version_info": version, "listener": _lst(name, port), "last_updated": "t"}


def _error(name: str, port: int, details: str = "cannot bind: Address already in use") -> dict:
    return {
        "failed_configuration": {
            "@type": V3.replace("admin", "config.listener") + "x",
            **_lst(name, port),
        },
        "details": details,
        "last_update_attempt": "t2",
        "version_info": "2",
    }


def _listeners_dump(dynamic: list[dict], key: str = "dynamic_listeners", **more: list) -> ProxyData:
    section = {"@type": V3 + "ListenersConfigDump", key: dynamic, **more}
    dump = load(_dump(section), "t").dump
    return ProxyData("t", dump)


def test_one_walk_over_every_state() -> None:
    data = _listeners_dump(
        [
            {"name": "a", "active_state": _state("a", 1)},
            {"name": "b", "active_state": _state("b", 2), "warming_state": _state("b", 2, "2")},
            {"name": "c", "warming_state": _state("c", 3)},
            {"name": "d", "draining_state": _state("d", 4)},
            # rejected update of a serving listener, and its name-less twin
            {"name": "e", "active_state": _state("e", 5), "error_state": _error("e", 5)},
            {"error_state": _error("e", 5)},
            # a listener Envoy never ran: only the error (and its twin)
            {"name": "f", "error_state": _error("f", 6)},
            {"error_state": _error("f", 6)},
            # a name-less rejection with no named entry: its own listener
            {"error_state": _error("g", 7, "validation failed")},
        ],
        static_listeners=[{"listener": _lst("s", 8), "last_updated": "t0"}],
    )
    assert data.dump is not None
    facts = ListenerFacts(data.dump)
    assert [e.state_text for e in facts.dynamic] == [
        "ACTIVE",
        "ACTIVE,WARMING",
        "WARMING",
        "DRAINING",
        "ACTIVE,ERROR",
        "ERROR",
        "ERROR",
        "ERROR",
        "ERROR",
    ]
    got = [(r.name, r.state, r.serving, r.first) for r in facts.configs]
    assert got == [
        ("a", "ACTIVE", False, True),
        ("b", "ACTIVE", False, True),
        ("b", "WARMING", True, False),
        ("c", "WARMING", False, True),
        ("d", "DRAINING", False, True),
        ("e", "ACTIVE", False, True),
        ("s", "STATIC", True, True),
    ]
    assert facts.configs[2].ref.resolve()["name"] == "b"
    assert [(r.name, r.serving, r.ever_ran) for r in facts.rejections] == [
        ("e", True, True),
        ("f", False, False),
        ("g", False, False),
    ]
    assert [facts.is_twin(e) for e in facts.dynamic] == [False] * 5 + [True, False, True, False]

    # every consumer reads the same walk: one row, one finding, one node per rejection
    wide = listener_view.select(data, listener_view.ListenerFilter(), True)
    assert sorted((r.listener.name, r.state) for r in wide) == [
        ("a", "ACTIVE"),
        ("b", "ACTIVE,WARMING"),
        ("c", "WARMING"),
        ("d", "DRAINING"),
        ("e", "ACTIVE,ERROR"),
        ("f", "ERROR"),
        ("g", "ERROR"),
        ("s", "STATIC"),
    ]
    short = listener_view.select(data, listener_view.ListenerFilter(), False)
    assert sorted(r.listener.name for r in short) == ["a", "b", "e", "s"]
    report = run_checks(data, CheckOptions())
    assert sorted(f.resource for f in report.findings if f.code == "PD101") == [
        "listener/e",
        "listener/f",
        "listener/g",
    ]
    ctx = Context(data, CheckOptions())
    assert [(r.name, r.state, r.serving, r.first) for r in ctx.listeners] == got


def test_v2alpha_listeners_are_walked_like_v3() -> None:
    data = _listeners_dump(
        [_state("a", 1)],
        key="dynamic_active_listeners",
        dynamic_warming_listeners=[_state("b", 2)],
        dynamic_draining_listeners=[_state("c", 3)],
    )
    assert data.dump is not None
    facts = ListenerFacts(data.dump)
    assert [(r.name, r.state) for r in facts.configs] == [
        ("a", "ACTIVE"),
        ("b", "WARMING"),
        ("c", "DRAINING"),
    ]
    assert facts.configs[1].ref.resolve()["name"] == "b"
    assert facts.rejections == []


def test_a_damaged_rejected_config_is_an_error_when_read() -> None:
    data = _listeners_dump([{"error_state": {"failed_configuration": {"name": 5}}}])
    assert data.dump is not None
    facts = ListenerFacts(data.dump)
    assert facts.dynamic[0].state_text == "ERROR"  # the walk itself decodes nothing
    with pytest.raises(InvalidInput):
        _ = facts.rejections


def test_network_filter_kind() -> None:
    def ext(name: str, type_url: str = "") -> s.TypedExtension:
        raw = json.dumps({"@type": type_url} if type_url else {}).encode()
        return s.TypedExtension(name=name, typed_config=msgspec.Raw(raw))

    hcm_url = (
        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager"
    )
    assert network_kind(ext("envoy.filters.network.http_connection_manager")).endswith("manager")
    assert network_kind(ext("envoy.tcp_proxy")) == "envoy.filters.network.tcp_proxy"
    assert network_kind(ext("custom", hcm_url)) == "envoy.filters.network.http_connection_manager"
    assert network_kind(ext("custom", hcm_url), by_type=False) == ""
    assert network_kind(ext("custom", "type.googleapis.com/x.v3.Other")) == ""


# --- routes -----------------------------------------------------------------------------


def test_route_records_and_targets() -> None:
    def rc(name: str, *clusters: str) -> dict:
        routes = [{"match": {"prefix": "/"}, "route": {"cluster": c}} for c in clusters]
        weighted = {
            "match": {"prefix": "/w"},
            "route": {"weighted_clusters": {"clusters": [{"name": "w1"}, {"name": ""}]}},
        }
        return {
            "route_config": {
                "name": name,
                "virtual_hosts": [{"name": "vh", "routes": [*routes, weighted]}],
            }
        }

    dump = load(
        _dump(
            {
                "@type": V3 + "RoutesConfigDump",
                "dynamic_route_configs": [rc("80", "a"), rc("80", "b"), rc("9080", "c")],
                "static_route_configs": [rc("80", "d")],
            }
        ),
        "t",
    ).dump
    assert dump is not None
    assert [(r.kind, r.name) for r in configs(dump)] == [
        ("rds", "80"),
        ("rds", "9080"),
        ("static", "80"),
    ]
    assert {
        n: c.virtual_hosts[0].routes[0].route.cluster for n, c in rds_by_name(dump).items()
    } == {
        "80": "a",
        "9080": "c",
    }
    found = find(dump, "9080")
    assert found is not None and found.ref.resolve()["name"] == "9080"
    assert find(dump, "nope") is None
    assert [c for _, _, c in route_targets(configs(dump)[0].config)] == ["a", "w1"]
    tcp = s.TcpProxy(cluster="x")
    assert tcp_targets(tcp) == ["x"]


# --- what are these bytes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind", "what"),
    [
        (b"", "empty", ""),
        (b"  \n\t", "empty", ""),
        (b'  {"configs": []}', "object", ""),
        (b"[1, 2]", "array", ""),
        (b"<!DOCTYPE html><html>", "markup", "an HTML page"),
        (b"<?xml version='1.0'?><a/>", "markup", "XML/HTML markup"),
        (b"\x1f\x8b\x08\x00binary", "binary", "binary data"),
        (b"abc\x00def", "binary", "binary data"),
        (b"\xff\xfe\xfd", "binary", "binary data"),
        (b"404 page not found\nmore", "text", ""),
        (b"42", "text", ""),
    ],
)
def test_sniffer(data: bytes, kind: str, what: str) -> None:
    found = sniff_bytes(data)
    assert (found.kind, found.what) == (kind, what)


def test_sniffer_first_line_and_cut_character() -> None:
    assert sniff_bytes(b"404 page not found\nmore").first_line == "404 page not found"
    # a multi-byte character cut at the end of the head is text, not binary
    text = b"x" * 511 + "é".encode() + b"tail"
    assert sniff_bytes(text).kind == "text"


def test_both_readers_use_the_sniffer() -> None:
    from pdebug.model.syncz import parse_syncz

    with pytest.raises(InvalidInput, match="this is an HTML page, not an Envoy config dump"):
        sniff(b"<html></html>", "f")
    with pytest.raises(InvalidInput, match="this is an HTML page, not istiod's sync status"):
        parse_syncz(b"<html></html>", "f")
    with pytest.raises(InvalidInput, match="binary data, not an Envoy config dump"):
        sniff(b"\x1f\x8b\x08\x00", "f")


def test_every_reader_of_live_health_asks_the_one_rule() -> None:
    from pdebug.model.health import ClustersStatus
    from pdebug.views import clusters as cluster_view

    def host(port: int, **health: object) -> dict:
        return {
            "address": {"socket_address": {"address": "10.0.0.1", "port_value": port}},
            "health_status": {"eds_health_status": "HEALTHY", **health},
        }

    doc = {
        "cluster_statuses": [
            {
                "name": "outbound|80||a",
                "host_statuses": [
                    host(1),
                    host(2, pending_dynamic_removal=True),
                    host(3, failed_active_degraded_check=True),
                    host(4, eds_health_status="DRAINING"),
                    host(5, excluded_via_immediate_hc_fail=True),
                ],
            }
        ]
    }
    health = ClustersStatus.parse(json.dumps(doc).encode(), "c")
    data = ProxyData("c", None, health)
    assert cluster_view.endpoint_counts(data) == {"outbound|80||a": (5, 2)}
    hosts = Context(data, CheckOptions()).hosts["outbound|80||a"].hosts
    assert [h.usable for h in hosts] == [True, True, True, False, False]
    assert [endpoint_status(h) for h in hosts] == [OK, OK, WARN, WARN, BAD]
    assert [host_lb_health(h) for h in health.statuses[0].host_statuses] == [
        HEALTHY,
        HEALTHY,
        DEGRADED,
        UNHEALTHY,
        UNHEALTHY,
    ]


def test_one_flag_table_for_the_endpoints_view_and_the_report() -> None:
    from pdebug.model.health import HOST_FLAGS, set_flags
    from pdebug.report.topology import _flags
    from pdebug.views.endpoints import health_flags

    every = s.HostHealthStatus(**{name: True for name, _, _ in HOST_FLAGS})
    assert [f for f, *_ in HOST_FLAGS] == list(FLAGS)  # every flag Envoy reports
    assert health_flags(s.HostStatus(health_status=every)) == (
        "FAILED_ACTIVE_HC,FAILED_OUTLIER,FAILED_DEGRADED_HC,PENDING_REMOVAL,"
        "PENDING_ACTIVE_HC,EXCLUDED,HC_TIMEOUT"
    )
    assert health_flags(s.HostStatus()) == "-"
    assert _flags(Host("a", "HEALTHY", every)) == (
        " (failed active health check, ejected by outlier detection, pending removal, excluded)"
    )
    assert set_flags(None) == [] and _flags(Host("a", "HEALTHY")) == ""


def test_trace_reads_endpoints_through_the_one_rule_and_formatter() -> None:
    from pdebug.model.health import ClustersStatus
    from pdebug.trace.clusters import Upstreams

    def host(address: dict, **health: object) -> dict:
        return {"address": address, "health_status": {"eds_health_status": "HEALTHY", **health}}

    v6 = {"socket_address": {"address": "fd00::1", "port_value": 80}}
    pipe = {"pipe": {"path": "/run/x.sock"}}
    doc = {
        "cluster_statuses": [
            {
                "name": "c",
                "host_statuses": [
                    host(v6),
                    host(pipe, failed_active_degraded_check=True),
                    # ejected: unhealthy, even though EDS says DEGRADED (the one rule)
                    host(v6, eds_health_status="DEGRADED", failed_outlier_check=True),
                    host(v6, eds_health_status="DRAINING"),
                ],
            }
        ]
    }
    health = ClustersStatus.parse(json.dumps(doc).encode(), "c")
    dump = load(_dump({"@type": V3 + "ClustersConfigDump"}), "d").dump
    assert dump is not None
    ups = Upstreams(ProxyData("c", dump, health), dump, [])
    endpoints, source = ups.endpoints(s.Cluster(name="c"))
    assert source == "/clusters" and endpoints is not None
    assert [(e.address, e.usable) for e in endpoints] == [
        ("[fd00::1]:80", "healthy"),
        ("unix:///run/x.sock", "degraded"),
        ("[fd00::1]:80", "unhealthy"),
        ("[fd00::1]:80", "unhealthy"),
    ]
