"""``pdebug check SOURCE`` in one call: one proxy, a ztunnel, or every proxy of a bundle.

:func:`check_source` reads every proxy SOURCE holds with
:func:`pdebug.inputs.read_source` (which parses the words below it: a bundle of several
proxies proxy by proxy, anything else as one proxy or ztunnel) and runs the checks on
each; the command renders what it returns. Nothing here prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdebug.checks import run_checks
from pdebug.checks.base import BundleChecks, CheckReport, ProxyCheck
from pdebug.inputs import ProxyInfo, read_source
from pdebug.proxy import Fetch

if TYPE_CHECKING:
    from pdebug.checks import CheckOptions
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceSpec, SourceWords


def check_source(
    given: SourceSpec | SourceWords,
    live: LiveOptions,
    options: CheckOptions,
    clusters_json: str | None = None,
) -> CheckReport | BundleChecks:
    """The checks of what ``given`` names (SOURCE's words are parsed first).

    A bundle of several proxies proxy by proxy, a ztunnel dump its PD7xx checks, else
    the one proxy's (with ``--clusters-json FILE``).

    Raises:
        UsageError: ``--clusters-json`` with a bundle of several proxies.
    """
    fetch = Fetch.checks(stats=True)
    inputs = read_source(given, live, fetch, clusters_json, bundles="several")
    several = inputs.bundle
    checks = []
    for proxy in inputs.proxies:
        info = inputs.info.get(proxy.source) or ProxyInfo()
        if several and proxy.dump is None and proxy.health is None:
            checks.append(ProxyCheck(info.name or proxy.source, None, info.errors, info.unreadable))
        else:
            report = run_checks(proxy, options, fork=True)
            checks.append(ProxyCheck(info.name or proxy.source, report, info.errors))
    for name, dump in inputs.ztunnels:  # a ztunnel, or those a snapshot --ambient captured
        if isinstance(dump, str):
            checks.append(ProxyCheck(name, None, (), dump))
        else:
            from pdebug.checks import ztunnel as zchecks  # only a ztunnel pays for them

            checks.append(ProxyCheck(name, zchecks.run(dump, options)))
    if not several:
        single = checks[0].report
        assert single is not None  # noqa: S101 - one proxy is always checked
        return single
    from pdebug.sources.bugreport import TOOL

    if inputs.capture.get("tool") == TOOL:
        again = "run istioctl bug-report again, or capture the proxies with pdebug snapshot"
        return BundleChecks(inputs.named, checks, again)
    return BundleChecks(inputs.named, checks)


__all__ = ["check_source"]
