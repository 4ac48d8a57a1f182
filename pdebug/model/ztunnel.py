"""Parse a ztunnel ``/config_dump`` (Istio ambient mode) once, tolerant of its eras.

ztunnel is not Envoy: its admin port answers one JSON object with ``workloads``,
``services``, ``policies``, ``certificates`` and ``workloadState`` (plus ``config``,
``version``...). The shape moved over releases (see the research note ``ztunnel.md``):

* 1.22 wrote ``workloads``/``services``/``policies`` as objects keyed by address or name,
  1.23 and later write lists: either is read, and an object's keys are dropped (istioctl);
* key spelling is lowerCamelCase today; keys are matched case-insensitively, as Go's
  ``encoding/json`` does for istioctl, and also across ``snake_case`` (``cert_chain``)
  for pre-1.22 dumps, which istioctl no longer reads;
* ``certificates[].rootCerts`` is new (2025); before, the root ended ``certChain``; up to
  1.21 the leaf was ``ca_cert`` and ``cert_chain`` the rest (read as one chain);
* before 1.22, ztunnel dumped its internal indexes instead: workloads ``by_uid`` (and
  ``by_addr``), services ``by_vip`` plus ``by_host`` (1.19-1.21: a service without a
  VIP is only there) or ``services_by_hostname`` (1.19's development dumps), policies
  ``by_key`` (1.19-1.21), a workload's one ``workloadIp`` and a service's ``addresses``
  (1.18, 1.19), a policy's ``groups`` (1.18). They are read as the ``workloads``/
  ``services``/``policies``/``workloadIps``/``vips``/``rules`` they hold (istioctl
  prints empty tables for them).

Every object keeps its unknown keys (``-o json`` prints them). An entry that is not an
object is skipped with a warning rather than failing the whole dump.

The facts ``ztunnel-config`` (``views/ztunnel.py``), ``check``
(:mod:`pdebug.checks.ztunnel`) and the report's ambient section all read live here too:
a JSON value as a cell (:func:`cell`), which service a waypoint names
(:func:`waypoint_name`), a service's healthy endpoints (:func:`endpoint_counts`), the
certificate rows of each identity (:func:`cert_rows`) and Go's ``SplitHostPort``.

One module over 500 lines because it is ztunnel's one model, as ``model/`` is Envoy's
in several: the era rules above and the facts read from their result change together.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pdebug.errors import InvalidInput

if TYPE_CHECKING:
    from ipaddress import IPv4Network, IPv6Network

    from pdebug.model.sniff import Prepared, Reader

#: Field names pdebug reads, in ztunnel's spelling. Keys are compared by
#: :func:`_fold` (lower case, no underscores), so ``workloadstate``, ``WorkloadState``
#: and ``workload_state`` all read as ``workloadState``.
_FIELDS = (
    # top level
    "workloads services policies certificates workloadState config version localNode "
    "stagedServices staticConfig "
    # workload
    "uid workloadIps waypoint networkGateway protocol name namespace serviceAccount "
    "workloadName workloadType canonicalName canonicalRevision clusterId trustDomain "
    "locality node network status hostname capacity applicationTunnel "
    "authorizationPolicies nativeTunnel networkMode destination hboneMtlsPort port "
    "region zone subzone "
    # service and endpoint
    "vips cidrVips cidr ports endpoints subjectAltNames loadBalancer ipFamilies canonical "
    "visibility weightedWaypoints workloadUid service address routingPreferences mode "
    "healthPolicy "
    # policy
    "scope action rules dryRun namespaces notNamespaces principals notPrincipals sourceIps "
    "notSourceIps destinationIps notDestinationIps destinationPorts notDestinationPorts "
    "serviceAccounts notServiceAccounts Exact Prefix Suffix Presence "
    # certificate
    "identity state certChain rootCerts pem serialNumber validFrom expirationTime "
    # workload state
    "connections info inbound outbound src originalDst actualDst"
).split()


def _fold(key: str) -> str:
    return key.replace("_", "").lower()


_CANON = {_fold(name): name for name in _FIELDS}
#: ztunnel 1.18-1.21 wrote a certificate's LEAF as ``ca_cert`` (despite the name: its
#: ``dump_cert(certs.x509())``, istio/ztunnel@1.20.0 src/admin.rs) and the rest of the
#: chain, root last, as ``cert_chain``; :func:`_leaf_first` reads them as today's chain.
_CA_CERT = "ca_cert"
_CANON["cacert"] = _CA_CERT


def _name(key: str) -> str:
    """``key`` in ztunnel's spelling when it is a field pdebug knows, else as it is."""
    return _CANON.get(_fold(key)) or key


