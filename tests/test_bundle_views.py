"""Bundles of several proxies, offline: check's summary table, diff per proxy, --bundle.

The bundles are made from the dumps in fixtures/ (no Envoy, no cluster), so the outputs are
exact and do not depend on the clock (certificate checks are ignored).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from conftest import FIXTURES

from pdebug import bundle
from pdebug.errors import ExitCode
from pdebug.redact import redact_bytes, redact_keys

SIDECAR = FIXTURES / "real" / "sidecar"
SEED = FIXTURES / "real" / "seed-demo"
ALL = FIXTURES / "istioctl" / "proxy-config-all" / "config_dump.json"
NO_CERTS = ("--ignore", "PD501,PD502")


def proxy(
    name: str, dump: bytes | None, clusters: bytes | None = None, **info
) -> bundle.CapturedProxy:
    pod, ns = name.rsplit(".", 1)
    files = {}
    if dump is not None:
        files[bundle.DUMP] = dump
    if clusters is not None:
        files[bundle.CLUSTERS] = clusters
    errors = info.pop("errors", [])
    status = "captured" if dump is not None else "failed"
    return bundle.CapturedProxy(
        name, f"pod/{name}", files, errors, {"pod": pod, "namespace": ns, "status": status, **info}
    )


def make_snapshot(path: Path, sidecar_dump: bytes | None = None, extra: bool = False) -> Path:
    proxies = [
        proxy(
            "productpage-v1-abc.default",
            sidecar_dump or (SIDECAR / "config_dump.json").read_bytes(),
            (SIDECAR / "clusters.json").read_bytes(),
        ),
        proxy(
            "seed.demo",
            (SEED / "config_dump.json").read_bytes(),
            (SEED / "clusters.json").read_bytes(),
        ),
        proxy("gateway-7f9.istio-system", ALL.read_bytes()),
        proxy(
            "reviews-v2-xyz.default",
            None,
            errors=[
                "pod/reviews-v2-xyz.default: the Envoy admin on port 15000 did not answer "
                "/config_dump?include_eds within 2s"
            ],
        ),  # fmt: skip
    ]
    if extra:
        proxies.append(proxy("ratings-1.shop", (SEED / "config_dump.json").read_bytes()))
    bundle.write_bundle(str(path), proxies, {"kind": "snapshot", "source": "test"})
    return path


# --------------------------------------------------------------------------- check


def test_check_bundle_summary_table(pdebug, golden, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_snapshot(Path("snap.tar.gz"))
    result = pdebug("check", "snap.tar.gz", *NO_CERTS)
    assert result.code == ExitCode.FINDINGS
    golden("check/bundle-summary.txt", result.out)
    wide = pdebug("check", "snap.tar.gz", *NO_CERTS, "-o", "wide", "--fail-on", "error")
    assert wide.code == ExitCode.FINDINGS  # gateway has an error
    assert wide.out.splitlines()[0].split() == [
        "PROXY",
        "ERRORS",
        "WARNINGS",
        "INFO",
        "TOP",
        "FINDING",
    ]
    assert pdebug("check", "snap.tar.gz", *NO_CERTS, "--fail-on", "never").code == ExitCode.OK
    # --bundle B alone is the same as B
    assert pdebug("check", "--bundle", "snap.tar.gz", *NO_CERTS).out == result.out


def test_check_bundle_json_and_rules(pdebug, tmp_path):
    snap = make_snapshot(tmp_path / "snap.tar.gz")
    doc = json.loads(pdebug("check", snap, *NO_CERTS, "-o", "json").out)
    assert doc["source"] == str(snap) and doc["fail_on"] == "warning" and doc["failed"] is True
    by = {p["name"]: p for p in doc["proxies"]}
    assert list(by) == [
        "productpage-v1-abc.default",
        "seed.demo",
        "gateway-7f9.istio-system",
        "reviews-v2-xyz.default",
    ]
    page = by["productpage-v1-abc.default"]
    assert (page["error"], page["warning"], page["info"], page["failed"]) == (0, 1, 4, True)
    assert page["top_finding"].startswith("PD403 cluster/outbound|9080||ratings")
    assert page["report"]["summary"]["warning"] == 1  # the single-proxy keys, per proxy
    assert by["seed.demo"]["top_finding"] is None and by["seed.demo"]["failed"] is False
    down = by["reviews-v2-xyz.default"]
    assert down["captured"] is False and down["report"] is None
    assert "did not answer" in down["capture_errors"][0]
    assert pdebug("check", snap, "-o", "yaml").out.startswith("source: ")
    both = pdebug("check", snap, "--clusters-json", SIDECAR / "clusters.json")
    assert both.code == ExitCode.USAGE and "--clusters-json is one proxy's" in both.err
    # one member: the usual single-proxy output
    one = pdebug("check", f"{snap}:seed.demo")
    alone = pdebug("check", SEED / "config_dump.json", "--clusters-json", SEED / "clusters.json")
    assert one.code == 0 and one.out == alone.out


def test_single_proxy_bundle_check_is_unchanged(pdebug, tmp_path):
    single = tmp_path / "one.tar.gz"
    bundle.write_bundle(
        str(single),
        [proxy("seed.demo", (SEED / "config_dump.json").read_bytes())],
        {"source": "dump"},
    )
    assert pdebug("check", single).out == pdebug("check", SEED / "config_dump.json").out


# --------------------------------------------------------------------------- --bundle


def test_bundle_option_names_a_member(pdebug, tmp_path):
    snap = make_snapshot(tmp_path / "snap.tar.gz")
    member = pdebug("clusters", f"{snap}:seed.demo")
    assert member.code == 0
    for args in (
        ["seed"],
        ["pod/seed", "-n", "demo"],
        ["seed.demo"],
        ["po/seed.demo"],
    ):
        assert pdebug("clusters", "--bundle", snap, *args).out == member.out, args
    wrong_ns = pdebug("clusters", "--bundle", snap, "seed", "-n", "default")
    assert wrong_ns.code == ExitCode.SOURCE_UNAVAILABLE
    assert "no proxy 'seed.default' in the bundle" in wrong_ns.err
    assert "hint: proxies: productpage-v1-abc.default, seed.demo," in wrong_ns.err
    admin = pdebug("clusters", "--bundle", snap, "--admin", "http://127.0.0.1:1")
    assert admin.code == ExitCode.USAGE
    not_bundle = pdebug("clusters", "--bundle", SEED / "config_dump.json", "seed")
    assert not_bundle.code == ExitCode.INVALID_INPUT and "not a pdebug bundle" in not_bundle.err
    gone = pdebug("clusters", "--bundle", tmp_path / "nope.tar.gz", "seed")
    assert gone.code == ExitCode.SOURCE_UNAVAILABLE and "no such file" in gone.err


def test_bundle_option_pod_in_two_namespaces(pdebug, tmp_path):
    seed = (SEED / "config_dump.json").read_bytes()
    path = tmp_path / "b.tar.gz"
    bundle.write_bundle(str(path), [proxy("web.a", seed), proxy("web.b", seed)], {})
    twice = pdebug("listeners", "--bundle", path, "web")
    assert twice.code == ExitCode.USAGE
    assert "pod web is in several namespaces of the bundle: web.a, web.b" in twice.err
    assert pdebug("listeners", "--bundle", path, "web", "-n", "b").code == 0


def test_old_bundles_with_the_manifest_last_still_read(pdebug, tmp_path):
    path = tmp_path / "old.tar.gz"
    body = (SEED / "config_dump.json").read_bytes()
    manifest = {
        "format": "pdebug-bundle/1",
        "proxies": [
            {"name": "a.x", "source": "pod/a.x", "files": {}, "errors": []},
            {"name": "b.x", "source": "pod/b.x", "files": {}, "errors": []},
        ],
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (
            ("a.x/config_dump.json", body),
            ("b.x/config_dump.json", body),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert bundle.peek_manifest(str(path)) == manifest
    assert pdebug("clusters", "--bundle", path, "b").code == 0
    assert "Checked 2 proxies" in pdebug("check", path).out


def test_peek_manifest_says_none_for_other_files(tmp_path):
    gz = tmp_path / "dump.json.gz"
    import gzip

    gz.write_bytes(gzip.compress((SEED / "config_dump.json").read_bytes()))
    for path in (SEED / "config_dump.json", gz, tmp_path / "missing", tmp_path):
        assert bundle.peek_manifest(str(path)) is None


# --------------------------------------------------------------------------- diff


def changed_sidecar() -> bytes:
    dump = json.loads((SIDECAR / "config_dump.json").read_bytes())
    for section in dump["configs"]:
        for entry in section.get("dynamic_active_clusters", []):
            if entry["cluster"]["name"].startswith("outbound|9080||ratings"):
                entry["cluster"]["connect_timeout"] = "7s"
    return json.dumps(dump).encode()


def test_diff_two_bundles(pdebug, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_snapshot(Path("b1.tar.gz"))
    make_snapshot(Path("b2.tar.gz"), sidecar_dump=changed_sidecar(), extra=True)
    result = pdebug("diff", "b1.tar.gz", "b2.tar.gz")
    assert result.code == ExitCode.FINDINGS, result.err
    why = (
        "pod/reviews-v2-xyz.default: the Envoy admin on port 15000 did not answer "
        "/config_dump?include_eds within 2s"
    )
    assert result.out == (
        "PROXY                       STATUS             CHANGES\n"
        "productpage-v1-abc.default  changed            clusters 1 changed\n"
        "ratings-1.shop              only in b2.tar.gz  -\n"
        f"reviews-v2-xyz.default      not-compared       not captured in b1.tar.gz: {why}\n"
        "gateway-7f9.istio-system    unchanged          -\n"
        "seed.demo                   unchanged          -\n"
        "\n"
        "1 of 5 proxies changed, 1 only in b2.tar.gz, 1 not compared, 2 unchanged.\n"
        "One proxy's changes: pdebug diff b1.tar.gz:productpage-v1-abc.default "
        "b2.tar.gz:productpage-v1-abc.default\n"
    )
    doc = json.loads(pdebug("diff", "b1.tar.gz", "b2.tar.gz", "-o", "json").out)
    assert doc["same"] is False and doc["left"] == "b1.tar.gz"
    by = {p["name"]: p for p in doc["proxies"]}
    assert by["productpage-v1-abc.default"]["kinds"] == {
        "clusters": {"changed": 1, "added": 0, "removed": 0}
    }
    assert by["ratings-1.shop"]["status"] == "only-right"
    # the hint's command: the field-level diff of that proxy
    one = pdebug(
        "diff", "b1.tar.gz:productpage-v1-abc.default", "b2.tar.gz:productpage-v1-abc.default"
    )
    assert one.code == 1 and 'connect_timeout: "10s" -> "7s"' in one.out
    # the same bundle twice: nothing changed (digest fast path) except the failed proxy
    same = pdebug("diff", "b1.tar.gz", "b1.tar.gz")
    assert "0 of 4 proxies changed, 1 not compared, 3 unchanged." in same.out
    assert same.code == ExitCode.FINDINGS  # a proxy that was not captured is not "the same"


def test_diff_bundle_option_and_include(pdebug, tmp_path):
    b1 = make_snapshot(tmp_path / "b1.tar.gz")
    b2 = make_snapshot(tmp_path / "b2.tar.gz", sidecar_dump=changed_sidecar())
    inc = pdebug("diff", b1, b2, "--include", "endpoints,secrets")
    assert inc.code == 1 and "clusters 1 changed" in inc.out
    bad = pdebug("diff", b1, b2, "--include", "bogus")
    assert bad.code == ExitCode.USAGE and "--include bogus: unknown" in bad.err
    same = pdebug("diff", "--bundle", b1, "productpage-v1-abc", "productpage-v1-abc.default")
    assert same.code == 0 and "Clusters Match" in same.out


# --------------------------------------------------------------------------- redaction


def test_redact_bytes_credential_headers_matchers_and_inline_secrets():
    doc = {
        "matchers": [
            {"name": "cookie", "invert_match": True, "string_match": {"exact": "sid=COOKIE1"}},
            {"name": "Authorization", "string_match": {"safe_regex": {"regex": "Token REGEX1"}}},
            {"name": "cookie", "exact_match": "COOKIE2"},
            {"name": "x-user", "string_match": {"exact": "keep-me"}},
        ],
        "added": [{"header": {"key": "cookie", "raw_value": "Q09PS0lFMw=="}}],
        "secrets": [
            {"name": "hmac", "generic_secret": {"secret": {"inline_string": "GENERIC1"}}},
            {"name": "tickets", "session_ticket_keys": {"keys": [{"inline_bytes": "VElDS0VU"}]}},
            {"name": "p12", "tls_certificate": {"pkcs12": {"inline_bytes": "UDEyREFUQQ=="}}},
            {"name": "envoy", "generic_secret": {"secret": {"inline_string": "[redacted]"}}},
            {
                "name": "default",
                "secret": {
                    "name": "default",
                    "tls_certificate": {"certificate_chain": {"inline_bytes": "Q0VSVA=="}},
                },
            },
        ],
    }  # fmt: skip
    for indent in (None, 1):
        out = redact_bytes(json.dumps(doc, indent=indent).encode())
        for secret in (
            b"COOKIE1",
            b"REGEX1",
            b"COOKIE2",
            b"Q09PS0lFMw",
            b"GENERIC1",
            b"VElDS0VU",
            b"UDEyREFUQQ",
        ):
            assert secret not in out, secret
        back = json.loads(out)  # still JSON
        assert back["matchers"][3]["string_match"]["exact"] == "keep-me"
        assert back["matchers"][0]["invert_match"] is True
        assert (
            back["secrets"][4]["secret"]["tls_certificate"]["certificate_chain"]["inline_bytes"]
            == "Q0VSVA=="
        )
        assert back["added"][0]["header"]["raw_value"] == "W3JlZGFjdGVkXQ=="  # base64 of the marker
    shown = json.dumps(redact_keys(doc))
    for secret in ("COOKIE1", "REGEX1", "COOKIE2", "Q09PS0lFMw", "UDEyREFUQQ"):
        assert secret not in shown, secret


@pytest.mark.parametrize("tty", [False, True])
def test_progress_lines_and_bar(tty):
    from pdebug.cli.snapshot import _Printer
    from pdebug.snapshot import Progress, ProxyRecord

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    stream = Stream()
    printer = _Printer(stream)
    printer(Progress(ProxyRecord("a", "ns", status="captured"), 1, 2))
    printer(Progress(ProxyRecord("b", "ns", errors=["it hangs"]), 2, 2))
    printer.finish()
    text = stream.getvalue()
    if not tty:
        assert text == "captured pod/a.ns (1/2)\nfailed pod/b.ns (2/2): it hangs\n"
    else:
        assert "\r\x1b[K" in text and "failed pod/b.ns (2/2): it hangs\n" in text
        assert "[###############...............] 1/2  1 captured, 0 failed, 0 skipped" in text
        assert text.endswith("\r\x1b[K")
