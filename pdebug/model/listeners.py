"""Facts: listeners. Their states from one walk, their filter chains and network filters.

One module over 500 lines because it is one resource's facts: the walk over the entries'
states (which diff reads too, undecoded), the records built from it, and the filter chains
and network filters every consumer reads from those records; cut apart, each piece would
import the others.

**States.** A ``ListenersConfigDump`` lists each dynamic listener once, in
``dynamic_listeners[]``, with up to four states: ``active_state`` (serving),
``warming_state`` (received, waiting for RDS/SDS/ECDS), ``draining_state`` (replaced,
finishing its connections) and ``error_state`` (Envoy rejected the last update; the
config it refused is in ``failed_configuration``). Two quirks:

* Envoy writes a rejected update twice: in the listener's named entry and again in a
  name-less, error-only entry. Both are one rejection: the name-less *twin* is dropped
  (:attr:`ListenerFacts.rejections`), one resource, one row, one finding.
* A v2alpha dump (Envoy <= 1.14) lists dynamic listeners per state instead
  (``dynamic_active_listeners`` ...); :func:`pdebug.model.dump.fold_v2alpha` folds them
  into v3 entries (typed for :meth:`ConfigDump.dynamic_listeners`, undecoded for
  ``diff``), so the walk here sees one shape.

Which states an entry holds is said once, by :func:`walk`, over typed or undecoded
entries. :class:`ListenerFacts` walks the typed entries once
(:attr:`~ListenerFacts.dynamic`) and derives what views (``listeners``), checks (PD1xx),
the report and ``trace`` read: :attr:`~ListenerFacts.configs` (every listener config
Envoy holds, by state) and :attr:`~ListenerFacts.rejections`. ``diff`` walks the same
entries undecoded (:class:`RawDynamicListener`), as it compares each listener's bytes.

**Filters.** A network filter is an HTTP connection manager or a tcp_proxy when its
name says so (today's, or Envoy <= 1.14's ``envoy.http_connection_manager``), else by
its ``@type`` (:func:`network_kind`). :func:`decode_filter` reads its config from
``typed_config`` or from a v2 ``config`` Struct.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
import msgspec.inspect

from pdebug.errors import InvalidInput
from pdebug.model import schema as s
from pdebug.model.camel import spellings
from pdebug.model.dump import decode_raw

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump, Entries, Ref

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
#: Envoy <= 1.14 names of the same filters (v2, usually with a ``config`` Struct).
LEGACY_NAMES = {
    "envoy.http_connection_manager": HCM,
    "envoy.tcp_proxy": TCP_PROXY,
}
_HCM_TYPE = b".HttpConnectionManager"
_TCP_TYPE = b".TcpProxy"

#: The dynamic states of a listener, in the order they are read and shown.
STATES = ("ACTIVE", "WARMING", "DRAINING")
#: The ``dynamic_listeners[]`` field of each state in :data:`STATES`.
STATE_KEYS = ("active_state", "warming_state", "draining_state")

T = TypeVar("T")
E = TypeVar("E")


# --- filters ----------------------------------------------------------------------------


def filter_config(f: s.TypedExtension) -> msgspec.Raw:
    """A filter's config: ``typed_config``, else the v2 ``config`` Struct (Envoy <= 1.14)."""
    raw = f.typed_config
    if len(raw) and bytes(raw) != b"null":
        return raw
    return f.config


#: HTTP filters that call a service of their own, by their type URL's tail.
_SERVICE_FILTERS = (
    b".ext_authz.v3.ExtAuthz",
    b".ext_proc.v3.ExternalProcessor",
    b".jwt_authn.v3.JwtAuthentication",
)


#: The wrappers of a config written as JSON: Envoy reads ``value`` as the message
#: ``type_url`` names (and dumps it so: the wrapper, its ``value`` in snake_case).
_TYPED_STRUCTS = ("udpa.type.v1.TypedStruct", "xds.type.v3.TypedStruct")


