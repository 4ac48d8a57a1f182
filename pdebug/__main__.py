"""``python -m pdebug``.

Run from a checkout with a Python that lacks pdebug's dependencies (or is too old), it
says so in one line with the way to install, instead of a traceback. This file keeps to
syntax every Python 3 parses, so that the version check itself can run.
"""

import sys

_INSTALL = (
    "hint: make install, then . .venv/bin/activate (or pipx install . for a `pdebug` command)"
)


def _missing():  # type: () -> str | None
    """The first dependency this Python cannot import, if any."""
    import importlib.util

    for module in ("typer", "msgspec", "orjson", "yaml", "tabulate"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


def _cannot_run(why):  # type: (str) -> None
    """Say why this Python cannot run pdebug, and how to install it; exit 3."""
    print("pdebug: error: " + why, file=sys.stderr)
    print(_INSTALL, file=sys.stderr)
    raise SystemExit(3)


if sys.version_info < (3, 11):  # noqa: UP036 - this is the check that says so
    _cannot_run(
        f"pdebug needs Python 3.11 or newer; this is "
        f"{sys.version_info[0]}.{sys.version_info[1]} ({sys.executable})"
    )
_absent = _missing()
if _absent is not None:
    _cannot_run(
        f"this Python ({sys.executable}) does not have pdebug's dependencies "
        f"(no module {_absent!r})"
    )

from pdebug.cli import main  # noqa: E402

raise SystemExit(main())
