"""Compare two ztunnel dumps (Istio ambient): workloads, services, policies, certificates.

Resources are keyed by what names them in ztunnel: a workload by its ``uid``, a service by
``namespace/hostname``, a policy by ``namespace/name``, a certificate by its identity (and
its position among entries of the same identity). Two ztunnels of one mesh should agree on
workloads, services and policies (istiod sends each the same); certificates are per node.
A dump of ztunnel 1.22 or 1.23 (an object listed once per address, endpoints keyed
``uid:network/ip``) is compared with a later one like for like (:func:`_keyed`,
:func:`_endpoints_by_uid`).
The verdict lines and the report are those of ``pdebug diff`` for Envoy dumps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pdebug.diff import Change, DiffReport, FieldChange, KindReport
from pdebug.errors import UsageError
from pdebug.model.ztunnel import ZtunnelDump

Obj = dict[str, Any]
KINDS = ("workloads", "services", "policies", "certificates")


def _key_workload(w: Obj) -> str:
    return str(w.get("uid") or f"{w.get('namespace')}/{w.get('name')}")


def _key_service(s: Obj) -> str:
    return f"{s.get('namespace')}/{s.get('hostname') or s.get('name')}"


def _key_policy(p: Obj) -> str:
    return f"{p.get('namespace')}/{p.get('name')}"


def _keyed(items: list[Obj], key: Callable[[Obj], str]) -> dict[str, Obj]:
    """Items by key; a repeated key gets ``#2``, ``#3``... in dump order.

    A repeat equal to an item already kept under the key is that item again, not a
    second one: ztunnel 1.22 keyed workloads and services by address, so a dual-stack
    pod or service is listed once per address (1.23 and later list it once).
    """
    out: dict[str, Obj] = {}
    for item in items:
        name = key(item)
        n = 1
        while (slot := name if n == 1 else f"{name}#{n}") in out:
            if out[slot] == item:
                break
            n += 1
        else:
            out[slot] = item
    return out


def _endpoints_by_uid(svc: Obj) -> tuple[Obj, bool]:
    """``svc`` with its endpoints keyed by uid (ztunnel 1.24+), and whether any was not.

    Up to 1.23 an endpoint was keyed ``uid:network/ip`` (one per address of its pod) and
    held ``service`` (the service's own ``namespace/hostname``) and ``address`` (the ip
    of its key); from 1.24 it is keyed by the pod's uid and holds neither. Such an
    endpoint is read under its uid without the two fields, once per pod.
    """
    endpoints = svc.get("endpoints")
    if not isinstance(endpoints, dict) or not endpoints:
        return svc, False
    own = f"{svc.get('namespace')}/{svc.get('hostname')}"
    legacy = False
    items: list[tuple[str, Any]] = []
    for key, ep in endpoints.items():
        uid = ep.get("workloadUid") if isinstance(ep, dict) else None
        address = ep.get("address") if isinstance(ep, dict) else None
        if (
            isinstance(ep, dict)
            and isinstance(uid, str)
            and isinstance(address, str | None)
            and key == f"{uid}:{address or ''}"
        ):
            legacy = True
            key = uid
            ep = {k: v for k, v in ep.items() if k != "address" and (k, v) != ("service", own)}
        items.append((key, ep))
    if not legacy:
        return svc, False
    out: dict[str, Any] = {}
    for key, ep in items:
        n = 1
        while (slot := key if n == 1 else f"{key}#{n}") in out:
            if out[slot] == ep:
                break
            n += 1
        else:
            out[slot] = ep
    return {**svc, "endpoints": out}, True


def _without_status(svc: Obj) -> Obj:
    """``svc`` with no endpoint ``status`` (1.24's field, which no 1.23 endpoint has)."""
    endpoints = svc.get("endpoints")
    if not isinstance(endpoints, dict):
        return svc
    return {
        **svc,
        "endpoints": {
            k: {f: v for f, v in ep.items() if f != "status"} if isinstance(ep, dict) else ep
            for k, ep in endpoints.items()
        },
    }


def _services(dump: ZtunnelDump) -> tuple[dict[str, Obj], set[str]]:
    """Services by key, endpoints keyed by uid, and the keys whose endpoints were not."""
    read = [_endpoints_by_uid(s) for s in dump.services]
    keyed = _keyed([svc for svc, _ in read], _key_service)
    olds = {id(svc) for svc, legacy in read if legacy}
    return keyed, {name for name, svc in keyed.items() if id(svc) in olds}


def _sides(dump: ZtunnelDump, kind: str) -> dict[str, Obj]:
    if kind == "workloads":
        return _keyed(dump.workloads, _key_workload)
    if kind == "services":
        return _services(dump)[0]
    if kind == "policies":
        return _keyed(dump.policies, _key_policy)
    return _keyed(dump.certificates, lambda c: str(c.get("identity")))


def fields(left: Any, right: Any, path: str = "") -> Iterator[FieldChange]:
    """Every leaf that differs, as dotted paths (lists compared by position)."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in list(left) + [k for k in right if k not in left]:
            sub = f"{path}.{key}" if path else str(key)
            yield from fields(left.get(key), right.get(key), sub)
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            yield from fields(a, b, f"{path}[{i}]")
    elif left != right:
        yield FieldChange(path, left, right)


def compare(
    left: ZtunnelDump,
    right: ZtunnelDump,
    ignore: str | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> DiffReport:
    """The differences between two ztunnel dumps, kind by kind."""
    try:
        drop = re.compile(ignore) if ignore else None
    except re.error as exc:
        raise UsageError(f"--ignore {ignore!r}: not a regular expression ({exc})") from None
    reports = []
    for kind in kinds:
        lacking = [d.source for d in (left, right) if kind not in d.present]
        if len(lacking) == 1:
            # e.g. ztunnel <= 1.21 dumped no policies: not "every policy removed"
            reports.append(KindReport(kind, not_compared=f"{lacking[0]} has no {kind} section"))
            continue
        if kind == "services":
            (a, a_old), (b, b_old) = _services(left), _services(right)
            # an endpoint's health is compared where both eras hold one (1.24+)
            a = {k: _without_status(v) if k in b_old - a_old else v for k, v in a.items()}
            b = {k: _without_status(v) if k in a_old - b_old else v for k, v in b.items()}
        else:
            a, b = _sides(left, kind), _sides(right, kind)
        report = KindReport(kind, compared=len(set(a) | set(b)))
        for name in sorted(set(a) | set(b)):
            if name not in b:
                report.changes.append(Change(name, "only-left"))
            elif name not in a:
                report.changes.append(Change(name, "only-right"))
            else:
                changed = [
                    f for f in fields(a[name], b[name]) if drop is None or not drop.search(f.path)
                ]
                if changed:
                    report.changes.append(Change(name, "changed", changed))
        reports.append(report)
    return DiffReport(left.source, right.source, reports)
