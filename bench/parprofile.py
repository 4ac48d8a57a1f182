"""What ``pdebug CMD`` costs with its work forked (#17, ``pdebug.parallel``): one line.

Runs ``pdebug.cli.main`` in this process with the arguments given and, as the process
ends, prints on stderr: the parent's own user+sys CPU seconds and peak RSS, each
child's, and ``critical``: the parent's CPU before its children start and after they
end, plus the longer of its own share meanwhile and its slowest child's, plus how long
it waits for each result of a child of ``parallel.spawn`` (the child's CPU when it
ended that task, against the parent's when it asked), which is about the wall time the
run would take on idle CPUs. On a shared machine the measured wall
time is mostly waiting for a CPU; this is not.

    python bench/parprofile.py all bench/out/dump-5000-s1.json > /dev/null

``--tree-rss`` instead runs ``pdebug ARGS`` as a child and samples, every 5 ms, the
resident memory of it and its forked workers together from /proc: the peak of the sum
of their RSS (pages mapped by several processes counted in each: an upper bound) and of
their PSS (a shared page split between the processes mapping it: the honest total).

    python bench/parprofile.py --tree-rss all bench/out/dump-5000-s1.json
"""

from __future__ import annotations

import atexit
import os
import resource
import sys
from typing import Any

#: The parent's CPU seconds as each map's forks began and as they were all reaped.
_SPANS: list[tuple[float, float]] = []
#: Each child of ``parallel.spawn``: the parent's CPU at the fork, each result asked for
#: (task, the parent's CPU then), and a file where the child writes each task's end.
_SPAWNS: list[tuple[float, list[tuple[int, float]], str]] = []


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def _watch() -> None:
    from pdebug import parallel

    real = parallel._forked

    def forked(*args: object, **kwargs: object) -> object:
        start = _cpu()
        try:
            return real(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            _SPANS.append((start, _cpu()))

    parallel._forked = forked  # type: ignore[assignment]

    real_spawn = parallel.spawn

    def spawn(tasks: Any, work: float) -> Any:
        import tempfile
        import time

        fd, path = tempfile.mkstemp(prefix="parprofile-")
        os.close(fd)

        def timed(i: int, task: Any) -> Any:
            def run() -> Any:
                value = task()
                with open(path, "a") as f:  # the child's CPU since the fork
                    f.write(f"{i} {time.process_time():.4f}\n")
                return value

            return run

        asks: list[tuple[int, float]] = []
        start = _cpu()
        got = real_spawn([timed(i, t) for i, t in enumerate(tasks)], work)
        if got is None:
            os.unlink(path)
            return None
        _SPAWNS.append((start, asks, path))
        real_result = got.result

        def result(index: int = 0) -> Any:
            asks.append((index, _cpu()))
            return real_result(index)

        got.result = result
        return got

    parallel.spawn = spawn  # type: ignore[assignment]


def _waits() -> float:
    """How long the parent waits for its spawned children, in CPU terms: for each task
    it asks for, how much later the child ends it than the parent asks (the longest)."""
    waited = 0.0
    for start, asks, path in _SPAWNS:
        done: dict[int, float] = {}
        with open(path) as f:
            for line in f:
                i, at = line.split()
                done[int(i)] = float(at)
        os.unlink(path)
        shift = 0.0
        for i, at in asks:
            if i in done:
                shift = max(shift, start + done[i] - at)
        waited += shift
    return waited


def _report() -> None:
    from pdebug.parallel import CHILDREN

    me = resource.getrusage(resource.RUSAGE_SELF)
    own = me.ru_utime + me.ru_stime
    kids = [cpu for cpu, _ in CHILDREN]
    rss = [kb for _, kb in CHILDREN]
    # the parent's share while children ran is replaced by the longest of it and theirs
    critical = own + sum(max(end - start, max(kids, default=0.0)) - (end - start)
                         for start, end in _SPANS)  # fmt: skip
    critical += _waits()  # a spawned child's (pdebug check, report): its results waited for
    line = (
        f"parent_cpu {own:.3f} children_cpu {' '.join(f'{c:.3f}' for c in kids) or '-'} "
        f"critical {critical:.3f} total_cpu {own + sum(kids):.3f} "
        f"parent_rss_mb {me.ru_maxrss / 1024:.0f} "
        f"children_rss_mb {' '.join(f'{r / 1024:.0f}' for r in rss) or '-'} "
        f"sum_rss_mb {(me.ru_maxrss + sum(rss)) / 1024:.0f}\n"
    )
    os.write(2, line.encode())


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def _rollup(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def tree_rss(args: list[str]) -> None:
    """Run ``pdebug ARGS`` (stdout to /dev/null); print the peak RSS and PSS sums in MB."""
    import subprocess
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "pdebug", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak_rss = peak_pss = most = 0
    while proc.poll() is None:
        pids = _tree(proc.pid)
        sums = [_rollup(p) for p in pids]
        peak_rss = max(peak_rss, sum(r for r, _ in sums))
        peak_pss = max(peak_pss, sum(p for _, p in sums))
        most = max(most, len(pids))
        time.sleep(0.005)
    proc.communicate()
    print(
        f"tree peak rss_sum_mb {peak_rss / 1024:.0f} pss_sum_mb {peak_pss / 1024:.0f} "
        f"processes {most} rc {proc.returncode}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--tree-rss"]:
        tree_rss(sys.argv[2:])
        sys.exit(0)
    atexit.register(_report)
    _watch()
    from pdebug.cli import main

    sys.argv = ["pdebug", *sys.argv[1:]]
    main()
