"""Regressions found by `make fuzz` with new seeds (helper fuzz2)."""

from __future__ import annotations

import json

from tests.harness import FIXTURES

ZTUNNEL = FIXTURES / "corpus" / "ztunnel" / "2024-03" / "dump.json"


def test_a_lone_surrogate_in_ztunnel_certificates_is_damage_not_a_crash(pdebug, tmp_path):
    """A lone surrogate written as UTF-8 bytes (``ED A0 80``) inside ztunnel's
    ``certificates``: the probe for Envoy's /certs shape raised UnicodeDecodeError (exit 5);
    now the file is named as damaged, exit 4 (found by seed 10010)."""
    doc = json.loads(ZTUNNEL.read_bytes())
    assert doc["certificates"], "the fixture must hold certificates"
    doc["certificates"][-1]["identity"] = "\ud800" + str(doc["certificates"][-1]["identity"])
    path = tmp_path / "surrogate.json"
    path.write_bytes(json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    r = pdebug("check", path)
    assert r.code == 4, r.err
    assert "internal error" not in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 2  # the error and its hint
