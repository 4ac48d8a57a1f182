"""istiod's sync status (what ``istioctl proxy-status`` reads), in both shapes istiod serves.

* **xDS** (``istio.io/debug/syncz``, istioctl >= 1.22): per istiod, a DiscoveryResponse
  (proto-JSON) whose resources are ``envoy.service.status.v3.ClientConfig``: the proxy's
  node (id, metadata ``CLUSTER_ID``/``ISTIO_VERSION``/``NAMESPACE``) and one
  ``genericXdsConfigs`` entry per type with ``configStatus`` and ``lastUpdated`` (older
  istiods send ``xdsConfig`` with one oneof per type instead). Read bare, as
  ``{"<istiod>": <response>}``, or as the responses one after another (what
  ``istioctl proxy-status -o json`` prints when several istiods answer; its ``-o yaml`` too).
* **legacy** (HTTP ``GET :15014/debug/syncz``): a JSON array of SyncStatus objects with
  per-type sent/acked nonces, bare or as ``{"<istiod pod>": [...]}``.

Live, each istiod replica answers for the proxies connected to it; :func:`parse_answers`
merges those answers as if they had been saved as ``{"<istiod pod>": answer}``.

The shape is told from the content, never from the file name. Keys may be spelled
lowerCamelCase (proto-JSON) or snake_case; anything that is not one of these documents
(a config dump, HTML, an unrelated object) is an :class:`~pdebug.errors.InvalidInput`.

One module over 500 lines because it reads one fact, a proxy's sync state, from every
shape istiod has served it in: the sniffing, the two decoders and the merge of replica
answers produce the same :class:`ProxySync` and share its spelling rules.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from pdebug.errors import InvalidInput

if TYPE_CHECKING:
    from pdebug.model.sniff import Prepared, Reader, Sniffed

PREFIX = "type.googleapis.com/"
CLIENT_CONFIG = PREFIX + "envoy.service.status.v3.ClientConfig"
#: The type a real istiod's answer carries: the request's (istioctl's fakes use CLIENT_CONFIG).
SYNCZ_TYPE = "istio.io/debug/syncz"
CDS = PREFIX + "envoy.config.cluster.v3.Cluster"
LDS = PREFIX + "envoy.config.listener.v3.Listener"
EDS = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
RDS = PREFIX + "envoy.config.route.v3.RouteConfiguration"
ECDS = PREFIX + "envoy.config.core.v3.TypedExtensionConfig"
SDS = PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"
NDS = PREFIX + "istio.networking.nds.v1.NameTable"
PCDS = PREFIX + "istio.mesh.v1alpha1.ProxyConfig"
WDS_ADDRESS = PREFIX + "istio.workload.Address"
WDS_WORKLOAD = PREFIX + "istio.workload.Workload"
WADS = PREFIX + "istio.security.Authorization"

#: Istio's short names for the xDS types; any other type is shown by its full URL.
SHORT_NAMES: dict[str, str] = {
    CDS: "CDS",
    LDS: "LDS",
    RDS: "RDS",
    EDS: "EDS",
    SDS: "SDS",
    NDS: "NDS",
    PCDS: "PCDS",
    ECDS: "ECDS",
    WDS_ADDRESS: "WDS",
    WDS_WORKLOAD: "WDS",
    WADS: "WADS",
}
_BY_SHORT = {"CDS": CDS, "LDS": LDS, "RDS": RDS, "EDS": EDS, "SDS": SDS, "NDS": NDS}
_BY_SHORT |= {"PCDS": PCDS, "ECDS": ECDS, "WDS": WDS_ADDRESS, "WADS": WADS}

# Sync states. The first five are ClientConfig's ConfigStatus enum (by name); the last is
# the legacy "sent but never acknowledged" case, which only nonces can tell.
SYNCED = "SYNCED"
NOT_SENT = "NOT_SENT"
STALE = "STALE"
ERROR = "ERROR"
UNKNOWN = "UNKNOWN"
STALE_NEVER_ACKED = "STALE_NEVER_ACKED"
_CONFIG_STATUS = (UNKNOWN, SYNCED, NOT_SENT, STALE, ERROR)  # enum numbers 0..4
#: How istioctl writes a state where it is not the state's own name.
_STATE_TEXT = {
    UNKNOWN: "IGNORED",
    NOT_SENT: "NOT SENT",
    STALE_NEVER_ACKED: "STALE (Never Acknowledged)",
}

#: The legacy SyncStatus nonce fields, per type.
LEGACY_FIELDS: tuple[tuple[str, str], ...] = (
    (CDS, "cluster"),
    (LDS, "listener"),
    (EDS, "endpoint"),
    (RDS, "route"),
    (ECDS, "extensionconfig"),
)
_LEGACY_KEYS = frozenset(
    {"cluster_id", "proxy", "proxy_type", "proxy_version", "istio_version", "resources"}
    | {f"{name}_{x}" for _, name in LEGACY_FIELDS for x in ("sent", "acked")}
)
# DiscoveryResponse fields (both spellings): a top-level object with one of these is a
# response itself, not a map of responses by istiod.
_RESPONSE_KEYS = frozenset(
    {"versionInfo", "version_info", "resources", "canary", "typeUrl", "type_url", "nonce"}
    | {"controlPlane", "control_plane"}
)
# Old ClientConfig.xdsConfig: the oneof field that says which type an entry is about.
_PER_XDS_ONEOF = {
    "listenerConfig": LDS,
    "listener_config": LDS,
    "clusterConfig": CDS,
    "cluster_config": CDS,
    "routeConfig": RDS,
    "route_config": RDS,
    "endpointConfig": EDS,
    "endpoint_config": EDS,
}

Kind = Literal["xds", "legacy"]

_HINT = (
    "expected istiod's sync status: GET :15014/debug/syncz (a JSON array, or "
    '{"<istiod pod>": [...]}) or the istio.io/debug/syncz answer '
    "(istioctl proxy-status -o json)"
)


def short_name(type_url: str) -> str:
    """``CDS``, ``LDS``... for the xDS types Istio names; the full URL for any other."""
    return SHORT_NAMES.get(type_url, type_url)


def state_text(status: str) -> str:
    """A sync state as istioctl writes it: ``SYNCED``, ``NOT SENT``, ``IGNORED``...

    The one place the words are made: ``pdebug status``'s cells and the sync states a
    snapshot records per proxy both come from here.
    """
    return _STATE_TEXT.get(status, status)


def nonce_state(sent: str, acked: str, ztunnel: bool = False) -> str:
    """The legacy status of one type from its nonces (istioctl <= 1.21).

    Nothing sent: ``UNKNOWN`` (shown IGNORED) for a ztunnel, which never asks for Envoy
    types, else ``NOT_SENT``. Then acked == sent is ``SYNCED``; nothing acked yet is
    ``STALE_NEVER_ACKED``; any other ack is ``STALE`` (the nonces are UUIDs, so there is
    no telling how far behind).
    """
    if not sent:
        return UNKNOWN if ztunnel else NOT_SENT
    if sent == acked:
        return SYNCED
    if not acked:
        return STALE_NEVER_ACKED
    return STALE


@dataclass(slots=True)  # not frozen: 5 per proxy, and frozen __init__ is 3x slower
class TypeSync:
    """How one xDS type stands between istiod and one proxy.

    ``last_updated`` is the xDS ``lastUpdated`` (istioctl shows its age in the cell);
    ``sent_time`` the legacy ``resources[type].sentTime`` (shown only with ``-o wide``).
    """

    type_url: str
    status: str
    last_updated: datetime | None = None
    sent_time: datetime | None = None
    error: str = ""

    @property
    def since(self) -> datetime | None:
        """When this state began, as far as the data says."""
        return self.last_updated or self.sent_time


@dataclass(slots=True)
class ProxySync:
    """One proxy as one istiod sees it; ``raw`` is the object it was read from."""

    name: str
    cluster: str
    namespace: str
    istiod: str
    version: str
    kind: Kind
    types: dict[str, TypeSync]
    raw: dict[str, Any] = field(repr=False)
    proxy_type: str = ""


@dataclass(slots=True)
class IstiodAnswer:
    """What one istiod answered: its proxies, and the raw answer for json/yaml.

    ``key`` is the name the answer was saved under (None for a bare answer); ``raw`` is
    the DiscoveryResponse (xDS) or the SyncStatus list (legacy).
    """

    key: str | None
    kind: Kind
    istiod: str
    raw: Any = field(repr=False)
    proxies: list[ProxySync] = field(default_factory=list)

    def raw_with(self, keep: list[ProxySync]) -> Any:
        """The raw answer holding only the proxies in ``keep`` (the order stays)."""
        kept = {id(p.raw) for p in keep}
        if self.kind == "legacy":
            return [item for item in self.raw if id(item) in kept]
        out = dict(self.raw)
        resources = out.get("resources")
        if isinstance(resources, list):
            out["resources"] = [r for r in resources if id(r) in kept]
            if not out["resources"]:
                del out["resources"]  # proto-JSON leaves out an empty list
        return out


@dataclass(slots=True)
class SyncDocument:
    """A whole syncz file: one answer per istiod.

    ``keyed`` says the answers were saved as a ``{"<istiod>": answer}`` map.
    """

    label: str
    answers: list[IstiodAnswer]
    keyed: bool

    @property
    def kind(self) -> Kind:
        """``legacy`` when every answer is legacy (and there is one), else ``xds``."""
        if self.answers and all(a.kind == "legacy" for a in self.answers):
            return "legacy"
        return "xds"

    def proxies(self) -> Iterator[ProxySync]:
        """Every proxy of every answer, in file order."""
        for answer in self.answers:
            yield from answer.proxies

    def raw_with(self, kept: list[ProxySync]) -> Any:
        """What istiod answered, less the proxies not in ``kept``, in the file's shape.

        A lone xDS answer as the DiscoveryResponse itself, answers saved keyed as
        ``{istiod: answer}``, legacy arrays as one array, xDS answers back to back keyed
        by istiod (``NAME#2`` for a second answer of one istiod).
        """
        keep = {id(p) for p in kept}
        parts = [(a, a.raw_with([p for p in a.proxies if id(p) in keep])) for a in self.answers]
        if len(parts) == 1 and parts[0][0].kind == "xds":
            return parts[0][1]
        if self.keyed:
            return {a.key: raw for a, raw in parts}
        if all(a.kind == "legacy" for a, _ in parts):
            return [item for _, raw in parts for item in raw]
        out: dict[str, Any] = {}
        for a, raw in parts:
            key, n = a.istiod, 2
            while key in out:
                key, n = f"{a.istiod}#{n}", n + 1
            out[key] = raw
        return out


# --------------------------------------------------------------------------- parsing


def parse_syncz(data: bytes | memoryview, label: str) -> SyncDocument:
    """Read a syncz document in any of its shapes: :func:`read_syncz` of the sniffer's look.

    Raises:
        InvalidInput: the bytes are empty, truncated, not JSON, or not a syncz document
            (a config dump, a /clusters document, HTML, an unrelated JSON value).
    """
    from pdebug.model.sniff import prepare

    return read_syncz(prepare(data, label, reader()))


@functools.cache
def reader() -> Reader:
    """What this reader asks of the one sniffer (:func:`pdebug.model.sniff.prepare`)."""
    from pdebug.model.sniff import Reader

    return Reader(
        "istiod's sync status",
        _SNIFF_HINTS,
        envoy_words=False,
        strip=True,
        several=True,
        alias_hint="save istioctl proxy-status -o json instead",
    )


def read_syncz(look: Prepared) -> SyncDocument:
    """The syncz document the sniffer's ``look`` (made with :func:`reader`) holds.

    Raises:
        InvalidInput: as :func:`parse_syncz`.
    """
    values = _yaml_values(look)
    if values is None:
        _refuse_unless_json(look.found, look.refusal, look.data, look.source)
        values = _decode(look.data, look.source)
    return _document(values, look.source)


def _document(values: list[Any], label: str) -> SyncDocument:
    """The syncz document the decoded ``values`` are (one value, or several back to back)."""
    if len(values) > 1:  # istioctl -o json with several istiods: responses back to back
        answers = []
        for index, value in enumerate(values):
            if not isinstance(value, dict) or not _is_response(value):
                raise InvalidInput(
                    f"{label}: JSON value {index + 1} of {len(values)} is not an "
                    "istio.io/debug/syncz response",
                    hint=_HINT,
                )
            answers.append(_xds_answer(value, None, label))
        return SyncDocument(label, answers, keyed=False)
    top = values[0]
    if isinstance(top, list):
        from pdebug.model.refusals import istiod_debug_given

        other = istiod_debug_given(label, top, "istiod's sync status (/debug/syncz)")
        if other is not None:
            raise InvalidInput(other.message, hint=_HINT)
        if top and all(isinstance(v, dict) and _is_response(v) for v in top):
            # DiscoveryResponses saved as a list: one xDS answer each
            return SyncDocument(label, [_xds_answer(v, None, label) for v in top], keyed=False)
        return SyncDocument(label, [_legacy_answer(top, None, label)], keyed=False)
    if not isinstance(top, dict):
        raise InvalidInput(f"{label}: a JSON {_json_type(top)}, not a syncz document", hint=_HINT)
    _reject_other_documents(top, label)
    from pdebug.model.refusals import istiod_debug_given

    other = istiod_debug_given(label, top, "istiod's sync status (/debug/syncz)")
    if other is not None:
        raise InvalidInput(other.message, hint=_HINT)
    if _is_response(top):
        return SyncDocument(label, [_xds_answer(top, None, label)], keyed=False)
    answers = []
    for key, value in top.items():
        if isinstance(value, list):
            answers.append(_legacy_answer(value, key, label))
        elif isinstance(value, dict) and (not value or _is_response(value)):
            answers.append(_xds_answer(value, key, label))
        else:
            raise InvalidInput(
                f"{label}: not a syncz document ({key!r} holds neither a list of sync "
                "statuses nor a DiscoveryResponse)",
                hint=_HINT,
            )
    return SyncDocument(label, answers, keyed=True)


def parse_answers(
    parts: Sequence[tuple[str, bytes | memoryview]], label: str, path: str = "/debug/syncz"
) -> SyncDocument:
    """Merge live answers, one per istiod replica, keyed by the replica's name.

    Each answer is what one replica served at ``path``: the legacy SyncStatus array (or
    an xDS DiscoveryResponse). Empty bodies are dropped, as istioctl does. The result is
    a keyed document, as if saved as ``{"<istiod>": answer, ...}``; ``label`` names the
    whole (e.g. ``istiod in istio-system (istiod-a, istiod-b)``).

    Raises:
        InvalidInput: an answer is not a sync status (HTML, not JSON, a config dump...);
            the message names the replica.
    """
    answers = [parse_answer(key, data, path) for key, data in parts]
    return SyncDocument(label, [a for a in answers if a is not None], keyed=True)


def parse_answer(
    key: str, data: bytes | memoryview, path: str = "/debug/syncz"
) -> IstiodAnswer | None:
    """One replica's answer at ``path`` (see :func:`parse_answers`); None when empty.

    Raises:
        InvalidInput: the answer is not a sync status; the message names the replica.
    """
    if len(data) < 4096 and not bytes(data).strip():
        return None
    where = f"{key} {path}"
    data, found, refusal = _look(data, where)
    _refuse_unless_json(found, refusal, data, where)
    values = _decode(data, where)
    top = values[0] if len(values) == 1 else None
    if isinstance(top, list):
        answer = _legacy_answer(top, None, where)
        answer.key = answer.istiod = key
        for proxy in answer.proxies:
            proxy.istiod = key
    elif isinstance(top, dict):
        _reject_other_documents(top, where)
        if top and not _is_response(top):
            raise InvalidInput(f"{where}: not a sync status answer", hint=_HINT)
        answer = _xds_answer(top, key, path)
    else:
        what = f"a JSON {_json_type(top)}" if top is not None else "several JSON values"
        raise InvalidInput(f"{where}: {what}, not a sync status answer", hint=_HINT)
    return answer


#: What :func:`_sniff` says per kind of input that is not a sync status answer.
_SNIFF_HINTS = {
    "empty": "the capture failed or was cut off; save istiod's /debug/syncz again",
    "markup": "an error page was saved instead; check the istiod port-forward (15014)",
    "binary": "pdebug reads .gz; otherwise save the JSON again",
    "text": "save the JSON answer (istioctl proxy-status -o json, or GET /debug/syncz)",
}


def _look(
    data: bytes | memoryview, label: str, *, strip_bom: bool = False
) -> tuple[bytes | memoryview, Sniffed, InvalidInput | None]:
    """The shared sniffer's one look: the bytes, what they are, and the error to raise.

    ``strip_bom``: ``data`` without a UTF-8 byte-order mark, as Windows editors and
    PowerShell save it. The error (None for a JSON object or array) is raised later, when
    the bytes are no YAML either.
    """
    from pdebug.model.sniff import sniff_bytes, without_bom

    if strip_bom:
        data = without_bom(data)
    found = sniff_bytes(data)
    if found.kind in ("object", "array"):
        return data, found, None
    return data, found, found.refuse(label, "istiod's sync status", _SNIFF_HINTS)


def _refuse_unless_json(
    found: Sniffed, refusal: InvalidInput | None, data: bytes | memoryview, label: str
) -> None:
    """Raise what the bytes are unless the sniffer saw a JSON object or array."""
    if refusal is None:
        return
    if found.kind in ("binary", "text"):
        try:
            scalar = msgspec.json.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, MemoryError):
            pass
        else:
            raise InvalidInput(
                f"{label}: a JSON {_json_type(scalar)}, not a syncz document", hint=_HINT
            )
    raise refusal


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "boolean" if isinstance(value, bool) else "number"


def _yaml_values(look: Prepared) -> list[Any] | None:
    """``istioctl proxy-status -o yaml``: its responses as values, or None if not YAML.

    istioctl writes one YAML mapping per istiod with nothing between them (its keys
    sorted, from ``controlPlane``), so a top-level key seen again starts the next
    response; ``---`` separators are read too (the sniffer splits them, :func:`reader`).
    """
    docs = look.docs
    if not docs or not all(isinstance(d, dict) for d in docs):
        return None
    if look.aliases is not None:
        raise look.aliases
    if not all(any(isinstance(v, dict | list) for v in d.values()) for d in docs):
        return None  # "error: exit status 1" (a saved kubectl error) is no answer: not JSON
    return docs


def _decode(data: bytes | memoryview, label: str) -> list[Any]:
    from pdebug.model.dump import MAX_DEPTH, bounded, can_bound, check_depth, decode_failure

    try:
        # bounded: the answer is printed back (-o json/yaml), by recursive encoders
        if can_bound():
            return [bounded(lambda: msgspec.json.decode(data))]
        value = msgspec.json.decode(data)
        check_depth(value)
        return [value]
    except msgspec.DecodeError as exc:
        text = str(exc)
    except (UnicodeDecodeError, RecursionError, MemoryError) as exc:
        reason = decode_failure(exc)
        if isinstance(exc, RecursionError):
            reason = f"nested deeper than {MAX_DEPTH} levels"
        raise InvalidInput(
            f"{label}: {reason}",
            hint="the file is damaged or is not istiod's sync status; save it again",
        ) from None
    if "truncated" in text:
        raise InvalidInput(
            f"{label}: the JSON is truncated (the capture was cut off)",
            hint="save istiod's answer again",
        )
    if "trailing characters" in text:
        values = _decode_stream(bytes(data))
        if values is not None:
            return values
    from pdebug.model.dump import sanitize

    raise InvalidInput(
        f"{label}: invalid JSON: {sanitize(text)}", hint="the file is damaged; save it again"
    )


def _decode_stream(data: bytes) -> list[Any] | None:
    """JSON values written one after another, or None if the bytes are not that."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return values
        try:
            value, pos = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            return None
        from pdebug.model.dump import check_depth

        try:
            check_depth(value)
        except RecursionError:
            return None
        values.append(value)


def _reject_other_documents(top: dict[str, Any], label: str) -> None:
    """Name the other documents people save by mistake."""
    if isinstance(top.get("configs"), list):
        raise InvalidInput(
            f"{label}: this is an Envoy config dump, not istiod's sync status",
            hint="pdebug status reads GET :15014/debug/syncz of istiod; a config dump is "
            "for pdebug clusters/listeners/routes/...",
        )
    if "cluster_statuses" in top or "clusterStatuses" in top:
        raise InvalidInput(
            f"{label}: this is an Envoy /clusters document, not istiod's sync status",
            hint="use pdebug endpoints for it; pdebug status reads istiod's /debug/syncz",
        )
    if isinstance(top.get("apiVersion"), str) and isinstance(top.get("kind"), str):
        raise InvalidInput(
            f"{label}: this is a Kubernetes {_safe(top['kind'])} object, not istiod's sync status",
            hint=_HINT,
        )
    from pdebug.model.ztunnel import looks_like_ztunnel

    if looks_like_ztunnel(top):
        raise InvalidInput(
            f"{label}: this is a ztunnel config dump, not istiod's sync status",
            hint=f"read it with: pdebug zc all -f {'-' if label == 'stdin' else label}; "
            "pdebug status reads istiod's /debug/syncz",
        )
    from pdebug.model.refusals import egctl_given

    egctl = egctl_given(label, top)
    if egctl is not None:
        raise egctl


def _safe(text: str) -> str:
    """Input text for an error message: control characters escaped."""
    from pdebug.model.dump import sanitize

    return sanitize(text)


def _is_response(value: dict[str, Any]) -> bool:
    """Does this object look like a DiscoveryResponse (rather than a map by istiod)?"""
    for key in _RESPONSE_KEYS & value.keys():
        inner = value[key]
        if key == "resources":
            if isinstance(inner, list) and all(
                isinstance(r, dict) and ("@type" in r or "node" in r) for r in inner
            ):
                return True
        elif not isinstance(inner, list):
            return True
    return False


def _get(obj: Mapping[str, Any], camel: str, snake: str | None = None) -> Any:
    """A field in either spelling (proto-JSON lowerCamelCase first)."""
    if camel in obj:
        return obj[camel]
    return obj.get(snake or _snake(camel))


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _control_plane_id(response: Mapping[str, Any], key: str | None) -> str:
    """The istiod ID from ``controlPlane.identifier`` (JSON with an ``ID``).

    Without one, the name the answer was saved under, else istioctl's ``MISSING`` /
    ``INVALID``.
    """
    cp = _get(response, "controlPlane")
    identifier = _get(cp, "identifier") if isinstance(cp, dict) else None
    if not isinstance(identifier, str) or not identifier:
        return key or "MISSING"
    try:
        info = json.loads(identifier)
    except ValueError:
        return key or "INVALID"
    ident = info.get("ID") if isinstance(info, dict) else None
    if isinstance(ident, str) and ident:
        return ident
    return key or "INVALID"


def _xds_answer(response: dict[str, Any], key: str | None, label: str) -> IstiodAnswer:
    where = f"{label}" + (f" ({key})" if key else "")
    type_url = _str(_get(response, "typeUrl"))
    if type_url and type_url not in (CLIENT_CONFIG, SYNCZ_TYPE):
        raise InvalidInput(
            f"{where}: a DiscoveryResponse of {_safe(type_url)}, not istio.io/debug/syncz "
            "(its resources must be ClientConfig)",
            hint=_HINT,
        )
    istiod = _control_plane_id(response, key)
    answer = IstiodAnswer(key, "xds", istiod, response)
    resources = response.get("resources") or []
    if not isinstance(resources, list):
        raise InvalidInput(f"{where}: 'resources' is not a list", hint=_HINT)
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict):
            raise InvalidInput(f"{where}: resource {index} is not an object", hint=_HINT)
        rtype = _str(resource.get("@type"))
        if rtype and rtype != CLIENT_CONFIG:
            raise InvalidInput(
                f"{where}: resource {index} is a {_safe(rtype)}, not a ClientConfig "
                "(is this another istio.io/debug answer?)",
                hint=_HINT,
            )
        answer.proxies.append(_client_config(resource, istiod, where, index))
    return answer


