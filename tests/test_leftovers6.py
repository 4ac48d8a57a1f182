"""leftovers6: small defects left by review10's last read (each test fails without its fix)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import harness as eh

CONTOUR = eh.FIXTURES / "corpus" / "handmade" / "contour-0.8-envoy-1.8-tls-context.json"


def _contour(tmp_path: Path, name: str, route: dict[str, Any], hosts: bool = True) -> Path:
    """Contour 0.8's dump with ``route`` first in its kuard virtual host; ``hosts=False``:
    its STRICT_DNS ``contour`` cluster written with ``load_assignment`` instead."""
    doc = json.loads(CONTOUR.read_text())
    for sec in doc["configs"]:
        if sec["@type"].endswith("RoutesConfigDump"):
            vhost = sec["dynamicRouteConfigs"][0]["routeConfig"]["virtualHosts"][0]
            vhost["routes"].insert(0, route)
        if sec["@type"].endswith("ClustersConfigDump") and not hosts:
            for entry in sec["staticClusters"]:
                cluster = entry["cluster"]
                if cluster["name"] == "contour":
                    lb = [{"endpoint": {"address": a}} for a in cluster.pop("hosts")]
                    cluster["loadAssignment"] = {
                        "clusterName": "contour",
                        "endpoints": [{"lbEndpoints": lb}],
                    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def _step(pdebug, path: Path, url: str, kind: str) -> tuple[dict[str, Any], Any]:
    got = pdebug("trace", path, url, "-o", "json")
    plain = json.loads(got.out)
    return next(st for st in plain["steps"] if st.get("kind") == kind), plain


def test_a_v2_dns_clusters_hosts_are_its_endpoints_in_trace(pdebug, tmp_path: Path) -> None:
    """Contour 0.8's STRICT_DNS ``contour`` cluster lists ``contour:8001`` in the v2 field
    ``hosts`` (Envoy <= 1.14): trace said the endpoints were unknown ("the dump has no
    EDS"), where the same cluster written with ``load_assignment`` lists its host."""
    route = {"match": {"prefix": "/c"}, "route": {"cluster": "contour"}}
    url = "http://kuard.random.io:8080/c"
    v2 = _step(pdebug, _contour(tmp_path, "hosts", route), url, "endpoints")
    v3 = _step(pdebug, _contour(tmp_path, "la", route, hosts=False), url, "endpoints")
    assert v2[1]["verdict"] == v3[1]["verdict"], (v2, v3)
    assert v2[0]["endpoints"] == v3[0]["endpoints"], (v2, v3)
    assert [e["address"] for e in v2[0]["endpoints"]] == ["contour:8001"], v2


def test_a_negative_runtime_fraction_is_said_invalid(pdebug, tmp_path: Path) -> None:
    """``runtime_fraction.default_value.numerator`` is a uint32: Envoy refuses a config
    with -5 (only a hand-edited dump holds one). trace printed the mirror as "-5% of
    requests by default" and a route's match as "runtime_fraction -5% by default"."""
    bad = {"defaultValue": {"numerator": -5}}
    mirror = {"cluster": "contour", "requestMirrorPolicies": [{"cluster": "contour"}]}
    mirror["requestMirrorPolicies"][0]["runtimeFraction"] = bad
    route = {"match": {"prefix": "/m"}, "route": mirror}
    url = "http://kuard.random.io:8080/m"
    path = _contour(tmp_path, "mirror", route)
    got = pdebug("trace", path, url)
    assert got.code == 0, got.err
    assert "-5%" not in got.out, got.out
    assert "a copy to cluster contour is not followed: runtime_fraction numerator -5 is not" in (
        got.out
    ), got.out
    matched = {"prefix": "/m", "runtimeFraction": bad}
    path = _contour(tmp_path, "match", {"match": matched, "route": {"cluster": "contour"}})
    got = pdebug("trace", path, url)
    assert "-5%" not in got.out + got.err, got.out
    assert "numerator -5 is not a uint32: Envoy rejects such a config" in got.out, got.out
    # a numerator Envoy takes is said as before
    mirror["requestMirrorPolicies"][0]["runtimeFraction"] = {"defaultValue": {"numerator": 5}}
    got = pdebug("trace", _contour(tmp_path, "five", route), url)
    assert "(5% of requests by default)" in got.out, got.out


def test_one_uri_template_translation_for_matching_and_rewriting() -> None:
    """The URI template pattern was written twice (trace/routes.py for matching,
    trace/rewrites.py for ``path_template_rewrite``'s captures), each with its own copy of
    the segment and text character classes. There is one now, and on seeded templates
    and paths its capturing form accepts exactly the paths its matching form does."""
    import random
    import re

    from pdebug.trace import rewrites, routes, uritemplate

    for module in (rewrites, routes):
        for copy in ("_SEGMENT", "_TEXT", "_glob", "_SEGMENT_GLOB", "_TEXT_GLOB"):
            assert not hasattr(module, copy), (module, copy)
    rng = random.Random(6)
    pieces = ["/", "a", "v1", "*", "**", ".m3u8", "{id}", "{rest=**}", "{p=*/x}", "-", "{id}"]
    letters = "ab/.-x~%3u8m"
    for _ in range(400):
        template = "/" + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 5)))
        match = uritemplate.template_regex(template)
        assert match is not None, template
        capture = uritemplate.template_regex(template, capture=True)
        if capture is None:  # a variable named twice: Envoy rejects it, rewrite says so
            names = re.findall(r"\{(\w+)", template)
            assert len(set(names)) < len(names), template
            continue
        for _ in range(20):
            path = "/" + "".join(rng.choice(letters) for _ in range(rng.randint(0, 12)))
            assert (re.fullmatch(match, path) is None) == (re.fullmatch(capture, path) is None)
    assert uritemplate.template_regex("/{open") is None
    assert re.fullmatch(str(uritemplate.template_regex("/v1/{id}/**.m3u8")), "/v1/7/a/b.m3u8")


