"""The shared body of every view command: load the proxy, build the view, render, print.

Reading the proxy (:class:`~pdebug.proxy.Target`, :class:`~pdebug.proxy.Fetch`,
:func:`~pdebug.proxy.load_proxy`) is library code in :mod:`pdebug.proxy`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from pdebug.model import ProxyData
from pdebug.proxy import Fetch, Target, load_proxy
from pdebug.render import Format, get_format
from pdebug.views.result import ViewResult
from pdebug.views.table import Table


def run_view(
    target: Target,
    output: str,
    fetch: Fetch,
    build: Callable[[ProxyData, Format], ViewResult],
    clusters_json: str | None = None,
) -> int:
    """Validate ``-o`` first, then fetch, build the view, render it and print it."""
    fmt = get_format(output)
    proxy = load_proxy(target, fetch, clusters_json)
    if proxy.picked_pod is not None:
        # Say which pod of the workload was read; stdout stays the data alone.
        print(f"reading pod {proxy.picked_pod} ({target.text})", file=sys.stderr)
    result = build(proxy, fmt)
    text = fmt.render(result)
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    note = result.note
    if (
        note is None
        and not fmt.structured
        and isinstance(result.table, Table)
        and not result.table.rows
        and not result.table.header_when_empty
    ):
        note = result.table.empty_message
    if note:
        print(note, file=sys.stderr)
    return 0


__all__ = ["run_view"]