def _client_config(resource: dict[str, Any], istiod: str, where: str, index: int) -> ProxySync:
    node = resource.get("node")
    node = node if isinstance(node, dict) else {}
    meta = node.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    types: dict[str, TypeSync] = {}
    old = _get(resource, "xdsConfig")
    for entry in old if isinstance(old, list) else []:
        if not isinstance(entry, dict):
            continue
        url = next((u for k, u in _PER_XDS_ONEOF.items() if k in entry), None)
        if url is not None:  # scoped routes: istiod never sends them, istioctl skips them
            types[url] = TypeSync(url, _config_status(entry.get("status"), where, index))
    generic = _get(resource, "genericXdsConfigs")
    for entry in generic if isinstance(generic, list) else []:
        if not isinstance(entry, dict):
            continue
        url = _str(_get(entry, "typeUrl"))
        err = _get(entry, "errorState")
        details = _str(_get(err, "details")) if isinstance(err, dict) else ""
        types[url] = TypeSync(  # one entry per type from istiod; the last one wins
            url,
            _config_status(_get(entry, "configStatus"), where, index),
            last_updated=parse_time(_get(entry, "lastUpdated"), where),
            error=details,
        )
    return ProxySync(
        name=_str(node.get("id")),
        cluster=_str(meta.get("CLUSTER_ID")),
        namespace=_str(meta.get("NAMESPACE")),
        istiod=istiod,
        version=_str(meta.get("ISTIO_VERSION")),
        kind="xds",
        types=types,
        raw=resource,
    )


