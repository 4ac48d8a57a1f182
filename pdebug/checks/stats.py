"""Checks over Envoy's stats (PD7xx): what a config dump cannot show.

A rejected CDS or RDS update leaves no trace in ``/config_dump``: Envoy keeps the previous
config and only counts the rejection (``cluster_manager.cds.update_rejected``,
``http.<prefix>.rds.<name>.update_rejected``...). Needs ``/stats`` (a live proxy, or a
bundle from ``pdebug dump``/``snapshot``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pdebug.checks.base import Check, Finding, Severity, SkipCheck, check
from pdebug.checks.context import Context

#: Which xDS a rejected-update stat is about: patterns compiled on first use (re's cache),
#: as only a dump with stats reaches them (every ``check`` imports this module: #17).
_KINDS = (
    (r"^cluster_manager\.cds\.update_rejected$", "CDS (clusters)"),
    (r"^listener_manager\.lds\.update_rejected$", "LDS (listeners)"),
    (r"\.rds\.(?P<name>.+)\.update_rejected$", "RDS (route config {name})"),
    (r"^cluster\.(?P<name>.+)\.update_rejected$", "EDS (cluster {name})"),
    (r"^sds\.(?P<name>.+)\.update_rejected$", "SDS (secret {name})"),
    (r"^extension_config_discovery\.(?P<name>.+)\.update_rejected$", "ECDS ({name})"),
)


def _what(name: str) -> str:
    for rx, text in _KINDS:
        m = re.search(rx, name)
        if m:
            return text.format(**m.groupdict())
    return "xDS"


@check(
    "PD603",
    Severity.WARNING,
    "xds-update-rejected",
    "Envoy rejected xDS updates since it started (update_rejected stats): the dump shows "
    "the config from before.",
    ("stats",),
)
def check_update_rejected(ctx: Context, this: Check) -> Iterator[Finding]:
    """Each non-zero ``*.update_rejected`` counter is one finding.

    A counter whose value is not known (redacted in an older bundle) makes the check
    unknown (skipped, saying which) when no other counter is a finding; with findings, their
    hint names it.
    """
    from pdebug.model import stats as v

    assert ctx.proxy.stats is not None
    raw = ctx.proxy.stats
    if len(raw) < 4096 and not bytes(raw).strip():
        # no stat at all: a capture of the stats written (/stats?usedonly, #17) before any
        # was, as the capture keeps an empty answer; a counter not there is zero
        return
    stats = v.parse(raw, f"{ctx.proxy.source} /stats")
    found, unknown = v.rejected(stats), v.unknown_rejected(stats)
    names = ", ".join(s.name for s in unknown[:3]) + (
        f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
    )
    if unknown and not found:
        raise SkipCheck(
            f"unknown: the value of {names} was redacted in this capture (an older pdebug's "
            "redaction); capture /stats again"
        )
    for stat in found:
        what = _what(stat.name)
        also = f"; the value of {names} was redacted in this capture" if unknown else ""
        hint = (
            f"Envoy's log says why (\"gRPC config for ... rejected\"); {ctx.control_plane}'s "
            "log may too"
            if ctx.control_plane
            else 'Envoy\'s log says why ("gRPC config for ... rejected"); pdebug diff POD shows '
            "what istiod sent that the proxy does not have"
        )
        yield this.finding(
            f"stats/{stat.name}",
            f"Envoy rejected {stat.value} {what} update(s) since it started; a rejected "
            "update leaves the previous config in place and no trace in the dump",
            hint + also,
        )


CHECKS = (check_update_rejected,)
