"""The report's topology: listeners -> route configs -> virtual hosts -> clusters -> endpoints.

:func:`build_graph` turns one proxy's data into a layered graph with a health status
per node. The page draws it (``static/report.js`` lays the columns out); this module only
decides what is connected to what and how healthy each part is:

* an endpoint is ``ok`` (Envoy sends it traffic), ``warn`` (draining, degraded) or
  ``bad`` (unhealthy): the levels of :func:`pdebug.model.health.endpoint_health`;
* a cluster is ``bad`` when none of its endpoints is usable, ``warn`` when some are
  not, ``unknown`` when nothing says (DNS and original-destination clusters without
  ``/clusters``), ``missing`` when something routes to it but the proxy lacks it;
* listeners, route configs and virtual hosts take the health of what they lead to:
  ``bad`` when every path ends badly, ``warn`` when some do;
* a check finding on a resource raises its node to ``warn`` (warning) or ``bad``
  (error) and is listed on it.

One module over 500 lines because it is one graph: the builder adds each layer's nodes
and edges, ``propagate`` gives each node the health of what it leads to, and
:meth:`Graph.plain` and :func:`expand` write and read back the same node keys and
endpoint runs the page draws; cut apart, each part would need the others' keys and order.
"""

from __future__ import annotations

import operator
from array import array
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pdebug.checks import Finding, Severity
from pdebug.checks.context import Context
from pdebug.errors import PdebugError
from pdebug.model import schema as s
from pdebug.model.address import bind_host, port_of
from pdebug.model.clusters import split_name, table_type
from pdebug.model.health import (
    DEGRADED,
    DRAINING,
    HEALTHY,
    endpoint_health,
    is_usable,
    set_flags,
)
from pdebug.model.hosts import Host, HostSet
from pdebug.model.routes import rds_by_name, route_targets, summarize_domains, tcp_targets

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump

#: Node kinds, in column order (the page draws one column per kind).
LISTENER, ROUTE, VHOST, CLUSTER, ENDPOINT = range(5)
KIND_NAMES = ("listener", "route", "vhost", "cluster", "endpoint")

OK = "ok"
WARN = "warn"
BAD = "bad"
MISSING = "missing"
UNKNOWN = "unknown"
#: How bad each status is; ``unknown`` says nothing and never wins.
_RANK = {UNKNOWN: 0, OK: 1, WARN: 2, BAD: 3, MISSING: 4}
_FINDING_STATUS = {Severity.ERROR: BAD, Severity.WARNING: WARN}
#: :func:`pdebug.model.health.endpoint_health` level -> node status.
_LEVEL_STATUS = {HEALTHY: OK, DEGRADED: WARN, DRAINING: WARN}


def endpoint_status(host: Host) -> str:
    """``ok``, ``warn`` (draining, degraded) or ``bad`` (unhealthy, failing, ejected)."""
    return _LEVEL_STATUS.get(host.health, BAD)


def level_status(level: str) -> str:
    """:func:`endpoint_status` of a host whose :attr:`Host.health` is ``level``."""
    return _LEVEL_STATUS.get(level, BAD)


#: What :meth:`_Builder.propagate` reads of the statuses a node leads to.
_ENDS_BADLY = frozenset((BAD, MISSING))
_ALL_OK = frozenset((OK,))


