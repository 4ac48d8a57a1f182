"""Answers earlier sessions saw and left (each test fails without its fix)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import harness as eh

SIDECAR = eh.FIXTURES / "real/sidecar/config_dump.json"
UPSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
DOWNSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"


# --- secrets: certificates from a certificate provider instance -------------------------


def _provider_dump(tmp_path: Path) -> tuple[Path, str, str]:
    """The sidecar dump with one cluster and one listener whose TLS contexts take their
    certificates from provider instances, as Istio writes them for proxyless gRPC
    (``default``/``default`` and ``default``/``ROOTCA``): the cluster's validation context
    inside a combined one, the listener's in lowerCamelCase."""
    doc = json.loads(SIDECAR.read_text())
    cluster = listener = ""
    for sec in doc["configs"]:
        kind = sec["@type"].rsplit(".", 1)[1]
        if kind == "ClustersConfigDump":
            entry: dict[str, Any] = sec["dynamic_active_clusters"][0]["cluster"]
            cluster = entry["name"]
            entry["transport_socket"] = {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": UPSTREAM,
                    "common_tls_context": {
                        "tls_certificate_provider_instance": {
                            "instance_name": "default",
                            "certificate_name": "default",
                        },
                        "combined_validation_context": {
                            "default_validation_context": {
                                "ca_certificate_provider_instance": {
                                    "instance_name": "default",
                                    "certificate_name": "ROOTCA",
                                }
                            }
                        },
                    },
                    "sni": "outbound_.9080_._.reviews.default.svc.cluster.local",
                },
            }
        if kind == "ListenersConfigDump":
            lis = next(
                e["active_state"]["listener"]
                for e in sec["dynamic_listeners"]
                if "active_state" in e and e["active_state"]["listener"].get("filter_chains")
            )
            listener = lis["name"]
            lis["filter_chains"][0]["transport_socket"] = {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": DOWNSTREAM,
                    "commonTlsContext": {
                        "tlsCertificateProviderInstance": {
                            "instanceName": "default",
                            "certificateName": "default",
                        },
                        "validationContext": {
                            "caCertificateProviderInstance": {
                                "instanceName": "default",
                                "certificateName": "ROOTCA",
                            }
                        },
                    },
                    "requireClientCertificate": True,
                },
            }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc, indent=2))
    return path, cluster, listener


def test_secrets_name_the_certificate_provider(pdebug, tmp_path: Path) -> None:
    """A TLS context's certificate from a provider instance has a row in -o wide (STATUS
    PROVIDER, named INSTANCE/CERTIFICATE and by who uses it), a note in the table, and
    gives check nothing to judge (no finding, no warning)."""
    path, cluster, listener = _provider_dump(tmp_path)
    wide = pdebug("secrets", path, "-o", "wide")
    assert wide.code == 0, wide.err
    rows = [line.split() for line in wide.out.splitlines() if " PROVIDER " in line]
    assert [r[:3] for r in rows] == [
        ["default/default", f"(listener/{listener}", "+1"],
        ["default/ROOTCA", f"(listener/{listener}", "+1"],
    ]
    line = next(x for x in wide.out.splitlines() if x.startswith("default/ROOTCA"))
    assert " CA " in line and " PROVIDER " in line and "true" not in line and "false" not in line
    # the SDS rows are still there, unchanged
    assert any(x.startswith("default ") for x in wide.out.splitlines())
    table = pdebug("secrets", path)
    assert table.code == 0 and "PROVIDER" not in table.out
    assert (
        "2 certificates of listener/cluster TLS contexts come from a certificate provider"
        " instance (default/default, default/ROOTCA), not in the dump; -o wide lists them"
        " (STATUS PROVIDER)." in table.err
    )
    plain = pdebug("secrets", SIDECAR)
    assert "provider" not in plain.err
    # check: nothing to judge, so nothing said of them
    check = pdebug("check", path, "-o", "json")
    assert check.code == pdebug("check", SIDECAR, "-o", "json").code
    assert "provider" not in check.out.lower() and "provider" not in check.err.lower()
    assert cluster  # the cluster's (combined validation context) was read: "+1 more" above


# --- tools/ is held to ruff as the rest is -------------------------------------------------


def test_tools_are_linted_as_pdebug_tests_and_bench_are() -> None:
    """`make lint` (what CI runs) covers tools/, and tools/ passes it."""
    import shutil
    import subprocess
    import sys

    lint = eh.ROOT.joinpath("Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check pdebug tests bench tools" in lint
    assert "ruff format --check pdebug tests bench tools" in lint
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        found = shutil.which("ruff")
        assert found, "ruff is a dev dependency"
        ruff = Path(found)
    for args in (["check", "--no-cache", "tools"], ["format", "--no-cache", "--check", "tools"]):
        got = subprocess.run([ruff, *args], cwd=eh.ROOT, capture_output=True, text=True)
        assert got.returncode == 0, got.stdout + got.stderr
