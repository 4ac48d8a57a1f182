"""Tables as ``pdebug report``'s worker sends them to the parent, and back (#17).

The worker (:func:`pdebug.parallel.fork_map`) builds the wide tables while the parent
runs the checks and draws the topology. What crosses the pipe is ``marshal``'s: a
table's rows go as the JSON the page embeds (:func:`sendable`: orjson writes them
faster than ``marshal`` would, and the parent neither reads them back nor encodes them
again after the join), and the endpoints table with what the topology reads of all its
rows (:func:`pdebug.report.topology.row_index`). The parent takes each table back as
plain data whose rows are a :class:`~pdebug.report.static.EncodedRows`
(:func:`received`); a table built in the parent (no fork, a task the worker failed)
stays as it was built.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from pdebug.report.static import EncodedRows, encoded, escaped_json

if TYPE_CHECKING:
    from pdebug.checks import CheckReport
    from pdebug.checks.context import Context
    from pdebug.parallel import Spawned
    from pdebug.report.topology import Graph, Layout

#: A table builder with its estimated CPU seconds (``ReportMeta.table_builders``).
Builders = list[tuple[float, Callable[[], dict[str, Any]]]]

#: The first columns of the endpoints table that the topology's endpoint nodes refer to.
ENDPOINT_COLUMNS = ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"]


def sent(build: Callable[[], dict[str, Any]], parent: int) -> Callable[[], Any]:
    """``build``, whose table a worker (not process ``parent``) sends as :func:`sendable`."""
    return lambda: build() if os.getpid() == parent else sendable(build())


#: What a worker sends for a table whose rows it encoded (:func:`sendable`).
_SENT = "pdebug-encoded-rows"


def sendable(table: dict[str, Any]) -> Any:
    """A table as a worker sends it: its rows as the JSON the page embeds.

    Encoding the rows here (orjson, ~0.02 s for the 5k dump's tables; escaped for the
    page here too, ~3 ms off the parent's serial tail, perfreport11) costs less than
    ``marshal`` writing them (~0.05 s), and the parent neither reads them back (~0.03 s)
    nor encodes them again for the page (~0.015 s): those two were on the serial tail,
    after the join. The endpoints table comes with what the topology reads of all its
    rows (:func:`~pdebug.report.topology.row_index`). Rows orjson cannot write (a lone
    surrogate, an integer over 64 bits) are sent as they are, as before.
    """
    from pdebug.report.topology import row_index

    rows = table["rows"]
    try:  # escaped here too: the parent embeds the bytes as they are (#17)
        data = escaped_json(orjson.dumps(rows))
    except (TypeError, orjson.JSONEncodeError):
        return table
    index = None
    if table["id"] == "endpoints" and table["columns"][:4] == ENDPOINT_COLUMNS:
        try:
            index = row_index(rows)
        except Exception:  # noqa: BLE001 - the parent makes it, and says what it says
            index = None
    return (_SENT, {**table, "rows": None}, data, index)


def received(got: Any) -> dict[str, Any]:
    """A table as :func:`sendable` sent it, or as it was built here.

    Its plain form, but the rows :class:`~pdebug.report.static.EncodedRows` when they
    came encoded.
    """
    if isinstance(got, tuple) and len(got) == 4 and got[0] == _SENT:
        _, table, data, index = got
        table["rows"] = EncodedRows(data, index, escaped=True)  # in its place: keys in order
        return table  # type: ignore[no-any-return]
    return got  # type: ignore[no-any-return]


def _given(got: Any) -> Any:
    from pdebug.parallel import MISSING

    return None if got is MISSING else got


def with_facts(
    child: Spawned,
    ctx: Context,
    check: Callable[[], CheckReport],
    topology: Callable[[Any], tuple[dict[str, Any], Graph, Layout]],
    builders: Builders,
    own: set[int],
    meanwhile: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[CheckReport, list[dict[str, Any]], dict[str, Any], Graph, Layout]:
    """The report's checks, tables, summary and topology beside a facts worker (#17).

    ``child`` (:func:`pdebug.parallel.spawn`) runs :func:`pdebug.checks.facts_tasks`
    first (the EDS and routes sections' facts, the entries' unread members), then
    :func:`pdebug.report.topology.drawn_routes` (what the summary and topology read of
    the routes), then builds the tables of ``builders`` but those at the positions
    ``own`` (:func:`kept_here`). The endpoints and routes tables read the sections it
    decoded for the facts, so each section is decoded once in all; the clusters table
    counts endpoints from the EDS facts. This process searches the clusters section's
    bytes for ``inline`` (PD501's and the secrets table's answer:
    :func:`pdebug.model.dump.lacks`; the worker is the longer side), runs the checks
    (they read the facts through :attr:`Context.child` instead of the sections), then
    the tables ``own``, then the summary and topology (``topology(drawn)``, None when
    the worker did not send it): what those write is kept and written in one process's
    order (checks, tables, summary and topology). A
    table the worker did not send is built here in its turn.

    The worker builds its tables in :func:`worker_order` (the costliest first); this
    process takes them in that order and hands each to ``meanwhile`` before it asks for
    the next (``pdebug report`` lays out the topology's endpoints once it has the
    endpoints table, while the worker builds the last and cheapest one: #17).
    """
    from pdebug.checks import FACTS_TASKS
    from pdebug.model.dump import own_bytes_lacking
    from pdebug.parallel import MISSING, Ran, reap_later

    ctx.child = child
    try:
        if ctx.proxy.dump is not None:  # for PD501 and the secrets table (note_lack)
            own_bytes_lacking(ctx.proxy.dump, "clusters")
        report = check()
        # its own tables first: the worker meanwhile counts the routes for the summary
        kept = {i: Ran().run(build) for i, (_cost, build) in enumerate(builders) if i in own}
        drawn = Ran().run(lambda: topology(_given(child.result(FACTS_TASKS))))
        sent_here: dict[int, Any] = {}
        for at, i in enumerate(worker_order(builders, own), FACTS_TASKS + 1):
            got = child.result(at)
            sent_here[i] = got if got is MISSING else received(got)
            if meanwhile is not None and got is not MISSING:
                meanwhile(sent_here[i])
        tables: list[dict[str, Any]] = []
        for i, (_cost, build) in enumerate(builders):
            if i in kept:
                kept[i].replay()
                tables.append(kept[i].value)
                continue
            got = sent_here[i]  # in page order: one built here says what it says in its turn
            tables.append(build() if got is MISSING else got)
        drawn.replay()
    except BaseException:  # an error or Ctrl-C before the tables came: no worker is left
        child.close()
        raise
    finally:
        ctx.child = None
    reap_later(child)  # it sent every table and is ending: not waited for before the page
    summary, graph, layout = drawn.value
    return report, tables, summary, graph, layout


#: Beside the facts worker (:func:`with_facts`): estimated CPU seconds per byte of the
#: drawn sections (listeners, routes, clusters, endpoints) by which this process's side
#: is the shorter once its checks read the worker's facts. It builds that much of the
#: tables' estimates itself, the smallest first. 5k-service bench dump (2026-12,
#: perfreport8, CPU seconds, medians of 5, load 3.9; this process / the worker / the
#: critical path, waits for the worker included): every table in the worker 0.62 /
#: 0.80 / 0.94; the secrets table here 0.72 / 0.73 / 0.87; the listeners and secrets
#: tables here (0.19 s of ``views/wide._COST``; their sections are decoded here for
#: the checks, and the worker then decodes no listeners) 0.76 / 0.70 / 0.84. The next
#: smallest, the routes table, would decode the routes here as well. Again after
#: perfreport9 (this process searches the clusters' ``inline``; 7 paired rounds, load
#: 1.9): the listeners and secrets tables here 0.74 / 0.61 / 0.75, the secrets table
#: alone 0.64 / 0.76 / 0.89 (the two sides now end together).
SLACK = 1.25e-9


def laid_out(drew: list[tuple[Graph, Layout]]) -> Callable[[dict[str, Any]], None]:
    """:func:`with_facts`'s ``meanwhile`` for ``pdebug report``: the topology's page data.

    Made (:meth:`~pdebug.report.topology.Graph.plain`, which gives it again when the
    page asks for it) as soon as the endpoints table came, while the worker builds its
    last table, and its JSON (:func:`~pdebug.report.static.encoded`); on the bench dump
    ~0.015 s off the serial tail (#17). ``drew``: the topology's graph and layout, once
    drawn. What it raises is raised when the page asks, as before.
    """

    def meanwhile(table: dict[str, Any]) -> None:
        if not drew or table["id"] != "endpoints" or table["columns"][:4] != ENDPOINT_COLUMNS:
            return
        graph, layout = drew[0]
        rows = table["rows"]
        index = rows.row_index if isinstance(rows, EncodedRows) else None
        try:
            made = graph.plain(rows, layout, index)
        except Exception as exc:  # noqa: BLE001 - raised where the page asks (Graph.plain)
            layout.made = (rows, index, exc)
        else:  # and its JSON, which the page then embeds as it is
            layout.made = (rows, index, encoded(made))

    return meanwhile


def worker_order(builders: Builders, own: set[int]) -> list[int]:
    """The tables the facts worker builds, by position in ``builders``: the costliest first.

    The cheapest comes last: the parent's last wait is for the quickest table, and it
    works meanwhile on what the others gave it (:func:`with_facts`'s ``meanwhile``). On
    the bench dump: clusters, endpoints, routes (perfreport11: the topology's endpoint
    nodes are laid out while the worker builds the routes table, not after the join).
    """
    return sorted((i for i in range(len(builders)) if i not in own), key=lambda i: -builders[i][0])


def kept_here(builders: Builders, drawn: int) -> set[int]:
    """The tables this process builds beside the facts worker: positions in ``builders``.

    The smallest estimates first, up to :data:`SLACK` per byte of ``drawn``.
    """
    budget = drawn * SLACK
    own: set[int] = set()
    for i in sorted(range(len(builders)), key=lambda i: builders[i][0]):
        if builders[i][0] > budget:
            break
        budget -= builders[i][0]
        own.add(i)
    return own