def _config_status(value: Any, where: str, index: int) -> str:
    """A ConfigStatus by name or number; absent is UNKNOWN (proto-JSON omits zero)."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        raise InvalidInput(f"{where}: resource {index}: bad configStatus {value!r}", hint=_HINT)
    if isinstance(value, int):
        return _CONFIG_STATUS[value] if 0 <= value < len(_CONFIG_STATUS) else str(value)
    if isinstance(value, str) and value:
        return value
    raise InvalidInput(f"{where}: resource {index}: bad configStatus {value!r}", hint=_HINT)


def _legacy_answer(items: list[Any], key: str | None, label: str) -> IstiodAnswer:
    answer = IstiodAnswer(key, "legacy", key or "", items)
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not (item.keys() & _LEGACY_KEYS or not item):
            where = f"{label}" + (f" ({key})" if key else "")
            raise InvalidInput(
                f"{where}: item {index} is not a sync status (no 'proxy', no nonces)",
                hint=_HINT,
            )
        answer.proxies.append(_sync_status(item, answer.istiod, label))
    return answer


def _sync_status(item: dict[str, Any], istiod: str, label: str) -> ProxySync:
    name = _str(item.get("proxy"))
    proxy_type = _str(item.get("proxy_type"))
    ztunnel = proxy_type == "ztunnel"
    resources = item.get("resources")
    per_type: dict[str, dict[str, Any]] = {}
    if isinstance(resources, dict):
        for rkey, rvalue in resources.items():
            if isinstance(rvalue, dict):
                rname = str(rkey)
                per_type[_BY_SHORT.get(rname.upper(), rname)] = rvalue
    types: dict[str, TypeSync] = {}
    # istiod >= 1.24 lists the types the proxy watches in `resources` (its
    # WatchedResources): a type neither sent nor listed there is not subscribed to, which
    # istiod's own xDS answer says by leaving it out (IGNORED), not NOT SENT
    watched = isinstance(resources, dict)
    for url, stem in LEGACY_FIELDS:
        res = per_type.get(url, {})
        sent = _str(item.get(f"{stem}_sent")) or _str(res.get("sent"))
        acked = _str(item.get(f"{stem}_acked")) or _str(res.get("acked"))
        unwatched = watched and not sent and url not in per_type
        types[url] = _legacy_type(url, sent, acked, ztunnel or unwatched, res, label)
    for url, res in per_type.items():
        if url not in types:
            sent, acked = _str(res.get("sent")), _str(res.get("acked"))
            types[url] = _legacy_type(url, sent, acked, ztunnel, res, label)
    # The `.ns` suffix of the proxy ID (`pod.namespace`) is the only namespace it carries.
    namespace = name.rsplit(".", 1)[1] if "." in name else ""
    version = _str(item.get("istio_version"))
    if not version:
        # A 1.1 istiod sends no istio_version: istioctl falls back to the proxy's, marked *.
        version = _str(item.get("proxy_version")) + "*"
    return ProxySync(
        name=name,
        cluster=_str(item.get("cluster_id")),
        namespace=namespace,
        istiod=istiod,
        version=version,
        kind="legacy",
        types=types,
        raw=item,
        proxy_type=proxy_type,
    )


def _legacy_type(
    url: str, sent: str, acked: str, ztunnel: bool, res: Mapping[str, Any], label: str
) -> TypeSync:
    error = _str(_get(res, "lastError"))
    status = nonce_state(sent, acked, ztunnel)
    if error and status in (STALE, STALE_NEVER_ACKED):
        # istiod >= 1.24 records the proxy's NACK in `resources[type].lastError`; its xDS
        # answer says ERROR for such a type, and istioctl prints it so. A push acked since
        # (acked == sent) is in sync: the error is history (shown by -o wide), not a state.
        status = ERROR
    return TypeSync(
        url,
        status,
        sent_time=parse_time(_get(res, "sentTime"), label),
        error=error,
    )


_TS = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)?$")


def parse_time(value: Any, label: str = "") -> datetime | None:
    """An RFC 3339 timestamp (proto-JSON Timestamp / Go time.Time), in UTC; None if unset.

    Fractions beyond microseconds are dropped; a time without an offset is UTC.

    Raises:
        InvalidInput: a timestamp field that is not a timestamp.
    """
    if value is None or value == "":
        return None
    when = _timestamp(value) if isinstance(value, str) else None
    if when is None:
        where = f"{label}: " if label else ""
        raise InvalidInput(f"{where}bad timestamp {value!r}", hint="expected RFC 3339")
    return when


@functools.lru_cache(maxsize=4096)  # istiod pushes to many proxies at the same instant
def _timestamp(value: str) -> datetime | None:
    match = _TS.match(value)
    if match is None:
        return None
    date, clock, frac, zone = match.groups()
    text = f"{date}T{clock}"
    if frac:
        text += "." + frac[:6].ljust(6, "0")
    if zone and zone not in ("Z", "z"):
        text += zone
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
