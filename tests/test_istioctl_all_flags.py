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
