"""``pdebug dump`` of an admin whose /clusters or /stats answer is an error page with 200
(a proxy or login page in between): it was saved as is, exit 0, and every reader of the
bundle then failed on it (exit 4). Now /clusters must be a JSON object (else the dump
fails, one line, nothing written) and a /stats that is not is left out (it is optional).
"""

from __future__ import annotations

import tarfile
from http.server import BaseHTTPRequestHandler

import pytest

from pdebug.errors import ExitCode
from tests import harness as eh

DUMP = (eh.ISTIOCTL / "proxy-config-all/config_dump.json").read_bytes()
HTML = b"<html><body>Sign in</body></html>"


class Admin(eh.LoopbackHTTPServer):
    """Answers /config_dump with a real dump and the member under test with an HTML page."""

    def __init__(self, broken: str) -> None:
        super().__init__(thread_name="html-admin")
        self.broken = broken

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        path = request.path
        if path.startswith(self.broken):
            return 200, HTML, "text/html"
        if path.startswith("/config_dump"):
            return 200, DUMP, "application/json"
        if path.startswith("/clusters"):
            return 200, b'{"cluster_statuses": []}', "application/json"
        if path.startswith("/stats"):
            return 200, b'{"stats": [{"name": "server.live", "value": 1}]}', "application/json"
        return 200, b'{"state": "LIVE"}', "application/json"


def test_an_html_clusters_answer_fails_the_dump(pdebug, tmp_path):
    out = tmp_path / "d.tar.gz"
    with Admin("/clusters") as admin:
        url = admin.url
        result = pdebug("dump", url, "-o", str(out), "--timeout", "5")
    assert result.code == ExitCode.INVALID_INPUT, result
    assert result.err.splitlines()[0] == (
        f"pdebug: error: {url}: the admin answered /clusters?format=json with an HTML "
        "page, not JSON"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("broken", ["/stats"])
def test_an_html_stats_answer_is_left_out(pdebug, tmp_path, broken):
    out = tmp_path / "d.tar.gz"
    with Admin(broken) as admin:
        result = pdebug("dump", admin.url, "-o", str(out), "--timeout", "5")
    assert result.code == 0, result.err
    names = tarfile.open(out).getnames()
    assert not any(n.endswith("/stats.json") for n in names), names
    assert any(n.endswith("/clusters.json") for n in names), names
    assert pdebug("endpoints", str(out)).code == 0
