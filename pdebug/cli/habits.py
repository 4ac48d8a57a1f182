"""istioctl's and kubectl's command-line habits, turned into pdebug's command line.

:func:`normalize` rewrites the arguments before Typer parses them, so that a command line
copied from istioctl's docs (with ``istioctl`` replaced by ``pdebug``) or typed with
kubectl's muscle memory works, or fails naming exactly the part pdebug does not support:

* ``proxy-config VIEW`` / ``pc VIEW`` with istioctl's view names and aliases; ``log``
  is refused (pdebug only reads); ``x envoy-stats`` is ``stats``; ``help [COMMAND]``;
* options before the command (``pdebug -n shop clusters pod/x``, ``-o wide``,
  ``--context c status``) move after it, as kubectl allows;
* ``-f/--file FILE`` (istioctl's saved-dump flag) is the SOURCE argument;
* ``-o short`` (istioctl's name for the table) is ``-o table``; ``--verbose=false`` is
  ``--no-verbose``; ``--proxy-admin-port`` and ``--istioNamespace`` are pdebug's spellings;
  ``proxy-status -v 1`` (``--verbosity``) is ``--layout per-type``; ``pc bootstrap``
  prints JSON unless ``-o`` says otherwise, as istioctl's does (``pdebug bootstrap``: the
  summary); ``-o=json`` (pflag's ``-X=VALUE``) is ``-o json``; istioctl's root
  ``-i/--istioNamespace`` is dropped on the commands that have no use for it (istioctl
  ignores it there too); ``zc log`` is refused as ``pc log`` is.

Also refused, each naming what to run instead: ``-l/--selector`` (before or after the
command) on a command that reads one proxy, and istioctl's commands pdebug has no twin of
(``bug-report``, ``analyze``...).

Pure argument work: no imports beyond the errors, so start-up does not pay for it.

This is one module over 500 lines because it is one pass over the command line: each
habit is a rule of that pass, worded beside the rewrites it sits between.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

from pdebug.errors import UsageError

T = TypeVar("T")

#: istioctl proxy-config views (names and aliases) -> pdebug's command.
VIEWS: dict[str, str] = {
    **dict.fromkeys(("cluster", "clusters", "c"), "clusters"),
    **dict.fromkeys(("listener", "listeners", "l"), "listeners"),
    **dict.fromkeys(("route", "routes", "r"), "routes"),
    **dict.fromkeys(("endpoint", "endpoints", "ep"), "endpoints"),
    **dict.fromkeys(("secret", "secrets", "s"), "secrets"),
    **dict.fromkeys(("bootstrap", "b"), "bootstrap"),
    **dict.fromkeys(("ecds", "ec"), "ecds"),
    **dict.fromkeys(("all", "a"), "all"),
    "eds": "eds",
    **dict.fromkeys(("rootca-compare", "rc"), "rootca-compare"),
}
_VIEW_LIST = "cluster|c, listener|l, route|r, endpoint|ep, secret|s, bootstrap|b, ecds, all, eds"

#: Commands whose ``-o`` names a file to write, not a format.
FILE_OUTPUT = frozenset({"dump", "report", "snapshot"})
#: Commands with a ``--file`` of their own (``status --file`` is istiod's saved answer;
#: ``zc -f`` is istioctl ztunnel-config's own, declared on each of its views).
OWN_FILE = frozenset({"status", "proxy-status", "ps", "ztunnel-config", "zc"})
#: istioctl proxy-status and its names: ``-v/--verbosity N`` is ``--layout per-type``.
STATUS = frozenset({"status", "proxy-status", "ps"})
#: The listener command and its names (istioctl's hidden ``--waypoint`` is refused).
LISTENERS = frozenset({"listeners", "listener", "l"})
#: Commands with ``-i/--istio-namespace``; the others drop it (istioctl's root flag).
ISTIO_NS = frozenset(
    {"status", "proxy-status", "ps", "diff", "snapshot", "assert", "ztunnel-config", "zc"}
)
_ISTIO_NS = frozenset({"-i", "--istio-namespace"})
#: Commands with ``-l/--selector`` of their own; the others read one proxy and say so.
SELECTOR = frozenset({"snapshot", "assert"})
#: Options whose value is free text (a regex, a header): ``--filter -lds`` is no ``-l``.
_FREE_TEXT = frozenset(
    {"--filter", "-H", "--header", "--ignore", "--fqdn", "--name", "--subset", "--cluster"}
)
#: istioctl's top-level commands pdebug has no twin of -> (why, what to run instead).
ISTIOCTL_ONLY: dict[str, tuple[str, str]] = {
    "bug-report": (
        "pdebug's capture of many proxies is pdebug snapshot",
        "pdebug snapshot -n NS -o incident.tar.gz saves every sidecar's dump, /clusters, "
        "/certs, /stats and istiod's view; pdebug check incident.tar.gz (or report) reads it, "
        "as it reads an istioctl bug-report archive: pdebug check bug-report.tar.gz",
    ),
    "analyze": (
        "pdebug reads proxies, not Istio's config",
        "pdebug check POD says what is wrong with a proxy's config; pdebug trace POD URL "
        "follows one request through it",
    ),
    "version": (
        "pdebug --version prints pdebug's",
        "a proxy's Istio and Envoy versions: pdebug bootstrap POD; every proxy's: pdebug status",
    ),
    "dashboard": (
        "pdebug prints the admin API's facts, no browser needed",
        "pdebug all POD shows every table; pdebug report POD -o report.html writes one page",
    ),
}
#: Commands with ``--verbose/--no-verbose``.
VERBOSE = frozenset({"listeners", "listener", "l", "routes", "route", "r", "all", "a"})

#: Options that take a value, as they may come before the command (kubectl style).
_VALUE_OPTS = frozenset(
    {
        "-n",
        "--namespace",
        "--context",
        "--kubeconfig",
        "-c",
        "-o",
        "--output",
        "-i",
        "--istio-namespace",
        "--istioNamespace",
        "-r",
        "--revision",
        "--timeout",
        "--admin-port",
        "--proxy-admin-port",
        "--container",
        "--admin",
        "--bundle",
        "-f",
        "--file",
        # moved after the command: snapshot's and assert's; the others refuse it there
        "-l",
        "--selector",
    }
)
#: Options of the root itself; they stay before the command.
_ROOT_OPTS = frozenset({"--version", "-h", "--help", "--install-completion", "--show-completion"})
#: istioctl's spellings -> pdebug's.
_RENAMED = {"--proxy-admin-port": "--admin-port", "--istioNamespace": "--istio-namespace"}
_FALSE = frozenset({"false", "f", "0", "no"})
_TRUE = frozenset({"true", "t", "1", "yes"})


def _takes_value(arg: str) -> bool:
    return arg in _VALUE_OPTS or arg in _RENAMED


def _split_leading(args: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(root options, options to move after the command, the command and what follows)."""
    root: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        name = arg.split("=", 1)[0]
        if arg in _ROOT_OPTS or arg == "--":
            root.append(arg)
            if arg == "--":
                i += 1
                break
        elif "=" in arg and _takes_value(name):
            moved.append(arg)
        elif _takes_value(arg):
            moved.extend(args[i : i + 2])
            i += 1
        elif len(arg) > 2 and arg[1] != "-" and _takes_value(arg[:2]):
            moved.append(arg)  # -ndefault, -owide
        else:
            root.append(arg)  # unknown here: Click names it
        i += 1
    return root, moved, args[i:]


