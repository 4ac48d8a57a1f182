"""leftovers7: defects left by the tenth session's second read (each test failed before)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
