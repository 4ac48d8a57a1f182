"""Turn bytes into a model, or into one clear error naming what the bytes are instead.

One module over 500 lines because it is one decision made once: what the bytes are
(sniffed), which of the three ways to read a config dump fits them (whole, planned
sections, sliced sections) and the error that names what they are instead share the
same scan state; the model they produce lives in :mod:`pdebug.model.dump`.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import msgspec

from pdebug.errors import InvalidInput, ZtunnelDumpGiven
from pdebug.model.camel import SENTINEL, Mode, to_camel, variant
from pdebug.model.dump import (
    DECODE_FAILURES,
    KEY_KINDS,
    KEY_TYPES,
    KIND_TYPE_URL,
    SECTION_KINDS,
    ConfigDump,
    Section,
    decode_failure,
    sanitize,
)
from pdebug.model.health import ClustersStatus
from pdebug.model.refusals import (
    agentgateway_given,
    egctl_given,
    envoy_certs_given,
    fragment_given,
    istiod_debug_given,
    syncz_given,
)
from pdebug.model.sniff import (
    as_argument,
    bare_sections,
    killed_capture,
    sniff,
    without_bom,
)


class _Top(msgspec.Struct, gc=False):
    """The top level of any admin document pdebug reads, in one scan."""

    configs: list[dict[str, msgspec.Raw]] | None = None
    cluster_statuses: msgspec.Raw = msgspec.Raw()
    clusterStatuses: msgspec.Raw = msgspec.Raw()  # noqa: N815 - wire spelling
    apiVersion: str | None = None  # noqa: N815 - a Kubernetes object, not a dump
    kind: str | None = None
    # A ztunnel (ambient) dump, not an Envoy one: said so, with the command that reads it.
    workloads: msgspec.Raw = msgspec.Raw()
    workloadState: msgspec.Raw = msgspec.Raw()  # noqa: N815 - wire spelling
    certificates: msgspec.Raw = msgspec.Raw()
    # agentgateway's dump: ztunnel-like, but neither (see agentgateway_given)
    binds: msgspec.Raw = msgspec.Raw()
    backends: msgspec.Raw = msgspec.Raw()
    # Envoy's /stats?format=json: said so, with the command that reads it.
    stats: msgspec.Raw = msgspec.Raw()
    # Envoy's /listeners?format=json and /server_info: said so.
    listener_statuses: msgspec.Raw = msgspec.Raw()
    hot_restart_version: msgspec.Raw = msgspec.Raw()
    command_line_options: msgspec.Raw = msgspec.Raw()
    state: msgspec.Raw = msgspec.Raw()  # /server_info's LIVE, DRAINING...
    version: msgspec.Raw = msgspec.Raw()
    # An Envoy bootstrap (envoy.yaml/json, what Envoy starts from): said so.
    static_resources: msgspec.Raw = msgspec.Raw()
    staticResources: msgspec.Raw = msgspec.Raw()  # noqa: N815 - wire spelling
    dynamic_resources: msgspec.Raw = msgspec.Raw()
    dynamicResources: msgspec.Raw = msgspec.Raw()  # noqa: N815 - wire spelling
    # A gRPC xDS bootstrap (GRPC_XDS_BOOTSTRAP of a proxyless gRPC application): said so.
    xds_servers: msgspec.Raw = msgspec.Raw()


_TOP = msgspec.json.Decoder(_Top, strict=False)
#: The ``state`` of Envoy's /server_info (``envoy.admin.v3.ServerInfo.State``), as JSON.
_SERVER_STATES = frozenset((b'"LIVE"', b'"DRAINING"', b'"PRE_INITIALIZING"', b'"INITIALIZING"'))
_STR = msgspec.json.Decoder(str)


class _TopMap(msgspec.Struct, gc=False):
    """Envoy <= 1.7 (Istio 1.0) wrote ``configs`` as a map of section name to section."""

    configs: dict[str, dict[str, msgspec.Raw]]


_TOP_MAP = msgspec.json.Decoder(_TopMap, strict=False)


class Loaded(msgspec.Struct):
    """What one input turned out to hold."""

    dump: ConfigDump | None = None
    clusters: ClustersStatus | None = None


Buffer = bytes | memoryview


#: Said of an Envoy bootstrap given where a config dump is expected.
BOOTSTRAP_HINT = (
    "start Envoy with it, then save GET /config_dump: its bootstrap section is this file, "
    "its other sections what Envoy made of it"
)
#: Top-level keys only an Envoy bootstrap has (either spelling).
BOOTSTRAP_KEYS = ("static_resources", "staticResources", "dynamic_resources", "dynamicResources")


def load(data: Buffer, source: str, plan: tuple[str, ...] = ()) -> Loaded:
    """Parse a config dump or a ``/clusters?format=json`` document.

    ``plan`` names the section fields the caller will read (e.g. the clusters lists).
    For a snake_case dump (Envoy's own) they are then decoded, typed, in the same single
    scan that finds the sections; any other field is read later, on first use.

    Raises:
        InvalidInput: the bytes are empty, truncated, not JSON, or not an admin document.
    """
    body = without_bom(data)  # as Windows editors and PowerShell save UTF-8
    if len(body) != len(data):
        # The byte-order mark or ``200`` line as spaces: the "(byte N)" of a damaged
        # document's error stays the file's offset (a copy, only for such files).
        data = b" " * (len(data) - len(body)) + bytes(body)
    killed = killed_capture(data[-160:], source)
    if killed is not None:
        raise killed
    bare = bare_sections(data)
    if bare is None:
        return _load(data, source, plan)
    try:
        loaded = _load(bare[0], source, plan)
    except InvalidInput:
        _decode_top(_SYNTAX, data, source)  # the paste's own damage, at its own offset
        raise
    if loaded.dump is not None:
        loaded.dump.pasted = bare[1]
        if loaded.dump.intact is not None:
            loaded.dump.intact = lambda: _decode_top(_SYNTAX, data, source)
    return loaded


def _load(data: Buffer, source: str, plan: tuple[str, ...]) -> Loaded:
    try:
        sniff(data, source)
    except InvalidInput as refused:
        clusters = _text_clusters(data, source, refused)
        if clusters is None:
            raise
        return Loaded(clusters=clusters)
    typed = tuple(k for k in plan if k in KEY_TYPES)
    if typed:
        configs = _planned_configs(data, typed)
        if configs is not None and not any(_entry_type(sec.type_url) for sec in configs):
            return Loaded(dump=_unchecked(_planned_dump(configs, typed, data, source), data))
    else:
        sliced = _sliced_dump(data, source)
        if sliced is not None:
            return Loaded(dump=_unchecked(sliced, data))
    try:
        top = _decode_top(_TOP, data, source)
    except InvalidInput as exc:
        if "got `object` - at `$.configs`" not in exc.message:
            raise
        # Envoy <= 1.7: {"configs": {"clusters": {...}, "listeners": {...}}}: the sections
        # are the values (each still has its @type), read as a list.
        old = _decode_top(_TOP_MAP, data, source)
        top = _Top(configs=[_wrap_static_clusters(sec) for sec in old.configs.values()])
    return _loaded(top, data, source)


def _text_clusters(data: Buffer, source: str, refused: InvalidInput) -> ClustersStatus | None:
    """Envoy's text ``/clusters``, read as its JSON form, or None (not that document).

    Saved by ``istioctl bug-report`` (its ``clusters`` file), by ``curl .../clusters``
    and by ``pdebug dump``: the one exact conversion (:mod:`pdebug.model.textforms`) that
    bundles get. One it cannot make exactly (a line this Envoy does not write) keeps the
    refusal, naming why.
    """
    if "this is the text GET /clusters" not in refused.message:
        return None
    from pdebug.model.textforms import clusters_document

    try:  # after a BOM, a 200 line or a curl -i head, load() left spaces in their place
        document = clusters_document(bytes(data).lstrip(b" "), source)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{refused.message}; pdebug could not read it exactly: {exc.message}",
            hint=refused.hint,
        ) from None
    status = ClustersStatus.parse(document, source)
    status.document = "Envoy's text /clusters (read as its JSON form)"
    return status


#: The static lists Envoy <= 1.7 wrote bare, and the field later Envoys wrap each in.
_BARE = (
    ("static_clusters", "cluster", ("cluster",)),
    ("staticClusters", "cluster", ("cluster",)),
    ("static_route_configs", "route_config", ("route_config", "routeConfig")),
    ("staticRouteConfigs", "route_config", ("route_config", "routeConfig")),
)


def _bare(entry: Any, spellings: tuple[str, ...]) -> bool:
    return isinstance(entry, dict) and not any(s in entry for s in spellings)


def _wrap_static_clusters(section: dict[str, msgspec.Raw]) -> dict[str, msgspec.Raw]:
    """Envoy <= 1.7 listed its static clusters and route configs bare (unwrapped).

    Later Envoys write ``{"cluster": ...}`` and ``{"route_config": ...}``: such an entry
    (an object without the wrapping field) is wrapped so, and the resource keeps its name
    and content instead of reading as a nameless, empty one.
    """
    for key, field, spellings in _BARE:
        raw = section.get(key)
        if raw is None:
            continue
        try:
            entries = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            continue
        if isinstance(entries, list) and any(_bare(e, spellings) for e in entries):
            wrapped = [{field: e} if _bare(e, spellings) else e for e in entries]
            section = {**section, key: msgspec.Raw(msgspec.json.encode(wrapped))}
    return section


def _planned_configs(data: Buffer, typed: tuple[str, ...]) -> list[Any] | None:
    """The one-pass typed decode of a snake_case dump, or ``None`` to read it lazily.

    The planned decoders refuse any lowerCamelCase key of the schema (see
    :mod:`pdebug.model.camel`) and any value of the wrong type: such a dump is read
    section by section instead, where each field is read in either spelling and a
    damaged resource is skipped with a warning.
    """
    try:
        configs = _sliced_configs(data, typed)
        if configs is None:
            try:
                configs = _plan_decoder(typed).decode(data).configs
            except msgspec.ValidationError:  # lowerCamelCase (or a wrong type)
                configs = _plan_decoder(typed, "camel").decode(data).configs
    except (*DECODE_FAILURES, _Refused):
        return None  # the lazy path reads it, or says why it cannot
    finally:
        if not _keeps_raw(typed):
            _release_pages(data)
    return configs


class _Refused(Exception):
    """A planned section did not decode with the snake_case schema."""


#: The planned section fields whose typed values hold no ``Raw`` slice of the input
#: (checked against the schema by :func:`holds_raw`, in tests/test_decode_paths.py).
RAW_FREE = frozenset({"static_endpoint_configs", "dynamic_endpoint_configs"})

#: ``Raw`` fields read on demand by one command only (trace's endpoint labels), which do
#: not keep a file's pages: releasing a mapped page is safe for any ``Raw`` (a later read
#: faults it in again from the page cache), so the question :data:`RAW_FREE` answers is
#: peak memory, and these are read for one cluster's endpoints at most.
RAW_ON_DEMAND = frozenset({("LbEndpoint", "metadata"), ("LocalityLbEndpoints", "metadata")})


def _keeps_raw(keys: tuple[str, ...]) -> bool:
    """Whether the typed values of these section fields hold ``Raw`` slices of the input."""
    return not RAW_FREE.issuperset(keys)


def holds_raw(key: str) -> bool:
    """Whether the schema type of section field ``key`` holds a ``Raw`` anywhere in it.

    The :data:`RAW_ON_DEMAND` fields are not counted. Walks the schema with
    :mod:`msgspec.inspect` (slow to import: the loader uses :data:`RAW_FREE`, which this
    function keeps honest).
    """
    import msgspec.inspect as mi

    def walk(t: mi.Type, seen: set[type]) -> bool:
        if isinstance(t, mi.RawType):
            return True
        if isinstance(t, mi.StructType):
            if t.cls in seen:
                return False
            seen.add(t.cls)
            return any(
                walk(f.type, seen)
                for f in t.fields
                if (t.cls.__name__, f.name) not in RAW_ON_DEMAND
            )
        if isinstance(t, mi.CollectionType):
            return walk(t.item_type, seen)
        if isinstance(t, mi.DictType):
            return walk(t.key_type, seen) or walk(t.value_type, seen)
        if isinstance(t, mi.UnionType):
            return any(walk(x, seen) for x in t.types)
        if isinstance(t, mi.TupleType):
            return any(walk(x, seen) for x in t.item_types)
        return False

    return walk(mi.type_info(KEY_TYPES[key]), set())


def _mapped(data: Buffer) -> bool:
    return isinstance(data, memoryview) and isinstance(data.obj, mmap.mmap)


def _release_pages(data: Buffer) -> None:
    """Unmap the pages of a memory-mapped file once a planned decode has read them.

    Called when the decoded values hold no ``Raw`` slice of the file (the EDS sections,
    say), so peak memory holds the decoded sections and not also the whole file (161 MB
    for 5k services). A later read of the map (``-o json``, a section decoded on first
    use) maps its pages again from the page cache.
    """
    mapped = data.obj if isinstance(data, memoryview) else None
    if isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)


#: The whole document's JSON syntax, checked without building anything.
_SYNTAX = msgspec.json.Decoder(msgspec.Raw)


def _unchecked(dump: ConfigDump, data: Buffer) -> ConfigDump:
    """``dump``, read in part: before a section is said missing, check the whole JSON.

    A dump pasted into an issue and cut with ``...`` inside one section is damaged, not
    lacking the sections a view asked for (was "the dump has no routes section").
    """
    dump.intact = lambda: _decode_top(_SYNTAX, data, dump.source)
    return dump


def _decode_top(decoder: msgspec.json.Decoder[Any], data: Buffer, source: str) -> Any:
    try:
        return decoder.decode(data)
    except (RecursionError, MemoryError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"{source}: {decode_failure(exc)}",
            hint="the file is damaged or is not a config dump; capture the dump again",
        ) from None
    except msgspec.ValidationError as exc:
        if "$.configs[" in str(exc):
            raise InvalidInput(
                f"{source}: unexpected value ({sanitize(str(exc))})",
                hint="the dump may be damaged or from an unsupported Envoy version",
            ) from None
        raise InvalidInput(
            f"{source}: not an Envoy config dump ({sanitize(str(exc))})",
            hint="expected {'configs': [...]} as served by GET /config_dump",
        ) from None
    except msgspec.DecodeError as exc:
        text = str(exc)
        if "truncated" in text:
            raise InvalidInput(
                f"{source}: the JSON is truncated (the capture was cut off)",
                hint="capture the dump again; large dumps need a longer timeout",
            ) from None
        raise InvalidInput(
            f"{source}: invalid JSON: {sanitize(text)}",
            hint="the file is damaged; capture the dump again",
        ) from None


def _envoy_certs(raw: msgspec.Raw) -> bool:
    """Whether ``certificates`` is Envoy's ``/certs`` list, not ztunnel's.

    Envoy's entries hold ``ca_cert``/``cert_chain`` lists of ``{path, serial_number,
    days_until_expiration, ...}``; ztunnel's have an ``identity`` and a ``state``.
    """
    try:
        entries = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return False
    return envoy_cert_entries(entries)


def envoy_cert_entries(entries: object) -> bool:
    """:func:`_envoy_certs` of an already decoded ``certificates`` value."""
    if not isinstance(entries, list) or not entries:
        return False
    if any(isinstance(e, dict) and ("identity" in e or "state" in e) for e in entries):
        return False
    for entry in entries:
        for key in ("ca_cert", "cert_chain"):
            items = entry.get(key) if isinstance(entry, dict) else None
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and ("days_until_expiration" in item or "path" in item):
                    return True
    return False


def _loaded(top: _Top, data: Buffer, source: str) -> Loaded:
    if top.apiVersion is not None and top.kind is not None:
        raise InvalidInput(
            f"{source}: this is a Kubernetes {top.kind} object, not an Envoy config dump",
            hint="pass the pod itself (pdebug clusters pod/NAME -n NS) or save "
            "`kubectl exec POD -c istio-proxy -- curl -s localhost:15000/config_dump`",
        )
    if top.configs is not None:
        dump = _dump(top.configs, source)
        if _mapped(data):
            # The scan read every page of the file; each field is decoded from its own
            # pages later, and only the decoded values stay (peak memory: the file's
            # pages are not all held beside the decoded sections).
            _release_pages(data)
            for sec in dump.sections:
                sec.release = lambda: _release_pages(data)
        return Loaded(dump=dump)
    if len(top.binds) and len(top.backends):
        raise agentgateway_given(source)

    if len(top.certificates) and not (len(top.workloads) or len(top.workloadState)):
        if _envoy_certs(top.certificates):
            raise envoy_certs_given(source)
    if len(top.workloads) or len(top.workloadState) or len(top.certificates):
        raise ZtunnelDumpGiven(
            f"{source}: this is a ztunnel config dump (Istio ambient), not an Envoy one",
            hint=f"read it with: pdebug ztunnel-config workload|service|policy|certificate|"
            f"connections|all -f {source}",
        )
    if len(top.stats) and bytes(top.stats)[:1] == b"[":
        raise InvalidInput(
            f"{source}: this is Envoy's /stats?format=json, not a config dump or /clusters",
            hint=f"read it with: pdebug stats {as_argument(source)}",
        )
    empty_object = len(data) < 64 and bytes(data).strip() == b"{}"
    if len(top.cluster_statuses) or len(top.clusterStatuses) or empty_object:
        return Loaded(clusters=ClustersStatus.parse(bytes(data), source))
    if len(top.listener_statuses):
        raise InvalidInput(
            f"{source}: this is Envoy's GET /listeners?format=json (names and addresses "
            "only), not a config dump",
            hint="save GET /config_dump instead: pdebug listeners reads its listeners",
        )
    if (len(top.hot_restart_version) or bytes(top.state) in _SERVER_STATES) and (
        len(top.command_line_options) or len(top.version)
    ):
        raise InvalidInput(
            f"{source}: this is Envoy's GET /server_info (its version and options), not a "
            "config dump",
            hint="save GET /config_dump instead (a pdebug dump bundle holds both)",
        )
    bootstrap = (top.static_resources, top.staticResources)
    if any(len(raw) for raw in (*bootstrap, top.dynamic_resources, top.dynamicResources)):
        raise InvalidInput(
            f"{source}: this is an Envoy bootstrap (the config Envoy starts from), not a "
            "config dump",
            hint=BOOTSTRAP_HINT,
        )
    from pdebug.model.sniff import grpc_bootstrap_given, one_view, one_view_given

    if len(top.xds_servers):
        raise grpc_bootstrap_given(source)
    try:
        doc = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        doc = None
    view = one_view(doc) if doc is not None else None
    if view is not None:
        raise one_view_given(source, view, "json")
    if (
        isinstance(doc, dict)
        and isinstance(doc.get("listeners"), list)
        and isinstance(doc.get("cluster_manager"), dict)
    ):
        # Envoy's v1 JSON config (Envoy <= 1.8; Ambassador 0.x wrote these): `listeners`
        # with `tcp://` addresses, `cluster_manager.clusters` with `hosts` URLs
        raise InvalidInput(
            f"{source}: this is an Envoy v1 JSON config (`listeners` and `cluster_manager`, "
            "the config format of Envoy 1.8 and earlier), not a config dump",
            hint="save GET /config_dump of the Envoy running it (Envoy 1.7 and later answer "
            "it): pdebug reads what Envoy made of the config",
        )
    fragment = (
        fragment_given(source, doc)
        or syncz_given(source, doc)
        or egctl_given(source, doc)
        or istiod_debug_given(source, doc)
    )
    if fragment is not None:
        raise fragment
    raise InvalidInput(
        f"{source}: not an Envoy config dump (no 'configs' list)",
        hint="expected the JSON of GET /config_dump or /clusters?format=json",
    )


#: ``GET /config_dump?resource=...`` answers one config per entry, typed by the entry
#: message; these are regrouped into the section field they come from.
ENTRY_TYPES = {
    "ClustersConfigDump.StaticCluster": ("clusters", "static_clusters"),
    "ClustersConfigDump.DynamicCluster": ("clusters", "dynamic_active_clusters"),
    "ListenersConfigDump.StaticListener": ("listeners", "static_listeners"),
    "ListenersConfigDump.DynamicListener": ("listeners", "dynamic_listeners"),
    "RoutesConfigDump.StaticRouteConfig": ("routes", "static_route_configs"),
    "RoutesConfigDump.DynamicRouteConfig": ("routes", "dynamic_route_configs"),
    "SecretsConfigDump.StaticSecret": ("secrets", "static_secrets"),
    "SecretsConfigDump.DynamicSecret": ("secrets", "dynamic_active_secrets"),
    "EndpointsConfigDump.StaticEndpointConfig": ("endpoints", "static_endpoint_configs"),
    "EndpointsConfigDump.DynamicEndpointConfig": ("endpoints", "dynamic_endpoint_configs"),
    "EcdsConfigDump.EcdsFilterConfig": ("ecds", "ecds_filters"),
}


def _entry_type(type_url: str) -> tuple[str, str] | None:
    return ENTRY_TYPES.get(".".join(type_url.rsplit(".", 2)[-2:]))


def _list_of(tp: Any) -> Any:
    """``list[tp]`` for a runtime type (equal to the annotation the accessors cache by)."""
    return list.__class_getitem__(tp)


_PLAN_DECODERS: dict[tuple[tuple[str, ...], Mode], tuple[Any, msgspec.json.Decoder[Any]]] = {}


def _plan_types(
    keys: tuple[str, ...], mode: Mode = "snake"
) -> tuple[Any, msgspec.json.Decoder[Any]]:
    """The planned section struct and the decoder of a whole dump made of them.

    ``mode`` is the key spelling of the section fields and of everything they hold
    (see :mod:`pdebug.model.camel`); attribute names are snake_case either way.
    """
    found = _PLAN_DECODERS.get((keys, mode))
    if found is None:
        fields: list[Any] = [("type_url", str, msgspec.field(default="", name="@type"))]
        fields += [
            (
                k,
                _list_of(variant(KEY_TYPES[k], mode)) | None,
                msgspec.field(default=None, name=to_camel(k) if mode == "camel" else k),
            )
            for k in keys
        ]
        # The other spelling of each field is refused (a sentinel, as in camel.variant:
        # refused at its first token, where UnsetType built the whole value first), or a
        # section in it would decode as one without these fields.
        fields += [
            (
                f"pd_sentinel__{k}",
                SENTINEL,
                msgspec.field(default=msgspec.UNSET, name=k if mode == "camel" else to_camel(k)),
            )
            for k in keys
        ]
        section = msgspec.defstruct(f"PlannedSection_{mode}", fields, gc=False)
        top = msgspec.defstruct(
            "PlannedTop",
            [
                ("configs", list[section] | None, None),  # type: ignore[valid-type]
                ("cluster_statuses", msgspec.Raw, msgspec.Raw()),
                ("clusterStatuses", msgspec.Raw, msgspec.Raw()),
                ("apiVersion", str | None, None),
                ("kind", str | None, None),
            ],
            gc=False,
        )
        found = (section, msgspec.json.Decoder(top, strict=False))
        _PLAN_DECODERS[(keys, mode)] = found
    return found


_STRICT: dict[tuple[tuple[str, ...], Mode], Any] = {}


def _strict_section(keys: tuple[str, ...], mode: Mode) -> Any:
    """The planned section struct of :func:`_plan_types` that refuses unknown members.

    Every other member a section of Envoy's has, in either spelling, is skipped by name;
    any member beyond them refuses the section (it is then read field by field, where
    its members are seen): a section read by it has no member pdebug does not know
    (``Section.members_known``; :func:`pdebug.model.sections.unread_members`). For one
    section's own bytes only: a whole document's sections include others' (Cilium's).
    """
    found = _STRICT.get((keys, mode))
    if found is None:
        from pdebug.model.sections import SECTION_MEMBERS

        lenient = _plan_types(keys, mode)[0]
        fields: list[Any] = [
            (f.name, f.type, msgspec.field(default=f.default, name=f.encode_name))
            for f in msgspec.structs.fields(lenient)
        ]
        others = sorted({m for ms in SECTION_MEMBERS.values() for m in ms} - set(keys))
        names = sorted({n for m in others for n in (m, to_camel(m))} - {to_camel(k) for k in keys})
        fields += [
            (f"pd_member__{n}", msgspec.Raw, msgspec.field(default=msgspec.Raw(), name=n))
            for n in names
        ]
        found = msgspec.defstruct(
            f"StrictSection_{mode}", fields, gc=False, forbid_unknown_fields=True
        )
        _STRICT[(keys, mode)] = found
    return found


def _plan_decoder(keys: tuple[str, ...], mode: Mode = "snake") -> msgspec.json.Decoder[Any]:
    """A decoder whose sections decode ``keys`` typed and skip everything else."""
    return _plan_types(keys, mode)[1]


#: How every section's type ends: Envoy's own (``envoy.admin.v3.ClustersConfigDump``) and
#: those an extension registers with its config tracker (Cilium's Envoy adds
#: ``cilium.NetworkPoliciesConfigDump`` between the listeners and the route scopes).
_SECTION_TYPE_END = b'ConfigDump"'
_WINDOW = 64  # how far around a section boundary the layout checks look
_TYPE_WINDOW = 192  # how far before a section type's end its opening is looked for
_WS = rb"[ \t\n\r]*"  # JSON's whitespace
_HEAD = re.compile(_WS + rb"\{" + _WS + rb'"configs"' + _WS + rb":" + _WS + rb"\[" + _WS)
_SECTION_START = re.compile(
    rb"\{" + _WS + rb'"@type"' + _WS + rb":" + _WS + rb'"(type\.googleapis\.com/[A-Za-z0-9_.]+)\Z'
)
_BETWEEN = re.compile(rb"\}" + _WS + rb"," + _WS + rb"\Z")
_TAIL = re.compile(rb"\}" + _WS + rb"\]" + _WS + rb"\}" + _WS + rb"\Z")


def _layout(data: Buffer) -> tuple[list[str], list[int], list[int]] | None:
    """The sections of a dump laid out as Envoy writes it: their types, starts and ends.

    Envoy writes ``{"configs": [`` then one object per section, each opening with its
    ``@type`` (``type.googleapis.com/envoy.admin.v3.ClustersConfigDump``, or an
    extension's, such as Cilium's ``cilium.NetworkPoliciesConfigDump``), then ``]}``.
    The sections are found with a byte search, far faster than parsing what lies
    between (see :func:`_section_starts`). ``None`` unless the layout is exactly that,
    with whole sections (not the per-entry configs a ``?resource=`` answer holds).
    """
    find: Callable[..., int]
    if isinstance(data, bytes):
        find = data.find
    elif isinstance(data, memoryview) and isinstance(data.obj, mmap.mmap):
        if len(data) != len(data.obj):
            return None
        find = data.obj.find
    else:
        return None
    size = len(data)
    head = _HEAD.match(bytes(data[:256]))
    if head is None:
        return None
    found = _section_starts(data, find)
    if found is None:
        return None
    starts, types = found
    if not starts or starts[0] != head.end():
        return None
    ends: list[int] = []
    for here, following in zip(starts, starts[1:], strict=False):
        window = bytes(data[max(following - _WINDOW, here) : following])
        between = _BETWEEN.search(window)
        if between is None:
            return None
        ends.append(following - len(window) + between.start() + 1)
    tail_from = max(size - _WINDOW, starts[-1])
    tail = _TAIL.search(bytes(data[tail_from:]))
    if tail is None:
        return None
    ends.append(tail_from + tail.start() + 1)
    if any(_entry_type(t) for t in types):
        return None  # a `?resource=` answer (one config per entry): the whole-document path
    if not any(SECTION_KINDS.get(t.rsplit(".", 1)[-1]) for t in types):
        return None  # no section pdebug reads: the whole-document path says what it is
    return types, starts, ends


def _section_starts(data: Buffer, find: Callable[..., int]) -> tuple[list[int], list[str]] | None:
    """Where each section opens, and its type; ``None`` when the layout is not clear.

    Every section is found by the end of its type, ``ConfigDump"``: Envoy names each
    message its config tracker writes so (its own ``envoy.admin.v3.ClustersConfigDump``,
    an extension's ``cilium.NetworkPoliciesConfigDump``, a future admin section), so a
    section pdebug does not read is found as any other, wherever it sits, and kept as an
    unread section. Each place that end is written is found by :func:`_type_ends` (a
    one-byte search), or by :func:`_needle_ends` when it cannot answer; the two give the
    same places. A section of a type not named so is found when the section before it
    is read (:func:`_read_sections`).
    """
    ends = _type_ends(data, find)
    if ends is None:
        ends = _needle_ends(find, 0)
    return _openings(data, ends)


#: The byte of ``_SECTION_TYPE_END`` :func:`_type_ends` searches for (``D``: rarer in a
#: dump than any other of its bytes) and where it sits in it.
_RARE = b"D"
_RARE_AT = _SECTION_TYPE_END.index(_RARE)
#: :func:`_type_ends` looks at each ``D`` in batches of this many. A batch spanning fewer
#: than ``_BATCH * _SPARSE`` bytes (a ``D`` every 400 bytes or more often; each one costs
#: about what the needle search spends on 450 bytes) hands the next ``_CHUNK`` bytes to
#: the needle search (an access log format's ``%DURATION% %BYTES_SENT%``...).
_BATCH = 256
_SPARSE = 400
_CHUNK = 1 << 20


def _type_ends(data: Buffer, find: Callable[..., int]) -> list[int] | None:
    """Where ``ConfigDump"`` is written in ``data``: what :func:`_needle_ends` finds, faster.

    The needle search visits the bytes at CPython's skip rule, about 0.5 ns a byte for
    this 11-byte needle on a pretty-printed dump (0.08-0.1 s on the 161 MB bench dump).
    This one finds each ``D`` with a one-byte search (``memchr``, ~0.08 ns a byte) and
    compares the 11 bytes around it, so it finds every place the needle is written, and
    only those. Where ``D`` comes often (a batch of ``_BATCH`` within ``_BATCH *
    _SPARSE`` bytes), the needle search takes the next ``_CHUNK`` bytes from the first
    ``D`` not yet looked at; the ``D`` search then goes on where a needle the chunk did
    not hold whole could have its ``D``, so none is missed or found twice. ``data`` is
    bytes or a view of a whole memory map (:func:`_layout`). ``None`` (never returned
    today) makes the caller run the needle search.
    """
    buf: Any = data.obj if isinstance(data, memoryview) else data
    needle = _SECTION_TYPE_END
    rare = _RARE
    back = _RARE_AT
    ahead = len(needle) - _RARE_AT
    ends: list[int] = []
    hit = find(rare, back)
    while hit >= 0:
        mark = hit
        for _ in range(_BATCH):
            if buf[hit - back : hit + ahead] == needle:
                ends.append(hit - back)
            hit = find(rare, hit + 1)
            if hit < 0:
                return ends
        if hit - mark < _BATCH * _SPARSE:
            stop = hit - back + _CHUNK
            found = find(needle, hit - back, stop)
            while found >= 0:
                ends.append(found)
                found = find(needle, found + 1, stop)
            hit = find(rare, stop - ahead + 1)
    return ends


def _needle_ends(find: Callable[..., int], start: int) -> list[int]:
    """Where ``ConfigDump"`` is written from ``start`` on (the plain needle search)."""
    ends: list[int] = []
    hit = find(_SECTION_TYPE_END, start)
    while hit >= 0:
        ends.append(hit)
        hit = find(_SECTION_TYPE_END, hit + 1)
    return ends


def _openings(data: Buffer, ends: list[int]) -> tuple[list[int], list[str]] | None:
    """The sections whose types end at ``ends``: where each opens, and its type.

    ``None`` when one of them is not a section's opening ``{"@type": "type.googleapis...``.
    """
    starts: list[int] = []
    types: list[str] = []
    for hit in ends:
        window = bytes(data[max(hit - _TYPE_WINDOW, 0) : hit])
        opening = _SECTION_START.search(window)
        if opening is None:
            return None
        starts.append(hit - len(window) + opening.start())
        types.append((opening.group(1) + b"ConfigDump").decode("ascii"))
    return starts, types


class _SlicedConfigs(list[Any]):
    """The configs :func:`_sliced_configs` decoded, with the layout it found them in.

    ``light``: index -> the light decode of a section whose table asked for one
    (:func:`light_tables`); its planned lists are left to the full decode, on first use.
    """

    def __init__(self, layout: tuple[list[str], list[int], list[int]]) -> None:
        super().__init__()
        self.layout = layout
        self.light: dict[int, Any] = {}


#: The section kinds whose table the running command builds from a light decode
#: (:mod:`pdebug.model.light`), set around its load by :func:`light_tables`.
_LIGHT: ContextVar[frozenset[str]] = ContextVar("pdebug_light_tables", default=frozenset())
#: The clusters table's rows of a list of light clusters, when the load may make them
#: itself (:func:`pdebug.model.light.split_rows`), set by :func:`light_tables`.
_ROWS: ContextVar[Callable[[list[Any]], list[Any]] | None] = ContextVar(
    "pdebug_light_rows", default=None
)


@contextmanager
def light_tables(
    *kinds: str, rows: Callable[[list[Any]], list[Any]] | None = None
) -> Iterator[None]:
    """Within: a planned load decodes the sections of ``kinds`` light, when it can.

    Only ``clusters`` has a light decode. It is used when the plan holds every list
    of the section (the light decode checks them all) and the dump is in Envoy's
    layout; anything it does not take is decoded fully, there and then, as without
    this (the same errors, warnings and fallbacks).

    ``rows`` (the clusters table's rows of a list of light clusters): a big clusters
    section may then be decoded in two halves at once, each made into rows where it was
    decoded (:func:`pdebug.model.light.split_rows`); the section's cache then holds the
    rows (``light.ROWS_KEY``), and any other reader decodes it fully on first use.
    """
    token = _LIGHT.set(frozenset(kinds))
    made = _ROWS.set(rows)
    try:
        yield
    finally:
        _ROWS.reset(made)
        _LIGHT.reset(token)


def _light(keys: tuple[str, ...]) -> frozenset[str]:
    """The kinds of ``_LIGHT`` whose every list is planned in ``keys``."""
    wanted = _LIGHT.get()
    if "clusters" in wanted and set(KIND_KEYS["clusters"]) <= set(keys):
        return frozenset({"clusters"})
    return frozenset()


def _sliced_configs(data: Buffer, keys: tuple[str, ...]) -> list[Any] | None:
    """The planned sections of a dump laid out as Envoy writes it, each decoded alone.

    The sections are found by :func:`_layout`, and only the sections owning ``keys`` are
    decoded, from their own bytes (the clusters view of a 160 MB dump reads 76 MB of
    it). The others are listed by their type only: their fields are read on first use,
    as with a full scan.

    Returns ``None`` (decode the whole document instead) unless the layout is exactly
    that and each needed section decodes as one JSON object. A damaged document gets
    its error from the whole-document decode; damage inside a section the view does
    not read goes unnoticed, as it does when a live proxy is asked for some sections.
    """
    layout = _layout(data)
    if layout is None:
        return None
    types, starts, ends = layout
    if not _keeps_raw(keys):
        _release_pages(data)  # the search read every page; the decode needs a few
    section_type, _ = _plan_types(keys)
    view = memoryview(data) if isinstance(data, bytes) else data  # slices without copies
    wanted = {KEY_KINDS[k] for k in keys}
    light = _light(keys)
    configs = _SlicedConfigs(layout)
    for type_url, start, stop in zip(types, starts, ends, strict=True):
        kind = SECTION_KINDS.get(type_url.rsplit(".", 1)[-1], "")
        if kind not in wanted:
            configs.append(section_type(type_url=type_url))
            continue
        if kind in light:
            from pdebug.model.light import SplitRows, decode_clusters, split_rows

            rows_of = _ROWS.get()
            made = None if rows_of is None else split_rows(data, start, stop, type_url, rows_of)
            if made is not None:  # the table's rows, made from two halves at once
                configs.light[len(configs)] = SplitRows(made)
                configs.append(section_type(type_url=type_url))
                continue
            found = decode_clusters(view[start:stop], type_url)
            if found is not None:  # else the full decode below, as without a light table
                configs.light[len(configs)] = found
                configs.append(section_type(type_url=type_url))
                continue
        try:
            section = _decode_section(keys, view[start:stop])
        except msgspec.ValidationError:  # mixed spellings, or a wrong type: read it lazily
            raise _Refused from None
        except msgspec.DecodeError:  # the whole decode says why
            return None
        if section.type_url != type_url:
            return None
        configs.append(section)
    return configs


_SECTION_DECODERS: dict[tuple[tuple[str, ...], Mode], msgspec.json.Decoder[Any]] = {}


def _section_decoder(keys: tuple[str, ...], mode: Mode = "snake") -> msgspec.json.Decoder[Any]:
    dec = _SECTION_DECODERS.get((keys, mode))
    if dec is None:
        dec = msgspec.json.Decoder(_strict_section(keys, mode), strict=False)
        _SECTION_DECODERS[(keys, mode)] = dec
    return dec


def _decode_section(keys: tuple[str, ...], raw: Buffer) -> Any:
    """One planned section, typed, in the spelling it is written in.

    Envoy writes snake_case, istiod and istioctl lowerCamelCase: each decoder refuses,
    at C speed, a key of the other spelling, so the second try costs only when the
    first one was wrong. A section that mixes them raises the camel decoder's
    :class:`msgspec.ValidationError` (it is then read field by field, lazily).
    """
    try:
        return _section_decoder(keys).decode(raw)
    except msgspec.ValidationError:
        pass
    return _section_decoder(keys, "camel").decode(raw)


def _planned_dump(
    configs: list[Any], keys: tuple[str, ...], data: Buffer, source: str
) -> ConfigDump:
    sections = []
    light: dict[int, Any] = getattr(configs, "light", {})
    for index, planned in enumerate(configs):
        kind = SECTION_KINDS.get(planned.type_url.rsplit(".", 1)[-1], "")
        sec = Section(planned.type_url, kind, {}, index)
        sections.append(sec)
        if index in light:
            # The table reads the light lists; any other reader decodes the section's
            # lists fully from its bytes on first use (Section.fast). The warming list
            # was decoded with its full type: it is the full decode's.
            from pdebug.model.light import CLUSTERS_KEY, ROWS_KEY, SplitRows

            if isinstance(light[index], SplitRows):
                sec._cache[ROWS_KEY] = light[index].rows
                sec.members_known = True  # both parts refuse members Envoy does not write
                continue
            sec._cache[CLUSTERS_KEY] = light[index]
            sec.members_known = True  # the light decode refuses members Envoy does not write
            warming = "dynamic_warming_clusters"
            sec._cache[(warming, _list_of(KEY_TYPES[warming]))] = light[
                index
            ].dynamic_warming_clusters
            continue
        for key in keys:
            value = getattr(planned, key)
            if value is not None:
                sec._cache[(key, _list_of(KEY_TYPES[key]))] = value
            elif kind == KEY_KINDS[key]:
                # Absent (or null) in this section in both spellings (the planned
                # decoders refuse the other one): read as an empty list, as a field
                # read would, without scanning the whole document to find that out.
                sec._cache[(key, _list_of(KEY_TYPES[key]))] = []
        sec.planned = frozenset(key for key in keys if KEY_KINDS[key] == kind)
        # decoded from its own bytes by the strict section decoder (_strict_section)
        sec.members_known = isinstance(configs, _SlicedConfigs) and bool(sec.planned)
    _require_known(sections, source)
    dump = ConfigDump(sections, source)
    if isinstance(configs, _SlicedConfigs):
        # Envoy's layout: anything else is read from each section's own bytes, as
        # without a plan (`clusters -o wide` reads the EDS section, not all 161 MB).
        _read_sections(dump, configs.layout, data, source)
        return dump

    def complete() -> None:
        """Read every section's remaining fields (one more scan), once."""
        top = _decode_top(_TOP, data, source)
        for sec, fields in zip(dump.sections, top.configs or [], strict=False):
            fields.pop("@type", None)
            sec.fields = fields
            sec.complete = None
            if _mapped(data):
                sec.release = lambda: _release_pages(data)
        if _mapped(data):
            _release_pages(data)

    for sec in sections:
        sec.complete = complete
    return dump


#: The list-valued fields of each section kind, decoded together on first use.
KIND_KEYS: dict[str, tuple[str, ...]] = {
    kind: tuple(k for k in KEY_TYPES if KEY_KINDS[k] == kind) for kind in set(KEY_KINDS.values())
}
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw], strict=False)


