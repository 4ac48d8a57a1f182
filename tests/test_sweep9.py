"""Correctness sweep, part four (sweep9): what pdebug prints must be what the input holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
