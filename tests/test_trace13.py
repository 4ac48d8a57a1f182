"""trace13: trace reads what other people wrap, and what trace12 and leftovers10 left.

An HTTP filter written in a ``TypedStruct`` (as Istio's own EnvoyFilters write filters)
is the filter its ``type_url`` names: trace evaluates a wrapped RBAC or fault and notes a
wrapped ext_authz, as Envoy 1.40 runs them. Each test failed before its fix.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import FIXTURES
from tests.harness import envoy as eh
from tests.test_leftovers10 import authz_variants  # noqa: F401  (a fixture, reused)
from tests.test_sweep29 import ROUTER, _status

needs_envoy = pytest.mark.skipif(not eh.envoy_available(), reason="envoy not installed")


def _ports(dump: Path) -> dict[str, int]:
    """Each static listener's name -> its port, read from the dump."""
    doc = json.loads(dump.read_text())
    out: dict[str, int] = {}
    for config in doc["configs"]:
        for entry in config.get("static_listeners", []):
            lst = entry["listener"]
            out[lst["name"]] = int(lst["address"]["socket_address"]["port_value"])
    return out


def _trace(pdebug: Any, dump: Path, port: int, *more: str) -> dict[str, Any]:
    got = pdebug("trace", dump, f"http://127.0.0.1:{port}/", "-o", "json", *more)
    assert got.code in (0, 1, 6), got.err
    return json.loads(got.out)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ 1. TypedStruct filters


@needs_envoy
def test_wrapped_ext_authz_is_noted_where_envoy_calls_its_service(
    pdebug,
    authz_variants,  # noqa: F811
) -> None:
    """Envoy's ext_authz config, its service's cluster emptied, written ten ways
    (tests/test_leftovers10.py). Where Envoy 1.40 answers 503 (it called the service and
    could not reach it), trace says the filter was not evaluated and that Envoy answers
    by itself; where a route turns it off (Envoy: 200), it says nothing of it. trace
    said nothing of the filter in a udpa or xds TypedStruct."""
    dump, answers = authz_variants
    assert answers["typed_struct_udpa"] == answers["typed_struct_xds"] == 503  # the facts
    ports = _ports(dump)
    for variant, status in answers.items():
        plain = _trace(pdebug, dump, ports[variant])
        notes = [n for n in plain["notes"] if "was not evaluated" in n]
        assert bool(notes) == (status == 503), (variant, status, plain["notes"])
        for note in notes:
            assert note.startswith("envoy.ext_authz was not evaluated: its authorization "
                                   f"service (cluster authz-{variant})"), note  # fmt: skip


def _listener(name: str, wrapped: dict[str, Any], port: int) -> dict[str, Any]:
    """A listener answering 200 from its route, after the HTTP filter ``wrapped``."""
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network."
                         "http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "route_config": {"virtual_hosts": [{
                    "name": "all", "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
                }]},
                "http_filters": [wrapped, copy.deepcopy(ROUTER)],
            },
        }]}],
    }  # fmt: skip


_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
_FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
#: Each filter as written plain: a DENY of GET, an ALLOW of /admin only, a certain abort.
_FILTERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "rbac_deny_get": ("envoy.filters.http.rbac", _RBAC, {"rules": {
        "action": "DENY",
        "policies": {"no-get": {
            "permissions": [{"header": {"name": ":method", "string_match": {"exact": "GET"}}}],
            "principals": [{"any": True}],
        }},
    }}),
    "rbac_allow_admin": ("envoy.filters.http.rbac", _RBAC, {"rules": {
        "action": "ALLOW",
        "policies": {"admin": {
            "permissions": [{"url_path": {"path": {"prefix": "/admin"}}}],
            "principals": [{"any": True}],
        }},
    }}),
    "fault_abort": ("envoy.filters.http.fault", _FAULT, {
        "abort": {"http_status": 418, "percentage": {"numerator": 100}},
    }),
}  # fmt: skip
_WRAPS = ("plain", "udpa.type.v1", "xds.type.v3")


