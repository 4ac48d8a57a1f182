"""Seeded fuzzing of what tests/test_fuzz.py leaves out: YAML dumps, and the report page.

1. **YAML read as its JSON.** A real dump (config dump or ztunnel) written as YAML in a
   seeded style (block or flow, indent, line width that folds long strings, unicode raw
   or escaped, ``---``/``...`` markers, comments, CRLF, a BOM, timestamps and numbers left
   unquoted the way other converters write them) must read as the JSON does: the same
   ``-o json`` of a view, ``zc all -o json`` for ztunnel, and ``diff JSON YAML`` matches.
2. **Hostile YAML.** The same YAML mutated: alias bombs, merge keys, ``!!python/...`` and
   unknown tags, ``!!binary``/``!!set``, non-string keys, a key twice, deep nesting (flow
   and block), a huge scalar, tabs, several documents, truncation, byte flips. Every
   command must end with a documented exit code, no traceback, in bounded time and
   memory, with no raw control character on a text output.
3. **The report page and markdown.** Names in a real dump carry markup, bidi overrides,
   zero-width and control characters: the page's static block shows none raw, its data
   block stays one JSON document that nothing in it can end, the page has only its own two
   scripts, and ``-o markdown`` (pasted into tickets) carries no raw HTML.

``make test`` runs a small budget; ``make fuzz`` a long one: ``PDEBUG_FUZZ10_CASES``
(default 24), ``PDEBUG_FUZZ10_SEED`` (default 10), ``PDEBUG_FUZZ10_BUDGET`` (seconds per
test, default 5). A failure names the seed, the case and the mutation; the input is kept
under ``PDEBUG_FUZZ10_KEEP`` (a directory) when that is set.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import resource
import time
from pathlib import Path
from typing import Any

import yaml

from tests.harness import FIXTURES
from tests.test_fuzz import CONTROL, DOCUMENTED, RUN_LIMIT, _get, _nodes, _pick, _replace, run

CASES = int(os.environ.get("PDEBUG_FUZZ10_CASES", "24"))
SEED = int(os.environ.get("PDEBUG_FUZZ10_SEED", "10"))
BUDGET = float(os.environ.get("PDEBUG_FUZZ10_BUDGET", "5"))
RSS_LIMIT_MB = 1024

DUMPS = [
    FIXTURES / "real/sidecar/config_dump.json",
    FIXTURES / "istioctl/proxy-config-secret/istio/config_dump.json",
    FIXTURES / "istioctl/proxy-config-eds/configdump.json",
    FIXTURES / "istioctl/proxy-config-ecds/configdump.json",
]
ZTUNNEL = FIXTURES / "istioctl/ztunnel-config/dump.json"
VIEWS = ["clusters", "listeners", "routes", "endpoints", "secrets", "bootstrap", "ecds", "all"]


def _keep(name: str, data: bytes) -> str:
    where = os.environ.get("PDEBUG_FUZZ10_KEEP")
    if not where:
        return ""
    path = Path(where) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f" (kept as {path})"


# --- 1. YAML written in other styles ------------------------------------------------------


#: What other converters leave unquoted: a timestamp, and nothing else that changes type.
_QUOTED_STAMP = re.compile(r"(: )'(\d{4}-\d\d-\d\dT[\d:.]+Z)'")


def yaml_style(rng: random.Random, doc: Any) -> tuple[str, bytes]:
    """``doc`` as YAML in a seeded style, and the style's name."""
    flow = rng.choice([False, False, None])
    indent = rng.choice([2, 4])
    width = rng.choice([80, 40, 10**6])
    text = yaml.safe_dump(
        doc,
        default_flow_style=flow,
        indent=indent,
        width=width,
        allow_unicode=rng.random() < 0.5,
        explicit_start=rng.random() < 0.3,
        explicit_end=rng.random() < 0.2,
        sort_keys=rng.random() < 0.3,
    )
    name = f"flow={flow} indent={indent} width={width}"
    if rng.random() < 0.4:
        text = _QUOTED_STAMP.sub(r"\1\2", text)
        name += " stamps"
    if rng.random() < 0.3:
        text = "# saved by a converter\n" + text.replace("\n", "\n# c\n", 1)
        name += " comments"
    if rng.random() < 0.3:
        text = text.replace("\n", "\r\n")
        name += " crlf"
    data = text.encode()
    if rng.random() < 0.2:
        data = b"\xef\xbb\xbf" + data
        name += " bom"
    return name, data


