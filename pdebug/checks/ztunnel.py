"""``pdebug check`` on a ztunnel dump (Istio ambient): codes ``PD7xx``.

Each rule is grounded in the research note ``ztunnel.md`` §5 (the number in brackets is
that table's row) and reads one dump only. Codes are a runbook contract, as for the Envoy
checks: never renumbered, never reused.

=====  ========  ==================================================================
PD701  warning   certificate not available (Initializing, or Unavailable: reason) [1]
PD702  error     certificate outside its validity period (leaf, intermediate, root) [2]
PD703  warning   leaf certificate expires within --cert-days [3]
PD704  error     waypoint reference resolves to no known service (WAYPOINT ``NA``) [6]
PD705  error     waypoint service with no healthy endpoint: bound traffic is dropped [7]
PD706  warning   service without endpoints (``0/0``; not ``default/kubernetes``, not a
                 ``Passthrough`` one) [10]
PD707  warning   endpoint whose workload is unknown (counted unhealthy) [11]
PD708  error     ALLOW policy without rules: denies everything it applies to [22]
PD709  warning   workload lists a policy the dump does not have [21]
PD710  info      dry-run policy (istioctl's table hides the flag) [23]
PD711  warning   HBONE/TCP mismatch in a connection [14, 15]
PD712  warning   connection to an address ztunnel knows nothing about [16, 20]
PD713  warning   captured pod still Pending in ztunnel [18]
PD714  warning   waypoint set on a workload ztunnel does not capture (TCP; not a
                 ServiceEntry's endpoint) [13]
=====  ========  ==================================================================

One module over 500 lines because it is the one registry of the PD7xx codes: the rules
read the same dump facts and their helpers (which address ztunnel resolves for which
client, which HBONE port a gateway declares) are shared between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pdebug.checks.base import CheckReport, Finding, Severity
from pdebug.checks.options import CheckOptions
from pdebug.model import ztunnel as zm
from pdebug.model.ztunnel import ZtunnelDump

HBONE_PORT = "15008"


@dataclass(frozen=True)
class ZCheck:
    """One ztunnel check: stable code, severity, name, and the rule."""

    code: str
    severity: Severity
    name: str
    func: Callable[[ZtunnelDump, CheckOptions, ZCheck], Iterator[Finding]]

    def finding(self, resource: str, message: str, hint: str) -> Finding:
        """A finding of this check."""
        return Finding(self.code, self.severity, resource, message, hint)


CHECKS: list[ZCheck] = []


def _check(
    code: str, severity: Severity, name: str
) -> Callable[[Callable[[ZtunnelDump, CheckOptions, ZCheck], Iterator[Finding]]], None]:
    def register(func: Callable[[ZtunnelDump, CheckOptions, ZCheck], Iterator[Finding]]) -> None:
        CHECKS.append(ZCheck(code, severity, name, func))

    return register


def _now(options: CheckOptions) -> datetime:
    return options.now or datetime.now(UTC)


def _wname(w: dict[str, Any]) -> str:
    return f"workload/{zm.cell(w.get('name'))}.{zm.cell(w.get('namespace'))}"


def _sname(s: dict[str, Any]) -> str:
    return f"service/{zm.cell(s.get('name'))}.{zm.cell(s.get('namespace'))}"


# --- certificates -------------------------------------------------------------------------


@_check("PD701", Severity.WARNING, "ztunnel-cert-unavailable")
def _cert_unavailable(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    available = {
        zm.cell(c.get("identity")) for c in d.certificates if c.get("state") == "Available"
    }
    for cert in d.certificates:
        state = zm.cell(cert.get("state"))
        if state == "Available" or "no longer needed" in state:
            continue
        identity = zm.cell(cert.get("identity"))
        also = " (another entry of it is Available)" if identity in available else ""
        yield this.finding(
            f"certificate/{identity}",
            f"ztunnel holds no usable certificate: {state or 'no state'}{also}",
            "ztunnel fetches certificates from istiod (CA_ADDRESS): check istiod and "
            "ztunnel's log for CSR errors",
        )


@_check("PD702", Severity.ERROR, "ztunnel-cert-invalid")
def _cert_invalid(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    for row in zm.cert_rows(d, _now(o)):
        if row.kind == "NA" or row.valid or row.status != "Available":
            continue
        why = (
            "its times do not parse"
            if row.bad_time
            else (f"valid {row.not_before} .. {row.not_after}")
        )
        when = "now"
        start, end = zm.parse_time(row.not_before), zm.parse_time(row.not_after)
        if not row.bad_time and start is not None and end is not None and start > end:
            when = "at any time"
            why = f"its not-before {row.not_before} is later than its not-after {row.not_after}"
        yield this.finding(
            f"certificate/{row.identity}",
            f"{row.kind} certificate (serial {row.serial}) is not valid {when}: {why}",
            "mTLS with this identity fails; check the CA's root and istiod's certificate",
        )


@_check("PD703", Severity.WARNING, "ztunnel-cert-expiring")
def _cert_expiring(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    now = _now(o)
    for row in zm.cert_rows(d, now):
        if row.kind != "Leaf" or not row.valid or row.expires is None:
            continue
        if o.expiring(now, zm.parse_time(row.not_before), row.expires):
            days = (row.expires - now).total_seconds() / 86400
            yield this.finding(
                f"certificate/{row.identity}",
                f"leaf certificate expires in {days:.1f} days ({row.not_after})",
                "workload certificates rotate well before expiry; a leaf this close to its end "
                "suggests rotation is stuck (ztunnel's log, istiod)",
            )


# --- waypoints and services ---------------------------------------------------------------


@_check("PD704", Severity.ERROR, "ztunnel-waypoint-unresolved")
def _waypoint_unresolved(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    index = zm.waypoint_index(d.services)
    hint = "is the waypoint deployed and ready? kubectl get gateway -A"
    for objs, resource, why in (
        (d.workloads, _wname, hint + "; istiod binds a waypoint only once it has an address"),
        (d.services, _sname, hint),
    ):
        for obj in objs:
            for waypoint, weight in zm.waypoints(obj):
                if zm.waypoint_name(waypoint, index) == "NA":
                    dest = zm.as_obj(waypoint).get("destination")
                    what = "waypoint" if weight is None else f"weighted waypoint (weight {weight})"
                    yield this.finding(
                        resource(obj),
                        f"{what} {zm.cell(dest)!r} matches no service ztunnel knows",
                        why,
                    )


@_check("PD705", Severity.ERROR, "ztunnel-waypoint-down")
def _waypoint_down(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    by_uid, by_address = zm.workloads_by_uid(d), zm.workloads_by_address(d)
    # the waypoint service each destination names (zm.waypoint_index's rule, first wins),
    # by identity: every namespace's waypoint is usually called "waypoint"
    index: dict[str, int] = {}
    for at, svc in enumerate(d.services):
        index.setdefault(f"{zm.cell(svc.get('namespace'))}/{zm.cell(svc.get('hostname'))}", at)
        for vip in zm.as_list(svc.get("vips")):
            if isinstance(vip, str):
                index.setdefault(vip, at)
    users: dict[int, list[str]] = {}
    for obj in [*d.workloads, *d.services]:
        for waypoint, _weight in zm.waypoints(obj):
            dest = zm.as_obj(waypoint).get("destination")
            used = index.get(dest) if isinstance(dest, str) else None
            if used is not None:
                users.setdefault(used, []).append(zm.cell(obj.get("name")))
    for at, s in enumerate(d.services):
        name = zm.cell(s.get("name"))
        if at not in users:
            continue
        healthy, total = zm.endpoint_counts(s, by_uid, by_address)
        if healthy == 0:
            bound = ", ".join(sorted(set(users[at]))[:5])
            yield this.finding(
                _sname(s),
                f"waypoint has {healthy}/{total} healthy endpoints; traffic to {bound} "
                "through it has nowhere to go",
                f"kubectl get pods -n {zm.cell(s.get('namespace'))} "
                f"-l gateway.networking.k8s.io/gateway-name={name}",
            )


@_check("PD706", Severity.WARNING, "ztunnel-service-no-endpoints")
def _no_endpoints(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    for s in d.services:
        if (s.get("namespace"), s.get("name")) == ("default", "kubernetes"):
            continue  # the API server is not a workload
        if zm.as_obj(s.get("loadBalancer")).get("mode") == "Passthrough":
            continue  # a ServiceEntry of resolution NONE: ztunnel sends to the address asked
        if not zm.as_obj(s.get("endpoints")):
            yield this.finding(
                _sname(s),
                "service has no endpoints (0/0): connections to it fail",
                "are its pods running and selected? kubectl get endpointslices -n "
                f"{zm.cell(s.get('namespace'))} "
                f"-l kubernetes.io/service-name={zm.cell(s.get('name'))}",
            )


@_check("PD707", Severity.WARNING, "ztunnel-endpoint-dangling")
def _dangling_endpoint(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    by_uid, by_address = zm.workloads_by_uid(d), zm.workloads_by_address(d)
    for s in d.services:
        missing = [
            zm.cell(zm.as_obj(ep).get("workloadUid"))
            or zm.cell(zm.as_obj(ep).get("address"))
            or key
            for key, ep in zm.as_obj(s.get("endpoints")).items()
            if zm.endpoint_workload(key, ep, by_uid, by_address) is None
        ]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            yield this.finding(
                _sname(s),
                f"endpoint workload {missing[0]}{more} is unknown to ztunnel (counted unhealthy)",
                "ztunnel's workload and service state disagree; istiod may be pushing",
            )


# --- policies -------------------------------------------------------------------------------


@_check("PD708", Severity.ERROR, "ztunnel-allow-nothing")
def _allow_nothing(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    for p in d.policies:
        if p.get("action") != "Allow" or zm.as_list(p.get("rules")):
            continue
        if p.get("dryRun") is True:
            continue  # only logged: ztunnel leaves dry-run ALLOWs out of its decision (PD710)
        scope = zm.cell(p.get("scope"))
        where = {
            "Global": "every captured workload in the mesh",
            "Namespace": f"every captured workload of namespace {zm.cell(p.get('namespace'))}",
        }.get(scope, "each workload it selects")
        yield this.finding(
            f"policy/{zm.cell(p.get('name'))}.{zm.cell(p.get('namespace'))}",
            f"ALLOW policy with no rules matches nothing: unless another ALLOW matches, "
            f"{where} denies all inbound connections",
            "intended as deny-all? if not, add rules (kubectl get authorizationpolicy -A)",
        )


@_check("PD709", Severity.WARNING, "ztunnel-policy-dangling")
def _policy_dangling(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    known = {f"{zm.cell(p.get('namespace'))}/{zm.cell(p.get('name'))}" for p in d.policies}
    for w in d.workloads:
        for key in zm.as_list(w.get("authorizationPolicies")):
            if zm.cell(key) not in known:
                yield this.finding(
                    _wname(w),
                    f"selected by policy {zm.cell(key)} that ztunnel does not have "
                    "(skipped when authorizing)",
                    "istiod may still be pushing; or the policy failed to convert",
                )


@_check("PD710", Severity.INFO, "ztunnel-policy-dry-run")
def _dry_run(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    for p in d.policies:
        if p.get("dryRun") is True:
            empty = p.get("action") == "Allow" and not zm.as_list(p.get("rules"))
            yield this.finding(
                f"policy/{zm.cell(p.get('name'))}.{zm.cell(p.get('namespace'))}",
                f"{zm.cell(p.get('action'))} policy is dry-run: it is logged, not enforced"
                + (
                    "; it has no rules, so enforced it would deny what it applies to"
                    if empty
                    else ""
                ),
                "istioctl's policy table does not show this; pdebug zc policy -o wide does",
            )


# --- connections and capture -------------------------------------------------------------


def _port(addr: Any) -> str | None:
    parts = zm.split_host_port(zm.cell(addr))
    return parts[1] if parts else None


def _host(addr: Any) -> str | None:
    parts = zm.split_host_port(zm.cell(addr))
    return parts[0] if parts else None


def _connections(d: ZtunnelDump) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for state in d.workload_state.values():
        info = zm.as_obj(state.get("info"))
        pod = f"{zm.cell(info.get('name'))}.{zm.cell(info.get('namespace'))}"
        conns = zm.as_obj(state.get("connections"))
        for direction in ("inbound", "outbound"):
            for c in map(zm.as_obj, zm.as_list(conns.get(direction))):
                yield pod, direction, c


def _hbone_ports(d: ZtunnelDump) -> dict[str, set[str]]:
    """Host -> the HBONE ports a waypoint or network gateway there declares (not 15008).

    A ``GatewayAddress`` (``waypoint``, ``weightedWaypoints[].destination``,
    ``networkGateway``) carries its ``hboneMtlsPort``; ztunnel sends HBONE to that port of
    the address it names, or of the service it names (its VIPs and its endpoints' pods).
    A hostname the dump has no address for (an east-west gateway ztunnel resolves by DNS)
    puts its port under :data:`ANY_HOST`.
    """
    by_uid = zm.workloads_by_uid(d)
    services: dict[str, list[dict[str, Any]]] = {}
    for svc in d.services:
        named = [f"{zm.cell(svc.get('namespace'))}/{zm.cell(svc.get('hostname'))}"]
        for key in named + [v for v in zm.as_list(svc.get("vips")) if isinstance(v, str)]:
            services.setdefault(key, []).append(svc)
    ports: dict[str, set[str]] = {}
    for obj in [*d.workloads, *d.services]:
        gateways = [g for g, _ in zm.waypoints(obj)] + [obj.get("networkGateway")]
        for gateway in map(zm.as_obj, gateways):
            port, dest = gateway.get("hboneMtlsPort"), gateway.get("destination")
            if not isinstance(port, int) or isinstance(port, bool) or not isinstance(dest, str):
                continue
            hosts = {zm.vip_address(dest)}
            for svc in services.get(dest, []):
                hosts.update(zm.vip_address(v) for v in zm.as_list(svc.get("vips")))
                for ep in map(zm.as_obj, zm.as_obj(svc.get("endpoints")).values()):
                    pod = by_uid.get(zm.cell(ep.get("workloadUid")), {})
                    hosts.update(zm.cell(ip) for ip in zm.as_list(pod.get("workloadIps")))
            hosts -= {""}
            if not any(_is_ip(h) for h in hosts):
                # named by a hostname the dump holds no address of (a network gateway
                # ztunnel finds by DNS): its port may be the one of any connection
                hosts.add(ANY_HOST)
            for host in hosts:
                ports.setdefault(host, set()).add(str(port))
    return ports


#: The key of :func:`_hbone_ports` for a gateway whose address the dump does not hold.
ANY_HOST = "*"


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@_check("PD711", Severity.WARNING, "ztunnel-hbone-mismatch")
def _hbone_mismatch(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    declared = _hbone_ports(d)
    meshed = {
        zm.cell(ip)
        for w in d.workloads
        if w.get("protocol") == "HBONE"
        for ip in zm.as_list(w.get("workloadIps"))
    }
    for pod, direction, c in _connections(d):
        proto = zm.cell(c.get("protocol"))
        if direction == "outbound":
            port = _port(c.get("actualDst"))
            hbone = declared.get(_host(c.get("actualDst")) or "", set()) | {HBONE_PORT}
            hbone |= declared.get(ANY_HOST, set())
            if proto in ("HBONE", "DOUBLEHBONE") and port not in hbone:
                expected = " or ".join(sorted(hbone, key=int))
                why = f"{proto} connection to {zm.cell(c.get('actualDst'))}, not port {expected}"
            elif proto == "TCP" and port == HBONE_PORT:
                why = f"plain TCP to the HBONE port ({zm.cell(c.get('actualDst'))})"
            elif proto == "TCP" and _host(c.get("actualDst")) in meshed:
                why = f"plain TCP to meshed pod {zm.cell(c.get('actualDst'))} (expected HBONE)"
            else:
                continue
        else:
            if proto != "TCP" or _host(c.get("actualDst")) not in meshed:
                continue
            why = (
                f"plaintext inbound from {zm.cell(c.get('src'))} to a meshed pod "
                "(a client without mesh identity)"
            )
        yield this.finding(
            f"connection/{pod}",
            why,
            "STRICT mTLS would refuse it; is the peer in the mesh (istio.io/dataplane-mode)?",
        )


def _in_ranges(host: str, ranges: list[Any]) -> bool:
    """Whether ``host`` (an IP, maybe ``[v6]``) is inside a service's ``cidrVips``."""
    if not ranges:
        return False
    import ipaddress

    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(ip in net for net in ranges)


@_check("PD712", Severity.WARNING, "ztunnel-unknown-destination")
def _unknown_destination(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    known = {zm.cell(ip) for w in d.workloads for ip in zm.as_list(w.get("workloadIps"))}
    # a service of visibility Namespace resolves only for clients of its own namespace
    scoped: dict[str, list[str]] = {}  # its address -> "namespace/name" of such services
    # (range, the namespace it is limited to or None, "namespace/name" of its service)
    ranges: list[tuple[Any, str | None, str]] = []
    for s in d.services:
        ns = zm.cell(s.get("namespace"))
        only = ns if s.get("visibility") == "Namespace" else None
        for v in zm.as_list(s.get("vips")):
            if only is None:
                known.add(zm.vip_address(v))
            else:
                scoped.setdefault(zm.vip_address(v), []).append(f"{ns}/{zm.cell(s.get('name'))}")
        ranges.extend((net, only, f"{ns}/{zm.cell(s.get('name'))}") for net in zm.cidr_networks(s))
    for state in d.workload_state.values():
        info = zm.as_obj(state.get("info"))
        client = zm.cell(info.get("namespace"))
        pod = f"{zm.cell(info.get('name'))}.{client}"
        for c in map(zm.as_obj, zm.as_list(zm.as_obj(state.get("connections")).get("outbound"))):
            target = c.get("originalDst") or c.get("actualDst")
            host = _host(target)
            if not host or host in known:
                continue
            if any(name.split("/", 1)[0] == client for name in scoped.get(host, [])):
                continue
            if _in_ranges(host, [net for net, only, _ in ranges if only in (None, client)]):
                continue
            yield from _unknown(this, pod, client, c, target, host, scoped, ranges)


def _unknown(
    this: ZCheck,
    pod: str,
    client: str,
    c: dict[str, Any],
    target: Any,
    host: str,
    scoped: dict[str, list[str]],
    ranges: list[tuple[Any, str | None, str]],
) -> Iterator[Finding]:
    """PD712's finding for one outbound connection to an address ``client`` cannot resolve."""
    proto = zm.cell(c.get("protocol"))
    hidden = scoped.get(host) or [
        name for net, only, name in ranges if only and _in_ranges(host, [net])
    ]
    if hidden:
        sent = (
            f"it was sent over {proto}, so it resolved when the connection opened"
            if proto in ("HBONE", "DOUBLEHBONE")
            else "passed through, unmanaged"
        )
        yield this.finding(
            f"connection/{pod}",
            f"outbound to {zm.cell(target)}, an address of {', '.join(sorted(set(hidden)))}, "
            f"visible only in its own namespace (visibility Namespace): ztunnel does not "
            f"resolve it for a client of namespace {client} ({sent})",
            "call it from its namespace, or make its ServiceEntry visible to this one "
            "(kubectl get serviceentry -A)",
        )
        return
    if proto in ("HBONE", "DOUBLEHBONE"):
        # ztunnel opens HBONE only to a destination it knew then: not passed through
        yield this.finding(
            f"connection/{pod}",
            f"outbound to {zm.cell(target)}, an address of no workload or service "
            f"ztunnel knows now; it was sent over {proto} to {zm.cell(c.get('actualDst'))}, "
            "so ztunnel knew it when the connection opened",
            "removed since the connection opened (kubectl get svc,pods -A -o wide | grep "
            "the IP)? the connection keeps its old destination until it closes",
        )
        return
    yield this.finding(
        f"connection/{pod}",
        f"outbound to {zm.cell(target)}, an address of no workload or service "
        "ztunnel knows (passed through, unmanaged)",
        "is the destination in this cluster? a ServiceEntry makes external destinations known",
    )


@_check("PD713", Severity.WARNING, "ztunnel-pod-pending")
def _pod_pending(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    for state in d.workload_state.values():
        if state.get("state") == "Pending":
            info = zm.as_obj(state.get("info"))
            yield this.finding(
                f"workload/{zm.cell(info.get('name'))}.{zm.cell(info.get('namespace'))}",
                "ztunnel has not finished capturing this pod (Pending)",
                "istio-cni hands pods to ztunnel; check the istio-cni node agent's log",
            )


def _service_entry(w: dict[str, Any]) -> bool:
    """Whether ``w`` is an endpoint istiod made of a ServiceEntry.

    Its uid is ``<cluster>/networking.istio.io/ServiceEntry/<ns>/<name>/<address>``.
    """
    return "/networking.istio.io/ServiceEntry/" in zm.cell(w.get("uid"))


@_check("PD714", Severity.WARNING, "ztunnel-waypoint-not-captured")
def _waypoint_tcp(d: ZtunnelDump, o: CheckOptions, this: ZCheck) -> Iterator[Finding]:
    for w in d.workloads:
        if _service_entry(w):
            # an endpoint of a ServiceEntry (outside the mesh): its waypoint is applied by
            # the client's ztunnel, there is no pod to capture (istiod sets it this way)
            continue
        if w.get("waypoint") is not None and w.get("protocol") == "TCP":
            yield this.finding(
                _wname(w),
                "has a waypoint but is not captured by ztunnel (TCP): the 'only via the "
                "waypoint' rule cannot be enforced for it",
                "label its namespace istio.io/dataplane-mode=ambient",
            )


BY_CODE = {c.code: c for c in CHECKS}


def run(dump: ZtunnelDump, options: CheckOptions) -> CheckReport:
    """Every ztunnel check not ignored, findings in report order."""
    found: list[Finding] = []
    run = 0
    for chk in CHECKS:
        if chk.code in options.ignore:
            continue
        run += 1
        found.extend(chk.func(dump, options, chk))
    unique = list(dict.fromkeys(found))
    unique.sort(key=lambda f: (-f.severity, f.code, f.resource))
    ignored = sorted(options.ignore & set(BY_CODE))
    return CheckReport(dump.source, unique, [], ignored, run)