#: Flags without a value that may come before a subcommand (``pc --verbose=false l`` needs
#: no entry: a flag with ``=`` never takes the next word).
_BOOL_FLAGS = frozenset(
    {"--verbose", "--no-verbose", "--raw", "--with-headers", "--no-with-headers", "--unified"}
)


def _subcommand_at(rest: list[str]) -> int:
    """Where the subcommand (pc's VIEW, zc's view) is in ``rest``.

    The first word that is no option nor an option's value, as istioctl's command finder
    (cobra) reads them: an option it does not know there takes the next word
    (``pc --port 9080 cluster``).
    """
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in ("-h", "--help") or arg == "--":
            return i
        if arg.startswith("-") and arg != "-":
            glued = "=" in arg or (arg[1] != "-" and len(arg) > 2)  # --x=1, -ojson
            if not glued and arg not in _BOOL_FLAGS:
                i += 1
            i += 1
            continue
        return i
    return i


#: ztunnel-config's views (and the names people try after pc): its tables, not Envoy's.
_ZTUNNEL_VIEWS = frozenset(
    {"service", "services", "svc", "policy", "policies", "certificate", "certificates"}
    | {"certs", "connections", "cons"}
)
#: istioctl < 1.22's ``proxy-config workload`` (a ztunnel's workloads): ``zc workload``.
_PC_WORKLOAD = frozenset({"workload", "workloads"})


