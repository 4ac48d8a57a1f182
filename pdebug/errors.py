"""The one place exit codes and user-facing error types are defined.

Core code raises a :class:`PdebugError` subclass; only ``pdebug.cli.main`` turns it
into ``pdebug: error: <message>`` (plus ``hint: ...``) on stderr and an exit code.
The numbers are a contract for runbooks: never renumber them.
"""

from __future__ import annotations

from enum import IntEnum, unique
from typing import ClassVar


@unique
class ExitCode(IntEnum):
    """Process exit codes (documented in the README; a contract)."""

    OK = 0
    FINDINGS = 1  # diff found a difference / a check failed (kubectl diff convention)
    USAGE = 2  # bad command line (Typer's own usage errors use 2 too)
    SOURCE_UNAVAILABLE = 3  # file missing or unwritable, admin/pod unreachable
    INVALID_INPUT = 4  # the input is not what pdebug can read
    INTERNAL = 5  # a bug in pdebug: please report it with --debug output
    UNKNOWN = 6  # no answer: the input lacks what it needs (trace UNKNOWN), says what to capture
    INTERRUPTED = 130  # Ctrl-C


class PdebugError(Exception):
    """Base of every error pdebug reports to the user.

    Args:
        message: one line saying what happened, naming the input.
        hint: one line saying what to do next.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(PdebugError):
    """The command line asks for something that cannot work."""

    exit_code = ExitCode.USAGE


class UnknownFormat(UsageError):
    """``-o`` names a format no renderer knows."""

    def __init__(self, fmt: str, allowed: list[str]) -> None:
        super().__init__(
            f"unknown output format {fmt!r}",
            hint="use one of: " + ", ".join(sorted(allowed)),
        )


class SourceUnavailable(PdebugError):
    """The source could not be read: missing file, unreachable admin or pod."""

    exit_code = ExitCode.SOURCE_UNAVAILABLE


class InvalidInput(PdebugError):
    """The bytes were read but are not an Envoy config dump (or /clusters document)."""

    exit_code = ExitCode.INVALID_INPUT


class MissingSection(InvalidInput):
    """The dump is valid but lacks the section a view needs (e.g. no secrets)."""


class ZtunnelDumpGiven(InvalidInput):
    """An Envoy command was given a ztunnel (ambient) dump: ``check``/``diff`` read it too."""


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while unwinding, a Ctrl-C or SIGTERM.

    A KeyboardInterrupt raised by a signal handler inside ``threading.Condition.wait``
    (``Thread.start`` and ``Queue.get`` wait on one) leaves its lock released, and the
    ``with`` around the wait then raises ``RuntimeError: release unlocked lock``: the user
    interrupted, and that is what is said (exit 130), not an internal error.
    """
    if isinstance(exc, KeyboardInterrupt):
        return True
    return isinstance(exc, RuntimeError) and isinstance(exc.__context__, KeyboardInterrupt)
