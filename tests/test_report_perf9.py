"""perfreport9 (#17): two answers ``pdebug report`` makes once and reads twice.

- The parent searches the clusters section's bytes for ``inline`` (it was the worker's
  third fact); PD501 and the secrets table both read that answer
  (:func:`pdebug.model.dump.lacks`), so the secrets table searches no cluster's
  ``transport_socket_matches``. What must hold: ``inline_items`` (the secrets table's
  INLINE rows) and the warnings are the same with the answer known as without it, on
  other people's dumps and on variants with ``inline`` certificates put in the matches;
  the answer is used only when the clusters were decoded from the searched bytes.
- The worker's clusters table counts each cluster's endpoints from the EDS facts it made
  for the checks (``views/clusters._run_counts``) when each cluster has one assignment.
  What must hold: the counts equal those counted from the assignments, in the same order,
  on every saved dump, on hostile variants, and on seeded assignments whose statuses are
  ``""``, ``UNKNOWN`` or anything else and whose names repeat.

The page itself (forked against one process) is held by tests/test_report_perf8.py.
"""

from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from pdebug.model import ProxyData
from pdebug.model.clusters import by_name
from pdebug.model.dump import lacks, note_lack, own_bytes_lacking, read_from_own_bytes
from pdebug.model.hosts import EDS_RUNS, eds_facts
from pdebug.model.load import load
from pdebug.model.secrets import inline_items, tls_places
from pdebug.views.clusters import endpoint_counts
from tests.test_check_perf import FORK_INPUTS
from tests.test_report_perf7 import _HOSTILE_BASES, _hostile

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEEDS = range(12)


def _proxy(data: bytes, name: str) -> ProxyData | None:
    try:
        loaded = load(data, name)
    except Exception:  # noqa: BLE001 - a refused input has nothing to compare
        return None
    if loaded.dump is None:
        return None
    return ProxyData(name, loaded.dump, None)


def _inputs() -> dict[str, bytes]:
    out = dict(FORK_INPUTS)
    for seed in SEEDS:
        rng = random.Random(seed)
        base = _HOSTILE_BASES[seed % len(_HOSTILE_BASES)]
        out[f"hostile-{seed}"] = _hostile(rng, base)
    return out


INPUTS = _inputs()


# --- endpoint counts from the EDS facts -----------------------------------------------


def _counts_both_ways(data: bytes, name: str) -> tuple[Any, Any, bool] | None:
    """endpoint_counts counted from the assignments, then from eds_facts's runs."""
    counted_proxy = _proxy(data, name)
    facts_proxy = _proxy(data, name)
    if counted_proxy is None or facts_proxy is None:
        return None
    try:
        counted = list(endpoint_counts(counted_proxy).items())
    except Exception as exc:  # noqa: BLE001 - then the other way must fail alike
        counted = type(exc).__name__
    dump = facts_proxy.dump
    assert dump is not None
    try:
        eds_facts(dump)
    except Exception:  # noqa: BLE001 - the worker sends nothing then; counted as before
        pass
    used = EDS_RUNS in dump.facts
    try:
        from_facts = list(endpoint_counts(facts_proxy).items())
    except Exception as exc:  # noqa: BLE001
        from_facts = type(exc).__name__
    return counted, from_facts, used


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_counts_from_the_eds_facts_are_the_counted_ones(name: str) -> None:
    got = _counts_both_ways(INPUTS[name], name)
    if got is None:
        pytest.skip("not a config dump")
    counted, from_facts, used = got
    assert from_facts == counted
    USED[name] = used


USED: dict[str, bool] = {}


def test_the_facts_counted_on_the_saved_dumps() -> None:
    """The comparison above read the facts, not only the assignments."""
    if len(USED) < 20:
        pytest.skip("run with test_counts_from_the_eds_facts_are_the_counted_ones")
    assert USED.get("gendump-40") is True
    assert USED.get("real/sidecar") is True
    assert sum(USED.values()) >= 10


_STATUSES = ["", "UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED", "ODD"]