def unwrap_typed_struct(doc: Any) -> Any:
    """The message a ``TypedStruct`` wraps, with its ``type_url`` as ``@type``; else ``doc``.

    Istio's own EnvoyFilters wrap filters so (``istio.stats``, metadata exchange).
    """
    if not isinstance(doc, dict):
        return doc
    kind = doc.get("@type")
    if not isinstance(kind, str) or kind.rsplit("/", 1)[-1] not in _TYPED_STRUCTS:
        return doc
    url = doc.get("type_url", doc.get("typeUrl"))
    value = doc.get("value", {})
    if not isinstance(url, str) or not isinstance(value, dict):
        return doc
    return {**value, "@type": url}


def unwrapped_config(f: s.TypedExtension) -> msgspec.Raw:
    """:func:`filter_config`, or the message a ``TypedStruct`` there wraps.

    The message is :func:`unwrap_typed_struct`'s, its ``@type`` first (where readers
    look for it). Envoy runs a wrapped filter as the filter ``type_url`` names (Envoy 1.40:
    tests/test_trace13.py); ``check`` and ``trace`` read it so. A wrapper that cannot
    be read is returned as it is, for its reader to refuse.
    """
    raw = filter_config(f)
    head = memoryview(raw)[:300].tobytes()
    if b"TypedStruct" not in head:
        return raw
    from pdebug.model.dump import plain_json

    try:
        wrapper = plain_json(raw, "a TypedStruct")
    except InvalidInput:
        return raw
    doc = unwrap_typed_struct(wrapper)
    if doc is wrapper or not isinstance(doc, dict) or "TypedStruct" in str(doc.get("@type", "")):
        return raw  # not a wrapper (a TypedStruct deeper in), or one not read
    first = {"@type": doc["@type"], **{k: v for k, v in doc.items() if k != "@type"}}
    return msgspec.Raw(msgspec.json.encode(first))


def service_clusters(f: s.TypedExtension) -> list[str]:
    """The clusters an HTTP filter calls on its own.

    An ext_authz's or ext_proc's gRPC (``envoy_grpc``) or HTTP service (ext_authz's
    ``http_service.server_uri``; ext_proc's ``http_service.http_service.http_uri``), a
    jwt_authn provider's remote JWKS; a filter written in a ``TypedStruct`` too (whose
    ``type_url`` Envoy writes right after its ``@type``).
    """
    from pdebug.model.camel import to_camel

    raw = bytes(filter_config(f))
    if not any(tail in raw[:300] for tail in _SERVICE_FILTERS):
        return []
    try:
        doc = unwrap_typed_struct(msgspec.json.decode(raw))
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return []

    def get(node: Any, *path: str) -> Any:
        for name in path:
            if not isinstance(node, dict):
                return None
            node = node[name] if name in node else node.get(to_camel(name))
        return node

    found = [get(doc, "grpc_service", "envoy_grpc", "cluster_name")]
    found.append(get(doc, "http_service", "server_uri", "cluster"))
    found.append(get(doc, "http_service", "http_service", "http_uri", "cluster"))
    providers = get(doc, "providers")
    for provider in providers.values() if isinstance(providers, dict) else []:
        found.append(get(provider, "remote_jwks", "http_uri", "cluster"))
    return list(dict.fromkeys(c for c in found if isinstance(c, str) and c))


def network_kind(f: s.TypedExtension, by_type: bool = True) -> str:
    """:data:`HCM`, :data:`TCP_PROXY` or ``""``: by current or legacy name, else ``@type``.

    ``@type`` is looked for at the head of ``typed_config``, where Envoy and istiod
    write it (the ``type_url`` of a ``TypedStruct`` there); ``by_type=False`` recognises
    names only (istioctl's DESTINATION rule).
    """
    if f.name in (HCM, TCP_PROXY):
        return f.name
    legacy = LEGACY_NAMES.get(f.name)
    if legacy is not None:
        return legacy
    if by_type:
        head = memoryview(unwrapped_config(f))[:200].tobytes()
        if b"@type" in head:
            if _HCM_TYPE + b'"' in head:
                return HCM
            if _TCP_TYPE + b'"' in head:
                return TCP_PROXY
    return ""


