"""The command line: a thin Typer layer and the one error funnel (:func:`main`).

Commands only turn options into filters, call ``load -> view -> render`` and echo.
Heavy modules are imported inside the commands so ``pdebug --help`` stays instant, and
a plain table (``pdebug clusters dump.json``) runs without importing Typer at all
(:func:`_plain_view`).

One module over 500 lines because it is the program's one door: the command list, the
lazy registration, Typer's fast option checks and the error funnel with its exit codes
run on every call, before any command module is imported.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pdebug import __version__
from pdebug.errors import ExitCode, PdebugError

if TYPE_CHECKING:
    import typer

HELP = """Debug Istio/Envoy sidecars, gateways and waypoints from their config dumps
(istioctl's proxy-config tables, faster, offline, with clear errors), ambient ztunnels
(ztunnel-config, zc), and runbooks written as expectations (assert).

SOURCE (or -f FILE, as istioctl) is one of:

\b
  dump.json              a saved GET /config_dump (- for stdin, .gz, YAML ok)
  clusters.json          a saved GET /clusters?format=json or /clusters (endpoints)
  bundle.tar.gz[:POD.NS] a pdebug dump or snapshot (or its --dir directory)
  http://HOST:15000      an Envoy admin address (also HOST:PORT)
  pod/NAME, NAME.NS      a sidecar, through a Kubernetes port-forward
  deploy/NAME, sts/NAME, ds/NAME, rs/NAME, svc/NAME
                         a Running and Ready pod of the workload or service

istioctl habits work: pdebug pc cluster POD, -o short, --verbose=false,
-c KUBECONFIG, and options before the command (pdebug -n NS clusters POD).

Exit codes: 0 ok, 1 findings (diff/check/trace/assert), 2 usage, 3 source
unavailable, 4 invalid input, 5 internal error, 6 trace unknown, 130 interrupted.
"""


def _new_app() -> typer.Typer:
    """The root app with its options and no command yet."""
    _typer()
    import typer

    root = typer.Typer(
        name="pdebug",
        help=HELP,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    root.callback()(_root_callback())
    return root


def _version(value: bool) -> None:
    if value:
        import typer

        typer.echo(f"pdebug {__version__}")
        raise typer.Exit()


def _root_callback() -> Callable[..., None]:
    """The root's callback; its Typer options are made when an app is built."""
    import typer

    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
        debug: bool = typer.Option(
            False, "--debug", help="Show a traceback on errors (also accepted after the command)."
        ),
    ) -> None:
        """Root options."""

    return _root


#: Every command, in the help's order: (name, module in pdebug.cli, function, hidden
#: aliases). A command's module is imported only when that command is registered: a run
#: registers the one it runs (:func:`_app_for`), the help and anything else all of them.
COMMANDS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("assert", "assert_", "assert_cmd", ()),
    ("check", "check", "check_cmd", ()),
    ("diff", "diff", "diff_cmd", ()),
    ("dump", "dump", "dump_cmd", ()),
    ("report", "report", "report_cmd", ()),
    ("rootca-compare", "rootca", "rootca_compare_cmd", ("rc",)),  # istioctl's alias
    ("snapshot", "snapshot", "snapshot_cmd", ()),
    ("stats", "stats", "stats_cmd", ()),
    ("status", "status", "status_cmd", ("proxy-status", "ps")),  # istioctl's names
    ("trace", "trace", "trace_cmd", ()),
    # istioctl proxy-config's views, with istioctl's short names
    ("clusters", "views", "clusters_cmd", ("cluster", "c")),
    ("listeners", "views", "listeners_cmd", ("listener", "l")),
    ("routes", "views", "routes_cmd", ("route", "r")),
    ("endpoints", "views", "endpoints_cmd", ("endpoint", "ep")),
    ("eds", "views", "eds_cmd", ()),
    ("secrets", "views", "secrets_cmd", ("secret", "s")),
    ("bootstrap", "views", "bootstrap_cmd", ("b",)),
    ("ecds", "views", "ecds_cmd", ("ec",)),
    ("all", "views", "all_cmd", ("a",)),
    ("proxy-config", "views", "proxy_config_cmd", ("pc",)),
    ("waypoints", "waypoints", "waypoints_cmd", ("waypoint",)),
]
#: ztunnel-config (zc) VIEW: (name, function in pdebug.cli.ztunnel, hidden aliases).
ZC_COMMANDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("workload", "workload_cmd", ("workloads", "w")),
    ("service", "service_cmd", ("services", "svc", "s")),
    ("policy", "policy_cmd", ("policies", "pol", "p")),
    ("certificate", "certificate_cmd", ("certificates", "certs", "cert")),
    ("connections", "connections_cmd", ("cons",)),
    ("all", "all_cmd", ()),
]
ZC_NAMES = ("ztunnel-config", "zc")


