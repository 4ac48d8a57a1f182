"""``pdebug report`` with a forked worker (#17, ``pdebug.parallel``): the same page.

The checks and the topology run in the parent while a worker builds the heaviest wide
tables; the page, the messages and the exit code are byte for byte those of the
sequential path (``PDEBUG_JOBS=1``), on every real dump of fixtures/, and when every
worker's task fails (the parent then builds those tables itself). The page's time is
pinned the way the report's tests pin it: ``ReportMeta(generated=...)`` (conftest.py's
``pinned``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import pdebug.report
from pdebug import parallel
from pdebug.cli import main
from tests import harness as eh
from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real" / "sidecar"

#: Every real Envoy/Istio config dump of fixtures/ (the corpus, istioctl's, captured ones).
REAL_DUMPS = [
    *eh.corpus_config_dumps(),
    SIDECAR / "config_dump.json",
    FIXTURES / "real" / "seed-demo" / "config_dump.json",
]


def _report(
    args: list[str],
    jobs: str,
    out: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, bytes, str, str]:
    """``pdebug report ARGS -o OUT`` with ``PDEBUG_JOBS=jobs``: code, page, stdout, stderr."""
    capsys.readouterr()
    out.unlink(missing_ok=True)
    with monkeypatch.context() as m:
        m.setenv("PDEBUG_JOBS", jobs)
        code = main(["report", *args, "-o", str(out)])
    said, err = capsys.readouterr()
    page = out.read_bytes() if out.exists() else b""
    return code, page, said, err.replace(str(out), "OUT")


def test_real_dumps_found() -> None:
    assert len(REAL_DUMPS) > 20
    assert all(p.is_file() for p in REAL_DUMPS)


@pytest.mark.parametrize("dump", REAL_DUMPS, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_forked_page_is_the_sequential_page(
    dump: Path,
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = _report([str(dump)], "1", tmp_path / "one.html", capsys, monkeypatch)
    before = parallel.FORKS[0]
    many = _report([str(dump)], "3", tmp_path / "many.html", capsys, monkeypatch)
    assert many == one, f"pdebug report {dump}"
    if one[0] == 0:
        assert one[1].startswith(b"<!DOCTYPE html>") and b"2026-01-02T03:04:05Z" in one[1]
        assert parallel.FORKS[0] > before, "the parallel path was taken"


def test_forked_page_with_live_health(
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--clusters-json``: the endpoints table and the topology read Envoy's live view."""
    args = [str(SIDECAR / "config_dump.json"), "--clusters-json", str(SIDECAR / "clusters.json")]
    one = _report(args, "1", tmp_path / "one.html", capsys, monkeypatch)
    before = parallel.FORKS[0]
    many = _report(args, "2", tmp_path / "many.html", capsys, monkeypatch)
    assert parallel.FORKS[0] > before
    assert many == one
    assert one[0] == 0 and b"/clusters?format=json" in one[1]


def _failing_child(me: int, real: Any) -> Any:
    def child(tasks: Any, part: list[int], write: int) -> None:
        assert os.getpid() != me

        def broken() -> Any:
            raise ValueError("only in the child")

        real([broken for _ in tasks], part, write)

    return child


def _failing_streaming_child(me: int, real: Any) -> Any:
    def child(tasks: Any, write: int, *rest: Any) -> None:
        assert os.getpid() != me

        def broken() -> Any:
            raise ValueError("only in the child")

        real([broken for _ in tasks], write, *rest)

    return child


