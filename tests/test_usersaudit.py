"""usersaudit: what users ask of istioctl proxy-config / proxy-status, answered on others' inputs.

Each test pins one answer the audit (changes/usersaudit.md) found wrong or unclear, on
inputs other people produced: istioctl's own test data (fixtures/istioctl), the public
corpus (fixtures/corpus) and real Envoy captures (fixtures/real).
"""

from __future__ import annotations

import json

import pytest

from pdebug.errors import ExitCode
from tests.harness import FIXTURES, ISTIOCTL, error_and_hint

SIDECAR = FIXTURES / "real/sidecar/config_dump.json"
CLUSTERS = FIXTURES / "real/sidecar/clusters.json"
ZTUNNEL = ISTIOCTL / "ztunnel-config/dump.json"
XDS = ISTIOCTL / "proxy-status/xds"
LEGACY = ISTIOCTL / "proxy-status/legacy-http-syncz"

#: istiod's sync status in each shape people save it: legacy {istiod: [SyncStatus]},
#: xDS {istiod: DiscoveryResponse}, istioctl ps -o json (the bare response), -o yaml.
SYNCZ = [
    LEGACY / "http_syncz_single_pilot.reconstructed.json",
    XDS / "xds_syncz_two_namespaces.reconstructed.json",
    XDS / "multiXdsStatusSinglePilot.json",
    XDS / "multiXdsStatusSinglePilot.yaml",
]


# --- istioctl's -l/--selector (istio/istio PR#53089, #27490) ---------------------------


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["clusters", SIDECAR, "-l", "app=productpage"], "clusters"),
        (["pc", "listener", "--selector", "app=productpage"], "listeners"),
        (["x", "envoy-stats", "-lapp=productpage"], "stats"),
        (["stats", "--selector=app=productpage", CLUSTERS], "stats"),
        (["-n", "shop", "check", "-l", "app=productpage"], "check"),
    ],
)
def test_selector_on_a_one_proxy_command_says_how_to_read_many(pdebug, args, command):
    """It was Click's "No such option: -l" and "see --help", which has no selector."""
    error, hint = error_and_hint(pdebug(*args), ExitCode.USAGE)
    assert error == f"pdebug: error: pdebug {command} has no -l/--selector: it reads one proxy"
    assert "deploy/NAME or svc/NAME" in hint
    assert "pdebug snapshot -l app=productpage -o FILE, then pdebug check FILE" in hint


def test_selector_on_status_points_at_namespace_and_diff(pdebug):
    error, hint = error_and_hint(pdebug("ps", "-l", "app=web"), ExitCode.USAGE)
    assert error.endswith("pdebug ps has no -l/--selector: it shows every proxy istiod knows")
    assert "pdebug ps -n NS" in hint and "pdebug diff POD" in hint


def test_selector_in_the_hint_is_quoted_for_the_shell(pdebug):
    _, hint = error_and_hint(pdebug("clusters", SIDECAR, "-l", "app in (a,b)"), ExitCode.USAGE)
    assert "pdebug snapshot -l 'app in (a,b)' -o FILE" in hint


# --- istioctl commands pdebug has no twin of -----------------------------------------


@pytest.mark.parametrize(
    ("word", "says", "points_at"),
    [
        ("bug-report", "pdebug snapshot", "pdebug snapshot -n NS -o incident.tar.gz"),
        ("analyze", "reads proxies, not Istio's config", "pdebug check POD"),
        ("version", "pdebug --version", "pdebug bootstrap POD"),
        ("dashboard", "no browser needed", "pdebug all POD"),
    ],
)
def test_istioctl_only_commands_name_the_pdebug_way(pdebug, word, says, points_at):
    """bug-report was "did you mean report?" (report renders; snapshot captures)."""
    error, hint = error_and_hint(pdebug(word, "-A"), ExitCode.USAGE)
    assert error.startswith(f"pdebug: error: no such command '{word}' (istioctl's): ")
    assert says in error
    assert points_at in hint
    assert "did you mean" not in hint


