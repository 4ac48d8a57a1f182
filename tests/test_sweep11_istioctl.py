"""istioctl ``proxy-config all`` takes every table's filters and ``--verbose`` (istioctl.md §4.9).

Expected text is derived by the rules of istioctl.md (§3.2 tabwriter, §4.2 non-verbose
listeners, §4.3 non-verbose routes): istioctl prints each table's header even when its
filters leave no row.
"""

from __future__ import annotations

from tests.harness import ISTIOCTL

DUMP = str(ISTIOCTL / "proxy-config-all/config_dump.json")


def test_all_verbose_false_lists_listeners_and_routes_one_row_each(pdebug):
    result = pdebug("pc", "all", "-f", DUMP, "--verbose=false")
    assert result.code == 0, result.err
    assert (
        "NAME                   ADDRESSES PORT  TYPE\n"
        "listener/main_internal           0     HTTP+TCP\n"
        "listener/              0.0.0.0   15021 HTTP\n"
        "\n"
        "NAME                                                              VIRTUAL HOSTS\n"
        "route/inbound-vip|8000|http|httpbin.default.svc.cluster.local     1\n"
        "\n"
    ) in result.out


def test_all_takes_direction_subset_type_and_name(pdebug):
    result = pdebug(
        "pc", "a", "-f", DUMP, "--direction", "inbound", "--subset", "http", "--type", "HTTP",
        "--name", "nope", "--verbose=false",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert (
        "\n"
        "NAME                                                                SERVICE FQDN"
        "                          PORT     SUBSET     DIRECTION       TYPE     DESTINATION RULE\n"
        "cluster/inbound-vip|8000|http|httpbin.default.svc.cluster.local     "
        "httpbin.default.svc.cluster.local     8000     http       inbound-vip     EDS      \n"
        "\n"
        "NAME      ADDRESSES PORT  TYPE\n"
        "listener/ 0.0.0.0   15021 HTTP\n"
        "\n"
        "NAME     VIRTUAL HOSTS\n"
        "\n"
    ) in result.out


def test_all_prints_the_header_of_a_table_its_filters_emptied(pdebug):
    result = pdebug("pc", "all", "-f", DUMP, "--port", "9999")
    assert result.code == 0, result.err
    assert result.out.startswith(
        "Istio Version:       1.21.0-1226\n"
        "Istio Proxy Version: ee85c5f28702f00621aed895915fca565796b9e4\n"
        "Envoy Version:       0.0.0\n"
        "\n"
        "NAME     SERVICE FQDN     PORT     SUBSET     DIRECTION     TYPE     DESTINATION RULE\n"
        "\n"
        "NAME ADDRESSES PORT MATCH DESTINATION\n"
        "\n"
        "NAME                                                              VHOST NAME"
        "            DOMAINS     MATCH     VIRTUAL SERVICE\n"
    )
    assert result.out.endswith("NAME     STATUS     LOCALITY     CLUSTER\n")


XDS = ISTIOCTL / "proxy-status/xds"


def test_proxy_status_verbosity_1_is_one_column_per_type(pdebug):
    """istioctl.md §5.1: ``-v/--verbosity 1`` -> NAME, CLUSTER, types by URL, ISTIOD, VERSION."""
    src = str(XDS / "xds_syncz_single_pilot.reconstructed.json")
    want = (
        "NAME       CLUSTER      CDS       ECDS         EDS        LDS        RDS"
        "          ISTIOD      VERSION\n"
        "proxy1     cluster1     STALE     NOT SENT     SYNCED     SYNCED     NOT SENT"
        "     istiod1     1.20\n"
        "proxy2     cluster2     STALE     NOT SENT     STALE      SYNCED     SYNCED"
        "       istiod1     1.20\n"
    )
    for spelling in (["-v", "1"], ["-v1"], ["--verbosity", "1"], ["--verbosity=2"]):
        result = pdebug("proxy-status", "--file", src, *spelling)
        assert result.code == 0, (spelling, result.err)
        assert result.out == want, spelling
    result = pdebug("ps", "-f", src, "-v", "0")
    assert result.out == (XDS / "multiXdsStatusSinglePilot.txt").read_text()
    result = pdebug("ps", "-f", src, "-v", "x")
    assert result.code == 2
    assert "-v: needs a number" in result.err


BOOT = str(ISTIOCTL / "proxy-config-bootstrap/configdump.json")


def test_pc_bootstrap_prints_json_by_default_as_istioctl_does(pdebug):
    """istioctl.md §2: ``pc bootstrap`` defaults to ``-o json``; ``-o short`` is the summary."""
    import json

    from pdebug.model.camel import snake_keys

    result = pdebug("pc", "bootstrap", "-f", BOOT)
    assert result.code == 0, result.err
    want = json.loads((ISTIOCTL / "proxy-config-bootstrap/bootstrapdump.json").read_text())
    assert snake_keys(json.loads(result.out)) == snake_keys(want)
    summary = (ISTIOCTL / "proxy-config-bootstrap/versionsummary.txt").read_text()
    for args in (["pc", "b", "-f", BOOT, "-o", "short"], ["-o", "short", "pc", "b", "-f", BOOT]):
        assert pdebug(*args).out == summary, args
    assert pdebug("bootstrap", BOOT).out == summary  # pdebug's own command: the table
    assert pdebug("pc", "b", "-f", BOOT, "-oyaml").out.startswith("bootstrap:\n")


def test_pc_listener_waypoint_is_refused_by_name(pdebug):
    """istioctl's hidden ``pc listener --waypoint`` (random row order, istioctl.md §4.2)."""
    for args in (["pc", "l", "-f", DUMP, "--waypoint"], ["listeners", DUMP, "--waypoint=true"]):
        result = pdebug(*args)
        assert result.code == 2, args
        first, hint = result.err.splitlines()[:2]
        assert first == (
            "pdebug: error: pdebug listeners has no --waypoint: istioctl's hidden waypoint "
            "table walks the filter_chain_matcher in Go map order (random)"
        )
        assert hint.startswith("hint: pdebug listeners -o wide lists every chain")
