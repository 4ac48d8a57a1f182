"""Facts: Envoy's text ``/clusters`` and text ``/stats``, as their JSON forms' documents.

``pdebug dump`` saves the text answers (``clusters.txt``, ``stats.txt``): Envoy's admin
thread builds them in a fraction of the CPU the ``?format=json`` forms take (#17). Every
reader works on the JSON forms, so the bundle reader hands each text answer over as the
document Envoy 1.40 would have sent for ``?format=json`` at that moment
(:func:`clusters_document`, :func:`stats_document`): same values, same fields, same key
order, default values left out as protobuf's JSON printer leaves them out. Compact, not
pretty-printed.

The conversion is exact or refused: a line it cannot place (a value holding a newline, a
field or flag this Envoy does not write, an address it cannot split) raises
:class:`~pdebug.errors.InvalidInput`, never a guess. The one value the text rounds (an
outlier detector's success-rate ejection threshold, printed with 6 significant digits) is
reported by :func:`lossy_clusters`, so that a capture saves ``?format=json`` instead.

One module over 500 lines because both conversions make one promise (the JSON form's
document exactly, or a refusal) with one set of number rules; split in two, those rules
would live in two places.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from pdebug.errors import InvalidInput

Json = dict[str, Any]

#: What an older pdebug's redaction wrote for a stat's value (``name: [redacted]``).
_REDACTED = "[redacted]"
#: The key of :func:`stats_document`'s list of stats whose value was redacted.
REDACTED_KEY = "pdebug_redacted"

_HINT = "capture it again, or save GET /clusters?format=json and /stats?format=json"

#: A host's stats that are gauges (the text does not say; the JSON lists counters, then
#: gauges, each in the text's order). Any other name is a counter.
_GAUGES = frozenset({"cx_active", "rq_active", "rq_pending_active"})
#: Host stats this Envoy writes; another name is refused (its type is unknown).
_HOST_STATS = _GAUGES | {
    "cx_connect_fail",
    "cx_total",
    "rq_error",
    "rq_success",
    "rq_timeout",
    "rq_total",
}
#: What follows a host's stats, in order.
_HOST_KEYS = (
    "hostname",
    "health_flags",
    "weight",
    "region",
    "zone",
    "sub_zone",
    "canary",
    "priority",
    "success_rate",
    "local_origin_success_rate",
)
_HOST_MARKERS = tuple((key, f"{key}::") for key in _HOST_KEYS)
_OUTLIER = (
    "success_rate_average",
    "success_rate_ejection_threshold",
    "local_origin_success_rate_average",
    "local_origin_success_rate_ejection_threshold",
)
_LIMITS = ("max_connections", "max_pending_requests", "max_requests", "max_retries")
#: ``health_flags`` words -> the JSON's boolean field (None: the EDS status).
_FLAGS = {
    "failed_active_hc": "failed_active_health_check",
    "failed_outlier_check": "failed_outlier_check",
    "degraded_active_hc": "failed_active_degraded_check",
    "pending_dynamic_removal": "pending_dynamic_removal",
    "pending_active_hc": "pending_active_hc",
    "excluded_via_immediate_hc_fail": "excluded_via_immediate_hc_fail",
    "active_hc_timeout": "active_hc_timeout",
    "failed_eds_health": None,
    "degraded_eds_health": None,
    "eds_status_draining": None,
}
#: HostHealthStatus's boolean fields in field-number order (``eds_health_status`` is 3rd).
_HEALTH_ORDER = (
    "failed_active_health_check",
    "failed_outlier_check",
    "eds_health_status",
    "failed_active_degraded_check",
    "pending_dynamic_removal",
    "pending_active_hc",
    "excluded_via_immediate_hc_fail",
    "active_hc_timeout",
)
_DIGITS = re.compile(r"[0-9]+\Z")
_IPV4 = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,3}){3}):([0-9]+)\Z")
_STAT_NAME = re.compile(r"[a-z_]+\Z")


def _refuse(label: str, line: int, why: str) -> InvalidInput:
    return InvalidInput(f"{label}: line {line}: {why}: not Envoy 1.40's text /clusters", hint=_HINT)


#: Integral doubles below this are written as integers (exact; larger stay doubles).
_EXACT = 2**53


def _number(text: str) -> int | float:
    """A double as protobuf's JSON prints it: an integral value without a fraction."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < _EXACT else value


