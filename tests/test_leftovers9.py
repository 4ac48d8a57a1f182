"""leftovers9: what usersaudit found and left (CHANGELOG, eleventh session, its Left list).

Each test failed before its fix: ``-l`` before the command, ``trace`` by a host name into
chains that match only by destination IP, and ``check`` on a certificate kept in a file on
the proxy. (``eds`` on a dump without EDS: tests/test_cli_habits.py.)
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pdebug.cli.habits import normalize
from pdebug.errors import ExitCode
from tests.harness import FIXTURES, ISTIOCTL, error_and_hint
from tests.harness import envoy as eh
from tests.harness.pki import make_test_pki

needs_envoy = pytest.mark.skipif(not eh.envoy_available(), reason="envoy not installed")

SIDECAR = FIXTURES / "real/sidecar/config_dump.json"


# --- -l/--selector before the command (kubectl's habit: options first) ---------------------


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["-l", "app=productpage", "clusters", SIDECAR], "clusters"),
        (["-lapp=productpage", "listeners", SIDECAR], "listeners"),
        (["--selector", "app=productpage", "pc", "route", SIDECAR], "routes"),
        (["--selector=app=productpage", "-n", "shop", "check"], "check"),
        (["-n", "shop", "-l", "app=productpage", "x", "envoy-stats"], "stats"),
    ],
)
def test_selector_before_the_command_says_how_to_read_many(pdebug, args, command):
    """It was Click's "No such option: -l" (the refusal covered -l after the command)."""
    error, hint = error_and_hint(pdebug(*args), ExitCode.USAGE)
    assert error == f"pdebug: error: pdebug {command} has no -l/--selector: it reads one proxy"
    assert "pdebug snapshot -l app=productpage -o FILE, then pdebug check FILE" in hint


def test_selector_before_status_points_at_namespace(pdebug):
    error, hint = error_and_hint(pdebug("-l", "app=web", "status"), ExitCode.USAGE)
    assert error.endswith("pdebug status has no -l/--selector: it shows every proxy istiod knows")
    assert "pdebug status -n NS" in hint


@pytest.mark.parametrize("command", ["snapshot", "assert"])
def test_selector_before_a_command_that_has_one_goes_to_it(command):
    """snapshot's and assert's own -l, typed first, is theirs (as -n is)."""
    args = normalize(["-l", "app=web", command, "-n", "shop"])
    assert args[0] == command
    assert args[args.index("-l") + 1] == "app=web"
    assert normalize(["--selector=app=web", command])[:2] == [command, "--selector=app=web"]


# --- check: a certificate kept in a file on the proxy (istio/istio#28099) -------------------

CORPUS = FIXTURES / "corpus"


def _tls_in_files(pki) -> dict:
    """Envoy 1.40's bootstrap: a static secret and a listener's TLS context whose
    certificates are files (as Istio before 1.5 and OUTPUT_CERTS mount them)."""
    files = {
        "certificate_chain": {"filename": str(pki.cert_path)},
        "private_key": {"filename": str(pki.key_path)},
    }
    tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
            "DownstreamTlsContext",
            "common_tls_context": {
                "tls_certificates": [files],
                "validation_context": {"trusted_ca": {"filename": str(pki.ca_path)}},
            },
        },
    }
    tcp = {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "tcp",
            "cluster": "backend",
        },
    }
    return {
        "static_resources": {
            "secrets": [{"name": "file-cert", "tls_certificate": files}],
            "listeners": [
                {
                    "name": "tls_in",
                    "address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": eh.free_port()}
                    },
                    "filter_chains": [{"filters": [tcp], "transport_socket": tls}],
                }
            ],
            "clusters": [
                {
                    "name": "backend",
                    "connect_timeout": "1s",
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
                                                    "port_value": eh.free_port(),
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
        }
    }