def _add_command(target: typer.Typer, entry: tuple[str, str, str, tuple[str, ...]]) -> None:
    """Register one :data:`COMMANDS` entry (and its hidden aliases) on ``target``."""
    import importlib

    name, module, attr, aliases = entry
    func = getattr(importlib.import_module(f"pdebug.cli.{module}"), attr)
    extra: dict[str, Any] = {}
    if name == "proxy-config":  # everything after VIEW belongs to the view
        extra["context_settings"] = {"allow_extra_args": True, "ignore_unknown_options": True}
    target.command(name, **extra)(func)
    for alias in aliases:
        target.command(alias, hidden=True, **extra)(func)


def _add_zc(target: typer.Typer) -> None:
    """Add the ``ztunnel-config`` group (and its hidden ``zc``) to ``target``."""
    from pdebug.cli import ztunnel

    if not ztunnel.zc_app.registered_commands:  # one zc_app: its commands once
        for name, attr, aliases in ZC_COMMANDS:
            func = getattr(ztunnel, attr)
            ztunnel.zc_app.command(name)(func)
            for alias in aliases:
                ztunnel.zc_app.command(alias, hidden=True)(func)
        _polish_help(ztunnel.zc_app)  # examples kept on one line, aliases named
    target.add_typer(
        ztunnel.zc_app,
        name="ztunnel-config",
        short_help="Show an ambient ztunnel's workloads, services, policies, certs, "
        "connections (zc).",
    )
    target.add_typer(ztunnel.zc_app, name="zc", hidden=True)


_FULL: list[typer.Typer] = []


def _full_app() -> typer.Typer:
    """The app with every command registered (built once): the help, completion, errors.

    Command modules only define functions; nothing is registered by importing them.
    """
    if not _FULL:
        whole = _new_app()
        for entry in COMMANDS:
            _add_command(whole, entry)
        _add_zc(whole)
        _polish_help(whole)
        _FULL.append(whole)
    return _FULL[0]


def __getattr__(name: str) -> Any:
    """``pdebug.cli.app``: the whole app, registered on first use (PEP 562)."""
    if name == "app":
        return _full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _polish_help(app: typer.Typer) -> None:
    """Help that reads well: whole summaries, examples kept on one line, aliases named.

    * the command list shows each command's whole first paragraph (Click would cut it at
      the first ". " or at the terminal width: ``ecds`` ended at "(e.g.");
    * ``Example:`` paragraphs are not rewrapped (Click's backslash-b marker), so a command line
      is never split in the middle;
    * each command's help ends with its hidden aliases (istioctl's short names);
    * the usage line shows ``SOURCE [OTHER]`` rather than Typer's ``{SOURCE} [[OTHER]]``.
    """
    import inspect

    aliases: dict[Any, list[str]] = {}
    for info in app.registered_commands:
        if info.hidden and info.name:
            aliases.setdefault(info.callback, []).append(info.name)
    for info in app.registered_commands:
        doc = inspect.cleandoc(info.callback.__doc__ or "") if info.callback else ""
        if not doc or info.help is not None:
            continue
        paragraphs = doc.split("\n\n")
        info.short_help = " ".join(paragraphs[0].split())
        kept = ["\b\n" + p if p.startswith("Example:") else p for p in paragraphs]
        names = aliases.get(info.callback, [])
        if names and not info.hidden:
            kept.append("Aliases: " + ", ".join(names) + ".")
        info.help = "\n\n".join(kept)


