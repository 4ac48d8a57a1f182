"""A SIGTERM (or Ctrl-C) that lands anywhere in the snapshot's waits is exit 130, never 5.

A full-suite run once saw ``pdebug snapshot`` exit 5 "internal error: RuntimeError: release
unlocked lock" on SIGTERM: the handler's KeyboardInterrupt, raised inside
``threading.Condition.wait`` between its wait and its lock's re-acquire (the main thread
waiting for a worker, or starting one), made the ``with`` around it release a lock it no
longer held. Timing cannot hit that window reliably, so this test delivers the signal at
every line the main thread runs in ``threading``'s waits, one run per line.
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from pdebug.errors import ExitCode
from tests.harness import kube_double as kd

ADMIN = 15000

pytestmark = pytest.mark.usefixtures("no_ambient_config")


def _snapshot_signalled_at(n: int, args: list[str], sig: int) -> tuple[int, str, int]:
    """Run ``pdebug snapshot ARGS`` in-process; raise ``sig`` at its ``n``-th wait line.

    Returns the exit code, stderr and how many such lines were seen.
    """
    from pdebug.cli import main

    seen = 0
    threading_py = threading.__file__

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal seen
        if event == "line":
            seen += 1
            if seen == n:
                signal.raise_signal(sig)  # its handler runs here, before this line
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        # A Condition's wait and the lock juggling around it (Queue.get, Event.wait and
        # Thread.start wait on one). Lines elsewhere in threading are not traced: a line
        # event can fire where a real signal cannot be handled (before a with's __exit__).
        if (
            frame.f_code.co_filename == threading_py
            and frame.f_code.co_name in {"wait", "_acquire_restore", "_release_save"}
            and isinstance(frame.f_locals.get("self"), threading.Condition)
        ):
            return local
        return None

    err, out = io.StringIO(), io.StringIO()
    saved = sys.stderr, sys.stdout
    sys.stderr, sys.stdout = err, out
    sys.settrace(tracer)
    try:
        code = main(["snapshot", *args])
    finally:
        sys.settrace(None)
        sys.stderr, sys.stdout = saved
    return code, err.getvalue(), seen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_at_any_line_of_the_snapshot_waits_is_an_interrupt(
    kube: kd.KubeDouble, tmp_path: Path, sig: int
) -> None:
    # Two pods whose admins never answer: the main thread starts two workers and waits.
    kube.add_pod("web-1", "default", forwards={ADMIN: kube.hanging_target()})
    kube.add_pod("web-2", "default", forwards={ADMIN: kube.hanging_target()})
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    work = tmp_path / "out"
    work.mkdir()
    args = ["-n", "default", "-o", str(work / "s.tar.gz"), "--kubeconfig", str(config)]
    args += ["--timeout", "3", "--parallel", "2", "--no-istiod"]
    for n in range(1, 81):
        code, err, seen = _snapshot_signalled_at(n, args, sig)
        if seen < n:  # the snapshot ended before its n-th wait line: every line was hit
            assert code == ExitCode.SOURCE_UNAVAILABLE and "no proxy captured" in err, err
            break
        assert code == ExitCode.INTERRUPTED, (n, err)
        assert err.endswith("snapshot stopped: nothing was written\npdebug: interrupted\n"), err
        assert list(work.iterdir()) == [], (n, list(work.iterdir()))
    else:
        pytest.fail("the snapshot still waited after 80 lines")
