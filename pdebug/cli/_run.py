"""The shared body of every view command: load the proxy, build the view, render, print.

Reading the proxy (:class:`~pdebug.proxy.Fetch`, :func:`~pdebug.proxy.load_proxy`) is
library code in :mod:`pdebug.proxy`; the command's SOURCE words are parsed here, once, into a spec.
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
    from pdebug.sources.spec import FileSpec, MemberSpec


def run_view(
    proxy: ProxyOptions,
    output: str,
    fetch: Fetch,
    build: Callable[[ProxyData, Format], ViewResult],
    clusters_json: FileSpec | MemberSpec | None = None,
) -> int:
    """Parse SOURCE, validate ``-o``, then fetch, build the view, render it and print it."""
    spec = proxy.spec()
    fmt = get_format(output)
    data = load_proxy(spec, proxy.live, fetch, clusters_json)
    if data.picked_pod is not None:
        # Say which pod of the workload was read; stdout stays the data alone.
        print(f"reading pod {data.picked_pod} ({spec.text})", file=sys.stderr)
    result = build(data, fmt)
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
