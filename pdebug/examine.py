"""``pdebug check SOURCE`` in one call: one proxy, a ztunnel, or every proxy of a bundle.

:func:`check_source` parses the SOURCE words, decides which the SOURCE is, reads it (a
bundle of several proxies with :func:`pdebug.inputs.read_inputs`, anything else with
:func:`pdebug.proxy.load_any`) and runs the checks on every proxy it holds; the command
renders what it returns. Nothing here prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdebug.checks import run_checks
from pdebug.checks.base import BundleChecks, CheckReport, ProxyCheck
from pdebug.errors import UsageError
from pdebug.inputs import Inputs, ProxyInfo, read_inputs
from pdebug.model import ProxyData
from pdebug.proxy import Fetch, load_any
from pdebug.sources.bundle import multi_manifest
from pdebug.sources.spec import FileSpec, spec_of

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
    from pdebug.checks import ztunnel as zchecks

    spec = spec_of(given)
    several = isinstance(spec, FileSpec) and multi_manifest(spec.path) is not None
    if isinstance(spec, FileSpec) and several:
        if clusters_json is not None:
            raise UsageError(
                f"--clusters-json is one proxy's; {spec.text} holds several",
                hint=f"pick one: {spec.text}:NAME (a bundle carries each proxy's /clusters)",
            )
        inputs = read_inputs(spec)
    else:
        got = load_any(spec, live, Fetch.checks(stats=True), clusters_json)
        inputs = (
            Inputs([got]) if isinstance(got, ProxyData) else Inputs([], ztunnels=[(spec.text, got)])
        )
    checks = []
    for proxy in inputs.proxies:
        info = inputs.info.get(proxy.source) or ProxyInfo()
        if several and proxy.dump is None and proxy.health is None:
            checks.append(ProxyCheck(info.name or proxy.source, None, info.errors, info.unreadable))
        else:
            report = run_checks(proxy, options)
            checks.append(ProxyCheck(info.name or proxy.source, report, info.errors))
    for name, dump in inputs.ztunnels:  # a ztunnel, or those a snapshot --ambient captured
        if isinstance(dump, str):
            checks.append(ProxyCheck(name, None, (), dump))
        else:
            checks.append(ProxyCheck(name, zchecks.run(dump, options)))
    if not several:
        single = checks[0].report
        assert single is not None  # noqa: S101 - one proxy is always checked
        return single
    return BundleChecks(spec.text, checks)


__all__ = ["check_source"]