@needs_envoy
def test_check_says_a_certificate_file_is_not_checked(pdebug, tmp_path):
    """An expired certificate Envoy 1.40 reads from a file: check said nothing of it ("No
    findings"); the dump holds only the path. Now one line per file says it was not
    checked, and it is no finding (exit 0 even with --fail-on info)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    pki = make_test_pki(tmp_path / "certs", leaf_not_after=past)
    dump = tmp_path / "dump.json"
    with eh.Envoy(_tls_in_files(pki), wait_live=False) as envoy:
        dump.write_bytes(envoy.get("/config_dump"))
        certs = json.loads(envoy.get("/certs"))
    # Envoy itself knows the expiry: what the hint sends the user to read
    assert any(
        c.get("days_until_expiration") == "0"
        for entry in certs["certificates"]
        for c in entry["cert_chain"]
    )
    assert str(pki.cert_path) in dump.read_text()
    result = pdebug("check", dump, "--fail-on", "info")
    assert result.code == ExitCode.OK, result.err
    lines = [ln for ln in result.out.splitlines() if ln.startswith("Not checked (")]
    assert lines == [
        f"Not checked (PD501, PD502): listener/tls_in: its CA certificate is the file "
        f"{pki.ca_path} on the proxy, not in the dump: expiry unknown (GET /certs on the "
        "proxy's admin port shows it).",
        f"Not checked (PD501, PD502): secret/file-cert (and 1 more): its certificate is the "
        f"file {pki.cert_path} on the proxy, not in the dump: expiry unknown (GET /certs on "
        "the proxy's admin port shows it).",
    ]
    assert "No findings" in result.out
    report = json.loads(pdebug("check", dump, "-o", "json").out)
    assert report["findings"] == []
    assert {(n["code"], n["resource"]) for n in report["not_checked"]} == {
        ("PD501", "secret/file-cert (and 1 more)"),
        ("PD502", "secret/file-cert (and 1 more)"),
        ("PD501", "listener/tls_in"),
        ("PD502", "listener/tls_in"),
    }


def test_check_names_each_certificate_file_of_an_istio_2020_sidecar_once(pdebug):
    """Istio 1.4's productpage (a public dump): every listener and cluster reads
    /etc/certs; one line per file, not one per TLS context."""
    result = pdebug("check", CORPUS / "istio/2020-01-productpage/productpage_config_dump.json")
    lines = [ln for ln in result.out.splitlines() if ln.startswith("Not checked (")]
    assert len(lines) == 2
    assert "the file /etc/certs/cert-chain.pem on the proxy" in lines[0]
    assert "(and 46 more)" in lines[0]
    assert "its CA certificate is the file /etc/certs/root-cert.pem" in lines[1]


def test_check_of_an_sds_secret_in_a_file_and_of_inline_ones(pdebug, tmp_path):
    """istioctl's secret test dump with `default` read from a file (OUTPUT_CERTS)."""
    source = ISTIOCTL / "proxy-config-secret/istio/config_dump.json"
    doc = json.loads(source.read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_active_secrets", []):
            if entry["name"] == "default":
                chain = {"filename": "/etc/certs/cert-\x1b[31mchain.pem"}
                entry["secret"]["tls_certificate"]["certificate_chain"] = chain
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    result = pdebug("check", dump)
    lines = [ln for ln in result.out.splitlines() if ln.startswith("Not checked (")]
    assert len(lines) == 1 and lines[0].startswith("Not checked (PD501, PD502): secret/default:")
    assert "\x1b" not in result.out + result.err
    # the same dump with the certificate inline: judged, nothing said as not checked
    inline = pdebug("check", source, "-o", "json")
    assert "not_checked" not in json.loads(inline.out)
    assert "Not checked (" not in pdebug("check", source).out


# --- trace by a host name into chains that match only by destination IP ---------------------


ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def _by_ip_listener(port: int, prefix: str) -> dict:
    """Envoy 1.40: one listener whose only chain matches destination IP ``prefix`` (as
    OSM's and Consul's transparent-proxy listeners do), answering 200 itself."""
    hcm = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "in",
            "route_config": {
                "name": "r",
                "virtual_hosts": [
                    {
                        "name": "all",
                        "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
                    }
                ],
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": ROUTER},
                }
            ],
        },
    }
    odst = "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"
    listener = {
        "name": "outbound",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "listener_filters": [
            {"name": "envoy.filters.listener.original_dst", "typed_config": {"@type": odst}}
        ],
        "filter_chains": [
            {
                "name": "mesh-chain",
                "filter_chain_match": {
                    "prefix_ranges": [{"address_prefix": prefix, "prefix_len": 32}]
                },
                "filters": [hcm],
            }
        ],
    }
    return {"static_resources": {"listeners": [listener]}}


def _envoy_answers(port: int) -> int | str:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": "reviews.shop"})
        return conn.getresponse().status
    except (ConnectionError, OSError) as exc:
        return type(exc).__name__
    finally:
        conn.close()


