"""A small fork-based parallel map over a dump that is already in memory (#17).

One module over 500 lines because :func:`fork_map` and :func:`spawn` (one child started
early, its results read as the caller needs them) are one mechanism: the same fork,
pipe framing, output and signal rules, and no orphan left.

:func:`fork_map` runs independent tasks (each a function of the loaded, memory-mapped
dump: "build and render this section's table") in groups, one group in this process and
each other in a forked child, several CPUs at once, and returns their results in task
order, exactly what running them one after another in this process returns.

- Linux ``os.fork`` only: the children share the parent's memory-mapped input and its
  decoded state copy-on-write, so nothing is shipped to them. What comes back through a
  pipe is compact: rendered text or bytes, small tuples (``marshal``: no import, no
  pickling of decoded Envoy objects, which would cost as much as decoding them).
- Sequential (the tasks run here, in order) when ``PDEBUG_JOBS=1``, when the process has
  one CPU, when a thread other than the main one is alive (forking a threaded process is
  unsafe), when there is no ``os.fork``, and when the caller says the work is too small
  to pay for the forks (:func:`jobs` takes its estimate).
- A child's task that raises, or that writes anything to stdout or stderr (a warning
  about a skipped resource, say), gives no result; nor does a child that dies, or sends
  anything unreadable. The parent then runs that task itself, in task order, after the
  ones before it: errors and warnings surface exactly as without children. The parent's
  own group runs while the children work, its output and exceptions kept per task and
  written (raised) when the task's turn comes, so nothing it prints changes order.
- Ctrl-C (SIGINT to the process group) ends the children at once (they take the default
  action) and the parent with ``KeyboardInterrupt`` (exit 130). SIGTERM to the parent,
  while children run, is turned into the same ``KeyboardInterrupt``. Either way the
  parent kills and reaps every child before the exception leaves :func:`fork_map`: no
  orphan is left.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any

#: Below this much estimated work (CPU seconds of the whole map, as the caller
#: estimates it) the tasks run here. Measured (2 CPUs): ``all`` on the 1,000-service
#: bench dump (32 MB, ~0.17 s estimated) gained 3% of wall time for 10-20% more CPU, on
#: the 5,000-service one (162 MB, ~0.86 s) 30% for 5-10%: forks pay on dumps of more
#: than about 50 MB.
MIN_WORK = 0.3

#: How many forks :func:`fork_map` made in this process (tests read it).
FORKS = [0]
#: Each child reaped: (user+sys CPU seconds, peak RSS in KiB), from ``wait4`` (the
#: bench's parallel profile reads it: ``bench/parprofile.py``).
CHILDREN: list[tuple[float, int]] = []

_FAILED = 0  # a task's result is missing: the parent runs it itself
_OK = 1


def jobs(work: float = float("inf")) -> int:
    """How many processes may work at once on ``work`` (estimated CPU seconds).

    ``PDEBUG_JOBS=N`` (a positive integer): N, whatever the work (1: none forked); anything
    else is a :class:`~pdebug.errors.UsageError`, as the other ``PDEBUG_*`` limits are.
    Otherwise the CPUs this process may use, or 1 for less than :data:`MIN_WORK`. Always 1
    where forking is unsafe (another thread alive) or impossible.
    """
    wanted = os.environ.get("PDEBUG_JOBS", "").strip()
    if wanted and not (wanted.isdigit() and int(wanted) >= 1):
        from pdebug.errors import UsageError

        raise UsageError(
            f"PDEBUG_JOBS={wanted!r}: not a number of processes",
            hint="a positive integer (1: one process)",
        )
    if not hasattr(os, "fork") or _threads_alive():
        return 1
    if wanted:
        return min(int(wanted), 64)
    if work < MIN_WORK:
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _threads_alive() -> bool:
    """Whether a thread other than this one runs.

    A fork copies only the caller's thread: another's locks (the kubernetes client's, a
    logging handler's) would stay held in the child.
    """
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def groups(weights: Sequence[float], n: int, together: Collection[int] = ()) -> list[list[int]]:
    """Task indices split into ``n`` groups of about equal weight (largest first).

    The tasks ``together`` are all in the first group. Each group keeps its tasks in
    task order.
    """
    loads = [0.0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for i in together:
        out[0].append(i)
        loads[0] += weights[i]
    rest = [i for i in range(len(weights)) if i not in together]
    for i in sorted(rest, key=lambda i: -weights[i]):
        k = loads.index(min(loads))
        out[k].append(i)
        loads[k] += weights[i]
    return [sorted(g) for g in out if g]


def fork_map(
    tasks: Sequence[Callable[[], Any]],
    weights: Sequence[float] | None = None,
    here: Collection[int] = (),
) -> list[Any]:
    """``[task() for task in tasks]``, the tasks spread over forked children.

    ``weights`` are the tasks' estimated CPU seconds (equal when omitted): they decide
    whether to fork (:func:`jobs`) and how the tasks are grouped. One group (the one of
    the tasks ``here``, else the heaviest task's) runs in this process meanwhile, in task
    order, each task's output kept and written, and its exception raised, when its turn
    comes; each other group runs in a child. A task's result must be what ``marshal``
    can write (str, bytes, numbers, None, tuples, lists, dicts of those), but those of
    the tasks ``here``, which never leave this process (and may hand each other what
    they make, in task order); a child's comes back as ``marshal`` reads it (a str
    subclass as a str).
    """
    w = list(weights) if weights is not None else [1.0] * len(tasks)
    n = min(jobs(sum(w)), len(tasks))
    if n <= 1:
        return [task() for task in tasks]
    parts = groups(w, n, here)
    if here:
        own = parts[0]
    else:
        own = max(parts, key=lambda part: max(w[i] for i in part))  # the heaviest task's
    got = _forked(tasks, [part for part in parts if part is not own], own)
    for i, task in enumerate(tasks):
        value = got[i]
        if isinstance(value, _Ran):  # this process's: said now, in order; raised now
            value.replay()
            got[i] = value.value
        elif value is _MISSING:
            got[i] = task()  # here, in order: its error or warning as without children
    return got


class _Ran:
    """A task this process ran ahead of its turn: what it said, and how it ended.

    What it writes to stdout/stderr is kept and written when its turn comes
    (:meth:`replay`), as is the exception it raised (re-raised then). So are the
    warnings of each object in ``quiet`` (a :class:`pdebug.model.ConfigDump`: its
    ``hold``), said through its own ``warn`` then: a warning said once per dump is then
    said, or not, as it would have been in the task's turn.
    """

    def __init__(self) -> None:
        self.written: list[tuple[Callable[[str], Any], str]] = []
        self.value: Any = None
        self.error: Exception | None = None

    def run(self, task: Callable[[], Any], quiet: Sequence[Any] = ()) -> _Ran:
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Kept(self, out), _Kept(self, err)
        held = [(each, each.hold) for each in quiet]
        for each, _ in held:
            each.hold = self._keeper(each.warn)
        try:
            self.value = task()
        except Exception as exc:  # raised in its turn (replay)
            self.error = exc
        finally:
            sys.stdout, sys.stderr = out, err
            for each, before in held:
                each.hold = before
        return self

    def _keeper(self, say: Callable[[str], Any]) -> Callable[[str], None]:
        def keep(text: str) -> None:
            self.written.append((say, text))

        return keep

    def replay(self) -> None:
        for say, text in self.written:
            say(text)
        if self.error is not None:
            raise self.error


class _Kept:
    """A stream whose writes a :class:`_Ran` keeps for later."""

    def __init__(self, ran: _Ran, stream: Any) -> None:
        self._ran = ran
        self._stream = stream

    def write(self, text: str) -> int:
        self._ran.written.append((self._stream.write, text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Kept, nothing to flush."""

    def isatty(self) -> bool:
        """The stream's own answer."""
        return bool(self._stream.isatty())


#: A task run here while a child works, its output kept for its turn (``pdebug report``).
Ran = _Ran

#: A task's result that no child gave.
_MISSING: Any = object()


def _forked(
    tasks: Sequence[Callable[[], Any]], parts: list[list[int]], own: list[int]
) -> list[Any]:
    """Each part's tasks in a child, ``own``'s here meanwhile (each a :class:`_Ran`).

    The children's results, :data:`_MISSING` where none came.
    """
    import marshal
    import signal

    results: list[Any] = [_MISSING] * len(tasks)
    #: The children not reaped yet: pid -> the read end of its pipe (-1: closed).
    children: dict[int, int] = {}
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # nothing buffered may be written twice
            stream.flush()

    def terminated(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    stop = {signal.SIGINT, signal.SIGTERM}
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        for part in parts:
            try:
                read, write = os.pipe()
            except OSError:  # out of descriptors: this part (and the rest) are run here
                break
            # No interrupt between the fork and the child's being known (and killable).
            signal.pthread_sigmask(signal.SIG_BLOCK, stop)
            try:
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
                    os.close(read)
                    _child(tasks, part, write)
                children[pid] = read
            except OSError:  # no process to be had (EAGAIN, ENOMEM): run here, as above
                os.close(read)
                os.close(write)
                break
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stop)
            FORKS[0] += 1
            os.close(write)
        for i in own:
            results[i] = _Ran().run(tasks[i])
        for pid in list(children):
            read = children[pid]
            body = _read_framed(read)
            os.close(read)
            children[pid] = -1
            _, status, usage = os.wait4(pid, 0)
            del children[pid]
            CHILDREN.append((usage.ru_utime + usage.ru_stime, usage.ru_maxrss))
            if status != 0:
                continue
            try:
                got = marshal.loads(body)
            except (EOFError, ValueError, TypeError):
                continue
            for i, flag, value in got:
                if flag == _OK:
                    results[i] = value
    finally:
        for pid, read in children.items():  # interrupted (or failed): none may be left
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - it had ended
                pass
            if read >= 0:
                os.close(read)
            os.waitpid(pid, 0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return results


def _read_framed(fd: int) -> bytearray:
    """What a child sent: its 8-byte length, then that many bytes (read in place).

    Empty (the child's results are then all missing) when the child ended early.
    """
    size = _read_length(fd)
    if size is None:
        return bytearray()
    return _read_body(size, lambda view, at: os.readv(fd, [view]))


def _read_length(fd: int) -> int | None:
    """A frame's 8-byte length from the pipe ``fd``; None when the child ended first."""
    head = b""
    while len(head) < 8:
        chunk = os.read(fd, 8 - len(head))
        if not chunk:
            return None
        head += chunk
    return int.from_bytes(head, "little")


def _read_body(size: int, read: Callable[[memoryview, int], int]) -> bytearray:
    """``size`` bytes, each ``read(into, at)`` filling the view from ``at`` on; empty if cut."""
    body = bytearray(size)
    view = memoryview(body)
    at = 0
    while at < size:
        got = read(view[at:], at)
        if not got:
            return bytearray()
        at += got
    view.release()
    return body


class _Said:
    """stdout/stderr in a child: anything written makes the task's result missing."""

    def __init__(self) -> None:
        self.written = False

    def write(self, text: Any) -> int:
        self.written = True
        return len(text)

    def writelines(self, lines: Any) -> None:
        self.written = True

    def flush(self) -> None:
        """Nothing is kept."""

    def isatty(self) -> bool:
        """Not a terminal."""
        return False


def _writable(value: Any) -> bool:
    import marshal

    try:
        marshal.dumps(value)
    except ValueError:
        return False
    return True


def _child_start() -> _Said:
    """A forked child's first step: Ctrl-C and SIGTERM end it at once, quietly.

    What its tasks write to stdout/stderr is kept from the terminal (the parent says it).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    said = _Said()
    sys.stdout = sys.stderr = said
    return said


def _child(tasks: Sequence[Callable[[], Any]], part: list[int], write: int) -> None:
    """Run ``part``'s tasks, send ``[(index, flag, result)]``, end the process (never returns)."""
    import marshal

    code = 1
    try:
        said = _child_start()
        out: list[tuple[int, int, Any]] = []
        for i in part:
            said.written = False
            try:
                value = tasks[i]()
            except Exception:  # the parent runs it and reports what it raises
                out.append((i, _FAILED, None))
                continue
            out.append((i, _FAILED, None) if said.written else (i, _OK, value))
        try:
            body = marshal.dumps(out)
        except ValueError:  # a result marshal cannot write: that task's is missing
            out = [(i, f, v) if _writable(v) else (i, _FAILED, None) for i, f, v in out]
            body = marshal.dumps(out)
        del out
        os.write(write, len(body).to_bytes(8, "little"))
        _write_all(write, body)
        code = 0
    except BaseException:  # noqa: B036 - whatever happens, the child ends here
        code = 1
    finally:
        os._exit(code)


class Spawned:
    """Tasks started in a forked child by :func:`spawn`; each result read when wanted.

    The parent goes on with its own work meanwhile. The child sends each task's result
    as soon as it has it, in task order; :meth:`result` waits for the one asked for and
    gives it (as ``marshal`` reads it), or :data:`MISSING` when the child gave none for
    that task (it raised, wrote to stdout or stderr, returned what ``marshal`` cannot
    write, or the child died first): the caller then does the task's work itself, where
    it would have without a child, so its errors and warnings come out as in one
    process. :meth:`close` (in a ``finally``: an error, Ctrl-C) kills and reaps the
    child if it was not yet, and restores SIGTERM, turned into ``KeyboardInterrupt``
    while the child lives (as in :func:`fork_map`).
    """

    def __init__(self, pid: int, read: int, previous: Any, count: int, shared: int = -1) -> None:
        self._pid = pid
        self._read = read
        self._previous = previous
        self._count = count
        self._got: list[Any] = []
        #: The file the child writes its results' bodies to (:func:`spawn`), and where
        #: the next one starts in it.
        self._shared = shared
        self._offset = 0

    def result(self, index: int = 0) -> Any:
        """Task ``index``'s result, :data:`MISSING` when the child gave none (kept)."""
        import marshal

        while len(self._got) <= index and self._read >= 0:
            body, self._offset = _read_frame(self._read, self._shared, self._offset)
            try:
                flag, value = marshal.loads(body) if body else (_FAILED, None)
            except (EOFError, ValueError, TypeError):
                flag, value = _FAILED, None
            if not body:
                self._reap()  # ended early: it is gone, or going
            elif len(self._got) + 1 == self._count:
                self._sent_all()  # it exits now: reaped when it has (close, reap)
            if body:
                self._got.append(value if flag == _OK else MISSING)
        return self._got[index] if index < len(self._got) else MISSING

    def _reap(self) -> None:
        self._sent_all()
        if self._pid:
            self._wait(0)

    def _sent_all(self) -> None:
        """Nothing more to read: the pipe and the file closed, SIGTERM restored.

        The child is reaped now if it has ended; else by :meth:`close` (or :func:`reap`).
        Its exit frees its memory (~8 ms for ``pdebug report``'s worker on the bench
        dump: #17), which the parent need not wait for before it uses the last result.
        """
        os.close(self._read)
        self._read = -1
        self._close_shared()
        self._restore()
        self._wait(os.WNOHANG)

    def _wait(self, options: int) -> None:
        pid, _, usage = os.wait4(self._pid, options)
        if pid:
            self._pid = 0
            CHILDREN.append((usage.ru_utime + usage.ru_stime, usage.ru_maxrss))

    def close(self) -> None:
        """Kill and reap the child if it was not yet; restore SIGTERM.

        A child that sent all its results is ending by itself: it is waited for.
        """
        import signal

        if self._pid and self._read < 0:  # it sent all, and is ending by itself
            self._wait(0)
        if self._pid:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - it had ended
                pass
            os.waitpid(self._pid, 0)
            self._pid = 0
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
        self._close_shared()
        self._restore()

    def _close_shared(self) -> None:
        if self._shared >= 0:
            os.close(self._shared)
            self._shared = -1

    def _restore(self) -> None:
        import signal

        if self._previous is not _RESTORED:
            previous, self._previous = self._previous, _RESTORED
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


#: The pipe :func:`spawn` asks for (Linux's default ``/proc/sys/fs/pipe-max-size``).
_PIPE_BYTES = 1 << 20
#: The bit of a frame's length that says its body is in the shared file, not the pipe.
_IN_SHARED = 1 << 63


def _read_frame(fd: int, shared: int, offset: int) -> tuple[bytearray | memoryview, int]:
    """A result :func:`_streaming_child` sent, and where the shared file's next one starts.

    The 8-byte length comes over the pipe; its top bit set, the body is in ``shared`` at
    ``offset`` (written before the length was sent), else it follows on the pipe. Empty
    when the child ended early.
    """
    size = _read_length(fd)
    if size is None:
        return bytearray(), offset
    if not size & _IN_SHARED:
        return _read_body(size, lambda view, at: os.readv(fd, [view])), offset
    size &= ~_IN_SHARED
    if shared < 0:
        return bytearray(), offset
    return _mapped_body(shared, offset, size), offset + size


def _mapped_body(shared: int, offset: int, size: int) -> bytearray | memoryview:
    """The ``size`` bytes at ``offset`` of the shared file, mapped (read where they are).

    ``marshal`` reads the result from the child's own pages: not copied into this
    process first (report's 10 MB of tables: ~3 ms of the parent's time, #17). Read into
    a buffer where the file cannot be mapped.
    """
    import mmap

    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    try:  # ValueError: the file is shorter than that (mmap never maps past its end)
        mapped = mmap.mmap(shared, size + offset - start, access=mmap.ACCESS_READ, offset=start)
    except (OSError, ValueError):
        return _read_body(size, lambda view, at: os.preadv(shared, [view], offset + at))
    return memoryview(mapped)[offset - start :]


def _shared_file() -> int:
    """A file in memory for a child's results (Linux ``memfd``), or -1: the pipe carries them."""
    try:
        return os.memfd_create("pdebug-results", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        return -1


#: Children that sent all their results, left to end while the parent goes on
#: (:func:`reap_later`).
_ENDING: list[Spawned] = []


def reap_later(child: Spawned) -> None:
    """``child``'s :meth:`~Spawned.close` at the next :func:`reap`, not now.

    For a child that sent all its results: it is ending, and its exit (freeing its
    memory) runs on the other CPU while this process uses them. :func:`reap` runs
    before the next :func:`spawn` and as the process ends.
    """
    import atexit

    if not _ENDING:
        atexit.register(reap)
    _ENDING.append(child)


def reap() -> None:
    """Reap the children left to end by :func:`reap_later` (waiting for them)."""
    import atexit

    atexit.unregister(reap)
    while _ENDING:
        _ENDING.pop().close()


#: What :meth:`Spawned.result` gives when the child gave no result.
MISSING: Any = _MISSING
_RESTORED: Any = object()


def spawn(tasks: Sequence[Callable[[], Any]], work: float) -> Spawned | None:
    """``tasks`` started now, one after another, in a forked child; None when not forked.

    ``work`` is the estimated CPU seconds of the whole job the caller splits so
    (:func:`jobs` decides, by the same rules as :func:`fork_map`: ``PDEBUG_JOBS``, the
    CPUs, :data:`MIN_WORK`, threads, a platform without ``fork``). None too when no
    pipe or process is to be had: the caller then does the work itself.
    """
    import signal

    if jobs(work) <= 1:
        return None
    reap()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # nothing buffered may be written twice
            stream.flush()
    try:
        read, write = os.pipe()
    except OSError:
        return None
    try:  # room for a result of up to 1 MB: the child goes on before the parent reads it
        import fcntl

        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or over pipe-max-size
        pass
    # Each result's body goes to a file in memory, its length over the pipe: the child
    # never waits for the parent to read a large result (a report's tables are 8 MB of
    # JSON; through the pipe alone the worker stopped until the parent asked, ~0.17 s).
    shared = _shared_file()

    def terminated(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    stop = {signal.SIGINT, signal.SIGTERM}
    previous = signal.signal(signal.SIGTERM, terminated)
    spawned: Spawned | None = None
    try:
        # No interrupt between the fork and the child's being known (and killable).
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
                os.close(read)
                _streaming_child(tasks, write, shared)
            spawned = Spawned(pid, read, previous, len(tasks), shared)
        except OSError:  # EAGAIN, ENOMEM: the caller does the work
            os.close(read)
            if shared >= 0:
                os.close(shared)
        finally:
            os.close(write)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop)  # a SIGTERM held raises here
    except BaseException:
        if spawned is not None:
            spawned.close()
        raise
    finally:
        if spawned is None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    if spawned is not None:
        FORKS[0] += 1
    return spawned


def _streaming_child(tasks: Sequence[Callable[[], Any]], write: int, shared: int = -1) -> None:
    """Run ``tasks``, send each ``(flag, result)`` framed as it ends; end the process.

    With ``shared`` (a file in memory, :func:`spawn`), each body is written there first
    and only its length goes over the pipe (:func:`_read_frame`); where that write
    fails (no memory for it), the body goes over the pipe as before.
    """
    import marshal

    code = 1
    try:
        said = _child_start()
        offset = 0
        for task in tasks:
            said.written = False
            try:
                value = task()
                body = marshal.dumps((_FAILED, None) if said.written else (_OK, value))
            except Exception:  # the parent does the task's work (and says its error)
                body = marshal.dumps((_FAILED, None))
            if shared >= 0 and _put(shared, body, offset):
                offset += len(body)
                _write_all(write, (len(body) | _IN_SHARED).to_bytes(8, "little"))
            else:
                _write_all(write, len(body).to_bytes(8, "little") + body)
        code = 0
    except BaseException:  # noqa: B036 - whatever happens, the child ends here
        code = 1
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the pipe ``fd`` (a pipe may take less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _put(fd: int, body: bytes, offset: int) -> bool:
    """Whether all of ``body`` was written to ``fd`` at ``offset``."""
    view = memoryview(body)
    at = 0
    try:
        while at < len(body):
            wrote = os.pwrite(fd, view[at:], offset + at)
            if wrote <= 0:
                return False
            at += wrote
    except OSError:
        return False
    return True
