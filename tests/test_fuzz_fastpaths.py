"""Seeded differential fuzzing of the fast paths against their slow paths (#17).

Each case mutates one real config dump (fixtures/corpus/, fixtures/istioctl/ and the
shared corpus when present): keys respelled snake_case <-> lowerCamelCase one by one
(``consecutive_5xx`` <-> ``consecutive5xx`` too), duplicate keys (same and other
spelling), unknown fields, odd numbers (floats, ``-0``, ``1e400``, 19+ digit ints),
``\\u`` escapes in names and keys, NUL and U+2028 in names, reordered keys, other
indentation (tabs, CRLF), nameless entries, warming/draining/error_state entries, null
for a field, Struct/metadata maps with camelCase-looking keys. On each, every fast path
must give exactly what its slow path gives:

1. the light clusters decode (``clusters`` and ``all`` with it on and off),
2. ``all -o json`` streamed against the whole-document render of the full decode,
3. ``diff A mutated(A)`` with the per-resource shortcut on and forced off,
4. the one-pass ``clusters -o wide`` rows against the general path's,
5. the report topology's ordering against one plain sort,
6. ``all`` (table, ``-o json``) with its parts forked (``PDEBUG_JOBS=3``, pdebug.parallel)
   against ``PDEBUG_JOBS=1``,
7. ``clusters`` with its section decoded in two halves at once (``PDEBUG_JOBS=2``,
   :func:`pdebug.model.light.split_rows`; the file read as bytes or memory-mapped)
   against ``PDEBUG_JOBS=1``.
8. ``check`` (table, ``-o json``) with its fast paths (tests/test_check_perf.py's
   ``SLOW``: whether the proxy has clusters, from the planned decode) on and off, and
   with its EDS and routes sections read by a forked child (``PDEBUG_JOBS=2``,
   :func:`pdebug.model.hosts.eds_facts`, :func:`pdebug.model.routes.route_facts`)
   against ``PDEBUG_JOBS=1``.

``make test`` runs a small budget; ``make fuzz`` a long one. Environment:
``PDEBUG_FUZZDIFF_CASES`` (default 40), ``PDEBUG_FUZZDIFF_SEED`` (default 17),
``PDEBUG_FUZZDIFF_BUDGET`` (seconds, default 12).
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pdebug import diff as d
from pdebug import parallel
from pdebug.checks import CheckOptions
from pdebug.errors import PdebugError
from pdebug.model import ProxyData
from pdebug.model.camel import to_snake
from pdebug.model.load import load
from pdebug.render import get_format
from pdebug.render.structured import render_json, render_yaml
from pdebug.views import all as all_view
from pdebug.views import clusters
from pdebug.views.clusters import ClusterFilter
from pdebug.views.endpoints import EndpointFilter
from pdebug.views.listeners import ListenerFilter
from tests import harness as eh
from tests.harness import FIXTURES, camelize, json_name

CASES = int(os.environ.get("PDEBUG_FUZZDIFF_CASES", "40"))
SEED = int(os.environ.get("PDEBUG_FUZZDIFF_SEED", "17"))
BUDGET = float(os.environ.get("PDEBUG_FUZZDIFF_BUDGET", "12"))
#: Largest fixture mutated (bigger ones make a case slow, not harder).
MAX_BYTES = 400_000


def _shared_corpus() -> list[Path]:
    for root in (FIXTURES.parents[1] / "shared" / "corpus", Path("/work/shared/corpus")):
        if root.is_dir():
            return sorted(root.rglob("*.json"))
    return []


def _dumps() -> list[Path]:
    found = []
    paths = sorted((FIXTURES / "corpus").rglob("*.json"))
    paths += sorted((FIXTURES / "istioctl").rglob("*.json")) + _shared_corpus()
    for p in paths:
        data = p.read_bytes()
        if len(data) <= MAX_BYTES and b'"configs"' in data[:4096]:
            found.append(p)
    return found


DUMPS = _dumps()


# --- a JSON writer that can write what json.dumps will not --------------------------------


class Pairs(list[tuple[str, Any]]):
    """An object written member by member: a name may come twice."""


class Big:
    """A number written as this text."""

    def __init__(self, text: str) -> None:
        self.text = text


class Style:
    def __init__(self, rng: random.Random) -> None:
        self.indent = rng.choice([None, None, "  ", "\t", " "])
        self.newline = rng.choice(["\n", "\n", "\r\n"])
        self.escape = rng.random() < 0.3  # \\u-escape some letters of names and keys
        self.rng = rng


def _string(text: str, style: Style) -> str:
    out = json.dumps(text, ensure_ascii=False)
    if style.escape and style.rng.random() < 0.2:
        body = "".join(
            f"\\u{ord(c):04x}" if c.isalpha() and style.rng.random() < 0.3 else c for c in out[1:-1]
        )
        out = '"' + body + '"'
    if style.escape and "/" in out and style.rng.random() < 0.2:
        out = out.replace("/", "\\/")
    return out


def _write(value: Any, style: Style, depth: int = 0) -> str:
    if isinstance(value, Big):
        return value.text
    if isinstance(value, str):
        return _string(value, style)
    if isinstance(value, dict):
        value = Pairs(value.items())
    if isinstance(value, (Pairs, list)):
        is_obj = isinstance(value, Pairs)
        if is_obj:
            items = [_string(k, style) + ":" + _write(v, style, depth + 1) for k, v in value]
        else:
            items = [_write(v, style, depth + 1) for v in value]
        open_, close = ("{", "}") if is_obj else ("[", "]")
        if not items:
            return open_ + close
        if style.indent is None:
            return open_ + ",".join(items) + close
        pad = style.newline + style.indent * (depth + 1)
        return open_ + pad + ("," + pad).join(items) + style.newline + style.indent * depth + close
    return json.dumps(value)


# --- mutations ----------------------------------------------------------------------------


OUTLIER = {
    "consecutive_5xx": 5,
    "consecutive_gateway_failure": 3,
    "enforcing_consecutive_5xx": 100,
    "base_ejection_time": "30s",
    "max_ejection_percent": 10,
}


def _clusters_of(doc: Any) -> list[dict[str, Any]]:
    return [n for n in eh.every_dict(doc) if isinstance(n.get("name"), str) and "type" in n]


def _digits(doc: Any, rng: random.Random) -> None:
    """Give clusters outlier detection (``consecutive_5xx``) in either spelling, mixed."""
    for node in rng.sample(_clusters_of(doc), k=min(len(_clusters_of(doc)), rng.randint(1, 4))):
        fields = {(json_name(k) if rng.random() < 0.5 else k): v for k, v in OUTLIER.items()}
        node[rng.choice(["outlier_detection", "outlierDetection"])] = fields
        if rng.random() < 0.3:
            node["circuitBreakers" if rng.random() < 0.5 else "circuit_breakers"] = {
                "thresholds": [{"max_connections": Big("4294967295"), "maxRetries": 3}]
            }


def _other_spelling(key: str) -> str:
    if "_" in key:
        return json_name(key)
    return to_snake(key)


def _respell(doc: Any, rng: random.Random) -> None:
    nodes = [n for n in eh.every_dict(doc) if n]
    for _ in range(rng.randint(1, 6)):
        node = rng.choice(nodes)
        key = rng.choice(list(node))
        new = _other_spelling(key)
        if new != key and new not in node and not key.startswith("@"):
            items = list(node.items())
            node.clear()
            node.update((new if k == key else k, v) for k, v in items)


def _reorder(doc: Any, rng: random.Random) -> None:
    for node in rng.sample(found := eh.every_dict(doc), k=min(20, len(found))):
        items = list(node.items())
        rng.shuffle(items)
        node.clear()
        node.update(items)


def _unknown(doc: Any, rng: random.Random) -> None:
    nodes = eh.every_dict(doc)
    for _ in range(rng.randint(1, 3)):
        node = rng.choice(nodes)
        node[rng.choice(["fooBar", "foo_bar", "x5xx", "extra_field9", "LABELS"])] = rng.choice(
            [1, "v", {"appName": "a", "a_b": 2}, [], None]
        )


NUMBERS = ["1.0", "-0", "-0.0", "1e400", "-1e400", "12345678901234567890", "1E2", "0.5e1"]
NUMBERS += ["-9223372036854775809", "18446744073709551616", "3.0000000000000001", "100"]


def _odd_number(doc: Any, rng: random.Random) -> None:
    nodes = eh.every_dict(doc)
    spots = [(n, k) for n in nodes for k, v in n.items() if isinstance(v, (int, float))]
    spots = [(n, k) for n, k in spots if not isinstance(n[k], bool)]
    if not spots:
        spots = [(n, k) for n in nodes for k, v in n.items() if isinstance(v, str)]
    for node, key in rng.sample(spots, k=min(len(spots), rng.randint(1, 4))):
        node[key] = Big(rng.choice(NUMBERS))


def _odd_name(doc: Any, rng: random.Random) -> None:
    nodes = [n for n in eh.every_dict(doc) if isinstance(n.get("name"), str)]
    for node in rng.sample(nodes, k=min(len(nodes), rng.randint(1, 3))):
        trap = rng.choice(["\x00", "\u2028", "\u00e9", '"', "\\", "\t", "\ud7ff", "\U0001f600"])
        pos = rng.randint(0, len(node["name"]))
        node["name"] = node["name"][:pos] + trap + node["name"][pos:]


def _nameless(doc: Any, rng: random.Random) -> None:
    nodes = [n for n in eh.every_dict(doc) if "name" in n]
    for node in rng.sample(nodes, k=min(len(nodes), rng.randint(1, 2))):
        if rng.random() < 0.5:
            del node["name"]
        else:
            node["name"] = rng.choice([None, "", 5])


def _null(doc: Any, rng: random.Random) -> None:
    nodes = [n for n in eh.every_dict(doc) if n]
    for _ in range(rng.randint(1, 4)):
        node = rng.choice(nodes)
        key = rng.choice(list(node))
        if not key.startswith("@"):
            node[key] = None


def _sections(doc: Any) -> list[dict[str, Any]]:
    configs = doc.get("configs") if isinstance(doc, dict) else None
    if isinstance(configs, dict):
        configs = list(configs.values())
    return [s for s in configs or [] if isinstance(s, dict)]


def _states(doc: Any, rng: random.Random) -> None:
    """Move entries to warming/draining lists, give some an error_state."""
    for sec in _sections(doc):
        for key in list(sec):
            entries = sec[key]
            if not isinstance(entries, list) or not entries or rng.random() < 0.4:
                continue
            entry = rng.choice(entries)
            roll = rng.random()
            if roll < 0.3 and isinstance(entry, dict):
                entry[rng.choice(["error_state", "errorState"])] = {
                    "details": "rejected\u2028x",
                    "last_update_attempt": "2024-01-01T00:00:00Z",
                    "failed_configuration": {"@type": "x", "name": "bad"},
                }
            elif roll < 0.6 and key.startswith("dynamic_active"):
                entries.remove(entry)
                sec.setdefault(key.replace("active", "warming"), []).append(entry)
            elif roll < 0.8 and isinstance(entry, dict) and "active_state" in entry:
                entry["draining_state"] = entry.pop("active_state")
            else:
                entries.append(copy.deepcopy(entry))  # a duplicate entry


def _metadata(doc: Any, rng: random.Random) -> None:
    nodes = [n for n in eh.every_dict(doc) if isinstance(n.get("name"), str)]
    for node in rng.sample(nodes, k=min(len(nodes), rng.randint(1, 3))):
        key = rng.choice(["metadata", "filterMetadata", "filter_metadata"])
        node["metadata"] = {
            rng.choice(["filter_metadata", "filterMetadata"]): {
                "istio": {"fooBar": 1, "a_b": {"cD": 2}, "labels": {"appName": "x"}}
            },
            key: {"LABELS": {"app_name": "y", "appName": "z"}},
        }


def _apply(doc: Any, rng: random.Random, fn: Callable[[Any, random.Random], None]) -> Any:
    fn(doc, rng)
    return doc


def _duplicates(doc: Any, rng: random.Random) -> Any:
    """Turn some objects into Pairs with a name twice (same or other spelling)."""
    nodes = [n for n in eh.every_dict(doc) if n]
    picked = {id(n) for n in rng.sample(nodes, k=min(len(nodes), rng.randint(1, 4)))}

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        items = [(k, walk(v)) for k, v in value.items()]
        if id(value) not in picked:
            return dict(items)
        k, v = rng.choice(items)
        dup = k if rng.random() < 0.5 else _other_spelling(k)
        other = rng.choice([v, "dup", 7, None, {"name": "dup"}])
        pos = rng.randint(0, len(items))
        items.insert(pos, (dup, other))
        return Pairs(items)

    return walk(doc)


MUTATORS: list[Callable[[Any, random.Random], None]] = [
    _respell,
    _reorder,
    _unknown,
    _odd_number,
    _odd_name,
    _nameless,
    _null,
    _states,
    _metadata,
    _digits,
]


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """The mutated text, and whether it repeats a name in an object."""
    doc = json.loads(data)
    for _ in range(rng.randint(1, 3)):
        rng.choice(MUTATORS)(doc, rng)
    repeats = rng.random() < 0.25
    if repeats:
        doc = _duplicates(doc, rng)
    return _write(doc, Style(rng)).encode("utf-8", "surrogatepass"), repeats


# --- the fast and slow paths ----------------------------------------------------------------


#: How often each fast path answered on its own (the run must not test nothing).
TAKEN = {"light": 0, "diff": 0, "forked": 0, "check": 0, "split": 0, "facts": 0}


def check_light(path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """The light decode against the full one; returns the shipped ``clusters`` run."""
    shipped_clusters: tuple[int, str, str] = (0, "", "")
    for command in ("clusters", "all"):
        shipped, took = eh.light_both(path, command, capsys, monkeypatch)
        TAKEN["light"] += sum(took)
        if command == "clusters":
            shipped_clusters = shipped
    return shipped_clusters


def check_parallel(path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for args in (["all"], ["all", "-o", "json"]):
        got = []
        for jobs in ("1", "3"):
            with monkeypatch.context() as m:
                m.setenv("PDEBUG_JOBS", jobs)
                m.setattr(parallel, "_threads_alive", lambda: False)
                before = parallel.FORKS[0]
                got.append(eh.run_main([*args, str(path)], capsys))
                TAKEN["forked"] += parallel.FORKS[0] > before
        assert got[0] == got[1], f"forked differs: {' '.join(args)}"


#: ``check``'s fast paths and what makes each give way to its slow path (the same as
#: tests/test_check_perf.py's SLOW).
CHECK_SLOW: dict[str, Any] = {
    "pdebug.model.sections._planned_clusters": lambda *a: None,
    "pdebug.model.load._type_ends": lambda *a: None,
}


def check_check(path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pdebug.model import sections

    real = sections._planned_clusters

    def spy(sec: Any) -> bool | None:
        got = real(sec)
        TAKEN["check"] += got is not None
        return got

    from pdebug.model import load as loader

    data = path.read_bytes()  # the D search finds every place the needle search finds
    assert loader._type_ends(data, data.find) == loader._needle_ends(data.find, 0)
    for args in (["check"], ["check", "-o", "json"]):
        with monkeypatch.context() as m:
            m.setattr(sections, "_planned_clusters", spy)
            shipped = eh.run_main([*args, str(path)], capsys)
        with monkeypatch.context() as m:
            for where, slow in CHECK_SLOW.items():
                m.setattr(where, slow)
            full = eh.run_main([*args, str(path)], capsys)
        assert shipped == full, f"check fast path differs: {' '.join(args)}"
        # the EDS and routes sections read by a forked child (PDEBUG_JOBS=2 forks whatever the
        # size) against one process
        from pdebug.checks.context import Context

        real_facts = Context._child_facts

        def facts_spy(self: Context, part: int, real_facts: Any = real_facts) -> Any:
            got = real_facts(self, part)
            TAKEN["facts"] += got is not None
            return got

        with monkeypatch.context() as m:
            m.setenv("PDEBUG_JOBS", "2")
            m.setattr(parallel, "_threads_alive", lambda: False)
            m.setattr(Context, "_child_facts", facts_spy)
            forked = eh.run_main([*args, str(path)], capsys)
        with monkeypatch.context() as m:
            m.setenv("PDEBUG_JOBS", "1")
            one = eh.run_main([*args, str(path)], capsys)
        assert forked == one, f"check with the facts forked differs: {' '.join(args)}"


def check_split(
    path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    mapped: bool,
    one: tuple[int, str, str],
) -> None:
    """``clusters`` with its section cut in two halves at once (forced) against ``one``.

    ``one``: the run of :func:`check_light` (a small file: one process, no cut).
    """
    from pdebug.model import light
    from pdebug.sources import file as file_source

    real = light.split_rows

    def spy(*args: Any) -> Any:
        made = real(*args)
        TAKEN["split"] += made is not None
        return made

    with monkeypatch.context() as m:
        m.setenv("PDEBUG_JOBS", "2")
        m.setattr(parallel, "_threads_alive", lambda: False)
        m.setattr(light, "split_rows", spy)
        if mapped:  # memory-mapped (patched in place), else bytes (copied)
            m.setattr(file_source, "MMAP_THRESHOLD", 0)
        got = eh.run_main(["clusters", str(path)], capsys)
    assert got == one, "split differs: clusters"


def _all_result(body: bytes, structured: bool) -> Any:
    data = ProxyData("x", load(body, "x").dump)
    return all_view.view(
        data, ClusterFilter(), ListenerFilter(), EndpointFilter(), structured=structured
    )


def check_stream(body: bytes, fmt: str = "json") -> None:
    try:
        # the whole document decoded at once: what the streamed sections stand for (the
        # tables, which -o json does not print, are not built)
        objects = _all_result(body, True).objects()
        old: str | type[PdebugError] = (
            render_json(objects) if fmt == "json" else render_yaml(objects)
        )
    except PdebugError as exc:
        old = type(exc)
    try:
        out = io.StringIO()
        get_format(fmt).write(_all_result(body, True), out)
        new: str | type[PdebugError] = out.getvalue()
    except PdebugError as exc:
        new = type(exc)
    assert new == old, f"all -o {fmt} streamed differs"


def check_diff(a: Path, b: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = d._same_meaning

    def spy(*args: Any) -> bool:
        same = real(*args)
        TAKEN["diff"] += same
        return same

    for args in ([str(a), str(b)], [str(b), str(a)]):
        with monkeypatch.context() as m:
            m.setattr(d, "_same_meaning", spy)
            shipped = eh.run_main(["diff", *args], capsys)
        with monkeypatch.context() as m:
            m.setattr(d, "_same_meaning", lambda *a, **k: False)
            full = eh.run_main(["diff", *args], capsys)
        assert shipped == full, "diff shortcut differs"


class _AllMatch(clusters.ClusterFilter, frozen=True):
    """A filter that is "set" (the general path) yet matches every cluster."""

    @property
    def empty(self) -> bool:
        return False


def _proxy(body: bytes) -> ProxyData | None:
    try:
        dump = load(body, "x").dump
    except PdebugError:
        return None
    return None if dump is None else ProxyData("x", dump)


def check_wide(body: bytes) -> None:
    data = _proxy(body)
    if data is None:
        return
    try:
        fast: Any = [tuple(r) for r in clusters.view(data, ClusterFilter(), wide=True).table.rows]
    except PdebugError as exc:
        fast = type(exc)
    try:
        slow: Any = [tuple(r) for r in clusters.view(data, _AllMatch(), wide=True).table.rows]
    except PdebugError as exc:
        slow = type(exc)
    assert fast == slow, "clusters -o wide one-pass rows differ"


NOW = CheckOptions().now


def check_topology(body: bytes) -> None:
    data = _proxy(body)
    if data is None:
        return
    from pdebug.checks import run_checks

    options = CheckOptions(now=NOW)
    try:
        findings = run_checks(data, options).findings
    except PdebugError:
        return
    g = eh.report_graph(data, options, findings)
    fast, slow = g.plain(), eh.graph_by_one_sort(g)
    assert [n[:3] for n in fast["nodes"]] == slow["nodes"], "topology order differs"
    assert fast["edges"] == slow["edges"]
    # the page's form (endpoint nodes as references to the endpoints table) gives it back
    from pdebug.report import _endpoint_rows
    from pdebug.report.topology import expand
    from pdebug.views.wide import wide_tables

    tables = wide_tables(data, NOW)
    assert expand(g.plain(_endpoint_rows(tables)), tables) == fast, "page topology differs"


# --- the run ----------------------------------------------------------------------------------


def _cases(seed: int, count: int) -> list[tuple[str, Path, int]]:
    rng = random.Random(seed)
    return [(f"{seed}-{i}", rng.choice(DUMPS), rng.randrange(2**32)) for i in range(count)]


def test_fixtures_found() -> None:
    assert len(DUMPS) > 20


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream's fast path bounds nesting with the recursion limit: only with one
    thread running (``can_bound``); threads other tests left idle would turn it off."""
    monkeypatch.setattr("pdebug.model.dump.can_bound", lambda: True)