def _on_every_address(dump_bytes: bytes, path) -> None:
    """The dump with the listener bound to 0.0.0.0, as a sidecar's outbound listener is
    (the tests bind 127.0.0.1 only): its destination IP is then the connection's own."""
    doc = json.loads(dump_bytes)
    text = json.dumps(doc).replace('"address": "127.0.0.1"', '"address": "0.0.0.0"')
    path.write_text(text)


@needs_envoy
def test_trace_by_name_into_chains_matching_only_by_ip_is_unknown(pdebug, tmp_path):
    """Envoy 1.40 takes a connection to an IP of the chain's prefix_ranges (200) and
    closes one to any other: whether a request to a host name is taken depends on the IP
    the name resolves to. pdebug said FAIL ("Envoy closes the connection", exit 1)."""
    port = eh.free_port()
    with eh.Envoy(_by_ip_listener(port, "127.0.0.1"), wait_live=False) as envoy:
        answered = _envoy_answers(port)
        dump_bytes = envoy.get("/config_dump")
    assert answered == 200  # a destination IP in the chain's range is served
    dump = tmp_path / "dump.json"
    _on_every_address(dump_bytes, dump)
    by_name = pdebug("trace", dump, f"http://reviews.shop:{port}/")
    assert by_name.code == ExitCode.UNKNOWN, by_name.out
    verdict = by_name.out.split("VERDICT: ", 1)[1]
    assert verdict.startswith("UNKNOWN, whether Envoy takes the connection depends on the ")
    assert "mesh-chain (#0) (prefix_ranges 127.0.0.1/32) takes it at those IPs" in verdict
    assert "put the IP in the URL and the name in -H Host:reviews.shop" in verdict
    kind = json.loads(pdebug("trace", dump, f"http://reviews.shop:{port}/", "-o", "json").out)
    assert kind["verdict"]["kind"] == "incomplete"
    # with the IP, the answer Envoy gave
    by_ip = pdebug("trace", dump, f"http://127.0.0.1:{port}/", "-H", "Host:reviews.shop")
    assert by_ip.code == ExitCode.OK, by_ip.out
    assert "VERDICT: OK, 200 from Envoy" in by_ip.out


@needs_envoy
def test_trace_to_an_ip_no_chain_matches_still_fails(pdebug, tmp_path):
    """The same listener whose chain matches another IP: Envoy 1.40 closes the connection
    to 127.0.0.1, and so does the trace with that IP (FAIL, unchanged)."""
    port = eh.free_port()
    with eh.Envoy(_by_ip_listener(port, "10.255.255.1"), wait_live=False) as envoy:
        answered = _envoy_answers(port)
        dump_bytes = envoy.get("/config_dump")
    assert answered != 200  # closed: no chain for that IP
    dump = tmp_path / "dump.json"
    _on_every_address(dump_bytes, dump)
    result = pdebug("trace", dump, f"http://127.0.0.1:{port}/")
    assert result.code == ExitCode.FINDINGS
    assert "VERDICT: FAIL, Envoy closes the connection: none of the 1 filter chains" in result.out


def test_trace_by_name_where_no_ip_would_help_still_fails(pdebug, tmp_path):
    """A chain matching by IP and TLS: a plaintext request fails at any IP (FAIL stays);
    a port no chain takes fails too."""
    doc = json.loads((CORPUS / "osm/sample-envoy-config-dump-bookstore.json").read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_listeners", []):
            active = entry.get("active_state", {}).get("listener", {})
            for chain in active.get("filter_chains", []):
                match = chain.get("filter_chain_match", {})
                if match.get("prefix_ranges"):
                    match["transport_protocol"] = "tls"
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    result = pdebug("trace", dump, "http://bookstore.bookstore:14001/")
    assert result.code == ExitCode.FINDINGS, result.out
    assert "depends on the destination IP" not in result.out
    osm = CORPUS / "osm/sample-envoy-config-dump-bookstore.json"
    # the audit's case (OSM's bookstore sidecar): UNKNOWN, and the port no chain takes FAIL
    assert pdebug("trace", osm, "http://bookstore.bookstore:14001/").code == ExitCode.UNKNOWN
    assert pdebug("trace", osm, "http://bookstore.bookstore:14002/").code == ExitCode.FINDINGS
