"""review11: what a last read of the second half found (each test failed before its fix)."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.test_dump_textforms import JWT, TEXT, Admin, _member

#: Envoy's credential_injector oauth2 counters (token_provider.h): their names end in
#: "client_secret" and "bad_token", words redaction hides the value of.
_STATS = (
    "http.in.credential_injector.oauth2.token_fetch_failed_on_client_secret: 3\n"
    "http.in.credential_injector.oauth2.token_fetch_failed_on_bad_token: 0\n"
    f"cluster.{JWT}.upstream_rq_total: 4\n"
    "cluster.a.upstream_rq_time: No recorded values\n"
    'cluster_manager.cds.version_text: "password=hunter2"\n'
).encode()


class _StatsAdmin(Admin):
    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        if request.path in ("/stats", "/stats?usedonly"):  # all stats, or those written (#17)
            self.asked.append(request.path)
            return 200, _STATS, "text/plain"
        return super().respond(request)


def test_a_counter_named_like_a_secret_keeps_its_value_in_stats_txt(pdebug, tmp_path: Path):
    """#17 saves /stats as text: ``name: 3`` is not ``secret: value``; names stay redacted."""
    out = tmp_path / "d.tar.gz"
    with _StatsAdmin(TEXT) as admin:
        result = pdebug("dump", admin.url, "-o", str(out), "--timeout", "5")
    assert result.code == 0, result.err
    saved = _member(out, "stats.txt")
    assert JWT.encode() not in saved and b"hunter2" not in saved
    shown = pdebug("stats", str(out))
    assert shown.code == 0, shown.err
    rows = dict(line.split() for line in shown.out.splitlines()[1:])
    assert rows["http.in.credential_injector.oauth2.token_fetch_failed_on_client_secret"] == "3"
    assert rows["http.in.credential_injector.oauth2.token_fetch_failed_on_bad_token"] == "0"
    assert rows["cluster.[redacted]"] == "4"  # the JWT's pattern takes the dotted rest too
    assert "hunter2" not in shown.out
    checked = pdebug("check", str(out), "-o", "json", "--fail-on", "never")
    assert checked.code == 0, checked.err


def test_stat_lines_keep_numbers_and_hide_tokens_seeded():
    """Seeded: numbers stay, every token planted in a name or a text readout goes."""
    import random

    from pdebug.model.textforms import stats_document
    from pdebug.redact import redact_stat_lines

    words = ["client_secret", "bad_token", "password", "api_key", "cookie", "rq_total", "x"]
    planted = [JWT, "Bearer abcdefghijkl0123", "AKIAABCDEFGHIJKLMNOP"]
    for seed in range(200):
        rng = random.Random(seed)
        lines, numbers, secrets = [], {}, []
        for i in range(rng.randint(1, 12)):
            name = f"s{i}." + ".".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
            kind = rng.randrange(4)
            if kind == 0:
                token = rng.choice(planted[::2])  # the dot-free-safe ones in a name
                secrets.append(token)
                name = f"s{i}.{token}.{rng.choice(words)}"
            if kind == 1:
                token = rng.choice(planted)
                secrets.append(token.split()[-1])
                lines.append(f'{name}: "{token}"')
                continue
            value = rng.choice(["0", str(rng.randrange(10**6)), "No recorded values"])
            numbers[i] = value
            lines.append(f"{name}: {value}")
        data = ("\n".join(lines) + "\n").encode()
        out = redact_stat_lines(data)
        assert (out is data) == (out == data), seed
        text = out.decode()
        for secret in secrets:
            assert secret not in text, (seed, secret)
        got = text.splitlines()
        for i, value in numbers.items():
            assert got[i].endswith(f": {value}"), (seed, got[i])
        stats_document(out, "t")  # readable (raises on a mangled line)


def _outside_fences(markdown: str) -> str:
    """The markdown's lines that are not inside a fenced code block."""
    out, fence = [], ""
    for line in markdown.splitlines():
        if fence:
            if line.rstrip() == fence:
                fence = ""
            continue
        if line.startswith("```"):
            fence = line[: len(line) - len(line.lstrip("`"))]
            continue
        out.append(line)
    assert not fence, "a fence left open"
    return "\n".join(out)


def test_a_trace_verdict_in_markdown_keeps_names_inert(pdebug, tmp_path: Path):
    """-o markdown's free text (trace's verdict, check's summary) carried names as markup."""
    from tests.harness import FIXTURES

    hostile = "<img src=x onerror=alert(1)>[a](http://e)``x"
    dump = (FIXTURES / "real" / "sidecar" / "config_dump.json").read_text()
    path = tmp_path / "h.json"
    path.write_text(dump.replace("inbound|9080||", hostile))
    r = pdebug("trace", path, "http://productpage:9080/", "--direction", "inbound", "-o", "md")
    assert r.code == 0, r.err
    assert f"routed to {hostile}" in r.out  # as written, in the verdict's fenced block
    outside = _outside_fences(r.out)
    assert "### Verdict" in outside and "<img" not in outside, outside
    assert re.search(r"(?<!\\)\]\(http", outside) is None, outside