def is_sni_cluster(f: s.TypedExtension) -> bool:
    """Whether ``f`` is Envoy's SNI cluster filter (``envoy.filters.network.sni_cluster``).

    It names the connection's upstream cluster by the TLS SNI for the tcp_proxy after it
    (the filter state ``envoy.tcp_proxy.cluster``, which overrides tcp_proxy's own
    cluster); without an SNI the tcp_proxy's own cluster stays. Consul's mesh and
    terminating gateways route by it, with a tcp_proxy whose ``cluster`` is empty.
    """
    if f.name.endswith(".sni_cluster"):
        return True
    head = memoryview(filter_config(f))[:200].tobytes()
    return b"@type" in head and b'.SniCluster"' in head


ON_DEMAND = "envoy.filters.http.on_demand"


def tcp_on_demand(tcp: s.TcpProxy) -> bool:
    """Whether the tcp_proxy discovers its cluster on demand (``on_demand``, ODCDS)."""
    return len(tcp.on_demand) > 0 and bytes(tcp.on_demand) != b"null"


def http_on_demand(hcm: s.HttpConnectionManager, any_config: bool = False) -> bool:
    """Whether the connection manager's on_demand filter discovers clusters (``odcds``).

    ``any_config``: whether it has the filter at all (a route's own config can turn
    discovery on: :func:`route_on_demand`).
    """
    has, discovers = on_demand_filter(hcm)
    return has if any_config else discovers


def on_demand_filter(hcm: s.HttpConnectionManager) -> tuple[bool, bool]:
    """Whether the connection manager has the on_demand filter, and whether it discovers.

    The second: one of its on_demand filters discovers clusters (``odcds``). Both of
    :func:`http_on_demand`'s answers in one pass over the HTTP filters.
    """
    has = False
    for f in hcm.http_filters:
        raw = bytes(filter_config(f))
        if f.name == ON_DEMAND or b"filters.http.on_demand." in raw[:200]:
            has = True
            if b'"odcds"' in raw:
                return True, True
    return has, False


def route_on_demand(*configs: dict[str, msgspec.Raw]) -> bool:
    """Whether a route's (or its virtual host's) on_demand config discovers clusters."""
    for per_filter in configs:
        for name, raw in per_filter.items():
            data = bytes(raw)
            if (
                name == ON_DEMAND or b"filters.http.on_demand." in data[:200]
            ) and b'"odcds"' in data:
                return True
    return False


def api_listener_filter(listener: s.Listener) -> s.TypedExtension | None:
    """A listener's ``api_listener`` as the one network filter it is, or ``None``.

    That filter is its connection manager: a proxyless gRPC client's listeners, as istiod
    sends them, have an address (the service's) but no filter chain; the application
    itself routes a call to ``xds:///NAME`` with it.
    """
    api = listener.api_listener
    if api is None or bytes(api.api_listener).strip() in (b"", b"null"):
        return None
    return s.TypedExtension(name=HCM, typed_config=api.api_listener)


def decode_filter(f: s.TypedExtension, tp: type[T], camel: bool, what: str) -> T:
    """Decode a filter's config as ``tp``: ``typed_config``, else its v2 ``config``.

    A v2 ``config`` is a Struct holding the config as it was written (a bootstrap's
    YAML): Envoy took a single object where the proto has a list
    (``http_filters: {name: envoy.router}``), so such a value is read as a one-item list.
    """
    raw = filter_config(f)
    if bytes(raw).strip() in (b"", b"null"):
        return tp()  # a filter named without any config (istioctl's 2020 test dump has one)
    if raw is f.typed_config:
        # a TypedStruct there is the message its type_url names (Envoy 1.40 runs a wrapped
        # connection manager so: tests/test_review14.py)
        return decode_raw(unwrapped_config(f), tp, camel, what)
    try:
        return decode_raw(raw, tp, camel, what)
    except InvalidInput:
        fixed = _as_lists(msgspec.inspect.type_info(tp), msgspec.json.decode(raw), camel)
        return decode_raw(msgspec.Raw(msgspec.json.encode(fixed)), tp, camel, what)


