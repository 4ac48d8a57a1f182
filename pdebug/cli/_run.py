"""The shared body of every view command: load, view, render, echo."""

from __future__ import annotations

import sys
from collections.abc import Callable

from pdebug.errors import InvalidInput
from pdebug.model import ProxyData
from pdebug.render import Format, get_format
from pdebug.views.result import ViewResult
from pdebug.views.table import Table


def load_proxy(source: str, clusters_json: str | None = None) -> ProxyData:
    """Read and parse ``source`` (and an optional /clusters?format=json file)."""
    from pdebug.model.load import load
    from pdebug.sources import read_source

    data, label = read_source(source)
    loaded = load(data, label)
    proxy = ProxyData(label, loaded.dump, loaded.clusters)
    if clusters_json is not None:
        extra, extra_label = read_source(clusters_json)
        more = load(extra, extra_label)
        if more.clusters is None:
            raise InvalidInput(
                f"{extra_label}: --clusters-json needs a /clusters?format=json document, "
                "not a config dump",
                hint="capture it with: curl -s 'localhost:15000/clusters?format=json'",
            )
        proxy.health = more.clusters
    return proxy


def run_view(
    source: str,
    output: str,
    build: Callable[[ProxyData, Format], ViewResult],
    clusters_json: str | None = None,
) -> int:
    """Validate ``-o`` first, then load, build the view, render it and print it."""
    fmt = get_format(output)
    proxy = load_proxy(source, clusters_json)
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