def _uint(text: str, bits: int) -> int | None:
    """``text`` as an unsigned integer of ``bits`` bits (ASCII digits); None otherwise."""
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        return None
    value = int(text)
    return value if value < 1 << bits else None


def _address(text: str) -> Json:
    """``Address`` as ``addressToProtobufAddress`` writes it, from ``asString()``."""
    if text.startswith("envoy://"):
        listener, slash, endpoint = text[8:].partition("/")
        if not slash or "/" in endpoint:
            raise ValueError(f"internal address {text!r} cannot be split")
        inner: Json = {}
        if listener:
            inner["server_listener_name"] = listener
        if endpoint:
            inner["endpoint_id"] = endpoint
        return {"envoy_internal_address": inner}
    if text.startswith("["):
        host, sep, port = text[1:].rpartition("]:")
        if not sep or not _DIGITS.match(port):
            raise ValueError(f"address {text!r} is not [IPv6]:PORT")
        if _uint(port, 16) is None:
            raise ValueError(f"address {text!r} has no port")
        return _socket(host, int(port))
    ipv4 = _IPV4.match(text)
    if ipv4:
        if _uint(ipv4.group(2), 16) is None:
            raise ValueError(f"address {text!r} has no port")
        return _socket(ipv4.group(1), int(ipv4.group(2)))
    # A pipe's path as configured: absolute, abstract (@), or relative with a directory
    # (Istio's xds-grpc cluster is ./etc/istio/proxy/XDS); an IP or a name has no "/".
    if not text.startswith(("/", "@")) and "/" not in text:
        raise ValueError(f"address {text!r} is neither IP:PORT nor a pipe path")
    return {"pipe": {"path": text}}


def _socket(host: str, port: int) -> Json:
    return {"socket_address": {"address": host, "port_value": port}}  # 0 too, as Envoy writes


class _Lines:
    """The text's lines with a cursor; each read checks the expected prefix."""

    def __init__(self, text: str, label: str) -> None:
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.i = 0
        self.label = label
        #: Each host stat line's tail seen, and its entry (shared: never changed after).
        self.metrics: dict[str, tuple[bool, Json]] = {}
        #: ``health_flags`` -> ``health_status``, locality -> ``locality`` (shared too).
        self.healths: dict[str, Json] = {}
        self.places: dict[tuple[str, str, str], Json] = {}

    def more(self) -> bool:
        return self.i < len(self.lines)

    def peek(self, offset: int = 0) -> str | None:
        at = self.i + offset
        return self.lines[at] if at < len(self.lines) else None

    def take(self, prefix: str) -> str:
        """The rest of the current line after ``prefix``; the cursor moves on."""
        line = self.peek()
        if line is None or not line.startswith(prefix):
            raise _refuse(self.label, self.i + 1, f"expected {prefix[-60:]!r}")
        self.i += 1
        return line[len(prefix) :]

    def number(self, prefix: str, bits: int = 32) -> int:
        value = self.take(prefix)
        found = _uint(value, bits)
        if found is None:
            raise _refuse(self.label, self.i, f"{value[:40]!r} is not a {bits}-bit number")
        return found


def _cluster_name(lines: _Lines) -> str | None:
    """The name of the cluster whose block starts at the cursor (None: no block starts).

    A block is ``N::observability_name::O``, then either the outlier lines or the
    circuit breaker's, whose value ends the line: splitting those at their last marker
    gives ``N`` whatever ``::`` it holds.
    """
    first, second = lines.peek(), lines.peek(1)
    if first is None or second is None:
        return None
    for marker in ("::default_priority::max_connections::", "::outlier::success_rate_average::"):
        name, sep, _ = second.rpartition(marker)
        if sep and name and first.startswith(f"{name}::observability_name::"):
            return name
    return None


def clusters_document(data: bytes | memoryview, label: str) -> bytes:
    """The ``/clusters?format=json`` document of a text ``/clusters`` answer (compact JSON).

    Raises:
        InvalidInput: a line the conversion cannot place exactly.
    """
    return orjson.dumps({"cluster_statuses": clusters_statuses(data, label)})


