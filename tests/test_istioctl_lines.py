"""istioctl command lines as users type them (docs, runbooks, issues), with pdebug in its place."""

from __future__ import annotations

import re

import pytest

from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real/sidecar/config_dump.json"
WARMING = FIXTURES / "corpus/handmade/istio-2019-trafficdirector-warming-v2alpha.json"


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_clusters_json_says_nothing_of_warming_when_it_prints_clusters(pdebug, output):
    # `istioctl pc clusters --file dump.json -o json`: pdebug printed the clusters and said on
    # stderr "No clusters found: 12 warming" of a dump with none warming.
    got = pdebug("pc", "clusters", "--file", SIDECAR, "-o", output)
    assert got.code == 0
    assert "inbound|9080||" in got.out
    assert got.err == ""
    warming = pdebug("clusters", WARMING, "-o", output)
    assert "No clusters found: 4 warming" in warming.err


ZTUNNEL = FIXTURES / "istioctl/ztunnel-config/dump.json"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        # pflag reads `-o=json` as `-o json`; Click took "=json" as the format (exit 2).
        (["pc", "cluster", "-f", SIDECAR, "--port", "9080", "-o=json"], ["-o", "json"]),
        (["pc", "cluster", "-f", SIDECAR, "--port", "9080", "-o=short"], []),
        (["pc", "cluster", f"-f={SIDECAR}", "--port", "9080", "-o=yaml"], ["-o", "yaml"]),
    ],
)
def test_short_option_with_equals_is_its_value(pdebug, typed, meant):
    got = pdebug(*typed)
    assert got.code == 0, got.err
    assert got.out == pdebug("clusters", SIDECAR, "--port", "9080", *meant).out


def test_short_option_with_equals_on_ztunnel_config(pdebug):
    got = pdebug("zc", "workload", f"-f={ZTUNNEL}", "-o=json")
    assert got.code == 0, got.err
    assert got.out == pdebug("zc", "workload", "-f", ZTUNNEL, "-o", "json").out


@pytest.mark.parametrize(
    "typed",
    [
        ["-i", "istio-system", "pc", "c", "-f", SIDECAR],
        ["pc", "c", "-f", SIDECAR, "--istioNamespace=istio-system"],
        ["clusters", SIDECAR, "-i=istio-system"],
        ["clusters", SIDECAR, "--istio-namespace", "istio-system"],
    ],
)
def test_istio_namespace_is_ignored_where_istioctl_ignores_it(pdebug, typed):
    # istioctl's root -i/--istioNamespace: `istioctl -i istio-system pc c POD` runs; pdebug
    # said "No such option: -i" (exit 2).
    got = pdebug(*typed)
    assert (got.code, got.err) == (0, "")
    assert got.out == pdebug("clusters", SIDECAR).out


def test_istio_namespace_still_reaches_the_commands_that_use_it(pdebug):
    got = pdebug("zc", "workload", "-f", ZTUNNEL, "-i", "istio-system")
    assert got.code == 0, got.err
    clash = pdebug("status", "-f", ZTUNNEL, "-i", "istio-system")
    assert clash.code == 2 and "--istio-namespace is for asking istiod live" in clash.err


@pytest.mark.parametrize(
    "typed", [["zc", "log"], ["ztunnel-config", "log", "-f", ZTUNNEL], ["zc", "o"]]
)
def test_ztunnel_config_log_says_pdebug_only_reads(pdebug, typed):
    got = pdebug(*typed)
    assert got.code == 2
    assert "does not change ztunnel's log level (it only reads)" in got.err
    assert "no such command" not in got.err


@pytest.mark.parametrize(
    "name", ["workload", "service", "policy", "certificate", "connections", "all"]
)
def test_ztunnel_config_help_keeps_examples_whole_and_names_aliases(pdebug, name, monkeypatch):
    # `pdebug zc workload --help` wrapped its example mid-command ("--workload-namespace"
    # / "bookinfo") and named no alias (istioctl's w, workloads, svc, certs...).
    import inspect

    from pdebug.cli import ZC_COMMANDS, ztunnel

    monkeypatch.setenv("COLUMNS", "80")
    got = pdebug("zc", name, "--help")
    assert got.code == 0
    _, attr, aliases = next(e for e in ZC_COMMANDS if e[0] == name)
    doc = inspect.cleandoc(getattr(ztunnel, attr).__doc__)
    lines = got.out.splitlines()
    for example in re.findall(r"^Example: (.*)$", doc, re.M):
        assert f"  Example: {example}" in lines, example
    if aliases:
        assert f"  Aliases: {', '.join(aliases)}." in lines


@pytest.fixture
def saved_stats(tmp_path):
    path = tmp_path / "stats.txt"
    path.write_text("cluster_manager.cds.update_rejected: 2\nserver.live: 1\n")
    return path


