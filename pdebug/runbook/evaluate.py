"""Evaluate expectations on proxies: pure functions over the model, in trace/check's words.

A result is ``PASS``, ``FAIL`` (the proxy does not do what the file says) or ``ERROR``
(the expectation could not be judged: the input lacks what it needs, e.g. a dump without
EDS for ``min_healthy``, or a proxy that could not be read). The WHY of a result quotes
the trace verdict, the check finding or the field values that were found.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pdebug.errors import PdebugError
from pdebug.model import ProxyData
from pdebug.runbook.load import Expectation, Runbook, Selector
from pdebug.runbook.predicates import holds

T = TypeVar("T")
PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
#: The resource kinds of expectation files -> the dump's section kinds.
_SECTIONS = {
    "cluster": "clusters",
    "listener": "listeners",
    "route": "routes",
    "secret": "secrets",
    "endpoint": "endpoints",
}


@dataclass
class Proxy:
    """One proxy under test: its data (or why it could not be read) and its identity."""

    label: str
    data: ProxyData | None = None
    error: str | None = None
    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    #: istiod's sync state per type, when known (a snapshot bundle records it)
    sync: dict[str, str] | None = None
    #: why istiod's sync state is not known, when it was asked and could not tell
    sync_error: str | None = None
    #: the exit code of the error that kept it from being read (3 unreachable, 4 invalid)
    error_code: int = 4
    #: work shared by the expectations judged on this proxy (check reports, resources)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    def cached(self, key: Any, make: Callable[[], T]) -> T:
        """``make()`` once per proxy and ``key`` (many expectations ask the same)."""
        if key not in self.memo:
            self.memo[key] = make()
        value: T = self.memo[key]
        return value

    @classmethod
    def of(cls, label: str, data: ProxyData, sync: dict[str, str] | None = None) -> Proxy:
        """A readable proxy; name, namespace and labels from its Istio node metadata."""
        name, namespace, labels = identify(data, label)
        return cls(label, data, None, name, namespace, labels, sync)


def identify(data: ProxyData, label: str) -> tuple[str, str, dict[str, str]]:
    """(pod name, namespace, labels) from the bootstrap's node, else from the label."""
    name = namespace = ""
    labels: dict[str, str] = {}
    dump = data.dump
    if dump is not None and dump.has("bootstrap"):
        try:
            node = dump.bootstrap().get("node") or {}
        except PdebugError:
            node = {}
        meta = node.get("metadata") if isinstance(node, dict) else None
        if isinstance(meta, dict):
            name = str(meta.get("NAME") or "")
            namespace = str(meta.get("NAMESPACE") or "")
            raw = meta.get("LABELS")
            if isinstance(raw, dict):
                labels = {str(k): str(v) for k, v in raw.items()}
        node_id = node.get("id") if isinstance(node, dict) else None
        if not name and isinstance(node_id, str) and node_id.count("~") >= 3:
            pod_ns = node_id.split("~")[2]  # sidecar~IP~POD.NS~NS.svc.cluster.local
            name, _, namespace = pod_ns.rpartition(".")
    if not name:
        tail = label.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        name, dot, ns = tail.rpartition(".")
        if not dot or not name:
            name, ns = tail, ""
        namespace = namespace or ns
    return name, namespace, labels


def applies(selector: Selector, proxy: Proxy) -> bool:
    """Whether ``proxy`` is one of those ``selector`` names."""
    if selector.namespaces and proxy.namespace not in selector.namespaces:
        return False
    if selector.name and not fnmatch.fnmatchcase(proxy.name, selector.name):
        return False
    return all(proxy.labels.get(k) == v for k, v in selector.labels)


@dataclass(frozen=True)
class Result:
    """One expectation judged on one proxy."""

    expectation: str
    proxy: str
    status: str  # PASS | FAIL | ERROR
    why: str
    where: str = ""
    kind: str = ""