class _RestartingAdmin(eh.LoopbackHTTPServer):
    """Envoy 1.40's sidecar whose text /clusters cannot be converted, upgraded to 1.41
    after its first ``/server_info``: it records each path asked for."""

    def __init__(self) -> None:
        super().__init__(thread_name="leftovers6-admin")
        self.asked: list[str] = []
        side = eh.FIXTURES / "real" / "sidecar"
        self.dump = (side / "config_dump.json").read_bytes()
        self.clusters = (side / "clusters.json").read_bytes()
        self.info = (side / "server_info.json").read_bytes()
        later = json.loads(self.info)
        later["node"]["user_agent_build_version"]["version"] = {
            "major_number": 1,
            "minor_number": 41,
        }
        self.later = json.dumps(later).encode()

    def respond(self, request: Any) -> tuple[int, bytes, str]:
        path = str(request.path)
        self.asked.append(path)
        if path.startswith("/config_dump"):
            return 200, self.dump, "application/json"
        if path == "/clusters":
            return 200, b"a line no conversion places\n", "text/plain"
        if path.startswith("/clusters"):
            return 200, self.clusters, "application/json"
        if path.startswith("/server_info"):
            first = self.asked.count(path) == 1
            return 200, self.info if first else self.later, "application/json"
        return 200, b"server.live: 1\n", "text/plain"


def test_the_restart_check_covers_the_json_clusters_fallback(pdebug, tmp_path: Path) -> None:
    """``pdebug dump`` asks for text /clusters and, when it cannot be converted exactly,
    for the JSON form after all: that GET came after /server_info, so an Envoy restarted
    (upgraded) just before it went unseen. /server_info is asked for again after it,
    and the restart is said."""
    with _RestartingAdmin() as admin:
        got = pdebug("dump", admin.url, "-o", str(tmp_path / "d.tar.gz"), "--timeout", "5")
    assert got.code == 0, got.err
    asked = [p for p in admin.asked if p.startswith(("/clusters", "/server_info"))]
    assert asked[-2:] == ["/clusters?format=json", "/server_info"], admin.asked
    assert (
        "the proxy changed during the capture: its config dump is of Envoy 1.40.0, its "
        "/server_info of Envoy 1.41.0" in got.err
    ), got.err
