"""leftovers9: what usersaudit found and left (CHANGELOG, eleventh session, its Left list).

Each test failed before its fix: ``-l`` before the command, ``trace`` by a host name into
chains that match only by destination IP, and ``check`` on a certificate kept in a file on
the proxy. (``eds`` on a dump without EDS: tests/test_cli_habits.py.)
"""

from __future__ import annotations

import pytest

from pdebug.cli.habits import normalize
from pdebug.errors import ExitCode
from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real/sidecar/config_dump.json"


def _one_error(result, code: int) -> tuple[str, str]:
    assert result.code == code, result.err
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 2, result.err
    assert lines[0].startswith("pdebug: error: ") and lines[1].startswith("hint: ")
    return lines[0], lines[1]


# --- -l/--selector before the command (kubectl's habit: options first) ---------------------


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["-l", "app=productpage", "clusters", SIDECAR], "clusters"),
        (["-lapp=productpage", "listeners", SIDECAR], "listeners"),
        (["--selector", "app=productpage", "pc", "route", SIDECAR], "routes"),
        (["--selector=app=productpage", "-n", "shop", "check"], "check"),
        (["-n", "shop", "-l", "app=productpage", "x", "envoy-stats"], "stats"),
    ],
)
def test_selector_before_the_command_says_how_to_read_many(pdebug, args, command):
    """It was Click's "No such option: -l" (the refusal covered -l after the command)."""
    error, hint = _one_error(pdebug(*args), ExitCode.USAGE)
    assert error == f"pdebug: error: pdebug {command} has no -l/--selector: it reads one proxy"
    assert "pdebug snapshot -l app=productpage -o FILE, then pdebug check FILE" in hint


def test_selector_before_status_points_at_namespace(pdebug):
    error, hint = _one_error(pdebug("-l", "app=web", "status"), ExitCode.USAGE)
    assert error.endswith("pdebug status has no -l/--selector: it shows every proxy istiod knows")
    assert "pdebug status -n NS" in hint


@pytest.mark.parametrize("command", ["snapshot", "assert"])
def test_selector_before_a_command_that_has_one_goes_to_it(command):
    """snapshot's and assert's own -l, typed first, is theirs (as -n is)."""
    args = normalize(["-l", "app=web", command, "-n", "shop"])
    assert args[0] == command
    assert args[args.index("-l") + 1] == "app=web"
    assert normalize(["--selector=app=web", command])[:2] == [command, "--selector=app=web"]
