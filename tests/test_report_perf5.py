"""perfreport5 (#17): what the report's parent no longer does gives the same answers.

- ``model/certproviders._mentions`` (does a section name a certificate provider
  instance?) finds the marks with a regex over the section's buffer instead of ``in``
  over 8 MB copies. The secrets table's PROVIDER rows and its warnings are the same,
  cold and with the clusters decoded first (as in the report, after its checks).
- The report's parent lays the topology out while its worker builds the tables, and
  the health propagation reads each node's children as a set: the same page graph.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from pdebug.model import certproviders as cp
from pdebug.model import clusters as mc
from pdebug.model.load import load
from pdebug.model.secrets import section_texts
from tests import harness as eh

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
UPSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
MARKS = (b"provider_instance", b"ProviderInstance")


def _dumps() -> list[Path]:
    return [SIDECAR, *eh.corpus_config_dumps()]


def _searched(data: bytes, kind: str) -> bool:
    """What the search said before perfreport5: either mark anywhere in the section."""
    dump = load(data, "x").dump
    assert dump is not None
    sec = dump.section(kind)
    return sec is not None and any(m in bytes(t) for t in section_texts(sec) for m in MARKS)


def _provider_rows(data: bytes, decoded: bool) -> tuple[list[Any], list[str]]:
    """(provider items, what they warned) of a fresh load; ``decoded``: clusters first."""
    from pdebug.model import ProxyData

    loaded = load(data, "x")
    dump = loaded.dump
    assert dump is not None
    if decoded:
        mc.by_name(dump)  # as the report's checks do before its secrets table
    before = len(dump.warnings)
    items = cp.provider_items(ProxyData("x", dump, loaded.clusters))
    return [(i.name, i.status) for i in items], dump.warnings[before:]


@pytest.mark.parametrize("path", _dumps(), ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_mentions_says_what_the_old_search_said(path: Path) -> None:
    data = path.read_bytes()
    try:
        dump = load(data, "x").dump
    except Exception as exc:  # noqa: BLE001 - not a dump this reads: nothing to compare
        pytest.skip(type(exc).__name__)
    assert dump is not None
    for kind in ("listeners", "clusters"):
        assert cp._mentions(dump, kind) == _searched(data, kind), kind


def test_mentions_finds_whole_marks_only() -> None:
    """Seeded: marks, near misses and marks at a field's first byte, in either section."""
    rng = random.Random(17)
    pieces = [
        b'"provider_instance"',
        b'"ProviderInstance"',
        b"rovider_instance",  # at the very start of a buffer: no mark
        b"Provider_instance",
        b"providerInstance",
        b"provider_Instance",
        b"rovider",
        b"Instance",
        b"xx",
        b'{"a": 1}',
    ]
    for _ in range(300):
        text = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        name = json.dumps(text.decode())
        doc = {
            "configs": [
                {
                    "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                    "static_clusters": [{"cluster": {"name": json.loads(name)}}],
                }
            ]
        }
        data = json.dumps(doc).encode()
        dump = load(data, "x").dump
        assert dump is not None
        assert cp._mentions(dump, "clusters") == _searched(data, "clusters"), text


def _with_socket(doc: dict[str, Any], index: int, common: dict[str, Any]) -> None:
    for sec in doc["configs"]:
        if sec["@type"].endswith("ClustersConfigDump"):
            sec["dynamic_active_clusters"][index]["cluster"]["transport_socket"] = {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {"@type": UPSTREAM, "common_tls_context": common},
            }


def _variants() -> dict[str, bytes]:
    base = json.loads(SIDECAR.read_text())
    out = {"sidecar": SIDECAR.read_bytes()}
    provider = {"tls_certificate_provider_instance": {"instance_name": "default"}}
    doc = json.loads(json.dumps(base))
    _with_socket(doc, 0, provider)
    out["provider"] = json.dumps(doc).encode()
    out["provider-camel"] = json.dumps(eh.camelize(doc)).encode()
    # Envoy <= 1.16: the cluster's TLS context as a v2 `tls_context` (no @type)
    doc = json.loads(json.dumps(base))
    for sec in doc["configs"]:
        if sec["@type"].endswith("ClustersConfigDump"):
            sec["dynamic_active_clusters"][0]["cluster"]["tls_context"] = {
                "common_tls_context": provider
            }
    out["provider-v2-tls-context"] = json.dumps(doc).encode()
    # A socket that says "rovider" without naming an instance and does not decode: it is
    # read (and warned about) only when the section names an instance elsewhere.
    odd = {"tls_certificates": "not a list", "sni_rovider": 1}
    doc = json.loads(json.dumps(base))
    _with_socket(doc, 0, odd)
    out["odd-socket"] = json.dumps(doc).encode()
    doc = json.loads(json.dumps(base))
    _with_socket(doc, 0, odd)
    _with_socket(doc, 1, provider)
    out["odd-socket-and-provider"] = json.dumps(doc).encode()
    doc = json.loads(json.dumps(base))
    _with_socket(doc, 0, odd)
    for sec in doc["configs"]:
        if sec["@type"].endswith("ClustersConfigDump"):
            meta = {"filter_metadata": {"x": {"note": "provider_instance"}}}
            sec["dynamic_active_clusters"][2]["cluster"]["metadata"] = meta
    out["odd-socket-mark-elsewhere"] = json.dumps(doc).encode()
    return out