def _as_lists(info: Any, value: Any, camel: bool) -> Any:
    """``value`` with each single object the schema wants as a list wrapped in one."""
    mi = msgspec.inspect
    if isinstance(info, mi.UnionType):
        for sub in info.types:
            if isinstance(sub, mi.StructType | mi.ListType):
                return _as_lists(sub, value, camel)
        return value
    if isinstance(info, mi.ListType):
        items = value if isinstance(value, list) else [value]
        return [_as_lists(info.item_type, v, camel) for v in items]
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        out = dict(value)
        for fld in info.fields:
            for key in dict.fromkeys((fld.encode_name, *spellings(fld.name))):
                if key in out:
                    out[key] = _as_lists(fld.type, out[key], camel)
        return out
    return value


def chains(listener: s.Listener) -> list[s.FilterChain]:
    """Filter chains in order, then the default chain."""
    out = list(listener.filter_chains)
    if listener.default_filter_chain is not None:
        out.append(listener.default_filter_chain)
    return out


# --- states -----------------------------------------------------------------------------


class RawDynamicListener(msgspec.Struct, gc=False):
    """One ``dynamic_listeners[]`` entry with its states undecoded (empty Raw: absent).

    What ``diff`` walks: it compares each listener's bytes, so nothing in them is decoded
    (decode the list with :func:`pdebug.model.dump.decode_items`, either spelling).
    """

    name: str = ""
    active_state: msgspec.Raw = msgspec.Raw()
    warming_state: msgspec.Raw = msgspec.Raw()
    draining_state: msgspec.Raw = msgspec.Raw()
    error_state: msgspec.Raw = msgspec.Raw()


_NULL = b"null"


def _held(value: Any) -> bool:
    """Whether an entry holds a state: typed, not None; undecoded (Raw), not empty, not null.

    ``"active_state": null`` is the state left out, as protojson reads a null message
    field (unset) and as the typed decoder reads it (None): every consumer (the tables,
    checks, trace, report and diff) sees the entry without that state. Envoy never
    writes a null state; a dump that does was edited or made by another tool.
    """
    if value is None:
        return False
    if type(value) is not msgspec.Raw:
        return True
    n = len(value)
    return n > 0 and (n != 4 or bytes(value) != _NULL)


class Walked(Generic[E]):
    """One ``dynamic_listeners[]`` entry as :func:`walk` saw it.

    Attributes:
        index: Its place among the entries walked.
        entry: The entry (:class:`~pdebug.model.schema.DynamicListener`, or a
            :class:`RawDynamicListener`).
        states: ``(label, state)`` for each state it holds, in :data:`STATES` order.
        error: Whether it holds an ``error_state`` (a rejected update).
    """

    __slots__ = ("entry", "error", "index", "states")

    def __init__(self, index: int, entry: E, states: tuple[tuple[str, Any], ...], error: bool):
        self.index = index
        self.entry = entry
        self.states = states
        self.error = error


