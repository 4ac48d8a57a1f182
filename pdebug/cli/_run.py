"""The shared body of every view command: load the proxy, build the view, render, print.

Reading the proxy (:class:`~pdebug.proxy.Fetch`, :func:`~pdebug.proxy.load_proxy`) is
library code in :mod:`pdebug.proxy`; the command parsed its SOURCE into a spec already.
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
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import FileSpec, MemberSpec, SourceSpec


def run_view(
    spec: SourceSpec,
    live: LiveOptions,
    output: str,
    fetch: Fetch,
    build: Callable[[ProxyData, Format], ViewResult],
    clusters_json: FileSpec | MemberSpec | None = None,
) -> int:
    """Validate ``-o`` first, then fetch, build the view, render it and print it."""
    fmt = get_format(output)
    proxy = load_proxy(spec, live, fetch, clusters_json)
    if proxy.picked_pod is not None:
        # Say which pod of the workload was read; stdout stays the data alone.
        print(f"reading pod {proxy.picked_pod} ({spec.text})", file=sys.stderr)
    result = build(proxy, fmt)
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
