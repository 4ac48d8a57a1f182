"""Compare two ztunnel dumps (Istio ambient): workloads, services, policies, certificates.

Resources are keyed by what names them in ztunnel: a workload by its ``uid``, a service by
``namespace/hostname``, a policy by ``namespace/name``, a certificate by its identity (and
its position among entries of the same identity). Two ztunnels of one mesh should agree on
workloads, services and policies (istiod sends each the same); certificates are per node.
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
    """Items by key; a repeated key gets ``#2``, ``#3``... in dump order."""
    out: dict[str, Obj] = {}
    for item in items:
        name = key(item)
        n = 1
        while (name if n == 1 else f"{name}#{n}") in out:
            n += 1
        out[name if n == 1 else f"{name}#{n}"] = item
    return out


def _sides(dump: ZtunnelDump, kind: str) -> dict[str, Obj]:
    if kind == "workloads":
        return _keyed(dump.workloads, _key_workload)
    if kind == "services":
        return _keyed(dump.services, _key_service)
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