def clusters_statuses(data: bytes | memoryview, label: str) -> list[Json]:
    """``cluster_statuses`` of a text ``/clusters`` answer (see :func:`clusters_document`)."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{label}: not UTF-8 text, not Envoy's text /clusters") from None
    lines = _Lines(text, label)
    out: list[Json] = []
    while lines.more():
        name = _cluster_name(lines)
        if name is None:
            raise _refuse(label, lines.i + 1, "no cluster starts here")
        out.append(_cluster(lines, name))
    return out


def _cluster(lines: _Lines, name: str) -> Json:
    head = f"{name}::"
    observability = lines.take(f"{head}observability_name::")
    thresholds: dict[str, float | int] = {}
    if (lines.peek() or "").startswith(f"{head}outlier::"):
        for key in _OUTLIER:
            value = lines.take(f"{head}outlier::{key}::")
            try:
                number = _number(value)
            except ValueError:
                raise _refuse(lines.label, lines.i, f"{value[:40]!r} is not a number") from None
            if key.endswith("_ejection_threshold") and number > 0:
                thresholds[key] = number
    limits = []
    for priority in ("default", "high"):
        entry: Json = {} if priority == "default" else {"priority": "HIGH"}
        for key in _LIMITS:
            entry[key] = lines.number(f"{head}{priority}_priority::{key}::")
        limits.append(entry)
    via_api = lines.take(f"{head}added_via_api::")
    if via_api not in ("true", "false"):
        raise _refuse(lines.label, lines.i, f"added_via_api {via_api[:20]!r}")
    eds_service = None
    eds_line = (lines.peek() or "").startswith(f"{head}eds_service_name::")
    if eds_line and _cluster_name(lines) is None:
        eds_service = lines.take(f"{head}eds_service_name::")
    hosts = []
    while lines.more() and (lines.peek() or "").startswith(head) and _cluster_name(lines) is None:
        hosts.append(_host(lines, head))
    status: Json = {"name": name}
    if via_api == "true":
        status["added_via_api"] = True
    if "success_rate_ejection_threshold" in thresholds:
        status["success_rate_ejection_threshold"] = {
            "value": thresholds["success_rate_ejection_threshold"]
        }
    if hosts:
        status["host_statuses"] = hosts
    if "local_origin_success_rate_ejection_threshold" in thresholds:
        status["local_origin_success_rate_ejection_threshold"] = {
            "value": thresholds["local_origin_success_rate_ejection_threshold"]
        }
    status["circuit_breakers"] = {"thresholds": limits}
    if observability:
        status["observability_name"] = observability
    if eds_service:
        status["eds_service_name"] = eds_service
    return status


def _metric(tail: str, label: str, line: int) -> tuple[bool, Json]:
    """A host stat line's ``STAT::VALUE``: whether a gauge, and its JSON entry."""
    stat, sep, value = tail.partition("::")
    if not sep or stat not in _HOST_STATS:
        raise _refuse(label, line, f"unknown host stat {stat[:40]!r}")
    if _uint(value, 64) is None:
        raise _refuse(label, line, f"{value[:40]!r} is not a 64-bit number")
    gauge = stat in _GAUGES
    metric: Json = {"type": "GAUGE"} if gauge else {}
    if value != "0":
        metric["value"] = str(int(value))  # uint64: a JSON string
    metric["name"] = stat
    return gauge, metric


