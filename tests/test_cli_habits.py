"""Issue 13: the istioctl/kubectl user's first minutes (habits, help, output, exit codes)."""

from __future__ import annotations

import re
import subprocess

import envoy_harness as eh
import pytest
from conftest import FIXTURES, ISTIOCTL, ROOT

SIDECAR = FIXTURES / "real/sidecar/config_dump.json"
SIDECAR_CLUSTERS = FIXTURES / "real/sidecar/clusters.json"
ALL_DUMP = ISTIOCTL / "proxy-config-all/config_dump.json"
README = (ROOT / "README.md").read_text()


# --- item 3: the seed demo's one-line fix, where the user reads about the seed -----------


@pytest.mark.skipif(eh.find_envoy() is None, reason="needs the envoy binary")
def test_readme_seed_fix_makes_envoy_140_accept_the_seed_demo(tmp_path):
    section = README.split("### The seed tutorial's Envoy demo", 1)[1].split("\n#", 1)[0]
    (fix,) = re.findall(r"```yaml\n(.*?)\n```", section, re.S)
    seed = (FIXTURES / "seed/envoy-demo.yaml").read_text()
    envoy = eh.find_envoy()
    assert envoy is not None
    as_written = tmp_path / "as-written.yaml"
    as_written.write_text(seed)
    refused = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(as_written)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "envoy.filters.http.router" in refused.stdout + refused.stderr
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        seed.replace("                  - name: envoy.filters.http.router", fix.rstrip())
    )
    assert fixed.read_text() != seed
    ok = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(fixed)], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
