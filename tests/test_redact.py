"""Redaction is total for what the README's table promises (issue #12.5).

Every kind of secret is planted in every place Envoy can carry it, in a real Envoy 1.40
(whose own dump already hides private keys) and in the dump of a producer that hides
nothing (inline private keys, header fields in any order, istiod's lowerCamelCase). Then
every file ``pdebug dump``, ``pdebug snapshot`` and ``pdebug report`` write, and every
``-o json|yaml`` a view prints, is searched for each secret.
"""

from __future__ import annotations

import base64
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pdebug.redact import ENVOY_REDACTED_B64, REDACTED, redact_bytes, redact_keys, redact_text
from tests import harness as eh
from tests.harness import FIXTURES
from tests.harness import kube_double as kd

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TLS_UP = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


def jwt(sub: str, signed: bool = True) -> str:
    def b64(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    head = b64({"alg": "RS256" if signed else "none", "typ": "JWT"})
    sig = base64.urlsafe_b64encode(f"sig-{sub}".encode()).decode().rstrip("=") if signed else ""
    return f"{head}.{b64({'sub': sub})}.{sig}"


def pem(kind: str, marker: str) -> str:
    """A private-key block whose body carries ``marker`` (what must never be seen)."""
    body = base64.b64encode(f"{marker}-key-material-{marker}".encode() * 3).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"


# What must never be written: the secret -> a short name of its kind.
SECRETS: dict[str, str] = {}


def secret(kind: str, value: str, needle: str | None = None) -> str:
    """Plant ``value``; ``needle`` (default: the value) must not appear in any output."""
    SECRETS[needle or value] = kind
    return value


def pem_secret(kind: str, marker: str) -> str:
    block = pem(kind, marker)
    for line in block.splitlines()[1:-1]:
        SECRETS[line] = kind
    return block


def _plantings(pki_key: str) -> dict[str, Any]:
    """The planted bootstrap pieces (a fresh set of canaries each call is not needed)."""
    gcp_sa = json.dumps(
        {
            "type": "service_account",
            "private_key_id": secret("gcp key id", "c4n4ry9cpkeyid0123456789"),
            "private_key": pem_secret("PRIVATE KEY", "c4n4ryGCP"),
            "client_email": "svc@project.iam.gserviceaccount.com",
        }
    )
    lua = "\n".join(
        [
            "-- routing helper",
            f'local api_key = "{secret("lua api key", "c4n4ry-lua-api-key-1")}"',
            f"local DB_PASSWORD = '{secret('lua password', 'c4n4ry-lua-password')}'",
            "function envoy_on_request(request_handle)",
            '  request_handle:headers():add("x-api-key", '
            f'"{secret("lua header", "c4n4ry-lua-x-api-key")}")',
            '  request_handle:headers():replace("authorization", "Bearer '
            f'{secret("lua bearer", "c4n4ry-lua-bearer-tok")}")',
            "end",
        ]
    )
    env_text = (
        f"PASSWORD={secret('env password', 'c4n4ry-env-pw-1')}\n"
        f"password: {secret('yaml password', 'c4n4ry-yaml-pw-2')}\n"
        f"aws_secret_access_key = {secret('aws secret', 'c4n4ryAWSsecretKEY0123456789abcdef')}\n"
        f"AWS_ACCESS_KEY_ID={secret('aws key id', 'AKIAC4N4RY0000000001')}\n"
        f"url = postgres://app:{secret('url password', 'c4n4ry-url-pw-3')}@db.internal:5432/x\n"
        f"google = {secret('google api key', 'AIzaSyC4n4ry0123456789abcdefghijklmnopq')}\n"
    )
    return {"gcp_sa": gcp_sa, "lua": lua, "env_text": env_text, "pki_key": pki_key}


def _null_log(line: str) -> list[dict[str, Any]]:
    """An ``access_log`` list: one file logger to /dev/null whose format is ``line``."""
    return [
        {
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": FILE_LOG,
                "path": "/dev/null",
                "log_format": {"text_format_source": {"inline_string": line + "\n"}},
            },
        }
    ]


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}}