def walk(entries: Iterable[E]) -> Iterator[Walked[E]]:
    """The one walk over ``dynamic_listeners[]`` entries: which states each holds.

    The rule of states is here only: an entry holds each of ``active_state``,
    ``warming_state`` and ``draining_state`` that it has, read in :data:`STATES` order,
    and maybe an ``error_state``; a ``null`` state is one it does not have (:func:`_held`).
    Entries may be typed (the model: views, checks, trace,
    report, through :class:`ListenerFacts`) or undecoded (:class:`RawDynamicListener`:
    ``diff``, which compares bytes); the walk decodes nothing. What each consumer makes
    of the states is its own choice: :class:`ListenerFacts` keeps every state, ``diff``
    compares the first state that is not draining (a draining-only entry is dropped) and
    drops a name-less entry whose name an earlier entry holds.
    """
    raw = msgspec.Raw
    null = raw(_NULL)
    for index, entry in enumerate(entries):
        e: Any = entry  # typed or undecoded: both have these fields
        states: list[tuple[str, Any]] = []
        # :func:`_held` inlined, in STATES order (the views and diff walk every entry)
        st = e.active_state
        if st is not None and (type(st) is not raw or (len(st) and st != null)):
            states.append(("ACTIVE", st))
        st = e.warming_state
        if st is not None and (type(st) is not raw or (len(st) and st != null)):
            states.append(("WARMING", st))
        st = e.draining_state
        if st is not None and (type(st) is not raw or (len(st) and st != null)):
            states.append(("DRAINING", st))
        yield Walked(index, entry, tuple(states), _held(e.error_state))


class ListenerRecord:
    """One listener config Envoy holds (not a rejected one), in one state.

    Attributes:
        name: The listener name.
        state: ``ACTIVE``, ``WARMING``, ``DRAINING`` or ``STATIC``.
        listener: The typed config.
        camel: Whether the dump spells keys lowerCamelCase.
        version: ``version_info`` of that state.
        since: ``last_updated`` of that state.
        serving: Whether another state of the same listener is active (for warming).
        first: Whether this is the first state (in :data:`STATES` order) its entry holds
            a config for: one record per listener, the one that decides where it binds.
        ref: Where the config sits in the dump.
    """

    # Plain classes, not dataclasses, here: ``listeners`` and ``trace`` import this
    # module at start, and each dataclass costs a millisecond to create.
    __slots__ = (
        "camel",
        "first",
        "listener",
        "name",
        "ref",
        "serving",
        "since",
        "state",
        "version",
    )

    def __init__(
        self,
        name: str,
        state: str,
        listener: s.Listener,
        camel: bool,
        version: str,
        since: str,
        serving: bool,
        first: bool,
        ref: Ref,
    ) -> None:
        self.name = name
        self.state = state
        self.listener = listener
        self.camel = camel
        self.version = version
        self.since = since
        self.serving = serving
        self.first = first
        self.ref = ref


class DynamicEntry:
    """One ``dynamic_listeners[]`` entry, its states read once."""

    __slots__ = (
        "_decoded",
        "_failed",
        "camel",
        "entries",
        "entry",
        "held",
        "index",
        "labels",
        "shown",
    )

    def __init__(
        self,
        entries: Entries[s.DynamicListener],
        walked: Walked[s.DynamicListener],
        camel: bool,
    ) -> None:
        self.entries = entries
        self.index = walked.index
        self.entry = walked.entry
        self.camel = camel
        #: ``(label, state)`` of the states present, in :data:`STATES` order (:func:`walk`).
        self.held: tuple[tuple[str, s.ListenerState], ...] = walked.states
        #: The states present, in :data:`STATES` order.
        self.labels = tuple([label for label, _ in walked.states])
        #: The first state present (its listener may be missing).
        self.shown: s.ListenerState | None = walked.states[0][1] if walked.states else None
        self._failed: s.Listener | None = None
        self._decoded = False

    def states(self) -> tuple[s.ListenerState | None, ...]:
        """``(active, warming, draining)`` states, None where absent."""
        e = self.entry
        return (e.active_state, e.warming_state, e.draining_state)

    @property
    def state_text(self) -> str:
        """``ACTIVE``, ``ACTIVE,WARMING``, ``WARMING,ERROR``... (the STATE column)."""
        if self.entry.error_state is not None:
            return ",".join((*self.labels, "ERROR"))
        return ",".join(self.labels)

    def failed(self) -> s.Listener | None:
        """The config Envoy refused (``error_state.failed_configuration``), or None.

        Raises:
            InvalidInput: the refused config does not decode.
        """
        if not self._decoded:
            err = self.entry.error_state
            raw = err.failed_configuration if err is not None else None
            if raw is not None and len(raw) and bytes(raw) != b"null":
                self._failed = decode_raw(raw, s.Listener, self.camel, "rejected listener")
            self._decoded = True
        return self._failed

    def ref(self, *path: str) -> Ref:
        """Where ``path`` of this entry sits in the dump."""
        return self.entries.ref(self.index, *path)

    def state_ref(self, st: s.ListenerState) -> Ref:
        """Where the listener of state ``st`` (one of :meth:`states`) sits."""
        e = self.entry
        key = (
            "active_state"
            if st is e.active_state
            else "warming_state"
            if st is e.warming_state
            else "draining_state"
        )
        return self.ref(key, "listener")


