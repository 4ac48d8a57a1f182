"""``pdebug check SOURCE`` in one call: one proxy, a ztunnel, or every proxy of a bundle.

:func:`check_source` parses the SOURCE words, decides which the SOURCE is, reads it (a
bundle of several proxies with :func:`pdebug.inputs.read_inputs`, anything else with
:func:`pdebug.proxy.load_any`) and runs the checks on every proxy it holds; the command
renders what it returns. Nothing here prints.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pdebug.checks import run_checks
from pdebug.checks.base import BundleChecks, CheckReport, ProxyCheck
from pdebug.errors import SourceUnavailable, UsageError
from pdebug.model import ProxyData
from pdebug.proxy import Fetch, load_any
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
    spec = spec_of(given)
    if isinstance(spec, FileSpec) and _several(spec.path):
        return _bundle_checks(spec, options, clusters_json)
    got = load_any(spec, live, Fetch.checks(stats=True), clusters_json)
    if isinstance(got, ProxyData):
        return run_checks(got, options)
    from pdebug.checks import ztunnel as zchecks

    return zchecks.run(got, options)


def _several(path: str) -> bool:
    """``multi_manifest(path) is not None``, without the bundle code for a plain file.

    The same first step as :func:`pdebug.sources.bundle.peek_manifest`: a regular file
    that is no tar archive (once gunzipped) is no bundle; the same errors propagate.
    """
    if path != "-" and os.path.isfile(path):
        from pdebug.sources.file import open_input

        try:
            with open_input(path) as opened:
                if not opened.is_tar():
                    return False
        except SourceUnavailable:
            return False
    from pdebug.sources.bundle import multi_manifest

    return multi_manifest(path) is not None


def _bundle_checks(
    spec: FileSpec, options: CheckOptions, clusters_json: str | None
) -> BundleChecks:
    """The checks of a bundle of several proxies, proxy by proxy."""
    from pdebug.checks import ztunnel as zchecks
    from pdebug.inputs import ProxyInfo, read_inputs

    if clusters_json is not None:
        raise UsageError(
            f"--clusters-json is one proxy's; {spec.text} holds several",
            hint=f"pick one: {spec.text}:NAME (a bundle carries each proxy's /clusters)",
        )
    inputs = read_inputs(spec)
    checks = []
    for proxy in inputs.proxies:
        info = inputs.info.get(proxy.source) or ProxyInfo()
        if proxy.dump is None and proxy.health is None:
            checks.append(ProxyCheck(info.name or proxy.source, None, info.errors, info.unreadable))
        else:
            report = run_checks(proxy, options)
            checks.append(ProxyCheck(info.name or proxy.source, report, info.errors))
    for name, dump in inputs.ztunnels:  # a ztunnel, or those a snapshot --ambient captured
        if isinstance(dump, str):
            checks.append(ProxyCheck(name, None, (), dump))
        else:
            checks.append(ProxyCheck(name, zchecks.run(dump, options)))
    return BundleChecks(spec.text, checks)


__all__ = ["check_source"]
