"""Regressions found by helper fuzzhunt (session 10): hostile names in the report page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from pdebug.render.escape import escape_cell
from tests.harness import FIXTURES, ROOT

DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"
SCRIPT = ROOT / "pdebug" / "report" / "static" / "report.js"
STATIC_BLOCK = re.compile(r'id="pdebug-static"(.*?)<script', re.S)
#: Characters that make a name read other than it is, or not show at all: bidi overrides
#: and isolates, marks, zero-width characters, a soft hyphen, a BOM, a tag character,
#: C0/C1 controls, a line separator and a no-break space.
TRICKS = ["\u202e", "\u2066", "\u200f", "\u061c", "\u200b", "\u2060", "\u00ad", "\ufeff",
          "\U000e0041", "\x1b", "\x9b", "\u2028", "\u00a0"]  # fmt: skip


def _tricky_dump(tmp_path):
    """The real sidecar dump with each trick inside one cluster's name."""
    doc = json.loads(DUMP.read_text())
    section = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    clusters = section["dynamic_active_clusters"]
    for i, trick in enumerate(TRICKS):
        entry = clusters[i % len(clusters)]["cluster"]
        entry["name"] = f"{entry['name']}{trick}x"
    path = tmp_path / "tricky.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_reports_static_block_shows_bidi_and_zero_width_characters_escaped(pdebug, tmp_path):
    """A cluster named ``ab\\u202ecd`` (or with a zero-width space) was written raw into
    the page's server-rendered block (its findings, its title), where a browser shows
    it reversed or not at all; the text tables showed ``\\u202e``. Now the block shows
    the same escapes as the tables."""
    page = tmp_path / "r.html"
    title = "incident\u202e\u200b\x1b[2J"
    r = pdebug("report", _tricky_dump(tmp_path), "-o", page, "--title", title)
    assert r.code == 0, r.err
    block = STATIC_BLOCK.search(page.read_text())
    assert block is not None
    text = block.group(1)
    raw = sorted({f"U+{ord(c):04X}" for c in text if not c.isprintable() and c != "\n"})
    assert not raw, raw
    assert "incident\\u202e\\u200b\\x1b[2J" in text


def _run_visible(samples: list[str]) -> list[str]:
    """The page script's ``visible`` function (cut out of report.js) over ``samples``."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page script's escaping is not run")
    source = SCRIPT.read_text()
    found = re.search(r"// visible:begin.*?\n(.*?)\n\s*// visible:end", source, re.S)
    assert found, "report.js lost its visible() function (or its markers)"
    program = found.group(1) + (
        "\nconst input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "\nprocess.stdout.write(JSON.stringify(input.map(visible)));"
    )
    done = subprocess.run(
        [node, "-e", program],
        input=json.dumps(samples),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_the_page_script_shows_unprintable_characters_as_the_tables_do():
    """The page's tables, tooltips, labels and title were set with ``textContent`` of the
    raw name: ``\\u202e`` reversed the rest of the cell, a zero-width space hid itself.
    The script now writes each such character as pdebug's text tables do (Python's
    ``repr`` spelling); newlines and tabs of pdebug's own text are kept."""
    samples = [f"a{t}b" for t in TRICKS] + ["plain", "caf\u00e9 \u2026 \u4e2d", "</script>"]
    samples += ["\ud800 lone", "two\nlines\tand tab"]
    got = _run_visible(samples)
    want = [escape_cell(s) for s in samples[:-1]] + ["two\nlines\tand tab"]
    assert got == want


@pytest.mark.parametrize("stamp", ["2026-11-25T21:49:12.798Z", "2026-11-25T21:49:12.798123456Z"])
def test_a_yaml_dumps_unquoted_timestamps_stay_as_written(pdebug, tmp_path, stamp):
    """A YAML dump whose converter left ``last_updated`` unquoted (valid YAML; found by
    hand, now also by tests/test_fuzz10.py's YAML styles) read it as a datetime: it showed
    ``2026-11-25T21:49:12.798000+00:00`` where the JSON dump shows ``...798Z``, and
    nanoseconds were cut to microseconds. It is now the text the dump holds."""
    import yaml

    doc = json.loads(DUMP.read_text())
    text = yaml.safe_dump(doc, sort_keys=False)
    text = re.sub(r"last_updated: '[^']*'", f"last_updated: {stamp}", text)
    assert f"last_updated: {stamp}\n" in text
    path = tmp_path / "dump.yaml"
    path.write_text(text)
    r = pdebug("clusters", path, "-o", "wide")
    assert r.code == 0, r.err
    assert stamp in r.out and "+00:00" not in r.out
    got = pdebug("all", path, "-o", "json")
    assert got.code == 0, got.err
    assert stamp in got.out and "+00:00" not in got.out


