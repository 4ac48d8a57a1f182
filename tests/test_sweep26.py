"""Sweep 26: dumps pasted into GitHub issue threads (partial, cut, of old Envoys) and
what pdebug said of them (each test fails without its fix). Provenance of the
fixtures: fixtures/corpus/MANIFEST.md ("Not byte copies")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import harness as eh

HANDMADE = eh.FIXTURES / "corpus" / "handmade"
CONTOUR = HANDMADE / "contour-0.8-envoy-1.8-tls-context.json"
WARMING_111 = HANDMADE / "envoy-1.11-warming-circuit-breakers-v2alpha.json"


def _keep(path: Path, tmp_path: Path, *kinds: str) -> Path:
    """A copy of dump ``path`` holding only the sections whose type names one of ``kinds``."""
    doc: dict[str, Any] = json.loads(path.read_text())
    doc["configs"] = [
        c for c in doc["configs"] if any(f".{k}ConfigDump" in c["@type"] for k in kinds)
    ]
    out = tmp_path / f"{path.stem}-{'-'.join(kinds)}.json"
    out.write_text(json.dumps(doc, indent=1))
    return out


# --------------------------------------------------------------------------- secrets < 1.10
def test_secrets_of_a_pasted_v2alpha_dump_without_bootstrap(pdebug, tmp_path: Path) -> None:
    """Contour 0.8's Envoy 1.8 dump as pasted without its bootstrap (contour#793 pasted
    one listener): Envoy older than 1.10 writes no secrets section, so "capture the full
    dump" could not help; pdebug names the v2alpha type and says a pre-1.10 Envoy writes
    none, and `check` skips PD5xx with the same reason (not "taken with a mask?", which
    Envoy <= 1.14 did not take)."""
    cut = _keep(CONTOUR, tmp_path, "Clusters", "Listeners", "Routes")
    got = pdebug("secrets", cut)
    assert got.code == 4, got.out
    assert "envoy.admin.v2alpha.SecretsConfigDump" in got.err, got.err
    assert "older than 1.10 writes none" in got.err, got.err
    assert "capture the full dump" not in got.err
    assert "Traceback" not in got.err
    check = pdebug("check", cut)
    line = next(ln for ln in check.out.splitlines() if ln.startswith("Skipped PD501"))
    assert "older than 1.10 writes none" in line, line
    assert "mask" not in line
    listeners = next(ln for ln in check.out.splitlines() if "PD601" in ln)
    assert "cut from the paste?" in listeners, listeners


def test_secrets_of_a_pre_110_bootstrap_without_listeners(pdebug, tmp_path: Path) -> None:
    """The same Envoy 1.8 dump cut to its bootstrap and routes: the bootstrap names
    1.8.0, which never writes a secrets section, so the proxy has no SDS secrets (was:
    "capture the full dump", exit 4) and check's PD5xx run."""
    cut = _keep(CONTOUR, tmp_path, "Bootstrap", "Routes")
    got = pdebug("secrets", cut)
    assert got.code == 0, got.err
    assert "No active or warming secrets found." in got.out
    check = pdebug("check", cut)
    assert not any(ln.startswith("Skipped PD501") for ln in check.out.splitlines()), check.out


def test_secrets_of_a_v3_dump_without_bootstrap_still_asks_for_the_whole_dump(
    pdebug, tmp_path: Path
) -> None:
    """A v3 dump (Envoy >= 1.15, masks exist) keeps the old advice: not captured."""
    src = eh.FIXTURES / "corpus" / "handmade" / "gloo-edge-1.16-envoy-1.27-gateway-proxy.json"
    cut = _keep(src, tmp_path, "Clusters", "Listeners")
    got = pdebug("secrets", cut)
    assert got.code == 4
    assert "capture the full dump" in got.err
    assert "1.10" not in got.err


# --------------------------------------------------------------------------- envoy#9416 shape
def test_envoy_111_warming_update_of_an_active_cluster(pdebug) -> None:
    """envoy#9416's shape (Envoy 1.11.1, own control plane): a circuit-breaker change to
    an EDS cluster stays in dynamic_warming_clusters beside the active version. Both rows
    show with their state and version, check says the update is warming and the active
    version still serves, secrets and ecds say none, endpoints says where they come from."""
    got = pdebug("clusters", WARMING_111, "-o", "wide")
    assert got.code == 0, got.err
    rows = [ln.split() for ln in got.out.splitlines() if ln.startswith("cart-api")]
    assert [(r[5], r[9]) for r in rows] == [
        ("ACTIVE", "v-20191219-0311"),
        ("WARMING", "v-20191219-0412"),
    ], got.out
    check = pdebug("check", WARMING_111)
    assert check.code == 1
    assert "PD201" in check.out and "the previous version still serves" in check.out
    assert pdebug("secrets", WARMING_111).code == 0
    eps = pdebug("endpoints", WARMING_111)
    assert eps.code == 4 and "older than 1.15" in eps.err
    trace = pdebug("trace", WARMING_111, "http://cart-api:8080/x", "-H", "Host:cart-api")
    assert trace.code == 6, trace.out
    assert "cluster         cart-api.staging.mesh.local" in trace.out


