"""``pdebug rootca-compare A B``: do two proxies trust the same root CAs (istioctl's)."""

from __future__ import annotations

from typing import Annotated

import typer

from pdebug.cli.options import (
    OutputOpt,
    live_options,
    word_of,
)
from pdebug.errors import ExitCode
from pdebug.sources.base import LiveOptions

_Proxy = Annotated[
    str,
    typer.Argument(
        metavar="SOURCE",
        help="A proxy: a saved dump, bundle member, admin URL or pod (pod/NAME, NAME.NS, "
        "deploy/NAME, svc/NAME).",
        show_default=False,
    ),
]


@live_options()
def rootca_compare_cmd(
    first: _Proxy,
    second: _Proxy,
    output: OutputOpt = "table",
    *,
    live: LiveOptions,
) -> int:
    """Say whether two proxies trust the same root CAs (istioctl proxy-config rootca-compare).

    Reads each proxy's active ROOTCA secret (its trusted CA bundle, or a SPIFFE
    validator's trust bundles) and compares the certificates: the proxies can
    theoretically talk mTLS when they share one. Wide lists each root and who trusts it.
    Exit 0 when they share a root, 1 when they do not.

    Example: pdebug rootca-compare pod/web-1 pod/api-1 -n shop

    Example: pdebug rootca-compare before.json snapshot.tar.gz:web-1.shop -o wide
    """
    import sys

    from pdebug.proxy import Fetch, load_proxy
    from pdebug.render import get_format
    from pdebug.views import rootca as v

    fmt = get_format(output)
    specs = [word_of(first), word_of(second)]
    proxies = [(load_proxy(spec, live, Fetch.secrets()), spec.text) for spec in specs]
    (a, label_a), (b, label_b) = proxies
    result = v.compare(a, b, a.source or label_a, b.source or label_b)
    sys.stdout.write(fmt.render(v.view(result, fmt.wide)))
    sys.stdout.flush()
    return ExitCode.OK if result.identical else ExitCode.FINDINGS
