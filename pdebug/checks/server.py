"""Server-wide checks (PD6xx): stuck initializing, Istio's outbound traffic policy."""

from __future__ import annotations

from collections.abc import Iterator

from pdebug.checks.base import Check, Finding, Severity, SkipCheck, check
from pdebug.checks.context import Context, ListenerConfig, tcp_targets
from pdebug.model import schema as s
from pdebug.model.listeners import TCP_PROXY, decode_filter, network_kind
from pdebug.model.sections import is_full_dump

VIRTUAL_OUTBOUND = "virtualOutbound"
#: Istio <= 1.2 named its outbound capture listener ``virtual``.
CAPTURE_NAMES = (VIRTUAL_OUTBOUND, "virtual")
PASSTHROUGH = "PassthroughCluster"
BLACKHOLE = "BlackHoleCluster"


@check(
    "PD601",
    Severity.ERROR,
    "server-initializing",
    "LDS is configured but no dynamic listener arrived while static ones exist.",
    ("listeners",),
    ("bootstrap",),
)
def check_initializing(ctx: Context, this: Check) -> Iterator[Finding]:
    """A proxy that only has its bootstrap listeners: xDS never delivered (yet)."""
    from pdebug.model.listeners import lds_wait

    wait = lds_wait(ctx.dump)
    if wait is None:
        return
    n = wait.static
    listed = "listener" if n == 1 else "listeners"
    if wait.version:
        got = f"LDS delivered version {wait.version} without listeners"
        hint = (
            f"LDS answered without a listener: Envoy serves its static {listed} alone; "
            f"check what the control plane sends this proxy ({ctx.xds_hint()})"
        )
    else:
        got = "LDS has delivered nothing yet"
        hint = f"{wait.waiting()}: check its xDS connection ({ctx.xds_hint()}) and warming clusters"
    yield this.finding(
        "server/listeners", f"no dynamic listeners while {n} static {listed} exist: {got}", hint
    )


def _outbound(ctx: Context) -> ListenerConfig | None:
    for name in CAPTURE_NAMES:
        found = [lc for lc in ctx.listeners if lc.name == name]
        if found:
            break
    for state in ("ACTIVE", "STATIC", "WARMING", "DRAINING"):
        for lc in found:
            if lc.state == state:
                return lc
    return None


@check(
    "PD602",
    Severity.INFO,
    "outbound-traffic-policy",
    "Istio's outbound traffic policy: ALLOW_ANY (PassthroughCluster) or REGISTRY_ONLY.",
    ("listeners",),
)
def check_outbound_policy(ctx: Context, this: Check) -> Iterator[Finding]:
    """Where virtualOutbound's default filter chain sends traffic to unknown destinations."""
    lc = _outbound(ctx)
    if lc is None:
        if any(x.name in ("main_internal", "connect_terminate") for x in ctx.listeners):
            raise SkipCheck(
                "an ambient waypoint (main_internal/connect_terminate listeners): it has no "
                "outbound capture; ztunnel decides what reaches it"
            )
        if not is_full_dump(ctx.dump):
            raise SkipCheck(
                "no virtualOutbound listener in this partial dump (cut from a paste, or "
                "not an Istio sidecar)"
            )
        raise SkipCheck("no virtualOutbound listener (not an Istio sidecar)")
    chain = lc.listener.default_filter_chain
    if chain is None:
        unmatched = [c for c in lc.listener.filter_chains if c.filter_chain_match is None]
        chain = unmatched[-1] if unmatched else None
    targets: list[str] = []
    for f in chain.filters if chain is not None else []:
        if network_kind(f, by_type=False) == TCP_PROXY:
            tcp = decode_filter(f, s.TcpProxy, lc.camel, f"listener {lc.name}")
            targets.extend(tcp_targets(tcp))
    resource = f"listener/{lc.name}"
    if targets == [PASSTHROUGH]:
        yield this.finding(
            resource,
            "outbound traffic policy is ALLOW_ANY: traffic to hosts outside the mesh "
            "registry goes to PassthroughCluster",
            "set by meshConfig.outboundTrafficPolicy.mode or a Sidecar resource; calls to "
            "unknown hosts work but get no Istio routing or telemetry by service",
        )
    elif targets == [BLACKHOLE]:
        yield this.finding(
            resource,
            "outbound traffic policy is REGISTRY_ONLY: traffic to hosts outside the mesh "
            "registry goes to BlackHoleCluster (dropped)",
            "calls to hosts without a ServiceEntry fail (HTTP 502 from block_all, TCP reset): "
            "add a ServiceEntry for them",
        )
    else:
        where = ", ".join(targets) if targets else "no tcp_proxy"
        yield this.finding(
            resource,
            f"outbound traffic policy is unknown: the default filter chain goes to {where}",
            "Istio sends unmatched outbound traffic to PassthroughCluster (ALLOW_ANY) or "
            "BlackHoleCluster (REGISTRY_ONLY); an EnvoyFilter may have changed it",
        )


CHECKS = (check_initializing, check_outbound_policy)