def _eds_dump(rng: random.Random) -> bytes:
    """A dump of seeded assignments: statuses of every kind, runs, repeated names."""
    names = [f"outbound|80||svc-{i}.ns.svc.cluster.local" for i in range(rng.randint(1, 12))]

    def cla() -> dict[str, Any]:
        groups = []
        for _ in range(rng.randint(0, 3)):
            lbs = []
            for _ in range(rng.randint(0, 5)):
                lb: dict[str, Any] = {
                    "endpoint": {
                        "address": {
                            "socket_address": {
                                "address": f"10.0.{rng.randint(0, 3)}.{rng.randint(0, 9)}",
                                "port_value": 8080,
                            }
                        }
                    }
                }
                status = rng.choice(_STATUSES)
                if status:
                    lb["health_status"] = status
                lbs.append(lb)
            groups.append({"lb_endpoints": lbs})
        return {"cluster_name": rng.choice(names), "endpoints": groups}

    dynamic = [
        {
            "endpoint_config": {
                "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                **cla(),
            }
        }
        for _ in range(rng.randint(0, 10))
    ]
    static = [
        {
            "endpoint_config": {
                "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                **cla(),
            }
        }
        for _ in range(rng.randint(0, 3))
    ]
    section: dict[str, Any] = {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump"}
    if dynamic:
        section["dynamic_endpoint_configs"] = dynamic
    if static:
        section["static_endpoint_configs"] = static
    clusters = {
        "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
        "dynamic_active_clusters": [
            {"cluster": {"name": n, "type": "EDS"}} for n in sorted(set(names))
        ],
    }
    return json.dumps({"configs": [clusters, section]}, indent=2).encode()


def test_counts_from_seeded_assignments() -> None:
    used = 0
    for seed in range(300):
        got = _counts_both_ways(_eds_dump(random.Random(seed)), f"seed-{seed}")
        assert got is not None, seed
        counted, from_facts, was_used = got
        assert from_facts == counted, seed
        used += was_used
    assert 50 <= used < 300  # both ways: one assignment per cluster, and names repeated


# --- the clusters' inline, searched once -----------------------------------------------


def _certificate() -> str:
    """A certificate (PEM) from istioctl's secret dump: a real one, so that it parses."""
    dump = FIXTURES / "istioctl" / "proxy-config-secret" / "istio" / "config_dump.json"
    text = dump.read_text()
    found = re.search(r'"inline_bytes": *"(LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS[^"]+)"', text)
    assert found is not None
    return base64.b64decode(found.group(1)).decode()


_CERT = _certificate()


def _with_inline_matches(data: bytes, rng: random.Random) -> bytes | None:
    """``data`` with an inline certificate in some clusters' transport_socket_matches."""
    doc = json.loads(data)
    clusters = [
        entry["cluster"]
        for section in doc.get("configs", [])
        if isinstance(section, dict)
        and str(section.get("@type", "")).endswith("ClustersConfigDump")
        for key in ("dynamic_active_clusters", "static_clusters")
        for entry in section.get(key, [])
        if isinstance(entry, dict) and isinstance(entry.get("cluster"), dict)
    ]
    if not clusters:
        return None
    for cluster in rng.sample(clusters, min(len(clusters), rng.randint(1, 3))):
        source = "inline_string" if rng.random() < 0.5 else "inline_bytes"
        value = _CERT if source == "inline_string" else base64.b64encode(_CERT.encode()).decode()
        cluster.setdefault("transport_socket_matches", []).append(
            {
                "name": "tlsMode-odd",
                "match": {"tlsMode": "odd"},
                "transport_socket": {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls."
                        "v3.UpstreamTlsContext",
                        "common_tls_context": {
                            "tls_certificates": [{"certificate_chain": {source: value}}]
                        },
                    },
                },
            }
        )
    return json.dumps(doc, indent=rng.choice([None, 2])).encode()


def _inline_both_ways(data: bytes, name: str) -> tuple[Any, Any, bool] | None:
    """The secrets table's INLINE rows and warnings, searched per cluster and known.

    The third: whether the answer was known (the searched way skipped every match)."""

    def rows(search_first: bool) -> tuple[Any, Any, bool] | None:
        proxy = _proxy(data, name)
        if proxy is None:
            return None
        dump = proxy.dump
        assert dump is not None
        if search_first:
            own_bytes_lacking(dump, "clusters")
        try:  # as in pdebug report's parent: its checks decoded the clusters first
            by_name(dump)
        except Exception:  # noqa: BLE001 - the table then says what it says
            pass
        try:
            got: Any = [(i.name, i.status, i.cert.serial) for i in inline_items(proxy)]
        except Exception as exc:  # noqa: BLE001 - then the other way must fail alike
            got = type(exc).__name__
        return got, list(dump.warnings), lacks(dump, "clusters", b"inline")

    searched, known = rows(False), rows(True)
    if searched is None or known is None:
        return None
    assert searched[2] is False  # nothing noted: every cluster searched
    return searched[:2], known[:2], known[2]


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_the_secrets_table_reads_the_inline_answer(name: str) -> None:
    got = _inline_both_ways(INPUTS[name], name)
    if got is None:
        pytest.skip("not a config dump")
    searched, known, answered = got
    assert known == searched
    LACKED[name] = answered


LACKED: dict[str, bool] = {}


def test_the_answer_skipped_the_search_on_the_saved_dumps() -> None:
    if len(LACKED) < 20:
        pytest.skip("run with test_the_secrets_table_reads_the_inline_answer")
    assert LACKED.get("gendump-40") is True
    assert LACKED.get("real/sidecar") is True
    assert sum(LACKED.values()) >= 30


def test_inline_matches_are_found_with_the_answer_known() -> None:
    """Variants with inline certificates in the matches: the answer is "holds", and the
    rows are the same; without them, the answer skips the search on the same rows."""
    bases = [p for p in _HOSTILE_BASES if b"ClustersConfigDump" in p.read_bytes()]
    assert len(bases) >= 2
    held = skipped = 0
    for seed in range(16):
        rng = random.Random(seed)
        data = _with_inline_matches(bases[seed % len(bases)].read_bytes(), rng)
        assert data is not None
        got = _inline_both_ways(data, f"inline-{seed}")
        assert got is not None
        searched, known, answered = got
        assert known == searched, seed
        assert not answered, seed  # the bytes hold inline: the matches are searched
        held += any(r[1] == "INLINE" for r in searched[0]) if isinstance(searched[0], list) else 0
    for base in bases:
        got = _inline_both_ways(base.read_bytes(), base.name)
        assert got is not None
        skipped += got[2]
    assert held >= 8
    assert skipped >= 1


def test_the_answer_stands_only_for_clusters_decoded_from_the_searched_bytes() -> None:
    data = FORK_INPUTS["gendump-40"]
    proxy = _proxy(data, "x")
    assert proxy is not None and proxy.dump is not None
    dump = proxy.dump
    note_lack(dump, "clusters", b"inline", True)
    assert lacks(dump, "clusters", b"inline") == read_from_own_bytes(dump, "clusters")
    tls_places(dump, False, True, b"inline")  # decodes the clusters
    assert read_from_own_bytes(dump, "clusters")
    assert lacks(dump, "clusters", b"inline")
    assert not lacks(dump, "clusters", b"filename")  # another mark: not known
    note_lack(dump, "clusters", b"inline", False)
    assert not lacks(dump, "clusters", b"inline")
