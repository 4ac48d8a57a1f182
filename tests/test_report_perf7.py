"""perfreport7 (#17): the report's shortcuts give the page the old paths gave.

- The worker sends each table's rows as the JSON the page embeds
  (:class:`~pdebug.report.static.EncodedRows`, ``report.sendable`` / ``received``),
  with what the topology reads of every endpoints row
  (:func:`~pdebug.report.topology.row_index`); the page is written in pieces
  (:func:`~pdebug.report.static.render_page_parts`).
- The topology works out each lone cluster's endpoint run with the layout, before the
  join (``Layout.facts``); after it only the row counts are compared.
- The static block writes a row of plain text as it is.
- The checks' context, report and graph are handed to ``ReportMeta.keep``.

The oracles are the old code paths, written out here: the old ``_TableRows``, the old
embedding (one ``orjson.dumps`` of the plain document, escaped whole) and the old cell
escaping. They run on other people's dumps (fixtures/corpus, istioctl's, the real
captures) and on seeded hostile variants of them: names with markup, bidi overrides,
control characters and NUL (tests/test_fuzz10.py's and test_fuzz.py's tricks), endpoint
addresses that are not ASCII and that repeat.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import orjson
import pytest

from pdebug.render.escape import escape_cell
from pdebug.report import static, topology
from tests import harness as eh
from tests.harness import FIXTURES
from tests.test_fuzz import TRAPS, _get, _nodes, _replace
from tests.test_fuzz10 import TRICKS

WHEN = eh.REPORT_TIME
_SAVED = list(eh.saved_dumps())
#: Dumps the hostile variants are made of (each has endpoints, names and findings).
_HOSTILE_BASES = [
    FIXTURES / "real" / "sidecar" / "config_dump.json",
    FIXTURES / "real" / "seed-demo" / "config_dump.json",
    FIXTURES / "istioctl" / "proxy-config-eds" / "configdump.json",
    FIXTURES / "istioctl" / "proxy-config-secret" / "istio" / "config_dump.json",
]
#: What a name or an address may become: markup, bidi, controls, NUL, non-ASCII.
_ODD = [*TRICKS, *(t for t in TRAPS if t != "\ud800"), "\x00", "é", "名", "\u2029"]


# --- the old paths (the oracles) ------------------------------------------------------


class _OldTableRows:
    """``report/topology._TableRows`` before perfreport7 (plain rows, all read here)."""

    def __init__(self, rows: Sequence[Sequence[Any]]) -> None:
        self.rows = rows
        self.runs: list[list[Any]] = []
        self._by_cluster: dict[str, dict[str, int]] | None = None
        self._status: dict[str, str] = {}
        self._groups: dict[str, int] = {}
        ends = [row[0] for row in rows]
        self._names = [row[3] for row in rows]
        self.sizes: dict[str, int] = {}
        if "".join(ends).isascii() and len(set(zip(self._names, ends, strict=True))) == len(rows):
            self.sizes = Counter(self._names)

    def add(self, buckets: list[Any], nodes: list[list[Any]]) -> int:
        made = 0
        for bucket in buckets:
            if len(bucket) == 1:
                ci, eps = bucket[0]
                run = self._derived(ci, eps, nodes[ci][1])
                if run is not None:
                    self.runs.append(run)
                    made += len(eps.statuses)
                    continue
            for ci, eps, order in topology._bucket_runs(bucket):
                self.runs.append(
                    topology._TableRows._listed(self, ci, eps, order, nodes[ci][1])  # type: ignore[arg-type]
                )
                made += len(order)
        return made

    def said(self) -> dict[str, Any]:
        return {
            "status": self._status,
            "rows": list(map(self._groups.get, self._names)) if self._groups else [],
            "runs": self.runs,
        }

    def _derived(self, ci: int, eps: Any, label: str) -> list[Any] | None:
        hosts, statuses = eps.hosts, eps.statuses
        listed = hosts.listed
        n = len(statuses)
        if (
            hosts.live
            or listed is None
            or not n
            or self.sizes.get(listed) != n
            or eps.suffixes != " in " + label
        ):
            return None
        one: str | None = statuses[0]
        if statuses.count(statuses[0]) != n:
            eds = hosts.eds
            status = self._status
            for e in dict.fromkeys(eds):
                if e not in status:
                    status[e] = topology.level_status(topology.endpoint_health(e))
            if list(map(status.get, eds)) != statuses:
                return None
            one = None
        group = self._groups.setdefault(listed, len(self._groups))
        return [ci, one, group]


def _old_plain(graph: topology.Graph, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """``Graph.plain(rows)`` as it was (with the endpoints table's rows)."""
    lay = graph.layout()
    nodes, edges, counts = lay.nodes, lay.edges, lay.counts
    table = _OldTableRows(rows)
    if lay.buckets is not None:
        counts[topology.ENDPOINT] += table.add(lay.buckets, nodes)
    return {
        "kinds": list(topology.KIND_NAMES),
        "nodes": nodes,
        "edges": edges,
        "counts": counts,
        "notes": list(graph.notes),
        "endpoints": table.said(),
    }


def _old_embed(doc: Any) -> bytes:
    """``embed_json_bytes`` as it was: the plain document encoded and escaped whole."""
    try:
        data = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
        for raw, code in static._ESCAPES:
            text = text.replace(raw, code)
        return text.encode()
    for char, code in static._BYTE_ESCAPES:
        data = data.replace(char, code)
    return data


def _old_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    def e(value: Any) -> str:
        return escape(escape_cell("" if value is None else str(value)))

    out = ['<table class="data">', "<tr>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
    out.append("</table>")
    return out


# --- what the report made -------------------------------------------------------------


def _made(
    proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], topology.Graph, Any]:
    """The plain document of one proxy (no fork), its graph and its endpoints rows."""
    from pdebug.report import ReportMeta, report_data
    from pdebug.views.wide import table_builders

    seen: list[tuple[topology.Graph, Any]] = []
    real = topology.Graph.plain

    def plain(self: topology.Graph, rows: Any = None, *rest: Any) -> Any:
        seen.append((self, rows))
        return real(self, rows, *rest)

    with monkeypatch.context() as m:
        m.setenv("PDEBUG_JOBS", "1")
        m.setattr(topology.Graph, "plain", plain)
        doc = report_data([proxy], ReportMeta("x", generated=WHEN, table_builders=table_builders))
    (graph, rows), *_ = seen
    return doc, graph, rows


def _as_sent(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with each table as a worker sends it and the parent takes it back."""
    from pdebug.report.worker import received, sendable

    out = dict(doc)
    out["proxies"] = [
        {**p, "tables": [received(sendable(t)) for t in p["tables"]]} for p in doc["proxies"]
    ]
    return out


def _same_as_before(doc: dict[str, Any], graph: topology.Graph, rows: Any) -> None:
    sent = _as_sent(doc)
    tables = sent["proxies"][0]["tables"]
    assert [t["id"] for t in tables] == [t["id"] for t in doc["proxies"][0]["tables"]]
    # the page: the same bytes as the plain document embedded whole
    head, tail = static.render_page_parts(doc)[0], static.render_page_parts(doc)[-1]
    old = head + _old_embed(doc) + tail
    assert b"".join(static.render_page_parts(sent)) == old
    assert static.render_page_bytes(sent) == old
    assert static.render_page_bytes(doc) == old
    if rows is None:
        return
    # the topology: the old rows-read-here plain, made from the sent rows and index
    expected = _old_plain(graph, rows)
    got = next(t["rows"] for t in tables if t["id"] == "endpoints")
    if isinstance(got, static.EncodedRows):
        assert got.row_index == topology.row_index(rows)
        assert graph.plain(got, graph.layout(), got.row_index) == expected
    assert graph.plain(rows, graph.layout()) == expected
    assert graph.plain(rows) == expected


@pytest.mark.parametrize("saved", _SAVED, ids=[n for n, _, _ in _SAVED])
def test_the_sent_tables_make_the_old_page(
    saved: tuple[str, bytes, bytes | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every saved dump: the page from sent tables and the graph from the sent index and
    the layout's facts are the old paths' (the page embedded whole, rows read here)."""
    proxy = eh.proxy_or_skip(*saved)
    _same_as_before(*_made(proxy, monkeypatch))


def _hostile(rng: random.Random, path: Path) -> bytes:
    """``path``'s dump with names and endpoint addresses made odd (some repeated)."""
    doc = json.loads(path.read_bytes())
    names = [p for p, v in _nodes(doc) if p and p[-1] in ("name", "cluster_name", "address")]
    for where in rng.sample(names, min(len(names), rng.randint(3, 40))):
        value = _get(doc, where)
        if not isinstance(value, str):
            continue
        odd = "".join(rng.choice(_ODD) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.2:  # the same odd value twice: pairs that repeat
            other = rng.choice(names)
            if isinstance(_get(doc, other), str):
                _replace(doc, other, odd + value)
        _replace(doc, where, rng.choice([odd + value, value + odd, odd]))
    return json.dumps(doc).encode()


@pytest.mark.parametrize("seed", range(12))
def test_hostile_names_make_the_old_page(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded hostile variants of other people's dumps: the same as the old paths."""
    rng = random.Random(7000 + seed)
    base = rng.choice(_HOSTILE_BASES)
    data = _hostile(rng, base)
    proxy = eh.proxy_or_skip(f"{base.name} seed {seed}", data, None)
    _same_as_before(*_made(proxy, monkeypatch))


# --- the pieces -----------------------------------------------------------------------


def _rows(rng: random.Random, n: int) -> list[list[str]]:
    names = [f"outbound|80||s{i}.ns" for i in range(max(1, n // 4))]
    addrs = [f"10.0.{i // 250}.{i % 250}:80" for i in range(n)]
    rows = [[rng.choice(addrs), "HEALTHY", "OK", rng.choice(names), "1"] for _ in range(n)]
    return rows


@pytest.mark.parametrize("seed", range(20))
def test_row_index_is_what_the_rows_say(seed: int) -> None:
    rng = random.Random(seed)
    rows = _rows(rng, rng.randint(0, 60))
    if rows and rng.random() < 0.3:
        rows[rng.randrange(len(rows))][0] += rng.choice(_ODD)  # maybe not ASCII
    if len(rows) > 1 and rng.random() < 0.3:
        rows.append(list(rows[0]))  # a pair that repeats
    names, of_row, sizes = topology.row_index(rows)
    old = _OldTableRows(rows)
    assert names == list(dict.fromkeys(r[3] for r in rows))
    table = topology._TableRows(rows)
    assert [names[i] for i in table._of_row] == [r[3] for r in rows]
    assert len(of_row) == 4 * len(rows)
    assert (dict(zip(names, sizes, strict=True)) if sizes else {}) == dict(old.sizes)
    assert table.sizes == dict(old.sizes)


def test_row_index_refuses_what_the_page_sorts_otherwise() -> None:
    ascii_rows = [["1.1.1.1:80", "HEALTHY", "OK", "c"], ["1.1.1.2:80", "HEALTHY", "OK", "c"]]
    assert topology.row_index(ascii_rows)[2] == [2]
    assert topology.row_index([[*ascii_rows[0]], ["é:80", "HEALTHY", "OK", "c"]])[2] is None
    assert topology.row_index([ascii_rows[0], list(ascii_rows[0])])[2] is None


def test_what_orjson_cannot_write_is_sent_as_it_is() -> None:
    """A lone surrogate or an integer over 64 bits: the table goes as before (marshal)."""
    from pdebug.report.worker import received, sendable

    columns = ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"]
    for cell in ("\ud800x", 1 << 70):
        rows = [["a", "b", "c", cell]]
        table = {"id": "endpoints", "title": "E", "columns": columns, "rows": rows, "note": None}
        assert sendable(table) is table
        assert received(table) is table
    doc = {"proxies": [{"tables": [table]}], "x": "\ud800"}  # the json path of the page
    assert static.embed_json_bytes(doc) == _old_embed(doc)


def test_a_sent_table_keeps_its_keys_in_order_and_reads_as_its_rows() -> None:
    from pdebug.report.worker import received, sendable

    rows = [["1.1.1.1:80", "HEALTHY", "OK", "c", "</script>\u2028\x00"]]
    table = {"id": "endpoints", "title": "Endpoints", "columns": ["ENDPOINT", "STATUS",
             "OUTLIER CHECK", "CLUSTER", "X"], "rows": rows, "note": None}  # fmt: skip
    sent = sendable(table)
    assert isinstance(sent, tuple)
    back = received(sent)
    assert list(back) == list(table)
    got = back["rows"]
    assert isinstance(got, static.EncodedRows) and got.row_index == topology.row_index(rows)
    assert got == rows and len(got) == 1 and got[0][4] == rows[0][4] and list(got) == rows
    other = received(sendable({**table, "id": "clusters"}))["rows"]
    assert isinstance(other, static.EncodedRows) and other.row_index is None
    page = static.embed_json_bytes({"t": [back, {"n": "\x00<b>"}]})
    assert page == _old_embed({"t": [table, {"n": "\x00<b>"}]})
    assert b"<" not in page and b"\xe2\x80\xa8" not in page


@pytest.mark.parametrize("seed", range(10))
def test_embedding_in_pieces_is_embedding_whole(seed: int) -> None:
    rng = random.Random(seed)

    def text() -> str:
        return "".join(rng.choice([*_ODD, "a", "b", "1"]) for _ in range(rng.randint(0, 6)))

    doc: dict[str, Any] = {"a": text(), "tables": [], "z": [text() for _ in range(3)]}
    plain = json.loads(json.dumps(doc))
    for i in range(rng.randint(0, 4)):
        rows = [[text(), i, None] for _ in range(rng.randint(0, 5))]
        doc["tables"].append({"id": str(i), "rows": static.EncodedRows(orjson.dumps(rows))})
        plain["tables"].append({"id": str(i), "rows": rows})
    assert static.embed_json_bytes(doc) == _old_embed(plain)
    assert static.embed_json(doc) == _old_embed(plain).decode()


@pytest.mark.parametrize("seed", range(10))
def test_the_static_table_escapes_as_before(seed: int) -> None:
    rng = random.Random(seed)
    pool = [*_ODD, "PD202", "cluster/outbound|80||a.b", "it's", "a & b", None, 3, ""]
    rows = [[rng.choice(pool) for _ in range(rng.randint(0, 5))] for _ in range(30)]
    assert static._table(["CODE", "<X>"], rows) == _old_table(["CODE", "<X>"], rows)


def test_the_report_hands_its_working_state_to_keep(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ReportMeta.keep`` gets the context, the check report and the graph; ``pdebug
    report`` (the plain path) hands ``pdebug.cli.linger`` in as ``keep``."""
    from pdebug.checks import CheckReport
    from pdebug.checks.context import Context
    from pdebug.report import ReportMeta, report_data

    kept: list[Any] = []
    proxy = eh.proxy_or_skip("sidecar", _HOSTILE_BASES[0].read_bytes(), None)
    report_data([proxy], ReportMeta("x", generated=WHEN, keep=lambda *o: kept.extend(o)))
    assert [type(k) for k in kept] == [Context, CheckReport, topology.Graph]


def test_pdebug_report_hands_linger_to_keep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pdebug report`` (with and without Typer) hands ``pdebug.cli.linger`` in as keep."""
    import pdebug.cli
    import pdebug.report

    metas: list[Any] = []
    real = pdebug.report.report_data

    def spy(proxies: Any, meta: Any) -> Any:
        metas.append(meta)
        return real(proxies, meta)

    monkeypatch.setattr(pdebug.report, "report_data", spy)
    dump = str(_HOSTILE_BASES[0])
    for args in (["report", dump, "-o", str(tmp_path / "a.html")],
                 ["report", dump, "-o", str(tmp_path / "b.html"), "--title", "t"]):  # fmt: skip
        assert pdebug.cli.main(args) == 0
    assert len(metas) == 2 and all(m.keep is pdebug.cli.linger for m in metas)


class _Hosts:
    """What a run reads of a host set (``model/hosts.HostSet``)."""

    def __init__(self, listed: str | None, eds: list[str], addresses: list[str], live: bool):
        self.listed, self.eds, self.addresses, self.live = listed, eds, addresses, live


@pytest.mark.parametrize("seed", range(40))
def test_runs_worked_out_first_are_the_old_runs(seed: int) -> None:
    """Seeded buckets of one cluster (and some of two) whose statuses agree with their
    EDS statuses or not, whose row counts match or not, live or not, listed or not:
    the runs, their statuses and groups are the old ``_TableRows``'s."""
    rng = random.Random(seed)
    eds_pool = ["HEALTHY", "UNHEALTHY", "DRAINING", "DEGRADED", "TIMEOUT", "UNKNOWN"]
    rows: list[list[str]] = []
    buckets: list[list[tuple[int, Any]]] = []
    nodes: list[list[Any]] = []
    for c in range(rng.randint(1, 12)):
        name = f"c{rng.randint(0, 8)}"
        label = rng.choice([name, f"{name}x"])
        n = rng.randint(0, 4)
        eds = [rng.choice(eds_pool[: rng.randint(1, 6)]) for _ in range(n)]
        statuses = [topology.level_status(topology.endpoint_health(e)) for e in eds]
        if statuses and rng.random() < 0.3:
            statuses[rng.randrange(n)] = rng.choice([topology.OK, topology.WARN, topology.BAD])
        addrs = [f"10.0.{c}.{i}:80" for i in range(n)]
        hosts = _Hosts(rng.choice([name, name, None]), eds, addrs, rng.random() < 0.1)
        eps = topology._Endpoints((topology.CLUSTER, name), hosts, " in " + label, statuses)  # type: ignore[arg-type]
        ci = len(nodes)
        nodes.append([topology.CLUSTER, label, "ok", "", ""])
        for i in range(n + rng.choice([0, 0, 0, 1, -1])):  # the table lists them, or not
            rows.append([addrs[i % n] if n else "x", eds[i % n] if n else "-", "OK", name])
        if buckets and rng.random() < 0.15:
            buckets[-1].append((ci, eps))  # clusters that sort alike
        else:
            buckets.append([(ci, eps)])
    rng.shuffle(rows)
    old = _OldTableRows(rows)
    made = old.add(buckets, nodes)
    new = topology._TableRows(rows, topology.row_index(rows))
    assert new.add(buckets, nodes, topology._layout_facts(buckets, nodes)) == made
    assert new.said() == old.said()
    again = topology._TableRows(rows)  # the facts worked out in add, the index in init
    assert again.add(buckets, nodes) == made
    assert again.said() == old.said()
