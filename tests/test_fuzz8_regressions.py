"""Regressions found by helper fuzz8's smoke run and seeded mutations (status line, BOM)."""

from __future__ import annotations

import re

import pytest

from tests.harness import FIXTURES

DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"


@pytest.mark.parametrize("prefix", [b"200\n", b"200\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf200\n"])
@pytest.mark.parametrize("command", ["clusters", "all", "check"])
def test_a_damaged_dump_after_a_status_line_names_the_files_byte(pdebug, tmp_path, prefix, command):
    """``pilot-agent request GET config_dump`` saved with its ``200`` line (or a UTF-8 BOM)
    and damaged: the error's "(byte N)" was counted from after the line, N bytes short of
    where ``head -c``/``dd`` find the damage; now it is the file's own offset."""
    data = DUMP.read_bytes()
    cut = 150_000
    damaged = data[:cut] + b"}" + data[cut + 1 :]  # a stray brace in the clusters section
    plain = tmp_path / "plain.json"
    plain.write_bytes(damaged)
    pasted = tmp_path / "pasted.json"
    pasted.write_bytes(prefix + damaged)
    offsets = []
    for path in (plain, pasted):
        r = pdebug(command, path)
        assert r.code == 4, r.err
        found = re.search(r"\(byte (\d+)\)", r.out + r.err)  # check: in its report
        assert found, r.err
        offsets.append(int(found.group(1)))
    assert offsets[1] == offsets[0] + len(prefix)
    # what the file holds there is what the plain file holds there
    assert (
        pasted.read_bytes()[offsets[1] - 2 : offsets[1] + 2]
        == damaged[offsets[0] - 2 : offsets[0] + 2]
    )


def test_a_dump_after_a_status_line_reads_as_without_it(pdebug, tmp_path):
    """The offsets kept (the line read as spaces) change nothing else: same tables, same
    ``-o json --keys camel``."""
    pasted = tmp_path / "pasted.json"
    pasted.write_bytes(b"200\n" + DUMP.read_bytes())
    for argv in (["all"], ["all", "-o", "json", "--keys", "camel"], ["check"]):
        want = pdebug(argv[0], DUMP, *argv[1:])
        got = pdebug(argv[0], pasted, *argv[1:])
        assert (got.code, got.out) == (want.code, want.out.replace(str(DUMP), str(pasted)))


@pytest.mark.parametrize(
    ("days", "says"),
    [(".nan", ".nan is not a number of days"), (".inf", "greater than the maximum"),
     ("1.0e+308", "greater than the maximum"), ("1" + "0" * 20, "greater than the maximum")],
)  # fmt: skip
def test_a_runbooks_min_days_out_of_range_is_refused_not_a_crash(pdebug, tmp_path, days, says):
    """``certificates: {min_days: .nan}`` (or inf, 1e308) passed the schema and ended in
    timedelta: exit 5 (``cannot convert float NaN to integer``; found by
    ``PDEBUG_FUZZ_SEED=801 make fuzz``, case 113, on proxy-config-all, whose certificates
    are read). Now the runbook is refused at its line, as ``--cert-days`` is bounded."""
    book = tmp_path / "book.yaml"
    book.write_text(
        f"version: 1\nexpectations:\n  - name: c\n    certificates: {{min_days: {days}}}\n"
    )
    r = pdebug("assert", book, FIXTURES / "istioctl" / "proxy-config-all" / "config_dump.json")
    assert r.code == 4, r.err
    assert says in r.err and "book.yaml:4:" in r.err
    assert "internal error" not in r.err
