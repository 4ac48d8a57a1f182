"""The checks' and the report's fast paths give what the plain per-host code gives (#17).

``HostSet`` reads a dump's hosts without a ``Host`` object per endpoint, the topology
adds endpoint nodes in one loop, ``Context.network_filters`` decodes each listener's
filters once per run, and the report's checks share its context. Each is compared here
with a reference written the plain way (what the code did before), on every dump of the
corpus, the real Envoy captures (with and without ``/clusters``) and a generated mesh.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bench.gendump import generate
from pdebug.checks import CheckOptions, run_checks
from pdebug.checks.context import Context
from pdebug.errors import PdebugError
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.address import address_text
from pdebug.model.clusters import table_type
from pdebug.model.hosts import Host, HostSet
from pdebug.report import topology
from pdebug.report.topology import CLUSTER, ENDPOINT, OK, UNKNOWN, WARN, Graph
from tests.harness import FIXTURES, eds_dump, proxy_or_skip, saved_dumps

NOW = CheckOptions().now


def _inputs() -> Iterator[tuple[str, bytes, bytes | None]]:
    yield from saved_dumps()
    for p in ("istioctl/proxy-config-eds/configdump.json",):
        yield p, (FIXTURES / p).read_bytes(), None
    buf = io.BytesIO()
    generate(buf, 40, seed=3, namespaces=3)
    yield "gendump-40", buf.getvalue(), None
    yield "synthetic", _synthetic_dump(), None
    yield "synthetic+clusters", _synthetic_dump(), _synthetic_live()


#: Cluster -> its hosts' EDS statuses: all usable, none usable, mixed, one address twice.
_STATUSES = {
    "outbound|80||ok": ["HEALTHY", "UNKNOWN", "DEGRADED"],
    "outbound|80||bad": ["DRAINING", "UNHEALTHY", "TIMEOUT"],
    "outbound|80||mixed": ["HEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"],
    "outbound|80||twice": ["DRAINING", "HEALTHY"],
    "outbound|80||empty": [],
}


def _ip(cluster: str, i: int) -> str:
    return "10.0.0.1" if cluster.endswith("twice") else f"10.{len(cluster)}.0.{i}"


def _sock(ip: str) -> dict[str, Any]:
    return {"socket_address": {"address": ip, "port_value": 80}}


def _synthetic_dump() -> bytes:
    return eds_dump(_STATUSES, lambda c, i: _sock(_ip(c, i)))


def _synthetic_live() -> bytes:
    flags = [
        {"failed_outlier_check": True},
        {"failed_active_health_check": True},
        {"pending_dynamic_removal": True},
        {"failed_active_degraded_check": True},
    ]
    statuses = [
        {
            "name": c,
            "host_statuses": [
                {
                    "address": _sock(_ip(c, i)),
                    "health_status": {"eds_health_status": st, **flags[i % len(flags)]},
                }
                for i, st in enumerate(sts)
            ],
        }
        for c, sts in _STATUSES.items()
    ]
    return json.dumps({"cluster_statuses": statuses}).encode()


INPUTS = {name: (dump, live) for name, dump, live in _inputs()}


def _proxy(name: str) -> ProxyData:
    proxy: ProxyData = proxy_or_skip(name, *INPUTS[name])
    return proxy


def _plain_hosts(cla: s.ClusterLoadAssignment) -> list[Host]:
    return [
        Host(
            address_text(lb.endpoint.address if lb.endpoint is not None else None),
            lb.health_status or "UNKNOWN",
        )
        for group in cla.endpoints
        for lb in group.lb_endpoints
    ]


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_host_sets_match_plain_hosts(name: str) -> None:
    ctx = Context(_proxy(name), CheckOptions(now=NOW))
    try:
        sets = ctx.hosts
    except PdebugError:
        pytest.skip("damaged section")
    for hs in sets.values():
        # A fresh copy of a lazy set: its summaries before any Host object exists.
        lazy = HostSet.of_assignment(hs.cluster, hs._cla) if hs._cla is not None else hs
        eager = hs.hosts
        if hs._cla is not None:
            assert eager == _plain_hosts(hs._cla)
        assert lazy.count == len(eager)
        assert lazy.eds == [h.eds for h in eager]
        assert lazy.eds_statuses == {h.eds for h in eager}
        assert lazy.levels == [h.health for h in eager]
        assert lazy.addresses == [h.address for h in eager]
        assert lazy.any_usable() == any(h.usable for h in eager)
        assert lazy == hs and lazy.hosts == eager


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_network_filters_decoded_once_same_answer(name: str) -> None:
    proxy = _proxy(name)
    ctx = Context(proxy, CheckOptions(now=NOW))
    try:
        listeners = ctx.listeners
    except PdebugError:
        pytest.skip("damaged section")
    for lc in listeners:
        try:
            fresh = list(Context._decode_filters(lc))
        except PdebugError as exc:
            with pytest.raises(PdebugError) as again:
                list(ctx.network_filters(lc))
            assert again.value.message == exc.message
            continue
        first = list(ctx.network_filters(lc))
        assert first == fresh
        second = list(ctx.network_filters(lc))
        assert all(a[2] is b[2] for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_shared_context_same_findings(name: str) -> None:
    proxy = _proxy(name)
    options = CheckOptions(now=NOW)
    alone = run_checks(proxy, options)
    ctx = Context(proxy, options)
    shared = run_checks(proxy, options, ctx)
    assert shared == alone


class _PlainBuilder(topology._Builder):
    """The topology's clusters as written before the fast path: one add/link per host."""

    def clusters(self) -> None:
        g = self.graph
        hosts = self.ctx.hosts
        for name in dict.fromkeys([*self.ctx.clusters, *hosts]):
            k = self.cluster(name)
            node = g.node(k)
            cc = self.ctx.clusters.get(name)
            state = cc.state if cc is not None else "in /clusters only"
            kind = table_type(cc.cluster) if cc is not None else ""
            hs = hosts.get(name)
            if hs is None:
                node.status = WARN if state == "WARMING" else UNKNOWN
                node.detail = ", ".join(p for p in (state, kind, "endpoints not known") if p)
                continue
            statuses = [topology.endpoint_status(h) for h in hs.hosts]
            usable = sum(1 for h in hs.hosts if h.usable)
            if not hs.hosts:
                node.status = UNKNOWN
            elif not usable:
                node.status = topology.BAD
            elif any(st != OK for st in statuses):
                node.status = WARN
            else:
                node.status = OK
            if state == "WARMING":
                node.status = topology._worse(node.status, WARN)
            # a static cluster's own load_assignment is "its config" (sweep25), not EDS
            source = "/clusters" if hs.live else "EDS" if hs.listed else "its config"
            node.detail = ", ".join(
                p
                for p in (state, kind, f"{usable} of {len(hs.hosts)} endpoints usable ({source})")
                if p
            )
            for host, st in zip(hs.hosts, statuses, strict=True):
                ek = g.add(
                    ENDPOINT,
                    f"{name}\x00{host.address}",
                    host.address,
                    f"{host.eds}{topology._flags(host)} in {name}",
                    st,
                    sort=(node.sort, host.address),
                )
                g.link(k, ek)


