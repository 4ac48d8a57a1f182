"""istioctl conformance: every proxy-config case of fixtures/istioctl/MANIFEST.md.

Text tables must match istioctl byte for byte; json/yaml are compared as data after
respelling keys (istioctl re-emits lowerCamelCase; pdebug prints the dump as it is).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from pdebug.model.camel import snake_keys
from tests.harness import FIXTURES, ISTIOCTL

EXACT = [
    (
        "all-summary",
        ["all", "proxy-config-all/config_dump.json"],
        "proxy-config-all/config_dump_summary.txt",
    ),
    (
        "bootstrap-short",
        ["bootstrap", "proxy-config-bootstrap/configdump.json"],
        "proxy-config-bootstrap/versionsummary.txt",
    ),
    ("ecds-short", ["ecds", "proxy-config-ecds/configdump.json"], "proxy-config-ecds/output.txt"),
    (
        "eds-short",
        ["eds", "proxy-config-eds/configdump.json"],
        "proxy-config-eds/emptyfilter_output.txt",
    ),
    (
        "routes-empty-gateway",
        ["routes", "proxy-config-routes/empty-gateway/configdump.json"],
        "proxy-config-routes/empty-gateway/output.txt",
    ),
    (
        "secret-istio",
        ["secrets", "proxy-config-secret/istio/config_dump.json"],
        "proxy-config-secret/istio/output",
    ),
    (
        "ep-summary",
        ["endpoints", "proxy-config-endpoints/clusters.json"],
        "proxy-config-endpoints/clustersummary.txt",
    ),
]

SEMANTIC = [
    (
        "bootstrap-json",
        ["bootstrap", "proxy-config-bootstrap/configdump.json", "-o", "json"],
        "proxy-config-bootstrap/bootstrapdump.json",
    ),
    (
        "ecds-json",
        ["ecds", "proxy-config-ecds/configdump.json", "-o", "json"],
        "proxy-config-ecds/output.json",
    ),
    (
        "ecds-yaml",
        ["ecds", "proxy-config-ecds/configdump.json", "-o", "yaml"],
        "proxy-config-ecds/output.yaml",
    ),
    (
        "eds-json",
        ["eds", "proxy-config-eds/configdump.json", "-o", "json"],
        "proxy-config-eds/emptyfilter_output.json",
    ),
    (
        "eds-yaml",
        ["eds", "proxy-config-eds/configdump.json", "-o", "yaml"],
        "proxy-config-eds/emptyfilter_output.yaml",
    ),
    (
        "ep-json",
        ["endpoints", "proxy-config-endpoints/clusters.json", "-o", "json"],
        "proxy-config-endpoints/clustersnofiltered.txt",
    ),
    (
        "ep-json-cluster",
        [
            "endpoints",
            "proxy-config-endpoints/clusters.json",
            "-o",
            "json",
            "--cluster",
            "outbound|15014||istio-policy.istio-system.svc.cluster.local",
        ],
        "proxy-config-endpoints/clusterfiltered.txt",
    ),
]

# The secret golden holds only while ROOTCA is valid and `default` has expired.
SECRET_WINDOW = (
    datetime(2024, 10, 27, 22, 44, 37, tzinfo=UTC),
    datetime(2033, 5, 2, 3, 41, 33, tzinfo=UTC),
)


def _args(args: list[str]) -> list[str]:
    return [str(ISTIOCTL / a) if a.endswith((".json",)) else a for a in args]


@pytest.mark.parametrize(("case", "args", "golden"), EXACT, ids=[c[0] for c in EXACT])
def test_text_tables_match_istioctl_byte_for_byte(pdebug, case, args, golden):
    if case in ("secret-istio", "all-summary"):
        now = datetime.now(UTC)
        if not SECRET_WINDOW[0] < now < SECRET_WINDOW[1]:
            pytest.skip("the upstream secret golden is only valid until 2033-05-02")
    result = pdebug(*_args(args))
    assert result.code == 0, result.err
    assert result.out == (ISTIOCTL / golden).read_text()


def normalise(value: Any) -> Any:
    """Respell keys as snake_case (pdebug keeps Envoy's spelling; istioctl's is camelCase).

    Nothing else: the ``@type`` of the Any a resource sits in must be gone, as in istioctl
    (#11.8), and a nested Any keeps its ``@type`` on both sides.
    """
    return snake_keys(value)


@pytest.mark.parametrize(("case", "args", "golden"), SEMANTIC, ids=[c[0] for c in SEMANTIC])
def test_structured_output_matches_istioctl_as_data(pdebug, case, args, golden):
    result = pdebug(*_args(args))
    assert result.code == 0, result.err
    text = (ISTIOCTL / golden).read_text()
    if case.endswith("yaml"):
        want, got = yaml.safe_load(text), yaml.safe_load(result.out)
    else:
        want, got = json.loads(text), json.loads(result.out)
    assert normalise(got) == normalise(want)


SIDECAR_DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"


@pytest.mark.parametrize(
    ("view", "section", "key", "field"),
    [
        ("clusters", "ClustersConfigDump", "dynamic_active_clusters", "cluster"),
        ("listeners", "ListenersConfigDump", "dynamic_listeners", "active_state"),
        ("routes", "RoutesConfigDump", "dynamic_route_configs", "route_config"),
        ("eds", "EndpointsConfigDump", "dynamic_endpoint_configs", "endpoint_config"),
    ],
)
def test_json_resources_are_bare_messages_as_istioctl_prints_them(
    pdebug, view, section, key, field
):
    """Each resource without the ``@type`` of the Any holding it; nested Anys keep theirs."""
    dump = json.loads(SIDECAR_DUMP.read_text())
    sec = next(c for c in dump["configs"] if c["@type"].endswith("." + section))
    wrapped = [e[field] for e in sec[key]]
    if field == "active_state":
        wrapped = [e["listener"] for e in wrapped]
    by_name = {r.get("name") or r.get("cluster_name"): r for r in wrapped}
    got = json.loads(pdebug(view, SIDECAR_DUMP, "-o", "json").out)
    assert got and all("@type" not in r for r in got)
    for r in got:
        want = by_name.get(r.get("name") or r.get("cluster_name"))
        if want is not None:  # a static resource is not among the dynamic ones
            assert want["@type"].startswith("type.googleapis.com/envoy.")
            assert r == {k: v for k, v in want.items() if k != "@type"}
    assert '"@type"' in pdebug(view, SIDECAR_DUMP, "-o", "json").out or view == "eds"


@pytest.mark.parametrize(("view", "keys"), [("bootstrap", {"bootstrap", "last_updated"})])
def test_json_dumps_are_bare_messages(pdebug, view, keys):
    got = json.loads(pdebug(view, SIDECAR_DUMP, "-o", "json").out)
    assert set(got) == keys
    secrets = json.loads(pdebug("secrets", SIDECAR_DUMP, "-o", "json").out)
    assert "@type" not in secrets and secrets["dynamic_active_secrets"]
    assert all(
        e["secret"]["@type"].endswith("tls.v3.Secret") for e in secrets["dynamic_active_secrets"]
    )