#: Fields whose value is a map keyed by data (ports, UIDs): the keys are kept as they are.
_DATA_KEYS = frozenset({"ports", "endpoints", "port", "workloadState"})


#: Fields whose values hold objects (or lists of them) that may need respelling too.
_NESTED = frozenset(
    "waypoint networkGateway applicationTunnel locality endpoints port loadBalancer rules "
    "certChain rootCerts connections inbound outbound info cidrVips serviceAccounts "
    "notServiceAccounts namespaces notNamespaces principals notPrincipals".split()
)
_KNOWN = frozenset(_FIELDS)


def canonical(obj: Any, data_keys: bool = False) -> Any:
    """``obj`` with every known field name in ztunnel's spelling (values recursively).

    A dict already spelled as ztunnel spells it today is kept as it is (a C-level set
    test), and only its object-valued fields are looked into, so a current dump costs
    little more than its decode.
    """
    if isinstance(obj, list):
        return [canonical(v) for v in obj] if any(isinstance(v, dict | list) for v in obj) else obj
    if not isinstance(obj, dict):
        return obj
    if data_keys:
        return {k: canonical(v) for k, v in obj.items()}
    if _KNOWN.issuperset(obj):
        for name in obj.keys() & _NESTED:
            value = obj[name]
            if isinstance(value, dict | list):
                obj[name] = canonical(value, name in _DATA_KEYS)
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = _name(str(key))
        if isinstance(value, dict | list):
            value = canonical(value, name in _DATA_KEYS)
        out[name] = value
    return out


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _flat(values: Any) -> bool:
    """Whether ``values`` holds no object or list (one C-level set test)."""
    return _SCALARS.issuperset(map(type, values))


def _same(obj: Any, data_keys: bool = False) -> bool:
    """Whether :func:`canonical` would leave ``obj`` as it is (every name ztunnel's own).

    The same walk as :func:`canonical`, building nothing: a current dump (the common
    case) is then kept as decoded, and only an object in another spelling is rebuilt.
    Lists and maps of plain values, and objects of known fields without nested ones,
    are judged by set tests, without a call per value.
    """
    if isinstance(obj, list):
        return _flat(obj) or all(_same(v) for v in obj if isinstance(v, dict | list))
    if not isinstance(obj, dict):
        return True
    if data_keys:
        values = obj.values()
        return _flat(values) or all(_same(v) for v in values if isinstance(v, dict | list))
    if _KNOWN.issuperset(obj):
        for name in obj.keys() & _NESTED:
            value = obj[name]
            if isinstance(value, dict):
                if name in _DATA_KEYS:
                    if _flat(value.values()) or _same(value, True):
                        continue
                    return False
                if _NESTED.isdisjoint(value) and _KNOWN.issuperset(value):
                    continue  # all its fields are known and none nests
                if not _same(value):
                    return False
            elif isinstance(value, list) and not _same(value):
                return False
        return True
    for key, value in obj.items():
        name = _name(str(key))
        if name != key:
            return False
        if isinstance(value, dict | list) and not _same(value, name in _DATA_KEYS):
            return False
    return True


@dataclass
class ZtunnelDump:
    """A ztunnel config dump: its sections as lists of plain objects (canonical keys)."""

    source: str
    raw: bytes
    workloads: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    #: pod UID -> ``{state, connections, info}``
    workload_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    #: which sections the dump has at all (an absent one is not an empty one)
    present: frozenset[str] = frozenset()
    warnings: list[str] = field(default_factory=list)

    @property
    def local_node(self) -> str:
        """The node of the ztunnel that wrote the dump (``config.localNode``), if known."""
        node = self.config.get("localNode")
        return node if isinstance(node, str) else ""


#: Top-level keys that make a JSON object a ztunnel dump (not an Envoy one).
ZTUNNEL_KEYS = frozenset(_fold(k) for k in ("workloads", "services", "certificates", "policies"))


def looks_like_ztunnel(top: dict[str, Any]) -> bool:
    """Whether a decoded top-level object is ztunnel's config dump."""
    if "configs" in top:
        return False
    folded = {_fold(k) for k in top}
    return bool(folded & ZTUNNEL_KEYS) or "workloadstate" in folded