def evaluate(book: Runbook, proxies: list[Proxy], now: datetime | None = None) -> list[Result]:
    """Every expectation on every proxy it applies to, in file order then proxy order."""
    out: list[Result] = []
    for exp in book.expectations:
        picked = [p for p in proxies if applies(exp.selector, p)]
        if not picked:
            out.append(
                Result(
                    exp.name, "-", FAIL, f"no proxy matches ({exp.selector})", exp.where, exp.kind
                )
            )
            continue
        for proxy in picked:
            out.append(judge(exp, proxy, now))
    return out


def judge(exp: Expectation, proxy: Proxy, now: datetime | None = None) -> Result:
    """One expectation on one proxy."""

    def result(status: str, why: str) -> Result:
        return Result(exp.name, proxy.label, status, why, exp.where, exp.kind)

    if proxy.data is None:
        return result(ERROR, f"the proxy could not be read: {proxy.error}")
    try:
        if exp.kind == "request":
            status, why = _request(exp, proxy)
        elif exp.kind == "resource":
            status, why = _resource(exp, proxy)
        elif exp.kind == "check":
            status, why = _check(exp, proxy, now)
        elif exp.kind == "certificates":
            status, why = _certificates(exp, proxy, now)
        else:
            status, why = _sync(proxy)
    except PdebugError as exc:
        return result(ERROR, exc.message)
    return result(status, why)


# --- requests ------------------------------------------------------------------------


def request_of(exp: Expectation) -> Any:
    """The :class:`pdebug.trace.Request` an expectation sends (checked at load time)."""
    from pdebug.trace import parse_request

    spec = exp.spec["request"]
    headers = spec.get("headers") or []
    if isinstance(headers, dict):
        headers = [f"{k}:{v}" for k, v in headers.items()]
    return parse_request(
        spec["url"],
        spec.get("method", "GET"),
        [str(h) for h in headers],
        spec.get("direction"),
        spec.get("source_ip"),
        spec.get("source_principal"),
    )


_UNKNOWN_KINDS = {"incomplete", "inconclusive"}


def _request(exp: Expectation, proxy: Proxy) -> tuple[str, str]:
    from pdebug.trace import trace

    data = proxy.data
    assert data is not None
    want = exp.spec["expect"]
    verdict = proxy.cached(
        ("trace", repr(exp.spec["request"])), lambda: trace(data, request_of(exp)).verdict
    )
    said = f"trace: {verdict.summary}"
    if verdict.kind in _UNKNOWN_KINDS and want.get("verdict") != "unknown":
        return ERROR, said
    problems: list[str] = []
    kind = "unknown" if verdict.kind in _UNKNOWN_KINDS else ("ok" if verdict.ok else "fail")
    if "verdict" in want and want["verdict"] != kind:
        problems.append(f"verdict {kind}, expected {want['verdict']}")
    names = [c.name for c in verdict.clusters]
    if "cluster" in want and names != [want["cluster"]]:
        problems.append(f"lands on {', '.join(names) or 'no cluster'}, expected {want['cluster']}")
    if "clusters" in want:
        got = {c.name: c.weight for c in verdict.clusters}
        if got != want["clusters"]:
            shown = ", ".join(f"{k} ({v})" for k, v in got.items()) or "no cluster"
            problems.append(f"lands on {shown}")
    if "min_healthy" in want:
        unknown = [c.name for c in verdict.clusters if c.state == "unknown"]
        if unknown:
            return ERROR, (
                f"cannot count healthy endpoints of {unknown[0]}: capture the dump with "
                "?include_eds or add --clusters-json; " + said
            )
        n = want["min_healthy"]
        low = [f"{c.name} has {c.healthy}" for c in verdict.clusters if c.healthy < n]
        if low or not verdict.clusters:
            problems.append(f"fewer than {n} healthy endpoints ({'; '.join(low) or 'no cluster'})")
    if "status" in want and verdict.status != want["status"]:
        problems.append(f"status {verdict.status or 'none'}, expected {want['status']}")
    if "redirect" in want and verdict.location != want["redirect"]:
        problems.append(
            f"redirects to {verdict.location or 'nowhere'}, expected {want['redirect']}"
        )
    if problems:
        return FAIL, "; ".join(problems) + f" ({said})"
    return PASS, said


