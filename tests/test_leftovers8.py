"""leftovers8: what session 10 saw and left (each test failed before its fix)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from pdebug.redact import redact_bytes
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
        result = pdebug("dump", admin.url, "-o", str(out), "--timeout", "5")
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
