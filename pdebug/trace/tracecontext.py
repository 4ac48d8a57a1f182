"""The trace context headers Envoy adds when the connection manager has a tracer.

A connection manager's ``tracing`` names its tracer in ``provider``; without one it uses
the bootstrap's ``tracing.http`` (old Istio's zipkin). Envoy 1.40, reading what an echo
upstream received (``tests/test_trace13.py``):

* **Zipkin.** A request without the client's ``x-b3-traceid`` and ``x-b3-spanid`` (nor a
  single ``b3`` header) gets ``x-b3-traceid``, ``x-b3-spanid`` (IDs Envoy generates) and
  ``x-b3-sampled`` (``1`` or ``0``: the sampling decision, which follows the
  ``x-request-id``, ``random_sampling`` and more). With the client's, nothing is added.
  A W3C ``traceparent`` is not read: a new trace.
* **OpenTelemetry.** ``traceparent``: a span ID Envoy generates, in the client's trace
  when it sent a ``traceparent``, else in a new one; ``tracestate`` (empty) when the
  client sent none.

Generated IDs and the sampling flag are said as unknown values, never invented. Other
tracers are named, their headers not worked out.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pdebug.model import schema as s
from pdebug.trace.matchers import as_obj, is_set

#: A zipkin tracer with ``shared_span_context: false`` (Istio's bootstraps wrote it).
ZIPKIN_UNSHARED = "zipkin (shared_span_context false)"
_B3 = ("x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-parentspanid", "x-b3-flags")


def tracer_kind(hcm: s.HttpConnectionManager, bootstrap: str | None) -> str | None:
    """``zipkin``, ``opentelemetry``, another tracer's name, ``""`` (none), or None.

    ``bootstrap``: the bootstrap's tracer (:func:`pdebug.model.bootstrap.bootstrap_tracer`;
    None: the dump has no bootstrap to say it).
    """
    if not is_set(hcm.tracing):
        return ""
    try:
        tracing = as_obj(msgspec.json.decode(bytes(hcm.tracing)))
    except msgspec.DecodeError:
        return None
    provider = as_obj(tracing.get("provider"))
    if provider:
        typed = as_obj(provider.get("typed_config", provider.get("typedConfig")))
        name = str(typed.get("@type") or provider.get("name") or "")
        shared = typed.get("shared_span_context", typed.get("sharedSpanContext"))
        name += " unshared" if shared in (False, "false") else ""
    elif bootstrap is None:
        return None
    else:
        name = bootstrap
    if not name:
        return ""
    low = name.lower()
    if "zipkin" in low:
        return ZIPKIN_UNSHARED if low.endswith(" unshared") else "zipkin"
    if "opentelemetry" in low:
        return "opentelemetry"
    from pdebug.model.dump import sanitize

    return sanitize(name.removesuffix(" unshared").rsplit("/", 1)[-1])


def trace_headers(kind: str | None, sent: dict[str, list[str]]) -> dict[str, str]:
    """Header -> what the tracer ``kind`` puts there (each value unknown to pdebug).

    ``sent``: the client's headers (lower-case names). A value pdebug knows is said
    after ``=`` (the caller shows it as a header).
    """
    if kind == "":
        return {}
    if kind is None:
        return {
            "x-b3-* or traceparent": (
                "a tracer's context headers, if the bootstrap (not in this dump) names a "
                "tracer for the connection manager's tracing"
            )
        }
    if kind in ("zipkin", ZIPKIN_UNSHARED):
        shared = kind == "zipkin"
        if "b3" in sent:
            return {} if shared else {"b3": "the client's trace ID with a span ID Envoy generates"}
        if "x-b3-traceid" in sent and "x-b3-spanid" in sent:
            if shared:
                return {}
            return {
                "x-b3-spanid": "a span ID Envoy generates",
                "x-b3-parentspanid": "=" + sent["x-b3-spanid"][0],
            }
        if any(h in sent for h in _B3):
            return {h: "the client's, or an ID Envoy generates" for h in _B3[:2]}
        return {
            "x-b3-traceid": "a trace ID Envoy generates",
            "x-b3-spanid": "a span ID Envoy generates",
            "x-b3-sampled": "'1' or '0': Envoy's sampling decision",
        }
    if kind == "opentelemetry":
        out: dict[str, str] = {}
        if "traceparent" in sent:
            out["traceparent"] = (
                "the client's trace ID with a span ID Envoy generates (00-TRACE-SPAN-FLAGS)"
            )
        else:
            out["traceparent"] = "a trace ID and span ID Envoy generates (00-TRACE-SPAN-FLAGS)"
        if "tracestate" not in sent:
            out["tracestate"] = "="
        return out
    return {f"{kind} context": "the trace context headers of this tracer (not worked out)"}


def bootstrap_of(proxy: Any) -> str | None:
    """The bootstrap's tracer of ``proxy``'s dump (None: no bootstrap, or no dump)."""
    from pdebug.model.bootstrap import bootstrap_tracer

    dump = getattr(proxy, "dump", None)
    return None if dump is None else bootstrap_tracer(dump)