def _worse(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


@dataclass(slots=True)
class _Node:
    kind: int
    label: str
    detail: str
    status: str = UNKNOWN
    codes: list[str] = field(default_factory=list)
    sort: tuple[Any, ...] = ()


@dataclass(slots=True)
class _Endpoints:
    """One cluster's endpoint nodes, kept as columns until :meth:`Graph.plain` (see there)."""

    cluster: tuple[int, str]
    hosts: HostSet
    #: what follows the EDS status in each node's detail: one text, or one per host
    suffixes: str | list[str]
    statuses: list[str]
    _addrs: list[str] | None = None

    @property
    def addresses(self) -> list[str]:
        """Each host's address (read from the host set on first use)."""
        if self._addrs is None:
            self._addrs = self.hosts.addresses
        return self._addrs

    @property
    def eds(self) -> list[str]:
        """Each host's EDS status."""
        return self.hosts.eds


@dataclass(slots=True)
class Layout:
    """:meth:`Graph.layout`: what :meth:`Graph.plain` writes before the endpoint nodes."""

    nodes: list[list[Any]]
    edges: list[list[int]]
    counts: list[int]
    #: the clusters whose endpoints are kept as columns (``_endpoint_buckets``), or None
    buckets: list[list[tuple[int, _Endpoints]]] | None
    #: per bucket of one cluster, what its run is before the table's rows are read
    #: (:func:`_run_facts`; None for the others); None: worked out when they are
    facts: list[_RunFacts | None] | None = None
    #: what :meth:`Graph.plain` made of this layout, and the rows and index it was given
    #: (``pdebug report`` asks before the worker's last table came, and again: #17)
    made: tuple[Any, Any, dict[str, Any] | Exception] | None = None


class Graph:
    """Nodes keyed by kind and name, and the edges between them (deduplicated).

    Endpoint nodes (50k at 5k services: most of the graph) are kept per cluster as
    columns (:meth:`add_endpoints`) and become nodes only in :meth:`plain`, already in
    their order: no node object, key or edge per endpoint. Asking for them one by one
    (:meth:`node`, :meth:`labelled`, :attr:`_nodes`...) first turns them into ordinary
    nodes and edges, as :meth:`add` and :meth:`link` would have made them.
    """

    def __init__(self) -> None:
        self._core: dict[tuple[int, str], _Node] = {}
        self._core_edges: dict[tuple[tuple[int, str], tuple[int, str]], None] = {}
        self._by_label: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
        #: endpoint nodes not yet made ordinary nodes, per cluster (see :meth:`plain`)
        self._eps: list[_Endpoints] | None = []
        self._ep_clusters: set[str] = set()
        #: What could not be drawn (a damaged section), said on the page.
        self.notes: list[str] = []

    @property
    def _nodes(self) -> dict[tuple[int, str], _Node]:
        """Every node, endpoints included (made ordinary first)."""
        self._spill()
        return self._core

    @property
    def _edges(self) -> dict[tuple[tuple[int, str], tuple[int, str]], None]:
        """Every edge, to endpoints included (made ordinary first)."""
        self._spill()
        return self._core_edges

    def add(
        self,
        kind: int,
        key: str,
        label: str,
        detail: str = "",
        status: str = UNKNOWN,
        sort: tuple[Any, ...] = (),
    ) -> tuple[int, str]:
        """Add a node (the first addition of a key wins) and return its key."""
        if kind == ENDPOINT:
            self._spill()
        k = (kind, key)
        if k not in self._core:
            self._core[k] = _Node(kind, label, detail, status, sort=sort or (label,))
            self._by_label[(kind, label)].append(k)
        return k

    def add_endpoints(self, cluster: tuple[int, str], hosts: HostSet, statuses: list[str]) -> None:
        """An endpoint node per host of ``cluster`` (status from ``statuses``), linked.

        What :meth:`add` and :meth:`link` would do for each host (the first node of an
        address wins; its key is the cluster's name, NUL, the address), kept as the
        host set's columns. Hosts from a dump have no live flags, so no :class:`Host`
        object is needed for them. Endpoint nodes are not indexed by label
        (:meth:`labelled` finds them by a scan: findings never name an endpoint).
        """
        name = cluster[1]
        if hosts.live:
            suffixes: str | list[str] = [f"{_flags(h)} in {name}" for h in hosts.hosts]
        else:
            suffixes = f" in {name}"
        eps = _Endpoints(cluster, hosts, suffixes, statuses)
        if len(eps.eds) != len(statuses):
            raise ValueError("add_endpoints: one status per host")
        if self._eps is None or "\x00" in name or name in self._ep_clusters:
            # Another cluster's keys could collide with these: one node per key, as ever.
            self._spill()
            self._add_endpoint_nodes(eps)
            return
        self._eps.append(eps)
        self._ep_clusters.add(name)

    def _add_endpoint_nodes(self, eps: _Endpoints) -> None:
        nodes, edges = self._core, self._core_edges
        cluster = eps.cluster
        name = cluster[1]
        parent = nodes[cluster].sort
        prefix = name + "\x00"
        n = len(eps.statuses)
        suffixes = [eps.suffixes] * n if isinstance(eps.suffixes, str) else eps.suffixes
        for address, eds, suffix, st in zip(
            eps.addresses, eps.eds, suffixes, eps.statuses, strict=True
        ):
            k = (ENDPOINT, prefix + address)
            if k not in nodes:
                nodes[k] = _Node(ENDPOINT, address, eds + suffix, st, [], (parent, address))
            edges[(cluster, k)] = None

    def _spill(self) -> None:
        """Make the endpoint nodes kept as columns ordinary nodes and edges (once)."""
        if self._eps is None:
            return
        held, self._eps = self._eps, None
        for eps in held:
            self._add_endpoint_nodes(eps)

    def has(self, kind: int, key: str) -> bool:
        """Whether the node exists."""
        if kind == ENDPOINT:
            self._spill()
        return (kind, key) in self._core

    def node(self, k: tuple[int, str]) -> _Node:
        """The node with key ``k``."""
        if k[0] == ENDPOINT:
            self._spill()
        return self._core[k]

    def link(self, a: tuple[int, str], b: tuple[int, str]) -> None:
        """Add the edge ``a -> b``."""
        if b[0] == ENDPOINT:
            self._spill()
        self._core_edges[(a, b)] = None

    def labelled(self, kind: int, label: str) -> list[tuple[int, str]]:
        """Keys of the nodes of ``kind`` shown as ``label``."""
        if kind == ENDPOINT:
            return [k for k, n in self._nodes.items() if k[0] == ENDPOINT and n.label == label]
        return self._by_label.get((kind, label), [])

    def keys(self, kind: int) -> list[tuple[int, str]]:
        """Keys of the nodes of ``kind``, in insertion order."""
        if kind == ENDPOINT:
            self._spill()
        return [k for k in self._core if k[0] == kind]

    def children(
        self, kinds: tuple[int, ...] | None = None
    ) -> dict[tuple[int, str], list[tuple[int, str]]]:
        """Each node's direct successors (of the nodes of ``kinds`` only, when given)."""
        out: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
        if kinds is None or CLUSTER in kinds:
            self._spill()  # only clusters lead to endpoints
        if kinds is None:
            for a, b in self._core_edges:
                out[a].append(b)
            return out
        wanted = frozenset(kinds)
        for a, b in self._core_edges:
            if a[0] in wanted:
                out[a].append(b)
        return out

    def by_kind(self) -> list[list[tuple[int, str]]]:
        """Keys of the nodes of each kind (one list per kind), in insertion order."""
        self._spill()
        return self._groups()

    def _groups(self) -> list[list[tuple[int, str]]]:
        """:meth:`by_kind` of the ordinary nodes (endpoints kept as columns left out)."""
        out: list[list[tuple[int, str]]] = [[] for _ in KIND_NAMES]
        for k in self._core:
            out[k[0]].append(k)
        return out

    def _ordered(self, keys: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """``keys`` (of one kind) sorted by ``(node.sort, key)``.

        Endpoint and virtual host nodes sort under their parent's sort tuple: they are
        put in one bucket per distinct parent, the buckets taken in the parents' order
        and each sorted alone (the same order, with far fewer tuple comparisons).
        """
        nodes = self._core
        sorts = [nodes[k].sort for k in keys]
        if sorts and all(len(x) == 2 and type(x[0]) is tuple for x in sorts):
            buckets: dict[Any, list[tuple[Any, str, tuple[int, str]]]] = {}
            last: Any = None
            bucket: list[tuple[Any, str, tuple[int, str]]] = []
            try:
                for x, k in zip(sorts, keys, strict=True):
                    parent = x[0]
                    if parent is not last:  # a parent's children come one after another
                        last = parent
                        bucket = buckets.setdefault(parent, [])
                    bucket.append((x[1], k[1], k))
                parents = sorted(buckets)
            except TypeError:  # an unhashable or unorderable part: compare them as they are
                pass
            else:
                out: list[tuple[int, str]] = []
                for parent in parents:
                    bucket = buckets[parent]
                    if len(bucket) > 1:
                        bucket.sort()
                    out.extend([k for _, _, k in bucket])
                return out
        return sorted(keys, key=lambda k: (nodes[k].sort, k[1]))

    def plain(
        self,
        endpoint_rows: Sequence[Sequence[Any]] | None = None,
        layout: Layout | None = None,
        index: RowIndex | None = None,
    ) -> dict[str, Any]:
        """Compact plain data for the page.

        ``nodes`` are ``[kind, label, status, detail, codes]`` sorted by kind, then
        by each kind's natural order; ``edges`` are ``[from, to]`` node indexes.

        With ``endpoint_rows`` (the rows of the page's endpoints table: ENDPOINT, STATUS,
        OUTLIER CHECK, CLUSTER, ...), the endpoint nodes kept as columns are carried once:
        not in ``nodes`` (nor their edges in ``edges``) but said by ``endpoints``, which
        refers to that table's rows (see :class:`_TableRows`; :func:`expand` gives the
        nodes and edges back, as the page's script does). Without it every node is in
        ``nodes`` and there is no ``endpoints`` key.

        ``layout``: :meth:`layout` of this graph, made before the rows were at hand
        (the graph unchanged since); None: made here. ``index``: :func:`row_index` of
        ``endpoint_rows``, made where the rows were made; None: made here. Asked again
        with the same layout, rows and index, it gives what it gave.
        """
        made = layout.made if layout is not None else None
        if made is not None and made[0] is endpoint_rows and made[1] is index:
            if isinstance(made[2], Exception):  # raised when first asked: raised in its turn
                raise made[2]
            return made[2]
        lay = layout if layout is not None else self.layout()
        nodes, edges, counts = lay.nodes, lay.edges, lay.counts
        table = _TableRows(endpoint_rows, index) if endpoint_rows is not None else None
        if lay.buckets is not None:
            if table is None:
                runs = [run for bucket in lay.buckets for run in _bucket_runs(bucket)]
                ep_nodes, ep_edges = _runs_as_nodes(runs, len(nodes))
                # Every other edge starts left of the clusters: these sort after them all.
                nodes.extend(ep_nodes)
                edges.extend(ep_edges)
                counts[ENDPOINT] += len(ep_nodes)
            else:
                counts[ENDPOINT] += table.add(lay.buckets, nodes, lay.facts)
        out = {
            "kinds": list(KIND_NAMES),
            "nodes": nodes,
            "edges": edges,
            "counts": counts,
            "notes": list(self.notes),
        }
        if table is not None:
            out["endpoints"] = table.said()
        if layout is not None:
            layout.made = (endpoint_rows, index, out)
        return out

    def layout(self) -> Layout:
        """What :meth:`plain` writes before the endpoints table's rows are needed.

        The ordinary nodes in order, their edges, and the clusters whose endpoints are
        kept as columns. ``pdebug report`` makes it while its worker still builds the
        tables; the graph must not change between this and :meth:`plain` (the nodes'
        texts are copied). One layout serves one :meth:`plain`: that call extends its
        lists.
        """
        core = self._core
        groups = self._groups()
        keys: list[tuple[int, str]] = []
        for group in groups:
            keys.extend(self._ordered(group))
        index = {k: i for i, k in enumerate(keys)}
        nodes: list[list[Any]] = [
            [n.kind, n.label, n.status, n.detail, " ".join(n.codes)]
            for n in map(core.__getitem__, keys)
        ]
        # One integer per edge sorts as the pair does, without comparing lists.
        width = len(keys) + 1
        codes = sorted([index[a] * width + index[b] for a, b in self._core_edges])
        edges = [[e // width, e % width] for e in codes]
        counts = [len(group) for group in groups]
        buckets = None
        facts: list[_RunFacts | None] | None = None
        if self._eps:
            first = sum(counts[:CLUSTER])
            buckets = self._endpoint_buckets(keys[first : first + counts[CLUSTER]], first)
            # all a lone cluster's run needs but the table's rows, while the worker makes them
            facts = _layout_facts(buckets, nodes)
        return Layout(nodes, edges, counts, buckets, facts)

    def _endpoint_buckets(
        self, clusters: list[tuple[int, str]], first: int
    ) -> list[list[tuple[int, _Endpoints]]]:
        """The clusters with endpoints kept as columns, grouped by sort tuple, in order.

        ``clusters`` are the cluster nodes in their order (by sort tuple, then key; the
        first has index ``first``), so clusters that sort alike come one after another:
        one bucket ``[(cluster index, endpoints), ...]`` each (usually one cluster).
        """
        core = self._core
        held = {eps.cluster: eps for eps in self._eps or ()}
        buckets: list[list[tuple[int, _Endpoints]]] = []
        parent: Any = None
        for ci, k in enumerate(clusters, first):
            eps = held.get(k)
            if eps is None:
                continue
            sort = core[k].sort
            if buckets and sort == parent:
                buckets[-1].append((ci, eps))
            else:
                buckets.append([(ci, eps)])
                parent = sort
        return buckets


def _bucket_runs(bucket: list[tuple[int, _Endpoints]]) -> list[tuple[int, _Endpoints, list[int]]]:
    """The endpoint nodes of clusters that sort alike (usually one), in their order.

    That order (:meth:`Graph._ordered`'s) is the parent cluster's sort tuple, then the
    address, then the key. One parent's endpoints are its distinct addresses sorted (its
    keys differ only there); clusters that sort alike have their endpoints mixed, by
    address then key.

    Returns:
        Runs ``(cluster index, endpoints, host positions)``, each the consecutive nodes
        of one cluster (one run when the bucket is one cluster).
    """
    if len(bucket) == 1:
        ci, eps = bucket[0]
        addrs = eps.addresses
        order = sorted(range(len(addrs)), key=addrs.__getitem__)
        if len(set(addrs)) != len(addrs):
            # the first host of an address is its node (the stable sort kept it first)
            order = [i for j, i in enumerate(order) if not j or addrs[i] != addrs[order[j - 1]]]
        return [(ci, eps, order)] if order else []
    items: list[tuple[str, str, int, int]] = []
    for g, (_, eps) in enumerate(bucket):
        prefix = eps.cluster[1] + "\x00"
        seen: set[str] = set()
        for i, address in enumerate(eps.addresses):
            if address not in seen:
                seen.add(address)
                items.append((address, prefix + address, g, i))
    items.sort(key=lambda t: (t[0], t[1]))
    runs: list[tuple[int, _Endpoints, list[int]]] = []
    last = -1
    for _, _, g, i in items:
        if g != last:
            ci, eps = bucket[g]
            runs.append((ci, eps, []))
            last = g
        runs[-1][2].append(i)
    return runs


def _runs_as_nodes(
    runs: list[tuple[int, _Endpoints, list[int]]], start: int
) -> tuple[list[list[Any]], list[list[int]]]:
    """The runs' nodes (from index ``start``) and their edges.

    The edges sort as the pairs do: clusters in index order, each cluster's in node
    order (as :meth:`Graph.plain` sorts every other edge).
    """
    nodes: list[list[Any]] = []
    spans: list[tuple[int, int, int]] = []
    for ci, eps, order in runs:
        at = start + len(nodes)
        nodes.extend(_endpoint_rows(eps, order))
        spans.append((ci, at, at + len(order)))
    spans.sort(key=_FIRST)  # stable: one cluster's runs stay in node order
    edges: list[list[int]] = []
    for ci, a, b in spans:
        edges.extend([[ci, e] for e in range(a, b)])
    return nodes, edges


class _TableRows:
    """The endpoints table's rows, as the topology's endpoint nodes refer to them.

    :meth:`Graph.plain` with a table carries ``endpoints``: ``{"status": {EDS status:
    node status}, "rows": [group per row], "runs": [[cluster index, status, items],
    ...]}``: the endpoint nodes, which follow ``nodes`` in the order of the runs, each
    run the consecutive endpoint nodes of one cluster. A run's ``items`` are either

    * a number ``G``: the nodes are the rows of group ``G`` (``rows``: each row's group,
      or None), sorted by ENDPOINT, one node each: ``[4, ENDPOINT, status, STATUS + " in
      " + (the cluster node's label), ""]``; ``status`` is the nodes' one status, or
      None: ``status[STATUS]``. A group is the rows under one CLUSTER name. Used for a
      cluster whose hosts come from the dump's EDS section, when the table lists exactly
      as many rows under that name as the cluster has hosts (then they are its hosts:
      the table lists every endpoint of every assignment, by the same address and status
      texts), every ENDPOINT is ASCII (the page's sort is then Python's) and no CLUSTER
      and ENDPOINT pair repeats (no address is left out as a repeat);
    * a list: each item the index of the row that gives its node exactly (looked up by
      CLUSTER and ENDPOINT, and its STATUS checked), or the node itself (live flags in
      the detail, no such row); ``status`` is the nodes' one status, or one per item.

    Each endpoint node's edge comes from its cluster; they follow every other edge,
    sorted as the pairs are.
    """

    def __init__(self, rows: Sequence[Sequence[Any]], index: RowIndex | None = None) -> None:
        self.rows = rows  # read only for a run of listed items
        self.runs: list[list[Any]] = []
        self._by_cluster: dict[str, dict[str, int]] | None = None
        #: node status by EDS status, of the hosts of the runs whose status is None
        self._status: dict[str, str] = {}
        #: CLUSTER name -> group number, for the names runs take their rows from
        self._groups: dict[str, int] = {}
        names, of_row, sizes = index if index is not None else row_index(rows)
        #: the CLUSTER names in the order met, and each row's as an index into them
        self._names = names
        self._of_row = array("I")
        self._of_row.frombytes(of_row)
        #: how many rows each CLUSTER name has; empty: no run's nodes are its rows
        self.sizes: dict[str, int] = dict(zip(names, sizes, strict=True)) if sizes else {}

    def add(
        self,
        buckets: list[list[tuple[int, _Endpoints]]],
        nodes: list[list[Any]],
        facts: list[_RunFacts | None] | None = None,
    ) -> int:
        """Add the runs of ``buckets`` (in order); how many endpoint nodes they make.

        A lone cluster's run is ``[ci, status, group]`` when the rows under its hosts'
        name are its nodes (their number and statuses agree: :func:`_run_facts`), else
        its items are listed. ``facts``: :attr:`Layout.facts` of these buckets; None:
        worked out here.
        """
        if facts is None:
            facts = _layout_facts(buckets, nodes)
        made = 0
        runs, sizes, groups, status = self.runs, self.sizes, self._groups, self._status
        for bucket, fact in zip(buckets, facts, strict=True):
            if fact is not None:
                ci, listed, n, one, levels, agree = fact
                if sizes.get(listed) == n:
                    if levels is not None:
                        for e, level in levels.items():  # in the order met: the page's bytes
                            if e not in status:
                                status[e] = level
                    if agree:
                        runs.append([ci, one, groups.setdefault(listed, len(groups))])
                        made += n
                        continue
            for ci, eps, order in _bucket_runs(bucket):
                runs.append(self._listed(ci, eps, order, nodes[ci][1]))
                made += len(order)
        return made

    def said(self) -> dict[str, Any]:
        """What the page carries: ``{"status", "rows", "runs"}`` (see the class)."""
        rows: list[int | None] = []
        if self._groups:
            group = list(map(self._groups.get, self._names))
            rows = list(map(group.__getitem__, self._of_row))
        return {"status": self._status, "rows": rows, "runs": self.runs}

    def _listed(self, ci: int, eps: _Endpoints, order: list[int], label: str) -> list[Any]:
        """The run ``[ci, status, items]``: each node a row's index, or the node itself."""
        rows = self.rows
        if self._by_cluster is None:
            self._by_cluster = {}
            for r in range(len(rows) - 1, -1, -1):  # backwards: a pair's first row stays
                row = rows[r]
                self._by_cluster.setdefault(row[3], {})[row[0]] = r
        found = self._by_cluster.get(eps.hosts.listed or "", {})
        addrs, eds, statuses, suffixes = eps.addresses, eps.eds, eps.statuses, eps.suffixes
        tail = " in " + label
        items: list[Any] = []
        for i in order:
            suffix = suffixes if isinstance(suffixes, str) else suffixes[i]
            ref = found.get(addrs[i])
            if ref is not None and suffix == tail and rows[ref][1] == eds[i]:
                items.append(ref)
            else:
                items.append([ENDPOINT, addrs[i], statuses[i], eds[i] + suffix, ""])
        shown = [statuses[i] for i in order]
        return [ci, shown[0] if shown.count(shown[0]) == len(shown) else shown, items]


#: What a lone cluster's run is, but for the table's rows (:func:`_run_facts`).
_RunFacts = tuple[int, str, int, str | None, dict[str, str] | None, bool]


def _layout_facts(
    buckets: list[list[tuple[int, _Endpoints]]], nodes: list[list[Any]]
) -> list[_RunFacts | None]:
    """:func:`_run_facts` of each bucket of one cluster (None for the others)."""
    return [
        _run_facts(b[0][0], b[0][1], nodes[b[0][0]][1]) if len(b) == 1 else None for b in buckets
    ]


def _run_facts(ci: int, eps: _Endpoints, label: str) -> _RunFacts | None:
    """What :meth:`_TableRows.add` reads of one cluster's endpoints, before the rows.

    ``(ci, listed, n, one, levels, agree)``: the cluster node's index; the CLUSTER name
    its rows are under and how many hosts it has; their one status, or None when they
    differ: then ``levels``, each EDS status met (in that order) with its node status,
    and ``agree``, whether those give each host's status. None: the run never takes its
    nodes from the rows (live flags, no listed name, no host, or a detail that is not
    ``STATUS in CLUSTER``).
    """
    hosts, statuses = eps.hosts, eps.statuses
    listed = hosts.listed
    n = len(statuses)
    if hosts.live or listed is None or not n or eps.suffixes != " in " + label:
        return None
    if statuses.count(statuses[0]) == n:
        return ci, listed, n, statuses[0], None, True
    eds = hosts.eds
    levels = {e: level_status(endpoint_health(e)) for e in dict.fromkeys(eds)}
    return ci, listed, n, None, levels, list(map(levels.get, eds)) == statuses


#: What :class:`_TableRows` reads of all the endpoints table's rows (:func:`row_index`).
RowIndex = tuple[list[str], bytes, list[int] | None]


def row_index(rows: Sequence[Sequence[Any]]) -> RowIndex:
    """What :class:`_TableRows` needs of every row, as plain data ``marshal`` carries.

    ``(names, of_row, sizes)``: the CLUSTER names in the order met; each row's name as
    an index into them (``array("I")`` bytes); and how many rows each name has, or None
    when a run can never be a group of rows: some ENDPOINT is not ASCII (the page would
    sort it otherwise than Python), or a CLUSTER and ENDPOINT pair repeats. ``pdebug
    report``'s worker makes it with the endpoints table, so the parent's part after the
    join does not go over the 50k rows (on the 5k-service dump).
    """
    names = list(map(_CLUSTER_CELL, rows))
    ends = list(map(_ENDPOINT_CELL, rows))
    number = {name: i for i, name in enumerate(dict.fromkeys(names))}
    of_row = array("I", map(number.__getitem__, names))
    sizes: list[int] | None = None
    if "".join(ends).isascii() and len(set(zip(names, ends, strict=True))) == len(rows):
        counted = Counter(names)
        sizes = [counted[name] for name in number]
    return list(number), of_row.tobytes(), sizes


_ENDPOINT_CELL = operator.itemgetter(0)
_CLUSTER_CELL = operator.itemgetter(3)


def expand(graph: dict[str, Any], tables: list[dict[str, Any]]) -> dict[str, Any]:
    """``graph`` (:meth:`Graph.plain` of a page) with every node in ``nodes``.

    What the page's script builds (``static/report.js``, ``expandEndpoints``) from
    ``endpoints`` and the rows of the ``endpoints`` table of ``tables``
    (see :class:`_TableRows`): the endpoint nodes after the others, and their edges,
    sorted as the pairs are, after the others.
    """
    said = graph.get("endpoints")
    out = {k: v for k, v in graph.items() if k != "endpoints"}
    if said is None:
        return out
    rows: list[list[Any]] = next((t["rows"] for t in tables if t["id"] == "endpoints"), [])
    groups: dict[int, list[int]] = {}
    for r, group in enumerate(said["rows"]):
        if group is not None:
            groups.setdefault(group, []).append(r)
    nodes = [*graph["nodes"]]
    spans: list[tuple[int, int, int]] = []
    for ci, status, items in said["runs"]:
        tail = " in " + nodes[ci][1]
        at = len(nodes)
        if isinstance(items, int):
            for r in sorted(groups.get(items, []), key=lambda r: rows[r][0]):
                st = status if status is not None else said["status"][rows[r][1]]
                nodes.append([ENDPOINT, rows[r][0], st, rows[r][1] + tail, ""])
        else:
            for j, item in enumerate(items):
                if isinstance(item, int):
                    st = status if isinstance(status, str) else status[j]
                    nodes.append([ENDPOINT, rows[item][0], st, rows[item][1] + tail, ""])
                else:
                    nodes.append(item)
        spans.append((ci, at, len(nodes)))
    spans.sort(key=_FIRST)
    edges = [*graph["edges"]]
    for ci, a, b in spans:
        edges.extend([[ci, e] for e in range(a, b)])
    out["nodes"], out["edges"] = nodes, edges
    return out


_FIRST = operator.itemgetter(0)


def _endpoint_rows(eps: _Endpoints, order: list[int]) -> list[list[Any]]:
    """:meth:`Graph.plain` rows of the endpoints of ``eps`` at positions ``order``."""
    addrs, eds, statuses, suffix = eps.addresses, eps.eds, eps.statuses, eps.suffixes
    if isinstance(suffix, str):
        return [[ENDPOINT, addrs[i], statuses[i], eds[i] + suffix, ""] for i in order]
    return [[ENDPOINT, addrs[i], statuses[i], eds[i] + suffix[i], ""] for i in order]


def _listener_detail(lst: s.Listener, state: str) -> str:
    address = bind_host(lst.address)
    port = port_of(lst.address)
    where = f"{address}:{port}" if port else address
    return " ".join(part for part in (where, state) if part)


def _cluster_sort(name: str) -> tuple[Any, ...]:
    """``(0, *sort key)`` of an Istio name, ``(1, *sort key)`` of another (ClusterName's)."""
    parts = split_name(name)
    if parts is None:
        return (1, name, "", 0, "")
    direction, port, subset, host = parts
    return (0, host, subset, port, direction)


#: A route config as its topology nodes read it: its name, each virtual host's name and
#: domains (as the node shows them), and each route target's virtual host (an index
#: into those) and cluster, in the order of :func:`route_targets`.
RouteNodes = tuple[str, list[tuple[str, str]], list[tuple[int, str]]]


def route_nodes(rc: s.RouteConfiguration) -> RouteNodes:
    """What the topology reads of route config ``rc`` (plain data ``marshal`` carries)."""
    vhosts = rc.virtual_hosts
    at = {id(vh): i for i, vh in enumerate(vhosts)}
    return (
        rc.name,
        [(vh.name, summarize_domains(vh.domains)) for vh in vhosts],
        [(at[id(vh)], cluster) for vh, _, cluster in route_targets(rc)],
    )


def drawn_routes(dump: ConfigDump) -> tuple[int, int, dict[str, RouteNodes]]:
    """What ``pdebug report`` reads of the routes section for its summary and topology.

    How many route configs ``pdebug routes`` lists and their virtual hosts, and each RDS
    route config by name as :func:`route_nodes` gives it. ``pdebug report``'s worker
    makes it from the section it decoded for the checks' facts and the routes table
    (#17), so the parent never decodes the section.
    """
    from pdebug.model.routes import listed

    shown = listed(dump)
    hosts = sum(len(rc.config.virtual_hosts) for rc in shown)
    return len(shown), hosts, {name: route_nodes(rc) for name, rc in rds_by_name(dump).items()}


class _Builder:
    def __init__(self, ctx: Context, drawn: Mapping[str, RouteNodes] | None = None) -> None:
        self.ctx = ctx
        #: :func:`drawn_routes`'s route configs, made elsewhere; None: decoded here
        self.drawn = drawn
        self.graph = Graph()
        self.walked = False

    def route_config(
        self, key: str, rc: s.RouteConfiguration | RouteNodes, detail: str
    ) -> tuple[int, str]:
        """A route config node with its virtual hosts and their clusters.

        ``rc`` decoded, or as :func:`route_nodes` gives it (a worker made it).
        """
        g = self.graph
        if g.has(ROUTE, key):
            return (ROUTE, key)
        name, vhosts, targets = rc if isinstance(rc, tuple) else route_nodes(rc)
        rk = g.add(ROUTE, key, name or "(inline)", detail, OK)
        # g.link, inlined: no edge here leads to an endpoint (9.6k virtual hosts at 5k
        # services, and a cluster per route target)
        edges, core = g._core_edges, g._core
        parent = core[rk].sort
        for vh_name, domains in vhosts:
            vk = g.add(
                VHOST, f"{key}\x00{vh_name}", vh_name or "(unnamed)", domains, OK,
                sort=(parent, vh_name),
            )  # fmt: skip
            edges[(rk, vk)] = None
        cluster_node = self.cluster
        for at, cluster in targets:
            ck = (CLUSTER, cluster)
            target = ck if ck in core else cluster_node(cluster)
            edges[((VHOST, f"{key}\x00{vhosts[at][0]}"), target)] = None
        return rk

    def cluster(self, name: str) -> tuple[int, str]:
        """The node of cluster ``name`` (``missing`` until the proxy is found to have it)."""
        if self.graph.has(CLUSTER, name):
            return (CLUSTER, name)
        return self.graph.add(
            CLUSTER, name, name, "not in the proxy's clusters", MISSING, _cluster_sort(name)
        )

    @cached_property
    def rds(self) -> Mapping[str, s.RouteConfiguration | RouteNodes]:
        """RDS route configs by name (inline ones are read from their listeners)."""
        if not self.ctx.has("routes"):
            return {}
        if self.drawn is not None:
            return self.drawn
        return rds_by_name(self.ctx.dump)

    def listeners(self) -> None:
        """Listener nodes and what their filters lead to."""
        g = self.graph
        rds = self.rds
        for lc in self.ctx.listeners:
            where = _listener_detail(lc.listener, "")
            key = lc.name or f"\x00{where}"  # unnamed (static) listeners: one per address
            if g.has(LISTENER, key):
                continue  # the first state (active) wins; a warming copy adds nothing new
            status = OK if lc.state in ("ACTIVE", "STATIC") else WARN
            lk = g.add(
                LISTENER,
                key,
                lc.name or where or "(unnamed)",
                _listener_detail(lc.listener, lc.state),
                status,
                sort=(port_of(lc.listener.address), lc.name),
            )
            try:
                filters = list(self.ctx.network_filters(lc))
            except PdebugError as exc:
                node = g.node(lk)
                node.status, node.detail = BAD, f"{node.detail}; could not read: {exc.message}"
                continue
            for _, _, flt in filters:
                if isinstance(flt, s.TcpProxy):
                    for cluster in tcp_targets(flt):
                        g.link(lk, self.cluster(cluster))
                elif flt.route_config is not None:
                    rkey = f"inline\x00{lc.name}\x00{flt.route_config.name}"
                    detail = f"inline in listener {g.node(lk).label}"
                    g.link(lk, self.route_config(rkey, flt.route_config, detail))
                elif flt.rds is not None and flt.rds.route_config_name:
                    name = flt.rds.route_config_name
                    rc = rds.get(name)
                    if rc is None:
                        g.link(lk, g.add(ROUTE, name, name, "RDS: not received", MISSING))
                    else:
                        g.link(lk, self.route_config(name, rc, "RDS"))
        self.rejected()
        self.walked = True

    def rejected(self) -> None:
        """Listeners Envoy rejected and never ran (no state but ``error_state``).

        One node each, however many times Envoy lists the rejection.
        """
        from pdebug.checks.listeners import envoy_reason

        if not self.ctx.has("listeners"):
            return
        g = self.graph
        for rej in self.ctx.listener_facts.rejections:
            if rej.ever_ran:
                continue
            lst = rej.entry.failed() or s.Listener(name=rej.entry.entry.name)
            name = rej.name
            if not name or g.has(LISTENER, name):
                continue
            detail = _listener_detail(lst, "rejected by Envoy: " + envoy_reason(rej.error.details))
            g.add(LISTENER, name, name, detail, BAD, sort=(port_of(lst.address), name))

    def route_configs(self) -> None:
        """RDS route configs no listener led to (all of them when listeners are unreadable)."""
        detail = "RDS, used by no listener" if self.walked else "RDS"
        for name, rc in self.rds.items():
            if not self.graph.has(ROUTE, name):
                self.route_config(name, rc, detail)

    def clusters(self) -> None:
        """Every cluster the proxy has (or /clusters names), its health and its endpoints."""
        g = self.graph
        hosts = self.ctx.hosts
        clusters = self.ctx.clusters
        names = dict.fromkeys([*clusters, *hosts])
        status_of = _LEVEL_STATUS.get
        core = g._core
        for name in names:
            k = (CLUSTER, name)
            node = core.get(k)
            if node is None:  # routed to by nothing: added now
                node = core[self.cluster(name)]
            cc = clusters.get(name)
            state = cc.state if cc is not None else "in /clusters only"
            kind = table_type(cc.entry.cluster) if cc is not None else ""
            hs = hosts.get(name)
            if hs is None:
                node.status = WARN if state == "WARMING" else UNKNOWN
                node.detail = ", ".join(p for p in (state, kind, "endpoints not known") if p)
                continue
            levels = hs.levels
            n = len(levels)
            distinct = set(levels)
            if len(distinct) == 1:  # the common case: every host alike
                (level,) = distinct
                status = status_of(level, BAD)
                statuses = [status] * n
                usable = n if is_usable(level) else 0
                all_ok = status == OK
            else:
                statuses = [status_of(level, BAD) for level in levels]
                # is_usable once per distinct level (a cluster's hosts share a few)
                usable = sum(levels.count(lv) for lv in distinct if is_usable(lv))
                all_ok = statuses.count(OK) == n
            if not n:
                node.status = UNKNOWN
            elif not usable:
                node.status = BAD
            elif not all_ok:
                node.status = WARN
            else:
                node.status = OK
            if state == "WARMING":
                node.status = _worse(node.status, WARN)
            # a static cluster's own load_assignment (v2: hosts) is no EDS
            source = "/clusters" if hs.live else "EDS" if hs.listed else "its config"
            counted = f"{usable} of {n} endpoints usable ({source})"
            node.detail = ", ".join([p for p in (state, kind, counted) if p])
            g.add_endpoints(k, hs, statuses)

    def findings(self, findings: list[Finding]) -> None:
        """List each finding on the node it names; errors and warnings colour it."""
        g = self.graph
        kinds = {"listener": LISTENER, "route": ROUTE, "cluster": CLUSTER}
        for f in findings:
            prefix, _, name = f.resource.partition("/")
            kind = kinds.get(prefix)
            if kind is None:
                continue
            keys = g.labelled(kind, name)
            if not keys and kind == LISTENER:
                keys = [g.add(LISTENER, name, name, "rejected by Envoy", BAD, sort=(0, name))]
            for k in keys:
                node = g.node(k)
                if f.code not in node.codes:
                    node.codes.append(f.code)
                status = _FINDING_STATUS.get(f.severity)
                if status is not None:
                    node.status = _worse(node.status, status)

    def propagate(self) -> None:
        """Listeners, route configs and virtual hosts take the health of what they lead to."""
        g = self.graph
        order = (VHOST, ROUTE, LISTENER)
        children = g.children(order)
        groups = g._groups()
        nodes = g._core  # none of these kinds is an endpoint, nor leads to one
        for kind in order:
            for k in groups[kind]:
                below = children.get(k)
                if not below:
                    continue
                known = {nodes[c].status for c in below}
                known.discard(UNKNOWN)
                if not known:
                    continue
                if known <= _ENDS_BADLY:
                    agg = BAD
                elif known != _ALL_OK:
                    agg = WARN
                else:
                    agg = OK
                node = nodes[k]
                node.status = _worse(node.status, agg)


def _flags(host: Host) -> str:
    flags = [words for _, words in set_flags(host.status) if words]
    return f" ({', '.join(flags)})" if flags else ""


def build_graph(
    ctx: Context, findings: list[Finding], rds: Mapping[str, RouteNodes] | None = None
) -> Graph:
    """The topology of one proxy, with a health status on every node.

    Args:
        ctx: The proxy's data (a check context: its indexes are shared with the checks).
        findings: The proxy's check findings; each marks the resource it names.
        rds: The RDS route configs as :func:`drawn_routes` gives them (made by a worker);
            None: read from the dump.

    Returns:
        The graph; :meth:`Graph.plain` is what the page embeds.
    """
    builder = _Builder(ctx, rds)
    steps = [
        builder.listeners,
        builder.route_configs,
        builder.clusters,
        lambda: builder.findings(findings),
        builder.propagate,
    ]
    for step in steps:
        try:
            step()
        except PdebugError as exc:  # a damaged section: draw the rest, say what is missing
            builder.graph.notes.append(f"not drawn: {exc.message}")
    return builder.graph
