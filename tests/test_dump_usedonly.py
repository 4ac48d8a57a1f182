"""#17: ``pdebug dump``/``snapshot`` save only the stats written; dump's first GET goes early.

* Envoy's ``/stats?usedonly`` skips every stat never written since it started (zero): on
  the 5,000-cluster bench it costs Envoy's admin thread 0.06 s of CPU where ``/stats``
  costs 0.36 s. It is the default; ``--all-stats`` saves every stat as before. The
  manifest's proxy entry says which (``"stats": "usedonly"`` / ``"all"``), ``pdebug
  stats`` says that an absent stat is zero (and a ``--filter`` that matches nothing in
  such a bundle names zeros, not a missing stat), and PD603 reads an absent
  ``update_rejected`` as zero. Checked against a real Envoy 1.40 where it is Envoy's.
* ``pdebug dump ADMIN`` sends its first GET as soon as the source is open, before the
  capture's code is loaded, and reads that answer: Envoy builds it meanwhile.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import orjson
import pytest

from pdebug.views.stats import NEVER_WRITTEN, USED_ONLY
from tests import harness as eh
from tests.test_dump_textforms import STATS, TEXT, Admin

ORDER = ["/clusters", "/config_dump?include_eds", "/stats?usedonly", "/server_info"]


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        out = {}
        for m in tar.getmembers():
            fh = tar.extractfile(m)
            assert fh is not None
            out[m.name] = fh.read()
        return out


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads(_members(path)["manifest.json"])


def _stats_txt(path: Path) -> bytes:
    [body] = [b for n, b in _members(path).items() if n.endswith("/stats.txt")]
    return body


def _names(text: bytes) -> set[str]:
    return {line.split(b": ", 1)[0].decode() for line in text.splitlines() if line}


def _without_stats_key(path: Path, out: Path) -> None:
    """``path`` rewritten as a bundle from before #17's usedonly: no ``stats`` key."""
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    for proxy in manifest["proxies"]:
        del proxy["stats"]
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(out, "w:gz") as tar:
        for name, body in members.items():  # the manifest first, as pdebug writes it
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


# --- against a double ---------------------------------------------------------------


class _Recording(Admin):
    """The text-forms admin double; ``/stats?usedonly`` answers ``used`` (default STATS)."""

    def __init__(self, used: bytes = STATS, drop_first: bool = False) -> None:
        super().__init__(TEXT)
        self.used = used
        self.drop_first = drop_first
        self.arrived = threading.Event()

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        try:
            return self._answer(request)
        finally:
            self.arrived.set()  # once the path is in ``asked``

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        if self.drop_first:  # the first answer never comes: the connection just closes
            self.drop_first = False
            self.asked.append(request.path)
            request.wfile = io.BytesIO()
            request.close_connection = True
            return 200, b"", "text/plain"
        if request.path == "/stats?usedonly":
            self.asked.append(request.path)
            return 200, self.used, "text/plain"
        return super().respond(request)


def _first_get_before_capture(monkeypatch: pytest.MonkeyPatch, admin: _Recording) -> list[Any]:
    """Record, when the capture starts, what the admin had been asked by then."""
    from pdebug.snapshot import capture

    seen: list[Any] = []
    real = capture.capture_proxy

    def spy(*args: Any, **kwargs: Any) -> Any:
        admin.arrived.wait(5)  # the request was sent ahead (or never: then 5 s and [])
        seen.append(list(admin.asked))
        return real(*args, **kwargs)

    monkeypatch.setattr(capture, "capture_proxy", spy)
    return seen


@pytest.mark.parametrize(
    ("out", "first"), [("d.tar.gz", "/clusters"), ("d.json", "/config_dump?include_eds")]
)
def test_the_first_get_is_sent_before_the_capture_starts(pdebug, tmp_path, monkeypatch, out, first):
    with _Recording() as admin:
        seen = _first_get_before_capture(monkeypatch, admin)
        result = pdebug("dump", admin.url, "-o", str(tmp_path / out), "--timeout", "5")
        assert result.code == 0, result.err
    assert seen == [[first]]  # asked before the capture's code ran
    # ... and its answer read, not asked again: each document once, in the capture's order
    assert admin.asked == (ORDER if out.endswith(".tar.gz") else [first])