#: What to do about input that is plainly not a ztunnel dump, by what it looks like.
_ZT_HINTS = {
    "empty": "the capture failed or was cut off; capture the dump again",
    "markup": "an error page was saved instead of the dump; check the URL/port-forward",
    # istioctl ztunnel-config workload|service|... -o json prints one table's rows
    "array": "that is one table's rows (istioctl ztunnel-config TABLE -o json); save the "
    "whole dump: istioctl zc all -o json (it prints the dump unchanged), or GET "
    "/config_dump on the ztunnel's admin port 15000",
    "binary": "if this is compressed, pdebug reads .gz; otherwise capture the dump again",
}


def parse(data: bytes | memoryview, source: str) -> ZtunnelDump:
    """Decode a ztunnel dump: :func:`read` of the sniffer's look at ``data``."""
    from pdebug.model.sniff import prepare

    return read(prepare(data, source, reader()))


@functools.cache
def reader() -> Reader:
    """What this reader asks of the one sniffer (:func:`pdebug.model.sniff.prepare`)."""
    from pdebug.model.sniff import Reader

    return Reader("a ztunnel config dump", _ZT_HINTS, envoy_words=True, strip=True, several=False)


def read(look: Prepared) -> ZtunnelDump:
    """The ztunnel dump the sniffer's ``look`` (made with :func:`reader`) holds.

    ``istioctl zc all -o yaml`` (the whole dump as YAML) is taken when the one YAML
    document is a mapping with ztunnel's top-level sections; JSON (the common case) is
    read without a second look. :class:`InvalidInput` with one clear line otherwise.
    """
    import orjson

    from pdebug.model.dump import MAX_DEPTH
    from pdebug.model.load import envoy_cert_entries
    from pdebug.model.refusals import (
        agentgateway_given,
        envoy_certs_given,
        istiod_debug_given,
        istiod_ztunnel_given,
        istiod_ztunnel_view,
        syncz_given,
    )

    source = look.source
    yaml_doc = _yaml_dump(look)
    if yaml_doc is not None:
        from pdebug.model.sniff import refuse_what_json_lacks

        refuse_what_json_lacks(yaml_doc, source)
        data: bytes | memoryview = orjson.dumps(yaml_doc)
    elif look.refusal is not None:
        if look.found.kind == "array":
            try:
                other = istiod_debug_given(source, orjson.loads(bytes(look.data)))
            except orjson.JSONDecodeError:
                other = None
            if other is not None:
                raise other from None
        raise look.refusal
    else:
        data = look.data
    raw = bytes(data)
    try:
        top = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = str(exc)
        if "unexpected end" in text.lower() or "eof" in text.lower():
            raise InvalidInput(
                f"{source}: the JSON is truncated (the capture was cut off)",
                hint="capture the dump again",
            ) from None
        raise InvalidInput(
            f"{source}: invalid JSON: {text}", hint="the file is damaged; capture it again"
        ) from None
    if _too_deep(raw, top):
        raise InvalidInput(
            f"{source}: nested deeper than {MAX_DEPTH} levels, not a ztunnel config dump",
            hint="the file is damaged; capture it again",
        )
    if not isinstance(top, dict):
        raise InvalidInput(
            f"{source}: not a ztunnel config dump (a JSON {type(top).__name__})",
            hint="expected the JSON object of ztunnel's GET /config_dump",
        )
    if "configs" in top:
        configs = top["configs"]
        types = (
            [str(c.get("@type")) for c in configs if isinstance(c, dict)]
            if isinstance(configs, list)
            else []
        )
        if isinstance(configs, list) and len(types) == len(configs) and istiod_ztunnel_view(types):
            raise istiod_ztunnel_given(source)
        raise InvalidInput(
            f"{source}: this is an Envoy config dump, not a ztunnel one",
            hint="read it with pdebug clusters|listeners|routes|... SOURCE "
            "(istioctl proxy-config); waypoints are Envoy proxies too",
        )
    if {"binds", "backends"} <= {_fold(str(k)) for k in top}:
        raise agentgateway_given(source)
    if (
        "certificates" in top
        and not {"workloads", "workloadstate"} & {_fold(str(k)) for k in top}
        and envoy_cert_entries(top["certificates"])
    ):
        raise envoy_certs_given(source, ztunnel=True)
    syncz = syncz_given(source, top) or istiod_debug_given(source, top)
    if syncz is not None:
        raise syncz
    if not looks_like_ztunnel(top):
        raise InvalidInput(
            f"{source}: not a ztunnel config dump (no workloads, services, policies, "
            "certificates or workloadState)",
            hint="expected ztunnel's GET /config_dump (admin port 15000 of a ztunnel pod)",
        )
    dump = ZtunnelDump(source, raw)
    by_name: dict[str, Any] = {}
    for key, value in top.items():
        by_name.setdefault(_name(str(key)), value)
    _legacy_sections(by_name)
    dump.present = frozenset(k for k in by_name if k in _CANON.values())
    dump.workloads = _objects(by_name, "workloads", dump)
    dump.services = _objects(by_name, "services", dump)
    dump.policies = _objects(by_name, "policies", dump)
    dump.certificates = [_leaf_first(c) for c in _objects(by_name, "certificates", dump)]
    state = by_name.get("workloadState")
    if isinstance(state, dict):
        for uid, entry in state.items():
            if isinstance(entry, dict):
                dump.workload_state[uid] = entry if _same(entry) else canonical(entry)
            else:
                dump.warnings.append(f"workloadState[{uid!r}] is not an object; skipped")
    elif state is not None:
        raise InvalidInput(
            f"{source}: workloadState is a JSON {type(state).__name__}, not an object",
            hint="the dump is damaged or from an unknown ztunnel version",
        )
    config = by_name.get("config")
    if isinstance(config, dict):
        dump.config = canonical(config)
    return dump