def planted_bootstrap(admin_port: int, listener_port: int, upstream_port: int, pki) -> dict:
    """The seed demo with every kind of secret in every place a config may hold one."""
    p = _plantings(pki.key_pem.decode())
    boot = eh.seed_demo_bootstrap(admin_port, listener_port, upstream_port)
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    rc = hcm["route_config"]
    vhost = rc["virtual_hosts"][0]
    route = vhost["routes"][0]
    rc["response_headers_to_add"] = [
        _header("set-cookie", secret("set-cookie", "sid=c4n4ry-set-cookie-1; HttpOnly")),
    ]
    vhost["request_headers_to_add"] = [
        _header("authorization", "Bearer " + secret("bearer", "c4n4ry-vhost-bearer-1")),
        _header("x-forwarded-jwt", secret("jwt", jwt("c4n4ry-vhost-jwt"))),
        _header("x-unsigned", secret("unsigned jwt", jwt("c4n4ry-unsigned", signed=False))),
        _header("cookie", secret("cookie", "session=c4n4ry-cookie-1")),
        _header("proxy-authorization", "Basic " + secret("basic", "YzRuNHJ5OnByb3h5cGFzcw==")),
        _header("x-api-key", secret("x-api-key", "c4n4ry-x-api-key-1")),
        _header("x-auth-token", secret("x-auth-token", "c4n4ry-x-auth-token-1")),
    ]
    route["request_headers_to_add"] = [
        _header("Authorization", "Bearer " + secret("bearer", "c4n4ry-route-bearer-2")),
        _header("x-api-key", secret("x-api-key", "c4n4ry-route-api-key-2")),
    ]
    route["response_headers_to_add"] = [
        _header("Set-Cookie", secret("set-cookie", "token=c4n4ry-set-cookie-2")),
    ]
    route["match"]["headers"] = [
        {"name": "cookie", "string_match": {"exact": secret("matcher", "c4n4ry-exact-cookie")}},
        {"name": "authorization", "string_match": {"prefix": secret("matcher", "c4n4ry-prefix")}},
        {
            "name": "x-api-key",
            "string_match": {
                "safe_regex": {"google_re2": {}, "regex": secret("matcher", "c4n4ry-re2-regex")}
            },
        },
        {
            "name": "Authorization",
            "safe_regex_match": {"regex": secret("matcher", "c4n4ry-safe-regex-match")},
        },
        {"name": "cookie", "string_match": {"contains": secret("matcher", "c4n4ry-contains")}},
    ]
    route["match"]["query_parameters"] = [
        {
            "name": "access_token",
            "string_match": {"exact": secret("query matcher", "c4n4ry-query-token")},
        }
    ]
    hcm["http_filters"] = [
        {
            "name": "envoy.filters.http.lua",
            "typed_config": {
                "@type": LUA,
                "default_source_code": {"inline_string": p["lua"]},
                "source_codes": {
                    "env": {"inline_string": "--[[\n" + p["env_text"] + "]]\n"},
                    "bytes": {"inline_bytes": base64.b64encode(p["lua"].encode()).decode()},
                },
            },
        },
        {
            "name": "envoy.filters.http.ext_authz",
            "typed_config": {
                "@type": EXT_AUTHZ,
                "transport_api_version": "V3",
                "failure_mode_allow": True,
                "grpc_service": {
                    "envoy_grpc": {"cluster_name": "service_google"},
                    "initial_metadata": [
                        {
                            "key": "authorization",
                            "value": "Bearer " + secret("grpc metadata", "c4n4ry-grpc-meta"),
                        },
                        {"key": "x-api-key", "value": secret("grpc metadata", "c4n4ry-grpc-key")},
                    ],
                },
            },
        },
        {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}},
    ]
    hcm["local_reply_config"] = {
        "body_format": {
            "text_format_source": {
                "inline_string": "error; password: "
                + secret("local reply", "c4n4ry-local-reply-pw")
                + "\n"
            }
        }
    }
    hcm["access_log"] = _null_log(
        "%START_TIME% api_key=" + secret("log format", "c4n4ry-log-format-key")
    )
    # a second route answering directly, with credentials in its body
    vhost["routes"].insert(
        0,
        {
            "match": {"prefix": "/direct"},
            "direct_response": {"status": 200, "body": {"inline_string": p["env_text"]}},
        },
    )
    cluster = boot["static_resources"]["clusters"][0]
    cluster["metadata"] = {
        "filter_metadata": {
            "creds": {
                "db_password": secret("cluster metadata", "c4n4ry-cluster-db-pw"),
                "dsn": "mysql://root:" + secret("url password", "c4n4ry-dsn-pw") + "@db:3306/x",
                "note": "aws " + secret("aws key id", "ASIAC4N4RY0000000002"),
            }
        }
    }
    cluster["health_checks"] = [
        {
            "timeout": "1s",
            "interval": "30s",
            "unhealthy_threshold": 3,
            "healthy_threshold": 1,
            "http_health_check": {
                "path": "/healthz",
                "request_headers_to_add": [
                    _header("authorization", "Bearer " + secret("health check", "c4n4ry-hc-tok")),
                    _header("cookie", secret("health check", "hc=c4n4ry-hc-cookie")),
                ],
            },
        }
    ]
    boot["node"] = {
        "id": "planted.default",
        "cluster": "planted",
        "metadata": {
            "DB_PASSWORD": secret("node metadata", "c4n4ry-node-db-password"),
            "API_TOKEN": secret("node metadata", "c4n4ry-node-api-token"),
            "UNSIGNED": secret("node unsigned jwt", jwt("c4n4ry-node", signed=False)),
            "ENV": p["env_text"],
            "GCP_SA": p["gcp_sa"],
            "PGP": pem_secret("PGP PRIVATE KEY BLOCK", "c4n4ryPGP"),
            "SSH": pem_secret("OPENSSH PRIVATE KEY", "c4n4rySSH"),
            "RSA": pem_secret("RSA PRIVATE KEY", "c4n4ryRSA"),
            "CONFIG": json.dumps(
                {"client_secret": secret("json in metadata", "c4n4ry-client-secret")}
            ),
            "ISTIO_VERSION": "1.27.1",
        },
    }
    boot["admin"]["access_log"] = _null_log(
        "admin %REQ(:PATH)% Bearer " + secret("admin log", "c4n4ry-admin-log-bearer")
    )
    boot["static_resources"]["secrets"] = [
        {
            "name": "server-cert",
            "tls_certificate": {
                "certificate_chain": {"inline_string": pki.cert_pem.decode()},
                "private_key": {"inline_string": pki.key_pem.decode()},
            },
        },
        {"name": "hmac", "generic_secret": {"secret": {"inline_string": "c4n4ry-generic-1"}}},
    ]
    SECRETS["c4n4ry-generic-1"] = "generic secret"
    for line in pki.key_pem.decode().splitlines()[1:-1]:
        SECRETS[line] = "tls private key"
    return boot