def test_a_dropped_early_get_is_asked_again(pdebug, tmp_path):
    out = tmp_path / "d.tar.gz"
    with _Recording(drop_first=True) as admin:
        result = pdebug("dump", admin.url, "-o", str(out), "--timeout", "5")
    assert result.code == 0, result.err
    assert admin.asked == ["/clusters", *ORDER]
    assert _stats_txt(out).startswith(b"cluster_manager.cds.update_rejected: 2")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (TimeoutError, "could not connect within 1s"),
        (ConnectionRefusedError, "connection refused (nothing listens there)"),
    ],
)
def test_a_connection_not_made_ahead_is_not_tried_again(pdebug, tmp_path, monkeypatch, error, said):
    """A blackholed admin costs --timeout once, not once for the early GET and once again."""
    from pdebug.sources import admin

    tries: list[Any] = []

    def connect(address: Any, timeout: float | None = None) -> Any:
        tries.append(address)
        raise error()

    monkeypatch.setattr(admin.socket, "create_connection", connect)
    result = pdebug(
        "dump", "http://127.0.0.1:9", "-o", str(tmp_path / "d.tar.gz"), "--timeout", "1"
    )
    assert result.code == 3
    assert said in result.err and result.err.count("\n") <= 2, result.err
    assert len(tries) == 1


def test_the_get_asked_ahead_is_the_captures_first():
    from pdebug.snapshot import capture, dump

    assert dump.FIRST_GET[False] == capture.DUMP_PATHS[capture.TEXT_FIRST[0]]
    assert dump.FIRST_GET[True] == capture.PATHS["config_dump.json"]


def test_usedonly_is_the_default_and_all_stats_asks_for_every_stat(pdebug, tmp_path):
    used, every = tmp_path / "u.tar.gz", tmp_path / "a.tar.gz"
    with _Recording() as admin:
        assert pdebug("dump", admin.url, "-o", str(used)).code == 0
        assert [p for p in admin.asked if p.startswith("/stats")] == ["/stats?usedonly"]
        admin.asked.clear()
        assert pdebug("dump", admin.url, "-o", str(every), "--all-stats").code == 0
        assert [p for p in admin.asked if p.startswith("/stats")] == ["/stats"]
    assert [p["stats"] for p in _manifest(used)["proxies"]] == ["usedonly"]
    assert [p["stats"] for p in _manifest(every)["proxies"]] == ["all"]


def test_no_stats_saved_no_stats_key(pdebug, tmp_path):
    out = tmp_path / "d.tar.gz"

    class _NoStats(_Recording):
        def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
            if request.path.startswith("/stats"):
                return 404, b"no such path\n", "text/plain"
            return super().respond(request)

    with _NoStats() as admin:
        assert pdebug("dump", admin.url, "-o", str(out)).code == 0
    [proxy] = _manifest(out)["proxies"]
    assert "stats.txt" not in proxy["files"] and "stats" not in proxy


def test_stats_of_a_usedonly_bundle_say_absent_is_zero(pdebug, tmp_path):
    out = tmp_path / "d.tar.gz"
    with _Recording() as admin:
        assert pdebug("dump", admin.url, "-o", str(out)).code == 0
    shown = pdebug("stats", str(out))
    assert shown.code == 0, shown.err
    assert "cluster_manager.cds.update_rejected" in shown.out
    assert shown.err.splitlines() == [USED_ONLY]
    for fmt in ("table", "json"):
        missing = pdebug("stats", str(out), "--filter", "update_attempt", "-o", fmt)
        assert missing.code == 0, missing.err
        assert missing.err.splitlines() == [NEVER_WRITTEN]
        assert "No stats match" not in missing.err
    assert json.loads(pdebug("stats", str(out), "-o", "json").out)  # stdout: the rows only
    # an older bundle (no manifest key) reads as before: no note, "No stats match"
    old = tmp_path / "old.tar.gz"
    _without_stats_key(out, old)
    assert pdebug("stats", str(old)).err == ""
    assert pdebug("stats", str(old), "--filter", "update_attempt").err.splitlines() == [
        "No stats match the filter."
    ]