def _leaf_first(entry: dict[str, Any]) -> dict[str, Any]:
    """A ztunnel <= 1.21 certificate entry (``ca_cert``: the leaf) as today's chain.

    ``certChain`` becomes the leaf, then the old ``cert_chain`` (intermediates, root
    last), as ztunnel 1.22-1.25 wrote it: the root is the chain's last element.
    """
    if _CA_CERT not in entry:
        return entry
    out = {k: v for k, v in entry.items() if k != _CA_CERT}
    out["certChain"] = as_list(entry[_CA_CERT]) + as_list(entry.get("certChain"))
    return out


def _yaml_dump(look: Prepared) -> dict[str, Any] | None:
    """The one YAML document of ``look`` when it is a ztunnel dump's mapping, else None.

    A timestamp a converter left unquoted is read back as the RFC 3339 text ztunnel
    wrote (the sniffer's loader for one document).
    """
    if not look.docs:
        return None
    (doc,) = look.docs
    if isinstance(doc, dict) and all(isinstance(k, str) for k in doc) and looks_like_ztunnel(doc):
        if look.aliases is not None:
            raise look.aliases
        return doc
    return None


def _too_deep(raw: bytes, top: Any) -> bool:
    """Whether nesting is deeper than Envoy dumps may be (``MAX_DEPTH``): refused as theirs.

    The walkers downstream (respelling, views, ``-o yaml``, the report) recurse: a value
    nested some 500 levels was an internal error (RecursionError), not one line.
    """
    from pdebug.model.dump import _SKIP, bounded, can_bound, check_depth

    try:
        if can_bound():
            bounded(lambda: _SKIP.decode(raw))  # C speed, nothing built
        else:
            check_depth(top)
    except RecursionError:
        return True
    return False


#: Where ztunnel <= 1.21 kept each section: groups of indexes of the same objects; the
#: first group the dump has is read, every index of it (a value may be a list of
#: objects), each object once. ztunnel 1.19-1.21 (istio/ztunnel@1.20.0 src/state/) kept a
#: service with no VIP (headless) only in ``by_host`` (hostname -> [service]), and the
#: policies in ``by_key`` (``ns/name`` -> policy).
_LEGACY: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "workloads": ((("by_uid",), ("by_addr",)), "uid"),
    "services": (
        (("by_vip", "by_host"), ("services_by_hostname",), ("services_by_ip",)),
        "hostname",
    ),
    "policies": ((("by_key",),), "name"),
}
#: Fields ztunnel 1.18/1.19 (and istiod's 1.17 ``Address``) spelled otherwise: the old
#: names (folded, see :func:`_fold`) -> today's.
_LEGACY_FIELDS = {
    "workloads": (("workloadip", "address"), "workloadIps"),
    "services": (("addresses",), "vips"),
    # ztunnel 1.18 called a policy's rules ``groups``
    "policies": (("groups",), "rules"),
}


