"""``pdebug dump`` converts text ``/clusters`` in a forked child (#17).

The child (``capture._ConvertChild``) converts while the parent fetches the config dump;
the bundle is the one the in-thread conversion gives, byte for byte. A child that fails
(exits badly, is killed) leaves the conversion to the parent: same bytes again. An
interrupt while the child works exits 130 and leaves no child.
"""

from __future__ import annotations

import os
import signal
import sys
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from pdebug import parallel
from pdebug.snapshot import capture
from tests import harness as eh
from tests.harness import FIXTURES
from tests.test_dump_textforms import TEXT, Admin

ROOT = FIXTURES.parent
STRAY = TEXT.replace(b"::weight::1\n", b"::weight::1\nsomething else\n")


@pytest.fixture
def forks_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin double's thread (in this process) would keep every conversion here."""
    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        got = {}
        for member in tar.getmembers():
            fh = tar.extractfile(member)
            if fh is not None and not member.name.endswith("manifest.json"):
                got[member.name.split("/", 1)[-1]] = fh.read()  # not the port
        return got


def _dump(pdebug: Any, tmp_path: Path, text: bytes, jobs: str, mp: Any) -> tuple[Any, dict]:
    out = tmp_path / f"d{jobs}-{time.monotonic_ns()}.tar.gz"
    with Admin(text) as admin, mp.context() as m:
        m.setenv("PDEBUG_JOBS", jobs)
        result = pdebug("dump", admin.url, "-o", str(out), "--timeout", "5")
    assert result.code == 0, result.err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pdebug-dump-")]
    return admin, _members(out)


@pytest.mark.parametrize("text", [TEXT, STRAY], ids=["converted", "not-exact"])
def test_the_forked_conversion_gives_the_same_bundle(
    pdebug: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks_allowed: None, text: bytes
) -> None:
    before = capture.CONVERT_FORKS[0]
    here_admin, here = _dump(pdebug, tmp_path, text, "1", monkeypatch)
    assert capture.CONVERT_FORKS[0] == before, "PDEBUG_JOBS=1: converted here"
    forked_admin, forked = _dump(pdebug, tmp_path, text, "2", monkeypatch)
    assert capture.CONVERT_FORKS[0] == before + 1, "converted in a child"
    assert forked == here
    assert forked_admin.asked == here_admin.asked
    asked = [p for p in forked_admin.asked if p.startswith("/clusters")]
    assert asked == (["/clusters"] if text == TEXT else ["/clusters", "/clusters?format=json"])


def _exits_2(path: str, out: str, label: str, parent: int) -> None:
    Path(out).write_bytes(b"half a document")
    os._exit(2)


def _killed(path: str, out: str, label: str, parent: int) -> None:
    Path(out).write_bytes(b"half a document")
    os.kill(os.getpid(), signal.SIGKILL)


def _says_converted_writes_nothing(path: str, out: str, label: str, parent: int) -> None:
    os._exit(0)  # no PATH.json: the rename fails, the parent converts


@pytest.mark.parametrize("child", [_exits_2, _killed, _says_converted_writes_nothing])
def test_a_child_that_fails_leaves_the_conversion_to_the_parent(
    pdebug: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forks_allowed: None,
    child: Any,
) -> None:
    _, here = _dump(pdebug, tmp_path, TEXT, "1", monkeypatch)
    monkeypatch.setattr(capture, "_convert_child", child)
    before = capture.CONVERT_FORKS[0]
    admin, forked = _dump(pdebug, tmp_path, TEXT, "2", monkeypatch)
    assert capture.CONVERT_FORKS[0] == before + 1
    assert forked == here
    assert [p for p in admin.asked if p.startswith("/clusters")] == ["/clusters"]


def test_no_fork_while_another_thread_runs(
    pdebug: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = capture.CONVERT_FORKS[0]
    _dump(pdebug, tmp_path, TEXT, "2", monkeypatch)  # the admin double's thread is alive
    assert capture.CONVERT_FORKS[0] == before


#: ``pdebug dump`` whose conversion takes a minute in the child: interrupted meanwhile.
_SLOW_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pdebug.snapshot import capture
    real = capture._document
    me = os.getpid()
    def slow(*args, **kwargs):
        if os.getpid() != me:
            time.sleep(60)
        return real(*args, **kwargs)
    capture._document = slow
    from pdebug.cli import main
    sys.argv = ["pdebug", "dump", sys.argv[1], "-o", sys.argv[2], "--timeout", "5"]
    raise SystemExit(main())  # as the pdebug script does
    """
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("how", ["ctrl-c", "sigint-to-pdebug-only"])
def test_interrupted_while_the_child_converts(tmp_path: Path, how: str) -> None:
    out = tmp_path / "d.tar.gz"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PDEBUG_JOBS": "2"}
    with Admin(TEXT) as admin:
        argv = [sys.executable, "-c", _SLOW_CHILD, admin.url, str(out)]
        with eh.job(argv, env) as proc:
            deadline = time.monotonic() + 30
            kids: set[int] = set()
            while time.monotonic() < deadline and not kids:
                time.sleep(0.05)
                kids.update(eh.child_pids(proc.pid))
            assert kids, "a child converting"
            time.sleep(0.3)
            assert any(eh.pid_alive(k) for k in kids), "the child still converting"
            if how == "ctrl-c":
                got, err = eh.interrupt(proc, "ctrl-c")
            else:  # the child is not told: pdebug ends it
                proc.send_signal(signal.SIGINT)
                got, err = proc.communicate(timeout=20)
        eh.assert_interrupted(proc, got, err, kids)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pdebug-dump-")]