def _usage_display_name(self: Any) -> str:
    """An argument on the usage line as Click writes it: ``NAME``, ``[NAME]``, ``NAME...``."""
    name = str(self.display_name_raw)
    if not self.required and not name.startswith("["):
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


#: Plain decimal text for an int or float option; compiled on first use (re's cache): most
#: commands are given no number (#17).
_INT_TEXT = r"(?a)-?[0-9]{1,18}"
_FLOAT_TEXT = r"(?a)-?[0-9]{1,15}(?:\.[0-9]{1,15})?"
_NOT_LIGHT = object()


def _light_value(annotation: Any, info: Any, value: Any) -> Any:
    """``value`` as Typer's pydantic coercion would give it, for the plain cases only.

    Handled: ``str`` (a str), ``int`` and ``float`` (a number, or plain decimal digits)
    inside their ``min``/``max``, and ``list[str]``. Anything else (a bound crossed, a
    clamp, text pydantic might read otherwise, an error to word) is :data:`_NOT_LIGHT`:
    the caller then asks pydantic, so every error message stays Typer's own.
    """
    if annotation is str:
        return value if type(value) is str else _NOT_LIGHT
    if annotation is int:
        if type(value) is str and re.fullmatch(_INT_TEXT, value):
            value = int(value)
        elif type(value) is not int:
            return _NOT_LIGHT
    elif annotation is float:
        if type(value) is str and re.fullmatch(_FLOAT_TEXT, value):
            value = float(value)
        elif type(value) in (int, float):
            value = float(value)
        else:
            return _NOT_LIGHT
    elif annotation == list[str]:
        if isinstance(value, list | tuple) and all(type(v) is str for v in value):
            return list(value)
        return _NOT_LIGHT
    else:
        return _NOT_LIGHT
    if info.clamp or value != value:
        return _NOT_LIGHT
    if (info.min is not None and value < info.min) or (info.max is not None and value > info.max):
        return _NOT_LIGHT
    return value


def _runtime_param(self: Any) -> Any:
    """Typer's per-parameter coercion, without building a pydantic ``TypeAdapter``.

    Typer 0.29 coerces each parameter through pydantic: importing it and building one
    adapter per parameter was half the start-up of a small view (about 0.1 s). The
    plain cases are done here, to the same values (tests/test_cli_startup.py compares
    them with pydantic's); any other value still goes to Typer's own adapter. An option
    with a ``parser`` (``pdebug dump --max-body``) not given is None without the adapter
    too, as in Typer; given, it always goes to Typer (its parser).
    """
    if self._runtime_param is None:
        desc = self.type_descriptor
        info = desc.parameter_info
        if desc.file_annotation is None:
            self._runtime_param = _LightParam(info, desc.annotation, desc)
        else:
            self._runtime_param = build_runtime_param(desc)
    return self._runtime_param


class _LightParam:
    """A Typer ``RuntimeParam`` that asks pydantic only for what :func:`_light_value` leaves."""

    def __init__(self, info: Any, annotation: Any, descriptor: Any) -> None:
        self.parameter_info = info
        self.annotation = annotation
        self._descriptor = descriptor
        self._full: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        if self.parameter_info.parser is None and not (multi and isinstance(value, str)):
            done = _light_value(self.annotation, self.parameter_info, value)
            if done is not _NOT_LIGHT:
                return done
        return self._typer().coerce(value, param=param, ctx=ctx)

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        return self._typer()._coerce_value(value, param=param, ctx=ctx)

    def _typer(self) -> Any:
        if self._full is None:
            self._full = build_runtime_param(self._descriptor)
        return self._full


_TYPER: list[Any] = []


def _typer() -> Any:
    """Typer, imported on first use with pdebug's two changes to it (once).

    A plain table (:func:`_plain_view`) runs without it: importing Typer and its Click
    is about a third of such a run's start-up.
    """
    if not _TYPER:
        import typer
        import typer.core

        typer.core.TyperArgument._usage_display_name = _usage_display_name  # type: ignore[method-assign]
        try:
            from typer import _coercion  # noqa: F401 - whether this Typer has it
        except ImportError:  # pragma: no cover - another Typer: its own coercion, unchanged
            pass
        else:
            if hasattr(typer.core, "_TyperParameter") and hasattr(
                typer.core._TyperParameter, "get_runtime_param"
            ):
                typer.core._TyperParameter.get_runtime_param = _runtime_param  # type: ignore[method-assign]
        _TYPER.append(typer)
    return _TYPER[0]