def non_envoy_dump(dump: dict[str, Any], pki) -> dict[str, Any]:
    """``dump`` as a producer that hides nothing would write it.

    Private keys are inline (string and bytes) in clusters' and listeners' transport
    sockets and in SDS secrets; header values come before their keys, matchers' names
    after their match.
    """
    text = json.dumps(dump)
    key = pki.key_pem.decode()
    text = text.replace(json.dumps("[redacted]"), json.dumps(key))
    text = text.replace('"W3JlZGFjdGVkXQ=="', json.dumps(base64.b64encode(pki.key_pem).decode()))
    doc = json.loads(text)
    tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": TLS_UP,
            "common_tls_context": {
                "tls_certificates": [
                    {
                        "certificate_chain": {"inline_string": pki.cert_pem.decode()},
                        "private_key": {"inline_string": key},
                    }
                ]
            },
        },
    }

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: walk(v) for k, v in value.items()}
            if set(out) == {"key", "value"}:  # a HeaderValue: value first
                out = {"value": out["value"], "key": out["key"]}
            if "name" in out and ("string_match" in out or "safe_regex_match" in out):
                name = out.pop("name")
                out["name"] = name  # a matcher: name last
            if out.get("name") == "service_google" and "connect_timeout" in out:
                out["transport_socket"] = tls
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(doc)