def _view_of(pc: str, rest: list[str]) -> tuple[str, list[str]]:
    """The pdebug command for ``pc VIEW ...`` and the arguments without VIEW."""
    i = _subcommand_at(rest)
    if i < len(rest) and rest[i] in ("-h", "--help"):
        return "proxy-config", ["--help"]  # its own help (the registered command)
    if i >= len(rest):
        raise UsageError(
            f"pdebug {pc} needs a view: {_VIEW_LIST}",
            hint=f"e.g. pdebug {pc} cluster pod/NAME -n NS (or: pdebug clusters ...)",
        )
    view = rest[i]
    others = rest[:i] + rest[i + 1 :]
    if view in ("log", "o"):
        raise UsageError(
            f"pdebug {pc} log: pdebug does not change Envoy's log levels (it only reads)",
            hint="istioctl proxy-config log POD --level LEVEL does; pdebug never changes "
            "the cluster",
        )
    command = VIEWS.get(view)
    if command is None:
        hint = f"views: {_VIEW_LIST}"
        if view in _ZTUNNEL_VIEWS:
            hint = f"a ztunnel's {view}: pdebug zc {view} (istioctl ztunnel-config); {hint}"
        elif view == "stats":
            hint = f"Envoy's stats: pdebug stats (istioctl x envoy-stats); {hint}"
        raise UsageError(f"pdebug {pc} {view}: istioctl has no such proxy-config view", hint=hint)
    return command, others


