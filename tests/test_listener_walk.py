"""#14: one walk over ``dynamic_listeners[]`` entries, read by the model and by diff.

``model/listeners.walk`` says which states each entry holds (active, warming, draining,
in that order) and whether it holds a rejection. ``ListenerFacts`` (views, checks,
trace, report) walks the typed entries; ``diff`` walks them undecoded
(``RawDynamicListener``) and keeps the first state that is not draining.
"""

from __future__ import annotations

from typing import Any

import orjson

from pdebug import diff
from pdebug.model import schema as s
from pdebug.model.dump import decode_items
from pdebug.model.listeners import ListenerFacts, RawDynamicListener, walk
from pdebug.model.load import load


def _listener(name: str, port: int = 80) -> dict[str, Any]:
    return {"name": name, "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}}}


def _dump(entries: list[dict[str, Any]]) -> bytes:
    section = {
        "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
        "dynamic_listeners": entries,
    }
    return orjson.dumps({"configs": [section]})


ENTRIES: list[dict[str, Any]] = [
    {"name": "a", "active_state": {"listener": _listener("a")}},
    {
        "name": "b",
        "draining_state": {"listener": _listener("b")},
        "warming_state": {"listener": _listener("b")},
        "active_state": {"listener": _listener("b")},
    },
    {"name": "c", "draining_state": {"listener": _listener("c")}},
    {"name": "d", "warming_state": {"listener": _listener("d")}, "error_state": {"details": "x"}},
    {"error_state": {"failed_configuration": _listener("e", 81), "details": "bad"}},
]
HELD = [("ACTIVE",), ("ACTIVE", "WARMING", "DRAINING"), ("DRAINING",), ("WARMING",), ()]
ERROR = [False, False, False, True, True]


def test_the_walk_reads_typed_and_undecoded_entries_alike() -> None:
    raw = orjson.dumps(ENTRIES)
    typed = decode_items(raw, s.DynamicListener, "t", print)
    undecoded = decode_items(raw, RawDynamicListener, "t", print)
    for entries in (typed, undecoded):
        walked = list(walk(entries))
        assert [tuple(label for label, _ in w.states) for w in walked] == HELD
        assert [w.error for w in walked] == ERROR
        assert [w.index for w in walked] == list(range(len(ENTRIES)))
    # undecoded: each state is the entry's own bytes (diff compares them)
    first = next(walk(undecoded)).states[0][1]
    assert orjson.loads(bytes(first)) == ENTRIES[0]["active_state"]


def test_the_model_and_diff_read_the_same_walk() -> None:
    dump = load(_dump(ENTRIES), "f").dump
    assert dump is not None
    facts = ListenerFacts(dump)
    assert [e.labels for e in facts.dynamic] == [tuple(h) for h in HELD]
    assert [e.state_text for e in facts.dynamic] == [
        "ACTIVE",
        "ACTIVE,WARMING,DRAINING",
        "DRAINING",
        "WARMING,ERROR",
        "ERROR",
    ]
    found = diff.collect(dump, "listeners")
    # diff's own choice: the first state that is not draining; draining-only is dropped
    assert {n: r.state for n, r in found.items()} == {
        "a": "active",
        "b": "active",
        "d": "error",
        "e": "error",
    }
    assert orjson.loads(bytes(found["b"].raw)) == _listener("b")


def test_a_null_state_is_absent_to_the_model_and_to_diff() -> None:
    """``"active_state": null`` is that state left out (protojson's null), for all."""
    entries = [
        {"name": "a", "active_state": None, "warming_state": {"listener": _listener("a")}},
        {"name": "b", "active_state": {"listener": _listener("b")}, "error_state": None},
        {"name": "c", "active_state": None, "draining_state": None},
    ]
    dump = load(_dump(entries), "f").dump
    assert dump is not None
    warnings: list[str] = []
    dump.warn = warnings.append  # type: ignore[method-assign]
    assert [e.labels for e in ListenerFacts(dump).dynamic] == [("WARMING",), ("ACTIVE",), ()]
    found = diff.collect(dump, "listeners")
    assert {n: r.state for n, r in found.items()} == {"a": "warming", "b": "active"}
    assert orjson.loads(bytes(found["a"].raw)) == _listener("a")
    assert warnings == []
    undecoded = decode_items(orjson.dumps(entries), RawDynamicListener, "t", warnings.append)
    assert [[label for label, _ in w.states] for w in walk(undecoded)] == [
        ["WARMING"],
        ["ACTIVE"],
        [],
    ]
    assert [w.error for w in walk(undecoded)] == [False, False, False]