def _doc(text: str) -> Any:
    """The JSON ``text`` holds (key order aside: a sorted YAML is the same dump), or it."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _same(tmp: Path, case: int, rng: random.Random) -> list[str]:
    """Findings of one YAML-as-JSON case."""
    if rng.random() < 0.25:
        original, argv = ZTUNNEL, ["zc", "all"]
    else:
        original, argv = rng.choice(DUMPS), [rng.choice(VIEWS)]
    style, data = yaml_style(rng, json.loads(original.read_bytes()))
    path = tmp / f"yaml{case}.yaml"
    path.write_bytes(data)
    want = run([*argv, str(original), "-o", "json"])
    got = run([*argv, str(path), "-o", "json"])
    what = f"seed={SEED} case={case} {style}: pdebug {' '.join(argv)} {original.name} as YAML"
    if (got.code, _doc(got.out)) != (want.code, _doc(want.out.replace(str(original), str(path)))):
        keep = _keep(f"yaml{case}.yaml", data)
        return [f"{what}: exit {got.code} vs {want.code}: {got.err.strip()[:300]}{keep}"]
    if argv[0] != "zc":  # the dump against itself as YAML: nothing differs
        diff = run(["diff", str(original), str(path), "-o", "json"])
        said = _doc(diff.out)
        if diff.code != 0 or not isinstance(said, dict) or said.get("match") is not True:
            keep = _keep(f"yaml{case}.yaml", data)
            return [f"{what}: diff JSON YAML: exit {diff.code} {diff.err.strip()[:300]}{keep}"]
    return []


def test_yaml_dumps_read_as_their_json(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    bad: list[str] = []
    deadline = time.monotonic() + BUDGET
    done = 0
    for case in range(CASES):
        if time.monotonic() > deadline and done:
            break
        bad += _same(tmp_path, case, rng)
        done += 1
    assert not bad, "\n".join(bad[:10])


# --- 2. hostile YAML ---------------------------------------------------------------------


def _bomb(depth: int, fan: int) -> str:
    lines = ["l0: &l0 [lol, lol]"]
    for i in range(1, depth + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]")
    return "\n".join(lines) + "\n"


def _indent_block(text: str, pad: str) -> str:
    return "".join(pad + line + "\n" for line in text.splitlines())


HOSTILE_VALUES = [
    "!!python/object/apply:os.system ['echo PWNED']",
    "!!python/name:os.system",
    "!!python/object:collections.OrderedDict {}",
    "!custom {a: 1}",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!timestamp 2026-01-01",
    "!!float .nan",
    ".inf",
    "-.inf",
    "0x1F",
    "0o17",
    "1_000",
    "1e400",
    "123456789012345678901234567890",
    "yes",
    "~",
    "2026-11-25 21:49:12",
    "'\\e[31m'",
    '"\\e[31mred\\u202e\\x9b\\0"',
    '"\\ud800"',
    "|\n  multi\n  line",
    "*undefined_alias",
]
HOSTILE_KEYS = ["1", "null", "true", "[a, b]", "{a: 1}", "<<", "'\x1b[2J'", '"\\u202e"']


def hostile_yaml(rng: random.Random, doc: Any) -> tuple[str, bytes]:
    """``doc`` as YAML with one hostile change, and the change's name."""
    kind = rng.choice(
        ["value", "key", "bomb", "merge", "dupkey", "deepflow", "deepblock", "huge", "tabs",
         "docs", "truncate", "flip", "anchors", "gzip"]
    )  # fmt: skip
    if kind == "value":
        path = _pick(rng, doc, lambda v: not isinstance(v, (dict, list)))
        marker = "@@HOSTILE@@"
        _replace(doc, path or (), marker)
        text = yaml.safe_dump(doc, sort_keys=False, width=10**6)
        return kind, text.replace(marker, rng.choice(HOSTILE_VALUES), 1).encode(
            "utf-8", "surrogatepass"
        )
    if kind == "key":
        path = _pick(rng, doc, lambda v: isinstance(v, dict) and v)
        node = _get(doc, path) if path else doc
        node["@@KEY@@"] = "x"
        text = yaml.safe_dump(doc, sort_keys=False, width=10**6)
        return kind, text.replace("'@@KEY@@'", rng.choice(HOSTILE_KEYS), 1).encode()
    text = yaml.safe_dump(doc, sort_keys=False, width=10**6)
    lines = text.splitlines(keepends=True)
    if kind == "bomb":  # a billion laughs, before or after configs, used in a value
        bomb = _bomb(rng.choice([6, 9, 12]), rng.choice([5, 9]))
        last = bomb.splitlines()[-1].split(":")[0]
        where = rng.choice(["head", "tail", "use"])
        if where == "head":
            return kind, (bomb + text).encode()
        if where == "tail":
            return kind, (text + bomb).encode()
        return kind, (bomb + text.replace("configs:\n", f"x: *{last}\nconfigs:\n", 1)).encode()
    if kind == "merge":
        base = "base: &base {name: merged, type: STATIC, '\\e': 1}\n"
        out = base + re.sub(r"(\n( +)cluster:\n)", r"\1\2  <<: *base\n", text, count=2)
        return kind, out.encode()
    if kind == "dupkey":  # a key given twice: YAML loaders keep the last
        i = rng.randrange(len(lines))
        return kind, "".join(lines[: i + 1] + [lines[i]] + lines[i + 1 :]).encode()
    if kind == "deepflow":
        depth = rng.choice([200, 3000, 50_000])
        return kind, text.replace(
            "configs:\n", f"deep: {'[' * depth}{']' * depth}\nconfigs:\n", 1
        ).encode()  # noqa: E501
    if kind == "deepblock":
        depth = rng.choice([200, 2000])
        block = "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "v\n"
        return kind, (block + text).encode()
    if kind == "huge":
        big = "x" * rng.choice([1 << 20, 8 << 20])
        return kind, text.replace("configs:\n", f"huge: {big}\nconfigs:\n", 1).encode()
    if kind == "tabs":
        return kind, text.replace("  ", "\t", rng.randint(1, 50)).encode()
    if kind == "docs":
        return kind, (text + "---\n" + rng.choice([text, "configs: []\n", "x: 1\n"])).encode()
    if kind == "truncate":
        return kind, text.encode()[: rng.randrange(len(text))]
    if kind == "flip":
        buf = bytearray(text.encode())
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return kind, bytes(buf)
    if kind == "anchors":  # anchors without aliases: harmless, must read as without them
        return kind, re.sub(r"(\n *- )(\w)", r"\1&a\2 \2", text, count=5).encode()
    return kind, gzip.compress(text.encode(), mtime=0)


