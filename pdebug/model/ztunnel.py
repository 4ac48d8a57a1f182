"""Parse a ztunnel ``/config_dump`` (Istio ambient mode) once, tolerant of its eras.

ztunnel is not Envoy: its admin port answers one JSON object with ``workloads``,
``services``, ``policies``, ``certificates`` and ``workloadState`` (plus ``config``,
``version``...). The shape moved over releases (see the research note ``ztunnel.md``):

* 1.22 wrote ``workloads``/``services``/``policies`` as objects keyed by address or name,
  1.23 and later write lists: either is read, and an object's keys are dropped (istioctl);
* key spelling is lowerCamelCase today; keys are matched case-insensitively, as Go's
  ``encoding/json`` does for istioctl, and also across ``snake_case`` (``cert_chain``)
  for pre-1.22 dumps, which istioctl no longer reads;
* ``certificates[].rootCerts`` is new (2025); before, the root ended ``certChain``.

Every object keeps its unknown keys (``-o json`` prints them). An entry that is not an
object is skipped with a warning rather than failing the whole dump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pdebug.errors import InvalidInput

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


def parse(data: bytes | memoryview, source: str) -> ZtunnelDump:
    """Decode a ztunnel dump; :class:`InvalidInput` with one clear line otherwise."""
    import orjson

    from pdebug.model.load import sniff

    sniff(data, source)
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
    if not isinstance(top, dict):
        raise InvalidInput(
            f"{source}: not a ztunnel config dump (a JSON {type(top).__name__})",
            hint="expected the JSON object of ztunnel's GET /config_dump",
        )
    if "configs" in top:
        raise InvalidInput(
            f"{source}: this is an Envoy config dump, not a ztunnel one",
            hint="read it with pdebug clusters|listeners|routes|... SOURCE "
            "(istioctl proxy-config); waypoints are Envoy proxies too",
        )
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
    dump.present = frozenset(k for k in by_name if k in _CANON.values())
    dump.workloads = _objects(by_name, "workloads", dump)
    dump.services = _objects(by_name, "services", dump)
    dump.policies = _objects(by_name, "policies", dump)
    dump.certificates = _objects(by_name, "certificates", dump)
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