def _legacy_sections(by_name: dict[str, Any]) -> None:
    """Read a pre-1.22 dump's indexes as ``workloads`` and ``services``, in place.

    An object indexed twice (a dual-stack service under each VIP, a workload under each
    address) is kept once: by namespace and ``uid``/``hostname``, else by identity.
    """
    for section, (groups, ident) in _LEGACY.items():
        olds, new = _LEGACY_FIELDS[section]
        value = by_name.get(section)
        if value is None:
            indexes = next(
                (
                    [by_name[k] for k in group if isinstance(by_name.get(k), dict)]
                    for group in groups
                    if any(isinstance(by_name.get(k), dict) for k in group)
                ),
                None,
            )
            if indexes is None:
                continue
            seen: set[Any] = set()
            value = []
            for item in _index_items(indexes):
                key: Any = id(item)
                if isinstance(item, dict) and isinstance(item.get(ident), str) and item[ident]:
                    ns = item.get("namespace")  # a non-string one (a dict) is not hashable
                    key = (ns if isinstance(ns, str | None) else id(item), item[ident])
                if key not in seen:
                    seen.add(key)
                    value.append(item)
            by_name[section] = value
        if isinstance(value, dict):
            value = list(value.values())
        if not isinstance(value, list) or not any(
            isinstance(item, dict) and (_old_key(item, olds, new) or _tagged(item))
            for item in value
        ):
            continue
        by_name[section] = [_respelled(item, olds, new) for item in value]


def _index_items(indexes: list[dict[str, Any]]) -> Any:
    """The objects of some indexes, in order; a list value (``by_host``) gives each item."""
    for index in indexes:
        for item in index.values():
            if isinstance(item, list):
                yield from item
            else:
                yield item


def _old_key(item: dict[str, Any], olds: tuple[str, ...], new: str) -> str | None:
    """The key of ``item`` spelling field ``new`` the old way, if ``new`` itself is absent."""
    if new in item:
        return None
    folded = _fold(new)
    keys = {_fold(str(k)): k for k in item}
    if folded in keys:
        return None
    return next((keys[o] for o in olds if o in keys), None)


def _tagged(item: dict[str, Any]) -> bool:
    """Whether ``item``'s waypoint destination is 1.19's tagged value.

    That is ``{"address": "Address", "content": "network/ip"}`` where today has the string.
    """
    dest = item.get("waypoint")
    dest = dest.get("destination") if isinstance(dest, dict) else None
    return isinstance(dest, dict) and isinstance(dest.get("content"), str)


def _respelled(item: Any, olds: tuple[str, ...], new: str) -> Any:
    """``item`` with today's spelling of ``olds`` and of a tagged waypoint destination."""
    if not isinstance(item, dict):
        return item
    old = _old_key(item, olds, new)
    if old is not None:
        item = {**item, new: [item[old]] if isinstance(item[old], str) else item[old]}
    if _tagged(item):
        waypoint = item["waypoint"]
        item = {**item, "waypoint": {**waypoint, "destination": waypoint["destination"]["content"]}}
    return item


def _objects(top: dict[str, Any], key: str, dump: ZtunnelDump) -> list[dict[str, Any]]:
    """A list-or-map section as a list of objects (a map's keys are dropped, as istioctl)."""
    value = top.get(key)
    if value is None:
        return []
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidInput(
            f"{dump.source}: {key} is a JSON {type(value).__name__}, not a list or an object",
            hint="the dump is damaged or from an unknown ztunnel version",
        )
    out = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            out.append(item if _same(item) else canonical(item))
        else:
            dump.warnings.append(f"{key}[{index}] is not an object; skipped")
    return out


# --- facts the views, checks and the report share ---------------------------------------
# (``ztunnel-config`` prints them, ``check`` judges them, the report's ambient section
# draws them; each rule is istioctl's, cell for cell, see the research note ``ztunnel.md``)

Obj = dict[str, Any]


def cell(value: Any) -> str:
    """A cell from a JSON value, as Go's ``%v`` prints the common cases."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    import orjson

    return orjson.dumps(value).decode()


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else ``[]``."""
    return value if isinstance(value, list) else []


def as_obj(value: Any) -> Obj:
    """``value`` if it is an object, else ``{}``."""
    return value if isinstance(value, dict) else {}