@pytest.mark.parametrize("typed", [["--type", "server"], ["--type=server"]])
def test_envoy_stats_type_server_is_the_default(pdebug, saved_stats, typed):
    got = pdebug("x", "envoy-stats", "-f", saved_stats, *typed)
    assert got.code == 0, got.err
    assert got.out == pdebug("stats", saved_stats).out
    assert "update_rejected" in got.out


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (["--output", "prom"], "-o prom: pdebug stats prints the stats as a table or -o json"),
        (["-o", "prom-merged"], "-o prom-merged: pdebug stats prints"),
        (["--output=prom"], "-o prom: pdebug stats prints"),
        (["--type", "clusters"], "pdebug stats has no --type clusters"),
    ],
)
def test_envoy_stats_flags_pdebug_does_not_have_say_what_to_type(
    pdebug, saved_stats, typed, message
):
    # istioctl x envoy-stats POD --output prom / --type clusters: pdebug said "unknown output
    # format 'prom'" / "No such option: --type".
    got = pdebug("x", "envoy-stats", "-f", saved_stats, *typed)
    assert got.code == 2
    assert message in got.err
    assert "hint: pdebug" in got.err


@pytest.mark.parametrize("file", [["--file", "cd.json"], ["-f=cd.json"], ["-f", "cd.json"]])
def test_proxy_status_pod_with_a_saved_dump_points_at_diff_of_that_dump(pdebug, file):
    # istio.io: `istioctl proxy-status POD.NS --file cd.json` compares that saved Envoy dump
    # with istiod; pdebug's hint named `pdebug diff POD` (the live pod, not the file).
    got = pdebug("proxy-status", "istio-egressgateway-59585c5b9c-ndc59.istio-system", *file)
    assert got.code == 2
    message, hint = got.err.splitlines()
    assert message.endswith(
        "takes no POD argument (got istio-egressgateway-59585c5b9c-ndc59.istio-system)"
    )
    assert hint.startswith(
        "hint: pdebug diff cd.json --proxy-id istio-egressgateway-59585c5b9c-ndc59.istio-system "
        "--istiod http://127.0.0.1:15014 compares that saved dump with istiod"
    )


@pytest.mark.parametrize("x", ["x", "experimental"])
def test_experimental_ztunnel_config_of_istioctl_before_1_23(pdebug, x):
    got = pdebug(x, "ztunnel-config", "workload", "-f", ZTUNNEL)
    assert got.code == 0, got.err
    assert got.out == pdebug("zc", "workload", "-f", ZTUNNEL).out


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (["x", "describe", "pod", "productpage-v1-abc"], "and no describe (it reads proxies"),
        (["experimental", "describe", "svc", "productpage"], "and no describe"),
        (
            ["x", "precheck"],
            "pdebug x precheck: pdebug has only istioctl's experimental envoy-stats",
        ),
    ],
)
def test_other_experimental_commands_say_what_to_type(pdebug, typed, message):
    # `istioctl x describe pod NAME` with pdebug: was "no such command 'x'".
    got = pdebug(*typed)
    assert got.code == 2
    assert message in got.err
    assert "hint: pdebug check POD" in got.err


SIDECAR_CLUSTERS = FIXTURES / "real/sidecar/clusters.json"


@pytest.mark.parametrize("source", [SIDECAR, SIDECAR_CLUSTERS])
def test_endpoint_address_with_a_port_says_the_address_is_the_ip(pdebug, source):
    # `pc ep POD --address 127.0.0.11:9080` (pasted from the ENDPOINT column) matches nothing
    # in istioctl and pdebug alike (the IP alone); pdebug said only "No endpoints match".
    got = pdebug("pc", "ep", "-f", source, "--address", "127.0.0.11:9080")
    assert got.code == 0
    assert got.out == "ENDPOINT     STATUS     OUTLIER CHECK     CLUSTER\n"
    assert (
        "No endpoints match the filter: --address is the IP alone, as istioctl's "
        "(--address 127.0.0.11 --port 9080)."
    ) in got.err
    right = pdebug("pc", "ep", "-f", source, "--address", "127.0.0.11", "--port", "9080")
    assert "127.0.0.11:9080" in right.out
    assert (
        "No endpoints match the filter."
        in pdebug("pc", "ep", "-f", source, "--address", "127.0.0.99").err
    )


@pytest.mark.parametrize(
    "typed",
    [
        ["pc", "--port", "9080", "cluster", "-f", SIDECAR],
        ["pc", "--port=9080", "cluster", "-f", SIDECAR],
        ["pc", "-f", SIDECAR, "--port", "9080", "c"],
        ["proxy-config", "--direction", "outbound", "--port", "9080", "clusters", "-f", SIDECAR],
    ],
)
def test_view_options_before_the_view(pdebug, typed):
    # istioctl (cobra) finds the view past options it does not know at `pc` and gives them
    # to the view; pdebug took `9080` for the view ("istioctl has no such proxy-config view").
    got = pdebug(*typed)
    assert got.code == 0, got.err
    direction = ["--direction", "outbound"] if "outbound" in typed else []
    assert got.out == pdebug("clusters", SIDECAR, "--port", "9080", *direction).out


def test_verbose_before_the_view_takes_no_value(pdebug):
    want = pdebug("listeners", SIDECAR, "--no-verbose").out
    assert pdebug("pc", "--no-verbose", "l", "-f", SIDECAR).out == want
    assert pdebug("pc", "--verbose=false", "l", "-f", SIDECAR).out == want