ZTUNNEL = FIXTURES / "istioctl" / "ztunnel-config" / "dump.json"


@pytest.mark.parametrize(
    ("extra", "says"),
    [("1: x", "a !!int mapping key at configs[1]"),
     ("null: x", "a !!null mapping key at configs[1]"),
     ("x: !!binary aGVsbG8=", "a !!binary value at configs[1].x"),
     ("x: !!set {a, b}", "a !!set value at configs[1].x")],
)  # fmt: skip
@pytest.mark.parametrize("command", [["clusters"], ["all", "-o", "json"], ["check"]])
def test_a_yaml_dump_holding_what_json_cannot_is_refused(pdebug, tmp_path, extra, says, command):
    """A YAML dump with a mapping key that is not a string, or a ``!!binary``/``!!set``
    value (YAML only; found by hand, now also by tests/test_fuzz10.py) was an internal
    error (``TypeError: Dict key must be str``, exit 5); now exit 4 naming the place."""
    import yaml

    text = yaml.safe_dump(json.loads(DUMP.read_text()), sort_keys=False)
    anchor = "  dynamic_active_clusters:\n"
    assert anchor in text
    path = tmp_path / "dump.yaml"
    path.write_text(text.replace(anchor, f"  {extra}\n{anchor}", 1))
    r = pdebug(*command[:1], path, *command[1:])
    assert r.code == 4, r.err
    assert says in r.err and "internal error" not in r.err
    assert len(r.err.strip().splitlines()) == 2  # the error and its hint


def test_a_yaml_ztunnel_dump_with_a_number_as_a_key_is_refused(pdebug, tmp_path):
    import yaml

    doc = json.loads(ZTUNNEL.read_text())
    first = next(v for v in doc.values() if isinstance(v, list) and v and isinstance(v[0], dict))
    first[0]["@@KEY@@"] = "seven"
    text = yaml.safe_dump(doc, sort_keys=False)
    assert "'@@KEY@@': seven" in text
    text = text.replace("'@@KEY@@': seven", "7: seven")
    path = tmp_path / "zt.yaml"
    path.write_text(text)
    r = pdebug("zc", "all", path)
    assert r.code == 4, r.err
    assert "a !!int mapping key" in r.err


MARKUP = "x<img src=https://example.invalid/t.png><!-- hidden -->"


@pytest.mark.parametrize("command", [["clusters"], ["clusters", "--fqdn", "x"], ["check"]])
def test_markdown_never_carries_raw_html_from_a_name(pdebug, tmp_path, command):
    """``-o markdown`` (for pasting into a ticket) wrote a cluster named
    ``x<img src=...><!-- -->`` as it is: pasted into GitHub or GitLab, the image loads
    and the comment hides text. A ``<`` from the input is now ``&lt;`` (shows as ``<``)."""
    doc = json.loads(DUMP.read_text())
    section = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    for entry in section["dynamic_active_clusters"]:
        entry["cluster"]["name"] = MARKUP + entry["cluster"]["name"]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    r = pdebug(command[0], path, *command[1:], "-o", "markdown")
    assert r.code in (0, 1), r.err
    # the URL's ":" escaped too: GitHub would link it (leftovers8)
    assert "x&lt;img src=https\\://example.invalid/t.png>&lt;!-- hidden -->" in r.out
    assert "<img" not in r.out and "<!--" not in r.out


