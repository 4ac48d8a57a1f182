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
from typing import Any

import orjson

from pdebug.report.static import EncodedRows

#: The first columns of the endpoints table that the topology's endpoint nodes refer to.
ENDPOINT_COLUMNS = ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"]


def sent(build: Callable[[], dict[str, Any]], parent: int) -> Callable[[], Any]:
    """``build``, whose table a worker (not process ``parent``) sends as :func:`sendable`."""
    return lambda: build() if os.getpid() == parent else sendable(build())


#: What a worker sends for a table whose rows it encoded (:func:`sendable`).
_SENT = "pdebug-encoded-rows"


def sendable(table: dict[str, Any]) -> Any:
    """A table as a worker sends it: its rows as the JSON the page embeds.

    Encoding the rows here (orjson, ~0.02 s for the 5k dump's tables) costs less than
    ``marshal`` writing them (~0.05 s), and the parent neither reads them back (~0.03 s)
    nor encodes them again for the page (~0.015 s): those two were on the serial tail,
    after the join. The endpoints table comes with what the topology reads of all its
    rows (:func:`~pdebug.report.topology.row_index`). Rows orjson cannot write (a lone
    surrogate, an integer over 64 bits) are sent as they are, as before.
    """
    from pdebug.report.topology import row_index

    rows = table["rows"]
    try:
        data = orjson.dumps(rows)
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
        table["rows"] = EncodedRows(data, index)  # in its place: the keys keep their order
        return table  # type: ignore[no-any-return]
    return got  # type: ignore[no-any-return]
