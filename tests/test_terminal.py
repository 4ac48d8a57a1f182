"""Nothing from the input reaches a terminal raw (issue #12.4).

Names, reasons and error texts planted with ESC sequences (colours, OSC 52 clipboard
writes, OSC 8 links), CR, BEL, C1 controls, bidi overrides and invisible characters are
printed escaped by every command and format; ``-o json|yaml`` keep the data exact.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from pdebug.render.escape import (
    SafeStream,
    escape_cell,
    escape_json,
    escape_lines,
    escape_text,
    text_is_safe,
)
from pdebug.render.structured import render_json, render_yaml
from pdebug.render.text import render_markdown, render_table, render_text
from pdebug.views.table import Column, Lines, Stack, Table
from tests.harness import FIXTURES, ISTIOCTL

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"

#: What an attacker (or a broken producer) can put in a name.
HOSTILE = [
    "\x1b[31mred\x1b[0m",  # SGR colour
    "\x1b]52;c;cm0gLXJmIH4=\x07",  # OSC 52: write the clipboard
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x1b]0;title\x07",  # window title
    "over\rwrite",  # CR
    "bell\x07",
    "\x9b31m",  # C1 CSI
    "\x9d0;c1-osc\x9c",  # C1 OSC ... ST
    "\x85nel",
    "abc\u202egnp.exe",  # bidi override
    "\u2066isolate\u2069",
    "zero\u200bwidth",
    "tag\U000e0041\U000e0042",
    "nb\xa0sp",
    "two\nlines",
    "tab\tbed",
    "del\x7f",
    "nul\x00",
    "\u2028line-sep",
]


def raw_controls(text: str) -> list[str]:
    """Every character a terminal must not get raw (newline is the output's own)."""
    return sorted({ch for ch in text if not ch.isprintable() and ch != "\n"})


def assert_clean(text: str, where: str) -> None:
    bad = raw_controls(text)
    assert not bad, f"{where}: raw {[hex(ord(c)) for c in bad]} in {text[:400]!r}"


# --------------------------------------------------------------------------- unit


@pytest.mark.parametrize("value", HOSTILE)
def test_escape_cell_is_visible_printable_and_one_line(value):
    out = escape_cell(value)
    assert out.isprintable()
    assert "\n" not in out
    assert escape_cell(out) == out  # idempotent: already-escaped text is printable


def test_escapes_are_spelled_as_python_and_kubectl_readers_expect():
    assert escape_cell("a\x1bb") == "a\\x1bb"
    assert escape_cell("a\rb\nc\td") == "a\\rb\\nc\\td"
    assert escape_cell("x\u202ey") == "x\\u202ey"
    assert escape_cell("\x9b") == "\\x9b"
    assert escape_cell("t\U000e0041") == "t\\U000e0041"
    # printable text, backslashes (route regexes) and wide characters are untouched
    for fine in ("reviews.default.svc.cluster.local", r"^/api/v\d+/.*\.json$", "日本語", "é"):
        assert escape_cell(fine) == fine
    assert escape_text("line one\n\tindented\n") == "line one\n\tindented\n"
    assert escape_text("a\x1b[2Jb\n") == "a\\x1b[2Jb\n"
    assert escape_lines("one\ntwo\tthree\x1b") == "one\ntwo\\tthree\\x1b"


def test_text_is_safe_on_big_ascii_and_unicode():
    big = "outbound|9080||reviews.default.svc.cluster.local     10.1.2.3:9080\n" * 50_000
    assert text_is_safe(big)
    assert not text_is_safe(big + "\x1b")
    assert not text_is_safe("\x1b" + big)
    assert text_is_safe(big + "日本")
    assert not text_is_safe(big + "日本\u202e")


def test_table_columns_stay_aligned_with_escaped_cells():
    table = Table(
        (Column("NAME"), Column("PORT"), Column("TYPE")),
        [("a\x1b[31mb", "80", "EDS"), ("plain", "9080", "STATIC"), ("x\u202ey\tz", "1", "EDS")],
    )
    text = render_table(table, wide=False)
    assert_clean(text, "table")
    lines = text.splitlines()
    ports = ("PORT", "80", "9080", "1")
    starts = {line.index(port) for line, port in zip(lines, ports, strict=True)}
    assert len(starts) == 1, text  # PORT starts in one column on every line
    assert "a\\x1b[31mb" in text and "x\\u202ey\\tz" in text


def test_markdown_lines_and_titles_are_escaped():
    table = Table((Column("NAME"),), [("evil\x1b]52;c;AAAA\x07|x",)])
    md = render_markdown(Stack([("T\x1b[2J", table), ("note", Lines("a\x07\nb\x9b"))]))
    assert_clean(md, "markdown")
    assert "evil\\x1b]52;c;AAAA\\x07\\|x" in md
    text = render_text(Stack([("T\x1b[2J", table)], with_titles=True), wide=True)
    assert_clean(text, "titles")


def nested(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    pick = rng.choice
    return {
        pick(HOSTILE) + str(i): [pick(HOSTILE), {"n": pick(HOSTILE) + pick(HOSTILE), "i": i}]
        for i in range(40)
    }


@pytest.mark.parametrize("seed", range(5))
def test_json_and_yaml_keep_data_exact_and_print_nothing_raw(seed):
    obj = nested(seed)
    out = render_json(obj)
    assert_clean(out, "json")
    assert json.loads(out) == obj
    out = render_yaml(obj)
    assert_clean(out, "yaml")
    assert yaml.safe_load(out) == obj


def test_json_escape_spells_astral_characters_as_surrogate_pairs():
    assert json.loads(escape_json('"t\U000e0041"')) == "t\U000e0041"
    assert escape_json('"ok"') == '"ok"'


def test_structured_output_of_what_orjson_refuses():
    obj = {"big": 2**70, "lone": "\ud800\x1b"}
    assert json.loads(render_json(obj)) == obj
    assert_clean(render_json(obj), "json")
    assert yaml.safe_load(render_yaml(obj)) == obj


def test_safe_stream_escapes_writes_but_not_pdebugs_own_controls():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    inner = Tty()
    stream = SafeStream(inner)
    assert stream.isatty()
    stream.write("name \x1b]52;c;AA\x07 done\n")
    stream.write_control("\r\x1b[K")
    print("x\u202ey", file=stream)  # type: ignore[arg-type]
    assert inner.getvalue() == "name \\x1b]52;c;AA\\x07 done\n\r\x1b[Kx\\u202ey\n"


def test_snapshot_progress_line_escapes_pod_names_and_reasons():
    from pdebug.cli.snapshot import _Printer

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for tty in (True, False):
        inner = Tty() if tty else io.StringIO()
        printer = _Printer(SafeStream(inner))  # type: ignore[arg-type]
        record = SimpleNamespace(
            status="failed",
            label="pod/evil\x1b]0;pwned\x07.default",
            reason="",
            errors=["pod/evil: admin said \x1b[2J\rgone\x9b"],
        )
        printer(SimpleNamespace(record=record, done=1, total=2))  # type: ignore[arg-type]
        printer.finish()
        out = inner.getvalue().replace("\r\x1b[K", "")  # the printer's own redraw
        assert_clean(out, "progress")
        assert "evil\\x1b]0;pwned\\x07" in out


# --------------------------------------------------------------------------- commands


NAME_KEYS = frozenset(
    {
        "name",
        "cluster",
        "route_config_name",
        "service_name",
        "stat_prefix",
        "version_info",
        "sni",
        "prefix",
        "path",
        "domains",
        "hostname",
        "server_names",
        "transport_protocol",
        "id",
    }
)


def poison(doc: Any, rng: random.Random, rate: float) -> Any:
    """``doc`` with hostile text planted in names (seeded)."""

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, str) and key in NAME_KEYS and rng.random() < rate:
            cut = rng.randrange(len(value) + 1)
            return value[:cut] + rng.choice(HOSTILE) + value[cut:]
        return value

    return walk(doc, None)


@pytest.fixture(scope="module", params=[1, 2])
def hostile_dump(request, tmp_path_factory) -> Path:
    rng = random.Random(request.param)
    doc = poison(json.loads(SIDECAR.read_text()), rng, 0.3)
    path = tmp_path_factory.mktemp("hostile") / f"dump-{request.param}.json"
    path.write_text(json.dumps(doc))
    return path


VIEWS = ["clusters", "listeners", "routes", "endpoints", "secrets", "bootstrap", "ecds", "all"]
FORMATS = ["table", "wide", "markdown", "json", "yaml"]


def test_every_view_and_format_prints_nothing_raw(pdebug, hostile_dump):
    for view in VIEWS:
        for fmt in FORMATS:
            r = pdebug(view, hostile_dump, "-o", fmt)
            where = f"{view} -o {fmt} (exit {r.code})"
            assert r.code in (0, 1, 4), where + r.err
            assert_clean(r.out, where)
            assert_clean(r.err, where + " stderr")
            if fmt == "json" and r.code == 0:
                json.loads(r.out)
            if fmt == "yaml" and r.code == 0:
                yaml.safe_load(r.out)
    r = pdebug("clusters", hostile_dump, "-o", "json")
    names = [c.get("name", "") for c in json.loads(r.out)]
    assert any(not n.isprintable() for n in names), "the dump was not poisoned"


def test_json_of_a_view_keeps_the_hostile_names_exactly(pdebug, hostile_dump):
    doc = json.loads(hostile_dump.read_text())
    want = set()
    for section in doc["configs"]:
        for entry in section.get("dynamic_active_clusters", []):
            want.add(entry["cluster"]["name"])
    got = {c["name"] for c in json.loads(pdebug("clusters", hostile_dump, "-o", "json").out)}
    assert want <= got
    as_yaml = yaml.safe_load(pdebug("clusters", hostile_dump, "-o", "yaml").out)
    got_yaml = {c["name"] for c in as_yaml}
    assert want <= got_yaml


def test_check_trace_and_diff_print_nothing_raw(pdebug, hostile_dump):
    runs = [
        ("check", hostile_dump),
        ("check", hostile_dump, "-o", "wide"),
        ("check", hostile_dump, "-o", "json"),
        ("trace", hostile_dump, "http://reviews.default.svc.cluster.local:9080/"),
        ("trace", hostile_dump, "http://reviews:9080/", "-o", "wide"),
        ("trace", hostile_dump, "http://ratings:9080/", "-o", "json"),
        ("diff", SIDECAR, hostile_dump),
        ("diff", SIDECAR, hostile_dump, "--unified"),
        ("diff", SIDECAR, hostile_dump, "-o", "json"),
        ("diff", SIDECAR, hostile_dump, "-o", "wide"),
    ]
    for args in runs:
        r = pdebug(*args)
        where = " ".join(map(str, args[:1] + args[2:])) + f" (exit {r.code})"
        assert r.code in (0, 1), where + r.err
        assert_clean(r.out, where)
        assert_clean(r.err, where + " stderr")


def test_status_prints_proxy_names_escaped(pdebug, tmp_path):
    legacy = ISTIOCTL / "proxy-status" / "legacy-http-syncz"
    files = sorted(p for p in legacy.rglob("*.json"))
    if not files:
        pytest.skip("no syncz fixture")
    text = files[0].read_text()
    doc = json.loads(text)
    evil = json.dumps(doc).replace('"proxy": "', '"proxy": "\\u001b]52;c;QUFB\\u0007')
    path = tmp_path / "syncz.json"
    path.write_text(evil)
    r = pdebug("status", "--file", path)
    assert_clean(r.out, "status")
    assert_clean(r.err, "status stderr")


@pytest.mark.parametrize(
    "args",
    [
        ("clusters", "/nonexistent/\x1b]52;c;QUFB\x07dump.json"),
        ("clusters", SIDECAR, "-o", "t\x1b[2Jable"),
        ("clusters", "http://127.0.0.1:1/\x1b[31m"),
        ("clusters", SIDECAR, "--fqdn", "x\x1b]8;;http://e/\x1b\\"),
        ("no-such-\x1b[2Jcommand",),
        ("clusters", SIDECAR, "--bogus\x9b"),
        ("diff", SIDECAR, SIDECAR, "--ignore", "(\x1b"),
    ],
    ids=lambda a: repr(a)[:40],
)
def test_error_and_note_lines_are_escaped(pdebug, args):
    r = pdebug(*args)
    assert_clean(r.out, "stdout")
    assert_clean(r.err, "stderr")


def test_error_messages_with_control_text_from_the_input(pdebug, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"configs": [{"@type": "\x1b]52;c;QUFB\x07evil\x9b", "x": 1}]}')
    r = pdebug("clusters", bad)
    assert r.code == 4
    assert_clean(r.err, "stderr")
    assert r.err.count("\n") <= 2, r.err  # one error line and its hint
    text = tmp_path / "text.json"
    text.write_bytes(b"upstream said \x1b[2J\r\x1b]0;t\x07 no")
    r = pdebug("clusters", text)
    assert r.code == 4
    assert_clean(r.err, "stderr")


def test_long_texts_are_escaped_chunk_by_chunk_as_a_whole_would_be():
    rng = random.Random(7)
    parts = ["plain ascii line\n", "日本語\n", "\x1b[2J", "\u202e", "é", "\t", "\x9b"]
    text = "".join(rng.choice(parts) for _ in range(400_000))  # several 1 MB chunks
    naive = "".join(ch if ch.isprintable() or ch in "\n\t" else escape_cell(ch) for ch in text)
    assert escape_text(text) == naive
    assert text_is_safe(naive)
    as_json = json.dumps(text, ensure_ascii=False)
    assert json.loads(escape_json(as_json)) == text
    assert_clean(escape_json(as_json), "json")


def test_a_debug_traceback_is_escaped_too(tmp_path):
    import subprocess
    import sys

    evil = tmp_path / "dump\x1b]52;c;QUFB\x07.json"
    evil.write_bytes(b'{"configs": [{"@type": "\x1b]0;t\x07x"}]}')
    run = subprocess.run(
        [sys.executable, "-m", "pdebug", "--debug", "clusters", str(evil)],
        capture_output=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert b"Traceback" in run.stderr
    assert b"\x1b" not in run.stderr and b"\x07" not in run.stderr, run.stderr[-300:]
    run = subprocess.run(
        [sys.executable, "-m", "pdebug", "clusters", str(evil)], capture_output=True, timeout=60
    )
    assert run.returncode == 4 and b"\x1b" not in run.stderr and b"\\x1b" in run.stderr
