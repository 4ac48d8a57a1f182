"""perfreport11 (#17): report's worker builds its tables costliest first; the parent lays
the topology's endpoints out while the worker builds the last one.

Beside the facts worker (:func:`pdebug.report.worker.with_facts`) the worker builds its
tables in :func:`pdebug.report.worker.worker_order` (the costliest first, so the last is
the quickest), and the parent hands each table to ``meanwhile`` as it comes:
:func:`pdebug.report.worker.laid_out` makes the topology's page data
(:meth:`Graph.plain`) as soon as the endpoints table came, and ``Graph.plain`` gives the
same dict again when the page asks for it (:attr:`Layout.made`). What must hold:

- the order: the costliest table first, ties in page order, the parent's own left out;
- on the facts path, the topology's page data is made after the endpoints table came and
  before the worker's last table is asked for, whenever that last one is another table;
- the page, stdout, stderr and exit code stay those of one process (``PDEBUG_JOBS=1``):
  tests/test_report_perf8.py compares them on every forked input with every split of
  the tables; here the same on the inputs whose endpoints table is not the last;
- ``Graph.plain`` asked twice with one layout gives the first answer (the layout's lists
  are extended once), and what it raised when asked early is raised in its turn;
- the topology's page data is encoded then too (:class:`pdebug.report.static.EncodedDict`):
  the page embeds those bytes, the same as encoding the dict with the document, on
  seeded hostile values and every subclass of orjson's own types;
- a spawned child that sent all its results is not waited for when the last one is read
  (its exit frees its memory meanwhile): :meth:`Spawned.close` or :func:`parallel.reap`
  reaps it, ``pdebug report`` once the page is written, the next spawn before it forks,
  and no child is ever left behind;
- the worker sends its rows escaped for the page (``EncodedRows.escaped``): the parent
  embeds them as they are, and they still read as the rows;
- a spawned child's result is read where it wrote it (its file in memory, mapped), at any
  offset; a file shorter than said is read, never mapped past its end.
"""

from __future__ import annotations

import enum
import os
import random
import select
from collections import Counter, OrderedDict, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

import pdebug.report as pdebug_report
from pdebug import parallel
from pdebug.report import static, topology, worker
from tests.test_check_perf import FORK_INPUTS
from tests.test_report_perf8 import SLACKS, _report

#: Inputs of the facts path with an endpoints table (others' dumps and generated ones).
DRAWN = ["real/sidecar", "gendump-40", "gendump-40-camel", "gendump-40-mixed"]


def _builders(costs: list[float]) -> worker.Builders:
    return [(cost, lambda: {}) for cost in costs]


def test_the_worker_builds_the_costliest_first() -> None:
    costs = [0.55, 0.1, 0.17, 0.32, 0.09]  # the bench dump's estimates, in page order
    assert worker.worker_order(_builders(costs), {1, 4}) == [0, 3, 2]
    assert worker.worker_order(_builders(costs), set()) == [0, 3, 2, 1, 4]
    assert worker.worker_order(_builders([0.2, 0.3, 0.2, 0.3]), set()) == [1, 3, 0, 2]
    assert worker.worker_order(_builders(costs), {0, 1, 2, 3, 4}) == []
    assert worker.worker_order([], set()) == []