class Rejection:
    """A listener update Envoy rejected (its ``error_state``), once per listener.

    Attributes:
        name: The listener's name (the entry's, else the refused config's).
        entry: The dynamic entry holding it.
        error: The ``error_state``.
    """

    __slots__ = ("entry", "error", "name")

    def __init__(self, name: str, entry: DynamicEntry, error: s.UpdateFailureState) -> None:
        self.name = name
        self.entry = entry
        self.error = error

    @property
    def serving(self) -> bool:
        """Whether an earlier version of the listener is active (still serves)."""
        return self.entry.entry.active_state is not None

    @property
    def ever_ran(self) -> bool:
        """Whether the listener has any state besides the error (active, warming...)."""
        return bool(self.entry.labels)


class ListenerFacts:
    """The listeners of one dump, walked once; each derived list is built on first use."""

    def __init__(self, dump: ConfigDump) -> None:
        self.dump = dump
        sec = dump.section("listeners")
        self.present = sec is not None
        self.camel = sec is not None and sec.camel

    @cached_property
    def dynamic(self) -> list[DynamicEntry]:
        """Every ``dynamic_listeners[]`` entry (v2alpha ones folded in), in dump order."""
        if not self.present:
            return []
        entries = self.dump.dynamic_listeners()
        return [DynamicEntry(entries, w, self.camel) for w in walk(entries.items)]

    @cached_property
    def static(self) -> Entries[s.StaticListener]:
        """``static_listeners[]``."""
        return self.dump.static_listeners()

    @cached_property
    def _named_rejected(self) -> set[str]:
        return {e.entry.name for e in self.dynamic if e.entry.name and e.entry.error_state}

    def is_twin(self, e: DynamicEntry) -> bool:
        """Whether ``e`` is the name-less copy of a rejection a named entry holds."""
        if e.entry.name or e.entry.error_state is None:
            return False
        failed = e.failed()
        return failed is not None and failed.name in self._named_rejected

    @cached_property
    def configs(self) -> list[ListenerRecord]:
        """Every listener config Envoy holds: dynamic (any state but error), then static."""
        if not self.present:
            return []
        out: list[ListenerRecord] = []
        for e in self.dynamic:
            dyn = e.entry
            active = dyn.active_state is not None and dyn.active_state.listener is not None
            first = True
            for label, st in e.held:
                if st.listener is None:
                    continue
                out.append(
                    ListenerRecord(
                        dyn.name or st.listener.name,
                        label,
                        st.listener,
                        self.camel,
                        st.version_info,
                        st.last_updated,
                        active and label != "ACTIVE",
                        first,
                        e.state_ref(st),
                    )
                )
                first = False
        static = self.static
        for i, stat in enumerate(static.items):
            if stat.listener is not None:
                lst = stat.listener
                out.append(
                    ListenerRecord(
                        lst.name,
                        "STATIC",
                        lst,
                        self.camel,
                        "",
                        stat.last_updated,
                        True,
                        True,
                        static.ref(i, "listener"),
                    )
                )
        return out

    @cached_property
    def rejections(self) -> list[Rejection]:
        """Each rejected update once (twins dropped), in dump order.

        Raises:
            InvalidInput: a name-less entry's refused config does not decode.
        """
        out: list[Rejection] = []
        for e in self.dynamic:
            err = e.entry.error_state
            if err is None or self.is_twin(e):
                continue
            name = e.entry.name
            if not name:
                failed = e.failed()
                name = failed.name if failed is not None else ""
            out.append(Rejection(name, e, err))
        return out