def waypoint_index(services: list[Obj]) -> dict[str, str]:
    """What a waypoint ``destination`` may name -> the service's name (first one wins).

    istioctl walks the services in dump order and takes the first whose
    ``namespace/hostname``, or one of whose ``vips`` (``network/ip``), equals the
    destination; this index answers the same in one lookup.
    """
    index: dict[str, str] = {}
    for svc in services:
        name = cell(svc.get("name"))
        index.setdefault(f"{cell(svc.get('namespace'))}/{cell(svc.get('hostname'))}", name)
        for vip in as_list(svc.get("vips")):
            if isinstance(vip, str):
                index.setdefault(vip, name)
    return index


def waypoint_name(waypoint: Any, services: list[Obj] | dict[str, str]) -> str:
    """WAYPOINT: ``None`` without one, the first service it names, else ``NA``."""
    if waypoint is None:
        return "None"
    index = services if isinstance(services, dict) else waypoint_index(services)
    dest = as_obj(waypoint).get("destination")
    return index.get(dest, "NA") if isinstance(dest, str) else "NA"


def waypoints(obj: Obj) -> list[tuple[Any, int | None]]:
    """Every waypoint ``obj`` may send through: (its ``GatewayAddress``, weight or None).

    ``waypoint`` (the primary), then each ``weightedWaypoints`` entry (ztunnel 1.31:
    ``{destination: GatewayAddress, weight}``, a canary's set, sampled per connection by
    weight) whose weight is positive and whose destination is not already listed. ztunnel
    never picks an entry of weight 0 and falls back to ``waypoint`` when none is positive.
    """
    out: list[tuple[Any, int | None]] = []
    seen: set[str] = set()
    primary = obj.get("waypoint")
    if primary is not None:
        out.append((primary, None))
        dest = as_obj(primary).get("destination")
        if isinstance(dest, str):
            seen.add(dest)
    for entry in as_list(obj.get("weightedWaypoints")):
        entry = as_obj(entry)
        weight, gateway = entry.get("weight"), entry.get("destination")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
            continue
        dest = as_obj(gateway).get("destination")
        if isinstance(dest, str):
            if dest in seen:
                continue
            seen.add(dest)
        out.append((gateway, weight))
    return out


def vip_address(entry: Any) -> str:
    """The IP of a ``vips`` entry (``network/ip``); ``""`` without a network part."""
    text = cell(entry)
    return text.split("/", 1)[1] if "/" in text else ""


def cidr_networks(svc: Obj) -> list[IPv4Network | IPv6Network]:
    """The address ranges of a service's ``cidrVips`` (a ServiceEntry address with a prefix).

    ztunnel writes an entry as ``{"network": ..., "cidr": "10.1.0.0/16"}``; istioctl also
    reads the string ``network/cidr`` (split at the first ``/``). ztunnel resolves any
    address inside one to the service. An entry that is no range is skipped.
    """
    import ipaddress

    nets: list[IPv4Network | IPv6Network] = []
    for entry in as_list(svc.get("cidrVips")):
        text = cell(entry.get("cidr")) if isinstance(entry, dict) else cell(entry)
        if not isinstance(entry, dict):
            text = text.split("/", 1)[1] if "/" in text else ""
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            continue
    return nets


def endpoint_counts(
    svc: Obj, by_uid: dict[str, Obj], by_address: dict[str, Obj] | None = None
) -> tuple[int, int]:
    """(healthy, total): healthy when the endpoint's workload is ``Healthy`` (istioctl).

    The workload is the one its ``workloadUid`` names. ztunnel <= 1.19 wrote endpoints
    without one, keyed and addressed by ``network/ip``: given ``by_address``
    (:func:`workloads_by_address`), such an endpoint's workload is the one at that
    address (istioctl counts them all unhealthy).
    """
    endpoints = as_obj(svc.get("endpoints"))
    healthy = 0
    for key, ep in endpoints.items():
        w = endpoint_workload(key, ep, by_uid, by_address)
        if w is not None and w.get("status") == "Healthy":
            healthy += 1
    return healthy, len(endpoints)


def endpoint_workload(
    key: str, ep: Any, by_uid: dict[str, Obj], by_address: dict[str, Obj] | None
) -> Obj | None:
    """The workload behind a service's endpoint ``key: ep`` (see :func:`endpoint_counts`)."""
    uid = as_obj(ep).get("workloadUid")
    if isinstance(uid, str) and uid:
        return by_uid.get(uid)
    if by_address is None:
        return by_uid.get(uid) if isinstance(uid, str) else None
    address = as_obj(ep).get("address")
    return by_address.get(address if isinstance(address, str) else key)