@pytest.fixture(scope="module")
def wrapped_filters(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Envoy 1.40 running each filter plain and in either TypedStruct: its dump, and
    each listener's answer to ``GET /``."""
    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    listeners = []
    for key, (name, url, config) in _FILTERS.items():
        for wrap in _WRAPS:
            if wrap == "plain":
                typed = {"@type": url, **copy.deepcopy(config)}
            else:
                typed = {
                    "@type": f"type.googleapis.com/{wrap}.TypedStruct",
                    "type_url": url,
                    "value": copy.deepcopy(config),
                }
            lst = _listener(f"{key}-{wrap}", {"name": name, "typed_config": typed}, eh.free_port())
            listeners.append(lst)
    boot = {"static_resources": {"listeners": listeners, "clusters": []}}
    dump = tmp_path_factory.mktemp("wrapped") / "dump.json"
    answers: dict[str, int] = {}
    with eh.Envoy(boot, wait_live=False, fmt="json") as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
        for lst in listeners:
            answers[lst["name"]] = _status(lst["address"]["socket_address"]["port_value"], {})
    return dump, answers


@needs_envoy
def test_wrapped_rbac_and_fault_are_evaluated_as_envoy_runs_them(pdebug, wrapped_filters) -> None:
    """An RBAC DENY of GET, an RBAC ALLOW of /admin alone, a fault aborting every
    request with 418: each plain, in a udpa.type.v1 and in an xds.type.v3 TypedStruct.
    Envoy 1.40 answers the same to each of the three; trace did too for the plain one
    only (it passed the wrapped ones by, as filters it does not evaluate, and said 200)."""
    dump, answers = wrapped_filters
    for key in _FILTERS:
        assert {answers[f"{key}-{w}"] for w in _WRAPS} == {418 if "fault" in key else 403}
    ports = _ports(dump)
    for name, status in answers.items():
        got = _trace(pdebug, dump, ports[name])
        verdict = got["verdict"]
        assert verdict["status"] == status, (name, verdict)
        filters = [s for s in got["steps"] if s["kind"] == "http_filter"]
        assert len(filters) == 1, (name, got["steps"])


# ------------------------------------------------------- 2. PD202 of unattributed EDS clusters

CONSUL = FIXTURES / "corpus/consul-k8s/test_config_dump.json"


def _not_checked(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("Not checked")]


def _consul(tmp_path: Path, unhealthy: int, drop: str = "") -> Path:
    """consul-k8s's dump with the first ``unhealthy`` endpoints of its first nameless
    assignment (three, all HEALTHY as published) marked UNHEALTHY; without the config
    whose ``@type`` ends in ``drop``, if given."""
    doc = json.loads(CONSUL.read_text())
    (eds,) = [c for c in doc["configs"] if c["@type"].endswith("EndpointsConfigDump")]
    first = eds["dynamic_endpoint_configs"][0]["endpoint_config"]
    assert "cluster_name" not in first  # the fact this test is about
    lbs = first["endpoints"][0]["lb_endpoints"]
    assert [lb["health_status"] for lb in lbs] == ["HEALTHY"] * 3
    for lb in lbs[:unhealthy]:
        lb["health_status"] = "UNHEALTHY"
    if drop:
        doc["configs"] = [c for c in doc["configs"] if not c["@type"].endswith(drop)]
    out = tmp_path / f"consul-{unhealthy}{drop}.json"
    out.write_text(json.dumps(doc))
    return out


def test_pd202_joins_pd203s_line_when_a_nameless_assignment_is_unhealthy(pdebug, tmp_path) -> None:
    """consul-k8s's dump: two EDS clusters, two assignments naming no cluster. As
    published, each assignment has a HEALTHY endpoint, so whichever is whose, no
    cluster lacks a healthy one: PD202 is settled and PD203's line stands alone. With
    every endpoint of one assignment UNHEALTHY, some cluster has none Envoy sends to:
    PD202 said nothing (it reads only attributed assignments); now it joins PD203's
    line, which says so. One line for the two codes, never two for one cluster."""
    (alone,) = _not_checked(pdebug("check", CONSUL).out)
    assert alone.startswith("Not checked (PD203): cluster/client.")
    assert "no healthy endpoint" not in alone
    # one endpoint of three down: still a usable one there, PD202 settled
    assert _not_checked(pdebug("check", _consul(tmp_path, 1)).out) == [alone]
    got = pdebug("check", _consul(tmp_path, 3))
    (line,) = _not_checked(got.out)
    assert line.startswith("Not checked (PD202, PD203): cluster/client.")
    assert line.removeprefix("Not checked (PD202, PD203)").startswith(
        alone.removeprefix("Not checked (PD203)").split(": its endpoints are unknown")[0]
    )
    assert (
        "its endpoints are unknown; one of them has no healthy endpoint "
        "(3 endpoints: 3 UNHEALTHY per EDS)"
    ) in line
    assert "PD202" not in [ln.split()[0] for ln in got.out.splitlines() if ln[:2] == "PD"]
    plain = json.loads(pdebug("check", _consul(tmp_path, 3), "-o", "json").out)
    assert sorted(n["code"] for n in plain["not_checked"]) == ["PD202", "PD203"]
    # the proxy's live /clusters tells the assignments apart: nothing left unsaid
    live = CONSUL.parent / "test_clusters.json"
    assert not _not_checked(pdebug("check", _consul(tmp_path, 3), "--clusters-json", live).out)


def test_pd202_says_an_unhealthy_nameless_assignment_of_unused_clusters(pdebug, tmp_path) -> None:
    """The same dump without its listeners: nothing sends traffic to the two EDS
    clusters, so PD203 has no line; an assignment of theirs with no healthy endpoint
    is still some cluster's (PD202 judges every cluster), and PD202 says so alone."""
    dump = _consul(tmp_path, 3, drop="ListenersConfigDump")
    lines = [ln for ln in _not_checked(pdebug("check", dump).out) if "(PD" in ln]
    assert lines == [
        "Not checked (PD202): cluster/client.default.dc1.internal."
        "bc3815c2-1a0f-f3ff-a2e9-20d791f08d00.consul (and 1 more): no assignment of the "
        "dump's endpoints section names this EDS cluster (2 there name no cluster, and the "
        "dump does not tell whose they are); one of them has no healthy endpoint "
        "(3 endpoints: 3 UNHEALTHY per EDS) (--clusters-json FILE (the proxy's GET "
        "/clusters?format=json) tells them apart)."
    ]
    healthy = _consul(tmp_path, 0, drop="ListenersConfigDump")
    assert not [ln for ln in _not_checked(pdebug("check", healthy).out) if "(PD" in ln]
