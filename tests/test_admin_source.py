"""Live views from a real Envoy's admin address, and every way that can fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from pdebug.proxy import Fetch
from tests import harness as eh
from tests.harness import ISTIOCTL
from tests.harness.hostile import HostileServer, http_answer

needs_envoy = pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")


def _saved(sidecar, tmp_path: Path) -> Path:
    path = tmp_path / "dump.json"
    path.write_bytes(sidecar.envoy.get("/config_dump?include_eds"))
    return path


@needs_envoy
@pytest.mark.envoy
@pytest.mark.parametrize(
    "args",
    [
        ["clusters"],
        ["clusters", "--fqdn", "reviews"],
        ["clusters", "--fqdn", "reviews", "--subset", "v2"],
        ["listeners"],
        ["listeners", "--port", "9080", "-o", "wide"],
        ["routes"],
        ["routes", "--name", "9080"],
        ["eds"],
        ["eds", "--cluster", "OUTBOUND|9080||ratings.default.svc.cluster.local"],
        ["secrets"],
        ["bootstrap"],
        ["all"],
    ],
    ids=lambda a: " ".join(a),
)
def test_live_view_equals_the_view_of_the_saved_dump(pdebug, sidecar, tmp_path, args):
    saved = pdebug(args[0], _saved(sidecar, tmp_path), *args[1:])
    live = pdebug(args[0], sidecar.envoy.admin_url, *args[1:])
    assert live.code == 0, live.err
    # version/last-updated columns are the same dump, so the tables must be identical
    assert live.out == saved.out
    assert live.out


@needs_envoy
@pytest.mark.envoy
def test_admin_forms_host_port_and_option(pdebug, sidecar):
    url = sidecar.envoy.admin_url
    host_port = url.removeprefix("http://")
    assert pdebug("clusters", host_port).out == pdebug("clusters", url).out
    assert pdebug("clusters", "--admin", url).out == pdebug("clusters", url).out


@needs_envoy
@pytest.mark.envoy
def test_live_endpoints_use_clusters_json(pdebug, sidecar, tmp_path):
    health = tmp_path / "clusters.json"
    health.write_bytes(sidecar.envoy.get("/clusters?format=json"))
    live = pdebug("endpoints", sidecar.envoy.admin_url)
    assert live.code == 0, live.err
    assert live.out == pdebug("endpoints", health).out
    assert "DRAINING" in live.out  # what /clusters says, not the dump's UNHEALTHY


@needs_envoy
@pytest.mark.envoy
def test_live_views_of_a_proxy_without_secrets_or_ecds(pdebug):
    with eh.seed_demo() as demo:
        secrets = pdebug("secrets", demo.envoy.admin_url)
        ecds = pdebug("ecds", demo.envoy.admin_url)
    assert secrets.code == 0 and secrets.out == "No active or warming secrets found.\n"
    assert ecds.code == 0 and "No ECDS filters found." in ecds.err


def test_fetch_pushes_filters_down_to_envoy():
    assert Fetch.clusters("reviews").dump_path() == (
        "/config_dump?mask=dynamic_active_clusters,static_clusters,dynamic_warming_clusters"
        "&name_regex=.%2Areviews.%2A"
    )
    assert Fetch.routes("9080").dump_path().endswith("&name_regex=9080")
    assert Fetch.eds("a|b").dump_path() == (
        "/config_dump?include_eds&mask=dynamic_endpoint_configs,static_endpoint_configs"
        "&name_regex=%28%3Fi%29a%5C%7Cb"
    )
    assert Fetch.everything().dump_path() == "/config_dump?include_eds"


def test_a_whole_views_fetch_says_what_wide_reads_more():
    """``-o wide`` is an argument of the whole views' Fetch constructors (#14): the CLI
    passes it to each alike, and only secrets asks for more (inline certificates)."""
    assert Fetch.secrets(True).kinds == ("secrets", "listeners", "clusters")
    assert Fetch.secrets(True).dump_path() == "/config_dump"  # Envoy refuses a mixed mask
    assert Fetch.secrets(False).dump_path() == (
        "/config_dump?mask=dynamic_active_secrets,dynamic_warming_secrets,static_secrets"
    )
    for name in ("bootstrap", "ecds"):
        assert getattr(Fetch, name)(True) == getattr(Fetch, name)(False)


# --- failures -----------------------------------------------------------------------


def _one_line(result, code: int, needle: str) -> None:
    assert result.code == code, result
    first = result.err.splitlines()[0]
    assert first.startswith("pdebug: error: ") and needle in first, result.err
    assert "Traceback" not in result.err


def test_connection_refused(pdebug):
    port = eh.free_port()
    _one_line(pdebug("clusters", f"127.0.0.1:{port}"), ExitCode.SOURCE_UNAVAILABLE, "refused")


def _script(behaviour: str) -> dict[str, Any]:
    """The scripted misbehaviour of the loopback admin port."""
    if behaviour == "hang":
        return {"script": [("stall",)]}
    if behaviour == "drop-once":
        dump = (ISTIOCTL / "proxy-config-all/config_dump.json").read_bytes()
        return {"script": [("send", http_answer("200 OK", dump))], "first": [("close",)]}
    if behaviour == "503":
        return {
            "script": [("send", http_answer("503 Service Unavailable", b"no healthy upstream"))]
        }
    html = b"<html><body>upstream connect error</body></html>"
    return {"script": [("send", http_answer("200 OK", html))]}


@pytest.fixture
def server(request):
    srv = HostileServer(**_script(request.param))
    yield srv
    srv.stop()


@pytest.mark.parametrize("server", ["hang"], indirect=True)
def test_admin_that_hangs_times_out(pdebug, server):
    result = pdebug("clusters", f"127.0.0.1:{server.port}", "--timeout", "0.5")
    _one_line(result, ExitCode.SOURCE_UNAVAILABLE, "no answer within 0.5s")
    assert "--timeout" in result.err


@pytest.mark.parametrize("server", ["503"], indirect=True)
def test_admin_non_200(pdebug, server):
    _one_line(
        pdebug("listeners", f"127.0.0.1:{server.port}"), ExitCode.SOURCE_UNAVAILABLE, "HTTP 503"
    )


@pytest.mark.parametrize("server", ["html"], indirect=True)
def test_admin_answers_html(pdebug, server):
    _one_line(
        pdebug("routes", f"http://127.0.0.1:{server.port}"), ExitCode.INVALID_INPUT, "HTML page"
    )


@pytest.mark.parametrize("server", ["drop-once"], indirect=True)
def test_a_transient_drop_is_retried(pdebug, server):
    result = pdebug("clusters", f"127.0.0.1:{server.port}")
    assert result.code == 0, result.err
    assert "httpbin.default.svc.cluster.local" in result.out
    assert server.accepted == 2


def test_source_and_admin_together_is_a_usage_error(pdebug):
    _one_line(pdebug("clusters", "x.json", "--admin", "localhost:1"), ExitCode.USAGE, "not both")


def test_no_source_is_a_usage_error(pdebug):
    _one_line(pdebug("clusters"), ExitCode.USAGE, "missing SOURCE")
