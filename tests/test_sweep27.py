"""Sweep 27: Envoy Gateway's newest xDS translator goldens (HTTP/3 beside TLS on one port,
a UDPRoute, a credential injector and dynamic modules enabled per route), wrapped into
config dumps by fixtures/corpus/envoy-gateway/xds-ir/wrap.py. Each test below failed
before its fix unless it says otherwise. Provenance: fixtures/corpus/envoy-gateway/xds-ir/
PROVENANCE.md."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests import harness as eh

XDS_IR = eh.FIXTURES / "corpus" / "envoy-gateway" / "xds-ir"
NAMES = ("http3", "credential-injection", "dynamicmodule", "udp-route")


def _trace(pdebug: Any, name: str, url: str) -> dict[str, Any]:
    result = pdebug("trace", str(XDS_IR / f"{name}.config_dump.json"), url, "-o", "json")
    assert result.code in (0, 1, 6), result.err
    out: dict[str, Any] = json.loads(result.out)
    return out


def _enabled_note(out: dict[str, Any]) -> str:
    notes = [n for n in out.get("notes", []) if "enabled for this request" in n]
    assert len(notes) <= 1
    return notes[0] if notes else ""


def test_wrapped_dumps_are_the_goldens() -> None:
    # the fixtures are what wrap.py makes of the byte copies (regenerate, do not edit)
    import importlib.util

    spec = importlib.util.spec_from_file_location("wrap", XDS_IR / "wrap.py")
    assert spec is not None and spec.loader is not None
    wrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wrap)
    for name in NAMES:
        saved = json.loads((XDS_IR / f"{name}.config_dump.json").read_text())
        assert saved == wrap.wrap(name), name
        listeners = yaml.safe_load((XDS_IR / f"{name}.listeners.yaml").read_text())
        assert len(saved["configs"][2]["dynamic_listeners"]) == len(listeners)


def test_udp_proxy_listener_is_not_called_quic(pdebug: Any) -> None:
    # Envoy Gateway's UDPRoute: a UDP listener whose udp_proxy listener filter does the
    # work, no filter chains. trace of a TCP connection to its port said it was "UDP only
    # (QUIC, HTTP/3)": it is no QUIC listener
    out = _trace(pdebug, "udp-route", "tcp://10.0.0.1:10080")
    assert out["verdict"]["ok"] is False
    summary = out["verdict"]["summary"]
    assert "QUIC" not in summary
    assert "UDP only (a UDP listener filter, no filter chains)" in summary
    assert "udp-route" in summary


def test_quic_listener_beside_tls_on_one_port(pdebug: Any) -> None:
    # (passed before) HTTP/3: a UDP listener with QUIC filter chains and a TCP listener
    # with TLS chains, both 0.0.0.0:10443: a TCP client takes the TCP one, by SNI
    out = _trace(pdebug, "http3", "https://foo.example.com:10443/x")
    listeners = [s["name"] for s in out["steps"] if s["kind"] == "listener"]
    assert listeners and all("-quic" not in n for n in listeners)
    chains = [s["name"] for s in out["steps"] if s["kind"] == "filter_chain" and s["matched"]]
    assert len(chains) == 1 and chains[0].startswith("envoy-gateway/gateway-1/https-foo")
    assert out["verdict"]["ok"] is True


def test_filters_enabled_per_route_are_named(pdebug: Any) -> None:
    # Envoy Gateway disables every policy filter on the listener and enables it on the
    # routes the policy targets (typed_per_filter_config FilterConfig {config: {}}).
    # trace's "HTTP filters not evaluated" note left out filters disabled on the
    # listener, so a route running a dynamic module or a credential injector looked
    # like a plain route: now a note names what this request's route enables
    out = _trace(pdebug, "dynamicmodule", "http://www.example.com:10080/bar")
    note = _enabled_note(out)
    assert "policy-for-gateway/dynamic-module/0" in note
    assert "policy-for-gateway/dynamic-module/1" in note
    assert "policy-for-http-route" not in note and "policy-terminal" not in note
    # /terminal/x: its module is a terminal_filter, which answers (tests/test_sweep28.py):
    # named in a step and the verdict, not in this note
    out = _trace(pdebug, "dynamicmodule", "http://www.example.com:10080/terminal/x")
    assert "policy-for-gateway" not in _enabled_note(out)
    assert "policy-terminal/dynamic-module/0" in out["verdict"]["summary"]
    out = _trace(pdebug, "credential-injection", "http://gateway.envoyproxy.io:10080/foo")
    note = _enabled_note(out)
    assert "credential-injection-1" in note and "credential-injection-2" not in note
    # a request no route takes: no per-route config applies, nothing is enabled
    out = _trace(pdebug, "credential-injection", "http://gateway.envoyproxy.io:10080/nope")
    assert _enabled_note(out) == ""


def test_light_clusters_decode_warns_of_a_nameless_cluster(
    pdebug: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    # Found by tests/test_fuzz_fastpaths.py once these dumps shifted its seeded cases: an
    # active cluster whose name is "" (an edited paste) is skipped with a warning by the
    # full decode, but the clusters table's light decode (#17) took it silently, so
    # `pdebug clusters` said nothing where the same dump read fully warned
    src = eh.FIXTURES / "real" / "sidecar" / "config_dump.json"
    doc = json.loads(src.read_text())
    sec = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    sec["dynamic_active_clusters"][1]["cluster"]["name"] = ""
    path = tmp_path / "nameless.json"
    path.write_text(json.dumps(doc))
    warning = "dynamic_active_clusters[1] skipped: it holds no named cluster"
    for jobs in ("1", "2"):  # whole, and split in two halves (light.split_rows)
        monkeypatch.setenv("PDEBUG_JOBS", jobs)
        result = pdebug("clusters", str(path))
        assert result.code == 0, result.err
        assert warning in result.err, (jobs, result.err)