# --------------------------------------------------------------------------- "..." placeholders
def _with_placeholder(tmp_path: Path, list_key: str) -> Path:
    """The Envoy 1.11 dump with ``{"...": "..."}`` first in its first ``list_key`` list,
    as people cut pastes in issue threads (envoy#36728's "Here is some configuration")."""
    text = WARMING_111.read_text()
    cut = text.replace(f'"{list_key}": [', f'"{list_key}": [\n {{"...": "..."}},', 1)
    assert cut != text
    out = tmp_path / f"placeholder-{list_key}.json"
    out.write_text(cut)
    return out


def test_a_placeholder_cluster_is_no_row_and_is_said(pdebug, tmp_path: Path) -> None:
    """A ``{"...": "..."}`` entry in dynamic_active_clusters was a cluster row with no
    name, TYPE STATIC, STATE ACTIVE (no Envoy writes a nameless cluster), said nowhere."""
    path = _with_placeholder(tmp_path, "dynamic_active_clusters")
    for args in (("clusters",), ("clusters", "-o", "wide"), ("check",)):
        got = pdebug(*args, path)
        assert got.code in (0, 1), got.err
        lines = [ln for ln in got.out.splitlines()[1:] if ln.strip()]
        assert not any(ln.startswith(" ") for ln in lines if args[0] == "clusters"), got.out
        assert 'the ClustersConfigDump section holds a "..." placeholder' in got.err, got.err
    rows = pdebug("clusters", path).out.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["cart-api.staging.mesh.local", "xds_manager"]


def test_placeholders_in_routes_and_listeners_are_said(pdebug, tmp_path: Path) -> None:
    """A placeholder virtual host made a `routes` row "route_8080 (no name) /* 404" and a
    placeholder route a blank one; a placeholder listener vanished: each now says the
    section was cut by hand (once), and trace still names the placeholder route."""
    for key, view, section in (
        ("virtual_hosts", "routes", "RoutesConfigDump"),
        ("routes", "routes", "RoutesConfigDump"),
        ("dynamic_active_listeners", "listeners", "ListenersConfigDump"),
    ):
        path = _with_placeholder(tmp_path, key)
        got = pdebug(view, path)
        assert got.code == 0, got.err
        assert got.err.count(f'the {section} section holds a "..." placeholder') == 1, got.err
    trace = pdebug(
        "trace",
        _with_placeholder(tmp_path, "routes"),
        "http://cart-api:8080/",
        "-H",
        "Host:cart-api",
    )
    assert "no match block" in trace.out
    assert "placeholder" in trace.err


def test_no_placeholder_warning_on_whole_dumps(pdebug) -> None:
    """The corpus's own dumps hold no "..." member: no warning on them."""
    for path in (
        WARMING_111,
        CONTOUR,
        eh.FIXTURES / "corpus" / "istio" / "2020-01-productpage" / "productpage_config_dump.json",
    ):
        got = pdebug("all", path)
        assert "placeholder" not in got.err, got.err


def test_a_placeholder_list_item_is_said(pdebug, tmp_path: Path) -> None:
    """``"dynamic_active_clusters": [ "...", {...} ]``: the item was said skipped as
    "Expected `object`, got `str`"; now the section is also said cut by hand."""
    text = WARMING_111.read_text()
    path = tmp_path / "dots-item.json"
    path.write_text(
        text.replace('"dynamic_active_clusters": [', '"dynamic_active_clusters": [ "...",', 1)
    )
    got = pdebug("clusters", path)
    assert got.code == 0, got.err
    assert 'holds a "..." placeholder' in got.err, got.err


def test_a_pasted_section_field_alone_is_named(pdebug, tmp_path: Path) -> None:
    """envoy#19262 pasted `"dynamic_warming_clusters": [ ... ]` alone: it read as YAML and
    pdebug said "YAML without a 'configs' list"; it now says which piece of a dump it is
    and to save the whole one (exit 4, one line, no traceback)."""
    doc = json.loads(WARMING_111.read_text())
    clusters = next(c for c in doc["configs"] if "Clusters" in c["@type"])
    for key in ("dynamic_warming_clusters", "dynamic_active_listeners"):
        src = clusters if "clusters" in key else doc["configs"][2]
        path = tmp_path / f"{key}.txt"
        path.write_text(f'"{key}": ' + json.dumps(src[key], indent=1) + "\n")
        got = pdebug("clusters", path)
        assert got.code == 4, got.out
        assert f"a piece of a config dump ({key} alone, as pasted)" in got.err, got.err
        assert "Traceback" not in got.err