#: How the listener's matcher inputs read in a MATCH cell.
_INPUT_LABELS = {
    "DestinationPortInput": "port",
    "DestinationIPInput": "dst",
    "SourceIPInput": "src",
    "SourcePortInput": "src port",
    "DirectSourceIPInput": "direct src",
    "SourceTypeInput": "source type",
    "ServerNameInput": "SNI",
    "TransportProtocolInput": "transport",
    "ApplicationProtocolInput": "ALPN",
    "FilterStateInput": "filter state",
}
_MAX_CONDITIONS = 3


def _get(obj: Any, snake: str) -> Any:
    """A field of untyped JSON in either spelling (``exact_match_map``/``exactMatchMap``)."""
    if not isinstance(obj, dict):
        return None
    if snake in obj:
        return obj[snake]
    head, *rest = snake.split("_")
    return obj.get(head + "".join(p.title() for p in rest))


class _Unreadable(Exception):
    """A matcher field of the wrong type (a damaged dump): the matcher is not read."""


def _mapping(value: Any) -> dict[str, Any]:
    """``value``, an object or absent; a wrong type makes the matcher unreadable."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Unreadable
    return value


def _sequence(value: Any) -> list[Any]:
    """``value``, a list or absent; a wrong type makes the matcher unreadable."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unreadable
    return value


def matcher_chain_conditions(listener: s.Listener) -> dict[str, str] | None:
    """Each filter chain's condition in the listener's ``filter_chain_matcher``.

    ``{chain name: "port=8080 | SNI=a.example"}``: the paths of the matcher tree that
    lead to the chain (``else``: an ``on_no_match``). None: the listener has no matcher
    (or one pdebug cannot read); a chain the matcher never names is absent.
    """
    raw = bytes(listener.filter_chain_matcher)
    if not raw or raw == b"null":
        return None
    try:
        tree = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):  # bytes kept raw, never checked
        return None
    found: dict[str, list[str]] = {}
    try:
        _walk_matcher(tree, [], found, 0)
    except _Unreadable:  # a wrong type inside: no conditions rather than some of them
        return None
    out = {}
    for chain, paths in found.items():
        shown = paths[:_MAX_CONDITIONS]
        more = len(paths) - len(shown)
        out[chain] = " | ".join(shown) + (f" | +{more} more" if more else "")
    return out


def _walk_matcher(m: Any, conds: list[str], found: dict[str, list[str]], depth: int) -> None:
    if depth > 32 or not isinstance(m, dict):
        return
    tree = _get(m, "matcher_tree")
    other = "else"
    if isinstance(tree, dict):
        config = _get(_get(tree, "input"), "typed_config")
        kind = str(_get(config, "@type") or "").rsplit(".", 1)[-1]
        label = _INPUT_LABELS.get(kind, kind or "input")
        if kind == "FilterStateInput":
            label = f"filter state {_get(config, 'key')}"
        other = f"other {label}"
        for key, on_match in _mapping(_get(_get(tree, "exact_match_map"), "map")).items():
            _walk_on_match(on_match, [*conds, f"{label}={key}"], found, depth)
        for key, on_match in _mapping(_get(_get(tree, "prefix_match_map"), "map")).items():
            _walk_on_match(on_match, [*conds, f"{label}={key}*"], found, depth)
        custom = _get(_get(tree, "custom_match"), "typed_config")
        for rm in _sequence(_get(custom, "range_matchers")):
            ranges = ",".join(
                f"{_get(r, 'address_prefix')}/{_get(r, 'prefix_len') or 0}"
                for r in _sequence(_get(rm, "ranges"))
            )
            _walk_on_match(_get(rm, "on_match"), [*conds, f"{label} in {ranges}"], found, depth)
    for i, fm in enumerate(_sequence(_get(_get(m, "matcher_list"), "matchers"))):
        _walk_on_match(_get(fm, "on_match"), [*conds, f"matcher #{i}"], found, depth)
    no_match = _get(m, "on_no_match")
    if isinstance(no_match, dict):
        _walk_on_match(no_match, [*conds, other], found, depth)