def _sliced_dump(data: Buffer, source: str) -> ConfigDump | None:
    """A dump laid out as Envoy writes it, each section read from its own bytes on use.

    Without a plan nothing is decoded up front: the sections are found by
    :func:`_layout` (a byte search), and a section is decoded the first time one of its
    fields is read. Its resource lists (``dynamic_active_clusters``...) are then decoded
    typed, together, in one pass over the section (where the whole-document scan read
    each byte twice: once to split the document, once to decode the field); its other
    fields are split on demand. Anything unusual (mixed spellings, a wrong type, bytes
    that are not JSON) falls back to the field-by-field reading, and damage reports
    the whole document's error, as before. ``None`` for any other layout.
    """
    layout = _layout(data)
    if layout is None:
        return None
    types = layout[0]
    sections = [
        Section(t, SECTION_KINDS.get(t.rsplit(".", 1)[-1], ""), {}, i) for i, t in enumerate(types)
    ]
    _require_known(sections, source)
    dump = ConfigDump(sections, source)
    if _mapped(data):
        _release_pages(data)  # the search read every page; each section maps its own again
    _read_sections(dump, layout, data, source)
    return dump


def _read_sections(
    dump: ConfigDump, layout: tuple[list[str], list[int], list[int]], data: Buffer, source: str
) -> None:
    """Let each section of ``dump`` (found at ``layout``) read its fields from its own bytes."""
    types, starts, ends = layout
    sections = dump.sections
    view = memoryview(data) if isinstance(data, bytes) else data
    release = (lambda: _release_pages(data)) if _mapped(data) else None

    def whole() -> None:
        """The whole document's fields for every section (or its error), once."""
        top = _decode_top(_TOP, data, source)
        configs = top.configs or []
        found = [_type_url(c.get("@type")) for c in configs]
        extra = found != types
        # the sections the layout found; after them, any a view assumed empty (absent
        # from the document: ConfigDump.assume_empty)
        present = dump.sections[: len(types)]
        if extra:
            # A section whose type does not end in ``ConfigDump`` was read by the layout
            # search as part of the one before it: it joins the sections, unread, where
            # it is in the dump (each section's bytes may now hold another's: not used).
            assumed = dump.sections[len(types) :]
            present = _adopt(present, dump.warn, configs, found, source)
            dump.sections[:] = present + assumed
            for index, sec in enumerate(dump.sections):
                sec.index = index
        for sec, fields in zip(present, configs, strict=True):
            fields.pop("@type", None)
            if sec.complete is not None:
                sec.fields = fields
            sec.complete = sec.fast = None
            if extra:
                sec.text = None

    buf: Any = data.obj if isinstance(data, memoryview) else data
    for sec, start, stop in zip(sections, starts, ends, strict=True):
        sec.release = release
        sec.text = view[start:stop]
        sec.complete, sec.fast = _section_readers(sec, sec.text, whole)
        sec.hides = _hides(buf, start, stop)


