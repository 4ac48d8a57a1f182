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