@pytest.mark.parametrize("used", [b'cluster_manager.cds.version_text: "1"\n', b""])
def test_pd603_in_a_usedonly_bundle_reads_an_absent_counter_as_zero(pdebug, tmp_path, used):
    out = tmp_path / "d.tar.gz"
    with _Recording(used=used) as admin:
        assert pdebug("dump", admin.url, "-o", str(out)).code == 0
    assert _stats_txt(out) == used
    run = pdebug("check", str(out), "-o", "json", "--fail-on", "never")
    assert run.code == 0, run.err
    checked = json.loads(run.out)
    assert "PD603" not in [s["code"] for s in checked["skipped"]]  # not UNKNOWN
    assert [f for f in checked["findings"] if f["code"] == "PD603"] == []
    shown = pdebug("stats", str(out), "--filter", "update_rejected")
    assert shown.code == 0, shown.err
    assert shown.err.splitlines() == [NEVER_WRITTEN]


def test_snapshot_saves_the_stats_written_unless_all_stats(pdebug, kube, kubeconfig, tmp_path):
    used, every = tmp_path / "u.tar.gz", tmp_path / "a.tar.gz"
    with _Recording() as admin:
        kube.add_pod("web-1", "default", forwards={15000: admin.address})
        args = ("snapshot", "-n", "default", "--kubeconfig", kubeconfig, "--no-istiod")
        assert pdebug(*args, "-o", used).code == 0
        assert [p for p in admin.asked if p.startswith("/stats")] == ["/stats?usedonly"]
        admin.asked.clear()
        assert pdebug(*args, "-o", every, "--all-stats").code == 0
        assert [p for p in admin.asked if p.startswith("/stats")] == ["/stats"]
    assert [p["stats"] for p in _manifest(used)["proxies"]] == ["usedonly"]
    assert [p["stats"] for p in _manifest(every)["proxies"]] == ["all"]
    assert pdebug("stats", f"{used}:web-1.default").err.splitlines() == [USED_ONLY]
    assert pdebug("stats", f"{every}:web-1.default").err == ""


# --- against a real Envoy -------------------------------------------------------------


def _full(envoy: eh.Envoy) -> dict[str, Any]:
    """Envoy's every counter, gauge and text readout by name (``/stats?format=json``)."""
    return {
        e["name"]: e["value"]
        for e in orjson.loads(envoy.get("/stats?format=json"))["stats"]
        if "name" in e
    }


@pytest.mark.envoy
def test_a_real_envoys_usedonly_bundle(pdebug, sidecar, tmp_path):
    envoy = sidecar.envoy
    used, every = tmp_path / "u.tar.gz", tmp_path / "a.tar.gz"
    before = _full(envoy)
    assert pdebug("dump", envoy.admin_url, "-o", str(used)).code == 0
    after = _full(envoy)
    assert pdebug("dump", envoy.admin_url, "-o", str(every), "--all-stats").code == 0
    saved, all_saved = _names(_stats_txt(used)), _names(_stats_txt(every))
    # fewer stats, each one Envoy wrote; the others are zero in Envoy's own JSON
    assert saved < all_saved and len(saved) < len(all_saved) / 2, (len(saved), len(all_saved))
    stable = {n for n in before if before[n] == after.get(n)}
    absent = [n for n in stable if n not in saved]
    assert len(absent) > 100
    assert {n: before[n] for n in absent if before[n] not in (0, "")} == {}
    assert "cluster_manager.cds.update_rejected" in absent  # what PD603 reads
    assert "server.live" in saved
    # the readers
    shown = pdebug("stats", str(used), "--filter", r"^server\.live$")
    assert shown.out.splitlines()[1].split() == ["server.live", "1"]
    assert shown.err.splitlines() == [USED_ONLY]
    zero = pdebug("stats", str(used), "--filter", r"^cluster_manager\.cds\.update_rejected$")
    assert zero.code == 0 and zero.err.splitlines() == [NEVER_WRITTEN]
    every_zero = pdebug("stats", str(every), "--filter", r"^cluster_manager\.cds\.update_rejected$")
    assert every_zero.out.splitlines()[1].split() == ["cluster_manager.cds.update_rejected", "0"]
    assert every_zero.err == ""
    checked = json.loads(pdebug("check", str(used), "-o", "json", "--fail-on", "never").out)
    assert "PD603" not in [s["code"] for s in checked["skipped"]]
    assert [f for f in checked["findings"] if f["code"] == "PD603"] == []
