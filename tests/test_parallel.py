"""The fork-based parallel map (#17, ``pdebug.parallel``): same output, safe fallbacks.

- Every command that forks (``all`` as a table, ``-o wide``, ``-o json``) prints exactly
  what it prints without children (``PDEBUG_JOBS=1``), on every real dump of fixtures/
  and on the benchmark generator's mesh with the job count pdebug picks itself.
- A task that fails in a child (raises, writes to stdout/stderr, returns what cannot be
  sent, or the child dies) is run by the parent, in order, so its error or warning is
  the one a sequential run gives.
- Ctrl-C and SIGTERM while children work: exit 130, and no child is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from pdebug import parallel
from pdebug.cli import main
from pdebug.errors import UsageError
from tests import harness as eh
from tests.harness import FIXTURES

ROOT = FIXTURES.parent

#: Every real Envoy/Istio config dump of fixtures/ (the corpus, istioctl's, captured ones).
REAL_DUMPS = [
    *eh.corpus_config_dumps(),
    FIXTURES / "real" / "sidecar" / "config_dump.json",
    FIXTURES / "real" / "seed-demo" / "config_dump.json",
]

#: The command lines that fork.
FORKING = [["all"], ["all", "-o", "wide"], ["all", "-o", "json"], ["all", "--with-headers"]]


@pytest.fixture
def forks_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle threads other tests leave behind would make every map sequential."""
    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)


