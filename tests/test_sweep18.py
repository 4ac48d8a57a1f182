"""Sweep 18: answers earlier sweeps saw wrong or misleading and left (each test fails
without its fix)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import harness as eh

SEED = eh.FIXTURES / "real/seed-demo/config_dump.json"


def _with_routes(tmp_path: Path, *configs: dict[str, Any], camel: bool = False) -> Path:
    """seed-demo's dump with its routes section replaced by these static configs."""
    doc = json.loads(SEED.read_text())
    routes = {
        "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
        "static_route_configs": [{"route_config": rc} for rc in configs],
    }
    doc["configs"] = [c for c in doc["configs"] if "RoutesConfigDump" not in c["@type"]]
    doc["configs"].append(routes)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    return path


def _rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("  ") if c.strip()] for line in out.splitlines()[1:]]


# --- routes -o wide ACTION of a route whose cluster a plugin picks ------------------------

LUA = "type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig"


def test_cluster_specifier_plugin_is_named_in_action(pdebug, tmp_path):
    """Envoy's lua-cluster-specifier sandbox: the route's cluster comes from an inline
    cluster specifier plugin; ACTION read ``route``, which says nothing."""
    inline = {
        "extension": {
            "name": "envoy.router.cluster_specifier_plugin.lua",
            "typed_config": {"@type": LUA, "source_code": {"inline_string": "x"}},
        }
    }
    rc = {
        "name": "local_route",
        "virtual_hosts": [
            {
                "name": "local_service",
                "domains": ["*"],
                "routes": [
                    {
                        "match": {"prefix": "/lua"},
                        "route": {"inline_cluster_specifier_plugin": inline},
                    },
                    {"match": {"prefix": "/"}, "route": {"cluster_specifier_plugin": "picker"}},
                ],
            }
        ],
    }
    path = _with_routes(tmp_path, rc)
    out = pdebug("routes", path, "-o", "wide").out
    assert "plugin:envoy.router.cluster_specifier_plugin.lua" in out
    assert "plugin:picker" in out
    assert " route " not in out + " "