# --- resources -----------------------------------------------------------------------


def _resource(exp: Expectation, proxy: Proxy) -> tuple[str, str]:
    from pdebug.diff import collect

    assert proxy.data is not None
    spec = exp.spec["resource"]
    dump = proxy.data.need_dump("a resource expectation")
    section = _SECTIONS[spec["kind"]]
    if not dump.has(section):
        dump.check_intact()  # a damaged dump is said damaged, not lacking a section
        return ERROR, f"the dump has no {section} section"
    # exact: a resource with two "name" keys is named by the last, as the views and diff
    # name it (the fast first-key read named it by the first: assert and diff disagreed)
    collected = proxy.cached(("collect", section), lambda: collect(dump, section, True, True))
    found: dict[str, Any] = collected
    if section == "endpoints":  # name-less EDS assignments under the cluster the view shows
        found = proxy.cached(("attributed",), lambda: {**collected, **_attributed(proxy)})
    if "name" in spec:
        names = [spec["name"]] if spec["name"] in found else []
        what = f"{spec['kind']} {spec['name']}"
    elif "name_matches" in spec:
        pattern = re.compile(spec["name_matches"])
        names = sorted(n for n in found if pattern.search(n))
        what = f"{spec['kind']}s matching {spec['name_matches']}"
    else:
        names = sorted(found)
        what = f"every {spec['kind']}"
    if not spec.get("exists", True):
        if names:
            return FAIL, f"{what} exists ({', '.join(names[:3])})"
        return PASS, f"no {what}"
    if not names:
        return FAIL, f"no {what}"
    failures: list[str] = []
    for name in names:
        plain = proxy.cached(("plain", section, name), found[name].plain)
        for pred in exp.predicates:
            ok, seen = holds(pred, plain)
            if not ok:
                failures.append(f"{name}: {pred} (found {seen})")
    if failures:
        more = f" and {len(failures) - 2} more" if len(failures) > 2 else ""
        return FAIL, "; ".join(failures[:2]) + more
    n = len(exp.predicates)
    held = f", {n} condition{' holds' if n == 1 else 's hold'}" if n else ""
    count = f"{len(names)} " if len(names) > 1 else ""
    return PASS, f"{count}{what} exists{held}"


@dataclass
class _Attributed:
    """A name-less EDS assignment under the cluster :mod:`pdebug.model.eds` gives it."""

    ref: Any
    name: str

    def plain(self) -> Any:
        from pdebug.model.camel import snake_keys

        value = snake_keys(self.ref.resolve())
        return {**value, "cluster_name": self.name} if isinstance(value, dict) else value


def _attributed(proxy: Proxy) -> dict[str, _Attributed]:
    from pdebug.model.eds import attribute

    assert proxy.data is not None
    dump = proxy.data.need_dump("a resource expectation")
    names = attribute(dump, proxy.data.health)
    out: dict[str, _Attributed] = {}
    for key in ("static_endpoint_configs", "dynamic_endpoint_configs"):
        entries = dump.endpoint_entries(key)
        for i, entry in enumerate(entries.items):
            cla = entry.endpoint_config
            name = names.cluster_of(cla)
            if name and not cla.cluster_name:
                out[name] = _Attributed(entries.ref(i, "endpoint_config"), name)
    return out


# --- checks and certificates ------------------------------------------------------------


_CERT_CODES = frozenset({"PD501", "PD502"})


