"""Usage errors are usage errors (#12.7): a bad regex or admin port is exit 2 naming it."""

from __future__ import annotations

import pytest

from pdebug.errors import ExitCode
from tests.harness import FIXTURES

DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"


@pytest.mark.parametrize("pattern", ["(", "a(b", "[", "*x", "x{2,1}", "(?P<a>x)(?P<a>y)"])
def test_diff_ignore_regex_that_does_not_compile(pdebug, pattern):
    result = pdebug("diff", DUMP, DUMP, "--ignore", pattern)
    assert result.code == ExitCode.USAGE, result.err
    first = result.err.splitlines()[0]
    assert first.startswith(f"pdebug: error: --ignore {pattern}: not a regular expression (")
    assert "internal error" not in result.err
    # a good one still works
    assert pdebug("diff", DUMP, DUMP, "--ignore", "connect_timeout|metadata").code == 0


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("http://127.0.0.1:99999", "port 99999 is out of range (1-65535)"),
        ("localhost:99999", "port 99999 is out of range (1-65535)"),
        ("http://[::1]:70000", "port 70000 is out of range (1-65535)"),
        ("http://127.0.0.1:0", "port 0 is out of range (1-65535)"),
        ("127.0.0.1:abc", "port 'abc' is not a number"),
        ("http://127.0.0.1:abc", "port 'abc' is not a number"),
        ("https://127.0.0.1:-1", "port '-1' is not a number"),
        ("127.0.0.1:", "no port after ':'"),
        ("127.0.0.1:\u00b2", "port '\u00b2' is not a number"),
        ("http://127.0.0.1:\uff11\uff12", "port '\uff11\uff12' is not a number"),
        ("http://[::1", "Invalid IPv6 URL"),
    ],
)
def test_admin_port_out_of_range_or_not_a_number(pdebug, source, why):
    for command in ("clusters", "check", "all"):
        result = pdebug(command, source)
        assert result.code == ExitCode.USAGE, (command, result.err)
        assert result.err.splitlines()[0] == f"pdebug: error: SOURCE {source}: {why}"
        assert result.err.splitlines()[1].startswith("hint: e.g. http://127.0.0.1:15000")
    admin = pdebug("listeners", "--admin", source)
    assert admin.code == ExitCode.USAGE
    assert admin.err.splitlines()[0] == f"pdebug: error: --admin {source}: {why}"
    other = pdebug("diff", DUMP, source)
    assert other.code == ExitCode.USAGE and why in other.err


def test_admin_url_that_is_not_http_is_a_usage_error(pdebug):
    result = pdebug("clusters", "--admin", "ftp://127.0.0.1:15000")
    assert result.code == ExitCode.USAGE
    assert result.err.startswith("pdebug: error: --admin ftp://127.0.0.1:15000: not an Envoy admin")
