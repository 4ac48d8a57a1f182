"""pdebug dump: a live proxy saved into a bundle every view reads; secrets never saved."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pytest

from pdebug.errors import ExitCode
from pdebug.redact import redact_bytes
from tests import harness as eh

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzcGlmZmU6Ly9jbHVzdGVyLmxvY2FsIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
BEARER = "Bearer s3cr3t-t0ken-value-123456"


def _secret_bootstrap(admin_port: int, listener_port: int, upstream_port: int, pki) -> dict:
    """The seed demo plus credentials in places a real config may hold them."""
    boot = eh.seed_demo_bootstrap(admin_port, listener_port, upstream_port)
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    vhost = hcm["route_config"]["virtual_hosts"][0]
    vhost["request_headers_to_add"] = [
        {"header": {"key": "authorization", "value": BEARER}},
        {"header": {"key": "x-forwarded-jwt", "value": JWT}},
        {"header": {"key": "cookie", "value": "session=abcdef0123456789"}},
    ]
    boot["static_resources"]["secrets"] = [
        {
            "name": "server-cert",
            "tls_certificate": {
                "certificate_chain": {"inline_string": pki.cert_pem.decode()},
                "private_key": {"inline_string": pki.key_pem.decode()},
            },
        }
    ]
    return boot


@pytest.fixture(scope="module")
def secret_envoy(tmp_path_factory):
    pki = eh.make_test_pki(tmp_path_factory.mktemp("pki"))
    with eh.LoopbackUpstream("app") as up:
        boot = _secret_bootstrap(eh.free_port(), eh.free_port(), up.port, pki)
        with eh.Envoy(boot) as envoy:
            yield envoy, pki


pytestmark = pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")


@pytest.mark.envoy
def test_bundle_has_every_document_with_checksums_and_no_secret(pdebug, secret_envoy, tmp_path):
    envoy, pki = secret_envoy
    out = tmp_path / "proxy.tar.gz"
    result = pdebug("dump", envoy.admin_url, "-o", out)
    assert result.code == 0, result.err
    assert f"saved {envoy.admin_url}" in result.err
    with tarfile.open(out) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    manifest = json.loads(members.pop("manifest.json"))
    assert manifest["format"] == "pdebug-bundle/1"
    (proxy,) = manifest["proxies"]
    # stats since issue 13 (pdebug stats, update_rejected counters); as Envoy's text
    # /stats since issue 17 (a third less of the admin's CPU; readers convert it)
    assert set(proxy["files"]) == {
        "config_dump.json",
        "clusters.json",
        "server_info.json",
        "stats.txt",
    }
    for name, meta in proxy["files"].items():
        body = members[f"{proxy['name']}/{name}"]
        assert hashlib.sha256(body).hexdigest() == meta["sha256"]
    everything = b"".join(members.values())
    # what the test seeded must not survive
    for needle in (
        BEARER.split()[1].encode(),
        JWT.encode(),
        b"session=abcdef",
        b"PRIVATE KEY",
        pki.key_pem.split(b"\n")[1],
    ):
        assert needle not in everything, needle
    assert b"[redacted]" in everything
    # while the rest is intact: the dump still parses as JSON with the header names
    dump = json.loads(members[f"{proxy['name']}/config_dump.json"])
    assert "authorization" in json.dumps(dump)


@pytest.mark.envoy
def test_every_view_reads_the_bundle(pdebug, secret_envoy, tmp_path):
    envoy, _ = secret_envoy
    out = tmp_path / "proxy.tgz"
    assert pdebug("dump", envoy.admin_url, "-o", out).code == 0
    for view in ("clusters", "listeners", "routes", "secrets", "bootstrap", "all"):
        from_bundle = pdebug(view, out)
        assert from_bundle.code == 0, from_bundle.err
        assert from_bundle.out == pdebug(view, envoy.admin_url).out, view
    # the bundle's /clusters is used for endpoint health
    assert pdebug("endpoints", out).out == pdebug("endpoints", envoy.admin_url).out
    name = json.loads(tarfile.open(out).extractfile("manifest.json").read())["proxies"][0]["name"]
    assert pdebug("clusters", f"{out}:{name}").out == pdebug("clusters", out).out
    missing = pdebug("clusters", f"{out}:nope.default")
    assert missing.code == ExitCode.SOURCE_UNAVAILABLE and "no proxy 'nope.default'" in missing.err


@pytest.mark.envoy
def test_json_output_is_the_redacted_dump(pdebug, secret_envoy, tmp_path):
    envoy, _ = secret_envoy
    out = tmp_path / "dump.json"
    assert pdebug("dump", envoy.admin_url, "-o", out).code == 0
    body = out.read_bytes()
    assert BEARER.encode() not in body and JWT.encode() not in body
    assert pdebug("clusters", out).out == pdebug("clusters", envoy.admin_url).out


@pytest.mark.envoy
def test_an_existing_output_is_kept_unless_force(pdebug, secret_envoy, tmp_path):
    envoy, _ = secret_envoy
    out = tmp_path / "old.tar.gz"
    out.write_bytes(b"earlier capture")
    result = pdebug("dump", envoy.admin_url, "-o", out)
    assert result.code == ExitCode.USAGE
    assert result.err == (
        f"pdebug: error: {out}: already exists\n"
        "hint: pass --force to replace it, or name another file\n"
    )
    assert out.read_bytes() == b"earlier capture"
    assert pdebug("dump", envoy.admin_url, "-o", out, "--force").code == 0
    assert pdebug("clusters", out).code == 0


def test_failed_capture_leaves_no_file(pdebug, tmp_path):
    out = tmp_path / "x.tar.gz"
    result = pdebug("dump", f"127.0.0.1:{eh.free_port()}", "-o", out)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (
            ["fixtures/real/sidecar/config_dump.json", "-o", "x.tar.gz"],
            ExitCode.USAGE,
            "reads a live proxy",
        ),
        (["localhost:1", "-o", "x.zip"], ExitCode.USAGE, "unknown kind of output file"),
        (
            ["localhost:1", "-o", "/nonexistent/dir/x.tar.gz"],
            ExitCode.SOURCE_UNAVAILABLE,
            "does not exist",
        ),
    ],
)
def test_dump_usage_errors(pdebug, args, code, needle):
    result = pdebug("dump", *args)
    assert result.code == code and needle in result.err


def test_redact_bytes_keeps_json_valid_and_envoy_markers():
    doc = {
        "a": {"private_key": {"inline_bytes": "W3JlZGFjdGVkXQ=="}},
        "b": {
            "private_key": {
                "inline_string": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
            }
        },
        "h": [{"header": {"key": "Authorization", "value": "Basic dXNlcjpwYXNzd29yZA=="}}],
        "t": f"token={JWT}",
        "c": "Bearer abcdefghijklmnop",
    }
    out = json.loads(redact_bytes(json.dumps(doc, indent=2).encode()))
    assert out["a"]["private_key"]["inline_bytes"] == "W3JlZGFjdGVkXQ=="
    assert out["b"]["private_key"] == {"inline_string": "[redacted]"}
    assert out["h"][0]["header"]["value"] == "[redacted]"
    assert out["t"] == "token=[redacted]"
    assert out["c"] == "Bearer [redacted]"


def test_readme_states_the_dump_timeout_default():
    import inspect

    from pdebug.cli.dump import dump_cmd
    from tests.harness import ROOT

    default = inspect.signature(dump_cmd).parameters["timeout"].default
    section = (ROOT / "README.md").read_text().split("### `pdebug dump", 1)[1].split("###")[0]
    assert f"`--timeout` defaults to {default:g} seconds" in section