def _hostile_commands(path: Path, ztunnel: bool) -> list[list[str]]:
    p = str(path)
    if ztunnel:
        return [["zc", "all", p], ["zc", "workload", p, "-o", "wide"], ["check", p]]
    return [
        ["clusters", p, "-o", "wide"],
        ["all", p, "-o", "json"],
        ["listeners", p, "-o", "yaml"],
        ["check", p],
        ["trace", p, "http://reviews:9080/"],
    ]


def test_hostile_yaml_ends_with_one_line_a_documented_code_in_time(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    bad: list[str] = []
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    deadline = time.monotonic() + BUDGET
    done = 0
    for case in range(CASES):
        if time.monotonic() > deadline and done:
            break
        ztunnel = rng.random() < 0.25
        original = ZTUNNEL if ztunnel else rng.choice(DUMPS)
        kind, data = hostile_yaml(rng, json.loads(original.read_bytes()))
        path = tmp_path / f"hostile{case}.yaml"
        path.write_bytes(data)
        for argv in _hostile_commands(path, ztunnel):
            res = run(argv)
            what = f"seed={SEED + 1} case={case} {kind} of {original.name}: pdebug {' '.join(argv)}"
            problem = ""
            if res.code not in DOCUMENTED:
                problem = f"exit {res.code}: {res.err.strip()[:300]}"
            elif "Traceback" in res.err + res.out:
                problem = "traceback"
            elif res.seconds > RUN_LIMIT:
                problem = f"took {res.seconds:.1f}s"
            else:
                streams = (
                    [res.err]
                    if "-o" in argv and argv[-1] in ("json", "yaml")
                    else [res.out, res.err]
                )  # noqa: E501
                hit = next((m for m in map(CONTROL.search, streams) if m), None)
                if hit:
                    problem = f"raw control character {hit.group(0)!r}"
            if problem:
                bad.append(f"{what}: {problem}{_keep(f'hostile{case}.yaml', data)}")
        done += 1
        path.unlink()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start_rss
    assert not bad, "\n".join(bad[:10])
    assert grown < RSS_LIMIT_MB


# --- 3. the report page ------------------------------------------------------------------


TRICKS = ["\u202e", "\u2066", "\u200b", "\u200f", "\ufeff", "\u00ad", "\x1b[31m", "\x9b",
          "\u2028", "</script>", "<!--", "<script>", "]]>", "&amp;", "\U000e0041",
          "<img src=x onerror=alert(1)>", "\"'`"]  # fmt: skip
STATIC_BLOCK = re.compile(r'id="pdebug-static"(.*?)<script', re.S)
DATA_BLOCK = re.compile(r'<script type="application/json" id="pdebug-data">(.*?)</script>', re.S)


def _page_problems(page: str) -> str:
    static = STATIC_BLOCK.search(page)
    if static is None:
        return "no static block"
    raw = sorted({f"U+{ord(c):04X}" for c in static.group(1) if not c.isprintable() and c != "\n"})
    if raw:
        return f"static block holds {raw}"
    if re.search(r"<(script|img)\b|<!--", static.group(1), re.I):
        return "markup from the input in the static block"
    if len(re.findall(r"<script\b", page)) != 2:
        return f"{len(re.findall(r'<script', page))} script tags"
    data = DATA_BLOCK.search(page)
    if data is None:
        return "no data block"
    try:
        json.loads(data.group(1))
    except ValueError as exc:
        return f"data block is not JSON ({exc})"
    if "<" in data.group(1) or "\u2028" in data.group(1):
        return "raw < or U+2028 in the data block"
    return ""


def test_hostile_names_never_reach_the_report_page_raw(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    bad: list[str] = []
    deadline = time.monotonic() + BUDGET
    done = 0
    for case in range(max(1, CASES // 3)):
        if time.monotonic() > deadline and done:
            break
        original = rng.choice(DUMPS)
        doc = json.loads(original.read_bytes())
        names = [p for p, v in _nodes(doc) if p and p[-1] in ("name", "cluster_name")]
        for path in rng.sample(names, min(len(names), rng.randint(3, 30))):
            tricks = "".join(rng.choice(TRICKS) for _ in range(rng.randint(1, 3)))
            value = _get(doc, path)
            if isinstance(value, str):
                _replace(doc, path, rng.choice([tricks + value, value + tricks]))
        dump = tmp_path / f"page{case}.json"
        data = json.dumps(doc).encode()
        dump.write_bytes(data)
        page = tmp_path / f"page{case}.html"
        title = "".join(rng.choice(TRICKS) for _ in range(3))
        res = run(["report", str(dump), "-o", str(page), "--title", title])
        what = f"seed={SEED + 2} case={case} of {original.name}"
        if res.code not in (0, 1):
            keep = _keep(f"page{case}.json", data)
            bad.append(f"{what}: exit {res.code}: {res.err.strip()[:300]}{keep}")
            continue
        problem = _page_problems(page.read_text(encoding="utf-8", errors="surrogatepass"))
        for view in ("clusters", "listeners", "check"):  # markdown: for pasting into a ticket
            md = run([view, str(dump), "-o", "markdown"])
            hit = re.search(r"<(script|img|/script)\b|<!--", md.out) or CONTROL.search(md.out)
            if md.code in DOCUMENTED and hit and not problem:
                problem = f"{view} -o markdown carries {hit.group(0)!r} raw"
        if problem:
            bad.append(f"{what}: {problem}{_keep(f'page{case}.json', data)}")
        done += 1
    assert not bad, "\n".join(bad[:10])


def test_generators_are_seeded() -> None:
    doc = json.loads(DUMPS[0].read_bytes())
    assert yaml_style(random.Random(3), doc) == yaml_style(random.Random(3), doc)
    one = hostile_yaml(random.Random(4), json.loads(DUMPS[0].read_bytes()))
    assert one == hostile_yaml(random.Random(4), json.loads(DUMPS[0].read_bytes()))