#: The bytes before a ``configs[]`` entry's ``"@type"``: the end of the entry before it.
#: (Compiled on first use, by re's cache: few dumps reach it.)
_OPENS = rb"\}" + _WS + rb"," + _WS + rb"\{" + _WS + rb"\Z"
_SPACE = b" \t\n\r"
#: How many bytes :func:`_hides` looks at before letting a memory map's pages go.
_SCAN_CHUNK = 1 << 23


def _hides(buf: Any, start: int, stop: int) -> Callable[[], bool]:
    """Whether the section at ``buf[start:stop]`` may end with another entry (see below).

    The layout search finds sections by the ``ConfigDump"`` end of their types; an entry
    of another type is read as part of the section before it. When that section is
    read, its bytes are not one JSON object and the whole document tells (``_adopt``);
    a section the command does not read is searched here instead: an entry opens with
    ``}, {"@type"`` at the section's own depth. Each ``"@type"`` in the section is
    found by its ``@`` (a one-byte search); in a pretty-printed section one indented
    deeper than the section's own is a typed config, and is passed at once. True means
    "maybe" (a list of typed configs written on one line looks the same): reading the
    section's members then tells. About 0.1 ns a byte; a memory map's pages are let go
    as the search passes (peak memory is not the sections the command did not read).
    """

    def hides() -> bool:
        head = bytes(buf[start : start + _TYPE_WINDOW])
        at = head.find(b'"@type"')
        if at < 0:
            return False
        lead = head[1:at]
        line = lead.rfind(b"\n")
        indent = lead[line + 1 :] if line >= 0 else None
        # a typed config's "@type", one level deeper than the section's own members
        deeper = b"\n" if indent is None else indent + (indent[:1] or b" ")
        deeper += b'"@type"'
        back = len(deeper) - 6  # from the "@" to the start of ``deeper``
        find = buf.find
        mapped = isinstance(buf, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED")
        low = start + at + 1
        while low < stop:
            high = min(stop, low + _SCAN_CHUNK)
            hit = find(b"@", low, high)
            while hit >= 0:
                if (
                    buf[hit - back : hit + 6] != deeper
                    and buf[hit - 1 : hit + 6] == b'"@type"'
                    and _opens(bytes(buf[max(start, hit - 1 - _WINDOW) : hit - 1]))
                ):
                    return True
                hit = find(b"@", hit + 1, high)
            if mapped:
                page = low - low % mmap.PAGESIZE
                buf.madvise(mmap.MADV_DONTNEED, page, high - page)
            low = high
        return False

    return hides


def _opens(before: bytes) -> bool:
    """Whether ``before`` (the bytes before a ``"@type"``) ends as an entry's opening."""
    rest = before.rstrip(_SPACE)
    if not rest.endswith(b"{") or not rest[:-1].rstrip(_SPACE).endswith(b","):
        return False
    return re.search(_OPENS, before) is not None


def _adopt(
    sections: list[Section],
    warn: Callable[[str], None],
    configs: list[dict[str, msgspec.Raw]],
    found: list[str],
    source: str,
) -> list[Section]:
    """``sections`` (the layout's) with the sections of ``configs`` (types ``found``) it missed.

    The sections the layout found must be, in order, among ``configs``; else the
    document's sections could not be told apart (an error, never a guess).
    """
    known = iter(sections)
    want = next(known, None)
    merged: list[Section] = []
    for index, type_url in enumerate(found):
        if want is not None and want.type_url == type_url:
            merged.append(want)
            want = next(known, None)
            continue
        sec = Section(type_url, SECTION_KINDS.get(type_url.rsplit(".", 1)[-1], ""), {}, index)
        sec.complete = lambda: None  # its fields are set by the caller, from configs
        sec.warn, sec.where = warn, source
        merged.append(sec)
    if want is not None:
        raise InvalidInput(
            f"{source}: the dump's sections could not be told apart",
            hint="the file is damaged or was edited by hand; capture the dump again",
        )
    return merged


def _section_readers(
    sec: Section, raw: Buffer, whole: Callable[[], None]
) -> tuple[Callable[[], None], Callable[[str, Any], bool] | None]:
    """``complete`` (split the section's fields) and ``fast`` (its lists, typed)."""

    def complete() -> None:
        try:
            fields = _FIELDS.decode(raw)
        except DECODE_FAILURES:
            whole()
            return
        if _type_url(fields.pop("@type", None)) != sec.type_url:
            whole()
            return
        sec.fields = fields
        sec.complete = None

    keys = KIND_KEYS.get(sec.kind)
    if not keys:
        return complete, None

    def fast(key: str, tp: Any) -> bool:
        if key not in keys or tp != _list_of(KEY_TYPES[key]):
            return False
        sec.fast = None  # tried once, whatever happens
        try:
            planned = _decode_section(keys, raw)
        except DECODE_FAILURES:  # read field by field: skipped resources, or the error
            return False
        if planned.type_url != sec.type_url:
            return False
        for k in keys:
            value = getattr(planned, k)
            # A list a plan decoded already stays the one its readers hold.
            sec._cache.setdefault((k, _list_of(KEY_TYPES[k])), [] if value is None else value)
        sec.planned = frozenset(keys)
        sec.members_known = True  # the strict section decoder read it (_strict_section)
        if sec.release is not None:
            sec.release()
        return True

    return complete, fast


def _require_known(sections: list[Section], source: str) -> None:
    if not any(sec.kind for sec in sections):
        from pdebug.model.refusals import istiod_ztunnel_given, istiod_ztunnel_view

        if istiod_ztunnel_view([sec.type_url or "" for sec in sections]):
            raise istiod_ztunnel_given(source)
        found = ", ".join(sorted({sec.type_url or "(no @type)" for sec in sections})) or "none"
        raise InvalidInput(
            f"{source}: the dump has no section pdebug knows (found: {found})",
            hint="expected envoy.admin.v3.*ConfigDump sections from GET /config_dump",
        )


def _entry_bytes(fields: dict[str, msgspec.Raw]) -> bytes:
    parts = [msgspec.json.encode(k) + b":" + bytes(v) for k, v in fields.items()]
    return b"{" + b",".join(parts) + b"}"


def _type_url(raw: msgspec.Raw | None) -> str:
    """A section's ``@type``; one that is not a string is no type pdebug knows."""
    if raw is None:
        return ""
    try:
        return _STR.decode(raw)
    except DECODE_FAILURES:
        return ""


def _dump(configs: list[dict[str, msgspec.Raw]], source: str) -> ConfigDump:
    sections: list[Section] = []
    grouped: dict[tuple[str, str], list[bytes]] = {}
    for index, fields in enumerate(configs):
        raw_type = fields.pop("@type", None)
        type_url = _type_url(raw_type)
        entry = _entry_type(type_url)
        if entry is not None:
            grouped.setdefault(entry, []).append(_entry_bytes(fields))
            continue
        kind = SECTION_KINDS.get(type_url.rsplit(".", 1)[-1], "")
        sections.append(Section(type_url, kind, fields, index))
    for (kind, key), items in grouped.items():
        fields = {key: msgspec.Raw(b"[" + b",".join(items) + b"]")}
        sec = next((x for x in sections if x.kind == kind and key not in x.fields), None)
        if sec is None:
            sec = Section(KIND_TYPE_URL[kind], kind, {}, len(sections))
            sections.append(sec)
        sec.fields.update(fields)
    _require_known(sections, source)
    return ConfigDump(sections, source)
