"""What a view hands to the renderers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pdebug.views.table import Lines, Stack, Table


@dataclass
class ViewResult:
    """A table (or text) for ``-o table|wide|markdown`` and the raw objects for json/yaml.

    ``objects`` is a thunk: decoding resources generically is paid only for json/yaml.
    ``note`` is said on stderr (e.g. that a filter matched nothing).
    """

    table: Table | Lines | Stack
    objects: Callable[[], Any]
    note: str | None = None
