"""Bundles of several proxies, offline: check's summary table, diff per proxy, --bundle.

The bundles are made from the dumps in fixtures/ (no Envoy, no cluster), so the outputs are
exact and do not depend on the clock (certificate checks are ignored).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from pdebug import bundle
from pdebug.errors import ExitCode
from pdebug.redact import redact_bytes, redact_keys
from tests.harness import FIXTURES

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


def test_a_bundle_of_several_proxies_needs_a_member_named(pdebug, tmp_path):
    snap = make_snapshot(tmp_path / "snap.tar.gz")
    result = pdebug("routes", snap)
    assert result.code == ExitCode.USAGE
    message, hint = result.err.splitlines()
    assert message == f"pdebug: error: {snap}: the bundle holds 4 proxies; pick one"
    assert hint.startswith(f"hint: e.g. {snap}:productpage-v1-abc.default (proxies: ")
    assert "seed.demo" in hint


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
        f"reviews-v2-xyz.default      not-compared       not captured in either: {why}\n"
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
    # the same bundle twice: nothing changed (digest fast path); the proxy that failed in
    # both captures the same way is not compared, and that is no difference (#11.10)
    same = pdebug("diff", "b1.tar.gz", "b1.tar.gz")
    assert "0 of 4 proxies changed, 1 not compared, 3 unchanged." in same.out
    assert f"reviews-v2-xyz.default      not-compared  not captured in either: {why}" in same.out
    assert same.code == ExitCode.OK, same.out
    doc = json.loads(pdebug("diff", "b1.tar.gz", "b1.tar.gz", "-o", "json").out)
    assert doc["same"] is True
    down = {p["name"]: p for p in doc["proxies"]}["reviews-v2-xyz.default"]
    assert (down["status"], down["differs"]) == ("not-compared", False)
    assert by["reviews-v2-xyz.default"]["differs"] is False  # failed alike in both
    # per-proxy options make no sense across two bundles: say so instead of ignoring them
    wrong = pdebug("diff", "b1.tar.gz", "b2.tar.gz", "--unified")
    assert wrong.code == ExitCode.USAGE
    assert wrong.err.startswith("pdebug: error: --unified: not for comparing two bundles")


def test_diff_bundles_a_proxy_failed_on_one_side_or_differently(pdebug, tmp_path):
    """Not captured on one side only, or for another reason: a difference (exit 1)."""
    b1 = make_snapshot(tmp_path / "b1.tar.gz")
    seed = (SEED / "config_dump.json").read_bytes()
    b2 = tmp_path / "b2.tar.gz"
    b3 = tmp_path / "b3.tar.gz"
    bundle.write_bundle(
        str(b2),
        [proxy("reviews-v2-xyz.default", seed), proxy("seed.demo", seed)],
        {"kind": "snapshot"},
    )
    bundle.write_bundle(
        str(b3),
        [
            proxy(
                "reviews-v2-xyz.default", None, errors=["pod/reviews-v2-xyz.default: not Running"]
            ),
            proxy("seed.demo", seed),
        ],
        {"kind": "snapshot"},
    )
    for other, note in (
        (b2, f"not captured in {b1}: pod/reviews-v2-xyz.default: the Envoy admin"),
        (b3, f"; in {b3}: pod/reviews-v2-xyz.default: not Running"),
    ):
        result = pdebug("diff", b1, other, "-o", "json")
        assert result.code == ExitCode.FINDINGS, result.err
        doc = json.loads(result.out)
        down = {p["name"]: p for p in doc["proxies"]}["reviews-v2-xyz.default"]
        assert (down["status"], down["differs"]) == ("not-compared", True)
        assert note in down["note"]
    # b3 with itself: the same failure on both sides
    assert pdebug("diff", b3, b3).code == ExitCode.OK


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


# --------------------------------------------------------------------------- damaged, failed


def rewrite(path: Path, extra: dict[str, bytes], **manifest_keys) -> Path:
    """Add top-level or proxy members to a bundle, and keys to its manifest."""
    with tarfile.open(path) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    manifest = {**json.loads(files.pop(bundle.MANIFEST)), **manifest_keys}
    files.update(extra)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [(bundle.MANIFEST, json.dumps(manifest).encode()), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def unpack(path: Path, directory: Path) -> Path:
    """The bundle as ``pdebug snapshot --dir`` writes it: manifest.json and POD.NS/ folders."""
    with tarfile.open(path) as tar:
        tar.extractall(directory, filter="data")
    return directory


def page_data(html: str) -> dict:
    """The JSON a report page embeds."""
    m = re.search(r'<script type="application/json" id="pdebug-data">(.*?)</script>', html, re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


def truncated_sidecar() -> bytes:
    body = (SIDECAR / "config_dump.json").read_bytes()
    return body[: len(body) // 2]


def test_one_damaged_proxy_never_hides_the_others(pdebug, tmp_path):
    snap = make_snapshot(tmp_path / "snap.tar.gz", sidecar_dump=truncated_sidecar())
    result = pdebug("check", snap, *NO_CERTS)
    assert result.code == ExitCode.INVALID_INPUT, result.err
    rows = {line.split()[0]: line for line in result.out.splitlines()[1:5]}
    assert set(rows) == {
        "gateway-7f9.istio-system",
        "seed.demo",
        "productpage-v1-abc.default",
        "reviews-v2-xyz.default",
    }
    assert rows["gateway-7f9.istio-system"].split()[1:3] == ["1", "0"]  # still checked
    assert rows["productpage-v1-abc.default"].split()[1:4] == ["-", "-", "unreadable:"]
    assert "unreadable: the JSON is truncated" in rows["productpage-v1-abc.default"]
    # (then the gateway's EDS cluster without an assignment, not checked: leftovers10)
    assert "1 unreadable, 1 not captured; 1 thing not checked in 1 proxy" in result.out
    err = result.err.splitlines()
    assert len(err) == 2 and err[1].startswith("hint: ")
    assert err[0].startswith(
        f"pdebug: error: {snap}: cannot read the documents of productpage-v1-abc.default "
        "(the JSON is truncated"
    )
    doc = json.loads(pdebug("check", snap, *NO_CERTS, "-o", "json").out)
    page = {p["name"]: p for p in doc["proxies"]}["productpage-v1-abc.default"]
    assert page["unreadable"].startswith("the JSON is truncated")
    assert (page["error"], page["warning"], page["report"]) == (None, None, None)
    # report: the page is written with every proxy, then exit 4
    out = tmp_path / "r.html"
    report = pdebug("report", snap, "-o", out)
    assert report.code == ExitCode.INVALID_INPUT
    assert report.err.splitlines()[0] == f"wrote {out} (4 proxies)"
    assert "pdebug: error: " in report.err.splitlines()[1]
    assert "cannot read the documents of productpage-v1-abc.default" in report.err
    data = page_data(out.read_text())
    ov = {r[0]: r for r in data["overview"]["rows"]}
    assert ov["productpage-v1-abc.default"][7].startswith("unreadable: the JSON is truncated")
    assert ov["gateway-7f9.istio-system"][1] not in ("-", "0")  # still checked


def test_failed_captures_have_no_counts_and_all_failed_is_an_error(pdebug, tmp_path):
    snap = make_snapshot(tmp_path / "snap.tar.gz")
    doc = json.loads(pdebug("check", snap, *NO_CERTS, "-o", "json").out)
    down = {p["name"]: p for p in doc["proxies"]}["reviews-v2-xyz.default"]
    assert (down["error"], down["warning"], down["info"], down["failed"]) == (None,) * 4
    assert "did not answer" in down["capture_errors"][0]
    # the HTML report: "not captured" and the reason, not zeros
    out = tmp_path / "r.html"
    assert pdebug("report", snap, "-o", out).code == 0
    data = page_data(out.read_text())
    row = {r[0]: r for r in data["overview"]["rows"]}["reviews-v2-xyz.default"]
    assert row[1:4] == ["-", "-", "-"]
    assert row[7].startswith("not captured: pod/reviews-v2-xyz.default: the Envoy admin")
    # nothing captured at all: a clear line and exit 3, after the table
    why = "pod/{}: the Envoy admin on port 15000 did not answer /config_dump within 2s"
    dead = tmp_path / "dead.tar.gz"
    bundle.write_bundle(
        str(dead),
        [proxy(n, None, errors=[why.format(n)]) for n in ("a-1.shop", "b-1.shop")],
        {"kind": "snapshot"},
    )
    result = pdebug("check", dead)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE, result.err
    assert "Checked 0" not in result.out and "Nothing checked: 2 not captured." in result.out
    assert "capture failed: pod/a-1.shop: the Envoy admin" in result.out
    assert result.err.splitlines()[0] == (
        f"pdebug: error: {dead}: nothing to check: none of its 2 proxies was captured"
    )


def test_a_member_that_was_not_captured_says_why(pdebug, tmp_path):
    snap = make_snapshot(tmp_path / "snap.tar.gz")
    member = pdebug("routes", f"{snap}:reviews-v2-xyz.default")
    option = pdebug("routes", "--bundle", snap, "pod/reviews-v2-xyz", "-n", "default")
    for result in (member, option):
        assert result.code == ExitCode.SOURCE_UNAVAILABLE
        assert result.err.splitlines() == [
            f"pdebug: error: {snap}:reviews-v2-xyz.default: this proxy was not captured "
            "(pod/reviews-v2-xyz.default: the Envoy admin on port 15000 did not answer "
            "/config_dump?include_eds within 2s)",
            "hint: pick a captured proxy (captured: productpage-v1-abc.default, seed.demo, "
            "gateway-7f9.istio-system), or take another snapshot",
        ]


def test_a_missing_bundle_with_a_member_is_a_missing_file(pdebug, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (
        ["check", "nonexist.tar.gz:web-1.default"],
        ["routes", "nonexist.tgz:web-1.default"],
        ["report", "nonexist.tar.gz:web-1.default", "-o", "r.html"],
    ):
        result = pdebug(*args)
        assert result.code == ExitCode.SOURCE_UNAVAILABLE, (args, result.err)
        name = args[1].split(":")[0]
        assert result.err.startswith(f"pdebug: error: {name}: no such file\n"), result.err


def test_a_snapshot_directory_is_a_bundle(pdebug, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_snapshot(Path("snap.tar.gz"))
    make_snapshot(Path("b2.tar.gz"), sidecar_dump=changed_sidecar())
    unpack(Path("snap.tar.gz"), Path("d1"))
    checked = pdebug("check", "d1", *NO_CERTS)
    tarred = pdebug("check", "snap.tar.gz", *NO_CERTS)
    assert checked.code == tarred.code == ExitCode.FINDINGS, checked.err
    assert checked.out == tarred.out.replace("snap.tar.gz", "d1")
    assert pdebug("check", "--bundle", "d1", *NO_CERTS).out == checked.out
    member = pdebug("routes", "d1:productpage-v1-abc.default")
    assert member.code == 0, member.err
    assert member.out == pdebug("routes", "snap.tar.gz:productpage-v1-abc.default").out
    # the bundle's /clusters gives the endpoints their health, as from the .tar.gz
    endpoints = pdebug("endpoints", "--bundle", "d1", "pod/productpage-v1-abc", "-n", "default")
    assert endpoints.code == 0 and "UNHEALTHY" in endpoints.out
    assert endpoints.out == pdebug("endpoints", "snap.tar.gz:productpage-v1-abc.default").out
    down = pdebug("clusters", "--bundle", "d1", "reviews-v2-xyz")
    assert down.code == ExitCode.SOURCE_UNAVAILABLE and "this proxy was not captured" in down.err
    report = pdebug("report", "d1", "-o", "x.html")
    assert report.code == 0 and report.err == "wrote x.html (4 proxies)\n"
    diff = pdebug("diff", "d1", "b2.tar.gz")
    assert diff.code == ExitCode.FINDINGS and "clusters 1 changed" in diff.out
    # a plain directory is still not a dump
    Path("plain").mkdir()
    assert pdebug("check", "plain").code == ExitCode.INVALID_INPUT
    assert "not a pdebug bundle" in pdebug("clusters", "--bundle", "plain", "x").err


def test_diff_a_member_with_the_istiod_view_it_recorded(pdebug, tmp_path):
    seed = (SEED / "config_dump.json").read_bytes()
    snap = tmp_path / "s1.tar.gz"
    bundle.write_bundle(
        str(snap),
        [
            bundle.CapturedProxy(
                "seed.demo",
                "pod/seed.demo",
                {bundle.DUMP: seed, bundle.ISTIOD_DUMP: seed},
                info={"status": "captured"},
            ),
            bundle.CapturedProxy(
                "page.default",
                "pod/page.default",
                {bundle.DUMP: seed, bundle.ISTIOD_DUMP: changed_sidecar()},
                info={"status": "captured"},
            ),
            bundle.CapturedProxy(
                "alone.shop",
                "pod/alone.shop",
                {bundle.DUMP: seed},
                info={
                    "status": "captured",
                    "istiod_error": "proxy alone.shop is not connected to any istiod",
                },
            ),
        ],
        {"kind": "snapshot", "istiod": {"namespace": "istio-system", "files": {}}},
    )
    same = pdebug("diff", f"{snap}:seed.demo")
    assert same.code == 0, same.err
    assert same.out.startswith("Clusters Match\nListeners Match\nRoutes Match")
    assert pdebug("diff", "--bundle", snap, "seed").out == same.out
    differs = pdebug("diff", f"{snap}:page.default")
    assert differs.code == ExitCode.FINDINGS, differs.err
    assert f"only in istiod (recorded in {snap})" in differs.out
    missing = pdebug("diff", f"{snap}:alone.shop")
    assert missing.code == ExitCode.SOURCE_UNAVAILABLE
    assert missing.err.splitlines() == [
        f"pdebug: error: {snap}:alone.shop: the bundle has no istiod view for this proxy "
        "(proxy alone.shop is not connected to any istiod)",
        "hint: compare with istiod live (pdebug diff pod/alone -n shop), or with a saved "
        "istiod answer (--expected FILE)",
    ]
    # no istiod asked at all: the manifest's reason
    quiet = make_snapshot(tmp_path / "q.tar.gz")
    rewrite(quiet, {}, istiod={"error": "not asked (--no-istiod)"})
    none = pdebug("diff", f"{quiet}:seed.demo")
    assert none.code == ExitCode.SOURCE_UNAVAILABLE
    assert "no istiod view for this proxy (not asked (--no-istiod))" in none.err


SYNCZ = {
    "istiod-7c9d-a": [
        {"proxy": "web-1.default", "cluster_id": "Kubernetes", "istio_version": "1.24.0",
         "cluster_sent": "a", "cluster_acked": "a", "listener_sent": "b", "listener_acked": "b",
         "route_sent": "c", "route_acked": "old", "endpoint_sent": "d", "endpoint_acked": "d"},
    ],
    "istiod-7c9d-b": [],
}  # fmt: skip


def test_status_file_reads_the_sync_status_a_bundle_recorded(pdebug, tmp_path):
    body = json.dumps(SYNCZ).encode()
    saved = tmp_path / "syncz.json"
    saved.write_bytes(body)
    want = pdebug("status", "--file", saved, "-o", "wide")
    assert want.code == 0 and "web-1.default" in want.out
    snap = rewrite(make_snapshot(tmp_path / "s.tar.gz"), {bundle.ISTIOD_SYNCZ: body})
    for source in (snap, unpack(snap, tmp_path / "d")):
        got = pdebug("status", "--file", source, "-o", "wide")
        assert (got.code, got.out) == (0, want.out), got.err
    # no syncz recorded: said, with why
    bare = rewrite(make_snapshot(tmp_path / "b.tar.gz"), {}, istiod={"error": "no istiod pods"})
    result = pdebug("status", "--file", bare)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    assert result.err.splitlines()[0] == (
        f"pdebug: error: {bare}: the bundle has no recorded istiod sync status (no istiod pods)"
    )
    assert result.err.splitlines()[1].startswith("hint: ask istiod live")


def test_diff_bundles_a_proxy_whose_capture_lacks_a_section(pdebug, tmp_path):
    # sweep7: a proxy captured without its clusters section (a masked capture) was
    # "changed: clusters N removed"; it is not compared, and that is a difference.
    seed = (SEED / "config_dump.json").read_bytes()
    doc = json.loads(seed)
    doc["configs"] = [c for c in doc["configs"] if "ClustersConfigDump" not in c["@type"]]
    b1, b2 = tmp_path / "b1.tar.gz", tmp_path / "b2.tar.gz"
    masked = json.dumps(doc).encode()
    for path, dump in ((b1, seed), (b2, masked)):
        members = [proxy("seed.demo", dump), proxy("other.demo", seed)]
        bundle.write_bundle(str(path), members, {"kind": "snapshot"})
    result = pdebug("diff", b1, b2, "-o", "json")
    assert result.code == ExitCode.FINDINGS, result.err
    p = {p["name"]: p for p in json.loads(result.out)["proxies"]}["seed.demo"]
    assert (p["status"], p["differs"], p["kinds"]) == ("not-compared", True, {})
    assert p["note"] == f"{b2} has no clusters section"


def test_hold_reads_what_the_source_holds(tmp_path):
    """sources.held.hold: a bundle of several proxies or a plain file whole, else one source."""
    from pdebug.errors import UsageError
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.held import hold
    from pdebug.sources.spec import FileSpec, MemberSpec

    snap = make_snapshot(tmp_path / "snap.tar.gz")
    with hold(FileSpec(str(snap)), LiveOptions(), "several") as held:
        assert held.source is None and held.label == str(snap)
        names = [p.name for p in held.proxies]
        assert names[:2] == ["productpage-v1-abc.default", "seed.demo"]
        down = held.proxies[names.index("reviews-v2-xyz.default")]
        assert down.files == {} and down.unreadable is None and down.entry.get("errors")
    with pytest.raises(UsageError, match="--clusters-json is one proxy's"):
        hold(FileSpec(str(snap)), LiveOptions(), "several", "--clusters-json")
    member = MemberSpec(str(snap), "seed.demo")
    with hold(member, LiveOptions(), "several") as held:  # one proxy: one source
        assert held.source is not None and held.proxies == []
    with hold(member, LiveOptions(), "any") as held:  # report: that proxy of the bundle
        assert [p.name for p in held.proxies] == ["seed.demo"] and "config_dump.json" in (
            held.proxies[0].files
        )
    plain = FileSpec(str(SEED / "config_dump.json"))
    with hold(plain, LiveOptions(), "several") as held:  # read once, as one proxy
        assert held.source is None and held.data is not None and not held.proxies
    with hold(FileSpec(plain.path, flag=True), LiveOptions(), "several") as held:
        assert held.source is not None  # --bundle FILE: its source says it is no bundle
    with hold(plain, LiveOptions(), "any") as held:
        assert held.source is None and held.data is not None and not held.proxies


def _count_opens(monkeypatch) -> list[str]:
    """The paths the file readers open from now on (every module that calls open_input)."""
    from pdebug.sources import bundle as reader
    from pdebug.sources import file as file_mod
    from pdebug.sources import held as held_mod
    from pdebug.sources import saved as saved_mod

    opened: list[str] = []
    real = file_mod.open_input

    def counting(path, *args, **kwargs):
        opened.append(path)
        return real(path, *args, **kwargs)

    for module in (file_mod, held_mod, saved_mod, reader):
        monkeypatch.setattr(module, "open_input", counting)
    return opened


def test_check_opens_a_plain_dump_once(monkeypatch):
    """#14: check reads a plain dump with one open (no second open by a source)."""
    from pdebug.model import ProxyData
    from pdebug.proxy import Fetch, read_every
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    path = str(SEED / "config_dump.json")
    opened = _count_opens(monkeypatch)
    named, got = read_every(
        SourceWords(path), LiveOptions(), Fetch.checks(stats=True), bundles="several"
    )
    assert named == path and isinstance(got, ProxyData) and got.dump is not None
    assert got.source == path and got.health is None and got.stats is None
    assert opened == [path]


