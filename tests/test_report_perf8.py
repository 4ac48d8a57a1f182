"""perfreport8 (#17): ``pdebug report``'s worker makes the checks' facts, then the tables.

Where :func:`pdebug.checks.facts_tasks` gives the checks' facts (a dump in Envoy's layout),
``pdebug report`` forks one worker (:func:`pdebug.parallel.spawn`) that decodes the
endpoints and routes sections, sends perfcheck5's facts (EDS statuses per assignment, the
routes' clusters and duplicate domains, ``inline`` in the clusters' bytes, the entries'
unread members) and then builds the tables from the same decode; the parent's checks read
the facts and it builds the tables :func:`pdebug.report.worker.kept_here` gives it. What
must hold:

- the page, stdout, stderr and exit code are those of one process (``PDEBUG_JOBS=1``) on
  every input ``check``'s forked differential uses (tests/test_check_perf.py: the
  corpus, istioctl's, the real captures, ../shared/corpus and the generated variants),
  forced to fork by ``PDEBUG_JOBS=2`` (the documented override), with no table, the
  default ones and every table kept by the parent;
- the same on seeded hostile variants of other people's dumps (tests/test_report_perf7's);
- warnings come out in one process's order: checks, tables, then summary and topology;
- the parent decodes neither the endpoints nor (beyond the topology's read) anything the
  worker sends it; the endpoints section is decoded once in all.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import pdebug.report
from pdebug import parallel
from pdebug.cli import main
from pdebug.report import worker
from tests.test_check_perf import FORK_INPUTS
from tests.test_report_perf7 import _HOSTILE_BASES, _hostile

#: The parent's share of the tables: none, the default (listeners and secrets on the
#: bench dump; on these small dumps what fits), every table.
SLACKS = {"none": 0.0, "default": worker.SLACK, "all": 1.0}

#: Inputs whose report took the facts worker's path, and with what the checks read.
TOOK: dict[str, str] = {}


def _report(
    path: Path,
    jobs: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    slack: float = worker.SLACK,
) -> tuple[tuple[int, bytes, str, str], str]:
    """``pdebug report PATH`` with ``PDEBUG_JOBS=jobs``: (code, page, stdout, stderr), and
    which of the worker's facts the checks read ("" none: not that path)."""
    from pdebug.checks.context import Context

    out = path.with_suffix(f".{jobs}.html")
    out.unlink(missing_ok=True)
    real = Context._child_facts
    used: set[str] = set()

    def spy(self: Context, part: int) -> Any:
        got = real(self, part)
        if got is not None:
            used.add(("eds", "routes", "inline", "members")[part])
        return got

    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setenv("PDEBUG_JOBS", jobs)
        m.setattr(worker, "SLACK", slack)
        m.setattr(Context, "_child_facts", spy)
        code = main(["report", str(path), "-o", str(out)])
    said, err = capsys.readouterr()
    page = out.read_bytes() if out.exists() else b""
    return (code, page, said, err.replace(str(out), "OUT")), ",".join(sorted(used))