def _walk_on_match(om: Any, conds: list[str], found: dict[str, list[str]], depth: int) -> None:
    if not isinstance(om, dict):
        return
    nested = _get(om, "matcher")
    if isinstance(nested, dict):
        _walk_matcher(nested, conds, found, depth + 1)
        return
    action = _get(om, "action")
    value = _get(_get(action, "typed_config"), "value")
    name = value if isinstance(value, str) else _get(action, "name")
    if isinstance(name, str):
        found.setdefault(name, []).append(" & ".join(conds))


class LdsWait:
    """A proxy whose bootstrap asks LDS while only its static listeners exist.

    Attributes:
        static: How many static listeners it has.
        version: The version LDS answered with (no listener in it), or None: nothing yet.
        timeout: The bootstrap's ``lds_config.initial_fetch_timeout`` as written, or None
            (Envoy's default, 15s).
    """

    __slots__ = ("static", "timeout", "version")

    def __init__(self, static: int, version: str | None, timeout: str | None) -> None:
        self.static = static
        self.version = version
        self.timeout = timeout

    @property
    def forever(self) -> bool:
        """Whether the timeout is zero: Envoy waits for LDS's first answer for ever."""
        return self.timeout is not None and self.timeout.rstrip("s").strip("0.") == ""

    def waiting(self) -> str:
        """What Envoy does while LDS has not answered, for check's hint and trace's note.

        Checked against Envoy 1.40: with CDS and LDS unanswered it stays PRE_INITIALIZING,
        then INITIALIZING, and refuses connections on its static listeners; past each
        initial_fetch_timeout it goes LIVE and the static listeners serve
        (tests/test_sweep30.py).
        """
        if self.forever:
            after = "its lds_config's initial_fetch_timeout is 0s, so it waits for ever"
        else:
            timeout = f"{self.timeout} in its lds_config" if self.timeout else "15s by default"
            listed = "listener" if self.static == 1 else "listeners"
            after = (
                f"past its initial_fetch_timeout ({timeout}) it stops waiting and starts the "
                f"static {listed} alone"
            )
        return (
            "while Envoy waits for LDS's first answer it starts no listener, not even the "
            "static ones (connections refused; GET /ready says PRE_INITIALIZING or "
            f"INITIALIZING); {after}"
        )


def lds_wait(dump: ConfigDump) -> LdsWait | None:
    """The :class:`LdsWait` of ``dump``, or None (no LDS asked, or a dynamic listener came).

    Needs the bootstrap and listeners sections; None when either is missing.
    """
    if not (dump.has("bootstrap") and dump.has("listeners")):
        return None
    resources = dump.bootstrap().get("dynamic_resources") or {}
    if not isinstance(resources, dict) or not (
        "lds_config" in resources or "lds_resources_locator" in resources
    ):
        return None
    if dump.dynamic_listeners().items:
        return None
    static = dump.static_listeners().items
    if not static:
        return None
    sec = dump.section("listeners")
    version = sec.generic("version_info") if sec is not None else None
    lds = resources.get("lds_config")
    wait = lds.get("initial_fetch_timeout") if isinstance(lds, dict) else None
    return LdsWait(
        len(static),
        str(version) if version else None,
        wait if isinstance(wait, str) else None,
    )