def _rewrite_options(command: str, rest: list[str]) -> list[str]:
    """Per-command rewrites after the command name: -f, -o short, --verbose=BOOL, renames."""
    files: list[str] = []
    out: list[str] = []
    rest = _split_short_equals(rest)
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            out.extend(rest[i:])
            break
        name, eq, value = arg.partition("=")
        if name in _RENAMED:
            arg = _RENAMED[name] + eq + value
            name = _RENAMED[name]
        if command not in OWN_FILE and name in ("-f", "--file"):
            if eq:
                files.append(value)
            elif i + 1 < len(rest):
                files.append(rest[i + 1])
                i += 1
            else:
                raise UsageError(
                    f"{arg} needs a FILE (a saved dump)", hint=f"e.g. pdebug {command} -f dump.json"
                )
            i += 1
            continue
        if command not in OWN_FILE and arg.startswith("-f") and len(arg) > 2 and arg[2] != "-":
            files.append(arg[2:])  # -fdump.json
            i += 1
            continue
        if command in STATUS and (name in ("-v", "--verbosity") or _glued_v(arg)):
            if eq:
                level = value
            elif _glued_v(arg):
                level = arg[2:]
            elif i + 1 < len(rest):
                level = rest[i + 1]
                i += 1
            else:
                level = ""
            out.extend(_verbosity(arg, level))
            i += 1
            continue
        if name in _ISTIO_NS and command not in ISTIO_NS:
            # istioctl's root flag, which its proxy-config views ignore: so does pdebug
            i += 1 if eq else 2
            continue
        if name == "--type" and command == "stats":
            kind = value if eq else rest[i + 1] if i + 1 < len(rest) else ""
            if kind == "server":  # istioctl's default: the server's stats, as pdebug's
                i += 1 if eq else 2
                continue
            raise UsageError(
                f"pdebug stats has no --type {kind}: istioctl envoy-stats --type clusters "
                "prints Envoy's /clusters",
                hint="pdebug endpoints SOURCE (-o json) shows each cluster's hosts, health "
                "and outlier state from /clusters",
            )
        if (
            command not in SELECTOR
            and (i == 0 or rest[i - 1] not in _FREE_TEXT)
            and (
                name in ("-l", "--selector") or (arg.startswith("-l") and arg[2:3] not in ("", "-"))
            )
        ):
            glued = arg[2:] if name not in ("-l", "--selector") else value if eq else None
            raise _selector_refused(command, glued if glued is not None else rest[i + 1 : i + 2])
        if name == "--waypoint" and command in LISTENERS:
            raise UsageError(
                f"pdebug {command} has no --waypoint: istioctl's hidden waypoint table walks "
                "the filter_chain_matcher in Go map order (random)",
                hint="pdebug listeners -o wide lists every chain; pdebug trace follows a "
                "request through the matcher",
            )
        if name == "--verbose" and eq:
            flag = _bool_flag(command, value)
            if flag:
                out.append(flag)
            i += 1
            continue
        if command not in FILE_OUTPUT:
            if name in ("-o", "--output") and not eq and i + 1 < len(rest):
                out.extend([name, _format(rest[i + 1], command)])
                i += 2
                continue
            if name in ("-o", "--output") and eq:
                arg = f"{name}={_format(value, command)}"
            elif arg.startswith("-o") and len(arg) > 2 and arg[2] != "-":
                arg = "-o" + _format(arg[2:], command)
        out.append(arg)
        i += 1
    if len(files) > 1:
        raise UsageError(
            f"-f/--file given {len(files)} times ({', '.join(files)})",
            hint="give one saved dump; pdebug diff A B compares two",
        )
    return files + out


def _selector_refused(command: str, value: str | list[str]) -> UsageError:
    """The error for istioctl's ``-l/--selector`` on a command that reads one proxy."""
    import shlex

    selector = (value if isinstance(value, str) else "".join(value)) or "app=NAME"
    selector = "app=NAME" if selector.startswith("-") else shlex.quote(selector)
    if command in STATUS:
        return UsageError(
            f"pdebug {command} has no -l/--selector: it shows every proxy istiod knows",
            hint=f"pdebug {command} -n NS shows one namespace's; pdebug diff POD compares one "
            "proxy with istiod",
        )
    return UsageError(
        f"pdebug {command} has no -l/--selector: it reads one proxy",
        hint="name one: deploy/NAME or svc/NAME reads a Running and Ready pod of it; every "
        f"pod matching it: pdebug snapshot -l {selector} -o FILE, then pdebug check FILE",
    )


def _split_short_equals(args: list[str]) -> list[str]:
    """``-o=json`` as ``-o json``, as istioctl's flag parser (pflag) reads it.

    Click would take ``=json`` as the value.
    """
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        if len(arg) > 3 and arg[0] == "-" and arg[1].isalpha() and arg[2] == "=":
            out += [arg[:2], arg[3:]]
        else:
            out.append(arg)
    return out


def _glued_v(arg: str) -> bool:
    return arg.startswith("-v") and arg[2:].isdigit()


def _verbosity(arg: str, level: str) -> list[str]:
    """The ``-v/--verbosity N`` of istioctl proxy-status: 1 and more is one column per type."""
    if not level.isdigit():
        raise UsageError(
            f"{arg}: needs a number (istioctl proxy-status -v 1)",
            hint="-v 1 (the same as --layout per-type) shows one column per xDS type",
        )
    return ["--layout", "per-type"] if int(level) >= 1 else []


def _has_output(args: list[str]) -> bool:
    for arg in args:
        if arg == "--":
            return False
        if arg in ("-o", "--output") or arg.startswith(("-o", "--output=")):
            return True
    return False