def test_bug_report_points_at_reading_its_archive(pdebug):
    """pdebug reads an istioctl bug-report archive as a bundle (twelfth session): say so."""
    _, hint = error_and_hint(pdebug("bug-report"), ExitCode.USAGE)
    assert hint.endswith("pdebug check bug-report.tar.gz")


# --- istiod's sync status given where a proxy's dump is read -------------------------


@pytest.mark.parametrize(
    ("command", "source"),
    [
        (command, source)
        for command in ("clusters", "listeners", "all", "check", "stats")
        for source in SYNCZ
        if command != "stats" or source.suffix == ".json"  # pdebug stats reads no YAML
    ],
    ids=str,
)
def test_sync_status_given_as_a_dump_says_pdebug_status(pdebug, source, command):
    """It was "not an Envoy config dump (no 'configs' list)"."""
    error, hint = error_and_hint(pdebug(command, source), ExitCode.INVALID_INPUT)
    assert "this is istiod's sync status" in error
    assert hint == f"hint: read it with: pdebug status --file {source}"
    assert pdebug("status", "--file", source).code == ExitCode.OK  # and it does


def test_sync_status_as_a_bare_list_on_stdin(pdebug, monkeypatch):
    """The legacy answer of one istiod (a JSON array) was "a JSON array of 2 resources"."""
    import io

    body = json.loads(SYNCZ[0].read_bytes())["istiod1"]
    raw = json.dumps(body).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    _, hint = error_and_hint(pdebug("routes", "-"), ExitCode.INVALID_INPUT)
    assert hint == "hint: read it with: pdebug status --file -"


def test_sync_status_given_to_ztunnel_config(pdebug):
    """It was "not a ztunnel config dump (no workloads, ...)"."""
    result = pdebug("zc", "all", "-f", XDS / "multiXdsStatusSinglePilot.json")
    error, hint = error_and_hint(result, ExitCode.INVALID_INPUT)
    assert "this is istiod's sync status" in error
    assert "pdebug status --file" in hint


def test_a_config_dump_is_not_taken_for_a_sync_status(pdebug):
    for source in (SIDECAR, CLUSTERS, ZTUNNEL):
        result = pdebug("clusters", source)
        assert "sync status" not in result.err


# --- the wrong document given to pdebug stats -----------------------------------------


def test_stats_given_clusters_json_points_at_endpoints(pdebug):
    """It was "JSON without a 'stats' list", with a capture hint."""
    error, hint = error_and_hint(pdebug("stats", CLUSTERS), ExitCode.INVALID_INPUT)
    assert "this is Envoy's GET /clusters?format=json (endpoint health), not /stats" in error
    assert f"pdebug endpoints {CLUSTERS}" in hint
    assert pdebug("endpoints", CLUSTERS).code == ExitCode.OK


def test_stats_given_a_ztunnel_dump_points_at_zc(pdebug):
    error, hint = error_and_hint(pdebug("stats", ZTUNNEL), ExitCode.INVALID_INPUT)
    assert "this is a ztunnel config dump, not Envoy's /stats" in error
    assert f"pdebug zc all -f {ZTUNNEL}" in hint


# --- a /clusters document given to a view that needs the dump ---------------------------


@pytest.mark.parametrize("command", ["listeners", "routes", "secrets", "bootstrap"])
def test_clusters_json_to_a_view_without_clusters_json_option(pdebug, command):
    """The hint said "add --clusters-json FILE", an option these views do not have."""
    result = pdebug(command, CLUSTERS)
    error, hint = error_and_hint(result, ExitCode.INVALID_INPUT)
    assert "this is a /clusters?format=json document" in error
    assert "--clusters-json" not in hint
    assert f"pdebug endpoints {CLUSTERS} shows what it holds" in hint
    assert pdebug(command, "--clusters-json", CLUSTERS, SIDECAR).code == ExitCode.USAGE