def camel(value: Any) -> Any:
    """Keys in lowerCamelCase, as istiod writes its config dump."""
    if isinstance(value, dict):
        return {
            re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): camel(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def leaks(blob: bytes | str, where: str) -> list[str]:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    # JSON and YAML may escape a slash or fold a PEM line: look at the escaped forms too
    forms = (text, text.replace("\\/", "/"), text.replace("\\n", "\n"))
    return [f"{where}: {kind}: {needle[:40]}" for needle, kind in SECRETS.items()
            if any(needle in f for f in forms)]  # fmt: skip


# --------------------------------------------------------------------------- fixtures

pytestmark = pytest.mark.usefixtures("no_ambient_config")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not eh.envoy_available():
        pytest.skip("no envoy binary")
    pki = eh.make_test_pki(tmp_path_factory.mktemp("pki"))
    with eh.LoopbackUpstream("app") as up:
        boot = planted_bootstrap(eh.free_port(), eh.free_port(), up.port, pki)
        with eh.Envoy(boot) as envoy:
            raw = envoy.config_dump(include_eds=True)
            files = tmp_path_factory.mktemp("planted")
            envoy_file = files / "envoy.json"
            envoy_file.write_text(json.dumps(raw, indent=2))
            other = non_envoy_dump(raw, pki)
            other_file = files / "other.json"
            other_file.write_text(json.dumps(other, indent=2))
            yield {
                "envoy": envoy,
                "pki": pki,
                "envoy_file": envoy_file,
                "other_file": other_file,
                "other": other,
            }


def test_the_planted_secrets_are_in_what_envoy_serves(planted):
    """The test means something: Envoy shows every planted token (only keys it hides)."""
    served = json.dumps(planted["envoy"].config_dump(include_eds=True))
    missing = [n for n, kind in SECRETS.items() if n not in served.replace("\\n", "\n")]
    hidden_by_envoy = {"tls private key", "generic secret"}
    assert {SECRETS[n] for n in missing} <= hidden_by_envoy, missing
    assert len(SECRETS) >= 50
    other = json.dumps(planted["other"]).replace("\\n", "\n")
    assert [n for n in SECRETS if n not in other and SECRETS[n] != "generic secret"] == []


# --------------------------------------------------------------------------- the engine


@pytest.mark.parametrize("variant", ["envoy", "other", "other-compact", "other-camel"])
def test_redact_bytes_hides_every_planting_and_keeps_json(planted, variant):
    doc = json.loads(planted["other_file" if "other" in variant else "envoy_file"].read_text())
    if variant == "other-camel":
        doc = camel(doc)
    body = json.dumps(doc, indent=None if "compact" in variant else 2).encode()
    out = redact_bytes(body)
    assert leaks(out, variant) == []
    back = json.loads(out)  # still JSON, same shape
    assert type(back) is type(doc) and len(back["configs"]) == len(doc["configs"])
    text = out.decode()
    # what is not secret is kept: header names, certificate chains, filenames
    for kept in ("x-api-key", "set-cookie", "proxy-authorization", "BEGIN CERTIFICATE"):
        assert kept in text.replace("\\n", "\n"), kept
    assert redact_bytes(out) == out  # idempotent


def test_redact_keys_and_no_redact_mode(planted):
    doc = planted["other"]
    assert leaks(json.dumps(redact_keys(doc)), "redact_keys") == []
    keys_only = redact_bytes(json.dumps(doc).encode(), tokens=False).decode()
    for needle, kind in SECRETS.items():
        if kind in ("tls private key",) or "PRIVATE" in kind.upper():
            assert needle not in keys_only, kind
    assert "c4n4ry-vhost-bearer-1" in keys_only  # --no-redact keeps tokens


def test_nothing_changes_in_real_dumps_without_secrets():
    """No false positives on the real fixtures (names with token, secret, key in them)."""
    for path in sorted((FIXTURES / "real").rglob("*.json")) + sorted(
        (FIXTURES / "istioctl").rglob("config_dump.json")
    ):
        body = path.read_bytes()
        out = redact_bytes(body)
        if out != body:
            changed = json.loads(out)
            assert REDACTED in out.decode() or ENVOY_REDACTED_B64.decode() in out.decode(), path
            json.dumps(changed)


def test_redact_text_for_labels_and_urls():
    assert redact_text("http://admin:hunter2@127.0.0.1:15000") == (
        "http://admin:[redacted]@127.0.0.1:15000"
    )
    assert redact_text("pod/web-1.default") == "pod/web-1.default"
    assert redact_text("Authorization: Bearer abcdefgh12") == "Authorization: Bearer [redacted]"


# --------------------------------------------------------------------------- every writer


def files_of(path: Path) -> dict[str, bytes]:
    if path.suffix == ".json":
        return {path.name: path.read_bytes()}
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.mark.envoy
def test_dump_writes_no_planted_secret(pdebug, planted, tmp_path):
    envoy = planted["envoy"]
    for name in ("proxy.tar.gz", "proxy.json"):
        out = tmp_path / name
        r = pdebug("dump", envoy.admin_url, "-o", out)
        assert r.code == 0, r.err
        for member, body in files_of(out).items():
            assert leaks(body, f"dump {name}:{member}") == []
        assert leaks(r.err, "dump stderr") == []


class _Producer(eh.LoopbackHTTPServer):
    """An admin port whose producer hides nothing (the non-Envoy dump)."""

    def __init__(self, dump: bytes) -> None:
        super().__init__(thread_name="planted-admin")
        self.dump = dump

    def respond(self, request: Any) -> tuple[int, bytes, str]:
        path = request.path
        if path.startswith("/config_dump"):
            return 200, self.dump, "application/json"
        if path.startswith("/clusters"):
            return 200, b'{"cluster_statuses": []}', "application/json"
        if path.startswith("/server_info"):
            return 200, b'{"state": "LIVE", "node": {"id": "x"}}', "application/json"
        return 404, b"", "text/plain"


@pytest.mark.envoy
def test_dump_of_a_producer_that_hides_nothing_and_its_admin_url(pdebug, planted, tmp_path):
    with _Producer(planted["other_file"].read_bytes()) as admin:
        out = tmp_path / "other.tar.gz"
        password = secret("admin url password", "c4n4ry-admin-url-pw")
        url = f"http://admin:{password}@127.0.0.1:{admin.port}"
        r = pdebug("dump", url, "-o", out)
        assert r.code == 0, r.err
        members = files_of(out)
        for member, body in members.items():
            assert leaks(member, "member name") == []
            assert leaks(body, f"dump:{member}") == []
        assert "admin:[redacted]@127.0.0.1" in json.loads(members["manifest.json"])["source"]
        assert leaks(r.err, "dump stderr") == []
        # --no-redact keeps tokens, never private keys
        raw = tmp_path / "raw.json"
        assert pdebug("dump", url, "-o", raw, "--no-redact").code == 0
        body = raw.read_text()
        assert "c4n4ry-vhost-bearer-1" in body
        assert [n for n, k in SECRETS.items() if k == "tls private key" and n in body] == []
        assert "PRIVATE KEY-----" not in body


@pytest.mark.envoy
def test_snapshot_writes_no_planted_secret(pdebug, planted, kube: kd.KubeDouble, tmp_path):
    with _Producer(planted["other_file"].read_bytes()) as admin:
        kube.add_pod("web-1", "default", forwards={15000: planted["envoy"].admin_address})
        kube.add_pod("other-1", "default", forwards={15000: admin.address})
        kubeconfig = str(kube.write_kubeconfig(tmp_path / "kubeconfig"))
        out = tmp_path / "snap.tar.gz"
        args = ("snapshot", "-n", "default", "-o", out, "--kubeconfig", kubeconfig, "--no-istiod")
        r = pdebug(*args)
        assert r.code in (0, 1), r.err
        members = files_of(out)
        assert any(m.endswith("config_dump.json") for m in members)
        for member, body in members.items():
            assert leaks(body, f"snapshot:{member}") == []
        directory = tmp_path / "snapdir"
        r = pdebug("snapshot", "-n", "default", "--dir", directory, "--kubeconfig", kubeconfig,
                   "--no-istiod")  # fmt: skip
        assert r.code in (0, 1), r.err
        for path in directory.rglob("*"):
            if path.is_file():
                assert leaks(path.read_bytes(), f"snapshot dir:{path.name}") == []


VIEWS = ["clusters", "listeners", "routes", "endpoints", "secrets", "bootstrap", "ecds", "all"]


@pytest.mark.envoy
@pytest.mark.parametrize("source", ["envoy_file", "other_file", "live"])
def test_json_and_yaml_of_every_view_print_no_planted_secret(pdebug, planted, source):
    where = planted["envoy"].admin_url if source == "live" else planted[source]
    for view in VIEWS:
        for fmt in ("json", "yaml"):
            r = pdebug(view, where, "-o", fmt)
            assert r.code in (0, 4), r.err
            assert leaks(r.out, f"{view} -o {fmt}") == []
            if r.code == 0:
                (json.loads if fmt == "json" else yaml.safe_load)(r.out)


@pytest.mark.envoy
def test_text_views_trace_and_check_print_no_planted_secret(pdebug, planted):
    source = planted["other_file"]
    for args in (
        *((view, source, "-o", "wide") for view in VIEWS),
        ("check", source, "-o", "json"),
        ("trace", source, f"http://127.0.0.1:{planted['envoy'].admin_address[1]}/"),
    ):
        r = pdebug(*args)
        assert leaks(r.out, " ".join(map(str, args))) == []


@pytest.mark.envoy
def test_report_writes_no_planted_secret(pdebug, planted, tmp_path):
    for source in ("envoy_file", "other_file"):
        out = tmp_path / f"{source}.html"
        r = pdebug("report", planted[source], "-o", out)
        assert r.code in (0, 1), r.err
        assert leaks(out.read_bytes(), f"report {source}") == []


@pytest.mark.envoy
def test_diff_lines_quote_no_planted_secret(pdebug, planted, tmp_path):
    """A diff prints the values that differ: redacted as json/yaml are."""
    before = json.loads(planted["other_file"].read_text())
    stripped = json.loads(json.dumps(before).replace("c4n4ry", "changed"))
    left = tmp_path / "left.json"
    left.write_text(json.dumps(stripped))
    for extra in (["--unified"], [], ["-o", "wide"], ["-o", "json"], ["-o", "yaml"]):
        r = pdebug("diff", left, planted["other_file"], "--include", "static", *extra)
        assert r.code == 1, r.err
        assert leaks(r.out, f"diff {extra}") == []


def test_the_private_key_precheck_never_misses_what_redaction_hides():
    """dump skips rewriting a --no-redact document when may_hold_private_key says no: that
    must only ever happen when redaction would change nothing."""
    import base64
    import glob

    from pdebug.redact import may_hold_private_key, redact_bytes

    pem = b"-----BEGIN PRIVATE KEY-----\\nMIIBVQ\\n-----END PRIVATE KEY-----\\n"
    planted = [
        b'{"private_key": {"inline_string": "' + pem + b'"}}',
        b'{"privateKey": {"inlineBytes": "' + base64.b64encode(pem) + b'"}}',
        b'{"x": "' + base64.b64encode(pem.replace(b"\\\\n", b"\\n")) + b'"}',
    ]
    for doc in planted:
        assert may_hold_private_key(doc), doc
    from tests.harness import FIXTURES

    for path in glob.glob(str(FIXTURES / "**" / "*.json"), recursive=True):
        data = open(path, "rb").read()
        if not may_hold_private_key(data):
            assert redact_bytes(data, tokens=False) == data, path


def test_candidate_tails_keep_every_name_the_regex_accepts() -> None:
    """The two-character test in front of ``_CANDIDATE`` never drops a name it accepts (#17)."""
    import random

    from pdebug import redact

    parts = [
        "pass", "word", "wd", "secret", "token", "api", "key", "access", "private", "id",
        "json", "credential", "s", "pkcs12", "session", "ticket", "keys", "provider",
        "authorization", "cookie", "_", "-", "x", "configs", "sds",
    ]  # fmt: skip
    rnd = random.Random(17)
    names = {"".join(rnd.choice(parts) for _ in range(rnd.randint(1, 5))) for _ in range(50_000)}
    accepted = 0
    for name in names:
        low = name.encode()
        b = len(low)
        for i in range(b):
            if redact._CANDIDATE.search(low, max(0, i - 24), b):
                accepted += 1
                assert redact._candidate(low, i, b), name
            else:
                assert not redact._candidate(low, i, b), name
    assert accepted > 1000
