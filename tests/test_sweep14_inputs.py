"""Sweep 14: hostile files, misbehaving admins, live sources (each test failed before its fix)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdebug.errors import ExitCode
from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
RATINGS = "outbound|9080||ratings.default.svc.cluster.local"


def test_assert_names_a_resource_with_two_name_keys_by_the_last_as_diff_and_the_views(
    pdebug, tmp_path: Path
) -> None:
    # `pdebug clusters` and `pdebug diff` name it "renamed" (JSON decoders keep the last
    # key); assert read the first (diff's fast path without exact=True) and disagreed.
    text = SIDECAR.read_text()
    first = f'"name": "{RATINGS}",\n'
    assert text.count(first) == 1
    dup = tmp_path / "dup.json"
    dup.write_text(text.replace(first, first + '            "name": "renamed",\n'))
    book = tmp_path / "book.yaml"
    book.write_text(
        "version: 1\nexpectations:\n"
        f'  - name: first\n    resource: {{kind: cluster, name: "{RATINGS}"}}\n'
        "  - name: last\n    resource: {kind: cluster, name: renamed}\n"
        "  - name: gone\n    resource: {kind: cluster, name: renamed, exists: false}\n"
    )
    assert "renamed" in pdebug("clusters", dup, "-o", "json").out
    r = pdebug("diff", SIDECAR, dup, "-o", "json")
    changes = {(c["name"], c["status"]) for k in json.loads(r.out)["kinds"] for c in k["changes"]}
    assert changes == {(RATINGS, "only-left"), ("renamed", "only-right")}
    r = pdebug("assert", book, dup, "-o", "json")
    assert r.code == ExitCode.FINDINGS, r.err
    verdicts = {row["expectation"]: row["result"] for row in json.loads(r.out)["results"]}
    assert verdicts == {"first": "FAIL", "last": "PASS", "gone": "FAIL"}, r.out


class _Admin:
    """A loopback admin answering each path with ``answers[path]`` (the real documents)."""

    def __init__(self, answers: dict[str, bytes], redirects: dict[str, str] | None = None) -> None:
        import http.server
        import threading

        moved = redirects or {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                path = self.path.partition("?")[0]
                if path in moved:
                    self.send_response(302)
                    self.send_header("Location", moved[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = answers.get(path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_dump_says_when_the_envoy_changed_version_between_its_requests(pdebug, tmp_path) -> None:
    # An Envoy upgraded between GET /config_dump and GET /server_info (a rollout, a
    # restart): the bundle's documents are of two processes, and pdebug said nothing.
    side = FIXTURES / "real" / "sidecar"
    info = json.loads((side / "server_info.json").read_bytes())
    info["node"]["user_agent_build_version"]["version"] = {"major_number": 1, "minor_number": 41}
    answers = {
        "/config_dump": (side / "config_dump.json").read_bytes(),
        "/clusters": (side / "clusters.json").read_bytes(),
        "/server_info": json.dumps(info).encode(),
        "/stats": b'{"stats": []}',
    }
    admin = _Admin(answers)
    try:
        out = tmp_path / "b.tar.gz"
        r = pdebug("dump", admin.url, "-o", out)
        assert r.code == ExitCode.OK and out.exists(), r.err
        assert (
            "the proxy changed during the capture: its config dump is of Envoy 1.40.0, its "
            "/server_info of Envoy 1.41.0" in r.err
        ), r.err
        assert "Traceback" not in r.err
        # the same Envoy throughout: no word of it
        answers["/server_info"] = (side / "server_info.json").read_bytes()
        r = pdebug("dump", admin.url, "-o", tmp_path / "c.tar.gz")
        assert r.code == ExitCode.OK and "changed during" not in r.err, r.err
    finally:
        admin.close()


@pytest.mark.parametrize("plugin", ["missing", "fails"])
def test_a_kubeconfig_whose_exec_credential_plugin_fails_is_one_line_naming_it(
    pdebug, kube, tmp_path, no_ambient_config, plugin
) -> None:
    # The kubernetes client logs the failure ("ERROR:root:[Errno 2] ...", a second line
    # on stderr through logging's default handler) and goes on without credentials; pdebug
    # then blamed the API server: "rejected the credentials ... 401 Unauthorized".
    import yaml

    kube.add_pod("web-1", "default")
    config = yaml.safe_load(kube.write_kubeconfig(tmp_path / "kc").read_text())
    command = str(tmp_path / "no-such-plugin")
    if plugin == "fails":
        script = tmp_path / "plugin.sh"
        script.write_text("#!/bin/sh\necho 'token expired \x1b[31mlogin again' >&2\nexit 1\n")
        script.chmod(0o755)
        command = str(script)
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command}}
    config["users"] = [{"name": "sso", "user": exec_user}]
    config["contexts"][0]["context"]["user"] = "sso"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    r = pdebug("clusters", "pod/web-1", "--kubeconfig", path)
    assert r.code == ExitCode.SOURCE_UNAVAILABLE, r.err
    lines = r.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("pdebug: error: pod/web-1: kubeconfig "), r.err
    assert "the user's credentials could not be obtained" in lines[0], r.err
    assert "401" not in r.err and "ERROR:root" not in r.err and "\x1b" not in r.err
    assert lines[1].startswith("hint: check the user's exec plugin"), r.err


TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZWRpcmVjdCJ9.c2lnbmF0dXJlLXJlZGlyZWN0"


def test_a_redirect_with_credentials_is_not_saved_in_a_snapshot_manifest(
    pdebug, kube, tmp_path, no_ambient_config
) -> None:
    # A proxy in front of the admin redirects /clusters to an SSO login carrying a token
    # and userinfo: the error said where it pointed, and a snapshot's manifest saved it.
    import tarfile

    side = FIXTURES / "real" / "sidecar"
    answers = {
        "/config_dump": (side / "config_dump.json").read_bytes(),
        "/server_info": (side / "server_info.json").read_bytes(),
        "/stats": b'{"stats": []}',
        "/certs": b'{"certificates": []}',
    }
    where = f"https://sso:hunter2@login.example/cb?access_token={TOKEN}"
    admin = _Admin(answers, {"/clusters": where})
    try:
        kube.add_pod("web-1", "default", forwards={15000: admin.server.server_address[:2]})
        config = kube.write_kubeconfig(tmp_path / "kc")
        out = tmp_path / "s.tar.gz"
        r = pdebug("snapshot", "-n", "default", "-o", out, "--kubeconfig", config, "--no-istiod")
        assert r.code == ExitCode.FINDINGS, r.err  # a document missing
        with tarfile.open(out) as tar:
            saved = b"".join(
                tar.extractfile(m).read()
                for m in tar.getmembers()
                if m.isfile()  # type: ignore[union-attr]
            )
        assert (
            b"(redirects to https://sso:[redacted]@login.example/cb?access_token=[redacted])"
            in saved
        )
        assert TOKEN.encode() not in saved and b"hunter2" not in saved
        r = pdebug("dump", admin.url, "-o", tmp_path / "d.tar.gz")
        assert r.code == ExitCode.SOURCE_UNAVAILABLE, r.err
        assert "redirects to https://sso:[redacted]@" in r.err and TOKEN not in r.err, r.err
    finally:
        admin.close()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["clusters", "http://127.0.0.1:9", "--timeout", "inf"], "--timeout"),
        (["dump", "http://127.0.0.1:9", "-o", "x.tar.gz", "--timeout", "99999999999"], "--timeout"),
        (["check", str(SIDECAR), "--cert-days", "inf"], "--cert-days"),
        (["report", str(SIDECAR), "--cert-days", "1e308", "-o", "r.html"], "--cert-days"),
        (["assert", "book.yaml", str(SIDECAR), "--watch", "1e309"], "--watch"),
    ],
)
def test_an_infinite_or_huge_duration_is_a_usage_error_not_an_overflow(
    pdebug, tmp_path, monkeypatch, args, option
) -> None:
    # --timeout inf: "internal error: OverflowError: timestamp out of range for platform
    # time_t" (exit 5); --cert-days inf: "cannot convert float infinity to integer".
    monkeypatch.chdir(tmp_path)
    r = pdebug(*args)
    assert r.code == ExitCode.USAGE, r.err
    assert r.err.startswith(f"pdebug: error: Invalid value for '{option}': "), r.err
    assert "less than or equal to" in r.err and "internal error" not in r.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_a_gzip_body_without_content_encoding_is_said_as_such_for_a_url(
    pdebug, tmp_path, framing
) -> None:
    # A proxy in between gzipped the answer and did not say so: it was "binary data, not
    # an Envoy config dump" with the file hint "if this is compressed, pdebug reads .gz".
    import gzip

    from tests.harness.hostile import HostileServer, chunked

    body = gzip.compress(SIDECAR.read_bytes(), mtime=0)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    if framing == "length":
        answer = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    elif framing == "chunked":
        answer = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 1)
    else:
        answer = head + b"Connection: close\r\n\r\n" + body
    server = HostileServer([("send", answer), ("close",)])
    try:
        for args in (["clusters", server.url], ["dump", server.url, "-o", tmp_path / "d.tar.gz"]):
            r = pdebug(*args)
            assert r.code == ExitCode.SOURCE_UNAVAILABLE, r.err
            assert "sent gzip-compressed bytes without a Content-Encoding header" in r.err, r.err
            assert ".gz" not in r.err and len(r.err.splitlines()) == 2, r.err
        assert not (tmp_path / "d.tar.gz").exists()
    finally:
        server.stop()