@pytest.mark.parametrize("name", list(_variants()))
def test_provider_rows_are_the_same_with_the_clusters_decoded_first(name: str) -> None:
    data = _variants()[name]
    cold = _provider_rows(data, decoded=False)
    assert _provider_rows(data, decoded=True) == cold
    if name.startswith("provider"):
        assert cold[0], "the provider rows are found"
    if name == "odd-socket-mark-elsewhere":
        assert cold[1], "the undecodable socket is read, and warned about"


@pytest.mark.parametrize("path", _dumps(), ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_provider_rows_after_the_decode_on_every_corpus_dump(path: Path) -> None:
    data = path.read_bytes()
    try:
        cold = _provider_rows(data, decoded=False)
    except Exception as exc:  # noqa: BLE001 - not a dump this reads: nothing to compare
        pytest.skip(type(exc).__name__)
    assert _provider_rows(data, decoded=True) == cold


# --- the topology: laid out before the join, and its hot loops --------------------------

_SAVED = list(eh.saved_dumps())


def _built(name: str, dump: bytes, live: bytes | None) -> tuple[Any, Any, list[Any]]:
    """(context, builder with every step but propagate run, findings) of a saved dump."""
    from pdebug.checks import CheckOptions, run_checks
    from pdebug.checks.context import Context
    from pdebug.errors import PdebugError
    from pdebug.report import topology

    proxy = eh.proxy_or_skip(name, dump, live)
    options = CheckOptions(now=_now())
    ctx = Context(proxy, options)
    findings = run_checks(proxy, options, ctx).findings
    builder = topology._Builder(ctx)
    for step in (
        builder.listeners,
        builder.route_configs,
        builder.clusters,
        lambda: builder.findings(findings),
    ):
        try:
            step()
        except PdebugError as exc:
            builder.graph.notes.append(f"not drawn: {exc.message}")
    return ctx, builder, findings


def _propagated_as_before(graph: Any) -> dict[Any, str]:
    """Each node's status after the propagation rule as perfreport4 wrote it (the oracle)."""
    from pdebug.report.topology import BAD, LISTENER, MISSING, OK, ROUTE, UNKNOWN, VHOST, WARN

    rank = {UNKNOWN: 0, OK: 1, WARN: 2, BAD: 3, MISSING: 4}
    nodes = graph._core
    status = {k: n.status for k, n in nodes.items()}
    below: dict[Any, list[Any]] = {}
    for a, b in graph._core_edges:
        below.setdefault(a, []).append(b)
    for kind in (VHOST, ROUTE, LISTENER):
        for k in [k for k in nodes if k[0] == kind]:
            known = [status[c] for c in below.get(k, []) if status[c] != UNKNOWN]
            if not known:
                continue
            if all(st in (BAD, MISSING) for st in known):
                agg = BAD
            elif any(st != OK for st in known):
                agg = WARN
            else:
                agg = OK
            status[k] = status[k] if rank[status[k]] >= rank[agg] else agg
    return status


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("saved", _SAVED, ids=[n for n, _, _ in _SAVED])
def test_propagate_is_the_rule_it_was(saved: tuple[str, bytes, bytes | None], seed: int) -> None:
    """Seeded: clusters and virtual hosts get random statuses (every mix of ok, warn, bad,
    missing and unknown below a node), then the set-based propagate is the old rule."""
    from pdebug.report.topology import BAD, CLUSTER, MISSING, OK, UNKNOWN, VHOST, WARN

    _, builder, _ = _built(*saved)
    rng = random.Random(seed)
    if seed:
        for k, node in builder.graph._core.items():
            if k[0] in (CLUSTER, VHOST) and rng.random() < 0.7:
                node.status = rng.choice((OK, WARN, BAD, MISSING, UNKNOWN))
    expected = _propagated_as_before(builder.graph)
    builder.propagate()
    assert {k: n.status for k, n in builder.graph._core.items()} == expected


@pytest.mark.parametrize("saved", _SAVED, ids=[n for n, _, _ in _SAVED])
def test_a_layout_made_first_gives_the_same_page_graph(
    saved: tuple[str, bytes, bytes | None],
) -> None:
    """``Graph.plain(rows, graph.layout())`` is ``Graph.plain(rows)``, with the endpoints
    table's rows and without, on every saved dump."""
    from pdebug.report import _endpoint_rows
    from pdebug.report.topology import build_graph
    from pdebug.views.wide import wide_tables

    ctx, _, findings = _built(*saved)
    rows = _endpoint_rows(wide_tables(ctx.proxy, _now()))
    for given in (rows, None):
        graph = build_graph(ctx, findings)
        assert graph.plain(given, graph.layout()) == build_graph(ctx, findings).plain(given)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 12, 7, tzinfo=UTC)


def test_the_report_lays_the_topology_out_in_its_own_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent lays the topology out in the task it runs while the worker builds the
    tables (not after the join): :meth:`Graph.plain` is handed that layout."""
    from pdebug.report import ReportMeta, report_data
    from pdebug.report import topology as topo
    from pdebug.views.wide import table_builders

    got: list[Any] = []
    real = topo.Graph.plain

    def plain(self: Any, rows: Any = None, layout: Any = None, *rest: Any) -> Any:
        got.append(layout)
        return real(self, rows, layout, *rest)

    monkeypatch.setattr(topo.Graph, "plain", plain)
    proxy = eh.proxy_or_skip("sidecar", SIDECAR.read_bytes(), None)
    meta = ReportMeta("x", generated=_now(), table_builders=table_builders)
    report_data([proxy], meta)
    assert len(got) == 1 and isinstance(got[0], topo.Layout)
