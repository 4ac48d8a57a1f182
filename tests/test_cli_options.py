"""The thin CLI: live options as one value, one list of commands, sources closed by ``with``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pdebug.cli.options import live_options
from pdebug.sources import LiveOptions, open_source
from pdebug.sources.spec import AdminSpec, FileSpec

PDEBUG = Path(__file__).resolve().parent.parent / "pdebug"

#: The commands, in the help's order, with their hidden aliases.
COMMANDS = [
    "assert",
    "check",
    "diff",
    "dump",
    "report",
    "rootca-compare",
    "rc",
    "snapshot",
    "stats",
    "status",
    "proxy-status",
    "ps",
    "trace",
    "clusters",
    "cluster",
    "c",
    "listeners",
    "listener",
    "l",
    "routes",
    "route",
    "r",
    "endpoints",
    "endpoint",
    "ep",
    "eds",
    "secrets",
    "secret",
    "s",
    "bootstrap",
    "b",
    "ecds",
    "ec",
    "all",
    "a",
    "proxy-config",
    "pc",
    "waypoints",
    "waypoint",
]
#: Commands that reach a sidecar: every live option, in the "Live proxy" panel.
SIDECAR_COMMANDS = [
    "clusters",
    "listeners",
    "routes",
    "endpoints",
    "eds",
    "secrets",
    "bootstrap",
    "ecds",
    "all",
    "check",
    "stats",
    "trace",
    "report",
    "diff",
    "rootca-compare",
    "assert",
    "dump",
]
LIVE_FLAGS = [
    "--namespace",
    "--context",
    "--kubeconfig",
    "--admin-port",
    "--container",
    "--timeout",
]


def _app(**group: Any) -> tuple[typer.Typer, list[LiveOptions]]:
    seen: list[LiveOptions] = []
    app = typer.Typer()

    @app.command()
    @live_options(**group)
    def probe(word: str, *, live: LiveOptions) -> None:
        assert word == "x"
        seen.append(live)

    @app.command()
    def other() -> None:  # two commands: Typer keeps the command's name on the line
        """Unused."""

    return app, seen


def test_live_options_arrive_as_one_value() -> None:
    app, seen = _app()
    args = ["probe", "x", "-n", "shop", "--context", "kind", "-c", "/kc", "--admin-port", "9901"]
    args += ["--container", "envoy", "--timeout", "2.5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen == [LiveOptions(2.5, "shop", "kind", "/kc", 9901, "envoy")]


def test_live_option_defaults() -> None:
    app, seen = _app()
    assert CliRunner().invoke(app, ["probe", "x"]).exit_code == 0
    assert seen == [LiveOptions()]


def test_a_smaller_group() -> None:
    app, seen = _app(namespace=False, pod=False, timeout=60.0, max_body=True)
    result = CliRunner().invoke(app, ["probe", "x", "--max-body", "2KiB", "--context", "k"])
    assert result.exit_code == 0, result.output
    assert seen == [LiveOptions(60.0, None, "k", None, max_body=2048)]
    for refused in ("-n", "--admin-port", "--container"):
        assert CliRunner().invoke(app, ["probe", "x", refused, "1"]).exit_code == 2


def test_commands_come_from_one_list_in_the_help_order() -> None:
    from pdebug.cli import app

    names = [c.name for c in app.registered_commands]
    assert names == COMMANDS
    assert [g.name for g in app.registered_groups] == ["ztunnel-config", "zc"]


def test_command_modules_register_nothing() -> None:
    """No ``@app.command`` and no ``app`` in a command module: the list is the only way in."""
    for path in sorted((PDEBUG / "cli").glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "pdebug.cli":
                assert all(a.name != "app" for a in node.names), path.name


@pytest.mark.parametrize("command", SIDECAR_COMMANDS)
def test_every_sidecar_command_has_the_live_group(command: str) -> None:
    from pdebug.cli import app

    info = next(c for c in app.registered_commands if c.name == command)
    cmd = typer.main.get_command_from_info(
        info, pretty_exceptions_short=False, rich_markup_mode=None
    )
    flags = [p.opts[0] for p in cmd.params if p.opts and p.opts[0] in LIVE_FLAGS]
    assert flags == LIVE_FLAGS  # all six, in this order, once


def test_sources_close_in_a_with_block(tmp_path: Path) -> None:
    dump = tmp_path / "d.json"
    dump.write_bytes(b'{"configs": []}')
    with open_source(FileSpec(str(dump))) as source:
        assert bytes(source.get("/config_dump")) == b'{"configs": []}'
        assert source.saved("/clusters?format=json") is None  # not a bundle
        assert source.picked is None
    with open_source(AdminSpec("127.0.0.1:1"), LiveOptions(timeout=0.5)) as admin:
        assert admin.live and admin.label == "http://127.0.0.1:1"
        assert admin.saved("/clusters") is None


def test_bundles_and_sources_import_no_cycle() -> None:
    """The bundle reader lives in sources/; no source module imports the writer."""
    for path in sorted((PDEBUG / "sources").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "pdebug.bundle", path.name
                if node.module == "pdebug":
                    assert all(a.name != "bundle" for a in node.names), path.name
    code = "import sys, pdebug.sources.bundle; print('pdebug.bundle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