def _format(value: str, command: str) -> str:
    if command == "stats" and value.lower() in ("prom", "prom-merged"):
        raise UsageError(
            f"-o {value}: pdebug stats prints the stats as a table or -o json|yaml, not "
            "istioctl envoy-stats' Prometheus text",
            hint="pdebug stats SOURCE (a saved /stats/prometheus is read too); "
            "pdebug stats SOURCE -o json",
        )
    return "table" if value.lower() == "short" else value


def _bool_flag(command: str, value: str) -> str | None:
    low = value.lower()
    if low not in _TRUE and low not in _FALSE:
        raise UsageError(
            f"--verbose={value}: not true or false", hint="--verbose=false or --no-verbose"
        )
    if command not in VERBOSE:
        if low in _TRUE:
            return None  # what pdebug prints anyway
        raise UsageError(
            f"pdebug {command} has no --verbose option",
            hint="listeners and routes take --verbose=false (the same as --no-verbose)",
        )
    return "--verbose" if low in _TRUE else "--no-verbose"


def normalize(args: list[str]) -> list[str]:
    """``args`` as pdebug's own command line (see the module docstring)."""
    root, moved, rest = _split_leading(args)
    if not rest:
        if not moved or set(root) & _ROOT_OPTS:
            return root  # `pdebug -n x --help` is a request for help
        raise UsageError(
            f"missing COMMAND after {' '.join(moved)}",
            hint="e.g. pdebug -n NS clusters pod/NAME; pdebug --help lists the commands",
        )
    command, rest = rest[0], rest[1:]
    if command in ("proxy-config", "pc") and _subcommand_at(rest) < len(rest):
        at = _subcommand_at(rest)
        if rest[at] in _PC_WORKLOAD:  # istioctl < 1.22: pc workload, zc workload since
            return normalize(root + moved + ["zc", "workload"] + rest[:at] + rest[at + 1 :])
    if command in ("proxy-config", "pc"):
        command, rest = _view_of(command, rest)
        if command == "bootstrap" and not _has_output(moved + rest):
            rest = [*rest, "-o", "json"]  # istioctl's pc bootstrap prints JSON by default
    elif command in ("ztunnel-config", "zc") and rest and _subcommand_at(rest) == len(rest):
        raise UsageError(  # zc -f dump.json: Click said "No such option: -f"
            f"pdebug {command} needs a view: workload|w, service|svc, policy|pol, "
            "certificate|certs, connections|cons, all",
            hint=f"e.g. pdebug {command} workload -f dump.json",
        )
    elif command in ("ztunnel-config", "zc") and 0 < _subcommand_at(rest) < len(rest):
        # zc -f FILE workload: istioctl finds the view after the options; so does pdebug
        at = _subcommand_at(rest)
        if rest[at] in ("-h", "--help"):
            return root + [command, "--help"]  # zc -f FILE --help: the group's help
        if rest[at] != "--":
            return normalize(root + [command, rest[at]] + moved + rest[:at] + rest[at + 1 :])
    elif command in ("ztunnel-config", "zc") and rest[:1] in (["log"], ["o"]):
        raise UsageError(
            f"pdebug {command} {rest[0]}: pdebug does not change ztunnel's log level (it only "
            "reads)",
            hint=f"istioctl {command} log POD --level LEVEL does; pdebug never changes the cluster",
        )
    elif command in ("x", "experimental") and rest[:1] in (["ztunnel-config"], ["zc"]):
        return normalize(root + moved + rest)  # istioctl <= 1.22's x ztunnel-config
    elif command in ("x", "experimental") and rest[:1] == ["envoy-stats"]:
        command, rest = "stats", rest[1:]
    elif command in ("x", "experimental"):
        word = rest[0] if rest else ""
        raise UsageError(
            f"pdebug {command} {word}".rstrip() + ": pdebug has only istioctl's experimental "
            "envoy-stats (pdebug stats)"
            + (
                " and no describe (it reads proxies, not Istio's config)"
                if word == "describe"
                else ""
            ),
            hint="pdebug check POD says what is wrong with a proxy's config; pdebug trace POD "
            "URL follows one request through it",
        )
    elif command in ISTIOCTL_ONLY:
        message, hint = ISTIOCTL_ONLY[command]
        raise UsageError(f"no such command {command!r} (istioctl's): {message}", hint=hint)
    elif command == "help":
        return root + (rest[:1] if rest else []) + ["--help"]
    return root + [command] + _rewrite_options(command, moved + rest)