def test_clusters_json_to_the_clusters_view_says_where_it_goes(pdebug):
    _, hint = error_and_hint(pdebug("clusters", CLUSTERS), ExitCode.INVALID_INPUT)
    assert hint.endswith("save GET /config_dump and pass this file beside it as --clusters-json")
    assert pdebug("clusters", SIDECAR, "--clusters-json", CLUSTERS).code == ExitCode.OK


# --- a directory given as the dump -------------------------------------------------------


def test_a_directory_names_the_dump_files_in_it(pdebug):
    """The corpus keeps each dump in its own directory; the hint now names the file."""
    where = FIXTURES / "corpus/istio/2018-06-pilot"
    error, hint = error_and_hint(pdebug("clusters", where), ExitCode.INVALID_INPUT)
    assert error.endswith("is a directory, not a dump file")
    assert hint == f"hint: pass the config_dump JSON file inside it: {where}/configdump.json"
    assert pdebug("clusters", where / "configdump.json").code == ExitCode.OK


def test_a_directory_with_many_or_no_dumps(pdebug, tmp_path):
    for n in range(5):
        (tmp_path / f"d{n}.json").write_text("{}")
    _, hint = error_and_hint(pdebug("clusters", tmp_path), ExitCode.INVALID_INPUT)
    assert hint.endswith(f"{tmp_path}/d2.json (5 in all)")
    empty = tmp_path / "sub"
    empty.mkdir()
    _, hint = error_and_hint(pdebug("clusters", empty), ExitCode.INVALID_INPUT)
    assert hint == "hint: pass the config_dump JSON file inside it"


# --- proxy-status: STALE hidden by the SUBSCRIBED TYPES table (istio/istio#13492) ------


def test_status_types_table_names_the_proxies_out_of_sync(pdebug):
    source = XDS / "xds_syncz_single_pilot.reconstructed.json"
    result = pdebug("status", "--file", source)
    assert result.code == ExitCode.OK
    assert "STALE" not in result.out  # istioctl's table, cell for cell
    assert result.out == (XDS / "multiXdsStatusSinglePilot.txt").read_text()
    (line,) = result.err.splitlines()
    assert line.startswith(
        "note: 2 of 2 proxies out of sync with istiod, which this table does not show: "
        "proxy1, proxy2; -o wide names the types"
    )
    wide = pdebug("status", "--file", source, "-o", "wide")
    assert wide.err == "" and "CDS,EDS" in wide.out  # the wide table shows them itself
    assert pdebug("status", "--file", source, "-o", "json").err == ""
    assert pdebug("status", "--file", source, "--layout", "fixed").err == ""


def test_status_note_only_names_proxies_out_of_sync(pdebug, tmp_path):
    doc = json.loads((XDS / "xds_syncz_single_pilot.reconstructed.json").read_text())
    for answer in doc.values():
        for resource in answer["resources"]:
            for config in resource.get("genericXdsConfigs", []):
                if config.get("configStatus") in ("STALE", "ERROR"):
                    config["configStatus"] = "SYNCED"
    synced = tmp_path / "synced.json"
    synced.write_text(json.dumps(doc))
    result = pdebug("status", "--file", synced)
    assert result.code == ExitCode.OK and result.err == ""


# --- istioctl < 1.22's proxy-config workload (istio/istio#42809, #42410) -----------------


@pytest.mark.parametrize(
    "args",
    [
        ["pc", "workload", "-f", ZTUNNEL],
        ["proxy-config", "workloads", "--file", ZTUNNEL],
        ["pc", "-f", ZTUNNEL, "workload"],
    ],
)
def test_pc_workload_is_zc_workload(pdebug, args):
    """It was "istioctl has no such proxy-config view"; istioctl had it before 1.22."""
    result = pdebug(*args)
    assert result.code == ExitCode.OK, result.err
    assert result.out == (ISTIOCTL / "ztunnel-config/workloadsummary.txt").read_text()