def _host(lines: _Lines, head: str) -> Json:
    first = lines.peek() or ""
    where = lines.i + 1
    address, _, rest = first[len(head) :].rpartition("::")
    address, _, stat = address.rpartition("::")
    if not address or not _STAT_NAME.match(stat) or not _DIGITS.match(rest):
        raise _refuse(lines.label, where, "expected a host's first stat")
    try:
        parsed = _address(address)
    except ValueError as exc:
        raise _refuse(lines.label, where, str(exc)) from None
    prefix = f"{head}{address}::"
    cut = len(prefix)
    rows, at, end = lines.lines, lines.i, len(lines.lines)
    counters: list[Json] = []
    gauges: list[Json] = []
    stop = f"{prefix}hostname::"
    # one pass over the host's lines by index (15k hosts of 20 lines on a 5k-service mesh)
    seen = lines.metrics  # "cx_total::0" -> its entry: most lines repeat, most values are 0
    while at < end and not rows[at].startswith(stop):
        line = rows[at]
        if not line.startswith(prefix):
            raise _refuse(lines.label, at + 1, f"expected {prefix[-60:]!r}")
        tail = line[cut:]
        known = seen.get(tail)
        if known is None:
            known = seen[tail] = _metric(tail, lines.label, at + 1)
        (gauges if known[0] else counters).append(known[1])
        at += 1
    if at + len(_HOST_KEYS) > end:
        raise _refuse(lines.label, end, "the text ends inside a host")
    got: dict[str, str] = {}
    for key, marker in _HOST_MARKERS:
        line = rows[at]
        if not line.startswith(prefix) or not line.startswith(marker, cut):
            raise _refuse(lines.label, at + 1, f"expected {prefix[-40:]}{marker}")
        got[key] = line[cut + len(marker) :]
        at += 1
    lines.i = at
    flags = got["health_flags"]
    health = lines.healths.get(flags)
    if health is None:
        health = lines.healths[flags] = _health(flags, lines.label, lines.i)
    host: Json = {"address": parsed, "stats": counters + gauges, "health_status": health}
    try:
        rate = -1 if got["success_rate"] == "-1" else _number(got["success_rate"])
        local = got["local_origin_success_rate"]
        local_rate = -1 if local == "-1" else _number(local)
    except ValueError:
        raise _refuse(lines.label, lines.i, "a success rate is not a number") from None
    if rate >= 0:
        host["success_rate"] = {"value": rate}
    weight, priority = _uint(got["weight"], 32), _uint(got["priority"], 32)
    if weight is None or priority is None:
        raise _refuse(lines.label, lines.i, f"weight {got['weight'][:20]!r}, priority")
    host["weight"] = weight
    if got["hostname"]:
        host["hostname"] = got["hostname"]
    if priority:
        host["priority"] = priority
    if local_rate >= 0:
        host["local_origin_success_rate"] = {"value": local_rate}
    place = (got["region"], got["zone"], got["sub_zone"])
    locality = lines.places.get(place)
    if locality is None:
        keys = ("region", "zone", "sub_zone")
        locality = lines.places[place] = {k: v for k, v in zip(keys, place, strict=True) if v}
    host["locality"] = locality
    return host


def _health(flags: str, label: str, line: int) -> Json:
    """``health_status`` of a ``health_flags`` value (``healthy`` or ``/flag/flag...``)."""
    health: Json = {}
    eds = "HEALTHY"
    if flags != "healthy":
        if not flags.startswith("/"):
            raise _refuse(label, line, f"health flags {flags[:60]!r}")
        words = flags[1:].split("/")
        for word in words:
            if word not in _FLAGS:
                raise _refuse(label, line, f"unknown health flag {word[:40]!r}")
            field = _FLAGS[word]
            if field is not None:
                health[field] = True
        if "failed_eds_health" in words:
            eds = "UNHEALTHY"
        elif "degraded_eds_health" in words:
            eds = "DEGRADED"
        elif "eds_status_draining" in words:
            eds = "DRAINING"
    health["eds_health_status"] = eds
    return {k: health[k] for k in _HEALTH_ORDER if k in health}


def lossy_clusters(data: bytes | memoryview) -> bool:
    """Whether text ``/clusters`` rounds a value the JSON form has whole.

    An outlier detector's ejection threshold is printed with 6 significant digits; it
    is set (positive) only once the detector has computed a success rate.
    """
    raw = bytes(data)
    marker = b"success_rate_ejection_threshold::"
    total = raw.count(marker)
    if not total:
        return False
    unset = raw.count(marker + b"-1\n") + raw.count(marker + b"0\n")
    return unset != total


# --------------------------------------------------------------------------- /stats

#: Envoy's quantiles (``HistogramStatisticsImpl``), as ``supported_quantiles`` lists them.
_QUANTILES: list[int | float] = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]
_QUANTILE = re.compile(r"P([0-9.e+-]+)\(([^,()]*),([^,()]*)\)\Z")
#: A bucket of ``/stats?histogram_buckets=cumulative|disjoint``: ``B<upper bound>(i,c)``.
_BUCKET = re.compile(r"B([0-9.e+-]+)\(([^,()]*),([^,()]*)\)\Z")


def _maybe(text: str) -> int | float | None:
    """A histogram value; ``nan`` (no value) is JSON's null."""
    value = float(text)
    if value != value:  # NaN
        return None
    return int(value) if value.is_integer() and abs(value) < _EXACT else value


