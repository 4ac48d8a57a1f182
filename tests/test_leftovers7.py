"""leftovers7: defects left by the tenth session's second read (each test failed before)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh

SIDECAR = eh.FIXTURES / "real" / "sidecar"


class _FlakyInfoAdmin(eh.LoopbackHTTPServer):
    """The real sidecar's documents; text /clusters no conversion places (so /clusters and
    /server_info are asked for again), and the second /server_info answers 503."""

    def __init__(self) -> None:
        super().__init__(thread_name="leftovers7-admin")
        self.asked: list[str] = []
        self.info = (SIDECAR / "server_info.json").read_bytes()

    def respond(self, request: Any) -> tuple[int, bytes, str]:
        path = str(request.path)
        self.asked.append(path)
        if path.startswith("/config_dump"):
            return 200, (SIDECAR / "config_dump.json").read_bytes(), "application/json"
        if path == "/clusters":
            return 200, b"a line no conversion places\n", "text/plain"
        if path.startswith("/clusters"):
            return 200, (SIDECAR / "clusters.json").read_bytes(), "application/json"
        if path.startswith("/server_info"):
            if self.asked.count(path) == 1:
                return 200, self.info, "application/json"
            return 503, b"overloaded\n", "text/plain"
        return 200, b"server.live: 1\n", "text/plain"


def test_a_failed_second_server_info_keeps_the_first(tmp_path: Path) -> None:
    """snapshot's capture (not strict) asks for /server_info again after the JSON
    /clusters fallback; when that GET failed, the first, good /server_info was removed
    too. It is kept (listed once), and the failure is said."""
    from pdebug.snapshot.capture import SNAPSHOT_PATHS, TEXT_FIRST, capture_proxy
    from pdebug.snapshot.stage import Stage
    from pdebug.sources.admin import AdminSource
    from pdebug.sources.bundle import SERVER_INFO

    stage = Stage(str(tmp_path), str(tmp_path / "s.tar.gz"))
    try:
        with _FlakyInfoAdmin() as admin:
            source = AdminSource(admin.url, timeout=5)
            got = capture_proxy(source, stage, "p", SNAPSHOT_PATHS, first=TEXT_FIRST)
        asked = [p for p in admin.asked if p.startswith("/server_info")]
        assert asked == ["/server_info", "/server_info"], admin.asked
        assert SERVER_INFO in got.files, (got.files, got.errors)
        assert stage.members.count(f"p/{SERVER_INFO}") == 1, stage.members
        assert not [m for m in stage.members if m.endswith(".again")], stage.members
        kept = json.loads(Path(stage.path(f"p/{SERVER_INFO}")).read_bytes())
        assert kept == json.loads(admin.info)
        assert sorted(Path(stage.path("p")).iterdir()) == sorted(
            Path(stage.path(m)) for m in stage.members
        )
        assert any("503" in e for e in got.errors), got.errors
        assert "clusters.json" in got.files
    finally:
        stage.discard()


def _stats_text() -> bytes:
    from tests.test_dump_textforms import STATS

    # Envoy 1.40's text /stats (a text readout holding a JWT, quantile histograms, one
    # with no recorded values) and credential_injector's counters named like secrets
    return STATS + (
        b"http.in.credential_injector.oauth2.token_fetch_failed_on_client_secret: 3\n"
        b'cluster_manager.cds.version_text_2: "v1"\n'
    )


def test_saved_text_stats_read_as_a_bundles_stats_txt(pdebug, tmp_path: Path) -> None:
    """``pdebug stats saved.txt`` read Envoy's text on its own: ``"\\"v1\\""`` for a text
    readout, ``No recorded values`` and ``P0(nan,1) ...`` for histograms, where the same
    text as a bundle's stats.txt gives ``v1``, ``-`` and ``P0=1 ...``. One reader now."""
    from tests.test_dump_textforms import JWT, Admin

    class _Admin(Admin):
        def respond(self, request: Any) -> tuple[int, bytes, str]:
            if request.path in ("/stats", "/stats?usedonly"):  # all, or those written (#17)
                self.asked.append(request.path)
                return 200, _stats_text(), "text/plain"
            return super().respond(request)

    bundle = tmp_path / "d.tar.gz"
    with _Admin(b"") as admin:
        assert pdebug("dump", admin.url, "-o", str(bundle), "--timeout", "5").code == 0
    saved = tmp_path / "saved.txt"
    saved.write_bytes(_stats_text())
    for fmt in ("json", "yaml", "table", "wide"):
        from_bundle = pdebug("stats", str(bundle), "-o", fmt)
        from_file = pdebug("stats", str(saved), "-o", fmt)
        assert from_file.code == from_bundle.code == 0, (from_file.err, from_bundle.err)
        if fmt in ("table", "wide"):  # the saved file is the user's own: no redaction
            assert "[redacted]" in from_bundle.out and JWT in from_file.out
            cells = [
                line.split() for line in from_bundle.out.replace("[redacted]", JWT).split("\n")
            ]
            assert [line.split() for line in from_file.out.split("\n")] == cells, fmt
            continue
        assert from_file.out == from_bundle.out, fmt
    rows = {
        r["name"]: r["value"] for r in json.loads(pdebug("stats", str(saved), "-o", "json").out)
    }
    assert rows["cluster_manager.cds.version_text_2"] == "v1"
    assert rows["cluster.b.upstream_rq_time"] == "-"
    assert rows["cluster.a.upstream_rq_time"].startswith("P0=1 P25=1.025 P50=2 "), rows