@pytest.mark.parametrize(
    "typed",
    [
        ["zc", "-f", ZTUNNEL, "workload"],
        ["zc", f"--file={ZTUNNEL}", "w"],
        ["ztunnel-config", "-o", "short", "-f", ZTUNNEL, "workloads"],
    ],
)
def test_ztunnel_config_options_before_the_view(pdebug, typed):
    # `istioctl zc -f dump.json workload`: pdebug said "No such option: -f".
    got = pdebug(*typed)
    assert got.code == 0, got.err
    assert got.out == pdebug("zc", "workload", "-f", ZTUNNEL).out


@pytest.mark.parametrize(
    "typed", [["pc", "rc", "-f", SIDECAR], ["rc", SIDECAR], ["proxy-config", "rootca-compare"]]
)
def test_rootca_compare_with_one_proxy_says_it_needs_two(pdebug, typed):
    # Both arguments are named SOURCE: the error was "Missing argument 'SOURCE'." after the
    # user had given one.
    got = pdebug(*typed)
    assert got.code == 2
    message, hint = got.err.splitlines()
    assert message.endswith("needs two proxies (istioctl: rootca-compare requires 2 pods)")
    assert "pod/web-1 pod/api-1 -n shop" in hint


@pytest.mark.parametrize(
    ("text", "kind", "name", "namespace"),
    [
        ("deployment.apps/productpage-v1", "deployment", "productpage-v1", None),
        ("deploy.apps/productpage-v1.shop", "deployment", "productpage-v1", "shop"),
        ("statefulset.apps/db", "statefulset", "db", None),
        ("DaemonSet.apps/ztunnel", "daemonset", "ztunnel", None),
    ],
)
def test_a_workload_with_its_api_group_is_the_workload(text, kind, name, namespace):
    # `istioctl pc c deployment.apps/x` (kubectl's fully qualified kind): pdebug said
    # "deployment.apps/x: no such file".
    from pdebug.sources.kube.target import parse_target
    from pdebug.sources.spec import classify

    assert classify(text) == "kube"
    got = parse_target(text)
    assert (got.kind, got.name, got.namespace) == (kind, name, namespace)


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        (["pc", "r", "gateway/bookinfo-gateway"], "deploy/bookinfo-gateway-istio"),
        (
            ["pc", "c", "gateway.gateway.networking.k8s.io/bookinfo-gateway.shop"],
            "deploy/bookinfo-gateway-istio.shop",
        ),
    ],
)
def test_a_gateway_api_gateway_names_its_deployment(pdebug, typed, hint):
    # istioctl reads a Gateway API gateway's pod; pdebug said "gateway/x: no such file".
    got = pdebug(*typed)
    assert got.code == 2
    message, said = got.err.splitlines()
    assert message.endswith("pdebug does not resolve Gateway API gateways (istioctl does)")
    assert said == f"hint: name its Deployment, NAME-CLASS: e.g. {hint}"


@pytest.fixture
def kube_reads():
    return {
        ("get", "deployments"),
        ("list", "replicasets"),
        ("list", "pods"),
        ("get", "pods"),
        ("create", "pods/portforward"),
    }


@pytest.mark.envoy
def test_a_deployment_with_its_api_group_reads_its_pod(pdebug, kube, sidecar, tmp_path):
    config = str(kube.write_kubeconfig(tmp_path / "config", namespace="default"))
    dep = kube.add_deployment("details", labels={"app": "details"})
    kube.add_pod("details-v1-abc", owner=dep, forwards={15000: sidecar.envoy.admin_address})
    got = pdebug("pc", "c", "deployment.apps/details", "--kubeconfig", config)
    assert got.code == 0, got.err
    assert got.err.splitlines()[0] == "reading pod details-v1-abc.default (deployment.apps/details)"
    assert got.out == pdebug("clusters", "pod/details-v1-abc", "--kubeconfig", config).out


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        (["pc", "c", "-f", SIDECAR, "--fqdn"], "clusters"),
        (["-n", "x", "pc", "ep", "-f", SIDECAR, "--status"], "endpoints"),
    ],
)
def test_an_option_without_its_value_points_at_the_commands_help(pdebug, typed, command):
    # Click raises it without the command's context: the hint said "see: pdebug --help".
    got = pdebug(*typed)
    assert got.code == 2
    assert got.err.splitlines()[1] == f"hint: see: pdebug {command} --help"


@pytest.mark.parametrize("typed", [["zc", "-f", ZTUNNEL], ["ztunnel-config", "-o", "json"]])
def test_ztunnel_config_without_a_view_says_so(pdebug, typed):
    # was Click's "No such option: -f" (the group has no options of its own)
    got = pdebug(*typed)
    assert got.code == 2
    assert "needs a view: workload|w, service|svc, policy|pol" in got.err


def test_ztunnel_config_options_then_help_is_the_groups_help(pdebug):
    got = pdebug("zc", "-f", ZTUNNEL, "--help")
    assert got.code == 0
    assert got.out == pdebug("zc", "--help").out
