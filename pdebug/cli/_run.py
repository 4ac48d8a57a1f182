"""The shared body of every view command: load the proxy, build the view, render, print.

Reading the proxy (:class:`~pdebug.proxy.Fetch`, :func:`~pdebug.proxy.load_proxy`) is
library code in :mod:`pdebug.proxy`: the command hands it SOURCE's words as typed, and it
parses them once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from pdebug.model import ProxyData
from pdebug.proxy import Fetch, load_proxy
from pdebug.render import Format, get_format
from pdebug.views.result import ViewResult
from pdebug.views.table import Table

if TYPE_CHECKING:
    from pdebug.cli.options import ProxyOptions


def run_view(
    proxy: ProxyOptions,
    output: str,
    fetch: Fetch,
    build: Callable[[ProxyData, Format], ViewResult],
    clusters_json: str | None = None,
) -> int:
    """Fetch (SOURCE parsed, then ``-o`` checked), build the view, render it and print it."""
    data = load_proxy(  # -o is checked once SOURCE is parsed, before anything is read
        proxy.words, proxy.live, fetch, clusters_json, before_read=lambda: get_format(output)
    )
    fmt = get_format(output)
    if data.picked_pod is not None:
        # Say which pod of the workload was read; stdout stays the data alone.
        print(f"reading pod {data.picked_pod} ({proxy.source})", file=sys.stderr)
    result = build(data, fmt)
    fmt.write(result, sys.stdout)
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
