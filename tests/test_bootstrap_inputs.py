"""``pdebug bootstrap`` on bootstraps written by others (sweep4): odd shapes never crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

BOOT_TYPE = "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"


def _dump(tmp_path: Path, boot: Any) -> Path:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"configs": [{"@type": BOOT_TYPE, "bootstrap": boot}]}))
    return path


@pytest.mark.parametrize(
    "boot",
    [
        {"node": "sidecar~1.2.3.4~x.ns~ns.svc.cluster.local"},
        {"node": {"id": "a", "metadata": ["x"]}},
        {"node": {"id": "a", "user_agent_build_version": "1.30.2"}},
        {"node": {"id": "a", "user_agent_build_version": {"version": "1.30.2", "metadata": []}}},
    ],
)
def test_a_message_that_is_not_an_object_reads_as_absent(pdebug, tmp_path: Path, boot):
    # these used to exit 5 (AttributeError: 'str' object has no attribute 'get')
    result = pdebug("bootstrap", "-o", "wide", _dump(tmp_path, boot))
    assert result.code == 0, result.err
    assert result.out.split()[:3] == ["Envoy", "Version:", "0.0.0"]


def test_metadata_that_is_not_a_string_is_left_out_as_istioctl(pdebug, tmp_path: Path):
    # istioctl reads ISTIO_VERSION/ISTIO_PROXY_SHA with GetStringValue: another kind is ""
    boot = {"node": {"id": "a", "metadata": {"ISTIO_VERSION": 1.22, "ISTIO_PROXY_SHA": {"a": 1}}}}
    result = pdebug("bootstrap", _dump(tmp_path, boot))
    assert result.code == 0, result.err
    assert "Istio" not in result.out
    assert result.out.split() == ["Envoy", "Version:", "0.0.0"]


@pytest.mark.parametrize(
    ("node", "want"),
    [
        # Istio 1.1's sidecar (fixtures/corpus/istio/2019-04-echo): Envoy before 1.13
        (
            {"build_version": "ecbd1731/1.10.0-dev/Clean/RELEASE/BoringSSL"},
            "1.10.0-dev/Clean/RELEASE/BoringSSL",
        ),
        # istioctl's 2018-2020 test dumps, lowerCamelCase
        ({"buildVersion": "0/1.7.0-dev//RELEASE"}, "1.7.0-dev//RELEASE"),
        # user_agent_build_version, when present, is what the line says (istioctl)
        (
            {
                "build_version": "x/1.12.0/Clean/RELEASE/BoringSSL",
                "user_agent_build_version": {"version": {"major_number": 1, "minor_number": 13}},
            },
            "1.13.0",
        ),
        ({"build_version": "no-slash"}, "0.0.0"),
    ],
)
def test_envoy_before_1_13_states_its_version_in_build_version(pdebug, tmp_path: Path, node, want):
    # it printed "Envoy Version: 0.0.0" while the dump names the Envoy release
    result = pdebug("bootstrap", _dump(tmp_path, {"node": {"id": "a", **node}}))
    assert result.code == 0, result.err
    assert result.out.split() == ["Envoy", "Version:", want]
