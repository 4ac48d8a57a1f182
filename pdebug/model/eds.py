"""Which cluster each EDS assignment of a dump belongs to.

Envoy's ``config_dump?include_eds`` writes one ClusterLoadAssignment per cluster, named
by the cluster's ``eds_cluster_config.service_name``, else by the cluster's name. Some
Envoy versions (Consul's 1.22, OSM's 1.18) leave ``cluster_name`` empty for an EDS
cluster without a ``service_name``. Such an assignment is attributed, in this order:

1. by ``/clusters?format=json`` (when given): the one cluster whose live hosts include
   every endpoint address of the assignment;
2. by elimination: a nameless assignment in ``dynamic_endpoint_configs`` (or static)
   belongs to a dynamic (static) EDS cluster without ``service_name`` that has no named
   assignment; when exactly one such assignment and one such cluster are left, they go
   together.

Envoy writes the assignments in its cluster map's hash order, not in cluster order, so
the order never attributes anything. What is left is *unattributed*, with the reason
and the candidates.
"""

from __future__ import annotations

import msgspec

from pdebug.model import schema as s
from pdebug.model.address import address_text
from pdebug.model.dump import ConfigDump
from pdebug.model.health import ClustersStatus

_KEYS = (("dynamic_endpoint_configs", True), ("static_endpoint_configs", False))
_CLUSTER_KEYS = (
    ("dynamic_active_clusters", True),
    ("dynamic_warming_clusters", True),
    ("static_clusters", False),
)


class Attribution(msgspec.Struct):
    """The cluster of each nameless assignment (by ``id()``), or why there is none."""

    names: dict[int, str] = msgspec.field(default_factory=dict)
    how: dict[int, str] = msgspec.field(default_factory=dict)
    unattributed: dict[int, str] = msgspec.field(default_factory=dict)

    def cluster_of(self, cla: s.ClusterLoadAssignment) -> str:
        """The assignment's cluster name as written, else as attributed, else ``""``."""
        return cla.cluster_name or self.names.get(id(cla), "")

    def notes(self) -> list[str]:
        """One line per way of attributing, and one for what stayed unattributed."""
        out: list[str] = []
        by_how: dict[str, list[str]] = {}
        for key, how in self.how.items():
            by_how.setdefault(how, []).append(self.names[key])
        for how, names in by_how.items():
            out.append(
                f"{len(names)} EDS assignment{'s' if len(names) != 1 else ''} without "
                f"cluster_name attributed {how}: {', '.join(sorted(names))}"
            )
        reasons = sorted(set(self.unattributed.values()))
        for reason in reasons:
            n = sum(1 for r in self.unattributed.values() if r == reason)
            out.append(f"{n} EDS assignment{'s' if n != 1 else ''} without cluster_name: {reason}")
        return out


def _address(address: s.Address | None) -> str:
    """A socket address as the one formatter writes it; ``""`` for a pipe or none (no key)."""
    if address is None or address.socket_address is None:
        return ""
    return address_text(address)


def _addresses(cla: s.ClusterLoadAssignment) -> set[str]:
    return {
        _address(lb.endpoint.address if lb.endpoint is not None else None)
        for group in cla.endpoints
        for lb in group.lb_endpoints
    } - {""}


def attribute(dump: ConfigDump, health: ClustersStatus | None = None) -> Attribution:
    """Attribute the dump's nameless EDS assignments (see the module docstring).

    Kept in ``dump.facts`` for the same ``health``: ``pdebug all`` asks three times
    (the endpoints table, its note and the command's note). Callers only read it.
    """
    kept = dump.facts.get("eds.attribute")
    if kept is not None and kept[0] is health:
        return kept[1]  # type: ignore[no-any-return]
    out = _attribute(dump, health)
    dump.facts["eds.attribute"] = (health, out)
    return out


def _attribute(dump: ConfigDump, health: ClustersStatus | None) -> Attribution:
    out = Attribution()
    if not dump.has("endpoints"):
        return out
    nameless: dict[bool, list[s.ClusterLoadAssignment]] = {True: [], False: []}
    named: set[str] = set()
    for key, dynamic in _KEYS:
        for entry in dump.endpoint_entries(key).items:
            cla = entry.endpoint_config
            if cla.cluster_name:
                named.add(cla.cluster_name)
            else:
                nameless[dynamic].append(cla)
    if not nameless[True] and not nameless[False]:
        return out
    candidates: dict[bool, list[str]] = {True: [], False: []}
    if dump.has("clusters"):
        for key, dynamic in _CLUSTER_KEYS:
            for cluster_entry in dump.cluster_entries(key).items:
                c = cluster_entry.cluster
                service = c.eds_cluster_config.service_name if c.eds_cluster_config else ""
                if c.type == "EDS" and not service and c.name not in named:
                    if c.name not in candidates[dynamic]:
                        candidates[dynamic].append(c.name)
    live: dict[str, set[str]] = {}
    if health is not None:
        for st in health.statuses:
            live[st.name] = {_address(h.address) for h in st.host_statuses} - {""}
    for dynamic in (True, False):
        left = list(nameless[dynamic])
        free = list(candidates[dynamic])
        for cla in list(left):
            addrs = _addresses(cla)
            if not live or not addrs:
                continue
            owners = [name for name, hosts in live.items() if addrs <= hosts]
            preferred = [name for name in owners if name in free] or owners
            if len(preferred) == 1:
                out.names[id(cla)] = preferred[0]
                out.how[id(cla)] = "by their endpoint addresses in /clusters"
                left.remove(cla)
                if preferred[0] in free:
                    free.remove(preferred[0])
        if len(left) == 1 and len(free) == 1:
            cla = left.pop()
            out.names[id(cla)] = free[0]
            out.how[id(cla)] = "by elimination (the only EDS cluster without an assignment)"
            continue
        for cla in left:
            if free:
                which = ", ".join(free)
                reason = (
                    f"it is one of the EDS clusters without an assignment ({which}); "
                    "Envoy's /clusters?format=json tells which (pdebug endpoints SOURCE "
                    "--clusters-json FILE; a pdebug dump bundle carries it)"
                )
            else:
                reason = "no EDS cluster without an assignment is left to own it"
            out.unattributed[id(cla)] = reason
    return out