def build_runtime_param(descriptor: Any) -> Any:
    """Typer's own coercion of one parameter (pydantic's ``TypeAdapter``)."""
    from typer._coercion import build_runtime_param as build

    return build(descriptor)


#: What commands leave to the end of the process (:func:`linger`); None: not run as the program.
_LINGER: list[Any] | None = None


def linger(*objects: Any) -> None:
    """Keep ``objects`` to the end of the process when it ends at once (:func:`_exit_now`).

    A command's big data (``report``: the decoded dump, the page's document) would
    otherwise be freed object by object when the command returns, only to end the
    process. Called from tests or an embedding program (``main(argv)``), nothing is kept.
    """
    if _LINGER is not None:
        _LINGER.extend(objects)


def main(argv: list[str] | None = None) -> int:
    """Run pdebug; every error ends here as one line on stderr and an exit code.

    Run as the program (``argv`` None), the process then ends at once: see
    :func:`_exit_now`. Called with ``argv`` (tests, embedding), it returns the code, and
    leaves the caller's garbage collector alone.
    """
    if argv is None:
        global _LINGER
        # A short-lived process over large acyclic trees: cyclic GC would only cost time.
        gc.disable()
        _import_msgspec()
        _LINGER = []
    code = _main(argv)
    if argv is None:
        _exit_now(code)
    return code


def _import_msgspec() -> None:
    """Import msgspec without ``typing_extensions`` (about 13 ms of CPU per run).

    msgspec imports ``typing_extensions`` (and with it ``inspect``, ``ast``, ``dis``,
    ``tokenize``) only for ``get_type_hints``, ``Required`` and ``NotRequired``, and uses
    :mod:`typing`'s own when that import fails: on Python 3.11+ those are the same for
    every type pdebug declares. The import is refused only while msgspec loads; anything
    imported later (Typer, the kubernetes client) gets the real module.
    """
    if "msgspec" in sys.modules or "typing_extensions" in sys.modules:
        return
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]
    try:
        import msgspec  # noqa: F401
    except ImportError:  # pragma: no cover - the funnel says what is missing
        pass
    finally:
        if "typing_extensions" in sys.modules and sys.modules["typing_extensions"] is None:
            del sys.modules["typing_extensions"]


def _exit_now(code: int) -> None:
    """End the process without tearing the interpreter down, as mypy does.

    Freeing a large dump's decoded tree object by object takes about a fifth of the
    time its table took (0.05 s for 13k clusters, 0.1 s for 53k endpoints). The atexit
    handlers still run (the kubernetes client removes its temporary certificate files
    there); with a non-daemon thread still running, the ordinary exit waits for it.
    """
    import atexit

    threading = sys.modules.get("threading")  # not imported (~1 ms): no thread was started
    if threading is not None:
        main_thread = threading.main_thread()
        if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
            return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: the process was started with it closed
                stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            pass
    os._exit(code)


class _ClosedStream:
    """Standard output when the process started without one: writing is an OSError.

    The funnel makes that one line and exit 3, as for a full disk; a command whose output
    goes to a file (``dump -o F``) never writes here and works.
    """

    def write(self, text: str) -> int:
        import errno

        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        """Nothing to flush."""

    def isatty(self) -> bool:
        """Not a terminal."""
        return False


def _main(argv: list[str] | None) -> int:
    # Whatever is printed, nothing from the input reaches the terminal raw (escape.py).
    from pdebug.render.escape import SafeStream

    out, err = sys.stdout, sys.stderr
    if out is None:  # started with stdout closed (`pdebug ... >&-`)
        sys.stdout = _ClosedStream()
    else:
        sys.stdout = SafeStream(out)
    if err is not None:
        sys.stderr = SafeStream(err)
    try:
        return _run_main(argv)
    finally:
        # Run as the program, the wrappers stay: a --debug traceback is escaped too.
        if argv is not None:
            sys.stdout, sys.stderr = out, err