@pytest.mark.parametrize(
    ("view", "points_at"),
    [
        ("certificate", "pdebug zc certificate (istioctl ztunnel-config)"),
        ("connections", "pdebug zc connections (istioctl ztunnel-config)"),
        ("stats", "pdebug stats (istioctl x envoy-stats)"),
    ],
)
def test_pc_with_a_view_of_another_command_points_at_it(pdebug, view, points_at):
    error, hint = error_and_hint(pdebug("pc", view, "-f", SIDECAR), ExitCode.USAGE)
    assert error.endswith(f"pdebug pc {view}: istioctl has no such proxy-config view")
    assert points_at in hint


# --- endpoint filters that can match nothing (istio/istio PR#8569's --status) ------------


@pytest.mark.parametrize(
    "args",
    [
        ["endpoints", ISTIOCTL / "proxy-config-endpoints/clusters.json"],
        ["endpoints", SIDECAR, "--clusters-json", CLUSTERS],
        ["eds", ISTIOCTL / "proxy-config-eds/configdump.json"],
    ],
)
def test_a_misspelt_status_is_named_not_read_as_none(pdebug, args):
    """``--status unhealty`` said only "No endpoints match the filter." (read: none is)."""
    right = pdebug(*args, "--status", "unhealthy")
    typo = pdebug(*args, "--status", "unhealty")
    assert typo.code == right.code == ExitCode.OK
    assert typo.err.splitlines()[-1] == (
        "No endpoints match the filter: --status 'unhealty' is no health status Envoy has "
        "(HEALTHY, UNHEALTHY, DRAINING, TIMEOUT, DEGRADED, UNKNOWN)."
    )
    assert "is no health status" not in right.err


def test_eds_address_without_a_port_says_it_takes_one(pdebug):
    """istioctl's eds --address is IP:PORT (its endpoint --address the IP alone)."""
    source = ISTIOCTL / "proxy-config-eds/configdump.json"
    listed = pdebug("eds", source).out.splitlines()[1].split()[0]
    ip, _, port = listed.rpartition(":")
    assert pdebug("eds", source, "--address", listed).out.count("\n") >= 2
    bare = pdebug("eds", source, "--address", ip)
    assert bare.code == ExitCode.OK and bare.out.count("\n") == 1  # istioctl's header alone
    assert bare.err.splitlines()[-1] == (
        "No endpoints match the filter: --address is IP:PORT here, as istioctl's eds "
        f"(e.g. --address {ip}:9080; pdebug endpoints takes the IP alone)."
    )
    assert "IP:PORT" not in pdebug("eds", source, "--address", f"{ip}:1").err


# --- what pdebug dump saves, said where a user looks (its help) --------------------------


def test_dump_help_names_every_document_it_saves(pdebug):
    """The help said "/clusters and /server_info"; the bundle holds /stats too (#17)."""
    from pdebug.snapshot.capture import DUMP_PATHS

    text = " ".join(pdebug("dump", "--help").out.split())
    first = text.split("Usage: pdebug dump [OPTIONS] SOURCE ")[1].split(" for later.")[0]
    for path in DUMP_PATHS.values():
        assert path.lstrip("/") in first, path  # the summary --help lists too
    assert "/stats" in text.split("--output FILE")[1].split("--force")[0]


# --- Envoy Gateway's egctl output given as a dump (peer tool, users.md 2.5) -------------

EGCTL = FIXTURES / "corpus/envoy-gateway"


@pytest.mark.parametrize(
    ("name", "where", "program"),
    [
        ("egctl-out/out.all.json", "config dumps by namespace and pod", '.["default"]["eg"]'),
        (
            "egctl-out/out.cluster.json",
            "config dumps by namespace and pod",
            '{configs: [.["default"]["eg"]]}',
        ),
        (
            "translate/jwt-single-route-single-match-to-xds.all.json",
            "translated xDS",
            '.["xds"]["envoy-gateway-system/eg"]',
        ),
    ],
)
def test_egctl_output_names_the_jq_that_takes_one_proxy_out(pdebug, name, where, program):
    """It was "not an Envoy config dump (no 'configs' list)"; the hint's jq works."""
    source = EGCTL / name
    error, hint = error_and_hint(pdebug("clusters", source), ExitCode.INVALID_INPUT)
    assert error.endswith(
        f"this is egctl's output (Envoy Gateway: {where}), not one proxy's config dump"
    )
    assert hint == f"hint: take one proxy out: jq '{program}' {source} | pdebug all -"


