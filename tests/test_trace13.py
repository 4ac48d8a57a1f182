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