def _run_main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("PDEBUG_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    if os.environ.get("_PDEBUG_COMPLETE"):
        # The shell asks for completions: aliases too (see pdebug.cli.completion).
        from pdebug.cli.completion import include_aliases

        include_aliases()
    # Typer's errors, once Typer is imported (a plain table runs without it).
    typer_errors: Any = _NoTyper
    try:
        from pdebug.cli.habits import normalize

        args = normalize(args)  # istioctl's and kubectl's habits (pc VIEW, -f, -o short...)
        plain = _plain_view(args)
        if plain is not None:
            return plain()
        typer_errors = _TyperErrors()
        result = _app_for(args)(args=args, prog_name="pdebug", standalone_mode=False)
        if result == ExitCode.INTERRUPTED:
            # Typer turns Ctrl-C into this return value; no command returns it otherwise.
            print("pdebug: interrupted", file=sys.stderr)
        return int(result) if isinstance(result, int) else ExitCode.OK
    except PdebugError as exc:
        if debug:
            _traceback()
        _say(exc.message, exc.hint)
        return exc.exit_code
    except typer_errors.NoArgsIsHelpError as exc:
        # Bare `pdebug`: the full help, as-is, on stdout with exit 0, as `istioctl` and
        # `kubectl` do with no arguments (Click would send it to stderr with exit 2). It is
        # a request for help, not a mistake, and `pdebug | less` should page it.
        print(exc.format_message())
        return ExitCode.OK
    except typer_errors.UsageError as exc:
        _say_usage(exc, args)
        return ExitCode.USAGE
    except typer_errors.ClickException as exc:
        _say(exc.format_message(), None)
        return ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code
    except (typer_errors.Abort, KeyboardInterrupt):
        print("pdebug: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except typer_errors.Exit as exc:
        return int(exc.exit_code)
    except BrokenPipeError:
        # `pdebug ... | head`: the reader left; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK
    except OSError as exc:
        if debug:
            _traceback()
        # Writing stdout to a full disk, a file the OS refuses: the machine's problem.
        where = f": {exc.filename}" if exc.filename else " (writing the output)"
        closed = isinstance(sys.stdout, _ClosedStream) and not exc.filename
        _say(
            f"{exc.strerror or exc}{where}",
            "redirect the output to a file or a pipe instead of closing it"
            if closed
            else "free some space, or check the path and its permissions",
        )
        return ExitCode.SOURCE_UNAVAILABLE
    except MemoryError:
        if debug:
            raise
        # Past the input limits someone raised (PDEBUG_MAX_INPUT...), or a small ulimit.
        _error(
            "out of memory reading the input (it is too large for this machine)",
            "lower PDEBUG_MAX_INPUT / PDEBUG_MAX_BODY back toward their 1G default, or use a "
            "machine with more memory",
        )
        return ExitCode.INVALID_INPUT
    except Exception as exc:  # noqa: BLE001 - the funnel's last resort
        from pdebug.errors import interrupted

        if interrupted(exc):  # Ctrl-C inside a lock's wait: see errors.interrupted
            print("pdebug: interrupted", file=sys.stderr)
            return ExitCode.INTERRUPTED
        if debug:
            _traceback()
        _say(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a pdebug bug; rerun with --debug and report the traceback",
        )
        return ExitCode.INTERNAL


class _Never(Exception):
    """Raised by nothing: Typer's exceptions before Typer is imported."""


class _NoTyper:
    """Typer's exceptions before Typer is imported (a plain table): none can be raised."""

    NoArgsIsHelpError: Any = _Never
    UsageError: Any = _Never
    ClickException: Any = _Never
    Abort: Any = _Never
    Exit: Any = _Never


class _TyperErrors:
    """Typer's exceptions the funnel turns into exit codes (Typer vendors Click)."""

    def __init__(self) -> None:
        from typer import Abort, Exit
        from typer._click import exceptions as click_exc

        self.NoArgsIsHelpError = click_exc.NoArgsIsHelpError
        self.UsageError = click_exc.UsageError
        self.ClickException = click_exc.ClickException
        self.Abort = Abort
        self.Exit = Exit


#: The views a bare ``pdebug VIEW SOURCE [-o FORMAT]`` runs without Typer (their
#: bodies in :mod:`pdebug.cli._run`); ``secrets``, ``bootstrap``, ``ecds`` are
#: :func:`pdebug.cli._run.whole` views.
PLAIN_VIEWS = ("clusters", "listeners", "routes", "endpoints", "eds", "all", "check")
PLAIN_WHOLE = ("secrets", "bootstrap", "ecds")
#: Commands whose ``-o`` names a file, run plain when given it (``report SOURCE -o FILE``).
PLAIN_FILE = ("report",)
#: A plain command whose body in :mod:`pdebug.cli._run` has another name (``all`` is a builtin).
_PLAIN_BODY = {"all": "all_"}
_COMPLETION_VARS = ("_PDEBUG_COMPLETE", "_TYPER_COMPLETE")


def _plain_view(args: list[str]) -> Callable[[], int] | None:
    """A view, ``all`` or ``check`` given only SOURCE and perhaps ``-o FORMAT``, unTypered.

    ``report`` too, given only SOURCE and ``-o FILE`` (a big dump's page is what a
    user waits for most; Typer was about 0.07 s of its serial start).

    ``pdebug clusters dump.json`` is the command people type most, on dumps of any
    size; importing Typer (and Click) and building the command was about 40% of its
    start-up. Such a line means exactly the command's defaults and these two values, so
    it calls the same body (:mod:`pdebug.cli._run`) with the same values Typer would
    pass (tests/test_cli_startup.py compares them). Anything else (another option,
    ``--help``, a second word, a word starting with ``-`` other than ``-`` itself, shell
    completion) is ``None``: Typer parses it, as before.
    """
    if not args or any(k.startswith(_COMPLETION_VARS) for k in os.environ):
        return None
    entry = next((e for e in COMMANDS if args[0] == e[0] or args[0] in e[3]), None)
    if entry is None or entry[0] not in PLAIN_VIEWS + PLAIN_WHOLE + PLAIN_FILE:
        return None
    source: str | None = None
    output: str | None = None
    rest = args[1:]
    at = 0
    while at < len(rest):
        word = rest[at]
        if word in ("-o", "--output") and output is None and at + 1 < len(rest):
            output = rest[at + 1]
            if output.startswith("-"):
                return None
            at += 2
        elif (word == "-" or not word.startswith("-")) and word and source is None:
            source = word
            at += 1
        else:
            return None
    if source is None:
        return None
    if entry[0] in PLAIN_FILE:  # its -o is a file, required: without one, Typer says so
        return None if not output else _plain_runner(entry[0], source, output)
    return _plain_runner(entry[0], source, "table" if output is None else output)


def _plain_runner(name: str, source: str, output: str) -> Callable[[], int]:
    def run() -> int:
        from pdebug.cli import _run
        from pdebug.proxy import Fetch
        from pdebug.sources.base import LiveOptions

        # What Typer passes for SOURCE and the defaults of --admin, --bundle and the
        # live options (tests/test_cli_startup.py holds the two equal).
        proxy = _run.ProxyOptions(source, None, None, LiveOptions())
        if name in PLAIN_WHOLE:
            return _run.whole(name, getattr(Fetch, name), proxy, output)
        if name in PLAIN_FILE:
            return _run.report(proxy, output=output, keep=linger)
        body: Callable[..., int] = getattr(_run, _PLAIN_BODY.get(name, name))
        return int(body(proxy, output=output))

    return run


def _app_for(args: list[str]) -> typer.Typer:
    """``app`` with only the command named in ``args`` registered, when there is one.

    Typer builds the Click parameters of every registered command (some 30 with the
    aliases) before it dispatches to one; building just the one that runs is the same
    CLI for it, and a good part of the start-up of a small view. A group (``zc``) is cut
    the same way, down to its one subcommand. Anything else (no command, ``--help``, an
    unknown name) gets the whole app.
    """
    import copy

    words = [a for a in args if not a.startswith("-")]
    name = words[0] if words else None
    entry = next((e for e in COMMANDS if name == e[0] or name in e[3]), None)
    if entry is not None:
        # Only this command's module is imported, its help polished as in the whole app.
        only = _new_app()
        _add_command(only, entry)
        _polish_help(only)
        only.registered_commands = [c for c in only.registered_commands if c.name == name]
        return only
    if name in ZC_NAMES:
        only = _new_app()
        _add_zc(only)
        groups = [g for g in only.registered_groups if g.name == name]
        group = groups[0].typer_instance
        assert group is not None
        only.registered_groups = [copy.copy(groups[0])]
        # The subcommand is the first word after the group's name that names one (an
        # option's value may come first: zc -f FILE workload); else the whole group.
        sub = [c for w in words[1:] for c in group.registered_commands if c.name == w][:1]
        if sub:
            cut = copy.copy(group)
            cut.registered_commands = sub
            only.registered_groups[0].typer_instance = cut
        return only
    return _full_app()


def _traceback() -> None:
    """``--debug``: the traceback on stderr; the exit code stays the error's own."""
    import traceback

    try:
        traceback.print_exc()
    except OSError:
        pass


def _say(message: str, hint: str | None) -> None:
    """:func:`_error`, but a closed stderr (``2>&1 | head -1``) keeps the exit code."""
    try:
        _error(message, hint)
    except OSError:
        pass


def _say_usage(exc: Any, args: list[str]) -> None:
    try:
        _usage_error(exc, args)
    except OSError:
        pass


def _usage_error(exc: Any, args: list[str] | None = None) -> None:
    """Click's three-line usage error as pdebug's one line, with where to read more."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "pdebug"
    if ctx is None and args and not args[0].startswith("-"):  # normalized: COMMAND first
        # "Option '--fqdn' requires an argument." comes without the command's context
        path = f"pdebug {args[0]}"
    message = " ".join(exc.format_message().split())
    extra = re.fullmatch(r"Got unexpected extra arguments?(?:\(s\))? \((.*)\)", message)
    if extra and ctx is not None and ctx.info_name in ("status", "proxy-status", "ps"):
        # istioctl proxy-status POD compares one proxy with istiod: that is pdebug diff.
        saved = ctx.params.get("file")  # istioctl ps POD --file DUMP: that dump, not the pod's
        pod = extra.group(1).split(",")[0].strip(" '")
        hint = (
            f"pdebug diff {saved} --proxy-id {pod} --istiod http://127.0.0.1:15014 compares "
            "that saved dump with istiod (kubectl -n istio-system port-forward deploy/istiod "
            "15014)"
            if saved
            else f"pdebug diff POD compares one proxy with istiod; {path} -n NS shows one namespace"
        )
        _error(f"{path} takes no POD argument (got {extra.group(1)})", hint)
        return
    if (
        ctx is not None
        and ctx.info_name in ("rootca-compare", "rc")
        and (message.startswith("Missing argument"))
    ):
        # Both arguments are SOURCE: "Missing argument 'SOURCE'" after one was given.
        _error(
            f"{path} needs two proxies (istioctl: rootca-compare requires 2 pods)",
            f"e.g. {path} pod/web-1 pod/api-1 -n shop, or two saved dumps",
        )
        return
    unknown = re.match(r"No such command '(.*)'\.", message)
    if unknown:
        from pdebug.cli.habits import suggest_command

        word = unknown.group(1)
        names = [(c.name or "", c.hidden) for c in _full_app().registered_commands]
        near = suggest_command(word, names)
        hint = f"did you mean {' or '.join(near)}? " if near else ""
        _error(f"no such command {word!r}", f"{hint}pdebug --help lists the commands")
        return
    _error(message, f"see: {path} --help")


def _error(message: str, hint: str | None) -> None:
    """The one error line (and its hint); input in them is escaped, newlines too."""
    from pdebug.render.escape import escape_cell

    print(f"pdebug: error: {escape_cell(message)}", file=sys.stderr)
    if hint:
        print(f"hint: {escape_cell(hint)}", file=sys.stderr)