def test_what_the_egctl_hint_takes_out_reads(pdebug, tmp_path):
    """The hint's jq, done in Python: a section alone, wrapped in configs, is read."""
    doc = json.loads((EGCTL / "egctl-out/out.cluster.json").read_text())
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"configs": [doc["default"]["eg"]]}))
    result = pdebug("clusters", one)
    assert result.code == ExitCode.OK and "xds_cluster" in result.out
    whole = json.loads((EGCTL / "egctl-out/out.all.json").read_text())["default"]["eg"]
    one.write_text(json.dumps(whole))
    assert pdebug("clusters", one).out == result.out


# --- a certificate in a file, not in the dump (istio/istio#28099, OUTPUT_CERTS) --------


def test_a_certificate_file_is_not_called_expired(pdebug, tmp_path):
    doc = json.loads((ISTIOCTL / "proxy-config-secret/istio/config_dump.json").read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_active_secrets", []):
            if entry["name"] == "default":
                chain = {"filename": "/etc/certs/cert-chain.pem"}
                entry["secret"]["tls_certificate"]["certificate_chain"] = chain
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    result = pdebug("secrets", dump)
    assert result.code == ExitCode.OK
    row = next(line for line in result.out.splitlines() if line.startswith("default "))
    assert row.split()[1:3] == ["ACTIVE", "false"]  # istioctl's cells
    assert result.err == (
        "secret default: its certificate is the file /etc/certs/cert-chain.pem on the proxy, "
        "not in the dump: VALID CERT false means pdebug could not read it, not that it "
        "expired.\n"
    )
    assert pdebug("secrets", dump, "-o", "json").err == ""
    inline = pdebug("secrets", ISTIOCTL / "proxy-config-secret/istio/config_dump.json")
    assert "on the proxy" not in inline.err


@pytest.mark.parametrize(
    ("source", "says", "points_at"),
    [
        (ZTUNNEL, "this is a ztunnel config dump, not istiod's sync status", "pdebug zc all -f"),
        (EGCTL / "egctl-out/out.all.json", "this is egctl's output", "jq "),
    ],
)
def test_status_file_names_a_ztunnel_dump_and_egctl_output(pdebug, source, says, points_at):
    """Both were "not a syncz document ('workloads' holds neither ...)"."""
    error, hint = error_and_hint(pdebug("status", "--file", source), ExitCode.INVALID_INPUT)
    assert says in error
    assert points_at in hint


def test_a_free_text_value_starting_with_l_is_no_selector(pdebug):
    """``--fqdn -l`` / ``--filter -lds``: a value, not istioctl's -l."""
    result = pdebug("clusters", SIDECAR, "--fqdn", "-l")
    assert result.code == ExitCode.OK and "selector" not in result.err
    result = pdebug("stats", CLUSTERS, "--filter", "-lds")
    assert "selector" not in result.err


def test_pc_help_says_istio_io_jq_recipes_need_camel_keys(pdebug):
    """istio.io's `pc secret -o json | jq '.dynamicActiveSecrets'` is null without it."""
    text = " ".join(pdebug("pc", "--help").out.split())
    assert "needs --keys camel (or PDEBUG_KEYS=camel)" in text
    source = ISTIOCTL / "proxy-config-secret/istio/config_dump.json"
    plain = json.loads(pdebug("pc", "secret", "-f", source, "-o", "json").out)
    camel = json.loads(pdebug("pc", "secret", "-f", source, "-o", "json", "--keys", "camel").out)
    assert "dynamicActiveSecrets" not in plain
    assert camel["dynamicActiveSecrets"][0]["name"] == "default"