@pytest.mark.parametrize("name", sorted(FORK_INPUTS))
def test_the_facts_worker_makes_the_one_process_page(
    name: str,
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "dump.json"
    path.write_bytes(FORK_INPUTS[name])
    one, _ = _report(path, "1", capsys, monkeypatch)
    for how, slack in SLACKS.items():
        forked, used = _report(path, "2", capsys, monkeypatch, slack)
        assert forked == one, how
        if used:
            TOOK[name] = used


def test_the_facts_worker_path_is_taken_where_it_should() -> None:
    """The differential above compared the facts path (the checks read the worker's
    facts), and not where the checks cannot take them."""
    if len(TOOK) < 10:
        pytest.skip("run with test_the_facts_worker_makes_the_one_process_page")
    # the clusters' inline is searched in report's parent since perfreport9 (it answers
    # the secrets table too): tests/test_report_perf9.py
    assert TOOK.get("real/sidecar") == "eds,members,routes"
    assert TOOK.get("gendump-40") == "eds,members,routes"
    assert TOOK.get("gendump-40-camel") == "eds,members,routes"
    assert "eds" not in TOOK.get("gendump-40-nameless", "")  # attributed from the clusters
    assert "eds" not in TOOK.get("gendump-40-damaged-routes", "")  # the decode warned
    assert len(TOOK) >= 40


@pytest.mark.parametrize("seed", range(12))
def test_hostile_variants_make_the_one_process_page(
    seed: int,
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tests/test_report_perf7's seeded hostile names and addresses, forked and not."""
    rng = random.Random(7000 + seed)
    path = tmp_path / "dump.json"
    path.write_bytes(_hostile(rng, rng.choice(_HOSTILE_BASES)))
    one, _ = _report(path, "1", capsys, monkeypatch)
    for how, slack in SLACKS.items():
        forked, _used = _report(path, "2", capsys, monkeypatch, slack)
        assert forked == one, how


def _saying(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each table, the summary and the topology write a line to stderr as they are made."""
    import pdebug.views.wide as wide

    real_builders = wide.table_builders

    def builders(proxy: Any, now: datetime) -> list[tuple[float, Callable[[], Any]]]:
        def saying(i: int, build: Callable[[], Any]) -> Callable[[], Any]:
            def said() -> Any:
                print(f"table {i}", file=sys.stderr)
                return build()

            return said

        return [(c, saying(i, b)) for i, (c, b) in enumerate(real_builders(proxy, now))]

    real_graph = pdebug.report.build_graph

    def graph(*args: Any) -> Any:
        print("topology", file=sys.stderr)
        return real_graph(*args)

    real_summary = pdebug.report._summary

    def summary(*args: Any) -> Any:
        print("summary", file=sys.stderr)
        return real_summary(*args)

    monkeypatch.setattr(wide, "table_builders", builders)
    monkeypatch.setattr(pdebug.report, "build_graph", graph)
    monkeypatch.setattr(pdebug.report, "_summary", summary)


@pytest.mark.parametrize("name", ["real/sidecar", "gendump-40-damaged-routes", "gendump-40"])
def test_warnings_come_in_the_one_process_order(
    name: str,
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A table that writes is built again in the parent in its turn; what the parent's
    own tables, summary and topology write waits for the tables before them."""
    _saying(monkeypatch)
    path = tmp_path / "dump.json"
    path.write_bytes(FORK_INPUTS[name])
    one, _ = _report(path, "1", capsys, monkeypatch)
    assert one[3].index("table 0") < one[3].index("table 4") < one[3].index("summary")
    assert one[3].index("summary") < one[3].index("topology")
    for how, slack in SLACKS.items():
        before = parallel.FORKS[0]
        forked, used = _report(path, "2", capsys, monkeypatch, slack)
        assert forked == one, how
        assert parallel.FORKS[0] == before + 1
        assert used or name == "gendump-40-damaged-routes"


@pytest.mark.parametrize("name", ["real/sidecar", "gendump-40", "gendump-40-camel"])
def test_the_endpoints_are_decoded_once_and_not_by_the_parent(
    name: str,
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each decode of a section's list (a cache miss of ``Section.typed``) by process: the
    endpoints once in all, in the worker; with ``PDEBUG_JOBS=1`` once, here."""
    from pdebug.model.dump import Section

    log = tmp_path / "decodes.txt"
    real = Section.typed

    def typed(self: Section, key: str, tp: Any, default: Any, what: str) -> Any:
        if (key, tp) not in self._cache:
            with log.open("a") as f:
                f.write(f"{os.getpid()} {key}\n")
        return real(self, key, tp, default, what)

    monkeypatch.setattr(Section, "typed", typed)
    path = tmp_path / "dump.json"
    path.write_bytes(FORK_INPUTS[name])
    me = str(os.getpid())

    def decodes(jobs: str) -> list[tuple[str, str]]:
        log.unlink(missing_ok=True)
        (code, *_), used = _report(path, jobs, capsys, monkeypatch)
        assert code == 0 and (used == "eds,members,routes") == (jobs == "2")  # perfreport9
        return [tuple(line.split()) for line in log.read_text().splitlines()]  # type: ignore[misc]

    eds = "dynamic_endpoint_configs"
    assert decodes("1").count((me, eds)) == 1
    forked = decodes("2")
    assert [pid for pid, key in forked if key == eds] not in ([], [me])
    assert [key for pid, key in forked].count(eds) == 1
    assert [key for pid, key in forked if pid != me].count("dynamic_route_configs") == 1


def test_kept_here_takes_the_smallest_within_the_slack() -> None:
    def nothing() -> dict[str, Any]:
        return {}

    builders = [(0.5, nothing), (0.1, nothing), (0.2, nothing), (0.3, nothing), (0.09, nothing)]
    drawn = int(0.2 / worker.SLACK)
    assert worker.kept_here(builders, drawn) == {1, 4}
    assert worker.kept_here(builders, 0) == set()
    assert worker.kept_here(builders, drawn * 100) == {0, 1, 2, 3, 4}
    # the bench dump's estimates (views/wide._COST by its section sizes)
    bench = [(0.555, nothing), (0.098, nothing), (0.165, nothing), (0.319, nothing),
             (0.093, nothing)]  # fmt: skip
    assert worker.kept_here(bench, 161_558_324) == {1, 4}


@pytest.mark.parametrize("where", ["checks", "topology"])
def test_an_interrupted_report_leaves_no_worker(
    where: str, pinned: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the checks or the topology while the worker builds its last table:
    KeyboardInterrupt, the worker killed (not waited for) and reaped, SIGTERM's handler
    as it was."""
    import signal
    import time

    import pdebug.views.wide as wide
    from pdebug.model.load import load
    from pdebug.report import ReportMeta, report_data

    monkeypatch.setenv("PDEBUG_JOBS", "2")
    me = os.getpid()
    real = wide.table_builders

    def slow_last(proxy: Any, now: datetime) -> list[tuple[float, Callable[[], Any]]]:
        *first, (cost, build) = real(proxy, now)

        def slow() -> Any:
            if os.getpid() != me:
                time.sleep(60)
            return build()

        return [*first, (cost, slow)]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(worker, "SLACK", 0.0)  # every table in the worker
    target = "run_checks" if where == "checks" else "build_graph"
    monkeypatch.setattr(pdebug.report, target, interrupted)
    loaded = load(FORK_INPUTS["gendump-40"], "gendump-40")
    proxy = pdebug.report.ProxyData("gendump-40", loaded.dump, loaded.clusters)
    before, reaped = parallel.FORKS[0], len(parallel.CHILDREN)
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        report_data([proxy], ReportMeta("x", table_builders=slow_last))
    assert parallel.FORKS[0] == before + 1
    assert len(parallel.CHILDREN) == reaped  # killed: it never ended its tasks
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left, none to reap
    assert signal.getsignal(signal.SIGTERM) == handler
