"""Correctness sweep, part four (sweep9): what pdebug prints must be what the input holds."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests import harness as eh
from tests.harness import FIXTURES


@pytest.mark.parametrize("view", ["certificate", "workload", "service", "all"])
def test_zc_names_envoys_certs_answer(pdebug, tmp_path: Path, view: str):
    # Envoy's GET /certs was read as a ztunnel dump: zc certificate printed its entries
    # as ztunnel certificates (no identity, no state)
    item = {"path": "<inline>", "serial_number": "2", "days_until_expiration": "0"}
    path = tmp_path / "certs.json"
    path.write_text(json.dumps({"certificates": [{"ca_cert": [item], "cert_chain": [item]}]}))
    result = pdebug("zc", view, path)
    assert result.code == 4
    assert f"{path}: this is Envoy's GET /certs" in result.err
    assert "not a ztunnel config dump" in result.err
    assert "hint: a ztunnel's certificates are in its GET /config_dump" in result.err
    assert result.out == ""
    ztunnel = FIXTURES / "corpus/ztunnel/2023-05/dump.json"  # entries with ca_cert too
    assert pdebug("zc", "certificate", ztunnel).code == 0


def test_dump_of_an_envoy_without_json_clusters_saves_its_dump(pdebug, tmp_path: Path):
    # pdebug dump refused the whole proxy: "the admin answered /clusters?format=json
    # with text, not JSON" / "is this an Envoy admin port?", though its dump is fine
    out = tmp_path / "old.tar.gz"
    with eh.OldEnvoyAdmin() as admin:
        result = pdebug("dump", admin.url, "-o", out)
    assert result.code == 0, result.err
    assert "answered in text (an Envoy older than 1.8 has no JSON /clusters)" in result.err
    assert "is this an Envoy admin port" not in result.err
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert any(n.endswith("/config_dump.json") for n in names)
    assert not any(n.endswith("/clusters.json") for n in names)
    (proxy,) = manifest["proxies"]
    assert any("older than 1.8 has no JSON /clusters" in e for e in proxy["errors"])
    clusters = pdebug("clusters", out)
    assert clusters.code == 0 and "local_agent" in clusters.out


def test_dump_of_a_port_that_answers_text_clusters_without_a_dump_still_fails(
    pdebug, tmp_path: Path
):
    class Broken(eh.OldEnvoyAdmin):
        DUMP = b"<html>no</html>"

    with Broken() as admin:
        result = pdebug("dump", admin.url, "-o", tmp_path / "x.tar.gz")
    assert result.code == 4
    assert not (tmp_path / "x.tar.gz").exists()


FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


def _diff_dump(path: Path, tls: str, log: str, subset: str, principal: str) -> Path:
    cluster = {
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": "outbound|80||a.b.svc.cluster.local",
        "transportSocketMatches": [
            {
                "name": "tlsMode-istio",
                "match": {"tlsMode": tls},
                "transportSocket": {"name": "envoy.transport_sockets.raw_buffer"},
            }
        ],
        "lbSubsetConfig": {"defaultSubset": {"appVersion": subset}},
    }
    rbac = {
        "name": "envoy.filters.network.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
            "rules": {
                "policies": {
                    "ns[default]-policy[allowGet]-rule[0]": {
                        "permissions": [{"any": True}],
                        "principals": [{"authenticated": {"principal_name": {"exact": principal}}}],
                    }
                }
            },
        },
    }
    log_format = {"json_format": {"upstreamHost": log, "requestId": "%REQ(X-REQUEST-ID)%"}}
    listener = {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": "l1",
        "filter_chains": [{"filters": [rbac]}],
        "access_log": [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": FILE_LOG,
                    "path": "/dev/stdout",
                    "log_format": log_format,
                },
            }
        ],
    }
    path.write_text(
        json.dumps(
            {
                "configs": [
                    {
                        "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                        "dynamic_active_clusters": [{"cluster": cluster}],
                    },
                    {
                        "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                        "dynamic_listeners": [
                            {"name": "l1", "active_state": {"listener": listener}}
                        ],
                    },
                ]
            }
        )
    )
    return path


def test_diff_prints_data_keys_as_written(pdebug, tmp_path: Path):
    # the printed paths respelled keys that are data: match.tls_mode, json_format.
    # upstream_host, default_subset.app_version, policies.ns[default]-policy[allow_get]...
    left = _diff_dump(tmp_path / "a.json", "istio", "%UPSTREAM_HOST%", "v1", "a")
    right = _diff_dump(tmp_path / "b.json", "disabled", "%UPSTREAM%", "v2", "b")
    result = pdebug("diff", left, right)
    assert result.code == 1
    out = result.out
    assert 'transport_socket_matches[0].match.tlsMode: "istio" -> "disabled"' in out
    assert 'lb_subset_config.default_subset.appVersion: "v1" -> "v2"' in out
    assert "log_format.json_format.upstreamHost:" in out
    policy = "rules.policies.ns[default]-policy[allowGet]-rule[0].principals[0]"
    assert f'{policy}.authenticated.principal_name.exact: "a" -> "b"' in out
    for wrong in ("tls_mode", "app_version", "upstream_host", "allow_get", "request_id"):
        assert wrong not in out
    paths = [
        f["path"]
        for kind in json.loads(pdebug("diff", left, right, "-o", "json").out)["kinds"]
        for change in kind["changes"]
        for f in change["fields"]
    ]
    assert "transport_socket_matches[0].match.tlsMode" in paths
    # --ignore matches the printed path (and the respelled one, as before)
    for pattern in ("tlsMode", "tls_mode"):
        ignored = pdebug("diff", left, right, "--ignore", pattern).out
        assert "match.tlsMode" not in ignored and "appVersion" in ignored
    # the same resources in two spellings still match
    assert pdebug("diff", left, left).code == 0


def test_a_filter_that_only_matches_a_rejected_listener_says_so(pdebug):
    # "No listeners match the filter." though Envoy holds a rejected listener on 44409
    dump = FIXTURES / "diff/envoy.json"  # Envoy 1.40: held_port failed to bind
    result = pdebug("listeners", dump, "--port", "44409")
    assert result.code == 0 and result.out == ""
    assert result.err.startswith("No serving listener matches the filter: 1 error (not serving)")
    assert "-o wide lists them" in result.err
    assert "held_port" in pdebug("listeners", dump, "--port", "44409", "-o", "wide").out
    assert pdebug("listeners", dump, "--port", "1").err == "No listeners match the filter.\n"


def test_a_filter_that_only_matches_warming_clusters_says_so(pdebug):
    # "No clusters match the filter." over 4 clusters of that FQDN waiting for EDS
    dump = FIXTURES / "corpus/handmade/istio-2019-trafficdirector-warming-v2alpha.json"
    result = pdebug("clusters", dump, "--fqdn", "cloud-internal-istio-staging")
    assert result.code == 0 and result.out == ""
    assert result.err.startswith("No active cluster matches the filter: 4 warming")
    assert pdebug("clusters", dump, "--fqdn", "nope").err == "No clusters match the filter.\n"


def test_diff_says_a_rejection_on_the_left_too(pdebug, tmp_path: Path):
    # with Envoy's dump first, its rejected listener read "- held_port: only in A" with
    # no word of the rejection (noted only when Envoy's dump was the second input)
    envoy = FIXTURES / "diff/envoy.json"
    doc = json.loads(envoy.read_text())
    for config in doc["configs"]:
        if config["@type"].endswith("ListenersConfigDump"):
            config["dynamic_listeners"] = [
                e for e in config["dynamic_listeners"] if "error_state" not in e
            ]
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps(doc))
    result = pdebug("diff", envoy, clean)
    assert result.code == 1
    assert f"  ! held_port: Envoy rejected an update in {envoy} at 2026-12-06T" in result.out
    assert (
        f"  - held_port: only in {envoy} (rejected by Envoy: its failed config only, not serving)"
        in result.out
    )
    back = pdebug("diff", clean, envoy)
    assert f"  + held_port: only in {envoy} (rejected by Envoy: its failed config only" in back.out
    assert "  ! held_port: Envoy rejected an update at 2026-12-06T" in back.out
    # the same rejection on both sides is no difference, said once
    same = pdebug("diff", envoy, envoy)
    assert same.code == 0 and same.out.count("held_port") == 1


def test_a_ztunnel_certificate_whose_times_are_crossed_is_never_valid(pdebug):
    # PD702 said "is not valid now: valid 2022-03-21T13:04:49Z .. 2022-03-18T13:04:49Z"
    # (the end before the start: no "now" would do)
    result = pdebug("check", FIXTURES / "istioctl/ztunnel-config/dump.json")
    (line,) = [x for x in result.out.splitlines() if x.startswith("PD702")]
    assert (
        "Root certificate (serial 8a516645c40ce76c2c0d27ab4e2461c1) is not valid at any time: "
        "its not-before 2022-03-21T13:04:49Z is later than its not-after 2022-03-18T13:04:49Z"
    ) in line


def test_diff_of_a_listener_rejected_on_the_left_and_served_on_the_right(pdebug, tmp_path: Path):
    # it was compared field by field against null ("root: null -> {...}"-like noise)
    envoy = FIXTURES / "diff/envoy.json"
    doc = json.loads(envoy.read_text())
    for config in doc["configs"]:
        if config["@type"].endswith("ListenersConfigDump"):
            served = []
            for e in config["dynamic_listeners"]:
                if "error_state" in e and e.get("name") == "held_port":
                    listener = e["error_state"]["failed_configuration"]
                    e = {"name": "held_port", "active_state": {"listener": listener}}
                if "error_state" not in e:
                    served.append(e)
            config["dynamic_listeners"] = served
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(doc))
    result = pdebug("diff", envoy, fixed)
    assert result.code == 1
    assert f"  + held_port: only in {fixed} (rejected by Envoy in {envoy})" in result.out
    assert "  ~ held_port" not in result.out


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_all_structured_with_a_filter_says_the_filter_is_for_tables(pdebug, fmt: str):
    # `pdebug all DUMP --port 9080 -o json` printed the whole dump, silently unfiltered
    dump = FIXTURES / "real/sidecar/config_dump.json"
    result = pdebug("all", dump, "--port", "9080", "-o", fmt)
    assert result.code == 0
    assert "-o json/yaml print the whole dump, as istioctl does" in result.err
    assert result.out == pdebug("all", dump, "-o", fmt).out  # istioctl's passthrough
    assert "whole dump" not in pdebug("all", dump, "-o", fmt).err
