"""Listener checks (PD1xx): rejected updates, stuck warming, invalid network filters."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pdebug.checks.base import Check, Finding, Severity, check
from pdebug.checks.context import Context, tcp_targets
from pdebug.model import schema as s
from pdebug.model.listeners import tcp_on_demand

_MAX_REASON = 240
_VALIDATION = "Proto constraint validation failed ("


def envoy_reason(details: str) -> str:
    """Envoy's rejection ``details`` as one readable line.

    Envoy 1.40 writes a validation failure as a marker (``goo.gle/debugonly``,
    ``goo.gle/debugstr``...: protobuf varies it on purpose, so nobody parses it) followed
    by the offending proto in text format, then ``: <reason>`` on the last line; the
    reason is what matters. Other details are usually one line already.
    """
    lines = [line.strip() for line in details.strip().splitlines() if line.strip()]
    if not lines:
        return "(no details)"
    dumped = lines[0].startswith("goo.gle/") or lines[-1].startswith(":")
    text = lines[-1] if len(lines) > 1 and dumped else lines[0]
    if len(lines) > 1 and not dumped and text.startswith(_VALIDATION):
        # Envoy <= 1.3x: "Proto constraint validation failed (<reason>): <proto dumped
        # over the next lines>"; keep the reason, not the proto's first line
        depth = 0
        for at in range(len(_VALIDATION) - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[at], 0)
            if depth == 0:
                text = text[: at + 1]
                break
    text = re.sub(r"\s+", " ", text.lstrip(": ").strip())
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 3] + "..."
    return text


def _rejection_hint(reason: str, serving: bool, other: str = "") -> str:
    keep = (
        "Envoy keeps serving the previous version"
        if serving
        else "nothing is serving this listener"
    )
    if "Address already in use" in reason or "cannot bind" in reason:
        return (
            f"{keep}; another listener or process holds that address: find it "
            "(ss -ltnp in the pod) or change the port in the config that produced this"
        )
    if "validation failed" in reason or "ValidationError" in reason:
        return f"{keep}; the config breaks the schema rule named above: fix what generated " + (
            f"it ({other}, or its version against the proxy's)"
            if other
            else "it (an EnvoyFilter patch, istiod/proxy version skew)"
        )
    return f"{keep}; fix the config and push again (pdebug listeners SOURCE -o wide shows it)"


@check(
    "PD101",
    Severity.ERROR,
    "listener-rejected",
    "Envoy rejected a listener update (error_state): port in use, validation error...",
    ("listeners",),
)
def check_rejected(ctx: Context, this: Check) -> Iterator[Finding]:
    """One finding per rejected listener (Envoy lists each twice: once name-less)."""
    seen: set[tuple[str, str]] = set()
    for rej in ctx.listener_facts.rejections:
        err = rej.error
        reason = envoy_reason(err.details)
        if (rej.name, reason) in seen:
            continue
        seen.add((rej.name, reason))
        when = f" at {err.last_update_attempt}" if err.last_update_attempt else ""
        version = f" (version {err.version_info})" if err.version_info else ""
        yield this.finding(
            f"listener/{rej.name or '(unnamed)'}",
            f"Envoy rejected an update{version}{when}: {reason}",
            _rejection_hint(reason, rej.serving, ctx.control_plane),
        )


@check(
    "PD102",
    Severity.WARNING,
    "listener-warming",
    "A listener is warming: it waits for RDS, SDS or ECDS that has not arrived.",
    ("listeners",),
)
def check_warming(ctx: Context, this: Check) -> Iterator[Finding]:
    """Warming listeners, naming the RDS route configs they still wait for."""
    received: frozenset[str] | None = None  # read when a listener warms (few do)
    for lc in ctx.listeners:
        if lc.state != "WARMING":
            continue
        if received is None:
            received = ctx.route_names
        waiting = []
        for _, _, flt in ctx.network_filters(lc):
            if isinstance(flt, s.HttpConnectionManager) and flt.rds is not None:
                name = flt.rds.route_config_name
                if name and name not in received and name not in waiting:
                    waiting.append(name)
        since = f" since {lc.since}" if lc.since else ""
        what = (
            "waiting for RDS " + ", ".join(repr(n) for n in waiting) + " (not received)"
            if waiting
            else "waiting for its RDS, SDS secrets or ECDS filters"
        )
        serving = "; the previous version still serves" if lc.serving else "; not serving yet"
        yield this.finding(
            f"listener/{lc.name}",
            f"warming{since}: {what}{serving}",
            f"the config source is not answering: check the proxy's xDS connection "
            f"({ctx.xds_hint()}); with initial_fetch_timeout 0s Envoy waits forever",
        )


#: How gRPC servers name the listener they ask for (Istio's ``xds.istio.io/grpc/lds/inbound/%s``,
#: gRPC's default ``grpc/server?xds.resource.listening_address=%s``): gRPC, not Envoy, reads
#: it, and gRPC neither needs nor reads a stat_prefix (istiod's grpc generator sets none).
GRPC_SERVER_LISTENERS = ("xds.istio.io/grpc/lds/inbound/", "grpc/server?")


@check(
    "PD103",
    Severity.ERROR,
    "filter-without-stat-prefix",
    "An HTTP connection manager or tcp_proxy has no stat_prefix (Envoy rejects it).",
    ("listeners",),
)
def check_stat_prefix(ctx: Context, this: Check) -> Iterator[Finding]:
    """Filters Envoy would reject; seen in dumps no Envoy validated (istiod's view)."""
    for lc in ctx.listeners:
        if lc.name.startswith(GRPC_SERVER_LISTENERS):
            continue
        for index, chain, flt in ctx.network_filters(lc):
            if flt.stat_prefix:
                continue
            if isinstance(flt, s.TcpProxy) and flt.value is not None and flt.value.stat_prefix:
                continue  # Envoy <= 1.8's v1 form keeps it in its value
            kind = (
                "HTTP connection manager"
                if isinstance(flt, s.HttpConnectionManager)
                else "tcp_proxy"
            )
            label = chain.name or f"#{index}"
            yield this.finding(
                f"listener/{lc.name}",
                f"filter chain {label}: {kind} has no stat_prefix",
                "Envoy rejects this listener (Proto constraint validation failed ... "
                "StatPrefix); fix what generated it (an EnvoyFilter patch?)",
            )


@check(
    "PD104",
    Severity.ERROR,
    "tcp-proxy-unknown-cluster",
    "A tcp_proxy sends to a cluster the proxy does not have (connections are closed).",
    ("listeners",),
    ("clusters",),
)
def check_tcp_unknown_cluster(ctx: Context, this: Check) -> Iterator[Finding]:
    """tcp_proxy clusters missing from the cluster sections."""
    known = ctx.clusters
    for lc in ctx.listeners:
        for index, chain, flt in ctx.network_filters(lc):
            if not isinstance(flt, s.TcpProxy) or tcp_on_demand(flt):
                continue  # on_demand: Envoy asks its xDS server for a cluster it lacks
            for cluster in tcp_targets(flt):
                if cluster in known:
                    continue
                label = chain.name or f"#{index}"
                yield this.finding(
                    f"listener/{lc.name}",
                    f"filter chain {label}: tcp_proxy sends to unknown cluster {cluster!r}",
                    "connections through this chain are closed at once: check that the service "
                    "exists and its cluster reached the proxy (pdebug clusters SOURCE -o wide)",
                )


CHECKS = (check_rejected, check_warming, check_stat_prefix, check_tcp_unknown_cluster)
