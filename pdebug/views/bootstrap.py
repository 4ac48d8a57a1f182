"""``pdebug bootstrap``: versions summary (``-o table``) or the bootstrap config.

The lines are the model's facts (:func:`pdebug.model.bootstrap.summary_rows`).
"""

from __future__ import annotations

from typing import Any

from pdebug.model import ProxyData
from pdebug.model.bootstrap import summary_rows
from pdebug.views.common import bare
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table


def view(data: ProxyData, wide: bool = False) -> ViewResult:
    """Version lines (tabwriter padding 1, no header); json/yaml give BootstrapConfigDump.

    The message itself, as istioctl prints it (no ``@type``).
    """
    table = Table((Column("KEY"), Column("VALUE")), padding=1, header=False)
    table.rows.extend(summary_rows(data, wide))
    sec = data.need_dump("the bootstrap view").require("bootstrap")

    def objects() -> Any:
        from pdebug.redact import redact_keys  # only json/yaml: a table never needs it

        return bare(redact_keys(sec.plain()))

    return ViewResult(table, objects)
