"""Compare two views of one proxy's config: istiod (or a file, or another dump) vs Envoy.

istioctl prints a wall of unified JSON diff; pdebug names the resources and the fields
that differ, and when Envoy rejected an update, why. Resources are keyed by name (order
never matters), ``version_info``/``last_updated`` are ignored, v2 type URLs and
lowerCamelCase keys are normalised, and values that only differ by a proto3 default
(absent vs 0/false/""/[]/{}) are equal.

Scale: a resource whose bytes are identical on both sides is equal without decoding;
one whose bytes differ is compared by its digest (:func:`_digest`: the decoded resource,
compact, keys respelled and sorted, all at C speed), so a re-indented or respelled copy
is equal without building it in Python; only resources whose digests differ are
normalised in Python and, if still different, handed to DeepDiff.

One module over 500 lines because it is one comparison: collecting the resources of
both sides, normalising them (type URLs, key spelling, proto3 defaults) and comparing
them share the same keying and the same notion of "equal", and cutting it would make
each half guess the other's rules.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import orjson

from pdebug.errors import InvalidInput
from pdebug.model.camel import METADATA_FIELDS, metadata_field, snake_keys, to_snake
from pdebug.model.dump import (
    ConfigDump,
    Section,
    decode_items,
    decode_raw,
    fold_v2alpha,
    plain_json,
)
from pdebug.model.listeners import RawDynamicListener, Walked, walk
from pdebug.model.sections import none_when_absent
from pdebug.model.sections import unread as unread_sections

#: The kinds a diff can compare; the first three are istioctl's and always compared.
KINDS = ("clusters", "listeners", "routes", "secrets", "endpoints")
DEFAULT_KINDS = ("clusters", "listeners", "routes")
TITLES = {
    "clusters": "Clusters",
    "listeners": "Listeners",
    "routes": "Routes",
    "secrets": "Secrets",
    "endpoints": "Endpoints",
    # ztunnel (ambient) dumps: pdebug.diff_ztunnel
    "workloads": "Workloads",
    "services": "Services",
    "policies": "Policies",
    "certificates": "Certificates",
}


class _Named(msgspec.Struct, gc=False):
    name: str = ""
    cluster_name: str = ""


class _Entry(msgspec.Struct, gc=False):
    """Any admin dump entry; the resource itself stays undecoded.

    Decoded by :func:`pdebug.model.dump.decode_items`: each field in either spelling.
    """

    name: str = ""
    cluster: msgspec.Raw = msgspec.Raw()
    listener: msgspec.Raw = msgspec.Raw()
    route_config: msgspec.Raw = msgspec.Raw()
    endpoint_config: msgspec.Raw = msgspec.Raw()
    secret: msgspec.Raw = msgspec.Raw()


class _State(msgspec.Struct, gc=False):
    listener: msgspec.Raw = msgspec.Raw()
    last_updated: str = ""


class _Error(msgspec.Struct, gc=False):
    details: str = ""
    failed_configuration: msgspec.Raw = msgspec.Raw()
    last_update_attempt: str = ""


@dataclass
class Resource:
    """One named resource of one side: its undecoded bytes and where it came from."""

    name: str
    raw: msgspec.Raw
    camel: bool = False  # unused: spellings are normalised per field
    state: str = "active"  # listeners: active / warming / error
    error: str = ""
    error_at: str = ""
    where: str = ""  # the input, for error messages

    def plain(self) -> Any:
        """The resource as normalised plain data (snake_case, v3 types, no defaults).

        Keys are respelled whatever the section looked like: dumps exist whose section
        keys are snake_case around camelCase resources (istioctl's own test data).
        """
        value = normalise(snake_keys(plain_json(self.raw, f"{self.where}{self.name}")))
        if isinstance(value, dict):
            # The resource's own type is its kind: v2alpha dumps leave it out.
            value.pop("@type", None)
        if isinstance(value, dict) and isinstance(value.get("virtual_hosts"), list):
            # istioctl sorts a route config's virtual hosts by name before comparing
            value["virtual_hosts"] = sorted(
                value["virtual_hosts"],
                key=lambda vh: str(vh.get("name", "")) if isinstance(vh, dict) else "",
            )
        return value


@dataclass
class FieldChange:
    """One field that differs: a dotted path and both values (``None`` = absent)."""

    path: str
    left: Any
    right: Any
    #: "" (a value that differs), or "moved": an item of the list at ``path`` moved
    #: from index ``left`` to ``right`` (:mod:`pdebug.diff_lists`).
    kind: str = ""
    item: str = ""  # moved: what the item is ("route", "HTTP filter")
    what: str = ""  # moved: which one (its name, else what identifies it)
    by: str = ""  # moved: what ``what`` is: "name", a field ("match"), "" (the item itself)
    why: str = ""  # moved: whether the order matters to Envoy


@dataclass
class Change:
    """A resource that differs, or exists on one side only."""

    name: str
    status: str  # changed | only-left | only-right
    fields: list[FieldChange] = field(default_factory=list)
    note: str = ""


@dataclass
class KindReport:
    """The comparison of one kind of resource."""

    kind: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: int = 0
    suffix: str = ""
    #: Why this kind was not compared (one side has no such section), else "".
    not_compared: str = ""
    #: Resources were named by :func:`collect` with ``exact`` (one has two ``name`` keys).
    exact_names: bool = False

    @property
    def match(self) -> bool:
        """Whether the two sides agree on this kind (never when it was not compared)."""
        return not self.changes and not self.not_compared

    @property
    def verdict(self) -> str:
        """The istioctl verdict line, e.g. ``Routes Match (RDS last loaded at ...)``."""
        if self.not_compared:
            return f"{title(self.kind)} Not Compared ({self.not_compared})"
        verdict = "Match" if self.match else "Don't Match"
        return f"{title(self.kind)} {verdict}{self.suffix}"


def title(kind: str) -> str:
    """How a kind is named in a verdict: ``Clusters``; an unread section by its type."""
    found = TITLES.get(kind)
    if found is not None:
        return found
    from pdebug.model.sections import printable, short_type

    return f"Section {printable(short_type(kind))}"


@dataclass
class DiffReport:
    """The whole comparison."""

    left: str
    right: str
    kinds: list[KindReport]

    @property
    def same(self) -> bool:
        """Whether every compared kind matches."""
        return all(k.match for k in self.kinds)


# --- normalisation ------------------------------------------------------------------

_V2_TYPES = [
    (
        re.compile(r"^(type\.googleapis\.com/)envoy\.api\.v2\.Cluster$"),
        r"\1envoy.config.cluster.v3.Cluster",
    ),
    (
        re.compile(r"^(type\.googleapis\.com/)envoy\.api\.v2\.Listener$"),
        r"\1envoy.config.listener.v3.Listener",
    ),
    (
        re.compile(r"^(type\.googleapis\.com/)envoy\.api\.v2\.RouteConfiguration$"),
        r"\1envoy.config.route.v3.RouteConfiguration",
    ),
    (
        re.compile(r"^(type\.googleapis\.com/)envoy\.api\.v2\.ClusterLoadAssignment$"),
        r"\1envoy.config.endpoint.v3.ClusterLoadAssignment",
    ),
    (
        re.compile(r"^(type\.googleapis\.com/)envoy\.api\.v2\.auth\.(\w+)$"),
        r"\1envoy.extensions.transport_sockets.tls.v3.\2",
    ),
    (
        re.compile(
            r"^(type\.googleapis\.com/)envoy\.api\.v2\.(core|route|listener|cluster|endpoint)\.(\w+)$"
        ),
        r"\1envoy.config.\2.v3.\3",
    ),
    (
        re.compile(
            r"^(type\.googleapis\.com/)envoy\.config\.filter\.(network|http|listener)\.(\w+)\.v2\w*\.(\w+)$"
        ),
        r"\1envoy.extensions.filters.\2.\3.v3.\4",
    ),
]


def normalise_type_url(url: str) -> str:
    """Map an Envoy v2 type URL to its v3 name; other URLs are returned unchanged."""
    if ".v2" not in url:
        return url
    for pattern, repl in _V2_TYPES:
        new, n = pattern.subn(repl, url)
        if n:
            return new
    return url


#: Zero values of common Envoy enums, by field name: proto3 JSON omits them, while
#: istiod's or a hand-written config may spell them out.
ENUM_ZERO = {
    "lb_policy": "ROUND_ROBIN",
    "dns_lookup_family": "AUTO",
    "codec_type": "AUTO",
    "traffic_direction": "UNSPECIFIED",
    "protocol": "TCP",
    "health_status": "UNKNOWN",
    "forward_client_cert_details": "SANITIZE",
    "server_header_transformation": "OVERWRITE",
    "headers_with_underscores_action": "ALLOW",
    "drain_type": "DEFAULT",
    "source_type": "ANY",
    "transport_api_version": "AUTO",
    "resource_api_version": "AUTO",
    "priority": "DEFAULT",
}


def _is_default(value: Any, key: str = "") -> bool:
    """proto3 leaves defaults out; a present default equals an absent field."""
    if key in ENUM_ZERO and value == ENUM_ZERO[key]:
        return True
    if value is None or value is False:
        return True
    if type(value) in (int, float):
        return bool(value == 0)
    return value in ("", [], {})


_DURATION = re.compile(r"^(-?\d+)(?:\.(\d{1,9}))?s$")


def _duration(text: str) -> str:
    """``0.250s`` and ``0.25s`` are one protobuf Duration: print it one way."""
    m = _DURATION.match(text)
    if m is None:
        return text
    frac = (m.group(2) or "").rstrip("0")
    return f"{m.group(1)}.{frac}s" if frac else f"{m.group(1)}s"


def normalise(value: Any) -> Any:
    """Drop proto3 defaults and volatile fields; map v2 type URLs to v3; one Duration form."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("version_info", "last_updated"):
                continue
            if key == "@type" and isinstance(item, str):
                out[key] = normalise_type_url(item)
                continue
            item = normalise(item)
            if not _is_default(item, key):
                out[key] = item
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and value.endswith("s") and value[:1].isdigit():
        return _duration(value)
    return value


# --- collecting each side's resources ----------------------------------------------


#: A resource whose first field is a plain ``name`` (Envoy and istiod write it first).
_FIRST_NAME = re.compile(
    rb'\A\s*\{\s*(?:"@type"\s*:\s*"[^"\\]*"\s*,\s*)?"name"\s*:\s*"([^"\\\x00-\x1f]+)"\s*[,}]'
)


def _name_of(raw: msgspec.Raw, exact: bool = False) -> str:
    """The resource's name; unless ``exact``, its first ``name`` key when that leads.

    JSON decoders (and so every view) keep the LAST of duplicate keys: :func:`compare`
    asks again with ``exact`` when a name it would print may be a first of two.
    """
    first = None if exact else _FIRST_NAME.match(raw)  # without decoding the whole resource
    if first is not None:
        try:
            return first.group(1).decode()
        except UnicodeDecodeError:
            pass
    try:
        named = decode_raw(raw, _Named, what="resource")
    except InvalidInput:
        return ""
    return named.name or named.cluster_name


def _bound_at(raw: msgspec.Raw) -> str:
    """A name for a static listener that has none (Envoy's own examples): where it binds.

    Keyed by name, every name-less listener would be one resource: the others dropped.
    """
    from pdebug.model import schema as s
    from pdebug.model.address import bind_host, port_of

    try:
        lst = decode_raw(raw, s.Listener, what="listener")
    except InvalidInput:
        return ""
    return f"(unnamed) {bind_host(lst.address)}:{port_of(lst.address)}"


#: Sections where Envoy lists each name once (static route configs and old Envoys'
#: secrets repeat names legitimately: one per listener or subscription).
_UNIQUE = frozenset(
    {"dynamic_active_clusters", "static_clusters", "dynamic_listeners", "static_listeners"}
    | {"dynamic_route_configs"}
)


def collect(
    dump: ConfigDump, kind: str, include_static: bool = False, exact: bool = False
) -> dict[str, Resource]:
    """The named resources of ``kind`` that a diff compares, keyed by name.

    ``exact``: name each resource by its last ``name`` key even when it has two (slower).
    """
    out: dict[str, Resource] = {}
    section_kind = kind
    sec = dump.section(section_kind)
    if sec is None:
        return out
    sec.say_placeholders()  # a hand-cut paste: what was cut is in no comparison either
    keys = {
        "clusters": ["dynamic_active_clusters"] + (["static_clusters"] if include_static else []),
        "listeners": ["dynamic_listeners"] + (["static_listeners"] if include_static else []),
        "routes": ["dynamic_route_configs"] + (["static_route_configs"] if include_static else []),
        "secrets": ["dynamic_active_secrets"] + (["static_secrets"] if include_static else []),
        "endpoints": ["dynamic_endpoint_configs"]
        + (["static_endpoint_configs"] if include_static else []),
    }[kind]
    if kind == "listeners" and sec.raw("dynamic_listeners") is None:
        out.update(_v2alpha_listeners(dump, sec, exact))
    twins: set[str] = set()  # names only a name-less rejection holds so far
    nameless = 0
    for key in keys:
        raw = sec.raw(key)
        if raw is None:
            continue
        here: set[str] = set()
        dynamic = kind == "listeners" and key == "dynamic_listeners"
        for entry in _entries(dynamic, raw, f"{dump.source}: {key}", dump.warn):
            try:
                if dynamic:
                    res = _dynamic_listener(entry, sec, exact)
                else:
                    res = _resource(kind, key, entry, sec, exact)
            except InvalidInput as exc:
                dump.warn(f"{exc.message}; skipped")
                continue
            if res is not None:
                if not res.name and not dynamic:
                    # Consul's endpoint configs carry no cluster_name: keyed alike, all
                    # but the last would go uncompared; in their order they are compared
                    nameless += 1
                    res.name = f"(unnamed #{nameless})"
                twin = dynamic and not entry.entry.name
                if twin and res.name in out:
                    continue  # the name-less twin of a rejection a named entry holds
                if key in _UNIQUE and res.name in here and res.name not in twins:
                    dump.warn(
                        f"{dump.source}: {key}: {kind[:-1]} {res.name!r} appears more than once;"
                        " the last one is compared"
                    )
                here.add(res.name)
                if twin:
                    twins.add(res.name)
                else:
                    twins.discard(res.name)
                res.where = f"{dump.source}: {key} "
                out[res.name] = res
    if nameless > 1:
        dump.warn(
            f"{dump.source}: {nameless} {kind} without a name: compared in their order,"
            f" as (unnamed #1) to (unnamed #{nameless})"
        )
    return out


def _entries(
    dynamic: bool, raw: msgspec.Raw, what: str, warn: Callable[[str], None]
) -> Iterable[Any]:
    """A section field's entries (``_Entry``); ``dynamic`` listeners: the model's walk.

    ``Any``: :func:`collect` calls :func:`_dynamic_listener` on a
    ``Walked[RawDynamicListener]`` and :func:`_resource` on an ``_Entry``, by ``dynamic``.
    """
    if dynamic:
        return walk(decode_items(raw, RawDynamicListener, what, warn))
    return decode_items(raw, _Entry, what, warn)


def _v2alpha_listeners(dump: ConfigDump, sec: Section, exact: bool = False) -> dict[str, Resource]:
    """Envoy <= 1.14 lists dynamic listeners per state: the model's fold, then its walk.

    Each folded entry holds one state; a listener in two states is compared in the one
    a v3 entry would show (:func:`_dynamic_listener`: active, else warming; draining is
    dropped), the last of a name in one state list.
    """
    out: dict[str, Resource] = {}
    folded, _ = fold_v2alpha(sec, dump.source, msgspec.Raw, _raw_entry)
    for walked in walk(folded):
        try:
            res = _dynamic_listener(walked, sec, exact)
        except InvalidInput as exc:
            dump.warn(f"{exc.message}; skipped")
            continue
        if res is None or not len(res.raw):
            continue
        prev = out.get(res.name)
        if prev is None or prev.state == res.state:
            out[res.name] = res
    return out


def _raw_entry(_: msgspec.Raw) -> RawDynamicListener:
    return RawDynamicListener()


def _resource(
    kind: str, key: str, entry: _Entry, sec: Section, exact: bool = False
) -> Resource | None:
    if kind == "clusters":
        body = entry.cluster
    elif kind == "routes":
        body = entry.route_config
    elif kind == "endpoints":
        body = entry.endpoint_config
    elif kind == "secrets":
        body = entry.secret
        if not len(body):
            return None
        return Resource(entry.name or _name_of(body, exact), body, sec.camel)
    else:
        return _listener(key, entry, sec, exact)
    if not len(body):
        return None
    return Resource(_name_of(body, exact), body, sec.camel)


def _listener(key: str, entry: _Entry, sec: Section, exact: bool = False) -> Resource | None:
    """A static listener (dynamic ones: :func:`_dynamic_listener`)."""
    if not len(entry.listener):
        return None
    name = _name_of(entry.listener, exact) or _bound_at(entry.listener)
    return Resource(name, entry.listener, sec.camel)


def _dynamic_listener(
    walked: Walked[RawDynamicListener], sec: Section, exact: bool = False
) -> Resource | None:
    """The listener of one ``dynamic_listeners[]`` entry, from the model's :func:`walk`.

    diff's choice: one resource per entry, the first state that is not draining (active,
    else warming), marked ``error`` when the entry holds a rejection. A draining-only
    entry is dropped: its listener is being replaced (the views still show it).
    """
    entry = walked.entry
    err = (
        decode_raw(entry.error_state, _Error, what=f"listener {entry.name} error_state")
        if walked.error
        else None
    )
    # STATES order puts draining last: the first state is it only when it is the one
    first = walked.states[0] if walked.states else ("DRAINING", None)
    shown = first[1] if first[0] != "DRAINING" else None
    if shown is None:
        # A name-less error-only entry: Envoy's twin of a named rejection (the caller keeps
        # the named one), or the only trace of a rejected listener, named by its config.
        name = entry.name or (
            _name_of(err.failed_configuration, exact)
            if err is not None and len(err.failed_configuration)
            else ""
        )
        if err is None or not name:
            return None
        return Resource(
            name,
            msgspec.Raw(b"null"),
            sec.camel,
            "error",
            err.details,
            err.last_update_attempt,
        )
    state = decode_raw(shown, _State, what=f"listener {entry.name}")
    res = Resource(
        entry.name or _name_of(state.listener, exact),
        state.listener,
        sec.camel,
        "active" if first[0] == "ACTIVE" else "warming",
    )
    if err is not None:
        res.state = "error"
        res.error = err.details
        res.error_at = err.last_update_attempt
    return res


def _reason(details: str) -> str:
    """Envoy's rejection details as one line, as ``check`` PD101 quotes them."""
    from pdebug.checks.listeners import envoy_reason  # only when a rejection is shown

    return envoy_reason(details) if details else "no details"


# --- the meaning of a resource, at C speed --------------------------------------------
#
# Two sides rarely spell a resource byte for byte alike: Envoy pretty-prints, istiod
# writes lowerCamelCase, jq and editors re-indent. :func:`_digest` is the resource as
# compact JSON with its keys sorted and every field name respelled the way the full
# comparison respells it (``snake_keys``: protobuf's json_name rule, read backwards),
# for one Python call per distinct name. Equal digests mean equal normalised resources;
# unequal digests (or None) go to the full comparison, which also drops proto3 defaults.
#
# Why equal digests are enough: a name is respelled to ``to_snake(name)``, only when
# ``to_snake`` leaves that result alone, and never where ``snake_keys`` keeps names as
# they are (metadata and label maps): a digest that would respell a name there is None.

#: A field name ``to_snake`` changes, as a key of compact JSON: after ``{`` or ``,``
#: nothing but a key starts with a quote (a quote inside a string is escaped).
_HUMP = r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+|consecutive5xx"
#: The same names, matched without backtracking (the classes are disjoint and neither
#: holds the closing quote, so the greedy split is the only one): ~40% less time.
_HUMP_FAST = r"[a-z][a-z0-9]*+(?:[A-Z][a-z0-9]*+)++|consecutive5xx"
_HUMP_KEY = re.compile(rb'"(?<=[{,]")(%s)":' % _HUMP_FAST.encode())
_HUMP_NAME = re.compile(_HUMP.encode())
#: Keys of maps ``snake_keys`` keeps whole, in either spelling.
_VERBATIM = frozenset(
    {b"filter_metadata", b"filterMetadata", b"labels", b"key_values", b"keyValues"}
    | {b"fields", b"annotations"}
)
#: Every key under which ``snake_keys`` keeps some names (see :mod:`pdebug.model.camel`).
_OPENER_NAMES = (
    rb"filter_?[mM]etadata|typed_?[fF]ilter_?[mM]etadata|labels|key_?[vV]alues"
    rb"|typed_?[eE]xtension_?[pP]rotocol_?[oO]ptions|typed_?[pP]er_?[fF]ilter_?[cC]onfig"
    rb"|fields|annotations|metadata"
)
_OPENER = re.compile(rb'"(%s)":' % _OPENER_NAMES)
#: The keys :data:`_HUMP_KEY` finds, and the openers' keys, in one pass.
_HUMP_OR_OPENER_KEY = re.compile(rb'"(?<=[{,]")(%s|%s)":' % (_HUMP_FAST.encode(), _OPENER_NAMES))


def _spellings(pattern: bytes) -> list[bytes]:
    """Every name an alternative of :data:`_OPENER_NAMES` matches (``_?``, ``[xX]``)."""
    choices = [
        (b"_", b"") if tok == b"_?" else (tok[1:2], tok[2:3]) if tok[:1] == b"[" else (tok,)
        for tok in re.findall(rb"_\?|\[..\]|[^_\[]+|_", pattern)
    ]
    return [b"".join(picked) for picked in itertools.product(*choices)]


#: Every name :data:`_OPENER` finds.
_IS_OPENER = frozenset(n for alt in _OPENER_NAMES.split(b"|") for n in _spellings(alt))
#: The names ``snake_keys`` respells directly inside a ``metadata`` object.
_METADATA_FIELDS = frozenset(name.encode() for name in METADATA_FIELDS)
#: Up to the next bracket outside a string.
_SKIP = re.compile(rb'[^"{}\[\]]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"{}\[\]]*)*')
#: name -> its respelled key (quoted, with the colon), or None: not safe to respell.
_RESPELL: dict[bytes, bytes | None] = {}


def _respelled(name: bytes) -> bytes | None:
    snake = to_snake(name.decode())
    return f'"{snake}":'.encode() if to_snake(snake) == snake else None


_STR = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'


def _balanced(depth: int) -> bytes:
    """A regex for a JSON object or array nested at most ``depth`` deep (compact, valid)."""
    atom = rb'[^"{}\[\]]++|' + _STR
    value = rb"[{\[](?:" + atom + rb")*+[}\]]"
    for _ in range(depth):
        value = rb"[{\[](?:" + atom + rb"|" + value + rb")*+[}\]]"
    return value


#: A value under an opener key, 16 levels deep at most (deeper: not shortcut).
_CONTAINER = re.compile(_balanced(16))
#: One member of a compact object: its name, and its whole value.
_MEMBER = re.compile(
    rb"[{,](" + _STR + rb'):(?:[^"{}\[\],]++|' + _STR + rb"|" + _balanced(15) + rb")"
)


def _kept_names_safe(c: bytes, openers: list[tuple[int, bytes]] | None = None) -> bool:
    """Whether no name the digest respells sits where ``snake_keys`` keeps names.

    ``c`` is compact JSON (:func:`_compact`); the names the digest respells are its
    keys that :data:`_HUMP_KEY` finds. ``openers``: every opener key of ``c``, where
    it ends and its name (:func:`_openers`), when known; else ``c`` is searched.
    """
    at = i = 0
    while True:
        if openers is None:
            m = _OPENER.search(c, at)
            if m is None:
                return True
            start, name = m.end(), m.group(1)
        else:
            while i < len(openers) and openers[i][0] < at:
                i += 1  # inside a map already looked at
            if i == len(openers):
                return True
            start, name = openers[i]
            i += 1
        at = start
        if c[start : start + 1] not in (b"{", b"["):
            continue  # a scalar holds no names
        value = _CONTAINER.match(c, start)
        if value is None:
            return False  # nested too deep to tell
        end = value.end()
        if _HUMP_KEY.search(c, start, end) is None:
            at = end  # the openers nested in it hold no such name either
            continue
        # A list under such a key is kept as it is (or read as metadata): all of it.
        if name in _VERBATIM or c[start] == 0x5B:
            return False
        if name == b"metadata":
            done = _metadata_safe(c, start, end)
            if done is None:
                return False
            if done:
                at = end  # every name in it was looked at
            continue
        # A map whose own names are kept (the values' names are respelled): the same
        # map (Istio repeats its protocol options in every cluster) is looked at once.
        own = c[start:end]
        safe = _OWN_NAMES_SAFE.get(own)
        if safe is None:
            safe = _own_names_safe(own)
            if end - start <= _OWN_MAX:
                if len(_OWN_NAMES_SAFE) >= 4096:
                    _OWN_NAMES_SAFE.clear()
                _OWN_NAMES_SAFE[own] = safe
        if not safe:
            return False


#: Own names of a ``metadata`` object whose value ``snake_keys`` keeps whole.
_FILTER_METADATA = frozenset({b"filterMetadata", b"filter_metadata"})
#: name -> whether ``metadata_field`` says it is a field of a ``metadata`` message.
_METADATA_FIELD: dict[bytes, bool] = {}


def _metadata_safe(c: bytes, start: int, end: int) -> bool | None:
    """Whether no respelled name sits inside a Struct entry of the ``metadata`` map at ``start``.

    A Struct entry (node metadata: ``LABELS``, ``PROXY_CONFIG``...) is kept whole by
    ``snake_keys``: no name in it is respelled, so the digest must not respell one either.
    None: one does. True: every name in the map was looked at (its entries, and
    ``filter_metadata`` maps, hold none); False: the openers inside are still to look at.
    """
    pos = start
    done = True
    while pos < end - 1:
        member = _MEMBER.match(c, pos, end)
        if member is None:
            return None
        key = member.group(1)[1:-1]
        field = _METADATA_FIELD.get(key)
        if field is None:
            try:
                field = metadata_field(key.decode())
            except UnicodeDecodeError:
                field = False
            if len(_METADATA_FIELD) < 4096:
                _METADATA_FIELD[key] = field
        if not field:
            if _HUMP_KEY.search(c, member.start(), member.end()) is not None:
                return None
        elif key in _FILTER_METADATA:
            if _HUMP_KEY.search(c, member.start(1) + len(key) + 3, member.end()) is not None:
                return None
        else:
            done = False
        pos = member.end()
    return done


#: a map under an opener -> whether none of its own names is one the digest respells
#: (maps up to :data:`_OWN_MAX` bytes, 4096 of them at most: 32 MiB).
_OWN_NAMES_SAFE: dict[bytes, bool] = {}
_OWN_MAX = 8192


def _own_names_safe(value: bytes) -> bool:
    """Whether no own name of the compact map ``value`` is one the digest respells."""
    pos, end = 0, len(value)
    while pos < end - 1:
        member = _MEMBER.match(value, pos, end)
        if member is None:
            return False
        if _HUMP_NAME.fullmatch(member.group(1)[1:-1]):
            return False
        pos = member.end()
    return True


def _compact(raw: msgspec.Raw) -> bytes | None:
    """The resource's JSON text without whitespace (msgspec reformats it in C)."""
    try:
        return msgspec.json.format(raw, indent=-1)
    except (msgspec.DecodeError, RecursionError, MemoryError):
        return None


def _respell(c: bytes, seen: set[bytes] | None = None) -> bytes | None:
    """Compact JSON ``c`` with every name respelled as ``snake_keys`` would (None: unsafe).

    The names it respelled are added to ``seen`` (when it is not None).
    """
    parts = _HUMP_KEY.split(c)
    if len(parts) == 1:
        return c
    names = parts[1::2]
    try:
        parts[1::2] = map(_RESPELL.__getitem__, names)
    except KeyError:
        for name in set(names):
            _RESPELL.setdefault(name, _respelled(name))
        parts[1::2] = map(_RESPELL.__getitem__, names)
    try:
        out = b"".join(parts)
    except TypeError:  # a None: a name that is not safe to respell
        return None
    if not _kept_names_safe(c):
        return None
    if seen is not None:
        seen.update(names)
    return out


def _respelled_is(c: bytes, target: bytes, seen: _Seen) -> bool:
    """Whether compact JSON ``c``, respelled, is ``target`` respelled (True: proven).

    ``target`` is the other side's compact text as it is, and ``seen`` what that side
    respelled so far: the names it holds in lowerCamelCase (a transport socket match's
    ``tlsMode`` in Envoy's own dump) are left as they are here, every other name is
    respelled as :func:`_respell` does, and the result must be ``target`` byte for
    byte. Then both sides are one text but for the names respelled here, and where they
    sit ``snake_keys`` respells names (:func:`_kept_names_safe`, checked only then): so
    both respelled (:func:`_respell`) are one text too. Only ``c`` is searched for
    names; ``target`` is compared, never respelled.
    """
    parts = _HUMP_OR_OPENER_KEY.split(c)
    if len(parts) == 1:
        return c == target
    table = seen.table()
    names = parts[1::2]
    out = parts[:]
    try:
        out[1::2] = map(table.__getitem__, names)
    except KeyError:
        for name in set(names).difference(table):
            if name in seen.names or not _HUMP_NAME.fullmatch(name):
                table[name] = b'"%s":' % name  # learned, or an opener: kept
            else:
                table[name] = _RESPELL[name] if name in _RESPELL else _respelled(name)
        out[1::2] = map(table.__getitem__, names)
    try:
        if b"".join(out) != target:
            return False
    except TypeError:  # a None: a name that is not safe to respell
        return False
    openers = _openers(c, names)
    return openers is not None and _kept_names_safe(c, openers)


def _openers(c: bytes, names: list[bytes]) -> list[tuple[int, bytes]] | None:
    """Where each opener among ``names`` (keys of ``c`` in order) ends, and its name.

    ``names`` are what :data:`_HUMP_OR_OPENER_KEY` cut out of ``c``: every key after
    which ``snake_keys`` may keep names is among them, so ``c`` is not searched again.
    """
    out: list[tuple[int, bytes]] = []
    at = 0
    for name in filter(_IS_OPENER.__contains__, names):
        key = b'"%s":' % name
        at = c.find(key, at)
        while at > 0 and c[at - 1] not in b"{,":  # a key ending in ``\"name``: not it
            at = c.find(key, at + 1)
        if at <= 0:
            return None  # cannot be: ``names`` were cut out of ``c``
        at += len(key)
        out.append((at, name))
    return out


class _Digests:
    """A resource's ever more forgiving canonical forms, each made once, when asked."""

    __slots__ = ("raw", "seen", "_compact", "_respelled", "_sorted")

    def __init__(
        self, raw: msgspec.Raw, seen: _Seen | None = None, compact: bytes | None | bool = False
    ) -> None:
        self.raw = raw
        self.seen = seen  # the names respelled on this side so far
        self._compact = compact  # False: not made yet
        self._respelled: bytes | None | bool = False
        self._sorted: bytes | None | bool = False

    def compact(self) -> bytes | None:
        if self._compact is False:
            self._compact = _compact(self.raw)
        return self._compact  # type: ignore[return-value]

    def respelled(self) -> bytes | None:
        if self._respelled is False:
            c = self.compact()
            seen = self.seen
            self._respelled = None if c is None else _respell(c, seen.names if seen else None)
            if seen is not None and self._respelled is not None:
                seen.learned = True
        return self._respelled  # type: ignore[return-value]

    def sorted(self) -> bytes | None:
        """Decoded, re-encoded with sorted keys, respelled: any key order, any escapes."""
        if self._sorted is False:
            self._sorted = None
            try:
                c = _respell(orjson.dumps(orjson.loads(bytes(self.raw))))
                if c is not None:
                    self._sorted = orjson.dumps(orjson.loads(c), option=orjson.OPT_SORT_KEYS)
            except (orjson.JSONDecodeError, orjson.JSONEncodeError, RecursionError):
                pass
        return self._sorted  # type: ignore[return-value]


#: How many resources in a row :func:`_same_meaning` tries its shortcut on in
#: vain before it stops trying for that side (two sides that really differ, or that both
#: mix spellings, then pay for at most this many wasted tries between two that worked).
_TRIES = 64
#: A side that held more names than this to respell is not the one the shortcut spares
#: (both sides then spell names in lowerCamelCase: the ordinary way decides).
_FEW_NAMES = 32


class _Seen:
    """The field names respelled in one side's resources of one kind, so far."""

    __slots__ = ("names", "learned", "tries", "_table", "_table_of")

    def __init__(self) -> None:
        self.names: set[bytes] = set()
        self.learned = False  # a resource of this side was respelled (names may be empty)
        self.tries = _TRIES
        self._table: dict[bytes, bytes | None] = {}
        self._table_of = 0  # len(names) when the table was made

    def worth_trying(self) -> bool:
        """Whether the shortcut is worth trying for this side's next resource.

        Before any resource of this side was respelled, it is tried as if this side held
        no name to respell (Envoy's own dumps often hold none: a kind with a few large
        resources, such as route configs, then respells no resource of this side).
        """
        return self.tries > 0 and len(self.names) <= _FEW_NAMES

    def table(self) -> dict[bytes, bytes | None]:
        """The key :func:`_respelled_is` writes for each name (filled there), per names seen."""
        if self._table_of != len(self.names):
            self._table, self._table_of = {}, len(self.names)
        return self._table


def _same_meaning(a: msgspec.Raw, b: msgspec.Raw, seen: tuple[_Seen, _Seen] | None = None) -> bool:
    """Whether two resources' digests say they are equal (False: compare them in full).

    ``seen``: what each side's resources respelled so far; the answer is the same with
    or without it. With it, a side whose resources hold few names to respell (Envoy's
    snake_case, against istiod's lowerCamelCase) is not respelled at all: the other
    side is, but for the names this side's earlier resources held (:func:`_respelled_is`),
    and must then be this side's text as it is; otherwise the ordinary way decides.
    """
    ca, cb = _compact(a), _compact(b)
    if ca is not None and ca == cb:
        return True
    if seen is not None and ca is not None and cb is not None:
        # The side with fewer names to respell is checked against the other's form.
        light = 1 if len(seen[1].names) <= len(seen[0].names) else 0
        known = seen[light]
        if known.worth_trying():
            if _respelled_is(cb if light == 0 else ca, ca if light == 0 else cb, known):
                known.tries = _TRIES
                return True
            known.tries -= 1
        da, db = _Digests(a, seen[0], ca), _Digests(b, seen[1], cb)
    else:
        da, db = _Digests(a, None, ca), _Digests(b, None, cb)
    x = da.respelled()
    if x is not None and x == db.respelled():
        return True
    x = da.sorted()
    return x is not None and x == db.sorted()


# --- comparing ------------------------------------------------------------------------

_NULL = msgspec.Raw(b"null")


def _canonical(res: Resource) -> bytes:
    return orjson.dumps(res.plain(), option=orjson.OPT_SORT_KEYS)


def _deepdiff() -> Any:
    """DeepDiff's class, imported on first use (only resources that really differ need it).

    DeepDiff imports pydantic, when it is installed, only to recognise pydantic models:
    a diff compares plain JSON data, so pydantic (about a third of DeepDiff's import time)
    is hidden while DeepDiff is imported, unless something imported it already.
    """
    import sys

    if "deepdiff" in sys.modules or "pydantic" in sys.modules:
        from deepdiff import DeepDiff

        return DeepDiff
    sys.modules["pydantic"] = None  # type: ignore[assignment]
    try:
        from deepdiff import DeepDiff
    finally:
        del sys.modules["pydantic"]
    return DeepDiff


def _field_changes(
    left: Any,
    right: Any,
    ignore: re.Pattern[str] | None,
    sides: tuple[Resource, Resource] | None = None,
) -> list[FieldChange]:
    """What differs, field by field; items of identified lists paired by identity.

    Paths name each list item by its index on the right side (where it is now); an item
    on the left only by its left index. A moved item is one ``moved`` entry for its list
    (:mod:`pdebug.diff_lists`), its fields compared with its pair's wherever it went.
    """
    from pdebug.diff_lists import align

    deep_diff = _deepdiff()

    left, right, found = align(left, right)
    diff = deep_diff(left, right, ignore_order=False, verbose_level=2, view="tree")
    changes: list[FieldChange] = []
    originals: list[Any] = []
    for report_type, items in diff.items():
        for item in items:
            aligned = item.path(output_format="list")
            parts = found.coords(aligned, 1)
            path = _dotted(parts)
            if sides is not None and _holds_data_keys(parts):
                if not originals:
                    originals = [plain_json(res.raw, f"{res.where}{res.name}") for res in sides]
                at = 1 if report_type.endswith("_added") else 0
                written = _as_written(found.coords(aligned, at), originals[at])
                # printed with the right side's indices, as every path is
                written = [
                    p if isinstance(p, str) else q for p, q in zip(written, parts, strict=True)
                ]
                path, kept = _dotted(written), path
                if ignore is not None and ignore.search(kept):
                    continue
            if ignore is not None and ignore.search(path):
                continue
            l_val = None if report_type.endswith("_added") else item.t1
            r_val = None if report_type.endswith("_removed") else item.t2
            changes.append(FieldChange(path, _scalar(l_val), _scalar(r_val)))
    said = {c.path for c in changes}
    for at_path, l_val, r_val in found.retyped:  # what DeepDiff's hashing called equal
        path = _dotted(found.coords(at_path, 1))
        if path not in said and (ignore is None or not ignore.search(path)):
            changes.append(FieldChange(path, _scalar(l_val), _scalar(r_val)))
    for move in found.moves:
        path = _dotted(found.coords(move.parts, 1))
        if ignore is None or not ignore.search(path):
            changes.append(
                FieldChange(
                    path, move.left, move.right, "moved", move.item, move.what, move.by, move.why
                )
            )
    for one in found.one_side:
        path = _dotted([*found.coords(one.parts, 1), one.index])
        if ignore is None or not ignore.search(path):
            value = (one.value, None) if one.side == 0 else (None, one.value)
            changes.append(FieldChange(path, *value))
    changes.sort(key=lambda c: c.path)
    return changes


#: Fields whose value is a protobuf Struct: its keys, all the way down, are data (a
#: transport socket match's metadata keys, an access log's JSON keys, runtime keys).
_STRUCT_FIELDS = frozenset({"json_format", "typed_json_format", "static_layer", "default_subset"})
#: Map fields whose keys are names (RBAC policy names, a matcher's exact-match values).
_NAMED_MAPS = frozenset({"policies", "map"})


def _opens_data(parts: list[Any], i: int) -> bool:
    """Whether the key after ``parts[i]`` is data (a Struct's or a named map's key)."""
    part = parts[i]
    if not isinstance(part, str):
        return False
    if part in _STRUCT_FIELDS or part in _NAMED_MAPS:
        return True
    return part == "match" and i >= 2 and parts[i - 2] == "transport_socket_matches"


def _holds_data_keys(parts: list[Any]) -> bool:
    """Whether a path goes through keys that are data (printed as written)."""
    return any(_opens_data(parts, i) for i in range(len(parts) - 1))


def _as_written(parts: list[Any], original: Any) -> list[Any]:
    """``parts`` (a path in the respelled resource) with its data keys as ``original`` has them.

    Field names stay respelled (snake_case, as every path prints them); keys of Struct
    values and named maps are what the input holds (``tlsMode``, not ``tls_mode``).
    Only the printed path changes: the comparison itself is the respelled one.
    """
    out: list[Any] = []
    node = original
    key_is_data = struct = False
    for i, part in enumerate(parts):
        if isinstance(part, int):
            if isinstance(node, list) and i == 1 and parts[0] == "virtual_hosts":
                # Resource.plain sorts a route config's virtual hosts by name
                node = sorted(
                    node, key=lambda vh: str(vh.get("name", "")) if isinstance(vh, dict) else ""
                )
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            out.append(part)
            continue
        key = part
        if isinstance(node, dict) and part not in node:
            key = next((k for k in node if isinstance(k, str) and to_snake(k) == part), part)
        out.append(key if key_is_data or struct else part)
        node = node.get(key) if isinstance(node, dict) else None
        key_is_data = False
        if not struct and _opens_data(parts, i):
            if part in _NAMED_MAPS:
                key_is_data = True  # the next key only: its value is a message
            else:
                struct = True  # every key below is data
    return out


def _scalar(value: Any) -> Any:
    from deepdiff.helper import NotPresent

    return None if isinstance(value, NotPresent) else value


def _dotted(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


#: The note of a listener on one side only that Envoy rejected there (never served).
_REJECTED_NEW = "rejected by Envoy: its failed config only, not serving"


def compare_kind(
    kind: str,
    left: dict[str, Resource],
    right: dict[str, Resource],
    ignore: re.Pattern[str] | None = None,
    left_label: str = "",
) -> KindReport:
    """Compare one kind: names on one side only, then changed resources field by field."""
    report = KindReport(kind, compared=len(set(left) | set(right)))
    seen = (_Seen(), _Seen())
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name), right.get(name)
        if b is not None and b.state == "error":
            report.notes.append(
                f"{name}: Envoy rejected an update"
                + (f" at {b.error_at}" if b.error_at else "")
                + f": {_reason(b.error)}"
            )
        elif b is not None and b.state == "warming":
            report.notes.append(f"{name}: warming (Envoy has not finished initialising it)")
        if (
            a is not None
            and a.state == "error"
            and (b is None or (b.state, b.error, b.error_at) != (a.state, a.error, a.error_at))
        ):
            report.notes.append(
                f"{name}: Envoy rejected an update"
                + (f" in {left_label}" if left_label else "")
                + (f" at {a.error_at}" if a.error_at else "")
                + f": {_reason(a.error)}"
            )
        # A rejected new listener holds no config but the one Envoy refused: not served.
        if a is None:
            note = _REJECTED_NEW if b is not None and b.raw == _NULL else ""
            report.changes.append(Change(name, "only-right", note=note))
            continue
        if b is None:
            note = _REJECTED_NEW if a.raw == _NULL else ""
            report.changes.append(Change(name, "only-left", note=note))
            continue
        if a.raw == b.raw:
            continue
        if b.raw == _NULL:  # rejected new listener: present in expected only
            report.changes.append(Change(name, "only-left", note="rejected by Envoy"))
            continue
        if a.raw == _NULL:  # rejected on the left, served on the right
            note = "rejected by Envoy" + (f" in {left_label}" if left_label else " on the left")
            report.changes.append(Change(name, "only-right", note=note))
            continue
        if _same_meaning(a.raw, b.raw, seen):
            continue
        if _canonical(a) == _canonical(b):
            continue
        fields = _field_changes(a.plain(), b.plain(), ignore, (a, b))
        if fields:
            report.changes.append(Change(name, "changed", fields))
    return report


def _misnamed(rep: KindReport, left: dict[str, Resource], right: dict[str, Resource]) -> bool:
    """Whether a resource the report names has a later ``name`` key than the one it got.

    Only the reported resources are decoded here: the rest never print their names.
    """
    for change in rep.changes:
        for res in (left.get(change.name), right.get(change.name)):
            if res is None or res.raw == _NULL:
                continue
            first = _FIRST_NAME.match(res.raw)
            if first is not None and _name_of(res.raw, exact=True) != res.name:
                return True
    return False


def rds_last_loaded(dump: ConfigDump) -> str:
    """The istioctl suffix `` (RDS last loaded at <RFC1123, local time>)`` suffix, or ``""``."""
    sec = dump.section("routes")
    if sec is None:
        return ""
    newest: datetime | None = None
    for entry in dump.route_entries("dynamic_route_configs").items:
        if entry.last_updated:
            try:
                when = datetime.fromisoformat(entry.last_updated.replace("Z", "+00:00"))
            except ValueError:
                continue
            newest = when if newest is None or when > newest else newest
    if newest is None:
        return ""
    return f" (RDS last loaded at {newest.astimezone().strftime('%a, %d %b %Y %H:%M:%S %Z')})"


def compare(
    left: ConfigDump,
    right: ConfigDump,
    kinds: Iterable[str] = DEFAULT_KINDS,
    include_static: bool = False,
    ignore: str | None = None,
    left_label: str = "expected",
    right_label: str = "Envoy",
    unread: bool = False,
) -> DiffReport:
    """Compare ``left`` (expected: istiod, a file, "before") with ``right`` (Envoy, "after").

    ``unread``: also compare the sections pdebug does not read (two dumps of proxies,
    where either may hold an extension's section; istiod's answer never does), each
    type as one more kind (:func:`compare_unread`).
    """
    pattern = re.compile(ignore) if ignore else None
    reports = []
    for kind in kinds:
        lacking = [
            label
            for label, dump in ((left_label, left), (right_label, right))
            if dump.section(kind) is None and not none_when_absent(dump, kind)
        ]
        for label, dump in ((left_label, left), (right_label, right)):
            if label in lacking:
                dump.check_intact()  # a damaged dump is said damaged, not lacking a kind
        if len(lacking) == 1:
            # A masked or partial capture: its missing section says nothing about the
            # resources, so none of the other side's is "only in" it.
            reports.append(KindReport(kind, not_compared=f"{lacking[0]} has no {kind} section"))
            continue
        static = include_static
        sides = collect(left, kind, static), collect(right, kind, static)
        if not static and not sides[0] and not sides[1]:
            # A static config (Envoy's own examples, a hand-written bootstrap): no side
            # has a dynamic one, so its static resources are all there is to compare.
            wider = collect(left, kind, True), collect(right, kind, True)
            if wider[0] or wider[1]:
                static, sides = True, wider
        rep = compare_kind(kind, *sides, pattern, left_label)
        if _misnamed(rep, *sides):
            sides = (
                collect(left, kind, static, exact=True),
                collect(right, kind, static, exact=True),
            )
            rep = compare_kind(kind, *sides, pattern, left_label)
            rep.exact_names = True
        if static and not include_static:
            rep.notes.append(
                f"neither side has dynamic {kind}: their static {kind} are compared"
                " (as --include static does)"
            )
        if kind == "routes":
            rep.suffix = rds_last_loaded(right)
        if kind == "clusters":
            rep.notes.extend(_warming_notes(rep, left, right, left_label, right_label))
        reports.append(rep)
    if unread:
        types = dict.fromkeys(t for dump in (left, right) for t, _n in unread_sections(dump))
        for type_url in types:
            sides = collect_unread(left, type_url), collect_unread(right, type_url)
            reports.append(compare_unread(type_url, *sides, pattern))
    return DiffReport(left_label, right_label, reports)


def collect_unread(dump: ConfigDump, type_url: str) -> dict[str, Resource]:
    """The sections of ``dump`` of the unread type ``type_url``, keyed ``TYPE`` (``TYPE#2``...).

    Each one's bytes are its members (``@type`` left out) with their keys sorted: two
    sections equal but for the order of their keys are equal (:func:`compare_unread`).
    """
    from pdebug.model.sections import short_type

    found: dict[str, Resource] = {}
    short = short_type(type_url) or "(no @type)"
    for sec in dump.sections:
        if sec.kind or sec.type_url != type_url:
            continue
        plain = sec.plain()
        plain.pop("@type", None)
        name = short if not found else f"{short}#{len(found) + 1}"
        raw = msgspec.Raw(orjson.dumps(plain, option=orjson.OPT_SORT_KEYS))
        found[name] = Resource(name, raw, where=f"{dump.source}: ")
    return found


def compare_unread(
    type_url: str,
    left: dict[str, Resource],
    right: dict[str, Resource],
    ignore: re.Pattern[str] | None = None,
) -> KindReport:
    """Compare the sections of one unread type as they are written (key order aside).

    pdebug knows nothing of their meaning, so nothing is normalised: a section on one
    side only, or whose members differ at all, makes the dumps differ.
    """
    report = KindReport(type_url, compared=len(set(left) | set(right)))
    for name in sorted(set(left) | set(right), key=lambda n: (len(n), n)):
        a, b = left.get(name), right.get(name)
        if a is None:
            report.changes.append(Change(name, "only-right"))
        elif b is None:
            report.changes.append(Change(name, "only-left"))
        elif bytes(a.raw) != bytes(b.raw):
            plain_a, plain_b = orjson.loads(bytes(a.raw)), orjson.loads(bytes(b.raw))
            fields = _field_changes(plain_a, plain_b, ignore)
            if fields or ignore is None:
                report.changes.append(Change(name, "changed", fields))
    return report


def _warming_notes(
    rep: KindReport, left: ConfigDump, right: ConfigDump, left_label: str, right_label: str
) -> list[str]:
    """A cluster only on one side that the other side holds as warming: say so."""
    notes: list[str] = []
    one_side = [c for c in rep.changes if c.status in ("only-left", "only-right")]
    if not one_side:
        return notes
    warming = {"only-left": _warming_names(right), "only-right": _warming_names(left)}
    for change in one_side:
        label = right_label if change.status == "only-left" else left_label
        if change.name in warming[change.status]:
            notes.append(
                f"{change.name}: warming in {label} (received, not active yet; compared as "
                "absent there, as istioctl does)"
            )
    return notes


def _warming_names(dump: ConfigDump) -> frozenset[str]:
    from pdebug.model.clusters import records

    if dump.section("clusters") is None:
        return frozenset()
    return frozenset(rec.entry.cluster.name for rec in records(dump, ("WARMING",)))