# --------------------------------------------------------------------------- envoy#36728 shape
PARTIAL_132 = HANDMADE / "istio-envoy-1.32-partial-paste-no-bootstrap.json"


def test_trace_on_a_pasted_piece_without_the_capture_listener_is_unknown(pdebug) -> None:
    """envoy#36728 pasted "some configuration" of an Istio sidecar (Envoy 1.32): one
    cluster, the outbound `0.0.0.0_8088` listener (bind_to_port false), its routes and
    EDS, no bootstrap and no virtualOutbound. trace said "FAIL, connection refused" (exit
    1) of the proxy; the capture listener is what the paste left out: UNKNOWN (exit 6)."""
    got = pdebug("trace", PARTIAL_132, "http://nginx-perf-8088:8088/")
    assert got.code == 6, got.out
    assert "VERDICT: UNKNOWN" in got.out
    assert "no bootstrap section" in got.out and "left out" in got.out
    assert "connection refused" not in got.out.split("VERDICT")[1]
    check = pdebug("check", PARTIAL_132)
    assert "Skipped PD602: no virtualOutbound listener in this partial dump" in check.out


def test_trace_on_a_whole_dump_without_a_capture_listener_still_fails(pdebug, tmp_path) -> None:
    """The same pieces with a bootstrap (a whole dump): nothing binds port 8088, so the
    connection is refused (FAIL, exit 1) as before."""
    doc = json.loads(PARTIAL_132.read_text())
    boot = json.loads(WARMING_111.read_text())["configs"][0]
    boot["@type"] = "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"
    doc["configs"].insert(0, boot)
    path = tmp_path / "whole.json"
    path.write_text(json.dumps(doc))
    got = pdebug("trace", path, "http://nginx-perf-8088:8088/")
    assert got.code == 1, got.out
    assert "VERDICT: FAIL, connection refused" in got.out
    check = pdebug("check", path)
    assert "Skipped PD602: no virtualOutbound listener (not an Istio sidecar)." in check.out


def test_the_pasted_piece_reads_in_every_view(pdebug) -> None:
    """Every view of the envoy#36728-shaped piece: what it holds is read, what it lacks is
    named with exit 4 (bootstrap, secrets, ecds), never a traceback."""
    for view in ("clusters", "listeners", "routes", "endpoints"):
        for fmt in ("short", "wide", "json"):
            got = pdebug(view, PARTIAL_132, "-o", fmt)
            assert got.code == 0, (view, fmt, got.err)
    for view in ("bootstrap", "secrets", "ecds"):
        got = pdebug(view, PARTIAL_132)
        assert got.code == 4, got.out
        assert f"the dump has no {view} section" in got.err
    got = pdebug("all", PARTIAL_132)
    assert got.code == 0 and "The dump has no bootstrap, secrets section(s); skipped." in got.err


def test_a_hand_redacted_number_says_so(pdebug, tmp_path: Path) -> None:
    """Issue pastes hide addresses: `"port_value": "<redacted>"` in every static cluster
    stopped `clusters` with "the dump may be damaged or from an unsupported Envoy
    version"; the hint now says the paste was redacted and what to put back."""
    text = WARMING_111.read_text().replace('"port_value": 15010', '"port_value": "<redacted>"')
    path = tmp_path / "redacted.json"
    path.write_text(text)
    got = pdebug("clusters", path)
    assert got.code == 4, got.out
    assert "port_value" in got.err
    assert "the paste was redacted by hand" in got.err, got.err
    assert len(got.err.strip().splitlines()) == 2  # the error line and its hint


def test_terminal_lines_before_the_json_are_named(pdebug, tmp_path: Path) -> None:
    """Dumps pasted from a terminal start with kubectl's "Defaulted container" notice
    (saved with 2>&1), curl's progress meter, or the prompt and command: the error was
    "not JSON" with the generic hint; the hint now names the line and what to do."""
    body = PARTIAL_132.read_text()
    for head, says in (
        ('Defaulted container "istio-proxy" out of: istio-proxy, istio-init (init)\n', "kubectl"),
        ("  % Total    % Received % Xferd  Average Speed   Time\n", "curl's progress meter"),
        ("$ curl -s localhost:15000/config_dump\n", "shell prompt"),
    ):
        path = tmp_path / "pasted.json"
        path.write_text(head + body)
        for cmd in (("clusters",), ("check",), ("trace", "http://x:8088/")):
            got = pdebug(cmd[0], path, *cmd[1:])
            assert got.code == 4, got.out
            assert says in got.err and "delete the lines before the first '{'" in got.err
