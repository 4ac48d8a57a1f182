"""``pdebug snapshot``: capture many sidecars at once into one bundle, for later."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from pdebug.cli.options import (
    AllStatsOpt,
    IstioNamespaceOpt,
    NoRedactOpt,
    live_options,
    option_in,
    output_file_option,
)
from pdebug.errors import ExitCode, UsageError
from pdebug.render.escape import write_control
from pdebug.sources.base import LiveOptions

if TYPE_CHECKING:
    from pdebug.snapshot import Progress, SnapshotOptions

_SELECT = "Which proxies"


class _Printer:
    """Progress on stderr: one updating line on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.counts = {"captured": 0, "failed": 0, "skipped": 0}

    def __call__(self, event: Progress) -> None:
        record = event.record
        self.counts[record.status] = self.counts.get(record.status, 0) + 1
        why = record.reason or "; ".join(e.removeprefix(record.label + ": ") for e in record.errors)
        line = f"{record.status} {record.label} ({event.done}/{event.total})"
        if why:
            line += f": {why}"
        if not self.tty:
            print(line, file=self.stream, flush=True)
            return
        write_control(self.stream, "\r\x1b[K")  # ours; names are escaped
        if record.status != "captured":  # failures stay on screen; progress redraws below
            self.stream.write(line + "\n")
        width = 30
        filled = width * event.done // max(event.total, 1)
        bar = "#" * filled + "." * (width - filled)
        c = self.counts
        self.stream.write(
            f"[{bar}] {event.done}/{event.total}  {c['captured']} captured, "
            f"{c['failed']} failed, {c['skipped']} skipped"
        )
        self.stream.flush()

    def finish(self) -> None:
        """End the updating line."""
        if self.tty:
            write_control(self.stream, "\r\x1b[K")  # ours; names are escaped
            self.stream.flush()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a CI timeout, a pod shutdown) stops the snapshot as Ctrl-C does.

    Python's default for SIGTERM is to die at once, leaving the stage directory behind;
    raised as KeyboardInterrupt in the main thread, it goes through the same clean-up
    (nothing written, no temp files) and exits 130.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@live_options(namespace=False)
def snapshot_cmd(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET",
            help="Pods or workloads (pod/NAME, NAME.NS, deploy/NAME, sts/NAME, ds/NAME); "
            "a workload means all of its pods.",
            show_default=False,
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        option_in(
            _SELECT,
            "--namespace",
            "-n",
            help="Capture the pods of this namespace (and find TARGETs in it).",
            metavar="NS",
        ),
    ] = None,
    all_namespaces: Annotated[
        bool,
        option_in(_SELECT, "--all-namespaces", "-A", help="Capture pods in every namespace."),
    ] = False,
    selector: Annotated[
        str | None,
        option_in(
            _SELECT,
            "--selector",
            "-l",
            metavar="SELECTOR",
            help="Only pods with these labels (app=web,version!=v1).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        output_file_option(
            "The bundle to write (.tar.gz); default snapshot-CONTEXT-UTCTIME.tar.gz; "
            "'-' for stdout.",
        ),
    ] = None,
    directory: Annotated[
        str | None,
        typer.Option("--dir", metavar="DIR", help="Write plain files into this new directory."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the -o file if it exists (refused otherwise)."),
    ] = False,
    parallel: Annotated[
        int, typer.Option("--parallel", help="Proxies read at once.", metavar="N", min=1, max=64)
    ] = 8,
    no_redact: NoRedactOpt = False,
    all_stats: AllStatsOpt = False,
    istio_namespace: IstioNamespaceOpt = "istio-system",
    no_istiod: Annotated[
        bool, typer.Option("--no-istiod", help="Do not ask istiod for its view.")
    ] = False,
    ambient: Annotated[
        bool,
        typer.Option(
            "--ambient",
            help="Also capture the ztunnel (Istio ambient) of each node the pods run on; "
            "read them with pdebug zc VIEW BUNDLE[:ztunnel-POD.NS].",
        ),
    ] = False,
    *,
    live: LiveOptions,
) -> int:
    """Capture every sidecar of a namespace (or a selection) into one bundle, for later.

    Per proxy: config_dump?include_eds, /clusters, /server_info, /certs and the stats
    written since it started (--all-stats: every stat), and istiod's view of it when
    istiod answers; a manifest names the pod, namespace, node, sha256 of
    each file and what failed. Pods without the sidecar are skipped; a proxy that fails
    (not Running, hanging past --timeout) is recorded and the others go on. Redacted
    unless --no-redact; written atomically (Ctrl-C or SIGTERM leaves nothing, exit 130); an
    existing -o file is kept unless --force. Every view, check, diff, trace, report and
    status --file reads the bundle, or the --dir directory (BUNDLE:POD.NS or --bundle
    BUNDLE pod/NAME). Exit 0 when all were captured, 1 when some failed, 3 when none was.

    Example: pdebug snapshot -n shop -o incident.tar.gz

    Example: pdebug snapshot -A -l app=reviews --parallel 16 --timeout 10
    """
    from pdebug.cli.habits import file_output, via_stdout
    from pdebug.snapshot import Selection, SnapshotOptions

    file_output("snapshot", output)
    selection = Selection(tuple(targets or ()), namespace, all_namespaces, selector)
    options = SnapshotOptions(
        live,
        selection,
        parallel=parallel,
        redact=not no_redact,
        istiod=not no_istiod,
        istio_namespace=istio_namespace or "istio-system",
        ambient=ambient,
        all_stats=all_stats,
    )
    if output == "-":
        if directory is not None:
            raise UsageError("give -o - or --dir, not both", hint="--dir writes plain files")
        # The bundle goes to stdout once complete (nothing when no proxy could be read).
        return via_stdout(
            "snapshot", ".tar.gz", lambda path: _take(options, path, None, False, to_stdout=True)
        )
    return _take(options, output, directory, force)


def _take(
    options: SnapshotOptions,
    output: str | None,
    directory: str | None,
    force: bool,
    *,
    to_stdout: bool = False,
) -> int:
    """Take the snapshot, report progress on stderr; the bundle's name on stdout."""
    from pdebug.errors import interrupted
    from pdebug.snapshot import failed_replicas_note, take_snapshot

    printer = _Printer(sys.stderr)
    try:
        with _sigterm_as_interrupt():
            result = take_snapshot(options, output, directory, printer, force)
    except BaseException as exc:
        if not interrupted(exc):
            raise
        printer.finish()
        print("snapshot stopped: nothing was written", file=sys.stderr)
        raise KeyboardInterrupt from None
    finally:
        printer.finish()
    if result.istiod is not None and result.istiod.error and options.istiod:
        print(f"istiod not captured: {result.istiod.error}", file=sys.stderr)
    where = "stdout" if to_stdout else result.output
    print(f"{result.summary()}: wrote {where}", file=sys.stderr)
    note = failed_replicas_note(result.istiod)
    if note:
        print(note, file=sys.stderr)
    if not to_stdout:
        print(result.output)
    return ExitCode.OK if result.ok else ExitCode.FINDINGS
