"""Leftovers of sweeps 20 and 21: answers that were wrong or misleading on other
projects' inputs (each test fails without its fix)."""

from __future__ import annotations

import json

import pytest

from tests import harness as eh

SIDECAR = eh.FIXTURES / "real/sidecar/config_dump.json"
PEERS = eh.ISTIOCTL


# --- one view's -o json given as SOURCE -----------------------------------------------------


@pytest.mark.parametrize(
    ("view", "istioctl", "fmt"),
    [
        ("clusters", "clusters", "json"),
        ("listeners", "listeners", "json"),
        ("routes", "routes", "json"),
        ("eds", "eds", "json"),
        ("secrets", "secret", "json"),
        ("bootstrap", "bootstrap", "json"),
        ("ecds", "ecds", "json"),
        ("secrets", "secret", "yaml"),
        ("bootstrap", "bootstrap", "yaml"),
        ("routes", "routes", "yaml"),
    ],
)
def test_one_views_output_is_named(pdebug, tmp_path, view, istioctl, fmt):
    """A pasted `istioctl proxy-config routes -o json` (a JSON list of route configs) said
    "this is a JSON array, not an Envoy config dump"; the secret, bootstrap and ecds
    views' objects "not an Envoy config dump (no 'configs' list)". pdebug's own -o json
    of each view has the same shapes (snake_case; istioctl's camelCase is below)."""
    path = tmp_path / f"view.{fmt}"
    path.write_text(pdebug(view, SIDECAR, "-o", fmt).out)
    got = pdebug("listeners", path)
    assert got.code == 4
    assert (
        f"{path}: this is one view's output (istioctl proxy-config {istioctl} -o {fmt}, or "
        f"pdebug {view} -o {fmt}), not an Envoy config dump" in got.err
    )
    assert "hint: save a whole dump: istioctl proxy-config all POD -o json" in got.err
    assert len(got.err.splitlines()) == 2


def _camel(value: object) -> object:
    """protojson's spelling of pdebug's snake_case output (as istioctl prints it)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            head, *rest = k.split("_")
            out[head + "".join(w.title() for w in rest) if not k.startswith("@") else k] = _camel(v)
        return out
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


@pytest.mark.parametrize("view", ["clusters", "listeners", "routes", "eds", "secrets"])
def test_istioctl_camel_case_lists_are_named(pdebug, tmp_path, view):
    istioctl = {"secrets": "secret"}.get(view, view)
    path = tmp_path / "view.json"
    path.write_text(json.dumps(_camel(json.loads(pdebug(view, SIDECAR, "-o", "json").out))))
    got = pdebug("clusters", path)
    assert got.code == 4
    assert f"(istioctl proxy-config {istioctl} -o json, or" in got.err


@pytest.mark.parametrize(
    ("golden", "istioctl"),
    [
        ("proxy-config-eds/emptyfilter_output.json", "eds -o json"),
        ("proxy-config-eds/emptyfilter_output.yaml", "eds -o yaml"),
        ("proxy-config-ecds/output.json", "ecds -o json"),
        ("proxy-config-ecds/output.yaml", "ecds -o yaml"),
        ("proxy-config-endpoints/clustersnofiltered.txt", "endpoints -o json"),
        ("proxy-config-bootstrap/bootstrapdump.json", "bootstrap -o json"),
    ],
)
def test_istioctl_goldens_of_one_view_are_named(pdebug, golden, istioctl):
    """istioctl's own -o json|yaml goldens (istio/istio@86c9f01, @285c050)."""
    got = pdebug("clusters", PEERS / golden)
    assert got.code == 4
    assert f"this is one view's output (istioctl proxy-config {istioctl}, or" in got.err


def test_istioctl_proxy_config_all_input_is_a_dump(pdebug):
    """`istioctl proxy-config all -o json` prints the whole dump: read, not refused."""
    got = pdebug("clusters", PEERS / "proxy-config-all/config_dump.json")
    assert got.code == 0, got.err


def test_an_unknown_json_list_still_says_array(pdebug, tmp_path):
    path = tmp_path / "x.json"
    path.write_text('[{"hello": 1}, {"hello": 2}]')
    got = pdebug("clusters", path)
    assert got.code == 4
    assert "this is a JSON array of 2 resources (one view's -o json?)" in got.err


# --- certificates held inline in TLS contexts: pdebug secrets -o wide ---------------------

CONSUL_K8S = eh.FIXTURES / "corpus/consul-k8s/test_config_dump.json"


def test_inline_certificates_have_wide_rows_and_a_note(pdebug):
    """consul-k8s's test dump: its public listener's leaf (ended 2022-08-13) and Consul's
    CA are held inline in listener/cluster TLS contexts; check judged them (PD501) but
    `secrets -o wide` had no row for them. The default table stays istioctl's."""
    table = pdebug("secrets", CONSUL_K8S)
    assert table.code == 0
    assert [line.split()[0] for line in table.out.splitlines()] == [
        "RESOURCE",
        "ROOTCA",
        "default",
    ]
    assert table.err == (
        "3 certificates held inline in listener/cluster TLS contexts left out, as istioctl "
        "does; -o wide lists them (STATUS INLINE).\n"
    )
    wide = pdebug("secrets", CONSUL_K8S, "-o", "wide")
    assert wide.code == 0
    inline = [line.split() for line in wide.out.splitlines() if " INLINE " in line]
    assert [(r[0], r[-9], r[-8]) for r in inline] == [
        ("listener/public_listener:192.168.69.179:20000", "INLINE", "false"),
        ("listener/public_listener:192.168.69.179:20000", "INLINE", "true"),
        ("cluster/local_agent", "INLINE", "true"),
    ]
    assert "2022-08-13T12:29:31Z" in wide.out
    assert wide.err == ""
    # json/yaml print the secrets section as it is (istioctl's): unchanged
    assert "INLINE" not in pdebug("secrets", CONSUL_K8S, "-o", "json").out
