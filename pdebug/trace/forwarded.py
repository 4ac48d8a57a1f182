"""The headers Envoy adds to every request it forwards, whatever the route rewrites.

The connection manager sets some before routing (``x-forwarded-proto``, ``x-request-id``,
``x-forwarded-for``, ``x-envoy-internal``, ``x-envoy-external-address``, ``via``,
``x-forwarded-port``); the router adds the rest when it sends the request upstream
(``x-envoy-expected-rq-timeout-ms``, ``x-envoy-attempt-count``). Checked against Envoy
1.40 by ``tests/test_trace12.py``, reading what the upstream received:

* ``x-forwarded-proto``: the connection's scheme, when the client sent none or (with
  ``use_remote_address`` and no ``xff_num_trusted_hops``) always; ``x-forwarded-port``
  (``append_x_forwarded_port``): the destination port, on the same terms.
* ``via``: the connection manager's ``via`` appended after ``", "`` to the client's.
* ``x-request-id``: a UUID Envoy generates when the request has none (unless
  ``generate_request_id`` is false), and, with ``use_remote_address``, in place of an
  external client's (unless ``preserve_external_request_id``).
* ``x-envoy-expected-rq-timeout-ms`` (not with the router's ``suppress_envoy_headers``):
  the per-try timeout (the route's ``retry_policy``, else the virtual host's, or the
  ``x-envoy-upstream-rq-per-try-timeout-ms`` header) when it is below the route's
  ``timeout`` (15 s when unset, none with ``max_stream_duration``; the
  ``x-envoy-upstream-rq-timeout-ms`` header of a client Envoy keeps it from), else the
  route's timeout; none when that is 0 (no timeout). With ``hedge_on_per_try_timeout``
  the route's timeout.
* ``x-envoy-attempt-count: 1`` with the virtual host's ``include_request_attempt_count``
  (a retry counts up), suppressed or not.
* ``x-forwarded-client-cert`` for a client certificate (a mesh peer's, Istio's inbound):
  ``forward_client_cert_details`` APPEND_FORWARD adds an element after the client's
  value, SANITIZE_SET in place of it (``By``, ``Hash``, and the
  ``set_current_client_cert_details`` fields: ``URI`` is the ``--source-principal``).

``x-forwarded-for``, ``x-envoy-internal`` and ``x-envoy-external-address`` are the
connection manager's view (:func:`pdebug.trace.filters.seen_by_filters`) as the upstream
gets it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pdebug.model import schema as s
from pdebug.trace.matchers import is_set
from pdebug.trace.request import HttpRequest
from pdebug.trace.unsure import MAYBE_GONE

#: The route timeout Envoy uses when a route sets none.
DEFAULT_TIMEOUT_MS = 15_000
EXPECTED = "x-envoy-expected-rq-timeout-ms"
_DURATION = re.compile(r"^(\d+)(?:\.(\d{1,9}))?s$")


@dataclass
class Forwarded:
    """What Envoy adds to the request it forwards (beyond the route's own edits)."""

    #: header -> the value the upstream gets
    headers: dict[str, str] = field(default_factory=dict)
    #: header -> what Envoy puts there, when pdebug cannot know the value
    unknown: dict[str, str] = field(default_factory=dict)
    #: header -> where its value comes from, when that is worth saying
    how: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """``x-forwarded-proto: 'http'; x-request-id: a UUID Envoy generates``."""
        parts = [
            f"{k}: {v!r}" + (f" ({self.how[k]})" if k in self.how else "")
            for k, v in self.headers.items()
        ]
        parts += [f"{k}: {why}" for k, why in self.unknown.items()]
        return "; ".join(parts)


@dataclass
class RouteTimeouts:
    """The route's (and virtual host's) settings the router's timeout reads."""

    timeout: str = ""
    retry_policy: msgspec.Raw = field(default_factory=lambda: s.NULL)
    vhost_retry_policy: msgspec.Raw = field(default_factory=lambda: s.NULL)
    hedge: bool = False
    max_stream_duration: bool = False
    max_grpc_timeout: bool = False
    attempt_count: bool = False
    #: The route's ``max_grpc_timeout`` and ``grpc_timeout_offset`` as written.
    grpc_max: msgspec.Raw = field(default_factory=lambda: s.NULL)
    grpc_offset: msgspec.Raw = field(default_factory=lambda: s.NULL)


def duration_ms(value: Any) -> int | None:
    """A protobuf Duration (``"1.5s"``, or ``{seconds, nanos}``) in whole milliseconds."""
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m is None:
            return None
        frac = (m.group(2) or "").ljust(9, "0")
        return int(m.group(1)) * 1000 + int(frac) // 1_000_000
    if isinstance(value, dict):
        secs, nanos = value.get("seconds", 0), value.get("nanos", 0)
        try:
            return int(secs) * 1000 + int(nanos) // 1_000_000
        except (TypeError, ValueError):
            return None
    return None


def _per_try(raw: msgspec.Raw) -> int | None:
    """A retry policy's ``per_try_timeout`` in ms (0: none; None: unreadable)."""
    if not is_set(raw):
        return 0
    try:
        policy = msgspec.json.decode(bytes(raw))
    except msgspec.DecodeError:
        return None
    if not isinstance(policy, dict):
        return None
    value = policy.get("per_try_timeout", policy.get("perTryTimeout"))
    return 0 if value is None else duration_ms(value)


def expected_timeout(
    rt: RouteTimeouts, headers: dict[str, list[str]], respect_expected: bool
) -> tuple[int | None, str]:
    """The ``x-envoy-expected-rq-timeout-ms`` the router writes (0: none), and from what.

    ``headers``: the request as the router gets it (an external client's ``x-envoy-*``
    already gone). None when pdebug cannot tell, with why.
    """

    def header(name: str) -> int | None:
        values = headers.get(name)
        if not values:
            return None
        text = values[0].strip()
        return int(text) if text.isascii() and text.isdigit() else None

    if rt.max_stream_duration:
        total, said = 0, "max_stream_duration: no route timeout"
    elif rt.max_grpc_timeout and is_grpc(headers):
        found, said = _grpc_total(rt, headers)
        if found is None:
            return None, said
        total = found
    elif rt.timeout:
        found = duration_ms(rt.timeout)
        if found is None:
            return None, f"the route's timeout {rt.timeout!r} is not read"
        total, said = found, f"the route's timeout {rt.timeout}"
    else:
        total, said = DEFAULT_TIMEOUT_MS, "the default route timeout, 15s"
    given = header(EXPECTED) if respect_expected else None
    if given is None:
        given = header("x-envoy-upstream-rq-timeout-ms")
        if given is not None:
            total, said = given, "the request's x-envoy-upstream-rq-timeout-ms"
    else:
        total, said = given, f"the request's {EXPECTED} (respect_expected_rq_timeout)"
    per_try = (
        _per_try(rt.retry_policy) if is_set(rt.retry_policy) else _per_try(rt.vhost_retry_policy)
    )
    if per_try is None:
        return None, "the retry policy's per_try_timeout is not read"
    where = "the retry policy's per_try_timeout"
    header_try = header("x-envoy-upstream-rq-per-try-timeout-ms")
    if header_try is not None:
        per_try, where = header_try, "the request's x-envoy-upstream-rq-per-try-timeout-ms"
    hedge = rt.hedge
    hedge_header = headers.get("x-envoy-hedge-on-per-try-timeout")
    if hedge_header and hedge_header[0] in ("true", "false"):
        hedge = hedge_header[0] == "true"
    expected = per_try  # one not below the route's timeout gives way to it (below)
    if hedge or expected == 0:
        expected = total
    elif expected < total or total == 0:
        said = where
    if expected > 0 and total > 0:
        expected = min(expected, total)
    return expected, said


def is_grpc(headers: dict[str, list[str]]) -> bool:
    """Whether Envoy's router takes the request for gRPC.

    Its content-type is ``application/grpc`` or ``application/grpc+...`` (not
    ``-web``, not ``;...``: Envoy 1.40, tests/test_trace13.py).
    """
    values = headers.get("content-type")
    if not values:
        return False
    ct = values[0]
    return ct == "application/grpc" or ct.startswith("application/grpc+")


#: ``grpc-timeout``: at most 8 digits and a unit (gRPC's HTTP/2 protocol).
_GRPC_TIMEOUT = re.compile(r"^\+?([0-9]+)([HMSmun])$")
_GRPC_MAX = 99_999_999
_GRPC_UNITS = {"H": 3_600_000, "M": 60_000, "S": 1000, "m": 1}


def grpc_timeout_ms(values: list[str] | None) -> tuple[int | None, str]:
    """The request's ``grpc-timeout`` in ms as Envoy reads it (0: none), and what it was.

    Envoy 1.40 (tests/test_trace13.py): a number (``+`` allowed, leading zeros too) of at
    most 8 digits and a unit ``H M S m u n`` (``u``/``n`` rounded up to a whole ms);
    anything else is as if there were none. None: a spelling pdebug does not decide.
    """
    if not values:
        return 0, "no grpc-timeout"
    text = values[0].strip()
    m = _GRPC_TIMEOUT.match(text)
    if m is None:
        if not text or text[-1] not in "HMSmun" or not re.search(r"\s", text[:-1]):
            return 0, f"grpc-timeout {text!r}, which Envoy does not read"
        return None, f"grpc-timeout {text!r} (how Envoy reads it is not known to pdebug)"
    number, unit = int(m.group(1)), m.group(2)
    if number > _GRPC_MAX:
        return 0, f"grpc-timeout {text!r}, over 8 digits, which Envoy does not read"
    if unit in _GRPC_UNITS:
        return number * _GRPC_UNITS[unit], f"the request's grpc-timeout {text}"
    per_ms = 1000 if unit == "u" else 1_000_000
    return -(-number // per_ms), f"the request's grpc-timeout {text}"


def _grpc_total(rt: RouteTimeouts, headers: dict[str, list[str]]) -> tuple[int | None, str]:
    """A gRPC request's timeout on a route with ``max_grpc_timeout`` (0: none).

    The request's ``grpc-timeout`` less ``grpc_timeout_offset`` (when the offset is
    below it), capped by ``max_grpc_timeout`` (0: no cap; no grpc-timeout: the cap).
    The route's ``timeout`` does not count (Envoy 1.40: tests/test_trace13.py).
    """
    cap = _duration_raw(rt.grpc_max)
    offset = _duration_raw(rt.grpc_offset) if is_set(rt.grpc_offset) else 0
    if cap is None or offset is None:
        return None, "the route's max_grpc_timeout or grpc_timeout_offset is not read"
    got, said = grpc_timeout_ms(headers.get("grpc-timeout"))
    if got is None:
        return None, said
    if offset and offset < got:
        got, said = got - offset, f"{said} less grpc_timeout_offset"
    if cap and (got == 0 or got > cap):
        return cap, f"max_grpc_timeout ({said})" if got == 0 else "max_grpc_timeout"
    return got, said if got else f"{said} and max_grpc_timeout 0: none"


def _duration_raw(raw: msgspec.Raw) -> int | None:
    """A Duration written in the dump, in ms (None: unreadable)."""
    if not is_set(raw):
        return None
    try:
        value = msgspec.json.decode(bytes(raw))
    except msgspec.DecodeError:
        return None
    return duration_ms(value)


def grpc_timeout_text(ms: int) -> str:
    """``ms`` as Envoy writes a ``grpc-timeout`` (ms, else S, M, H within 8 digits)."""
    value, unit = ms, "m"
    for bigger, by in (("S", 1000), ("M", 60), ("H", 60)):
        if value <= _GRPC_MAX:
            break
        value, unit = value // by, bigger
    return f"{min(value, _GRPC_MAX)}{unit}"


#: The request headers the router reads its timeout from (an external client's are gone).
_TIMEOUT_HEADERS = (
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-hedge-on-per-try-timeout",
)


def _shown(value: int | None, said: str) -> str:
    if value is None:
        return f"unknown ({said})"
    return f"{str(value)!r} ({said})" if value else f"none ({said})"


def forwarded(
    client: list[tuple[str, str]],
    view: HttpRequest,
    unsure: tuple[tuple[str, str], ...],
    hcm: s.HttpConnectionManager,
    dest_port: int,
    internal: bool | None,
    rt: RouteTimeouts,
    router: dict[str, Any] | None,
    internal_why: str = "",
    cert: bool | None = False,
    principal: str | None = None,
    tracer: str | None = "",
) -> Forwarded:
    """What Envoy adds to a forwarded request.

    ``client``: the headers as the client sent them; ``view``/``unsure``: the request
    as the connection manager passes it on (:func:`~pdebug.trace.filters.seen_by_filters`);
    ``internal``: whether Envoy counts the client as internal (None: unknown, then
    ``internal_why`` says on what it depends); ``router``: the router filter's config
    (None: unreadable); ``cert``: whether the client presents a certificate (None:
    unknown), ``principal`` its URI SAN when known; ``tracer``: the connection
    manager's tracer (:func:`pdebug.trace.tracecontext.tracer_kind`).
    """
    out = Forwarded()
    sent: dict[str, list[str]] = {}
    for k, v in client:
        sent.setdefault(k.lower(), []).append(v)
    now = view.headers
    why = dict(unsure)
    trusted_hop = bool(hcm.use_remote_address) and not hcm.xff_num_trusted_hops
    proto = now.get("x-forwarded-proto", [])
    if proto and sent.get("x-forwarded-proto") != proto:
        out.headers["x-forwarded-proto"] = proto[0]
    if hcm.append_x_forwarded_port and ("x-forwarded-port" not in sent or trusted_hop):
        out.headers["x-forwarded-port"] = str(dest_port)
    if hcm.via:
        before = ",".join(sent.get("via", []))
        out.headers["via"] = f"{before}, {hcm.via}" if before else hcm.via
    if hcm.generate_request_id is not False:
        if "x-request-id" not in sent:
            out.unknown["x-request-id"] = "a UUID Envoy generates"
        elif hcm.use_remote_address and not hcm.preserve_external_request_id:
            if internal is False:
                out.unknown["x-request-id"] = (
                    "a UUID Envoy generates in place of the external client's"
                )
            elif internal is None:
                out.unknown["x-request-id"] = (
                    "a UUID Envoy generates in place of the client's, unless Envoy counts "
                    "the client as internal"
                )
    xff = now.get("x-forwarded-for", [])
    if hcm.use_remote_address and not hcm.skip_xff_append and xff:
        if "x-forwarded-for" in why:
            given = ",".join(sent.get("x-forwarded-for", []))
            whom = (
                "Envoy's own address (a loopback client)"
                if "loopback" in why["x-forwarded-for"]
                else "the client's address (give --source-ip)"
            )
            out.unknown["x-forwarded-for"] = f"{given!r}, then {whom}" if given else whom
        else:
            out.headers["x-forwarded-for"] = xff[0]
    if internal is None:
        out.unknown["x-envoy-internal"] = (
            f"'true' if Envoy counts the client as internal ({internal_why})"
        )
        if hcm.use_remote_address:
            out.unknown["x-envoy-external-address"] = (
                f"the client's address, unless Envoy counts it as internal ({internal_why})"
            )
    else:
        for name in ("x-envoy-internal", "x-envoy-external-address"):
            if name in why:
                out.unknown[name] = f"the client's address ({internal_why or why[name]})"
            elif now.get(name) and now.get(name) != sent.get(name):
                out.headers[name] = now[name][0]
    grpc = is_grpc(now) and (rt.max_grpc_timeout or rt.max_stream_duration)
    if router is None:
        out.unknown[EXPECTED] = (
            "the router's config is not readable (suppress_envoy_headers decides)"
        )
        if grpc:
            out.unknown[GRPC_TIMEOUT] = "the router's timeout (its config is not readable)"
    else:
        _timeouts(out, rt, now, why, sent, router, internal_why, grpc)
    if rt.attempt_count:
        out.headers["x-envoy-attempt-count"] = "1"
    from pdebug.trace.tracecontext import trace_headers

    for name, what in trace_headers(tracer, sent).items():
        if what.startswith("="):
            out.headers[name] = what[1:]
        else:
            out.unknown[name] = what
    element = client_cert_element(hcm, cert, principal, bool(sent.get(XFCC)))
    if element:
        out.unknown[XFCC] = element
    return out


GRPC_TIMEOUT = "grpc-timeout"


def _timeouts(
    out: Forwarded,
    rt: RouteTimeouts,
    now: dict[str, list[str]],
    why: dict[str, str],
    sent: dict[str, list[str]],
    router: dict[str, Any],
    internal_why: str,
    grpc: bool,
) -> None:
    """``x-envoy-expected-rq-timeout-ms``, and a gRPC request's ``grpc-timeout``.

    With ``max_grpc_timeout`` Envoy writes the expected timeout into ``grpc-timeout``
    too (when it is not 0), ``suppress_envoy_headers`` or not; with
    ``max_stream_duration`` it may write one pdebug does not work out (Envoy 1.40:
    tests/test_trace13.py).
    """
    suppress = bool(router.get("suppress_envoy_headers"))
    if grpc and rt.max_stream_duration:
        out.unknown[GRPC_TIMEOUT] = (
            "Envoy may write one from the route's max_stream_duration (pdebug does not work it out)"
        )
        grpc = False
    if not suppress or grpc:
        respect = router.get("respect_expected_rq_timeout") is True
        value, said = expected_timeout(rt, now, respect)
        kept = {n for n in _TIMEOUT_HEADERS if MAYBE_GONE + n in why}
        if kept:  # the client's own timeout headers count only if Envoy keeps them
            stripped = {k: v for k, v in now.items() if k not in kept}
            other, other_said = expected_timeout(rt, stripped, respect)
            if other != value:
                out.unknown[EXPECTED] = (
                    f"{_shown(value, said)} if Envoy counts the client as internal "
                    f"({internal_why}), else {_shown(other, other_said)}"
                )
                value = None
                said = ""
        if value is None:
            if not suppress:
                out.unknown[EXPECTED] = out.unknown.get(EXPECTED, said)
            if grpc:
                out.unknown[GRPC_TIMEOUT] = (
                    "the router's timeout, as x-envoy-expected-rq-timeout-ms says it"
                    if not suppress
                    else f"the router's timeout: {out.unknown.get(EXPECTED) or said}"
                )
            if suppress:
                out.unknown.pop(EXPECTED, None)
        elif value:
            if not suppress:
                out.headers[EXPECTED] = str(value)
                out.how[EXPECTED] = said
            text = grpc_timeout_text(value)
            if grpc and sent.get(GRPC_TIMEOUT, [""])[0].strip() != text:
                out.headers[GRPC_TIMEOUT] = text
                out.how[GRPC_TIMEOUT] = said


XFCC = "x-forwarded-client-cert"
_FCC = ("SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY")
#: ``set_current_client_cert_details`` fields, in the order Envoy writes their keys.
_DETAILS = (("cert", "Cert"), ("chain", "Chain"), ("subject", "Subject"), ("uri", "URI"),
            ("dns", "DNS"))  # fmt: skip


def client_cert_element(
    hcm: s.HttpConnectionManager, cert: bool | None, principal: str | None, given: bool
) -> str:
    """The x-forwarded-client-cert element Envoy writes for a client certificate ("": none).

    ``forward_client_cert_details`` APPEND_FORWARD (after the client's) or SANITIZE_SET
    (in place of it): ``By`` (this proxy's URI SAN), ``Hash`` (the client certificate's
    SHA-256) and the ``set_current_client_cert_details`` asked for.
    """
    fcc = hcm.forward_client_cert_details
    mode = _FCC[fcc] if isinstance(fcc, int) and 0 <= fcc < len(_FCC) else str(fcc or "SANITIZE")
    if mode not in ("APPEND_FORWARD", "SANITIZE_SET") or cert is False:
        return ""
    details: dict[str, Any] = {}
    if is_set(hcm.set_current_client_cert_details):
        try:
            found = msgspec.json.decode(bytes(hcm.set_current_client_cert_details))
        except msgspec.DecodeError:
            found = {}
        details = found if isinstance(found, dict) else {}
    parts = ["By=this proxy's URI SAN", "Hash=the client certificate's SHA-256"]
    for key, label in _DETAILS:
        if details.get(key) is True:
            if key == "uri" and principal:
                parts.append(f"URI={principal}")
            else:
                parts.append(f"{label}=the certificate's")
    element = ";".join(parts)
    where = (
        "the client's value, then "
        if mode == "APPEND_FORWARD" and given
        else ("in place of the client's: " if given else "")
    )
    text = f"{where}{element} ({mode})"
    if cert is None:
        text += ", if the client presents a certificate"
    return text
