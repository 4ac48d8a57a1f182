"""Regressions found by helper fuzz8's smoke run and seeded mutations (status line, BOM)."""

from __future__ import annotations

import json
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


def _both_spellings(tmp_path):
    doc = json.loads(DUMP.read_bytes())
    for sec in doc["configs"]:
        if sec["@type"].endswith("ClustersConfigDump"):
            sec["version_info"], sec["versionInfo"] = "snake-v", "camel-v"
            cluster = sec["dynamic_active_clusters"][0]["cluster"]
            cluster["x_y"], cluster["xY"] = 1, 2  # two unknown fields
            cluster["circuit_breakers"] = {
                "thresholds": [{"max_connections": 1, "maxConnections": 2}]
            }
    path = tmp_path / "both.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("view", ["all", "clusters"])
def test_keys_camel_keeps_both_of_two_keys_of_one_spelling(pdebug, tmp_path, fmt, view):
    """An object with ``x_y`` and ``xY`` (or a field in both spellings, as protojson
    refuses and a hand-edited dump has): ``--keys camel`` respelled both to ``xY``, so
    one value was lost (``all -o json`` printed the key twice, readers keep the last).
    Now such keys stay as written, no value lost (found by fuzz8's key-set comparison of
    ``-o json`` with ``-o json --keys camel``)."""
    import yaml

    path = _both_spellings(tmp_path)
    r = pdebug(view, path, "-o", fmt, "--keys", "camel")
    assert r.code == 0, r.err
    text = r.out
    doc = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    flat = json.dumps(doc)
    for kept in ('"x_y": 1', '"xY": 2', '"max_connections": 1', '"maxConnections": 2'):
        assert kept in flat
    if view == "all":
        assert '"version_info": "snake-v"' in flat and '"versionInfo": "camel-v"' in flat
    assert '"connectTimeout"' in flat and '"connect_timeout"' not in flat  # others respelled


@pytest.mark.parametrize("prefix", [b"", b"200\n", b"\xef\xbb\xbf"])
def test_an_empty_object_after_a_status_line_is_named_as_without_it(pdebug, tmp_path, prefix):
    """``200\\n{}`` as SOURCE was called "a /clusters?format=json document" (the check for
    a bare ``{}`` looked at the bytes before the status line was skipped); now it is "an
    empty JSON object", as ``{}`` is. As ``--clusters-json`` it is still no clusters."""
    empty = tmp_path / "empty.json"
    empty.write_bytes(prefix + b"{}")
    r = pdebug("clusters", empty)
    assert r.code == 4
    assert "an empty JSON object ({}), not an Envoy config dump" in r.err, r.err
    r = pdebug("endpoints", DUMP, "--clusters-json", empty)
    assert r.code == 0, r.err