def test_text_bucket_histograms_read_as_their_json_form() -> None:
    """``/stats?histogram_buckets=cumulative`` as text (the shape test_stats_shapes took
    from Envoy) reads as the same buckets as its JSON form, saved or in a bundle."""
    from pdebug.model import stats as st
    from pdebug.model.textforms import stats_document
    from tests.test_stats_shapes import BUCKETS, COUNTER, NAME

    text = (
        f"{COUNTER['name']}: 6\n{NAME}: B0.5(0,0) B1(1,1) B1.8e+06(6,6)\nidle: No recorded values\n"
    )
    from_json = st.parse(json.dumps({"stats": [COUNTER, BUCKETS]}).encode(), "j")
    assert st.parse(text.encode(), "t") == from_json
    assert json.loads(stats_document(text.encode(), "t")) == {"stats": [COUNTER, BUCKETS]}


@pytest.mark.envoy
def test_envoys_text_stats_read_as_its_json_stats(sidecar) -> None:
    """Real Envoy 1.40: its text /stats and /stats?format=json read as the same stats
    (text readouts, counters, histograms). With ``histogram_buckets=``, a histogram with
    no recorded values is ``No recorded values`` in the text (``-``) where the JSON form
    lists every bucket at 0: the text does not say the bounds."""
    from pdebug.model import stats as st

    stable = "filter=(version_text|initialization_time_ms|cds.update_attempt)"
    text = sidecar.envoy.get(f"/stats?{stable}")
    from_text = st.parse(text, "t")
    assert from_text == st.parse(sidecar.envoy.get(f"/stats?format=json&{stable}"), "j"), text
    assert any(s.name.endswith("version_text") and s.value == "1" for s in from_text), text
    assert "histogram" in {s.kind for s in from_text}
    buckets = "&histogram_buckets=cumulative"
    got = st.parse(sidecar.envoy.get(f"/stats?{stable}{buckets}"), "t")
    want = st.parse(sidecar.envoy.get(f"/stats?format=json&{stable}{buckets}"), "j")
    assert [(s.name, s.kind) for s in got] == [(s.name, s.kind) for s in want]
    for a, b in zip(got, want, strict=True):
        unrecorded = a.value == "-" and set(re.findall(r"=(\d+)", b.value)) == {"0"}
        assert a == b or (a.kind == "histogram" and unrecorded), (a, b)


def test_a_counter_named_like_a_secret_keeps_its_value_in_json_and_yaml(pdebug, tmp_path) -> None:
    """``pdebug stats -o json|yaml`` showed ``"value": "[redacted]"`` for credential_injector's
    ``...token_fetch_failed_on_client_secret: 3`` while the table showed 3 (the header
    rule of redact.py read ``{"name", "value"}`` as a secret header). A token in a name,
    a text readout named like a secret and a secret in a readout's text are still hidden."""
    from tests.test_dump_textforms import JWT

    saved = tmp_path / "s.txt"
    saved.write_text(
        "http.in.credential_injector.oauth2.token_fetch_failed_on_client_secret: 3\n"
        "http.in.credential_injector.oauth2.token_fetch_failed_on_bad_token: 0\n"
        f"cluster.{JWT}.upstream_rq_total: 4\n"
        'a.api_key: "12345"\n'
        'cluster_manager.cds.version_text: "password=hunter2"\n'
        "x.client_secret: P0(nan,1) P25(nan,2)\n"
    )
    import yaml

    for fmt in ("json", "yaml"):
        got = pdebug("stats", str(saved), "-o", fmt)
        assert got.code == 0, got.err
        assert JWT not in got.out and "hunter2" not in got.out and "12345" not in got.out
        rows = {r["name"]: r["value"] for r in yaml.safe_load(got.out)}
        assert rows["http.in.credential_injector.oauth2.token_fetch_failed_on_client_secret"] == "3"
        assert rows["http.in.credential_injector.oauth2.token_fetch_failed_on_bad_token"] == "0"
        assert rows["cluster.[redacted]"] == "4"
        assert rows["a.api_key"] == "[redacted]"
        assert rows["x.client_secret"] == "P0=1 P25=2"


def test_stats_json_keeps_numbers_and_hides_tokens_seeded() -> None:
    """Seeded: -o json and -o yaml of generated stats keep every number and hide every
    token planted in a name or a text readout."""
    import random

    import yaml

    from pdebug.model import stats as st
    from pdebug.render import get_format
    from pdebug.views import stats as view
    from tests.test_dump_textforms import JWT

    words = ["client_secret", "bad_token", "password", "api_key", "cookie", "rq_total", "x"]
    planted = [JWT, "Bearer abcdefghijkl0123", "AKIAABCDEFGHIJKLMNOP"]
    for seed in range(150):
        rng = random.Random(seed)
        entries: list[dict[str, Any]] = []
        numbers, secrets = {}, []
        for i in range(rng.randint(1, 12)):
            name = f"s{i}.{rng.choice(words)}"
            if rng.random() < 0.2:  # a token a name can carry (no "Bearer ")
                token = rng.choice(planted[::2])
                secrets.append(token)
                name = f"s{i}.{token}.{rng.choice(words)}"
            if rng.random() < 0.3:
                token = rng.choice(planted)
                secrets.append(token.split()[-1])
                entries.append({"name": name, "value": f"{rng.choice(words)}={token}"})
                continue
            value = rng.choice([0, rng.randrange(10**6), 2**64 - 1])
            numbers[i] = str(value)
            entries.append({"name": name, "value": value})
        data = json.dumps({"stats": entries}).encode()
        result = view.view(st.parse(data, "t"), None)
        for fmt in ("json", "yaml"):
            text = get_format(fmt).render(result)
            for secret in secrets:
                assert secret not in text, (seed, fmt, secret)
            got = yaml.safe_load(text)
            for i, value in numbers.items():
                assert got[i]["value"] == value, (seed, fmt, got[i])
