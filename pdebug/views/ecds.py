"""``pdebug ecds``: extension configs delivered by ECDS (e.g. Wasm filters)."""

from __future__ import annotations

from typing import Any

from pdebug.gosort import go_sort_by_key
from pdebug.model import ProxyData
from pdebug.model.dump import decode_raw
from pdebug.model.schema import AnyType
from pdebug.model.sections import none_when_absent
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

PREFIX = "type.googleapis.com/"


def view(data: ProxyData, wide: bool = False) -> ViewResult:
    """ECDS NAME, TYPE; sorted by full type URL then name (istioctl)."""
    dump = data.need_dump("the ecds view")
    if none_when_absent(dump, "ecds"):
        # Envoy leaves the ECDS section out of a full dump when it has no ECDS filter:
        # "none", as a live read says (only a partial dump lacks it for want of capture).
        dump.assume_empty(("ecds",))
    dump.require("ecds")
    found = []
    for ref, entry in dump.ecds_entries():
        f = entry.ecds_filter
        name = f.name if f is not None else ""
        type_url = ""
        if f is not None and len(f.typed_config) and bytes(f.typed_config) != b"null":
            type_url = decode_raw(f.typed_config, AnyType, ref.section.camel, name).type_url
        found.append((type_url, name, ref, entry))
    in_dump_order = [ref for _, _, ref, _ in found]
    # istioctl: sort.Slice by type URL, then name (two filters of one name can tie).
    go_sort_by_key(found, _ecds_key)
    cols = (
        Column("ECDS NAME"),
        Column("TYPE"),
        Column("VERSION", wide=True),
        Column("LAST UPDATED", wide=True),
    )
    table = Table(cols, empty_message="No ECDS filters found.")
    for type_url, name, _, entry in found:
        short = type_url[len(PREFIX) :] if type_url.startswith(PREFIX) else type_url
        table.rows.append((name, short, entry.version_info or "-", entry.last_updated or "-"))

    def objects() -> Any:
        return {"ecds_filters": [ref.resolve() for ref in in_dump_order]}

    return ViewResult(table, objects)


def _ecds_key(found: tuple[str, str, Any, Any]) -> tuple[str, str]:
    return (found[0], found[1])