def test_check_reads_a_bundle_of_one_proxy_once(tmp_path, monkeypatch):
    """#14: check opens a bundle of one proxy once: its source reads what hold read."""
    from pdebug.model import ProxyData
    from pdebug.proxy import Fetch, read_every
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    one = tmp_path / "one.tar.gz"
    dump, health = (SEED / "config_dump.json").read_bytes(), (SEED / "clusters.json")
    bundle.write_bundle(str(one), [proxy("seed.demo", dump, health.read_bytes())], {})
    opened = _count_opens(monkeypatch)
    named, got = read_every(
        SourceWords(str(one)), LiveOptions(), Fetch.checks(stats=True), bundles="several"
    )
    assert isinstance(got, ProxyData) and got.source == f"{one}:seed.demo"
    assert got.dump is not None and got.health is not None
    assert opened == [str(one)]


def test_hold_reads_a_bundle_of_several_proxies_in_one_pass(tmp_path, monkeypatch):
    """#14: check reads a bundle of several proxies with one open of the bundle reader.

    The manifest decides (several proxies, or one: then one source), ``--clusters-json``
    is refused before a member is read, and a single-proxy bundle is left to the source.
    """
    from pdebug.errors import UsageError
    from pdebug.sources import bundle as reader
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.held import hold
    from pdebug.sources.spec import FileSpec

    snap = make_snapshot(tmp_path / "snap.tar.gz")
    opened = _count_opens(monkeypatch)
    with hold(FileSpec(str(snap)), LiveOptions(), "several") as held:
        assert len(held.proxies) > 1 and held.capture.get("created")
    assert opened == [str(snap)]  # one open: its first block, then the bundle reader's read
    read: list[str] = []
    monkeypatch.setattr(reader.Bundle, "proxy", lambda self, name: read.append(name) or {})
    with pytest.raises(UsageError, match="--clusters-json is one proxy's"):
        hold(FileSpec(str(snap)), LiveOptions(), "several", "--clusters-json")
    assert read == []  # refused before any member was read
    one = tmp_path / "one.tar.gz"
    bundle.write_bundle(
        str(one), [proxy("seed.demo", (SEED / "config_dump.json").read_bytes())], {}
    )
    with hold(FileSpec(str(one)), LiveOptions(), "several") as held:
        assert held.source is not None and held.proxies == []
