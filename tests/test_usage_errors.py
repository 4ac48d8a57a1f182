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


#: A SOURCE that is malformed (a usage error on parsing) and an output that is wrong.
BAD_SOURCE = "127.0.0.1:99999"
SOURCE_ERROR = f"pdebug: error: SOURCE {BAD_SOURCE}: port 99999 is out of range (1-65535)"


@pytest.mark.parametrize(
    ("args", "first"),
    [
        # the views parse SOURCE (and say what is wrong with it) before they check -o
        (("clusters", BAD_SOURCE, "-o", "xml"), SOURCE_ERROR),
        (("listeners", BAD_SOURCE, "-o", "xml"), SOURCE_ERROR),
        (("endpoints", BAD_SOURCE, "-o", "xml"), SOURCE_ERROR),
        (("secrets", BAD_SOURCE, "-o", "xml"), SOURCE_ERROR),
        (("all", BAD_SOURCE, "-o", "xml"), SOURCE_ERROR),
        (("clusters", "--admin", "https://127.0.0.1:15000", "-o", "xml"), "speaks plain HTTP"),
        # check, trace and stats check -o (and their other options) first
        (("check", BAD_SOURCE, "-o", "xml"), "unknown output format 'xml'"),
        (("check", BAD_SOURCE, "--fail-on", "nope"), "--fail-on"),
        (("trace", BAD_SOURCE, "http://a/", "-o", "xml"), "unknown output format 'xml'"),
        (("stats", BAD_SOURCE, "-o", "xml"), "unknown output format 'xml'"),
        # report and dump check their output file first
        (("report", BAD_SOURCE), "missing -o FILE"),
        (("report", BAD_SOURCE, "-o", "json"), "-o json: pdebug report's -o names the file"),
        (("report", BAD_SOURCE, "-o", "no/dir/page.html"), "cannot write no/dir/page.html"),
        (("report", BAD_SOURCE, "-o", "page.html"), SOURCE_ERROR),
        (("dump", BAD_SOURCE, "-o", "yaml"), "-o yaml: pdebug dump's -o names the file"),
        # dump parses SOURCE before it looks at the file's name, or whether it exists
        (("dump", BAD_SOURCE, "-o", "out.zip"), SOURCE_ERROR),
        (("dump", BAD_SOURCE, "-o", "no/dir/out.tar.gz"), SOURCE_ERROR),
    ],
)
def test_which_error_shows_first_when_source_and_output_are_both_wrong(
    pdebug, tmp_path, monkeypatch, args, first
):
    """Both SOURCE and the output are wrong: the error each command has always shown first."""
    monkeypatch.chdir(tmp_path)
    result = pdebug(*args)
    assert result.code == (ExitCode.SOURCE_UNAVAILABLE if "cannot" in first else ExitCode.USAGE)
    line = result.err.splitlines()[0]
    assert line.startswith("pdebug: error: ") and first in line, result.err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    ("source", "first"),
    [
        (BAD_SOURCE, SOURCE_ERROR),  # SOURCE is parsed before the terminal is refused
        ("http://127.0.0.1:1", "-o -: pdebug dump writes a binary bundle, not shown on a terminal"),
    ],
)
def test_dump_to_a_terminal_is_refused_after_source_is_parsed(
    pdebug, monkeypatch, tmp_path, source, first
):
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    result = pdebug("dump", source, "-o", "-")
    assert result.code == ExitCode.USAGE, result.err
    line = result.err.splitlines()[0]
    assert line.startswith("pdebug: error: ") and first in line, result.err
    assert result.out == ""