#: ``-o`` values that name a format: a mistake where ``-o`` names the file to write.
FORMAT_NAMES = frozenset({"json", "yaml", "yml", "wide", "table", "markdown", "md", "short"})
_FILE_EXAMPLE = {
    "dump": "pdebug dump pod/NAME -o proxy.tar.gz",
    "report": "pdebug report dump.json -o report.html",
    "snapshot": "pdebug snapshot -n NS -o incident.tar.gz",
}


def file_output(command: str, value: str | None) -> None:
    """Refuse a format name as the file ``-o`` of ``dump``, ``report`` and ``snapshot``."""
    if value is not None and value.lower() in FORMAT_NAMES:
        raise UsageError(
            f"-o {value}: pdebug {command}'s -o names the file to write, not a format",
            hint=f"e.g. {_FILE_EXAMPLE[command]} ('-o -' writes to stdout); the views take "
            "-o json, yaml, wide...",
        )


def refuse_terminal(command: str, suffix: str) -> None:
    """``-o -`` on a terminal: a bundle is binary, refused there (exit 2) as ``tar czf -`` does."""
    import sys

    if sys.stdout.isatty():
        raise UsageError(
            f"-o -: pdebug {command} writes a binary bundle, not shown on a terminal",
            hint=f"redirect it: pdebug {command} ... -o - > capture{suffix}",
        )


@contextlib.contextmanager
def stdout_file(command: str, suffix: str, *, checked: bool = False) -> Iterator[str]:
    """``-o -``: a temporary file's path to write; on leaving, the file goes to stdout.

    A terminal is refused first (:func:`refuse_terminal`; ``checked``: the caller does it
    in the block, at its turn). When the block raises, nothing is copied.
    """
    import os
    import shutil
    import sys
    import tempfile

    if not checked:
        refuse_terminal(command, suffix)
    with tempfile.TemporaryDirectory(prefix=".pdebug-stdout-") as tmp:
        path = os.path.join(tmp, "capture" + suffix)
        yield path
        sys.stdout.flush()
        with open(path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def via_stdout(command: str, suffix: str, write: Callable[[str], T]) -> T:
    """``-o -``: ``write(path)`` into :func:`stdout_file`; returns what it returned."""
    with stdout_file(command, suffix) as path:
        return write(path)


__all__ = [
    "FILE_OUTPUT",
    "VIEWS",
    "file_output",
    "normalize",
    "refuse_terminal",
    "stdout_file",
    "via_stdout",
]


def suggest_command(word: str, commands: list[tuple[str, bool]]) -> list[str]:
    """Commands the user may have meant by ``word``, as their visible names.

    ``commands`` is (name, hidden) for every registered name; a hidden one is an alias.
    Aliases count when they match exactly or closely but are suggested as the command they
    stand for. Short words (two letters) only match a command's beginning: difflib would
    find ``r`` and ``c`` close to ``rc``, which helps nobody.
    """
    import difflib

    word = word.lower()
    canonical = {**{v: v for v in VIEWS.values()}, **VIEWS}
    visible = [name for name, hidden in commands if not hidden]
    every = [name for name, _ in commands] + list(VIEWS) + ["proxy-config", "pc"]

    def shown(name: str) -> str:
        return canonical.get(name, name) if canonical.get(name, name) in visible else name

    found: list[str] = []
    if word in VIEWS:
        found.append(shown(word))
    if len(word) <= 2:
        found += [name for name in visible if name.startswith(word)]
    else:
        found += [name for name in visible if name.startswith(word[:4]) and len(word) >= 4]
        found += [shown(n) for n in difflib.get_close_matches(word, every, n=4, cutoff=0.75)]
    unique: list[str] = []
    for name in found:
        if name not in unique and name != word:
            unique.append(name)
    return unique[:3]