@pytest.mark.parametrize("worker", ["tables", "facts"])
@pytest.mark.parametrize("how", ["raise", "die"])
def test_a_worker_failure_falls_back(
    how: str,
    worker: str,
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every worker task fails (or the worker dies): the parent builds the tables itself.

    ``tables``: the worker of ``fork_map`` (a dump whose checks take no facts from a
    worker); ``facts``: the one that makes the checks' facts first (perfreport8).
    """
    args = [str(SIDECAR / "config_dump.json")]
    one = _report(args, "1", tmp_path / "one.html", capsys, monkeypatch)
    me = os.getpid()
    if worker == "tables":
        monkeypatch.setattr(pdebug.report, "facts_tasks", lambda *a: None)
        name, failing = "_child", _failing_child
    else:
        name, failing = "_streaming_child", _failing_streaming_child
    if how == "raise":
        monkeypatch.setattr(parallel, name, failing(me, getattr(parallel, name)))
    else:
        monkeypatch.setattr(parallel, name, lambda *args: os._exit(3))
    before = parallel.FORKS[0]
    many = _report(args, "2", tmp_path / "many.html", capsys, monkeypatch)
    assert parallel.FORKS[0] > before
    assert many == one
    assert one[0] == 0 and b'"id":"clusters"' in one[1]


def test_the_checks_and_topology_stay_here(pinned: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the checks make (not sendable) is used here: only tables go to workers.

    The ``fork_map`` path: the checks take no facts from a worker (perfreport8's path is
    tests/test_report_perf8.py's).
    """
    monkeypatch.setattr(pdebug.report, "facts_tasks", lambda *a: None)
    seen: list[tuple[list[float], Any]] = []
    real = parallel.fork_map

    def spy(tasks: Any, weights: Any = None, here: Any = ()) -> list[Any]:
        seen.append((list(weights), tuple(here)))
        return real(tasks, weights, here)

    monkeypatch.setattr(parallel, "fork_map", spy)
    monkeypatch.setenv("PDEBUG_JOBS", "2")
    from pdebug.model import ProxyData
    from pdebug.model.load import load
    from pdebug.report import ReportMeta, report_data
    from pdebug.views.wide import table_builders

    path = SIDECAR / "config_dump.json"
    loaded = load(path.read_bytes(), str(path))
    meta = ReportMeta("x", table_builders=table_builders)
    doc = report_data([ProxyData(str(path), loaded.dump, loaded.clusters)], meta)
    weights, here = seen[0]
    assert len(weights) == 7 and here == (0, 6)  # checks, five tables, summary and topology
    assert [t["id"] for t in doc["proxies"][0]["tables"]] == [
        "clusters",
        "listeners",
        "routes",
        "endpoints",
        "secrets",
    ]


def test_groups_keep_the_tasks_together() -> None:
    assert parallel.groups([5.0, 1.0, 4.0, 2.0], 2, together=(1, 3)) == [[1, 2, 3], [0]]
    assert parallel.groups([1.0, 9.0, 1.0], 2, together=(0, 2)) == [[0, 2], [1]]


#: ``pdebug report DUMP -o OUT`` made at :data:`tests.harness.REPORT_TIME`, in a process
#: of its own.
_PINNED = (
    "import datetime, functools, sys\n"
    "import pdebug.report\n"
    "pdebug.report.ReportMeta = functools.partial(\n"
    f"    pdebug.report.ReportMeta, generated={eh.REPORT_TIME!r})\n"
    "from pdebug.cli import main\n"
    "sys.argv = ['pdebug', 'report', *sys.argv[1:]]\n"
    "main()\n"
)


def test_the_page_is_the_same_in_every_process(tmp_path: Path) -> None:
    """The same bytes whatever the process's string hashes (PYTHONHASHSEED).

    The sidecar's endpoints have three EDS statuses: the page's map of them is written in
    the order met (it once followed a set's, which changes from process to process).
    """
    import subprocess
    import sys

    pages = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONPATH": str(FIXTURES.parent), "PYTHONHASHSEED": seed}
        env["PDEBUG_JOBS"] = "1"
        out = tmp_path / f"{seed}.html"
        done = subprocess.run(
            [sys.executable, "-c", _PINNED, str(SIDECAR / "config_dump.json"), "-o", str(out)],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        pages.append(out.read_bytes())
    assert b'"status":{"HEALTHY":"ok","UNHEALTHY":"bad","DEGRADED":"warn"}' in pages[0]
    assert pages[0] == pages[1] == pages[2]


def test_jobs_not_a_number_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``PDEBUG_JOBS=junk pdebug report``: exit 2, as ``pdebug all`` says it; no page."""
    code, page, said, err = _report(
        [str(SIDECAR / "config_dump.json")], "junk", tmp_path / "r.html", capsys, monkeypatch
    )
    assert (code, page, said) == (2, b"", "")
    assert err.startswith("pdebug: error: PDEBUG_JOBS='junk': not a number of processes\n")


#: ``pdebug report DUMP -o OUT`` whose tables take a minute each in the worker.
_SLOW_WORKER = (
    "import os, sys, time\n"
    "from pdebug.views import clusters, endpoints\n"
    "me = os.getpid()\n"
    "def slow(real):\n"
    "    def run(*args, **kwargs):\n"
    "        if os.getpid() != me:\n"
    "            time.sleep(60)\n"
    "        return real(*args, **kwargs)\n"
    "    return run\n"
    "clusters.view = slow(clusters.view)\n"
    "endpoints.endpoints_view = slow(endpoints.endpoints_view)\n"
    "from pdebug.cli import main\n"
    "sys.argv = ['pdebug', 'report', *sys.argv[1:]]\n"
    "main()\n"
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_interrupted_while_the_worker_works(how: str, tmp_path: Path) -> None:
    """Exit 130, ``pdebug: interrupted``, no page written and no worker left behind."""
    import sys
    import time

    out = tmp_path / "r.html"
    env = {**os.environ, "PYTHONPATH": str(FIXTURES.parent), "PDEBUG_JOBS": "2"}
    argv = [sys.executable, "-c", _SLOW_WORKER, str(SIDECAR / "config_dump.json"), "-o", str(out)]
    with eh.job(argv, env) as proc:
        deadline = time.monotonic() + 30
        kids: list[int] = []
        while time.monotonic() < deadline and not kids:
            time.sleep(0.05)
            kids = eh.child_pids(proc.pid)
        assert kids, "a worker working"
        time.sleep(0.3)
        assert all(eh.pid_alive(k) for k in kids), "the worker still sleeps"
        said, err = eh.interrupt(proc, how)
    assert not out.exists()
    eh.assert_interrupted(proc, said, err, kids)


def test_forked_bundle_page_is_the_sequential_page(
    pinned: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bundle (a sidecar, a ztunnel, one whose capture failed): each proxy its own map."""
    from tests.harness import ambient

    snap = ambient.make_bundle(tmp_path / "b.tar.gz", ambient.worker(), None)
    one = _report([str(snap)], "1", tmp_path / "one.html", capsys, monkeypatch)
    before = parallel.FORKS[0]
    many = _report([str(snap)], "2", tmp_path / "many.html", capsys, monkeypatch)
    assert parallel.FORKS[0] > before
    assert many == one
    assert b"sleep-1.bookinfo" in one[1] and b"connection refused" in one[1]