def workloads_by_uid(dump: ZtunnelDump) -> dict[str, Obj]:
    """Workloads by ``uid``; on a duplicate the last one wins (as istioctl)."""
    return {w["uid"]: w for w in dump.workloads if isinstance(w.get("uid"), str)}


def workloads_by_address(dump: ZtunnelDump) -> dict[str, Obj]:
    """Workloads by ``network/ip`` of each of their IPs, as old endpoints name them.

    On a duplicate the last one wins.
    """
    out: dict[str, Obj] = {}
    for w in dump.workloads:
        network = w.get("network")
        prefix = network if isinstance(network, str) else ""
        for ip in as_list(w.get("workloadIps")):
            if isinstance(ip, str) and ip:
                out[f"{prefix}/{ip}"] = w
    return out


_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 time (Go's ``time.RFC3339`` parser: offset required), else None."""
    if not isinstance(text, str):
        return None
    m = _RFC3339.match(text)
    if m is None:
        return None
    date, clock, frac, zone = m.groups()
    frac = (frac or "")[:7]  # Python keeps microseconds
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}{frac}{zone}")
    except ValueError:
        return None


_DECIMAL = re.compile(r"[+-]?[0-9]+\Z", re.ASCII)


def serial_hex(serial: Any) -> str:
    """A decimal serial as lowercase hex (Go ``%x`` of a big.Int); ``<nil>`` if unparsable."""
    if isinstance(serial, int) and not isinstance(serial, bool):
        serial = str(serial)
    if not isinstance(serial, str) or not _DECIMAL.match(serial):
        return "<nil>"
    value = int(serial)
    return f"-{-value:x}" if value < 0 else f"{value:x}"


def cert_status(state: Any) -> str:
    """STATUS: the state, with every ``Unavailable: reason`` shortened to ``Unavailable``."""
    text = cell(state)
    return "Unavailable" if "Unavailable" in text else text


@dataclass(frozen=True)
class CertRow:
    """One certificate of an identity's chain or roots, with istioctl's cells."""

    identity: str
    kind: str  # Leaf, Intermediate, Root or NA
    status: str
    valid: bool
    serial: str
    not_after: str
    not_before: str
    expires: datetime | None
    bad_time: bool  # a time that does not parse (istioctl logs it)


def cert_rows(dump: ZtunnelDump, now: datetime) -> list[CertRow]:
    """Every certificate row, in dump order (istioctl does not sort them)."""
    rows: list[CertRow] = []
    for entry in dump.certificates:
        identity = cell(entry.get("identity"))
        status = cert_status(entry.get("state"))
        chain = [as_obj(c) for c in as_list(entry.get("certChain"))]
        roots = [as_obj(c) for c in as_list(entry.get("rootCerts"))]
        if not chain:
            rows.append(CertRow(identity, "NA", status, False, "NA", "NA", "NA", None, False))
            continue
        legacy = not roots
        kinds = []
        for i in range(len(chain)):
            if i == 0:
                kinds.append("Leaf")
            elif legacy and i == len(chain) - 1:
                kinds.append("Root")
            else:
                kinds.append("Intermediate")
        kinds += ["Root"] * len(roots)
        for kind, cert in zip(kinds, chain + roots, strict=True):
            rows.append(_cert_row(identity, kind, status, cert, now))
    return rows


def _cert_row(identity: str, kind: str, status: str, cert: Obj, now: datetime) -> CertRow:
    after_text, before_text = cell(cert.get("expirationTime")), cell(cert.get("validFrom"))
    after, before = parse_time(after_text), parse_time(before_text)
    bad = bool(after_text or before_text) and (after is None or before is None)
    valid = after is not None and before is not None and before < now < after
    return CertRow(
        identity,
        kind,
        status,
        valid,
        serial_hex(cert.get("serialNumber")),
        after_text or "NA",
        before_text or "NA",
        after,
        bad,
    )


def split_host_port(addr: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``: ``host:port`` or ``[v6]:port``; None when it fails."""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0 or addr[end + 1 : end + 2] != ":":
            return None
        host, port = addr[1:end], addr[end + 2 :]
        return (host, port) if ":" not in port else None
    i = addr.rfind(":")
    if i < 0 or ":" in addr[:i]:
        return None
    return addr[:i], addr[i + 1 :]