@pytest.mark.usefixtures("one_thread")
def test_fast_paths_answer_as_the_slow_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    deadline = time.monotonic() + BUDGET
    done = 0
    for name, src, case_seed in _cases(SEED, CASES):
        if time.monotonic() > deadline:
            break
        rng = random.Random(case_seed)
        body, repeats = mutate(src.read_bytes(), rng)
        path = tmp_path / f"{name}.json"
        path.write_bytes(body)
        where = f"case {name} (seed {case_seed}) of {src}: {path}"
        try:
            one = check_light(path, capsys, monkeypatch)
            # a name repeated below a section's own members is printed as written (both),
            # decoding keeps one: known since before #17 (the strict xfail ODD[4] of
            # tests/test_all_stream_shortcuts.py)
            if not repeats:
                check_stream(body, "yaml" if rng.random() < 0.2 else "json")
            other = src
            if rng.random() < 0.5:  # istiod's lowerCamelCase against the mutated side
                other = tmp_path / f"{name}-camel.json"
                other.write_bytes(json.dumps(camelize(json.loads(src.read_bytes()))).encode())
            check_diff(other, path, capsys, monkeypatch)
            check_parallel(path, capsys, monkeypatch)
            check_check(path, capsys, monkeypatch)
            check_split(path, capsys, monkeypatch, rng.random() < 0.5, one)
            check_wide(body)
            check_topology(body)
        except AssertionError as exc:
            keep = Path(os.environ.get("PDEBUG_FUZZDIFF_KEEP", tmp_path)) / f"fail-{name}.json"
            keep.write_bytes(body)
            raise AssertionError(f"{exc} in {where} (kept as {keep})") from exc
        done += 1
    assert done >= min(CASES, 5), f"only {done} cases in {BUDGET}s"
    if done >= 10:
        assert TAKEN["light"] and TAKEN["diff"] > done and TAKEN["forked"], (done, TAKEN)
        assert TAKEN["facts"], (done, TAKEN)
    if done >= 40:  # most mutations make the light decode refuse a section: rarer
        assert TAKEN["split"], (done, TAKEN)
    print(f"{done} cases, fast paths taken: {TAKEN}")