@pytest.mark.parametrize("name", DRAWN)
def test_the_topology_is_laid_out_before_the_last_table_is_asked(
    name: str,
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[tuple[str, Any]] = []
    real_result = parallel.Spawned.result
    real_plain = topology.Graph.plain
    real_order = worker.worker_order

    def result(self: parallel.Spawned, index: int = 0) -> Any:
        events.append(("ask", index))
        return real_result(self, index)

    def plain(self: topology.Graph, rows: Any = None, layout: Any = None, *rest: Any) -> Any:
        if layout is None or layout.made is None:  # made now, not given again
            events.append(("plain", None))
        return real_plain(self, rows, layout, *rest)

    def order(builders: worker.Builders, own: set[int]) -> list[int]:
        got = real_order(builders, own)
        events.append(("order", [builders[i][1].__name__ for i in got]))
        return got

    monkeypatch.setattr(parallel.Spawned, "result", result)
    monkeypatch.setattr(topology.Graph, "plain", plain)
    monkeypatch.setattr(worker, "worker_order", order)
    path = tmp_path / "dump.json"
    path.write_bytes(FORK_INPUTS[name])
    one, _ = _report(path, "1", capsys, monkeypatch)
    compared = 0
    for how, slack in SLACKS.items():
        events.clear()
        forked, used = _report(path, "2", capsys, monkeypatch, slack)
        assert forked == one, how
        names = next(v for k, v in events if k == "order")
        plains = [i for i, (k, _) in enumerate(events) if k == "plain"]
        assert len(plains) == 1, how  # made once: the page's ask is given it again
        if "endpoints_table" not in names[:-1]:
            continue  # the endpoints table is the parent's, or the worker's last
        first = 5  # checks.FACTS_TASKS + 1: the tables' results follow the facts
        asks = [(i, v) for i, (k, v) in enumerate(events) if k == "ask" and v >= first]
        endpoints = first + names.index("endpoints_table")
        came = max(i for i, v in asks if v == endpoints)
        last = min(i for i, v in asks if v == first + len(names) - 1)
        assert came < plains[0] < last, (how, names, events)
        compared += 1
    assert used
    assert compared >= 1  # "none" puts every table in the worker: endpoints not last


def _laid_out_graph() -> tuple[topology.Graph, topology.Layout, Any, Any]:
    """A graph of a real sidecar dump, its layout, and its endpoints table's rows as the
    worker sends them."""
    from datetime import UTC, datetime

    from pdebug.checks import CheckOptions, run_checks
    from pdebug.checks.context import Context
    from pdebug.report import _endpoint_rows
    from pdebug.report.worker import received, sendable
    from pdebug.views.wide import wide_tables
    from tests import harness as eh

    path = eh.FIXTURES / "real" / "sidecar" / "config_dump.json"
    proxy = eh.proxy_or_skip("sidecar", path.read_bytes(), None)
    when = datetime(2026, 12, 7, tzinfo=UTC)
    ctx = Context(proxy, CheckOptions(now=when))
    findings = run_checks(proxy, ctx.options, ctx).findings
    graph = topology.build_graph(ctx, findings)
    tables = [received(sendable(t)) for t in wide_tables(proxy, when)]
    rows = _endpoint_rows(tables)
    assert rows is not None and len(rows) > 10
    fresh = topology.build_graph(ctx, findings)
    return graph, graph.layout(), rows, fresh.plain(rows, fresh.layout(), rows.row_index)


def test_plain_asked_again_gives_what_it_gave() -> None:
    graph, layout, rows, expected = _laid_out_graph()
    first = graph.plain(rows, layout, rows.row_index)
    assert first == expected
    again = graph.plain(rows, layout, rows.row_index)
    assert again is first and again == expected  # not laid out twice (counts, nodes)
    assert len(again["nodes"]) == len(expected["nodes"])


def test_laid_out_makes_it_when_the_endpoints_table_comes() -> None:
    graph, layout, rows, expected = _laid_out_graph()
    meanwhile = worker.laid_out([(graph, layout)])
    meanwhile({"id": "clusters", "columns": ["NAME"], "rows": []})
    assert layout.made is None  # not the endpoints table: nothing made
    table = {"id": "endpoints", "columns": worker.ENDPOINT_COLUMNS, "rows": rows}
    meanwhile(table)
    assert layout.made is not None and layout.made[2] == expected
    made = layout.made[2]
    assert isinstance(made, static.EncodedDict)  # and encoded, as the page embeds it
    assert made.data == static.embed_json_bytes(expected)
    assert graph.plain(rows, layout, rows.row_index) is layout.made[2]
    worker.laid_out([])(table)  # the topology raised (nothing drawn): nothing to do


def test_what_plain_raised_early_is_raised_in_its_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, layout, rows, _ = _laid_out_graph()
    real = topology._TableRows

    class Broken(ValueError):
        pass

    def broken(*args: Any) -> Any:
        raise Broken("rows")

    monkeypatch.setattr(topology, "_TableRows", broken)
    table = {"id": "endpoints", "columns": worker.ENDPOINT_COLUMNS, "rows": rows}
    worker.laid_out([(graph, layout)])(table)  # kept, not raised while the worker works
    monkeypatch.setattr(topology, "_TableRows", real)
    with pytest.raises(Broken):  # the same error, where the page asks (not made again)
        graph.plain(rows, layout, rows.row_index)


class _Level(enum.IntEnum):
    HIGH = 3


class _Word(enum.StrEnum):
    MARK = "</script><b>"


class _Text(str):
    def __str__(self) -> str:
        return "not what orjson writes"


_TRICKS = ["</script>", "<!--", "a&b", "\u2028", "\u2029", "\u202e", "\x00", "é", "名", "", "'\""]


def _value(rng: random.Random, depth: int = 0, rows: bool = True) -> Any:
    """A seeded value of the kinds a page's document holds, subclasses included (and a
    worker's encoded rows, unless not ``rows``: the topology's data holds none)."""
    pick = rng.randrange(12 if depth < 3 else 6)
    if pick == 0:
        return rng.choice(_TRICKS) + str(rng.randrange(100))
    if pick == 1:
        return rng.choice([0, -1, 2**40, 1.5, True, False, None])
    if pick == 2:
        return rng.choice([_Level.HIGH, _Word.MARK, _Text(rng.choice(_TRICKS))])
    if pick == 3:
        return Counter(rng.choice(_TRICKS) for _ in range(3))
    if pick in (4, 5):
        return str(rng.random())
    keys = [rng.choice(_TRICKS) + str(i) for i in range(rng.randrange(4))]
    items = {key: _value(rng, depth + 1, rows) for key in keys}
    if pick == 6:
        return OrderedDict(items)
    if pick == 7:
        return defaultdict(list, items)
    if pick == 8:
        return [_value(rng, depth + 1, rows) for _ in range(rng.randrange(4))]
    if pick == 9 and rows:
        return static.EncodedRows(orjson.dumps([[rng.choice(_TRICKS), 1]]))
    return items


@pytest.mark.parametrize("seed", range(40))
def test_an_encoded_dict_embeds_as_the_dict(seed: int) -> None:
    rng = random.Random(1100 + seed)
    graph = {"nodes": [_value(rng, rows=False) for _ in range(5)], "counts": [1], "notes": []}
    doc = {"proxies": [{"summary": _value(rng), "graph": graph, "tail": _value(rng)}]}
    plain = static.embed_json_bytes(doc)
    made = static.encoded(graph)
    assert isinstance(made, static.EncodedDict) and made == graph
    doc["proxies"][0]["graph"] = made
    assert static.embed_json_bytes(doc) == plain


def test_the_page_embeds_the_encoded_bytes() -> None:
    """The bytes an :class:`EncodedDict` carries are what the page holds (not encoded
    again), and a dict orjson cannot write stays a dict (the whole document is then
    written by the plain path, as before)."""
    doc = {"a": static.EncodedDict({"x": 1}, b'{"said":"as it is"}'), "b": [1]}
    assert static.embed_json_bytes(doc) == b'{"a":{"said":"as it is"},"b":[1]}'
    lone = {"x": "\ud800"}
    assert type(static.encoded(lone)) is dict
    assert static.embed_json_bytes({"g": static.encoded(lone)}) == b'{"g":{"x":"\\ud800"}}'


def _ending_slowly(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """A child forked from now on ends only once a byte is written to the pipe returned
    (or after 10 s): so whether the parent waited for its end is seen, not timed."""
    read, write = os.pipe()
    real = os._exit

    def _exit(code: int) -> None:
        select.select([read], [], [], 10)
        real(code)

    monkeypatch.setattr(os, "_exit", _exit)
    return read, write


def test_a_child_that_sent_all_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)
    monkeypatch.setenv("PDEBUG_JOBS", "2")
    parallel.reap()  # any child another test left to end
    read, write = _ending_slowly(monkeypatch)
    reaped = len(parallel.CHILDREN)
    spawned = parallel.spawn([lambda: 1, lambda: [2]], 10.0)
    assert spawned is not None
    try:
        assert spawned.result(1) == [2]  # the last: read, and the child not waited for
        assert os.waitpid(spawned._pid, os.WNOHANG) == (0, 0)  # still ending
        assert len(parallel.CHILDREN) == reaped
        assert spawned.result(0) == 1
        os.write(write, b"x")
    finally:
        spawned.close()  # waits for it
        os.close(read)
        os.close(write)
    assert len(parallel.CHILDREN) == reaped + 1  # its CPU is counted (bench/parprofile)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left, none to reap


@pytest.mark.parametrize("name", ["real/sidecar", "gendump-40"])
def test_the_report_reaps_its_worker_after_the_page(
    name: str,
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker is left to end while the page is made; ``pdebug report`` reaps it once
    the page is written, and ``report_data`` alone leaves it to the next spawn."""
    from pdebug.model.load import load
    from pdebug.report import ReportMeta, report_data
    from pdebug.views.wide import table_builders

    path = tmp_path / "dump.json"
    path.write_bytes(FORK_INPUTS[name])
    events: list[str] = []
    real_write = pdebug_report.write_report

    def write_report(*args: Any) -> None:
        events.append(f"page, {len(parallel._ENDING)} ending")
        real_write(*args)

    monkeypatch.setattr(pdebug_report, "write_report", write_report)
    parallel.reap()  # any child another test left to end
    reaped = len(parallel.CHILDREN)
    (code, page, *_), used = _report(path, "2", capsys, monkeypatch)
    assert code == 0 and page and used
    assert events == ["page, 1 ending"]  # the worker not waited for before the page
    assert not parallel._ENDING and len(parallel.CHILDREN) == reaped + 1
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # reaped once the page was written
    loaded = load(FORK_INPUTS[name], name)
    proxy = pdebug_report.ProxyData(name, loaded.dump, loaded.clusters)
    monkeypatch.setenv("PDEBUG_JOBS", "2")
    report_data([proxy], ReportMeta("x", table_builders=table_builders))
    assert len(parallel._ENDING) == 1
    spawned = parallel.spawn([lambda: 1], 10.0)  # reaps it first
    assert spawned is not None
    assert parallel._ENDING == [] and len(parallel.CHILDREN) == reaped + 2
    assert spawned.result(0) == 1
    parallel.reap_later(spawned)
    parallel.reap()  # the atexit hook when run as the program
    assert parallel._ENDING == [] and len(parallel.CHILDREN) == reaped + 3
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.parametrize("seed", range(10))
def test_the_worker_sends_its_rows_escaped(seed: int) -> None:
    rng = random.Random(1150 + seed)
    rows = [[rng.choice(_TRICKS) + str(i), i, rng.choice(_TRICKS)] for i in range(30)]
    table = {"id": "t", "title": "T", "columns": ["A", "B", "C"], "rows": rows, "note": None}
    got = worker.received(worker.sendable(dict(table)))
    sent = got["rows"]
    assert isinstance(sent, static.EncodedRows) and sent.escaped
    assert not any(c in sent.data for c in (b"<", b">", b"&", "\u2028".encode()))
    assert list(sent) == rows and got == table
    assert static.embed_json_bytes({"t": got}) == static.embed_json_bytes({"t": table})


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux's memfd")
def test_a_result_is_read_where_the_child_wrote_it() -> None:
    fd = os.memfd_create("pdebug-test")
    try:
        data = bytes(range(256)) * 40
        os.pwrite(fd, data, 0)
        for offset, size in ((0, 10), (4095, 2), (4096, 4096), (5000, 5240), (1, 10239)):
            got = parallel._mapped_body(fd, offset, size)
            assert isinstance(got, memoryview) and bytes(got) == data[offset : offset + size]
        short = parallel._mapped_body(fd, 10000, 1000)  # past the end: never mapped
        assert isinstance(short, bytearray) and short == bytearray()
    finally:
        os.close(fd)