def stats_document(data: bytes | memoryview, label: str) -> bytes:
    """The ``/stats?format=json`` document of a text ``/stats`` answer (compact JSON).

    Counters and gauges (``name: N``), text readouts (``name: "VALUE"``), and
    histograms in the default quantile form (``P0(INTERVAL,CUMULATIVE) ...`` or ``No
    recorded values``), in the text's order, the histograms gathered at the end as the
    JSON form does. Histograms in buckets (``histogram_buckets=``, ``B0.5(INTERVAL,
    CUMULATIVE) ...``) give the JSON form's list of ``{"name", "buckets"}`` (with
    ``{"upper_bound", "interval", "cumulative"}``). The one reader of Envoy's text
    stats: a bundle's ``stats.txt`` and a saved text ``/stats`` (:mod:`pdebug.model.stats`)
    go through it.

    A line whose value is ``[redacted]`` (unquoted: a bundle of an older pdebug, whose
    redaction took the value of a counter named like a secret) has no value to read: its
    name goes in the document's ``pdebug_redacted`` list (a key Envoy never writes, there
    only when such a line was seen), and :mod:`pdebug.model.stats` reads it as a stat
    whose value is unknown.

    Raises:
        InvalidInput: a line the conversion cannot place exactly.
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{label}: not UTF-8 text, not Envoy's text /stats") from None
    stats: list[Json] = []
    histograms: list[Json] = []
    supported: list[int | float] | None = None
    bucketed: list[Json] = []  # histograms in buckets (B...), not quantiles (P...)
    redacted: list[str] = []  # names whose value an older redaction replaced
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        name, sep, value = line.partition(": ")
        if not sep or not name or " " in name or ":" in name:
            raise InvalidInput(
                f"{label}: line {number}: not a stat line: not Envoy 1.40's text /stats",
                hint=_HINT,
            )
        if value.startswith(_REDACTED):  # the whole value, or a histogram's first part
            redacted.append(name)
            continue
        if _DIGITS.match(value):
            count = _uint(value, 64)
            if count is None:
                raise InvalidInput(
                    f"{label}: line {number}: {value[:40]!r} is not a 64-bit value: not "
                    "Envoy 1.40's text /stats",
                    hint=_HINT,
                )
            stats.append({"name": name, "value": count})
        elif len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            stats.append({"name": name, "value": value[1:-1]})
        elif value == "No recorded values":
            histograms.append({"name": name, "values": None})
        else:
            labels, values = [], []
            form = _BUCKET if value.startswith("B") else _QUANTILE
            for part in value.split(" "):
                found = form.match(part)
                try:
                    if found is None:
                        raise ValueError(part)
                    labels.append(_number(found.group(1)))
                    values.append(
                        {"cumulative": _maybe(found.group(3)), "interval": _maybe(found.group(2))}
                    )
                except ValueError:
                    raise InvalidInput(
                        f"{label}: line {number}: {value[:60]!r} is not a value this "
                        "conversion reads: not Envoy 1.40's text /stats",
                        hint=_HINT,
                    ) from None
            if form is _BUCKET:
                listed = [
                    {"upper_bound": b, "interval": v["interval"], "cumulative": v["cumulative"]}
                    for b, v in zip(labels, values, strict=True)
                ]
                bucketed.append({"name": name, "buckets": listed})
                continue
            if supported is None:
                supported = labels
            elif labels != supported:
                raise InvalidInput(
                    f"{label}: line {number}: other quantiles than the first histogram's",
                    hint=_HINT,
                )
            histograms.append({"name": name, "values": values})
    if bucketed and all(h["values"] is None for h in histograms):
        # no recorded values in bucket form: an empty list, as the JSON form has it
        bucketed += [{"name": h["name"], "buckets": []} for h in histograms]
        histograms = []
    if histograms:
        quantiles = supported if supported is not None else _QUANTILES
        empty = [{"cumulative": None, "interval": None} for _ in quantiles]
        computed = [
            {"name": h["name"], "values": h["values"] if h["values"] is not None else empty}
            for h in histograms
        ]
        stats.append(
            {"histograms": {"supported_quantiles": quantiles, "computed_quantiles": computed}}
        )
    if bucketed:  # Envoy writes one form or the other; a text with both keeps both
        stats.append({"histograms": bucketed})
    if redacted:
        return orjson.dumps({"stats": stats, REDACTED_KEY: redacted})
    return orjson.dumps({"stats": stats})


__all__ = [
    "REDACTED_KEY",
    "clusters_document",
    "clusters_statuses",
    "lossy_clusters",
    "stats_document",
]