@pytest.mark.parametrize(
    ("where", "include"),
    [(r'"dynamic_active_clusters": \[\s*\{\s*"version_info": "1",\s*"cluster": \{\s*"@type": '
      r'"[^"]+Cluster",\s*"name": "BlackHoleCluster"', ()),
     (r'"cluster": \{\s*"@type": "[^"]+Cluster",\s*"name": "agent"', ("--include", "static"))],
    ids=["dynamic", "static"],
)  # fmt: skip
def test_diff_sees_the_name_every_view_sees_when_a_name_key_comes_twice(
    pdebug, tmp_path, where, include
):
    """A cluster written ``{"name": "BlackHoleCluster", "name": "renamed.example"}`` (JSON
    readers keep the last; Envoy never writes it) is ``renamed.example`` in ``clusters``,
    and so in ``diff ORIGINAL EDITED``: the diff's fast first-``name`` regex asks again
    (``_misnamed``) before it prints a name. A static cluster (``agent``) is compared only
    with ``--include static``: without it ``diff`` compares dynamic resources, as istioctl
    does, and says "Clusters Match" whatever the static ones hold (this test once edited
    ``agent`` and read that as the duplicate key misread; tests/test_fuzz_dupkeys.py
    checks duplicate keys of every kind, at any depth, in both orders)."""
    text = DUMP.read_text()
    found = re.search(where, text)
    assert found
    old = re.findall(r'"name": "([^"]+)"$', found.group(0))[0]
    edited = tmp_path / "edited.json"
    edited.write_text(text[: found.end()] + ', "name": "renamed.example"' + text[found.end() :])
    view = pdebug("clusters", edited, "-o", "json")
    assert view.code == 0 and "renamed.example" in view.out
    r = pdebug("diff", DUMP, edited, *include)
    assert r.code == 1 and "Clusters Don't Match" in r.out
    assert "+ renamed.example: only in" in r.out and f"- {old}: only in" in r.out
    # a duplicate that the original value follows reads as the original: no change
    twice = found.group(0).replace(
        f'"name": "{old}"', f'"name": "renamed.example", "name": "{old}"'
    )
    edited.write_text(text[: found.start()] + twice + text[found.end() :])
    view = pdebug("clusters", edited, "-o", "json")
    assert view.out == pdebug("clusters", DUMP, "-o", "json").out
    r = pdebug("diff", DUMP, edited, *include)
    assert r.code == 0 and "Clusters Match" in r.out


ALL_DUMP = FIXTURES / "istioctl" / "proxy-config-all" / "config_dump.json"


def _every_dict(value):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _every_dict(v)
    elif isinstance(value, list):
        for v in value:
            yield from _every_dict(v)


@pytest.mark.parametrize(
    ("field", "damage"),
    [("exact_match_map", lambda m: list(m.values())), ("exact_match_map", lambda m: "x"),
     ("exact_match_map", lambda m: 7), ("range_matchers", lambda v: {"a": v}),
     ("ranges", lambda v: 10)],
)  # fmt: skip
def test_a_damaged_filter_chain_matcher_is_not_read_not_a_crash(pdebug, tmp_path, field, damage):
    """istioctl's proxy-config-all dump with one ``filter_chain_matcher`` map written as a
    list (found by tests/test_fuzz.py, seed 2026, case 426, "retype") was an internal
    error in ``listeners -o wide``, ``all -o wide`` and ``report`` (``'list' object has
    no attribute 'items'``). The matcher is now not read (the chains show their own
    match, as without ``-o wide``): never a partial walk that would call chains the
    matcher does pick "never picked"."""
    doc = json.loads(ALL_DUMP.read_text())
    hits = 0
    for node in _every_dict(doc):
        if field in node:
            inner = node[field]
            if field.endswith("_map"):
                inner["map"] = damage(inner["map"])
            else:
                node[field] = damage(node[field])
            hits += 1
    assert hits
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    for argv in (["listeners", path, "-o", "wide"], ["all", path, "-o", "wide"]):
        r = pdebug(*argv)
        assert r.code == 0, r.err
        assert "never picked" not in r.out
    r = pdebug("report", path, "-o", tmp_path / "r.html")
    assert r.code in (0, 1), r.err


@pytest.mark.parametrize(
    ("dump", "key", "command"),
    [(ALL_DUMP, "filter_chain_matcher", ["listeners", "-o", "wide"]),
     (ALL_DUMP, "filter_chain_matcher", ["all", "-o", "wide"]),
     (DUMP, "common_tls_context", ["trace", "http://reviews:9080/"]),
     (DUMP, "common_tls_context", ["clusters", "-o", "wide"])],
)  # fmt: skip
@pytest.mark.parametrize("bad", [b"\xff", b"\xc3(", b"\xed\xa0\x80"])
def test_invalid_utf8_in_a_field_kept_raw_is_not_a_crash(pdebug, tmp_path, dump, key, command, bad):
    """Bytes that are not UTF-8 inside a field pdebug keeps raw and reads only when asked
    (a listener's ``filter_chain_matcher``, a cluster's transport socket) were an internal
    error (``UnicodeDecodeError``, exit 5) in ``listeners -o wide``, ``all -o wide``,
    ``report`` and ``trace`` (found by tests/test_fuzz.py seed 3030, case 356, "utf8").
    Now that field is read as damaged, as a JSON error in it already was."""
    data = dump.read_bytes()
    at = data.index(f'"{key}"'.encode())
    value = re.compile(rb'"[^"\\]{2,}"').search(data, at + len(key) + 2)
    assert value
    damaged = data[: value.start() + 2] + bad + data[value.start() + 2 :]
    path = tmp_path / "d.json"
    path.write_bytes(damaged)
    r = pdebug(command[0], path, *command[1:])
    assert r.code in (0, 1, 4, 6), r.err
    assert "internal error" not in r.err