def _run(
    args: list[str], jobs: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> tuple[int, str, str]:
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setenv("PDEBUG_JOBS", jobs)
        code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


# --- the map itself ------------------------------------------------------------------------


def test_results_in_task_order(forks_allowed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDEBUG_JOBS", "3")
    me = os.getpid()
    before = parallel.FORKS[0]
    tasks = [lambda i=i: (i, os.getpid() != me, "x" * i, b"y") for i in range(7)]
    got = parallel.fork_map(tasks, [float(i) for i in range(7)])
    assert [g[0] for g in got] == list(range(7))
    assert [g[2] for g in got] == ["x" * i for i in range(7)]
    # three groups: the heaviest task's here, the two others in children
    assert parallel.FORKS[0] - before == 2
    assert not got[6][1], "the heaviest task's group ran here"
    assert sum(g[1] for g in got) >= 2, "the others in children"


def test_one_job_forks_nothing(forks_allowed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDEBUG_JOBS", "1")
    before = parallel.FORKS[0]
    assert parallel.fork_map([lambda: 1, lambda: 2], [9.0, 9.0]) == [1, 2]
    assert parallel.FORKS[0] == before


def test_small_work_or_threads_fork_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PDEBUG_JOBS", raising=False)
    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)
    assert parallel.jobs(parallel.MIN_WORK / 2) == 1
    assert parallel.jobs(10.0) == len(os.sched_getaffinity(0))
    for junk in ("junk", "0", "-2", "1.5"):  # not a positive integer: a usage error
        monkeypatch.setenv("PDEBUG_JOBS", junk)
        with pytest.raises(UsageError, match="PDEBUG_JOBS"):
            parallel.jobs(10.0)
    monkeypatch.setattr(parallel, "_threads_alive", lambda: True)
    monkeypatch.setenv("PDEBUG_JOBS", "4")
    assert parallel.jobs(10.0) == 1


def test_groups_balance_and_keep_order() -> None:
    assert parallel.groups([5.0, 1.0, 4.0, 2.0], 2) == [[0, 1], [2, 3]]
    assert parallel.groups([1.0], 3) == [[0]]


def _fails_in_child(me: int, how: str) -> Any:
    def task() -> Any:
        if os.getpid() != me:
            if how == "raise":
                raise ValueError("only in the child")
            if how == "stderr":
                print("pdebug: warning: said in the child", file=sys.stderr)
            if how == "stdout":
                print("said in the child")
            if how == "unsendable":
                return {1, 2}  # a set: marshal can write it, but check a real object
            if how == "object":
                return object()
            if how == "die":
                os._exit(3)
        else:
            print(f"pdebug: warning: said by the parent ({how})", file=sys.stderr)
        return f"{how} done by {'child' if os.getpid() != me else 'parent'}"

    return task


@pytest.mark.parametrize("how", ["raise", "stderr", "stdout", "object", "die"])
def test_a_task_failing_in_a_child_is_run_by_the_parent(
    forks_allowed: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    monkeypatch.setenv("PDEBUG_JOBS", "2")
    me = os.getpid()
    tasks = [lambda: "first", _fails_in_child(me, how), lambda: "third"]
    capsys.readouterr()
    got = parallel.fork_map(tasks, [1.0, 1.0, 1.0])
    out, err = capsys.readouterr()
    assert got[1] == f"{how} done by parent"
    assert got[0] == "first"
    assert got[2] == "third"
    assert out == "", "nothing a child printed reaches stdout"
    assert err == f"pdebug: warning: said by the parent ({how})\n", "the parent's words only"


def _saying(text: str, me: int, fail_in_child: bool = False, error: bool = False) -> Any:
    def task() -> Any:
        if os.getpid() != me and fail_in_child:
            raise ValueError("in the child")
        print(text, file=sys.stderr)
        if error:
            raise ValueError(text)
        return text

    return task


def test_what_this_process_says_comes_in_task_order(
    forks_allowed: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tasks a and c run here (the heaviest's group) while b fails in its child: b is run
    here afterwards, and stderr still reads a, b, c."""
    monkeypatch.setenv("PDEBUG_JOBS", "2")
    me = os.getpid()
    tasks = [_saying("a", me), _saying("b", me, fail_in_child=True), _saying("c", me)]
    assert parallel.groups([2.0, 2.0, 1.0], 2) == [[0, 2], [1]]
    capsys.readouterr()
    assert parallel.fork_map(tasks, [2.0, 2.0, 1.0]) == ["a", "b", "c"]
    assert capsys.readouterr() == ("", "a\nb\nc\n")


def test_no_fork_to_be_had_runs_everything_here(
    forks_allowed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fork() failing (EAGAIN: a process limit) is no error: the tasks run here."""
    monkeypatch.setenv("PDEBUG_JOBS", "3")

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    me = os.getpid()
    got = parallel.fork_map([lambda i=i: (i, os.getpid() == me) for i in range(5)])
    assert got == [(i, True) for i in range(5)]


def test_errors_surface_in_task_order(
    forks_allowed: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PDEBUG_JOBS", "2")
    me = os.getpid()
    # a (here) says "a" and raises: b (failed in its child) is never run, c not said
    tasks = [
        _saying("a", me, error=True),
        _saying("b", me, fail_in_child=True),
        _saying("c", me),
    ]
    capsys.readouterr()
    with pytest.raises(ValueError, match="^a$"):
        parallel.fork_map(tasks, [2.0, 2.0, 1.0])
    assert capsys.readouterr() == ("", "a\n")
    # b fails in its child and raises here too: the error of the first in order
    tasks = [_saying("a", me), _saying("b", me, error=True), _saying("c", me, error=True)]
    capsys.readouterr()
    with pytest.raises(ValueError, match="^b$"):
        parallel.fork_map(tasks, [2.0, 2.0, 1.0])
    assert capsys.readouterr() == ("", "a\nb\n")


# --- the commands ----------------------------------------------------------------------------


def test_real_dumps_found() -> None:
    assert len(REAL_DUMPS) > 20
    assert all(p.is_file() for p in REAL_DUMPS)


def _kinds(dump: Path) -> int:
    """How many of the sections ``all`` shows the dump has."""
    names = ("Bootstrap", "Clusters", "Listeners", "Routes", "Secrets", "Endpoints")
    configs = json.loads(dump.read_bytes()).get("configs", [])
    types = [str(c.get("@type")) for c in configs if isinstance(c, dict)]
    if isinstance(configs, dict):  # Envoy <= 1.7: {name: section}
        types = [str(c.get("@type")) for c in configs.values() if isinstance(c, dict)]
    return len({n for t in types for n in names if f"{n}ConfigDump" in t})


@pytest.mark.parametrize("dump", REAL_DUMPS, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_forked_output_is_the_sequential_output(
    dump: Path,
    forks_allowed: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for args in FORKING:
        one = _run([*args, str(dump)], "1", capsys, monkeypatch)
        before = parallel.FORKS[0]
        many = _run([*args, str(dump)], "3", capsys, monkeypatch)
        assert many == one, f"pdebug {' '.join(args)} {dump}"
        if one[0] == 0 and args == ["all"] and _kinds(dump) > 1:
            assert parallel.FORKS[0] > before, "the parallel path was taken"


@pytest.mark.parametrize("args", FORKING, ids=" ".join)
def test_a_child_failure_falls_back(
    args: list[str],
    forks_allowed: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every task fails in its child (the EDS decode, say): the parent's output is whole."""
    dump = FIXTURES / "real" / "sidecar" / "config_dump.json"
    one = _run([*args, str(dump)], "1", capsys, monkeypatch)
    me = os.getpid()
    real = parallel._child

    def failing(tasks: Any, part: list[int], write: int) -> None:
        assert os.getpid() != me
        broken = [_fails_in_child(me, "raise") for _ in tasks]
        real(broken, part, write)

    monkeypatch.setattr(parallel, "_child", failing)
    before = parallel.FORKS[0]
    many = _run([*args, str(dump)], "2", capsys, monkeypatch)
    assert parallel.FORKS[0] > before
    assert many == one


#: ``pdebug ARGS`` that writes, as it ends, how many workers it forked to the file FORKS.
_COUNTING = (
    "import atexit, sys\n"
    "from pdebug import parallel\n"
    "path = sys.argv[1]\n"
    "atexit.register(lambda: open(path, 'w').write(str(parallel.FORKS[0])))\n"
    "from pdebug.cli import main\n"
    "sys.argv = ['pdebug', *sys.argv[2:]]\n"
    "main()\n"
)


def test_generated_mesh_with_the_job_count_pdebug_picks(tmp_path: Path) -> None:
    """The benchmark's 80 MB mesh forks on its own: the same bytes as PDEBUG_JOBS=1."""
    dump = eh.generated_dump(tmp_path / "mesh.json", 2500)
    forks = tmp_path / "forks"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PDEBUG_JOBS", None)
    for args in (["all"], ["all", "-o", "json"]):
        got = []
        for jobs in (None, "1"):
            if jobs is not None:
                env["PDEBUG_JOBS"] = jobs
            r = subprocess.run(
                [sys.executable, "-c", _COUNTING, str(forks), *args, str(dump)],
                capture_output=True,
                env=env,
                timeout=300,
            )
            got.append((r.returncode, r.stdout, r.stderr, forks.read_text() != "0"))
        env.pop("PDEBUG_JOBS", None)
        assert got[0][:3] == got[1][:3], args
        assert got[0][0] == 0
        assert (got[0][3], got[1][3]) == (True, False), "forked by default, not with 1"


# --- interrupts ------------------------------------------------------------------------------

#: ``pdebug all`` whose EDS table takes a minute in a child: interrupted meanwhile.
_SLOW_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pdebug.views import endpoints
    real = endpoints.eds_view
    me = os.getpid()
    def slow(*args, **kwargs):
        if os.getpid() != me:
            time.sleep(60)
        return real(*args, **kwargs)
    endpoints.eds_view = slow
    from pdebug.cli import main
    sys.argv = ["pdebug", "all", sys.argv[1]]
    main()
    """
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_interrupted_while_children_work(how: str) -> None:
    dump = FIXTURES / "real" / "sidecar" / "config_dump.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PDEBUG_JOBS": "2"}
    with eh.job([sys.executable, "-c", _SLOW_CHILD, str(dump)], env) as proc:
        deadline = time.monotonic() + 30
        kids: set[int] = set()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            kids.update(eh.child_pids(proc.pid))
            if kids and time.monotonic() > deadline - 29:  # the other child may be done
                break
        assert kids, "a child working"
        time.sleep(0.2)
        assert any(eh.pid_alive(k) for k in kids), "the EDS child still working"
        out, err = eh.interrupt(proc, how)
    eh.assert_interrupted(proc, out, err, kids)


def test_jobs_not_a_number_is_one_line_exit_2() -> None:
    """``PDEBUG_JOBS=junk pdebug all FILE``: exit 2 and one line, as the other limits say it."""
    dump = next(iter(sorted((FIXTURES / "corpus").rglob("*.json"))))
    env = {**os.environ, "PDEBUG_JOBS": "junk"}
    done = subprocess.run(
        [sys.executable, "-m", "pdebug", "all", str(dump)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "PDEBUG_JOBS='junk'" in done.stderr
    assert "Traceback" not in done.stderr


# --- one child started early, its results read as needed (spawn) --------------------------


def test_spawned_results_come_in_task_order(
    forks_allowed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each task's result, or MISSING for one that raised, said something, returned what
    marshal cannot write; after the child died, every later one is MISSING."""
    import signal

    monkeypatch.setenv("PDEBUG_JOBS", "2")
    me = os.getpid()

    def raising() -> Any:
        raise ValueError("in the child")

    def saying() -> Any:
        print("pdebug: warning: said in the child", file=sys.stderr)
        return "said"

    def dying() -> Any:
        if os.getpid() != me:
            os._exit(3)
        return "parent"

    handler = signal.getsignal(signal.SIGTERM)
    before = parallel.FORKS[0]
    tasks = [
        lambda: 1,
        raising,
        saying,
        lambda: object(),
        lambda: {"a": (1, "b")},
        dying,
        lambda: 7,
    ]
    spawned = parallel.spawn(tasks, 10.0)
    assert spawned is not None and parallel.FORKS[0] == before + 1
    try:
        assert spawned.result(4) == {"a": (1, "b")}  # waits for the first five
        assert spawned.result(0) == 1
        for missing in (1, 2, 3, 5, 6):
            assert spawned.result(missing) is parallel.MISSING
    finally:
        spawned.close()
    assert signal.getsignal(signal.SIGTERM) == handler
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_spawn_forks_nothing_when_the_map_would_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)
    monkeypatch.setenv("PDEBUG_JOBS", "1")
    assert parallel.spawn([lambda: 1], 10.0) is None
    monkeypatch.delenv("PDEBUG_JOBS")
    assert parallel.spawn([lambda: 1], parallel.MIN_WORK / 2) is None
    monkeypatch.setattr(parallel, "_threads_alive", lambda: True)
    assert parallel.spawn([lambda: 1], 10.0) is None


@pytest.mark.parametrize("shared", [True, False])
def test_a_spawned_child_never_waits_for_the_parent_to_read(
    shared: bool, forks_allowed: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result larger than the pipe (a report's tables: 8 MB of JSON) does not stop the
    child: it goes on with its next task before the parent reads anything (through the
    pipe alone it stopped until the parent asked, ~0.17 s of the report's wall time).
    Without a file in memory (not Linux) the pipe carries the bodies, as before."""
    monkeypatch.setenv("PDEBUG_JOBS", "2")
    if not shared:
        monkeypatch.setattr(parallel, "_shared_file", lambda: -1)
    big = bytes(range(256)) * (8 << 12)  # 8 MiB
    mark = tmp_path / "second-task-ran"

    def second() -> str:
        mark.write_text("ran")
        return "second"

    spawned = parallel.spawn([lambda: big, second, lambda: [1, 2, 3]], 10.0)
    assert spawned is not None
    try:
        deadline = time.monotonic() + (10 if shared else 1)
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert mark.exists() is shared
        assert spawned.result(0) == big
        assert spawned.result(1) == "second"
        assert spawned.result(2) == [1, 2, 3]
    finally:
        spawned.close()