def _run_checks(
    proxy: Proxy, cert_days: float, now: datetime | None, only: frozenset[str] | None = None
) -> Any:
    """``pdebug check`` of the proxy (only some codes), once per proxy and options."""
    from pdebug.checks import BY_CODE, CheckOptions, run_checks

    data = proxy.data
    assert data is not None
    ignore = frozenset(BY_CODE) - only if only is not None else frozenset()
    # certificates: {min_days: N} asks for the window alone; the checks expectation is
    # `pdebug check` as the command line runs it.
    rotation = only != _CERT_CODES
    options = CheckOptions(cert_days=cert_days, ignore=ignore, now=now, rotation=rotation)
    return proxy.cached(("checks", cert_days, now, only), lambda: run_checks(data, options))


def _check(exp: Expectation, proxy: Proxy, now: datetime | None) -> tuple[str, str]:
    from pdebug.checks import Severity

    spec = exp.spec["check"]
    report = _run_checks(proxy, 7.0, now)
    absent = {c.upper() for c in spec.get("absent") or []}
    could_not = [s for s in report.skipped if s.code in absent]
    bad = [f for f in report.findings if f.code in absent]
    limit = spec.get("max_severity")
    if limit is not None:
        ceiling = 0 if limit == "none" else Severity.parse(limit)
        bad += [f for f in report.findings if f.severity > ceiling and f not in bad]
    if bad:
        first = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return FAIL, f"{first.code} {first.resource}: {first.message}{more}"
    if could_not:
        s = could_not[0]
        return ERROR, f"{s.code} could not run: {s.reason}"
    asked = "no " + ", ".join(sorted(absent)) if absent else f"nothing above {limit}"
    return PASS, f"{asked} ({report.run} checks run)"


def _certificates(exp: Expectation, proxy: Proxy, now: datetime | None) -> tuple[str, str]:
    days = float(exp.spec["certificates"]["min_days"])
    report = _run_checks(proxy, days, now, _CERT_CODES)
    codes = _CERT_CODES
    bad = [f for f in report.findings if f.code in codes]
    if bad:
        first = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return FAIL, f"{first.resource}: {first.message}{more}"
    skipped = [s for s in report.skipped if s.code in codes]
    if skipped:
        return ERROR, f"cannot judge certificates: {skipped[0].reason}"
    if not _readable_certificates(proxy):  # not "every certificate is valid" of none
        return ERROR, (
            "cannot judge certificates: no secret in the dump carries a readable "
            "certificate (pdebug secrets lists them)"
        )
    unit = "day" if days == 1 else "days"
    return PASS, f"every certificate is valid for at least {days:g} more {unit}"


def _readable_certificates(proxy: Proxy) -> int:
    from pdebug.model.secrets import items, static_items

    assert proxy.data is not None
    data = proxy.data
    every = [*items(data), *static_items(data)]
    return sum(1 for item in every if item.cert.not_after is not None)


# --- istiod sync -------------------------------------------------------------------------


def _sync(proxy: Proxy) -> tuple[str, str]:
    if proxy.sync is None and proxy.sync_error is not None:
        return ERROR, proxy.sync_error
    if proxy.sync is None:
        return ERROR, (
            "istiod's sync status is not known for this proxy: assert on a live pod, a "
            "pdebug snapshot bundle (it records it), or pass --istiod URL"
        )
    from pdebug.model.syncz import NOT_SENT, SYNCED, UNKNOWN, state_text

    # the states that mean "nothing is waiting to be acknowledged", as recorded (in words)
    in_sync = {state_text(s) for s in (SYNCED, NOT_SENT, UNKNOWN)}
    behind = {t: s for t, s in proxy.sync.items() if s not in in_sync}
    shown = ", ".join(f"{t} {s}" for t, s in proxy.sync.items())
    if behind:
        return FAIL, ", ".join(f"{t} {s}" for t, s in behind.items()) + f" (istiod: {shown})"
    return PASS, f"istiod: {shown}"


def summary(results: Iterable[Result]) -> dict[str, int]:
    """How many results of each status."""
    counts = {PASS: 0, FAIL: 0, ERROR: 0}
    for r in results:
        counts[r.status] += 1
    return counts