def _graph(builder: topology._Builder, findings: list[Any]) -> dict[str, Any]:
    for step in (
        builder.listeners,
        builder.route_configs,
        builder.clusters,
        lambda: builder.findings(findings),
        builder.propagate,
    ):
        try:
            step()
        except PdebugError as exc:
            builder.graph.notes.append(f"not drawn: {exc.message}")
    return builder.graph.plain()


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_topology_matches_per_host_graph(name: str) -> None:
    proxy = _proxy(name)
    options = CheckOptions(now=NOW)
    findings = run_checks(proxy, options).findings
    fast = topology.build_graph(Context(proxy, options), findings).plain()
    plain = _graph(_PlainBuilder(Context(proxy, options)), findings)
    assert fast == plain


def test_duplicate_endpoint_first_wins() -> None:
    """Two hosts of one cluster at one address: one node, the first host's, as add() did."""
    g = Graph()
    k = g.add(CLUSTER, "c", "c", sort=("c",))
    cla = s.ClusterLoadAssignment(
        cluster_name="c",
        endpoints=[
            s.LocalityLbEndpoints(
                lb_endpoints=[
                    s.LbEndpoint(
                        endpoint=s.Endpoint(
                            address=s.Address(
                                socket_address=s.SocketAddress(address="10.0.0.1", port_value=80)
                            )
                        ),
                        health_status=status,
                    )
                    for status in ("DRAINING", "HEALTHY")
                ]
            )
        ],
    )
    hs = HostSet.of_assignment("c", cla)
    g.add_endpoints(k, hs, ["warn", "ok"])
    nodes = g.plain()["nodes"]
    assert [n for n in nodes if n[0] == ENDPOINT] == [
        [ENDPOINT, "10.0.0.1:80", "warn", "DRAINING in c", ""]
    ]


def test_inputs_cover_live_and_unhealthy() -> None:
    """The inputs above include live /clusters data and hosts that are not usable."""
    assert any(live is not None for _, live in INPUTS.values())
    statuses: set[str] = set()
    for name in INPUTS:
        try:
            ctx = Context(_proxy(name), CheckOptions(now=NOW))
            statuses |= {e for hs in ctx.hosts.values() for e in hs.eds}
        except (PdebugError, pytest.skip.Exception):
            continue
    assert statuses & {"UNHEALTHY", "DRAINING"}, statuses
